"""The detection track: spatio-temporal action localisation, ranked by video-mAP@0.5.

Entry points used by the ``score`` command and the worker:

- :func:`load_labels` validates an organizer's label file into :class:`DetectionLabels`,
  which is stored with :meth:`DetectionLabels.to_bytes` and read back with
  :meth:`DetectionLabels.from_bytes`;
- :func:`score` streams a participant's CSV (plain, gzip or one file in a zip) and
  returns the score JSON of CONTRACT section 1.

Decisions where SPEC leaves room (also in the docs of the helper modules):

- ``support`` of a class is its number of ground-truth tubes (the video-AP
  denominator); ``n_gt_boxes`` is added per class (the frame-AP denominator).
- ``frame_ap``/``video_ap`` are ``None`` for a class without ground truth, and the
  maps average over the classes that have some; with no ground truth at all both
  maps are 0.0.
- A submission with a header and no rows is valid: it detects nothing and scores 0.
- Matching is PASCAL VOC taken literally (see :mod:`.detection_metrics`).
- CSV: the header exactly as in SPEC (a UTF-8 BOM, CRLF and blank lines at the very
  end are fine); fields are not quoted; ``tube_id`` and ``frame`` are plain decimal
  integers (at most 18 digits); ``class`` is a name or an id; boxes may extend
  past the frame but not be degenerate. Each faulty line gets one message, for its
  first problem.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import numpy as np

from .archive import open_submission
from .bootstrap import RankedDetections, resample_counts, video_map_replicates
from .detection_csv import HEADER, read_rows
from .detection_labels import DetectionLabels, load_labels
from .detection_metrics import evaluate as match_and_rank
from .detection_metrics import group_tubes
from .errors import SubmissionInvalid

__all__ = ["DEFAULT_MAX_BYTES", "HEADER", "DetectionLabels", "evaluate", "load_labels", "score"]

DEFAULT_MAX_BYTES = 2 << 30


def _mean(values: list[float | None]) -> float:
    present = [v for v in values if v is not None]
    return float(sum(present) / len(present)) if present else 0.0


def score(
    labels: DetectionLabels, source: bytes | BinaryIO, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, Any]:
    """Score a detection submission; raise ``SubmissionInvalid`` listing its problems.

    Every problem names its CSV line (``line 17: score 1.3 is outside [0, 1]``); at most
    50 are listed, followed by ``... and N more problems``.
    """
    return evaluate(labels, source, max_bytes=max_bytes)[0]


def evaluate(
    labels: DetectionLabels,
    source: bytes | BinaryIO,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    replicates: int = 0,
    seed: int = 0,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """The score dict and, when ``replicates`` > 0, video-mAP on each of the phase's resamples."""
    with open_submission(source, max_bytes=max_bytes) as stream:
        rows, problems = read_rows(stream, labels)
    tubes = group_tubes(rows, labels, problems)
    # The rows now live on, sorted, inside ``tubes``; free the file-order copy early.
    del rows
    if problems:
        raise SubmissionInvalid(problems.messages())
    result = match_and_rank(labels, tubes)
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
    scores = {
        "track": "detection",
        "primary_metric": "video_map",
        "frame_map": _mean(result.frame_ap),
        "video_map": _mean(result.video_ap),
        "n_items": labels.n_items,
        "per_class": per_class,
    }
    if replicates <= 0:
        return scores, None
    ranked = RankedDetections(
        n_classes=labels.n_classes,
        det_class=result.video_ranked_class,
        det_clip=result.video_ranked_clip,
        det_tp=result.video_ranked_tp,
        gt_class=labels.tube_class,
        gt_clip=labels.tube_clip,
    )
    counts = resample_counts(labels.n_items, replicates=replicates, seed=seed)
    return scores, video_map_replicates(ranked, counts)
