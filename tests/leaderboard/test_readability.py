"""The board and the result page read well (issue 14 item 5)."""

import datetime as dt

import pytest
from django.urls import reverse

from leaderboard.charts import best_score_over_time_svg
from leaderboard.selectors import ScoreHistory
from submissions.services import submission_set_flags
from tests.clients import logged_in
from tests.leaderboard.conftest import at, scored

pytestmark = pytest.mark.django_db


def _board(client, phase) -> str:
    return client.get(reverse("phase-leaderboard", args=[phase.pk])).content.decode()


def test_a_board_whose_only_submissions_are_withheld_says_so(client, phase, alice_team, organizer):
    assert "No finished submissions yet." in _board(client, phase)
    mine = scored(phase, alice_team, 0.5, at=at(1))
    submission_set_flags(submission=mine, actor=organizer, hidden=True)
    html = _board(client, phase)
    assert "No finished submissions yet." not in html
    assert "the 1 finished submission of this phase is hidden or disqualified" in html


def test_rank_team_and_primary_columns_stay_while_per_class_scrolls(client, phase, alice_team):
    scored(phase, alice_team, 0.5, at=at(1))
    html = _board(client, phase)
    assert 'class="sticky-rank"' in html
    assert 'class="sticky-team"' in html
    assert "sticky-primary" in html


def test_the_submission_page_shows_rank_and_gap_to_the_leader(
    phase, alice_team, charlie_team, alice, charlie
):
    mine = scored(phase, alice_team, 0.5, at=at(1))
    theirs = scored(phase, charlie_team, 0.625, at=at(2))
    html = logged_in(alice).get(reverse("submission-detail", args=[mine.pk])).content.decode()
    assert "ranked <strong>2</strong> of 2" in html
    assert '<span class="mono">0.1250</span> behind the leader, Charlie&#x27;s' in html
    lead = logged_in(charlie).get(reverse("submission-detail", args=[theirs.pk])).content.decode()
    assert "ranked <strong>1</strong> of 2" in lead
    assert '<span class="mono">0.1250</span> ahead of Alpha' in lead


def test_the_over_time_chart_starts_at_the_first_submission():
    start = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    first = dt.datetime(2021, 6, 1, tzinfo=dt.UTC)
    history = ScoreHistory(team_id=1, team="A", points=[(first, 0.5)])
    svg = best_score_over_time_svg(
        histories=[history], start=start, end=first + dt.timedelta(days=10), metric_label="F1"
    )
    assert "2021-06-01" in svg
    assert "2021-01-01" not in svg


def test_the_footer_links_the_api_docs(client, db):
    html = client.get("/").content.decode()
    assert '<a href="/api/docs/" data-api-docs>API documentation</a>' in html
    assert client.get("/api/docs/").status_code == 200
