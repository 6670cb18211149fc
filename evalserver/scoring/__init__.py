"""The scoring library: one implementation behind the ``score`` command and the worker.

Pure Python and numpy; importing it must not pull in Django or Celery. Each track
is a module with the same API (``load_labels``, a labels class with
``to_bytes``/``from_bytes``, ``score``); this module picks one by track name.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any, BinaryIO

from .errors import LabelsInvalid, ScoringError, SubmissionInvalid, SubmissionTooLarge

__all__ = [
    "TRACKS",
    "LabelsInvalid",
    "ScoringError",
    "SubmissionInvalid",
    "SubmissionTooLarge",
    "labels_from_bytes",
    "load_labels",
    "score",
    "track_module",
]

TRACKS: tuple[str, ...] = ("classification", "detection")

# Imported on first use, so one track's dependencies never load for the other.
_MODULES = {
    "classification": "evalserver.scoring.recognition",
    "detection": "evalserver.scoring.detection",
}


def track_module(track: str) -> ModuleType:
    """The module implementing ``track``; ValueError for an unknown track."""
    try:
        name = _MODULES[track]
    except KeyError:
        raise ValueError(f"unknown track {track!r}; expected one of {', '.join(TRACKS)}") from None
    return importlib.import_module(name)


def _labels_class(module: ModuleType) -> Any:
    for attr in ("RecognitionLabels", "DetectionLabels"):
        if hasattr(module, attr):
            return getattr(module, attr)
    raise TypeError(f"{module.__name__} defines no labels class")


def load_labels(track: str, data: bytes, class_names: Sequence[str]) -> Any:
    """Validate an organizer's label file; raises LabelsInvalid listing every problem."""
    return track_module(track).load_labels(data, list(class_names))


def labels_from_bytes(track: str, blob: bytes) -> Any:
    """Labels stored earlier with their ``to_bytes()``."""
    return _labels_class(track_module(track)).from_bytes(blob)


def score(
    track: str,
    labels: Any,
    source: bytes | BinaryIO,
    *,
    max_bytes: int | None = None,
    protocol: str | None = None,
) -> dict:
    """Score a submission; raises SubmissionInvalid listing every problem.

    ``max_bytes`` caps the decompressed submission; None means the track's default.
    ``protocol`` (detection only: ``voc`` or ``act``) picks the evaluation conventions;
    None means the track's default.
    """
    module = track_module(track)
    limit = module.DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    if protocol is None:
        return module.score(labels, source, max_bytes=limit)
    if track != "detection":
        raise ValueError(f"a protocol applies to the detection track only, not to {track!r}")
    return module.score(labels, source, max_bytes=limit, protocol=protocol)
