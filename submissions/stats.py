"""Reads for the organizers' dashboard: the queue over time, hour by hour.

Percentiles are computed here from the hour's scoring times rather than in SQL, so the same
code serves PostgreSQL and SQLite; the window is bounded (``hours``), and so is the work.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.utils import timezone

from submissions.models import Submission

DEFAULT_HOURS = 48


@dataclass(frozen=True)
class QueueHour:
    start: dt.datetime
    uploaded: int
    finished: int
    failed: int
    # Seconds from a worker's claim to the result, of the submissions finished in the hour.
    p50: float | None
    p90: float | None
    p99: float | None


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: a value that occurred, no interpolation between two."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def queue_over_time(*, challenge, hours: int = DEFAULT_HOURS, now=None) -> list[QueueHour]:
    """The last ``hours`` whole hours (UTC) up to now, oldest first. Two queries."""
    now = now or timezone.now()
    end = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    start = end - dt.timedelta(hours=hours)
    mine = Submission.objects.filter(phase__challenge=challenge)
    uploaded = [0] * hours
    for created_at in mine.filter(created_at__gte=start, created_at__lt=end).values_list(
        "created_at", flat=True
    ):
        uploaded[int((created_at - start).total_seconds() // 3600)] += 1
    finished = [0] * hours
    failed = [0] * hours
    durations: list[list[float]] = [[] for _ in range(hours)]
    for status, started_at, finished_at in mine.filter(
        finished_at__gte=start,
        finished_at__lt=end,
        status__in=[Submission.Status.FINISHED, Submission.Status.FAILED],
    ).values_list("status", "started_at", "finished_at"):
        index = int((finished_at - start).total_seconds() // 3600)
        if status == Submission.Status.FAILED:
            failed[index] += 1
            continue
        finished[index] += 1
        if started_at is not None and finished_at >= started_at:
            durations[index].append((finished_at - started_at).total_seconds())
    rows = []
    for index in range(hours):
        values = sorted(durations[index])
        rows.append(
            QueueHour(
                start=start + dt.timedelta(hours=index),
                uploaded=uploaded[index],
                finished=finished[index],
                failed=failed[index],
                p50=_percentile(values, 50),
                p90=_percentile(values, 90),
                p99=_percentile(values, 99),
            )
        )
    return rows
