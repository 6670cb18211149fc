"""Check a submission's format against a phase without scoring it ("Check only").

Uses only what is public about the phase's clips (their ids, frame counts and the class
names), never the hidden labels themselves: the answer depends on the ids alone, so two
phases with the same clips but different labels answer alike.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from . import track_module
from .archive import open_submission
from .errors import SubmissionInvalid


def check(track: str, labels: Any, source: bytes | BinaryIO, *, max_bytes: int | None = None):
    """Every problem of the submission, as ``score`` would list them; [] when valid."""
    module = track_module(track)
    limit = module.DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    try:
        if track == "detection":
            return _detection_problems(labels, source, limit)
        module.validate(labels, source, max_bytes=limit)
    except SubmissionInvalid as exc:
        return list(exc.errors)
    return []


def _detection_problems(labels: Any, source: bytes | BinaryIO, max_bytes: int) -> list[str]:
    from .detection_csv import read_rows
    from .detection_metrics import group_tubes

    with open_submission(source, max_bytes=max_bytes) as stream:
        rows, problems = read_rows(stream, labels)
    group_tubes(rows, labels, problems)
    return problems.messages() if problems else []
