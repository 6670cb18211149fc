"""The dashboard's queue over time: uploads per hour and scoring time percentiles, as SVG."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from submissions.models import Submission
from submissions.stats import queue_over_time
from tests.factories import SubmissionFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 5, 10, 12, 30, tzinfo=dt.UTC)


def _sub(phase, team, *, created, started=None, finished=None, status="finished"):
    return SubmissionFactory(
        phase=phase,
        team=team,
        created_at=created,
        started_at=started,
        finished_at=finished,
        status=status,
    )


def test_hours_count_uploads_and_nearest_rank_percentiles(phase, alice_team):
    hour = NOW.replace(minute=0) - dt.timedelta(hours=1)  # 11:00-12:00
    # Ten submissions finished in the 11:00 hour taking 1..10 seconds, one failed.
    for seconds in range(1, 11):
        start = hour + dt.timedelta(minutes=seconds)
        _sub(
            phase,
            alice_team,
            created=start,
            started=start,
            finished=start + dt.timedelta(seconds=seconds),
        )
    _sub(
        phase,
        alice_team,
        created=hour,
        started=hour,
        finished=hour + dt.timedelta(minutes=1),
        status="failed",
    )
    # One uploaded in the current hour, still queued; one three days ago (outside the window).
    _sub(phase, alice_team, created=NOW - dt.timedelta(minutes=5), status="queued")
    _sub(phase, alice_team, created=NOW - dt.timedelta(days=3), status="queued")

    rows = queue_over_time(challenge=phase.challenge, hours=48, now=NOW)

    assert len(rows) == 48
    assert rows[-1].start == NOW.replace(minute=0)
    assert rows[-1].uploaded == 1
    eleven = rows[-2]
    assert eleven.start == hour
    assert eleven.uploaded == 11
    assert eleven.finished == 10
    assert eleven.failed == 1
    assert eleven.p50 == 5.0
    assert eleven.p90 == 9.0
    assert eleven.p99 == 10.0
    assert sum(r.uploaded for r in rows) == 12
    assert all(r.p50 is None for r in rows[:-2])


def test_the_dashboard_draws_both_charts_for_organizers_only(
    phase, alice_team, organizer_web, alice_web
):
    with time_machine.travel(NOW, tick=False):
        _sub(
            phase,
            alice_team,
            created=NOW - dt.timedelta(minutes=30),
            started=NOW - dt.timedelta(minutes=29),
            finished=NOW - dt.timedelta(minutes=28),
        )
        page = organizer_web.get(f"/challenges/{phase.challenge.slug}/dashboard/")
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count("<svg") >= 2
    assert "Submissions uploaded per hour" in html
    assert "1 uploaded, 1 finished, 0 failed" in html
    assert "median: 60.0 s" in html
    assert alice_web.get(f"/challenges/{phase.challenge.slug}/dashboard/").status_code == 404
    assert timezone.now() > NOW  # the travel ended
    assert Submission.objects.count() == 1
