"""The ``act`` detection protocol: the conventions of the ACT evaluation code.

Detection papers (ACT, MOC-Detector and the TinyActions 2022 baselines built on them)
report frame- and video-mAP computed with conventions that differ from PASCAL VOC
(:mod:`.detection_metrics`, the ``voc`` protocol). This module computes the same two
numbers with those conventions, from the same in-memory submission:

1. Box areas and overlaps count pixels inclusively: ``area = (x2 - x1 + 1) * (y2 - y1 + 1)``
   and the overlap's width is ``min(x2, x2') - max(x1, x1') + 1`` (at least 0). This
   holds for frame-AP and inside the spatio-temporal IoU of video-AP.
2. Matching is greedy with fallback: taking detections in ranked order, a detection is
   compared with the ground-truth items of its class and clip (and frame) *not yet
   matched*; the best of those (ties: first in the label file) is matched when its
   overlap is >= 0.5, else the detection is a false positive. A detection whose best
   item is taken thus falls back to its next best one.
3. AP is the trapezoidal area under the raw precision-recall curve, which starts at
   (recall 0, precision 1); no interpolation.
4. Before video-AP, the predicted tubes of each (clip, class) go through greedy 3D
   non-maximum suppression: taking them by score (ties: file order), a tube is kept
   unless its spatio-temporal IoU with a tube kept before it is above 0.3.
5. The maps average over every class of the class map: a class without ground truth
   counts as AP 0 (the ACT code would divide by zero there; we never crash).

A predicted tube may have missing frames, as in ``voc``: a frame inside its span where
it has no box overlaps nothing (IoU 0), both against ground truth and in the NMS.
Ranking ties go by file order (a tube's first row), as in ``voc``; the ACT code leaves
them to numpy's unstable sort. It also keeps its precision-recall points in float32;
here everything is float64.

Only candidate pairs (detection, ground-truth item) with overlap >= 0.5 can ever be
matched, so they are collected with numpy and the sequential greedy loop runs in
Python only over groups (clip, class and frame, or clip and class) where some
detection has two or more such candidates; elsewhere "first to claim its only
candidate" is the whole rule and stays vectorised.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .detection_labels import DetectionLabels
from .detection_metrics import (
    IOU_THRESHOLD,
    DetectionResult,
    PredictedTubes,
    _first_claims,
    _gt_groups,
    _rank,
    average_precision,
    box_iou,
)

NMS_THRESHOLD = 0.3

# The conventions ``act`` changes, each of which can be switched on alone (the README's
# table measures each one's effect; with none, the result is ``voc``'s). The mean over
# every class is applied by the caller, which averages the per-class APs.
INCLUSIVE_PIXELS = "inclusive_pixels"
FALLBACK = "fallback"
TRAPEZOID = "trapezoid"
NMS = "nms"
ALL_CLASSES = "all_classes"
CONVENTIONS: tuple[str, ...] = (INCLUSIVE_PIXELS, FALLBACK, TRAPEZOID, NMS, ALL_CLASSES)


def box_iou_inclusive(
    ax1: np.ndarray,
    ay1: np.ndarray,
    ax2: np.ndarray,
    ay2: np.ndarray,
    bx1: np.ndarray,
    by1: np.ndarray,
    bx2: np.ndarray,
    by2: np.ndarray,
) -> np.ndarray:
    """Elementwise IoU of boxes a and b with the +1 pixel convention of the ACT code."""
    iw = np.minimum(ax2, bx2) - np.maximum(ax1, bx1) + 1.0
    np.maximum(iw, 0.0, out=iw)
    ih = np.minimum(ay2, by2) - np.maximum(ay1, by1) + 1.0
    np.maximum(ih, 0.0, out=ih)
    inter = iw * ih
    union = (ax2 - ax1 + 1.0) * (ay2 - ay1 + 1.0) + (bx2 - bx1 + 1.0) * (by2 - by1 + 1.0) - inter
    return inter / union


def trapezoid_ap(tp: np.ndarray, n_gt: int) -> float:
    """Area under the raw precision-recall curve from (0, 1), by trapezoids."""
    if n_gt <= 0 or not len(tp):
        return 0.0
    tp_cum = np.cumsum(tp, dtype=np.float64)
    precision = np.concatenate(([1.0], tp_cum / np.arange(1, len(tp) + 1)))
    recall = np.concatenate(([0.0], tp_cum / n_gt))
    return float(np.sum((recall[1:] - recall[:-1]) * (precision[1:] + precision[:-1]) * 0.5))


def _expand_rows(
    pred: PredictedTubes, tubes: np.ndarray, first: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of predicted tube ``tubes[i]`` on frames ``first[i]..last[i]``.

    Returns (i per row, sorted position per row, frame per row); rows come grouped by
    i and in frame order within a group.
    """
    mf = pred.max_frames
    r_lo = np.searchsorted(pred.row_key, tubes * mf + first, side="left")
    r_hi = np.searchsorted(pred.row_key, tubes * mf + last, side="right")
    n_rows = r_hi - r_lo
    pair = np.repeat(np.arange(len(tubes)), n_rows)
    pos = np.arange(int(n_rows.sum())) + np.repeat(r_lo - (np.cumsum(n_rows) - n_rows), n_rows)
    frame = pred.row_key[pos] - tubes[pair] * mf
    return pair, pos, frame


def _row_boxes(pred: PredictedTubes, pos: np.ndarray) -> np.ndarray:
    return pred.row_box[:, pred.order[pos]]


_IoU = Callable[..., np.ndarray]


def _gt_candidates(
    labels: DetectionLabels, pred: PredictedTubes, iou_fn: _IoU
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every (detection, ground-truth item, overlap) with overlap >= 0.5.

    Returns the frame candidates (file row, ground-truth box, IoU) and the video
    candidates (predicted tube, ground-truth tube, spatio-temporal IoU). Pass j pairs
    every predicted tube with the j-th ground-truth tube of its (clip, class).
    """
    gt_box_start = labels.tube_box_start
    gt_order, lo, n_cand = _gt_groups(labels, pred)

    frame_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    video_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for j in range(int(n_cand.max()) if pred.n_tubes else 0):
        active = np.flatnonzero(n_cand > j)
        gt = gt_order[lo[active] + j]
        g_start, g_end = labels.tube_start[gt], labels.tube_end[gt]
        p_min, p_max = pred.tube_fmin[active], pred.tube_fmax[active]
        first, last = np.maximum(p_min, g_start), np.minimum(p_max, g_end)
        overlap = first <= last
        active, gt, g_start, g_end, p_min, p_max, first, last = (
            a[overlap] for a in (active, gt, g_start, g_end, p_min, p_max, first, last)
        )
        pair, pos, frame = _expand_rows(pred, active, first, last)
        gbox = gt_box_start[gt][pair] + frame - g_start[pair]
        box = _row_boxes(pred, pos)
        g = labels.boxes[gbox]
        iou = iou_fn(box[0], box[1], box[2], box[3], g[:, 0], g[:, 1], g[:, 2], g[:, 3])
        hit = iou >= IOU_THRESHOLD
        frame_parts.append((pred.order[pos[hit]], gbox[hit], iou[hit]))

        iou_sum = np.bincount(pair, weights=iou, minlength=len(active))
        inter = (last - first + 1).astype(np.float64)
        union = (np.maximum(p_max, g_end) - np.minimum(p_min, g_start) + 1).astype(np.float64)
        st_iou = (iou_sum / inter) * (inter / union)
        hit = st_iou >= IOU_THRESHOLD
        video_parts.append((active[hit], gt[hit], st_iou[hit]))

    def joined(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]):
        if not parts:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))

    return joined(frame_parts), joined(video_parts)  # type: ignore[return-value]


def _tube_pair_iou(pred: PredictedTubes, a: np.ndarray, b: np.ndarray, iou_fn: _IoU) -> np.ndarray:
    """Spatio-temporal IoU (+1 convention) of predicted tubes a[i] and b[i].

    Frames where either tube has no box add IoU 0 to the mean over the common span.
    """
    first = np.maximum(pred.tube_fmin[a], pred.tube_fmin[b])
    last = np.minimum(pred.tube_fmax[a], pred.tube_fmax[b])
    out = np.zeros(len(a))
    overlap = np.flatnonzero(first <= last)
    if not len(overlap):
        return out
    a, b, first, last = a[overlap], b[overlap], first[overlap], last[overlap]
    pair, pos, frame = _expand_rows(pred, a, first, last)
    key = b[pair] * pred.max_frames + frame
    other = np.minimum(np.searchsorted(pred.row_key, key), max(pred.n_rows - 1, 0))
    present = pred.row_key[other] == key
    pair, pos, other = pair[present], pos[present], other[present]
    box, obox = _row_boxes(pred, pos), _row_boxes(pred, other)
    iou = iou_fn(*box, *obox)
    iou_sum = np.bincount(pair, weights=iou, minlength=len(a))
    inter = (last - first + 1).astype(np.float64)
    fmin = np.minimum(pred.tube_fmin[a], pred.tube_fmin[b])
    fmax = np.maximum(pred.tube_fmax[a], pred.tube_fmax[b])
    union = (fmax - fmin + 1).astype(np.float64)
    out[overlap] = (iou_sum / inter) * (inter / union)
    return out


def nms_keep(pred: PredictedTubes, n_classes: int, iou_fn: _IoU = box_iou_inclusive) -> np.ndarray:
    """Greedy 3D NMS at 0.3 within each (clip, class); a boolean mask of kept tubes.

    Decided level by level: level k holds the k-th best tube of every group, whose
    fate is settled once the tubes ranked above it in its group are.
    """
    n = pred.n_tubes
    kept = np.zeros(n, dtype=bool)
    if not n:
        return kept
    group = pred.tube_clip * n_classes + pred.tube_class
    ranked = _rank(group, pred.tube_score, np.argsort(pred.tube_first, kind="stable"))
    g_ranked = group[ranked]
    starts = np.flatnonzero(np.concatenate(([True], g_ranked[1:] != g_ranked[:-1])))
    ends = np.append(starts[1:], n)
    sizes = ends - starts
    suppressed = np.zeros(n, dtype=bool)  # by ranked position
    for k in range(int(sizes.max())):
        groups = np.flatnonzero(sizes > k)
        at = starts[groups] + k
        alive = ~suppressed[at]
        groups, at = groups[alive], at[alive]
        kept[ranked[at]] = True
        # Pair the kept tube with every later tube of its group still alive.
        n_later = ends[groups] - at - 1
        src = np.repeat(at, n_later)
        offset = at + 1 - (np.cumsum(n_later) - n_later)
        dst = np.arange(int(n_later.sum())) + np.repeat(offset, n_later)
        live = ~suppressed[dst]
        src, dst = src[live], dst[live]
        if not len(dst):
            continue
        iou = _tube_pair_iou(pred, ranked[src], ranked[dst], iou_fn)
        suppressed[dst[iou > NMS_THRESHOLD]] = True
    return kept


def greedy_match(
    ranked: np.ndarray,
    cand_det: np.ndarray,
    cand_target: np.ndarray,
    cand_iou: np.ndarray,
    cand_group: np.ndarray,
) -> np.ndarray:
    """True positives (in ``ranked`` order) under greedy matching with fallback.

    ``ranked`` lists detection ids in the order they are taken; candidates are
    (detection, target, overlap >= 0.5) triples; a target's group (its clip, class and
    frame) holds every detection that can reach it.
    """
    rank_of = np.empty(int(ranked.max()) + 1 if len(ranked) else 0, dtype=np.int64)
    rank_of[ranked] = np.arange(len(ranked))
    tp = np.zeros(len(ranked), dtype=bool)
    if not len(cand_det):
        return tp
    cand_rank = rank_of[cand_det]
    per_det = np.bincount(cand_rank, minlength=len(ranked))
    _, group_index = np.unique(cand_group, return_inverse=True)
    complex_group = np.zeros(int(group_index.max()) + 1, dtype=bool)
    complex_group[group_index[per_det[cand_rank] > 1]] = True
    is_complex = complex_group[group_index]

    # Simple groups: each detection has one candidate; the first to claim it wins.
    simple = np.flatnonzero(~is_complex)
    order = simple[np.argsort(cand_rank[simple], kind="stable")]
    _, first = np.unique(cand_target[order], return_index=True)
    tp[cand_rank[order[first]]] = True

    # The rest, in rank order, best overlap first, ties to the first in the label file.
    rest = np.flatnonzero(is_complex)
    order = rest[np.lexsort((cand_target[rest], -cand_iou[rest], cand_rank[rest]))]
    taken: set[int] = set()
    done = -1
    for r, target in zip(cand_rank[order].tolist(), cand_target[order].tolist(), strict=True):
        if r == done or target in taken:
            continue
        taken.add(target)
        tp[r] = True
        done = r
    return tp


def voc_match(
    ranked: np.ndarray, cand_det: np.ndarray, cand_target: np.ndarray, cand_iou: np.ndarray
) -> np.ndarray:
    """True positives (in ``ranked`` order) under VOC matching: no fallback.

    A detection's best item over all (taken or not) is its best candidate when that
    reaches 0.5; it is a true positive when it is the first to claim it.
    """
    rank_of = np.empty(int(ranked.max()) + 1 if len(ranked) else 0, dtype=np.int64)
    rank_of[ranked] = np.arange(len(ranked))
    targets = np.full(len(ranked), -1, dtype=np.int64)
    if len(cand_det):
        cand_rank = rank_of[cand_det]
        # Per detection, the highest overlap first, then the first item in the label file.
        order = np.lexsort((cand_target, -cand_iou, cand_rank))
        first = np.concatenate(([True], cand_rank[order][1:] != cand_rank[order][:-1]))
        best = order[first]
        targets[cand_rank[best]] = cand_target[best]
    return _first_claims(targets)


def _per_class_ap(
    classes_ranked: np.ndarray,
    tp_ranked: np.ndarray,
    n_gt: np.ndarray,
    ap_fn: Callable[[np.ndarray, int], float],
) -> list[float | None]:
    bounds = np.searchsorted(classes_ranked, np.arange(len(n_gt) + 1))
    return [
        ap_fn(tp_ranked[bounds[c] : bounds[c + 1]], int(n_gt[c])) if n_gt[c] else None
        for c in range(len(n_gt))
    ]


def evaluate_act(
    labels: DetectionLabels,
    pred: PredictedTubes,
    conventions: frozenset[str] | set[str] = frozenset(CONVENTIONS),
) -> DetectionResult:
    """frame-AP and video-AP per class under the ``act`` protocol (None: no ground truth).

    ``conventions`` picks which of the ACT conventions apply (all of them by default);
    the rest follow ``voc``. Used to measure each one's effect on its own.
    """
    unknown = set(conventions) - set(CONVENTIONS)
    if unknown:
        raise ValueError(f"unknown conventions: {', '.join(sorted(unknown))}")
    iou_fn = box_iou_inclusive if INCLUSIVE_PIXELS in conventions else box_iou
    ap_fn = trapezoid_ap if TRAPEZOID in conventions else average_precision
    n_classes = labels.n_classes
    gt_len = labels.tube_end - labels.tube_start + 1
    gt_tubes = np.bincount(labels.tube_class, minlength=n_classes)
    gt_boxes = np.bincount(labels.tube_class, weights=gt_len, minlength=n_classes).astype(np.int64)
    (f_row, f_box, f_iou), (v_tube, v_gt, v_iou) = _gt_candidates(labels, pred, iou_fn)

    ranked = _rank(pred.row_class, pred.row_score)
    if FALLBACK in conventions:
        # A box's group: its ground-truth frame (clip, class and frame in one number).
        box_clip = labels.tube_clip[labels.box_tube]
        box_class = labels.tube_class[labels.box_tube]
        box_group = (box_clip * n_classes + box_class) * pred.max_frames + labels.box_frame
        tp = greedy_match(ranked, f_row, f_box, f_iou, box_group[f_box])
    else:
        tp = voc_match(ranked, f_row, f_box, f_iou)
    frame_ap = _per_class_ap(pred.row_class[ranked], tp, gt_boxes, ap_fn)

    if NMS in conventions:
        kept = nms_keep(pred, n_classes, iou_fn)
    else:
        kept = np.ones(pred.n_tubes, dtype=bool)
    ranked = _rank(pred.tube_class, pred.tube_score, np.argsort(pred.tube_first, kind="stable"))
    ranked = ranked[kept[ranked]]
    alive = kept[v_tube]
    v_tube, v_gt, v_iou = v_tube[alive], v_gt[alive], v_iou[alive]
    if FALLBACK in conventions:
        gt_group = labels.tube_clip * n_classes + labels.tube_class
        tp = greedy_match(ranked, v_tube, v_gt, v_iou, gt_group[v_gt])
    else:
        tp = voc_match(ranked, v_tube, v_gt, v_iou)
    video_ap = _per_class_ap(pred.tube_class[ranked], tp, gt_tubes, ap_fn)
    return DetectionResult(
        frame_ap=frame_ap, video_ap=video_ap, gt_tubes=gt_tubes, gt_boxes=gt_boxes
    )
