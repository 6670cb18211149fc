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
``np.unique(..., return_index=True)``, no Python loop over detections.

Candidate pairs (predicted tube, ground-truth tube of the same clip and class) are
visited in passes: pass j pairs every predicted tube with the j-th ground-truth
tube of its (clip, class) group, so a pass holds each predicted tube at most once
and its rows can be updated with plain fancy indexing. Only the rows of a
predicted tube inside the ground-truth tube's span are expanded; the box IoUs they
yield serve both frame-AP (best box per row) and video-AP (their sum per pair).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .detection_csv import SubmissionRows, _Problems
from .detection_labels import DetectionLabels

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
    row_key: np.ndarray
    row_class: np.ndarray  # file order from here on
    row_score: np.ndarray
    row_box: np.ndarray  # (4, rows): x1, y1, x2, y2
    tube_clip: np.ndarray
    tube_class: np.ndarray
    tube_first: np.ndarray  # file row of the tube's first row
    tube_fmin: np.ndarray
    tube_fmax: np.ndarray
    tube_score: np.ndarray

    @property
    def n_rows(self) -> int:
        return len(self.order)

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


def group_tubes(
    rows: SubmissionRows, labels: DetectionLabels, problems: _Problems
) -> PredictedTubes:
    """Group rows into tubes; two rows for the same tube and frame are reported as problems."""
    n_classes, max_frames = labels.n_classes, _max_frames(labels)
    tube_id = rows.tube_id
    n = len(rows)
    span = int(tube_id.max()) + 1 if n else 1
    if not _fits_int63(labels.n_items, n_classes, span, max_frames):
        # Huge, sparse tube ids: replace them by their rank so the key fits in int64.
        uniq, tube_id = np.unique(tube_id, return_inverse=True)
        span = len(uniq)
    key = ((rows.clip * n_classes + rows.cls) * span + tube_id) * max_frames + rows.frame
    # Keys are unique in a valid file, where any sort is stable; quicksort is twice as
    # fast as a stable sort. Only duplicates need file order, to name the first line.
    order = np.argsort(key)
    sorted_key = key[order]
    if (sorted_key[1:] == sorted_key[:-1]).any():
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        _report_duplicates(rows, labels, order, sorted_key, problems)
    del key

    tube_key, frame = np.divmod(sorted_key, max_frames)
    del sorted_key
    is_start = np.ones(n, dtype=bool)
    is_start[1:] = tube_key[1:] != tube_key[:-1]
    starts = np.flatnonzero(is_start)
    n_tubes = len(starts)
    ends = np.append(starts[1:], n)[:n_tubes] - 1
    row_tube = np.cumsum(is_start, dtype=np.int64) - 1
    del is_start
    row_key = row_tube * max_frames + frame
    tube_key = tube_key[starts]

    # Per-tube sums in file order, so only the tube index travels back, not the rows.
    tube_of_file_row = np.empty(n, dtype=np.int64)
    tube_of_file_row[order] = row_tube
    del row_tube
    score_sum = np.bincount(tube_of_file_row, weights=rows.score, minlength=n_tubes)
    counts = np.bincount(tube_of_file_row, minlength=n_tubes)
    return PredictedTubes(
        max_frames=max_frames,
        order=order,
        row_key=row_key,
        row_class=rows.cls,
        row_score=rows.score,
        row_box=rows.box,
        tube_clip=tube_key // (n_classes * span),
        tube_class=(tube_key // span) % n_classes,
        tube_first=(np.minimum.reduceat(order, starts) if n else np.empty(0, np.int64)),
        tube_fmin=frame[starts],
        tube_fmax=frame[ends],
        tube_score=score_sum / np.maximum(counts, 1),
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
    """Elementwise IoU of boxes a and b, continuous coordinates (area = w * h, no +1)."""
    iw = np.minimum(ax2, bx2) - np.maximum(ax1, bx1)
    np.maximum(iw, 0.0, out=iw)
    ih = np.minimum(ay2, by2) - np.maximum(ay1, by1)
    np.maximum(ih, 0.0, out=ih)
    inter = iw * ih
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union


def average_precision(tp: np.ndarray, n_gt: int) -> float:
    """All-point interpolated AP (VOC 2010+) of ranked detections flagged true/false positive."""
    tp_cum = np.cumsum(tp, dtype=np.float64)
    fp_cum = np.cumsum(~tp, dtype=np.float64)
    recall = np.concatenate(([0.0], tp_cum / n_gt, [1.0]))
    precision = np.concatenate(([0.0], tp_cum / (tp_cum + fp_cum), [0.0]))
    # Precision made monotone from the right: the best precision at any higher recall.
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def _first_claims(targets: np.ndarray) -> np.ndarray:
    """True where a ranked detection is the first to claim its target (-1 = none)."""
    tp = np.zeros(len(targets), dtype=bool)
    claimed = np.flatnonzero(targets >= 0)
    _, first = np.unique(targets[claimed], return_index=True)
    tp[claimed[first]] = True
    return tp


def _rank(
    classes: np.ndarray, scores: np.ndarray, tie_order: np.ndarray | None = None
) -> np.ndarray:
    """Permutation ordering by class, then score descending, then ``tie_order``.

    ``tie_order`` lists the items in the order that decides ties (file order);
    None means they already are in that order.
    """
    if tie_order is None:
        order = np.argsort(-scores, kind="stable")
    else:
        order = tie_order[np.argsort(-scores[tie_order], kind="stable")]
    # A 16-bit key lets numpy use its radix sort.
    small = classes.astype(np.int16) if classes.size and classes.max() < 2**15 else classes
    return order[np.argsort(small[order], kind="stable")]


def _per_class_ap(
    classes_ranked: np.ndarray, tp_ranked: np.ndarray, n_gt: np.ndarray
) -> list[float | None]:
    bounds = np.searchsorted(classes_ranked, np.arange(len(n_gt) + 1))
    return [
        average_precision(tp_ranked[bounds[c] : bounds[c + 1]], int(n_gt[c])) if n_gt[c] else None
        for c in range(len(n_gt))
    ]


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
    # The same for box rows as frame-AP ranks them (for scoring a split of the clips).
    frame_ranked_class: np.ndarray | None = None
    frame_ranked_clip: np.ndarray | None = None
    frame_ranked_tp: np.ndarray | None = None


def evaluate(labels: DetectionLabels, pred: PredictedTubes) -> DetectionResult:
    n_classes = labels.n_classes
    max_frames = pred.max_frames
    gt_len = labels.tube_end - labels.tube_start + 1
    gt_box_start = labels.tube_box_start
    gx1, gy1, gx2, gy2 = (np.ascontiguousarray(labels.boxes[:, k]) for k in range(4))

    # Ground-truth tubes grouped by (clip, class), label-file order kept inside a group.
    gt_key = labels.tube_clip * n_classes + labels.tube_class
    gt_order = np.argsort(gt_key, kind="stable")
    gt_key_sorted = gt_key[gt_order]
    pred_key = pred.tube_clip * n_classes + pred.tube_class
    lo = np.searchsorted(gt_key_sorted, pred_key, side="left")
    n_cand = np.searchsorted(gt_key_sorted, pred_key, side="right") - lo

    row_key = pred.row_key
    # Per file row: the best overlap with a ground-truth box and which box.
    row_best = np.full(pred.n_rows, -1.0)
    row_target = np.full(pred.n_rows, -1, dtype=np.int64)
    tube_best = np.full(pred.n_tubes, -1.0)
    tube_target = np.full(pred.n_tubes, -1, dtype=np.int64)

    by_cand = np.argsort(-n_cand, kind="stable")
    n_cand_desc = n_cand[by_cand]
    for j in range(int(n_cand.max()) if pred.n_tubes else 0):
        active = by_cand[: int(np.count_nonzero(n_cand_desc > j))]
        gt = gt_order[lo[active] + j]
        g_start, g_end = labels.tube_start[gt], labels.tube_end[gt]
        p_min, p_max = pred.tube_fmin[active], pred.tube_fmax[active]
        first, last = np.maximum(p_min, g_start), np.minimum(p_max, g_end)
        overlap = first <= last
        active, gt, g_start, g_end, p_min, p_max, first, last = (
            a[overlap] for a in (active, gt, g_start, g_end, p_min, p_max, first, last)
        )
        # The predicted tube's rows on frames the ground-truth tube covers.
        r_lo = np.searchsorted(row_key, active * max_frames + first, side="left")
        r_hi = np.searchsorted(row_key, active * max_frames + last, side="right")
        n_rows = r_hi - r_lo
        pair = np.repeat(np.arange(len(active)), n_rows)
        pos = np.arange(int(n_rows.sum())) + np.repeat(r_lo - (np.cumsum(n_rows) - n_rows), n_rows)
        frame = row_key[pos] - active[pair] * max_frames
        gbox = (gt_box_start[gt] - g_start)[pair] + frame
        # Back to file rows: each appears at most once in a pass (one tube, one frame).
        pos = pred.order[pos]
        box = pred.row_box[:, pos]
        iou = box_iou(
            box[0],
            box[1],
            box[2],
            box[3],
            gx1[gbox],
            gy1[gbox],
            gx2[gbox],
            gy2[gbox],
        )
        better = iou > row_best[pos]
        row_best[pos[better]] = iou[better]
        row_target[pos[better]] = gbox[better]

        # bincount adds in input order, i.e. frame order: the same sum as a plain loop.
        iou_sum = np.bincount(pair, weights=iou, minlength=len(active))
        inter = (last - first + 1).astype(np.float64)
        union = (np.maximum(p_max, g_end) - np.minimum(p_min, g_start) + 1).astype(np.float64)
        st_iou = (inter / union) * (iou_sum / inter)
        better = st_iou > tube_best[active]
        tube_best[active[better]] = st_iou[better]
        tube_target[active[better]] = gt[better]

    gt_tubes = np.bincount(labels.tube_class, minlength=n_classes)
    gt_boxes = np.bincount(labels.tube_class, weights=gt_len, minlength=n_classes).astype(np.int64)

    ranked = _rank(pred.row_class, pred.row_score)
    targets = np.where(row_best >= IOU_THRESHOLD, row_target, -1)[ranked]
    frame_tp = _first_claims(targets)
    frame_class = pred.row_class[ranked]
    frame_ap = _per_class_ap(frame_class, frame_tp, gt_boxes)
    # A file row's clip is its tube's: rows are indexed by file position in ``order``.
    row_tube = np.empty(pred.n_rows, dtype=np.int64)
    row_tube[pred.order] = pred.row_key // max_frames
    frame_clip = pred.tube_clip[row_tube[ranked]]

    ranked = _rank(pred.tube_class, pred.tube_score, np.argsort(pred.tube_first))
    targets = np.where(tube_best >= IOU_THRESHOLD, tube_target, -1)[ranked]
    video_tp = _first_claims(targets)
    video_class = pred.tube_class[ranked]
    video_ap = _per_class_ap(video_class, video_tp, gt_tubes)
    return DetectionResult(
        frame_ap=frame_ap,
        video_ap=video_ap,
        gt_tubes=gt_tubes,
        gt_boxes=gt_boxes,
        video_ranked_class=video_class,
        video_ranked_clip=pred.tube_clip[ranked],
        video_ranked_tp=video_tp,
        frame_ranked_class=frame_class,
        frame_ranked_clip=frame_clip,
        frame_ranked_tp=frame_tp,
    )
