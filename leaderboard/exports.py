"""CSV exports for organizers: a phase's leaderboard, and every submission of a phase.

Both are for organizers only (the admin and the command line), so the leaderboard export is
the full board whatever the phase's visibility: the frozen entries if the phase is frozen,
else the live ranking.
"""

import csv
from typing import TextIO

from evalserver.challenges.models import Phase
from leaderboard.selectors import leaderboard_entries, per_class_values, track_columns
from submissions.models import Submission

# A cell starting with one of these is a formula to a spreadsheet; team and method names are
# chosen by participants, so they are defused with a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _number(value) -> str:
    if value is None:
        return ""
    # repr keeps every digit, so ties in the export look like ties on the server.
    return repr(float(value)) if isinstance(value, int | float) else ""


def _metric_header(phase: Phase) -> list[str]:
    columns = track_columns(phase)
    return [
        columns.primary.key,
        *(column.key for column in columns.secondary),
        *(f"{columns.per_class_key}:{name}" for name in phase.challenge.class_names),
    ]


def _metric_cells(phase: Phase, scores: dict | None) -> list[str]:
    columns = track_columns(phase)
    scores = scores or {}
    return [
        _number(scores.get(columns.primary.key)),
        *(_number(scores.get(column.key)) for column in columns.secondary),
        *(
            _number(value)
            for value in per_class_values(
                scores, columns.per_class_key, len(phase.challenge.class_names)
            )
        ),
    ]


def write_leaderboard_csv(*, phase: Phase, out: TextIO) -> int:
    """Write the board, best first; returns the number of entries written."""
    entries, _frozen_at = leaderboard_entries(phase=phase)
    writer = csv.writer(out)
    writer.writerow(
        [
            "rank",
            "team",
            "method_name",
            *_metric_header(phase),
            "submission_count",
            "submitted_at",
            "submission_id",
            "is_baseline",
        ]
    )
    for entry in entries:
        writer.writerow(
            [
                "" if entry.rank is None else entry.rank,
                _text(entry.team),
                _text(entry.method_name),
                *_metric_cells(phase, entry.scores),
                "" if entry.submission_count is None else entry.submission_count,
                entry.submitted_at.isoformat(),
                entry.submission_id,
                str(entry.is_baseline).lower(),
            ]
        )
    return len(entries)


def write_submissions_csv(*, phase: Phase, out: TextIO) -> int:
    """Write every submission of the phase, oldest first, whatever its status."""
    writer = csv.writer(out)
    writer.writerow(
        [
            "submission_id",
            "team",
            "submitted_by",
            "created_at",
            "status",
            "method_name",
            "is_baseline",
            "is_hidden",
            "is_disqualified",
            "inside_phase_dates",
            *_metric_header(phase),
            "errors",
        ]
    )
    submissions = (
        Submission.objects.filter(phase=phase)
        .select_related("team", "submitted_by")
        .order_by("created_at", "id")
    )
    count = 0
    for submission in submissions.iterator(chunk_size=500):
        writer.writerow(
            [
                submission.pk,
                _text(submission.team.name),
                _text(submission.submitted_by.username) if submission.submitted_by else "",
                submission.created_at.isoformat(),
                submission.status,
                _text(submission.method_name),
                str(submission.is_baseline).lower(),
                str(submission.is_hidden).lower(),
                str(submission.is_disqualified).lower(),
                str(phase.starts_at <= submission.created_at < phase.ends_at).lower(),
                *_metric_cells(phase, submission.scores),
                _text("; ".join(str(error) for error in submission.errors or ())),
            ]
        )
        count += 1
    return count
