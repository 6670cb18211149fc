"""How a scored file becomes stored numbers: scores, bootstrap intervals, split scores.

One place for the worker and for any later re-scoring (a label fix) to turn the scoring
library's :class:`evalserver.scoring.Evaluation` into the fields of a Submission and its
SubmissionEvaluation, so that every score on the boards comes with its interval and,
on a split phase, the public split is what ``Submission.scores`` holds.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from evalserver import scoring
from evalserver.challenges.models import Phase
from evalserver.scoring import bootstrap
from submissions.models import SubmissionEvaluation

# B of the issue: every finished submission's primary metric on 1,000 resamples.
BOOTSTRAP_REPLICATES = bootstrap.DEFAULT_REPLICATES


def phase_bootstrap_seed(phase: Phase) -> int:
    """The seed of a phase's fixed resamples: a hash of ``<challenge slug>/<phase slug>``.

    ``manage.py score --bootstrap 1000 --seed <challenge slug>/<phase slug>`` reproduces it.
    """
    return bootstrap.phase_seed(f"{phase.challenge.slug}/{phase.slug}")


def evaluate_file(
    *,
    phase: Phase,
    labels: Any,
    source: bytes | BinaryIO,
    max_bytes: int | None,
    protocol: str | None = None,
) -> scoring.Evaluation:
    """Score and bootstrap one file against ``labels``; raises SubmissionInvalid.

    ``protocol``: the detection conventions (None: the track's default). The ``act``
    protocol gets no interval (see evalserver.scoring.detection.evaluate).
    """
    return scoring.evaluate(
        phase.track,
        labels,
        source,
        max_bytes=max_bytes,
        protocol=protocol,
        replicates=BOOTSTRAP_REPLICATES,
        seed=phase_bootstrap_seed(phase),
    )


def _primary(scores: dict) -> float | None:
    value = scores.get(scores.get("primary_metric", ""))
    return value if isinstance(value, int | float) else None


def stored_fields(evaluation: scoring.Evaluation) -> tuple[dict, dict]:
    """(Submission fields, SubmissionEvaluation fields) of a finished submission.

    A split phase's ``Submission.scores`` and interval are the public split's: every
    route participants have reads only those. The private split and all-clips scores go
    to SubmissionEvaluation.
    """
    if evaluation.splits is None:
        scores, reps = evaluation.scores, evaluation.replicates
        extra: dict = {
            "private_scores": None,
            "private_primary_score": None,
            "private_ci_low": None,
            "private_ci_high": None,
            "private_replicates": None,
            "all_scores": None,
        }
    else:
        scores, reps = evaluation.splits["public"]
        private_scores, private_reps = evaluation.splits["private"]
        private_ci = bootstrap.interval_fields(private_reps)
        extra = {
            "private_scores": private_scores,
            "private_primary_score": _primary(private_scores),
            "private_ci_low": private_ci["ci_low"],
            "private_ci_high": private_ci["ci_high"],
            "private_replicates": (
                None if private_reps is None else bootstrap.replicates_to_bytes(private_reps)
            ),
            "all_scores": evaluation.scores,
        }
    submission = {"scores": scores, "primary_score": _primary(scores)}
    submission.update(bootstrap.interval_fields(reps))
    extra["replicates"] = None if reps is None else bootstrap.replicates_to_bytes(reps)
    return submission, extra


def save_evaluation(*, submission_id: int, fields: dict) -> None:
    """Create or replace the submission's SubmissionEvaluation (inside the caller's transaction)."""
    SubmissionEvaluation.objects.update_or_create(submission_id=submission_id, defaults=fields)


def clear_evaluation(*, submission_ids: list[int]) -> None:
    """Forget stored intervals and split scores of submissions that are scored again or failed."""
    SubmissionEvaluation.objects.filter(submission_id__in=submission_ids).delete()
