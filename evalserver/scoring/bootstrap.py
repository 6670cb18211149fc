"""Bootstrap confidence intervals of a phase's primary metric (percentile method).

One fixed set of resamples per phase: ``B`` vectors of clip indices drawn with
replacement by numpy's PCG64 generator from the phase's seed (:func:`phase_seed`, a hash
of ``"<challenge slug>/<phase slug>"``), so every submission of a phase is resampled the
same way. A submission's *replicate vector* holds its primary metric on each resample;
its 95% interval is the 2.5th and 97.5th percentiles of that vector, and two submissions
of the same phase are *separable* when the same percentiles of the difference of their
replicate vectors both lie on one side of 0.

Nothing is recomputed per resample. A resample is summarised by how often it draws each
clip (a row of the ``B x N`` count matrix ``W``); every metric here is a sum over clips,
so its value on a resample is the clip-weighted sum:

- macro F1 (recognition): per class TP and (true + predicted) counts for all resamples at
  once are one matrix product ``W @ [hits | truth + pred]``. The counts are whole numbers
  below 2**24, so float32 arithmetic is exact, and the ratios are taken in float64.
- video-mAP (detection): the matching does not depend on the resample (a copy of a clip
  only meets copies of its own ground truth), so each ranked detection's true/false
  positive flag is computed once; a resample weights each detection and ground-truth tube
  by its clip's count, and AP uses weighted cumulative sums. Copies of one detection sit
  next to each other in the ranking and share their flag, so this equals AP on the
  resampled data up to rounding, provided equal scores of different detections do not
  straddle (the reference test uses distinct scores).

Pure numpy; no Django.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from threading import Lock

import numpy as np

DEFAULT_REPLICATES = 1000
LEVEL = 0.95
# Rows of W processed at once by the detection bootstrap, bounding its temporary memory
# to about CHUNK x detections-of-a-class float64s.
_DETECTION_CHUNK = 64


def phase_seed(key: str) -> int:
    """A phase's resampling seed: the first 8 bytes of SHA-256 of ``key``, as an integer.

    The worker uses ``"<challenge slug>/<phase slug>"``, which survives a backup/restore
    into a database that numbers phases differently.
    """
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def resample_indices(n: int, *, replicates: int, seed: int | Sequence[int]) -> np.ndarray:
    """The ``replicates x n`` clip indices of the phase's resamples (with replacement)."""
    if n <= 0 or replicates <= 0:
        return np.zeros((max(replicates, 0), max(n, 0)), dtype=np.int64)
    return np.random.default_rng(seed).integers(0, n, size=(replicates, n), dtype=np.int64)


def counts_from_indices(indices: np.ndarray, n: int) -> np.ndarray:
    """``W[b, i]``: how often resample ``b`` draws clip ``i`` (float32, exact below 2**24)."""
    b = indices.shape[0]
    flat = (np.arange(b, dtype=np.int64)[:, None] * n + indices).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float32)


_counts_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
_counts_lock = Lock()
# A count matrix of 1,000 x 6,097 clips is 24 MB; a worker scores few phases at a time.
_COUNTS_CACHE_SIZE = 4


def resample_counts(n: int, *, replicates: int, seed: int | Sequence[int]) -> np.ndarray:
    """The count matrix of a phase's resamples, kept per process for the next submission."""
    key = (n, replicates, seed if isinstance(seed, int) else tuple(seed))
    with _counts_lock:
        found = _counts_cache.get(key)
        if found is not None:
            _counts_cache.move_to_end(key)
            return found
    counts = counts_from_indices(resample_indices(n, replicates=replicates, seed=seed), n)
    counts.setflags(write=False)
    with _counts_lock:
        _counts_cache[key] = counts
        while len(_counts_cache) > _COUNTS_CACHE_SIZE:
            _counts_cache.popitem(last=False)
    return counts


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(np.shape(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def macro_f1_replicates(truth: np.ndarray, pred: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Macro F1 (zero_division=0, as scikit-learn) on every resample: shape ``(B,)``.

    ``truth`` and ``pred`` are clips x classes, nonzero meaning positive; ``counts`` is the
    ``B x clips`` count matrix.
    """
    t = np.asarray(truth) != 0
    p = np.asarray(pred) != 0
    n_classes = t.shape[1]
    if n_classes == 0:
        return np.zeros(counts.shape[0])
    stacked = np.empty((t.shape[0], 2 * n_classes), dtype=np.float32)
    np.logical_and(t, p, out=stacked[:, :n_classes], casting="unsafe")
    np.add(t, p, out=stacked[:, n_classes:], dtype=np.float32, casting="unsafe")
    sums = (counts @ stacked).astype(np.float64)
    f1 = _ratio(2.0 * sums[:, :n_classes], sums[:, n_classes:])
    return f1.mean(axis=1)


@dataclass(frozen=True)
class RankedDetections:
    """What video-AP needs per class, independent of the resample.

    ``det_class``/``det_clip``/``det_tp`` list the detections (predicted tubes) ranked as
    AP ranks them: by class, then score descending, then file order. ``gt_class``/
    ``gt_clip`` list the ground-truth tubes.
    """

    n_classes: int
    det_class: np.ndarray
    det_clip: np.ndarray
    det_tp: np.ndarray
    gt_class: np.ndarray
    gt_clip: np.ndarray


def _weighted_ap(w_tp: np.ndarray, w_fp: np.ndarray, n_gt: np.ndarray) -> np.ndarray:
    """All-point interpolated AP per row, detections weighted; NaN where ``n_gt`` is 0."""
    rows, d = w_tp.shape
    tp_cum = np.cumsum(w_tp, axis=1)
    fp_cum = np.cumsum(w_fp, axis=1)
    safe_gt = np.where(n_gt > 0, n_gt, 1.0)[:, None]
    recall = np.empty((rows, d + 1))
    recall[:, 0] = 0.0
    np.divide(tp_cum, safe_gt, out=recall[:, 1:])
    precision = np.zeros((rows, d + 1))
    np.divide(tp_cum, tp_cum + fp_cum, out=precision[:, :d], where=(tp_cum + fp_cum) > 0)
    # Best precision at this or any later rank (the sentinel at the end is 0).
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    ap = np.sum(np.diff(recall, axis=1) * envelope[:, :d], axis=1)
    return np.where(n_gt > 0, ap, np.nan)


def video_map_replicates(ranked: RankedDetections, counts: np.ndarray) -> np.ndarray:
    """Mean video-AP over the classes with ground truth, on every resample: shape ``(B,)``.

    A resample without any ground truth scores 0.0, like the scorer.
    """
    b = counts.shape[0]
    n_classes = ranked.n_classes
    # Ground-truth tubes per clip and class, then per resample and class: one product.
    per_clip = np.zeros((counts.shape[1], n_classes), dtype=np.float32)
    np.add.at(per_clip, (ranked.gt_clip, ranked.gt_class), 1.0)
    gt_per_class = (counts @ per_clip).astype(np.float64)
    bounds = np.searchsorted(ranked.det_class, np.arange(n_classes + 1))
    ap_sum = np.zeros(b)
    n_present = (gt_per_class > 0).sum(axis=1)
    for c in range(n_classes):
        n_gt = gt_per_class[:, c]
        if not (n_gt > 0).any():
            continue
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        if hi == lo:
            continue  # no detections: AP 0 wherever the class is present
        clips = ranked.det_clip[lo:hi]
        tp = ranked.det_tp[lo:hi]
        for start in range(0, b, _DETECTION_CHUNK):
            stop = min(b, start + _DETECTION_CHUNK)
            w = counts[start:stop][:, clips].astype(np.float64)
            ap = _weighted_ap(w * tp, w * ~tp, n_gt[start:stop])
            ap_sum[start:stop] += np.nan_to_num(ap, nan=0.0)
    return _ratio(ap_sum, n_present.astype(np.float64))


def weighted_class_ap(
    det_class: np.ndarray,
    det_tp: np.ndarray,
    det_weight: np.ndarray,
    gt_per_class: np.ndarray,
) -> list[float | None]:
    """AP per class of ranked detections weighted one by one (None: no ground truth).

    With 0/1 weights by clip this is AP on a subset of the clips (a split of a phase):
    the matching never crosses clips, so it needs no recomputing.
    """
    n_classes = len(gt_per_class)
    bounds = np.searchsorted(det_class, np.arange(n_classes + 1))
    out: list[float | None] = []
    for c in range(n_classes):
        n_gt = float(gt_per_class[c])
        if n_gt <= 0:
            out.append(None)
            continue
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        w = np.asarray(det_weight[lo:hi], dtype=np.float64)[None, :]
        tp = det_tp[lo:hi]
        out.append(float(_weighted_ap(w * tp, w * ~tp, np.array([n_gt]))[0]))
    return out


def percentile_interval(replicates: np.ndarray, *, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval (numpy's default linear interpolation) of a replicate vector."""
    values = np.asarray(replicates, dtype=np.float64)
    if values.size == 0:
        return (float("nan"), float("nan"))
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def separable(a: np.ndarray, b: np.ndarray, *, level: float = LEVEL) -> bool:
    """True when the interval of ``a - b`` (same resamples) excludes 0."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0 or a.shape != b.shape:
        return False
    low, high = percentile_interval(a - b, level=level)
    return bool(low > 0.0 or high < 0.0)


# The stored form of a replicate vector: little-endian float64, 8 kB at B = 1,000.
_STORED = np.dtype("<f8")


def replicates_to_bytes(replicates: np.ndarray) -> bytes:
    return np.ascontiguousarray(replicates, dtype=_STORED).tobytes()


def replicates_from_bytes(blob: bytes | memoryview | None) -> np.ndarray | None:
    if not blob:
        return None
    data = bytes(blob)
    if len(data) % _STORED.itemsize:
        return None
    return np.frombuffer(data, dtype=_STORED)


def interval_fields(replicates: np.ndarray | None) -> dict[str, float | None]:
    """``{"ci_low": ..., "ci_high": ...}`` of a replicate vector (None when there is none)."""
    if replicates is None or len(replicates) == 0:
        return {"ci_low": None, "ci_high": None}
    low, high = percentile_interval(replicates)
    return {"ci_low": low, "ci_high": high}


def separable_flags(replicates: Sequence[np.ndarray | None]) -> list[bool]:
    """For a ranked list: is each entry separable from the next one (False on the last).

    One percentile call over the stacked differences of neighbours (a board of 1,000 teams
    at B = 1,000 in milliseconds); equal to :func:`separable` pair by pair.
    """
    n = len(replicates)
    flags = [False] * n
    pairs = [
        k
        for k in range(n - 1)
        if replicates[k] is not None
        and replicates[k + 1] is not None
        and len(replicates[k]) > 0
        and np.shape(replicates[k]) == np.shape(replicates[k + 1])
    ]
    if not pairs:
        return flags
    by_length: dict[int, list[int]] = {}
    for k in pairs:
        by_length.setdefault(len(replicates[k]), []).append(k)
    tail = (1.0 - LEVEL) / 2.0 * 100.0
    for group in by_length.values():
        upper = np.array([replicates[k] for k in group], dtype=np.float64)
        lower = np.array([replicates[k + 1] for k in group], dtype=np.float64)
        low, high = np.percentile(upper - lower, [tail, 100.0 - tail], axis=1)
        for k, lo, hi in zip(group, low.tolist(), high.tolist(), strict=True):
            flags[k] = bool(lo > 0.0 or hi < 0.0)
    return flags
