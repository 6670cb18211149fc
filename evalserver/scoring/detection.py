"""The detection track: spatio-temporal action localisation, ranked by video-mAP@0.5.

Entry points used by the ``score`` command and the worker:

- :func:`load_labels` validates an organizer's label file into :class:`DetectionLabels`,
  which is stored with :meth:`DetectionLabels.to_bytes` and read back with
  :meth:`DetectionLabels.from_bytes`;
- :func:`score` streams a participant's CSV (plain, gzip or one file in a zip), or reads
  a zip of ``<clip_id>/pred.pkl`` files (the TinyActions 2022 layout,
  :mod:`.detection_2022`), and returns the score JSON of CONTRACT section 1.

Decisions where SPEC leaves room (also in the docs of the helper modules):

- ``support`` of a class is its number of ground-truth tubes (the video-AP
  denominator); ``n_gt_boxes`` is added per class (the frame-AP denominator).
- ``frame_ap``/``video_ap`` are ``None`` for a class without ground truth, and the
  maps average over the classes that have some; with no ground truth at all both
  maps are 0.0.
- A submission with a header and no rows is valid: it detects nothing and scores 0.
- Matching is PASCAL VOC taken literally (see :mod:`.detection_metrics`) under the
  default ``voc`` protocol; the ``act`` protocol (:mod:`.detection_act`) reproduces the
  conventions of the ACT evaluation code instead. The result names its ``protocol``.
- Under ``act`` the maps average over every class of the class map (a class without
  ground truth counts 0); its per-class APs stay ``None`` there, as under ``voc``.
- CSV: the header exactly as in SPEC (a UTF-8 BOM, CRLF and blank lines at the very
  end are fine); fields are not quoted; ``tube_id`` and ``frame`` are plain decimal
  integers (at most 18 digits); ``class`` is a name or an id; boxes may extend
  past the frame but not be degenerate. Each faulty line gets one message, for its
  first problem.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

import numpy as np

from .archive import open_submission, seekable
from .bootstrap import (
    RankedDetections,
    resample_counts,
    video_map_replicates,
    weighted_class_ap,
)
from .detection_2022 import looks_like_2022, read_zip
from .detection_act import evaluate_act
from .detection_csv import HEADER, _Problems, read_rows
from .detection_labels import DetectionLabels, load_labels
from .detection_metrics import evaluate as match_and_rank
from .detection_metrics import group_tubes, rank_rows
from .errors import SubmissionInvalid
from .splits import SPLITS, split_seed

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_PROTOCOL",
    "HEADER",
    "PROTOCOLS",
    "DetectionLabels",
    "evaluate",
    "load_labels",
    "score",
]

DEFAULT_MAX_BYTES = 2 << 30
# The phase setting ``detection_protocol`` (CONTRACT section 5) picks one.
PROTOCOLS: tuple[str, ...] = ("voc", "act")
DEFAULT_PROTOCOL = "voc"


def _mean(values: list[float | None], *, over_all: bool = False) -> float:
    """Mean over the classes with ground truth, or over all (``None`` counting 0)."""
    present = [v for v in values if v is not None]
    count = len(values) if over_all else len(present)
    return float(sum(present) / count) if count else 0.0


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(
            f"unknown detection protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}"
        )
    return protocol


def score(
    labels: DetectionLabels,
    source: bytes | BinaryIO,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    protocol: str = DEFAULT_PROTOCOL,
) -> dict[str, Any]:
    """Score a detection submission; raise ``SubmissionInvalid`` listing its problems.

    Every problem names its CSV line (``line 17: score 1.3 is outside [0, 1]``); at most
    50 are listed, followed by ``... and N more problems``. ``protocol`` is ``voc`` or
    ``act`` (see the module docstring).
    """
    return evaluate(labels, source, max_bytes=max_bytes, protocol=protocol)[0]


def evaluate(
    labels: DetectionLabels,
    source: bytes | BinaryIO,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    protocol: str = DEFAULT_PROTOCOL,
    replicates: int = 0,
    seed: int = 0,
) -> tuple[dict[str, Any], np.ndarray | None, dict[str, tuple[dict, np.ndarray | None]] | None]:
    """Scores and video-mAP per resample (None unless ``replicates`` > 0), on every clip
    and, when the labels are split, on each split (resampled within the split).

    The bootstrap and the splits reweight the ``voc`` protocol's ranked detections; the
    ``act`` protocol's trapezoidal AP cannot be reweighted exactly, so it gets no interval
    and refuses split labels (rather than ever showing all-clips scores as public ones).
    """
    check_protocol(protocol)
    if protocol == "act" and labels.clip_split is not None:
        raise ValueError("the act detection protocol does not support labels with a split")
    warnings: list[str] = []
    with seekable(source, max_bytes=max_bytes) as upload:
        if looks_like_2022(upload):
            # The TinyActions 2022 layout: a zip of <clip_id>/pred.pkl files.
            read = read_zip(upload, labels, max_bytes=max_bytes)
            rows, problems, warnings = read.rows, _Problems(), read.warnings
        else:
            with open_submission(upload, max_bytes=max_bytes) as stream:
                rows, problems = read_rows(stream, labels)
    with ThreadPoolExecutor(max_workers=1) as side:
        # Frame-AP's ranking of the rows needs only their classes and scores: it runs
        # beside the grouping (and the matching) on the second core. (Not for a file
        # already found faulty: it gets no score.)
        ranking = (
            side.submit(rank_rows, rows.cls, rows.score)
            if protocol == "voc" and not problems
            else None
        )
        tubes = group_tubes(rows, labels, problems)
        # The rows now live on, sorted, inside ``tubes``; free the file-order copy early.
        del rows
        if problems:
            raise SubmissionInvalid(problems.messages())
        if protocol == "act":
            result = evaluate_act(labels, tubes)
        else:
            result = match_and_rank(labels, tubes, ranking)
    per_class = [
        {
            "class_id": c,
            "name": name,
            "frame_ap": result.frame_ap[c],
            "video_ap": result.video_ap[c],
            "support": int(result.gt_tubes[c]),
            "n_gt_boxes": int(result.gt_boxes[c]),
        }
        for c, name in enumerate(labels.class_names)
    ]
    over_all = protocol == "act"
    scores = {
        "track": "detection",
        "primary_metric": "video_map",
        "protocol": protocol,
        "frame_map": _mean(result.frame_ap, over_all=over_all),
        "video_map": _mean(result.video_ap, over_all=over_all),
        "n_items": labels.n_items,
        "per_class": per_class,
        # Only when there is something to say (the 2022 layout's dropped boxes).
        **({"warnings": warnings} if warnings else {}),
    }
    reps = None
    if replicates > 0 and protocol == "voc":
        ranked = RankedDetections(
            n_classes=labels.n_classes,
            det_class=result.video_ranked_class,
            det_clip=result.video_ranked_clip,
            det_tp=result.video_ranked_tp,
            gt_class=labels.tube_class,
            gt_clip=labels.tube_clip,
        )
        counts = resample_counts(labels.n_items, replicates=replicates, seed=seed)
        reps = video_map_replicates(ranked, counts)
    if labels.clip_split is None:
        return scores, reps, None
    splits = {
        name: _split_scored(labels, result, code, replicates=replicates, seed=seed)
        for code, name in enumerate(SPLITS)
    }
    return scores, reps, splits


def _split_scored(
    labels: DetectionLabels, result: Any, code: int, *, replicates: int, seed: int
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Scores on the clips of one split: the same matching, other clips weighted 0."""
    in_split = labels.clip_split == code
    weight = in_split.astype(np.float64)
    n_classes = labels.n_classes
    tube_in = in_split[labels.tube_clip]
    gt_tubes = np.bincount(labels.tube_class[tube_in], minlength=n_classes)
    lengths = labels.tube_end - labels.tube_start + 1
    gt_boxes = np.bincount(
        labels.tube_class[tube_in], weights=lengths[tube_in], minlength=n_classes
    ).astype(np.int64)
    frame_ap = weighted_class_ap(
        result.frame_ranked_class,
        result.frame_ranked_tp,
        weight[result.frame_ranked_clip],
        gt_boxes,
    )
    video_ap = weighted_class_ap(
        result.video_ranked_class,
        result.video_ranked_tp,
        weight[result.video_ranked_clip],
        gt_tubes,
    )
    scores = {
        "track": "detection",
        "primary_metric": "video_map",
        "protocol": "voc",
        "frame_map": _mean(frame_ap),
        "video_map": _mean(video_ap),
        "n_items": int(in_split.sum()),
        "per_class": [
            {
                "class_id": c,
                "name": name,
                "frame_ap": frame_ap[c],
                "video_ap": video_ap[c],
                "support": int(gt_tubes[c]),
                "n_gt_boxes": int(gt_boxes[c]),
            }
            for c, name in enumerate(labels.class_names)
        ],
    }
    if replicates <= 0:
        return scores, None
    # Resample within the split: clip indices of the split, renumbered 0..n_split-1.
    clips = np.flatnonzero(in_split)
    renumber = np.full(labels.n_items, -1, dtype=np.int64)
    renumber[clips] = np.arange(len(clips))
    dets = in_split[result.video_ranked_clip]
    ranked = RankedDetections(
        n_classes=n_classes,
        det_class=result.video_ranked_class[dets],
        det_clip=renumber[result.video_ranked_clip[dets]],
        det_tp=result.video_ranked_tp[dets],
        gt_class=labels.tube_class[tube_in],
        gt_clip=renumber[labels.tube_clip[tube_in]],
    )
    counts = resample_counts(len(clips), replicates=replicates, seed=split_seed(seed, SPLITS[code]))
    return scores, video_map_replicates(ranked, counts)
