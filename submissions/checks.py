"""Check only: validate a file against a phase without scoring, storing or counting it.

The same caps as an upload (submission_check_size), the same validation as the scorer
(the scoring library's ``checking.check``), but nothing is written: no file, no row, no
event, so no quota moves. Only public facts about the phase's clips reach the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.files import File

from evalserver.challenges.models import Phase
from evalserver.challenges.selectors import phase_labels
from evalserver.errors import ValidationFailed
from evalserver.scoring.checking import check
from submissions.services import submission_check_size, submission_plain_max_bytes


@dataclass(frozen=True)
class CheckResult:
    valid: bool
    errors: list[str]
    n_items: int

    def as_dict(self) -> dict:
        return {"valid": self.valid, "errors": self.errors, "n_items": self.n_items}


def submission_validate(*, phase: Phase, upload: File) -> CheckResult:
    """Every problem ``upload`` would fail with on ``phase``; raises FileTooLarge over the
    caps and PhaseHasNoLabels when the phase has no clip list yet."""
    labels = phase_labels(phase=phase)
    n_items = phase.n_items
    try:
        submission_check_size(phase=phase, upload=upload)
    except ValidationFailed as exc:
        return CheckResult(valid=False, errors=[exc.message], n_items=n_items)
    upload.seek(0)
    errors = check(phase.track, labels, upload, max_bytes=submission_plain_max_bytes(phase=phase))
    return CheckResult(valid=not errors, errors=errors, n_items=n_items)
