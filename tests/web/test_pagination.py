"""Lists a crowd grows are paginated, and their query count does not grow with them."""

import datetime as dt
import re
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group
from django.core.paginator import Paginator
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evalserver.challenges.organizers import ORGANIZERS_GROUP
from evalserver.pagination import DeferredJoinPaginator
from leaderboard.models import FrozenLeaderboard
from submissions.models import Submission, SubmissionEvent
from tests.factories import SubmissionFactory, TeamFactory

pytestmark = pytest.mark.django_db

START = dt.datetime(2021, 3, 2, tzinfo=dt.UTC)


def _fill(phase, teams, n: int, *, offset: int = 0) -> list[Submission]:
    return [
        SubmissionFactory(
            phase=phase,
            team=teams[k % len(teams)],
            created_at=START + dt.timedelta(minutes=offset + k),
            status=Submission.Status.FINISHED,
            primary_score=0.5,
        )
        for k in range(n)
    ]


def _rows(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<td><a href="/submissions/(\d+)/">', html)]


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_the_organizers_submission_list_is_paginated(organizer_web, labelled_phase, alice_team):
    teams = [alice_team, *(TeamFactory(challenge=labelled_phase.challenge) for _ in range(4))]
    made = _fill(labelled_phase, teams, 120)
    newest_first = [s.pk for s in reversed(made)]
    url = reverse("submission-list", args=[labelled_phase.pk])

    first = organizer_web.get(url).content.decode()
    assert _rows(first) == newest_first[:50]
    assert "Page 1 of 3 (120 in all)" in first
    assert 'href="?page=2" rel="next"' in first
    last = organizer_web.get(url + "?page=3").content.decode()
    assert _rows(last) == newest_first[100:]
    assert 'rel="prev"' in last
    # Out of range or not a number: the nearest page, never an error.
    assert _rows(organizer_web.get(url + "?page=99").content.decode()) == newest_first[100:]
    assert _rows(organizer_web.get(url + "?page=x").content.decode()) == newest_first[:50]


def test_the_submission_list_costs_the_same_queries_at_any_size(
    organizer_web, alice_web, labelled_phase, alice_team
):
    teams = [alice_team, TeamFactory(challenge=labelled_phase.challenge)]
    url = reverse("submission-list", args=[labelled_phase.pk])
    _fill(labelled_phase, teams, 4)
    small = (_queries(organizer_web, url), _queries(alice_web, url))
    _fill(labelled_phase, teams, 110, offset=10)
    assert (_queries(organizer_web, url), _queries(alice_web, url)) == small


@pytest.fixture
def organizer_admin(organizer):
    organizer.is_staff = True
    organizer.save(update_fields=["is_staff"])
    organizer.groups.add(Group.objects.get(name=ORGANIZERS_GROUP))
    client = Client()
    client.force_login(organizer, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.mark.parametrize(
    "name",
    [
        "submissions_submission",
        "submissions_submissionevent",
        "teams_team",
        "challenges_phase",
        "leaderboard_frozenleaderboard",
    ],
)
def test_admin_lists_are_paginated_without_n_plus_1(
    organizer_admin, organizer, labelled_phase, alice_team, name
):
    url = reverse(f"admin:{name}_changelist")

    def grow(n: int, offset: int) -> None:
        teams = [TeamFactory(challenge=labelled_phase.challenge) for _ in range(n // 10 + 1)]
        for submission in _fill(labelled_phase, [alice_team, *teams], n, offset=offset):
            SubmissionEvent.objects.create(submission=submission, action="created")

    grow(3, 0)
    # A board frozen as it stood (the freeze service waits for the deadline).
    FrozenLeaderboard.objects.create(phase=labelled_phase, entries=[{"rank": 1}] * 1000)
    small = _queries(organizer_admin, url)
    grow(70, 100)
    assert _queries(organizer_admin, url) == small
    html = organizer_admin.get(url).content.decode()
    if name in ("submissions_submission", "submissions_submissionevent"):
        body = html.split('id="result_list"', 1)[1].split("<tbody>", 1)[1].split("</tbody>")[0]
        assert body.count("<tr") == 50
        # No second COUNT(*) of the whole table: the admin offers "Show all" instead.
        assert "Show all" in html or "?all=" in html or "show all" in html.lower()


@pytest.mark.parametrize(
    "ordering", [("-created_at", "-id"), ("primary_score", "-id"), ("team__name", "id")]
)
def test_the_deferred_join_pages_as_django_paginator(labelled_phase, alice_team, ordering):
    """DeferredJoinPaginator (ids by OFFSET, then their rows) gives Django's pages, ties
    and orphans included, in the same number of queries at every page."""
    teams = [alice_team, *(TeamFactory(challenge=labelled_phase.challenge) for _ in range(3))]
    made = _fill(labelled_phase, teams, 47)
    for k, submission in enumerate(made):
        submission.primary_score = (k * 7) % 5 / 4  # ties, broken by the id
        submission.save(update_fields=["primary_score"])
    rows = (
        Submission.objects.filter(phase=labelled_phase)
        .select_related("team", "phase")
        .order_by(*ordering)
    )
    for per_page, orphans in ((10, 0), (10, 3), (50, 0)):
        plain = Paginator(rows, per_page, orphans=orphans)
        deferred = DeferredJoinPaginator(rows, per_page, orphans=orphans)
        assert deferred.num_pages == plain.num_pages
        for number in plain.page_range:
            with CaptureQueriesContext(connection) as queries:
                got = [(s.pk, s.team.name) for s in deferred.page(number)]
            assert got == [(s.pk, s.team.name) for s in plain.page(number)]
            assert len(queries) == 1


def test_a_deep_admin_page_lists_its_rows_in_as_many_queries(
    organizer_admin, labelled_phase, alice_team
):
    made = _fill(labelled_phase, [alice_team], 120)
    newest_first = [s.pk for s in sorted(made, key=lambda s: s.pk, reverse=True)]
    url = reverse("admin:submissions_submission_changelist")
    first = _queries(organizer_admin, url)
    assert _queries(organizer_admin, url + "?p=2") == first
    html = organizer_admin.get(url + "?o=-1&p=2").content.decode()
    body = html.split('id="result_list"', 1)[1].split("<tbody>", 1)[1].split("</tbody>")[0]
    shown = [int(pk) for pk in re.findall(r"/admin/submissions/submission/(\d+)/change/", body)]
    assert shown == newest_first[50:100]


def test_the_admin_lists_checkboxes_are_djangos(labelled_phase, alice_team):
    from django.contrib import admin

    submission = _fill(labelled_phase, [alice_team], 1)[0]
    event = SubmissionEvent.objects.create(submission=submission, action="created")
    for obj in (submission, event):
        mine = admin.site._registry[type(obj)]
        assert mine.action_checkbox(obj) == admin.ModelAdmin.action_checkbox(mine, obj)
        assert str(obj.pk) in mine.action_checkbox(obj)


def test_the_admin_list_shows_flags_in_one_cell_and_filters_dates_without_queries(
    organizer_admin, labelled_phase, alice_team
):
    """Issue 12: the three flag icons became one cell, and the date hierarchy (MIN/MAX and
    the distinct months of every listed submission, on each page) Django's fixed ranges."""
    plain, flagged = _fill(labelled_phase, [alice_team], 2)
    flagged.is_hidden = flagged.is_baseline = True
    flagged.save(update_fields=["is_hidden", "is_baseline"])
    old = _fill(labelled_phase, [alice_team], 1)[0]
    Submission.objects.filter(pk=old.pk).update(created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    url = reverse("admin:submissions_submission_changelist")
    with CaptureQueriesContext(connection) as queries:
        html = organizer_admin.get(url).content.decode()
    assert not any("DATE_TRUNC" in q["sql"] or "MIN(" in q["sql"] for q in queries)
    rows = {
        int(pk): row
        for pk, row in re.findall(r"/admin/submissions/submission/(\d+)/change/(.*?)</tr>", html)
    }
    assert 'class="field-flags">hidden, baseline<' in rows[flagged.pk]
    assert 'class="field-flags">—<' in rows[plain.pk]
    assert "By created at" in html
    # A range as the filter's links write one: the day of START keeps the two, not the old.
    day = START.replace(hour=0, minute=0, second=0, microsecond=0)
    query = "?" + urlencode(
        {"created_at__gte": str(day), "created_at__lt": str(day + dt.timedelta(days=1))}
    )
    page = organizer_admin.get(url + query).content.decode()
    shown = {int(pk) for pk in re.findall(r"/admin/submissions/submission/(\d+)/change/", page)}
    assert {plain.pk, flagged.pk} <= shown
    assert old.pk not in shown
