"""frame-mAP and video-mAP at IoU 0.5 (SPEC, "Detection"), vectorised with numpy.

Matching follows PASCAL VOC literally. For each detection (a box row for frame-AP,
a predicted tube for video-AP) the ground-truth item of its class and clip (and,
for boxes, frame) with the highest overlap is found among *all* of them, matched
or not; ties go to the item that comes first in the label file. Taking detections
in ranked order, the detection is a true positive when that overlap is >= 0.5 and
the item is not matched yet (it then becomes matched), otherwise a false positive.
A detection whose best item is already taken does not fall back to its second best.

Because the best item of a detection does not depend on what was matched before,
the sequential VOC loop collapses to: "a detection is a true positive iff it is
the first, in ranked order, to name its best item with overlap >= 0.5" -- one
``np.minimum.at`` over the items, no Python loop over detections.

Candidate pairs (predicted tube, ground-truth tube of the same clip and class) are
visited in passes: pass j pairs every predicted tube with the j-th ground-truth
tube of its (clip, class) group, so a pass holds each row and each predicted tube
at most once and they can be updated with plain fancy indexing. A row meets the
ground-truth tube's box on its own frame; the box IoUs found serve both frame-AP
(best box per row) and video-AP (their sum per pair, added in frame order).

AP is summed term after term in rank order, as the all-points loop of SPEC does,
so the scores equal a plain-loop implementation's bit for bit.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .detection_arrow import arrow_compute
from .detection_csv import SubmissionRows, _Problems
from .detection_labels import DetectionLabels
from .detection_native import Grouped, box_pass, first_claims, group
from .detection_native import rank as native_rank

IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class PredictedTubes:
    """A submission's tubes, and its rows in file order with a (tube, frame) index.

    A tube is the rows sharing (video_id, tube_id, class). Its score is the mean of
    its rows' scores (summed in file order), its rank among equal scores is that of
    its first row in the file, and it spans [first frame, last frame] of its rows.

    Rows stay in file order (no sorted copies: random gathers of millions of rows
    are what costs); ``order`` lists them by (tube, frame) and ``row_key`` holds
    ``tube * max_frames + frame`` in that order, ascending, for ``searchsorted``.
    """

    max_frames: int
    order: np.ndarray  # file row at each (tube, frame)-sorted position
    row_class: np.ndarray  # file order from here on
    row_score: np.ndarray
    row_box: np.ndarray  # (4, rows): x1, y1, x2, y2
    row_tube: np.ndarray
    row_frame: np.ndarray
    tube_clip: np.ndarray
    tube_class: np.ndarray
    tube_first: np.ndarray  # file row of the tube's first row
    tube_fmin: np.ndarray
    tube_fmax: np.ndarray
    tube_score: np.ndarray
    tube_n_rows: np.ndarray

    @property
    def n_rows(self) -> int:
        return len(self.order)

    @cached_property
    def sorted_tube(self) -> np.ndarray:
        """The tube of each row in (tube, frame) order: each tube's number, as many
        times as it has rows (not a gather through ``order``, which is random access)."""
        return np.repeat(np.arange(self.n_tubes), self.tube_n_rows)

    @cached_property
    def row_key(self) -> np.ndarray:
        """``tube * max_frames + frame`` in (tube, frame) order, for ``searchsorted``."""
        return self.sorted_tube * self.max_frames + self.row_frame[self.order]

    @property
    def n_tubes(self) -> int:
        return len(self.tube_clip)


def _fits_int63(*factors: int) -> bool:
    product = 1
    for factor in factors:
        product *= max(int(factor), 1)
    return product < 2**62


def _max_frames(labels: DetectionLabels) -> int:
    """An exclusive bound on any valid frame index of the phase."""
    return max(int(labels.clip_dims[:, 0].max(initial=1)), 1)


def _number_by_first_row(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of each row's key among the distinct keys, the distinct keys), the keys
    numbered in the order they first occur.

    Arrow's hash table does this in one pass, several times faster than sorting.
    """
    import pyarrow as pa

    encoded = arrow_compute("dictionary_encode", pa.array(key, type=pa.int64()))
    return (
        encoded.indices.to_numpy().astype(np.int64),
        encoded.dictionary.to_numpy(),
    )


def _number_densely(key: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """(index of each row's key among the distinct keys, the distinct keys ascending),
    for keys in [0, bound): a table of the keys present, counted up (no hashing, no
    sort; sequential passes but for one scatter and one gather)."""
    present = np.zeros(bound, dtype=bool)
    present[key] = True
    number = np.cumsum(present, dtype=np.int64)
    number -= 1
    return number[key], np.flatnonzero(present)


def _number_tubes(
    rows: SubmissionRows, n_clips: int, n_classes: int, span: int, tube_id: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's tube (a number), and each tube's clip and class.

    A tube is (clip, tube_id, class). When the (clip, tube_id) pairs fit a table not much
    bigger than the file, they are numbered by counting and then (pair, class) likewise;
    otherwise Arrow's hash table numbers the whole key.
    """
    n = len(rows)
    if n_clips * span <= _SLOTS_PER_ROW * n + (1 << 20):
        pair_key = rows.clip * span
        pair_key += tube_id
        pair, pairs = _number_densely(pair_key, n_clips * span)
        del pair_key
        pair *= n_classes
        pair += rows.cls
        bound = len(pairs) * n_classes
        if bound <= _SLOTS_PER_ROW * n + (1 << 20):
            row_tube, tubes = _number_densely(pair, bound)
        else:
            # Many pairs (a tube or two of rows each): a table of them by class would not
            # be small.
            row_tube, tubes = _number_by_first_row(pair)
        del pair
        return row_tube, pairs[tubes // n_classes] // span, tubes % n_classes
    # In place: every temporary of a 3M-row file is 24 MB of fresh pages.
    key = rows.clip * n_classes
    key += rows.cls
    key *= span
    key += tube_id
    row_tube, tube_key = _number_by_first_row(key)
    return row_tube, tube_key // (n_classes * span), (tube_key // span) % n_classes


# The (tube, frame) grid a counting sort fills stays within this many slots per row;
# tubes spread thinly over their frames make it sort instead.
_SLOTS_PER_ROW = 4


def group_tubes(
    rows: SubmissionRows, labels: DetectionLabels, problems: _Problems
) -> PredictedTubes:
    """Group rows into tubes; two rows for the same tube and frame are reported as problems."""
    n_classes, max_frames = labels.n_classes, _max_frames(labels)
    tube_id = rows.tube_id
    n = len(rows)
    span = int(tube_id.max()) + 1 if n else 1
    if not _fits_int63(labels.n_items, n_classes, span):
        # Huge, sparse tube ids: replace them by their rank so the key fits in int64.
        uniq, tube_id = np.unique(tube_id, return_inverse=True)
        span = len(uniq)
    grouped = group(
        rows,
        tube_id,
        n_clips=labels.n_items,
        n_classes=n_classes,
        span=span,
        max_table=_SLOTS_PER_ROW * n + (1 << 20),
        max_slots=_SLOTS_PER_ROW * n + 1024,
    )
    if grouped is None:
        # Where the compiled path does not apply (or is missing): numpy's.
        grouped = _group_numpy(rows, labels, problems, tube_id, span)
    return PredictedTubes(
        max_frames=max_frames,
        order=grouped.order,
        row_class=rows.cls,
        row_score=rows.score,
        row_box=rows.box,
        row_tube=grouped.row_tube,
        row_frame=rows.frame,
        tube_clip=grouped.tube_clip,
        tube_class=grouped.tube_class,
        tube_first=grouped.first,
        tube_fmin=grouped.fmin,
        tube_fmax=grouped.fmax,
        tube_score=grouped.score_sum / np.maximum(grouped.n_rows, 1),
        tube_n_rows=grouped.n_rows,
    )


def _group_numpy(
    rows: SubmissionRows,
    labels: DetectionLabels,
    problems: _Problems,
    tube_id: np.ndarray,
    span: int,
) -> Grouped:
    """``group_tubes`` in whole-array numpy steps: tubes numbered by counting or by
    hashing, rows by (tube, frame) by a counting sort or a sort; two rows for one
    (tube, frame) are reported."""
    n_classes, max_frames = labels.n_classes, _max_frames(labels)
    n = len(rows)
    frame = rows.frame
    row_tube, tube_clip, tube_class = _number_tubes(rows, labels.n_items, n_classes, span, tube_id)
    n_tubes = len(tube_clip)
    fmin = np.full(n_tubes, max_frames, dtype=np.int64)
    np.minimum.at(fmin, row_tube, frame)
    fmax = np.zeros(n_tubes, dtype=np.int64)
    np.maximum.at(fmax, row_tube, frame)
    index = np.arange(n)
    first = np.full(n_tubes, n, dtype=np.int64)
    np.minimum.at(first, row_tube, index)

    # Rows by (tube, frame): a counting sort over each tube's frame span, when the
    # spans are dense, else a sort. Either finds two rows for one (tube, frame).
    lengths = fmax - fmin + 1
    n_slots = int(lengths.sum())
    order = None
    if n_slots <= _SLOTS_PER_ROW * n + 1024:
        slot = (np.cumsum(lengths) - lengths - fmin)[row_tube]
        slot += frame
        slot_row = np.full(n_slots, -1, dtype=np.int64)
        slot_row[slot] = index
        del slot
        order = slot_row[slot_row >= 0]
        del slot_row
        duplicates = len(order) != n
    del index
    if order is None or duplicates:
        file_key = row_tube * max_frames + frame
        order = np.argsort(file_key, kind="stable")
        sorted_key = file_key[order]
        if (sorted_key[1:] == sorted_key[:-1]).any():
            _report_duplicates(rows, labels, order, sorted_key, problems)
        del file_key, sorted_key
    return Grouped(
        row_tube=row_tube,
        tube_clip=tube_clip,
        tube_class=tube_class,
        fmin=fmin,
        fmax=fmax,
        first=first,
        n_rows=np.bincount(row_tube, minlength=n_tubes),
        score_sum=np.bincount(row_tube, weights=rows.score, minlength=n_tubes),
        order=order,
    )


def _report_duplicates(
    rows: SubmissionRows,
    labels: DetectionLabels,
    order: np.ndarray,
    sorted_key: np.ndarray,
    problems: _Problems,
) -> None:
    """Name every row repeating a (tube, frame), and the line of its first occurrence."""
    repeated = np.concatenate(([False], sorted_key[1:] == sorted_key[:-1]))
    dup = np.flatnonzero(repeated)
    # A stable sort keeps file order within a run of equal keys: its start is the first.
    run_start = np.maximum.accumulate(np.where(repeated, 0, np.arange(len(order))))
    later = rows.line[order[dup]]
    earlier = rows.line[order[run_start[dup]]]
    by_line = np.argsort(later, kind="stable")
    later, earlier, dup_rows = later[by_line], earlier[by_line], order[dup[by_line]]

    def describe(k: int) -> str:
        r = int(dup_rows[k])
        video, name = labels.clip_ids[rows.clip[r]], labels.class_names[rows.cls[r]]
        return (
            f"another row for video {video}, tube_id {rows.tube_id[r]}, class {name}, "
            f"frame {rows.frame[r]}; the first is on line {earlier[k]}"
        )

    problems.add(later, describe)


def box_iou(
    ax1: np.ndarray,
    ay1: np.ndarray,
    ax2: np.ndarray,
    ay2: np.ndarray,
    bx1: np.ndarray,
    by1: np.ndarray,
    bx2: np.ndarray,
    by2: np.ndarray,
) -> np.ndarray:
    """Elementwise IoU of boxes a and b, continuous coordinates (area = w * h, no +1).

    The same float operations as the formula, ``inter / ((area_a + area_b) - inter)``,
    written into four temporaries (every new array of a big pass is fresh memory); the
    coordinates are float64 arrays (of one shape, or shapes that broadcast).
    """
    iw = np.minimum(ax2, bx2)
    t = np.maximum(ax1, bx1)
    iw -= t
    np.maximum(iw, 0.0, out=iw)
    ih = np.minimum(ay2, by2)
    np.maximum(ay1, by1, out=t)
    ih -= t
    np.maximum(ih, 0.0, out=ih)
    inter = iw
    inter *= ih
    union = np.subtract(ax2, ax1, out=np.empty_like(iw))
    np.subtract(ay2, ay1, out=ih)
    union *= ih
    np.subtract(bx2, bx1, out=t)
    np.subtract(by2, by1, out=ih)
    t *= ih
    union += t
    union -= inter
    return np.divide(inter, union, out=inter)


def average_precision(tp: np.ndarray, n_gt: int) -> float:
    """All-point interpolated AP (VOC 2010+) of ranked detections flagged true/false positive."""
    tp_cum = np.cumsum(tp, dtype=np.float64)
    fp_cum = np.cumsum(~tp, dtype=np.float64)
    recall = np.concatenate(([0.0], tp_cum / n_gt, [1.0]))
    precision = np.concatenate(([0.0], tp_cum / (tp_cum + fp_cum), [0.0]))
    # Precision made monotone from the right: the best precision at any higher recall.
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return _sequential_sum((recall[steps + 1] - recall[steps]) * precision[steps + 1])


def _sequential_sum(terms: np.ndarray) -> float:
    """The terms added one after the other, as a plain loop adds them.

    ``np.sum`` adds pairwise, which can differ in the last bit; the last partial sum of
    ``np.cumsum`` is the loop's sum exactly.
    """
    return float(np.cumsum(terms)[-1]) if len(terms) else 0.0


def _first_claims(targets: np.ndarray) -> np.ndarray:
    """True where a ranked detection is the first to claim its target (-1 = none)."""
    tp = np.zeros(len(targets), dtype=bool)
    claimed = np.flatnonzero(targets >= 0)
    if not len(claimed):
        return tp
    which = targets[claimed]
    # The lowest rank naming each target, in one pass (no sort).
    first = np.full(int(which.max()) + 1, len(targets), dtype=np.int64)
    np.minimum.at(first, which, claimed)
    tp[first[first < len(targets)]] = True
    return tp


def _rank(
    classes: np.ndarray, scores: np.ndarray, tie_order: np.ndarray | None = None
) -> np.ndarray:
    """Permutation ordering by class, then score descending, then ``tie_order``.

    ``tie_order`` lists the items in the order that decides ties (file order);
    None means they already are in that order.
    """
    if tie_order is None and len(scores):
        n_classes = int(classes.max()) + 1
        ranked = native_rank(
            classes, scores, n_classes=n_classes, max_keys=_SLOTS_PER_ROW * len(scores) + (1 << 16)
        )
        if ranked is not None:
            return ranked
    if tie_order is None and len(scores) >= _RADIX_MIN and _few_distinct(scores):
        return _rank_by_radix(classes, scores)
    if tie_order is None:
        order = np.argsort(-scores, kind="stable")
    else:
        order = tie_order[np.argsort(-scores[tie_order], kind="stable")]
    # A 16-bit key lets numpy use its radix sort.
    small = classes.astype(np.int16) if classes.size and classes.max() < 2**15 else classes
    return order[np.argsort(small[order], kind="stable")]


# Below this many items a comparison sort is as fast as anything.
_RADIX_MIN = 1 << 16
_SAMPLE = 4096


def _few_distinct(scores: np.ndarray) -> bool:
    """Whether the scores seem to take few distinct values (say three decimals), going
    by an evenly spread sample; it only picks the faster of two exact sorts."""
    sample = scores[:: max(1, len(scores) // _SAMPLE)]
    return len(np.unique(sample)) * 2 <= len(sample)


def _rank_by_radix(classes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``_rank`` in file order of ties, as counting sorts when scores repeat a lot.

    Each distinct score gets its rank among the distinct values (Arrow's hash table
    finds them in one pass; only they are sorted), and (class, score rank) is one
    small integer, sorted 16 bits at a time by numpy's stable radix sort: least
    significant digits first, so ties stay in file order, as a stable sort leaves them.
    """
    import pyarrow as pa

    # -0.0 and 0.0 are one score (they tie), but two bit patterns for a hash table.
    encoded = arrow_compute("dictionary_encode", pa.array(scores + 0.0, type=pa.float64()))
    values = encoded.dictionary.to_numpy()
    value_rank = np.empty(len(values), dtype=np.int64)
    value_rank[np.argsort(-values)] = np.arange(len(values))
    key = classes.astype(np.int64) * len(values)
    key += value_rank[encoded.indices.to_numpy()]
    del encoded, value_rank
    order: np.ndarray | None = None
    for shift in range(0, max(int(key.max()).bit_length(), 1), 16):
        digit = ((key if order is None else key[order]) >> shift).astype(np.uint16)
        step = np.argsort(digit, kind="stable")
        order = step if order is None else order[step]
    assert order is not None
    return order


def _class_bounds(classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Where each class starts and ends among items ranked by class first."""
    bounds = np.zeros(n_classes + 1, dtype=np.int64)
    np.cumsum(np.bincount(classes, minlength=n_classes), out=bounds[1:])
    return bounds


def _per_class_ap(
    bounds: np.ndarray, tp_ranked: np.ndarray, n_gt: np.ndarray
) -> list[float | None]:
    """``average_precision`` of every class at once, from the true positives' ranks.

    The precision-recall curve only steps up at a true positive, and after the
    monotone envelope the precision there is the best precision of this or any later
    true positive of the class; so AP is a sum over true positives alone, with the
    very same float operations as the all-points loop (count / count divisions, one
    running max, terms added in rank order).
    """
    n_classes = len(n_gt)
    hits = np.flatnonzero(tp_ranked)
    hit_bounds = np.searchsorted(hits, bounds)
    out: list[float | None] = []
    for c in range(n_classes):
        if not n_gt[c]:
            out.append(None)
            continue
        n_tp = hit_bounds[c + 1] - hit_bounds[c]
        if not n_tp:
            out.append(0.0)
            continue
        tp_count = np.arange(1, n_tp + 1, dtype=np.float64)
        seen = (hits[hit_bounds[c] : hit_bounds[c + 1]] - bounds[c] + 1).astype(np.float64)
        precision = tp_count / seen
        best = np.maximum.accumulate(precision[::-1])[::-1]
        gt = float(n_gt[c])
        recall = tp_count / gt
        previous = (tp_count - 1.0) / gt
        out.append(_sequential_sum((recall - previous) * best))
    return out


@dataclass(frozen=True)
class DetectionResult:
    frame_ap: list[float | None]  # None for classes without ground truth
    video_ap: list[float | None]
    gt_tubes: np.ndarray  # per class
    gt_boxes: np.ndarray  # per class
    # The predicted tubes as video-AP ranks them, with their clip and true-positive flag:
    # what the bootstrap (``bootstrap.video_map_replicates``) reweights per resample.
    video_ranked_class: np.ndarray | None = None
    video_ranked_clip: np.ndarray | None = None
    video_ranked_tp: np.ndarray | None = None
    # The same for box rows as frame-AP ranks them (for scoring a split of the clips;
    # class and clip are None when the labels have no split).
    frame_ranked_class: np.ndarray | None = None
    frame_ranked_clip: np.ndarray | None = None
    frame_ranked_tp: np.ndarray | None = None


# A pass whose candidate rows are fewer than 1 in this many sorts just those rows.
_SPARSE_PASS = 8


class _FrameOrder:
    """Sums per tube taken in frame order, as a plain loop over a tube's frames adds.

    ``bincount`` adds in input order, so the values are put in (tube, frame) order
    first: the whole file through ``order`` when many rows take part, else just those
    rows, sorted by their (tube, frame) position.
    """

    def __init__(self, pred: PredictedTubes) -> None:
        self._pred = pred
        self._sorted_tube = pred.sorted_tube
        self._position: np.ndarray | None = None

    def sums(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Per tube, the sum of ``values`` (one per file row in ``rows``) in frame order."""
        pred = self._pred
        n = pred.n_rows
        if len(rows) * _SPARSE_PASS < n:
            if self._position is None:
                self._position = np.empty(n, dtype=np.int64)
                self._position[pred.order] = np.arange(n)
            by_frame = np.argsort(self._position[rows])
            return np.bincount(
                pred.row_tube[rows[by_frame]], weights=values[by_frame], minlength=pred.n_tubes
            )
        full = np.zeros(n)
        full[rows] = values
        return np.bincount(self._sorted_tube, weights=full[pred.order], minlength=pred.n_tubes)


def rank_rows(classes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The rows (file order) as frame-AP ranks them: by class, score descending, file
    order. It needs nothing but the rows' classes and scores, so a caller may start it
    on another thread as soon as the rows are read (see ``evaluate``)."""
    return _rank(classes, scores)


def evaluate(
    labels: DetectionLabels, pred: PredictedTubes, row_ranking: Future | None = None
) -> DetectionResult:
    """frame-AP and video-AP per class (None: no ground truth), PASCAL VOC matching.

    Each row is paired with the ground-truth box, on its frame, of every ground-truth
    tube of its clip and class (pass ``j`` takes the ``j``-th such tube in label-file
    order, so every row appears at most once per pass); the box IoUs found serve both
    frame-AP (the best box per row) and video-AP (their sum per pair of tubes). The
    ranking of the rows, the one big sort, runs on a second thread meanwhile: the
    caller's ``row_ranking`` (the future of ``rank_rows(pred.row_class,
    pred.row_score)``), if given, else one started here; so does the ranking of the
    tubes, and then video-AP while this thread computes frame-AP.
    """
    n_classes = labels.n_classes
    with ThreadPoolExecutor(max_workers=1) as pool:
        if row_ranking is None:
            row_ranking = pool.submit(rank_rows, pred.row_class, pred.row_score)
        # Video-AP's ranking of the tubes needs nothing from the matching either.
        tube_ranking = pool.submit(_rank_tubes, pred)
        try:
            matched = _match(labels, pred)
        finally:
            ranked = row_ranking.result()
        row_best, row_target, tube_best, tube_target = matched
        del matched
        gt_len = labels.tube_end - labels.tube_start + 1
        gt_tubes = np.bincount(labels.tube_class, minlength=n_classes)
        gt_boxes = np.bincount(labels.tube_class, weights=gt_len, minlength=n_classes).astype(
            np.int64
        )
        # Video-AP on the other thread, frame-AP on this one.
        video = pool.submit(
            _video_ap, n_classes, pred, tube_ranking.result(), tube_best, tube_target, gt_tubes
        )
        try:
            frame_tp = first_claims(
                ranked,
                row_best,
                row_target,
                threshold=IOU_THRESHOLD,
                n_targets=len(labels.boxes),
            )
            if frame_tp is None:
                targets = np.where(row_best >= IOU_THRESHOLD, row_target, -1)[ranked]
                frame_tp = _first_claims(targets)
                del targets
            del row_best, row_target
            frame_ap = _per_class_ap(_class_bounds(pred.row_class, n_classes), frame_tp, gt_boxes)
            # The rows' classes and clips in rank order serve only to score a split of
            # the clips; a random gather of every row each, they are not made otherwise.
            frame_class: np.ndarray | None = None
            frame_clip: np.ndarray | None = None
            if labels.clip_split is not None:
                frame_class = pred.row_class[ranked]
                frame_clip = pred.tube_clip[pred.row_tube[ranked]]
        finally:
            video_ranked, video_class, video_tp, video_ap = video.result()
    return DetectionResult(
        frame_ap=frame_ap,
        video_ap=video_ap,
        gt_tubes=gt_tubes,
        gt_boxes=gt_boxes,
        video_ranked_class=video_class,
        video_ranked_clip=pred.tube_clip[video_ranked],
        video_ranked_tp=video_tp,
        frame_ranked_class=frame_class,
        frame_ranked_clip=frame_clip,
        frame_ranked_tp=frame_tp,
    )


def _rank_tubes(pred: PredictedTubes) -> np.ndarray:
    """The predicted tubes as video-AP ranks them: by class, mean score descending, then
    the file order of their first rows."""
    return _rank(pred.tube_class, pred.tube_score, np.argsort(pred.tube_first))


def _video_ap(
    n_classes: int,
    pred: PredictedTubes,
    ranked: np.ndarray,
    tube_best: np.ndarray,
    tube_target: np.ndarray,
    gt_tubes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float | None]]:
    """(ranking, class and true positives in rank order, AP per class) of the tubes."""
    targets = np.where(tube_best >= IOU_THRESHOLD, tube_target, -1)[ranked]
    video_tp = _first_claims(targets)
    video_class = pred.tube_class[ranked]
    video_ap = _per_class_ap(_class_bounds(video_class, n_classes), video_tp, gt_tubes)
    return ranked, video_class, video_tp, video_ap


def _gt_groups(
    labels: DetectionLabels, pred: PredictedTubes
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ground-truth tubes each predicted tube may match: those of its (clip, class).

    Returns ``gt_order`` (ground-truth tubes grouped by (clip, class), label-file order
    kept inside a group) and, per predicted tube, where its group starts in it (``lo``)
    and how many it holds (``n_cand``): its j-th candidate is ``gt_order[lo + j]``.
    """
    n_classes = labels.n_classes
    gt_key = labels.tube_clip * n_classes + labels.tube_class
    gt_order = np.argsort(gt_key, kind="stable")
    gt_key_sorted = gt_key[gt_order]
    pred_key = pred.tube_clip * n_classes + pred.tube_class
    lo = np.searchsorted(gt_key_sorted, pred_key, side="left")
    n_cand = np.searchsorted(gt_key_sorted, pred_key, side="right") - lo
    return gt_order, lo, n_cand


# A pass over at least this many rows is split between two threads.
_SPLIT_PASS_ROWS = 1 << 16


def _box_pass(
    rows: np.ndarray,
    pred: PredictedTubes,
    j_start: np.ndarray,
    j_end: np.ndarray,
    j_base: np.ndarray,
    boxes: np.ndarray,
    row_best: np.ndarray,
    row_target: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One pass over ``rows`` (file rows, ascending): each row meets the box on its frame
    of its tube's ground-truth tube of the pass (``j_*``, per predicted tube), if the
    span holds that frame; ``row_best``/``row_target`` keep each row's best box so far.
    Returns the rows that met a box and their IoUs."""
    native = box_pass(
        rows, pred.row_tube, pred.row_frame, j_start, j_end, j_base, boxes, pred.row_box,
        row_best, row_target,
    )  # fmt: skip
    if native is not None:
        return native
    # Where the compiled loop is not there: the same in whole-array numpy steps.
    tube = pred.row_tube[rows]
    frame = pred.row_frame[rows]
    inside = (j_start[tube] <= frame) & (frame <= j_end[tube])
    hit = rows[inside]
    gbox = j_base[tube[inside]] + frame[inside]
    del tube, frame, inside
    # Whole ground-truth boxes (4 adjacent floats) per row; ``take`` gathers rows
    # of a 2-d array many times faster than fancy indexing does.
    g = np.take(boxes, gbox, axis=0)
    row_box = pred.row_box
    iou = box_iou(
        row_box[0, hit],
        row_box[1, hit],
        row_box[2, hit],
        row_box[3, hit],
        g[:, 0],
        g[:, 1],
        g[:, 2],
        g[:, 3],
    )
    del g
    # Strictly better only: on a tie the earlier tube (label-file order) keeps it.
    better = iou > row_best[hit]
    row_best[hit[better]] = iou[better]
    row_target[hit[better]] = gbox[better]
    return hit, iou


def _match(
    labels: DetectionLabels, pred: PredictedTubes
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per file row, its best box IoU and that box; per tube, its best spatio-temporal
    IoU and that ground-truth tube (ties: the first in the label file)."""
    gt_box_start = labels.tube_box_start
    boxes = labels.boxes

    gt_order, lo, n_cand = _gt_groups(labels, pred)

    row_best = np.full(pred.n_rows, -1.0)
    row_target = np.full(pred.n_rows, -1, dtype=np.int64)
    tube_best = np.full(pred.n_tubes, -1.0)
    tube_target = np.full(pred.n_tubes, -1, dtype=np.int64)
    if not pred.n_tubes or not n_cand.any():
        return row_best, row_target, tube_best, tube_target

    frame_order = _FrameOrder(pred)
    # A boolean gather (1 byte a row) picks the rows of tubes with candidates.
    rows = np.flatnonzero((n_cand > 0)[pred.row_tube])
    tubes = np.flatnonzero(n_cand)
    for j in range(int(n_cand.max())):
        if j:
            rows = rows[n_cand[pred.row_tube[rows]] > j]
            tubes = tubes[n_cand[tubes] > j]
        # Per tube, its j-th ground-truth tube's span and where its boxes start (small
        # arrays); then per row, the box on the row's frame if the span holds it.
        j_gt = np.full(pred.n_tubes, -1, dtype=np.int64)
        j_gt[tubes] = gt_order[lo[tubes] + j]
        j_start = labels.tube_start[j_gt]
        j_end = np.where(j_gt >= 0, labels.tube_end[j_gt], -1)
        j_base = gt_box_start[j_gt] - j_start
        box_pass = (pred, j_start, j_end, j_base, boxes, row_best, row_target)
        if len(rows) >= _SPLIT_PASS_ROWS:
            # Two halves of the rows on two threads (numpy lets go of the GIL in all of
            # it); they write to different rows of row_best and row_target.
            half = len(rows) // 2
            with ThreadPoolExecutor(max_workers=1) as pool:
                later = pool.submit(_box_pass, rows[half:], *box_pass)
                hit_a, iou_a = _box_pass(rows[:half], *box_pass)
                hit_b, iou_b = later.result()
            hit, iou = np.concatenate((hit_a, hit_b)), np.concatenate((iou_a, iou_b))
            del hit_a, iou_a, hit_b, iou_b
        else:
            hit, iou = _box_pass(rows, *box_pass)
        del j_gt, j_start, j_end, j_base, box_pass
        iou_sum = frame_order.sums(hit, iou)
        del hit, iou

        # Spatio-temporal IoU of each candidate tube with its j-th ground-truth tube.
        gt = gt_order[lo[tubes] + j]
        g_start, g_end = labels.tube_start[gt], labels.tube_end[gt]
        p_min, p_max = pred.tube_fmin[tubes], pred.tube_fmax[tubes]
        first, last = np.maximum(p_min, g_start), np.minimum(p_max, g_end)
        overlap = first <= last
        active = tubes[overlap]
        gt, first, last = gt[overlap], first[overlap], last[overlap]
        inter = (last - first + 1).astype(np.float64)
        union = (
            np.maximum(p_max[overlap], g_end[overlap])
            - np.minimum(p_min[overlap], g_start[overlap])
            + 1
        ).astype(np.float64)
        st_iou = (inter / union) * (iou_sum[active] / inter)
        better = st_iou > tube_best[active]
        tube_best[active[better]] = st_iou[better]
        tube_target[active[better]] = gt[better]
    return row_best, row_target, tube_best, tube_target
