"""The organizers' dashboard: queue figures per phase and whether workers answer."""

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from tests.factories import PhaseFactory, SubmissionFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2021, 5, 1, 12, 0, tzinfo=dt.UTC)


def _dashboard(client, challenge):
    return client.get(reverse("challenge-dashboard", args=[challenge.slug]))


def _stat(html: str, name: str) -> str:
    start = html.index(f'data-stat="{name}">') + len(f'data-stat="{name}">')
    return html[start : html.index("</div>", start)]


def test_participants_and_visitors_get_404(alice_web, client, challenge):
    assert _dashboard(alice_web, challenge).status_code == 404
    assert _dashboard(client, challenge).status_code == 302  # to the login page


@time_machine.travel(NOW, tick=False)
def test_counts_failed_last_hour_and_oldest_queued_age(organizer_web, challenge, alice_team):
    phase = PhaseFactory(
        challenge=challenge,
        starts_at=NOW - dt.timedelta(days=5),
        ends_at=NOW + dt.timedelta(days=5),
    )

    def make(status, **fields):
        return SubmissionFactory(phase=phase, team=alice_team, status=status, **fields)

    make("queued", created_at=NOW - dt.timedelta(minutes=42))
    make("queued", created_at=NOW - dt.timedelta(minutes=3))
    make("running", created_at=NOW - dt.timedelta(minutes=2), started_at=NOW)
    make("failed", finished_at=NOW - dt.timedelta(minutes=10))
    make("failed", finished_at=NOW - dt.timedelta(minutes=70))
    make("finished", finished_at=NOW - dt.timedelta(minutes=1))
    # Another challenge's queue is not this dashboard's business.
    SubmissionFactory(status="queued", created_at=NOW - dt.timedelta(days=1))

    html = _dashboard(organizer_web, challenge).content.decode()
    assert _stat(html, "queued") == "2"
    assert _stat(html, "running") == "1"
    assert _stat(html, "failed-last-hour") == "1"
    assert _stat(html, "oldest-queued") == "42\xa0minutes"
    assert "Stuck queue" not in html  # a worker claimed something after the oldest arrived
    assert "status__exact=queued" in html
    assert f"phase__id__exact={phase.pk}" in html


@time_machine.travel(NOW, tick=False)
def test_a_queue_nobody_serves_is_called_stuck(organizer_web, challenge, alice_team):
    phase = PhaseFactory(challenge=challenge)
    SubmissionFactory(
        phase=phase,
        team=alice_team,
        status="finished",
        started_at=NOW - dt.timedelta(hours=3),
        finished_at=NOW - dt.timedelta(hours=3),
    )
    SubmissionFactory(
        phase=phase, team=alice_team, status="queued", created_at=NOW - dt.timedelta(minutes=20)
    )
    html = _dashboard(organizer_web, challenge).content.decode()
    assert "Stuck queue" in html
    assert "no worker has answered recently" in html
    assert "3\xa0hours ago" in html


@time_machine.travel(NOW, tick=False)
def test_a_fresh_queue_is_not_alarming(organizer_web, challenge, alice_team):
    phase = PhaseFactory(challenge=challenge)
    SubmissionFactory(
        phase=phase, team=alice_team, status="queued", created_at=NOW - dt.timedelta(minutes=1)
    )
    html = _dashboard(organizer_web, challenge).content.decode()
    assert "Stuck queue" not in html


@time_machine.travel(NOW, tick=False)
def test_a_submission_running_past_the_time_limit_is_flagged(
    organizer_web, challenge, alice_team, settings
):
    phase = PhaseFactory(challenge=challenge)
    SubmissionFactory(
        phase=phase,
        team=alice_team,
        status="running",
        started_at=NOW - dt.timedelta(seconds=settings.EVALSERVER_SCORING_TIME_LIMIT + 60),
    )
    html = _dashboard(organizer_web, challenge).content.decode()
    assert "running longer than the scoring time limit" in html


def test_a_staff_member_sees_only_the_dashboards_of_challenges_they_organize(challenge):
    staff = UserFactory(username="sam", is_staff=True)
    client = Client()
    client.force_login(staff, backend="django.contrib.auth.backends.ModelBackend")
    assert _dashboard(client, challenge).status_code == 404
    challenge.organizers.add(staff)
    assert _dashboard(client, challenge).status_code == 200


def test_a_superuser_sees_every_dashboard(challenge):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(root, backend="django.contrib.auth.backends.ModelBackend")
    assert _dashboard(client, challenge).status_code == 200


def test_the_dashboard_query_count_does_not_grow_with_submissions(
    organizer_web, challenge, alice_team, django_assert_max_num_queries
):
    for i in range(3):
        phase = PhaseFactory(challenge=challenge, slug=f"p{i}")
        for status in ("queued", "running", "failed", "finished"):
            SubmissionFactory(phase=phase, team=alice_team, status=status)
    # 7, plus the queue charts' two (uploads, and results of the last 48 hours).
    with django_assert_max_num_queries(9):
        _dashboard(organizer_web, challenge)
