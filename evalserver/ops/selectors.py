"""Reads of the operational figures: the scoring queue, submission counts, failures, workers.

/metrics computes them from the database at scrape time, so every gunicorn worker and
every host answers the same whatever process did the work; the organizer console may
read the queue figures through ``queue_figures`` too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.db.models.fields.json import KT
from django.utils import timezone

from evalserver.ops.models import WorkerHeartbeat
from submissions.models import Submission, SubmissionEvent

Status = Submission.Status

# Upper bounds (seconds) of the scoring-duration histogram: a recognition file scores in
# well under a second, a large detection CSV in minutes.
SCORING_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


@dataclass(frozen=True)
class QueueFigures:
    depth: int
    oldest_queued_seconds: float  # 0 when nothing waits


def queue_figures(*, now: dt.datetime | None = None) -> QueueFigures:
    """How many submissions wait for a worker, and how long the oldest has waited."""
    now = now or timezone.now()
    row = Submission.objects.filter(status=Status.QUEUED).aggregate(
        depth=Count("id"), oldest=Min("created_at")
    )
    oldest = row["oldest"]
    age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    return QueueFigures(depth=row["depth"], oldest_queued_seconds=age)


def submission_counts() -> list[tuple[str, str, int]]:
    """(phase as challenge/phase, status, count) for every phase that has submissions."""
    rows = (
        Submission.objects.values("phase__challenge__slug", "phase__slug", "status")
        .annotate(n=Count("id"))
        .order_by("phase__challenge__slug", "phase__slug", "status")
    )
    return [
        (f"{r['phase__challenge__slug']}/{r['phase__slug']}", r["status"], r["n"]) for r in rows
    ]


def failure_counts() -> list[tuple[str, int]]:
    """(reason, count) of failures, from the audit trail's ``failed`` events."""
    rows = (
        SubmissionEvent.objects.filter(action="failed")
        .annotate(reason=KT("detail__reason"))
        .values("reason")
        .annotate(n=Count("id"))
        .order_by("reason")
    )
    return [(r["reason"] or "unknown", r["n"]) for r in rows]


@dataclass(frozen=True)
class DurationHistogram:
    track: str
    buckets: list[tuple[float, int]]  # cumulative counts per upper bound
    count: int
    total_seconds: float


def scoring_durations() -> list[DurationHistogram]:
    """Histograms of started-to-finished time of the finished submissions, per track.

    One aggregate query: a count per bucket, so the cost does not grow with the payload.
    """
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    aggregates = {
        f"le_{i}": Count("id", filter=Q(took__lte=dt.timedelta(seconds=bound)))
        for i, bound in enumerate(SCORING_BUCKETS)
    }
    rows = (
        Submission.objects.filter(
            status=Status.FINISHED, started_at__isnull=False, finished_at__isnull=False
        )
        .annotate(took=duration)
        .values("phase__track")
        .annotate(n=Count("id"), **aggregates)
        .order_by("phase__track")
    )
    totals = _duration_totals()
    return [
        DurationHistogram(
            track=r["phase__track"],
            buckets=[(bound, r[f"le_{i}"]) for i, bound in enumerate(SCORING_BUCKETS)],
            count=r["n"],
            total_seconds=totals.get(r["phase__track"], 0.0),
        )
        for r in rows
    ]


def _duration_totals() -> dict[str, float]:
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    rows = (
        Submission.objects.filter(
            status=Status.FINISHED, started_at__isnull=False, finished_at__isnull=False
        )
        .values("phase__track")
        .annotate(total=Sum(duration))
        .order_by()
    )
    return {r["phase__track"]: (r["total"] or dt.timedelta()).total_seconds() for r in rows}


def workers_last_seen(*, now: dt.datetime | None = None) -> list[tuple[str, float]]:
    """(worker name, seconds since its last heartbeat), oldest first."""
    now = now or timezone.now()
    return [
        (name, max(0.0, (now - seen).total_seconds()))
        for name, seen in WorkerHeartbeat.objects.order_by("last_seen_at").values_list(
            "name", "last_seen_at"
        )
    ]
