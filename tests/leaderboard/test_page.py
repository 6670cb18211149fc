"""The leaderboard page, its score-over-time chart and the per_class_chart tag."""

import re

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse

from evalserver.challenges.models import Phase
from tests.factories import TeamFactory
from tests.leaderboard.conftest import at, recognition_scores, scored

pytestmark = pytest.mark.django_db


def page_url(phase) -> str:
    return reverse("phase-leaderboard", kwargs={"phase_id": phase.pk})


@pytest.fixture
def board(phase, alice_team, charlie_team, organizer_team):
    return {
        "charlie_first": scored(phase, charlie_team, 0.35, at=at(1)),
        "charlie": scored(phase, charlie_team, 0.6, at=at(3), method_name="TinyNet"),
        "baseline": scored(phase, organizer_team, 0.5, at=at(0), is_baseline=True),
        "alice": scored(phase, alice_team, 0.4, at=at(2)),
    }


def _body_rows(html: str) -> list[str]:
    tbody = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr[^>]*>.*?</tr>", tbody, flags=re.S)


def test_page_shows_the_ranked_table_with_class_headers(client, phase, board, alice):
    client.force_login(alice)

    response = client.get(page_url(phase))

    assert response.status_code == 200
    html = response.content.decode()
    rows = _body_rows(html)
    assert len(rows) == 3
    assert "Charlie&#x27;s" in rows[0]
    assert ">1</td>" in rows[0]
    assert "TinyNet" in rows[0]
    assert 'class="baseline"' in rows[1]
    assert "Baseline" in rows[1]
    assert 'class=" own-team"' in rows[2]
    assert "your team" in rows[2]
    assert ">2</td>" in rows[2]
    # The header names the metrics and every class.
    for label in ("Macro F1", "Macro precision", "Macro recall", "Micro F1", "Submissions"):
        assert label in html
    for name in phase.challenge.class_names:
        assert f">{name} <span" in html
    # Sorting: keyboard-usable buttons in the header, and our own vendored script.
    assert (
        html.count('<button type="button" class="sort-button"') == 3 + 4 + 26 + 2
    )  # rank, team, method; 4 metrics; classes; count, date
    assert "leaderboard/sortable-table.js" in html
    assert "http://" not in html.split("</main>")[0].split("<main")[1].replace(
        "http://www.w3.org/2000/svg", ""
    )


def test_page_draws_the_top_teams_best_score_over_time(client, phase, board):
    html = client.get(page_url(phase)).content.decode()

    chart = html.split('class="leaderboard-chart"', 1)[1].split("</svg>", 1)[0]
    assert chart.count("<polyline") == 2  # two ranked teams; the baseline is no team's line
    # Charlie's line steps up twice (0.35 then 0.6); Alpha's once.
    assert chart.count("<circle") == 3
    assert "Charlie&#x27;s: 0.6000" in chart


def test_names_are_escaped_in_table_and_chart(client, phase, challenge):
    team = TeamFactory(challenge=challenge, name="<script>alert(1)</script>")
    scored(phase, team, 0.5, at=at(1), method_name="<img src=x onerror=alert(1)>")

    html = client.get(page_url(phase)).content.decode()

    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # row, line, legend


def test_private_page_shows_a_team_only_its_own_row(client, phase, board, bob):
    phase.leaderboard_visibility = Phase.Visibility.PRIVATE
    phase.save(update_fields=["leaderboard_visibility"])
    client.force_login(bob)

    html = client.get(page_url(phase)).content.decode()

    rows = _body_rows(html)
    assert len(rows) == 1
    assert "Alpha" in rows[0]
    assert "Charlie" not in html
    assert "leaderboard-chart" not in html
    assert "private until the organizers reveal it" in html


def test_private_page_for_anonymous_visitors(client, phase, board):
    phase.leaderboard_visibility = Phase.Visibility.PRIVATE
    phase.save(update_fields=["leaderboard_visibility"])

    html = client.get(page_url(phase)).content.decode()

    assert "<tbody>" not in html
    assert "Sign in to see your team" in html
    assert "Charlie" not in html


def test_private_page_shows_organizers_everything_with_a_notice(client, phase, board, organizer):
    phase.leaderboard_visibility = Phase.Visibility.PRIVATE
    phase.save(update_fields=["leaderboard_visibility"])
    client.force_login(organizer)

    html = client.get(page_url(phase)).content.decode()

    assert len(_body_rows(html)) == 3
    assert "only organizers see this ranking" in html


def test_empty_and_unknown_phases(client, phase):
    assert "No finished submissions yet." in client.get(page_url(phase)).content.decode()
    missing = reverse("phase-leaderboard", kwargs={"phase_id": phase.pk + 1000})
    assert client.get(missing).status_code == 404


def test_unpublished_challenge_page_is_404(client, phase, board):
    phase.challenge.is_published = False
    phase.challenge.save(update_fields=["is_published"])

    assert client.get(page_url(phase)).status_code == 404


def test_detection_page_columns(client, challenge, alice_team):
    from tests.factories import PhaseFactory
    from tests.leaderboard.conftest import END, START, detection_scores

    phase = PhaseFactory(
        challenge=challenge, track=Phase.Track.DETECTION, starts_at=START, ends_at=END
    )
    scored(phase, alice_team, 0.3, at=at(1), scores=detection_scores(0.3, 0.25, [0.1] * 26))

    html = client.get(page_url(phase)).content.decode()

    assert "Video-mAP" in html
    assert "Frame-mAP" in html
    assert '>Opening <span class="per-class-metric">video AP</span>' in html
    assert "Macro F1" not in html
    assert ">0.2500<" in html


# Session and user (2), the phase with its challenge and frozen board, the organizer check,
# the viewer's team, the ranking, and the chart's score history.
PAGE_QUERIES = 7


@pytest.mark.parametrize("n_teams", [3, 30])
def test_page_query_count_does_not_grow_with_teams(
    client, phase, alice, n_teams, django_assert_num_queries
):
    for i in range(n_teams):
        team = TeamFactory(challenge=phase.challenge)
        scored(phase, team, i / (n_teams + 1), at=at(1))
        scored(phase, team, i / n_teams, at=at(2))
    client.force_login(alice)

    with django_assert_num_queries(PAGE_QUERIES):
        response = client.get(page_url(phase))

    assert len(_body_rows(response.content.decode())) == n_teams


def _render_tag(submission, user) -> str:
    request = RequestFactory().get("/")
    request.user = user
    template = Template("{% load leaderboard_tags %}{% per_class_chart submission %}")
    return template.render(Context({"submission": submission, "request": request}))


def test_per_class_chart_against_the_leader(phase, alice_team, charlie_team, alice):
    per_class = [0.0] * 26
    per_class[4] = 0.875
    mine = scored(
        phase, alice_team, 0.3, at=at(1), scores=recognition_scores(0.3, per_class_f1=per_class)
    )
    scored(phase, charlie_team, 0.7, at=at(1))

    html = _render_tag(mine, alice)

    assert html.startswith('<figure class="per-class-chart">')
    assert "against the leader" in html
    assert "Leader: Charlie&#x27;s" in html
    assert f"Submission {mine.pk}: Entering 0.8750" in html
    assert "Leader: Charlie&#x27;s: Entering 0.7000" in html
    assert html.count("<rect") == 2 + 2 * 26  # two legend keys, two bars per class


def test_per_class_chart_of_the_leader_compares_with_the_runner_up(
    phase, alice_team, charlie_team, alice
):
    mine = scored(phase, alice_team, 0.8, at=at(1))
    alone = _render_tag(mine, alice)
    # Alone on the board: its own bars only, never against itself.
    assert "which leads; no other team is ranked yet" in alone
    assert alone.count("<rect") == 1 + 26

    scored(phase, charlie_team, 0.7, at=at(1))
    html = _render_tag(mine, alice)
    assert "Runner-up: Charlie&#x27;s" in html
    assert "against the runner-up" in html
    assert html.count("<rect") == 2 + 2 * 26


def test_per_class_chart_hides_the_leader_of_a_private_phase(
    phase, alice_team, charlie_team, alice, organizer
):
    phase.leaderboard_visibility = Phase.Visibility.PRIVATE
    phase.save(update_fields=["leaderboard_visibility"])
    mine = scored(phase, alice_team, 0.3, at=at(1))
    scored(phase, charlie_team, 0.7, at=at(1))

    html = _render_tag(mine, alice)
    assert "Charlie" not in html
    assert "once the leaderboard is revealed" in html
    assert html.count("<rect") == 1 + 26

    assert "Leader: Charlie&#x27;s" in _render_tag(mine, organizer)


def test_per_class_chart_follows_the_leader(
    phase, alice_team, charlie_team, alice, organizer, django_assert_num_queries
):
    from submissions.models import Submission
    from submissions.services import submission_set_flags

    mine = scored(phase, alice_team, 0.3, at=at(1))
    leader = scored(phase, charlie_team, 0.7, at=at(1))

    def render() -> str:
        # As the submission page loads it, fresh for each request.
        fresh = Submission.objects.select_related("phase__challenge").get(pk=mine.pk)
        return _render_tag(fresh, alice)

    assert "Leader: Charlie&#x27;s" in render()
    # Once cached: the phase's leaderboard version and frozen board, no ranking.
    fresh = Submission.objects.select_related("phase__challenge").get(pk=mine.pk)
    with django_assert_num_queries(2):
        _render_tag(fresh, alice)

    submission_set_flags(submission=leader, actor=organizer, disqualified=True)
    assert "which leads; no other team is ranked yet" in render()


def test_per_class_chart_is_empty_until_scored(phase, alice_team, alice):
    from submissions.models import Submission

    queued = scored(phase, alice_team, None, at=at(1), status=Submission.Status.QUEUED)

    assert _render_tag(queued, alice) == ""


def test_per_class_chart_marks_classes_without_a_value(challenge, alice_team, alice):
    from tests.factories import PhaseFactory
    from tests.leaderboard.conftest import END, START, detection_scores

    phase = PhaseFactory(
        challenge=challenge, track=Phase.Track.DETECTION, starts_at=START, ends_at=END
    )
    mine = scored(
        phase, alice_team, 0.3, at=at(1), scores=detection_scores(0.3, 0.2, [0.3] * 25 + [None])
    )

    html = _render_tag(mine, alice)

    assert "no video AP for Misc" in html
    assert "Per-class video AP" in html
