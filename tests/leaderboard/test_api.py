"""GET /api/v1/phases/{id}/leaderboard/ (CONTRACT section 3): shape, visibility, frozen."""

import datetime as dt

import pytest
import time_machine

from evalserver.challenges.models import Phase
from leaderboard.services import leaderboard_freeze
from tests.factories import TeamFactory, UserFactory
from tests.leaderboard.conftest import END, at, scored

pytestmark = pytest.mark.django_db


def url(phase) -> str:
    return f"/api/v1/phases/{phase.pk}/leaderboard/"


@pytest.fixture
def private_phase(phase):
    phase.leaderboard_visibility = Phase.Visibility.PRIVATE
    phase.save(update_fields=["leaderboard_visibility"])
    return phase


@pytest.fixture
def board(phase, alice_team, charlie_team, organizer_team):
    """Charlie's first, Alpha second, an organizers' baseline in between."""
    return {
        "charlie": scored(phase, charlie_team, 0.6, at=at(2), method_name="TinyNet"),
        "baseline": scored(phase, organizer_team, 0.5, at=at(0), is_baseline=True),
        "alice": scored(phase, alice_team, 0.4, at=at(1)),
    }


def test_entries_carry_the_contract_keys_best_first(alice_api, phase, board):
    response = alice_api.get(url(phase))

    assert response.status_code == 200
    body = response.json()
    assert body["frozen_at"] is None
    assert body["ranking_hidden"] is False
    assert body["primary_metric"] == "macro_f1"
    assert body["class_names"][0] == "Opening"
    assert len(body["class_names"]) == 26
    first, baseline, second = body["entries"]
    assert {"rank", "team", "submission_id", "scores", "submitted_at"} <= first.keys()
    assert (first["rank"], first["team"], first["submission_id"]) == (
        1,
        "Charlie's",
        board["charlie"].pk,
    )
    assert first["scores"] == board["charlie"].scores
    assert first["method_name"] == "TinyNet"
    assert first["submission_count"] == 1
    assert dt.datetime.fromisoformat(first["submitted_at"]) == at(2)
    assert (baseline["rank"], baseline["is_baseline"]) == (None, True)
    assert (second["rank"], second["team"], second["is_baseline"]) == (2, "Alpha", False)


def test_anonymous_users_read_public_leaderboards(api, phase, board):
    response = api.get(url(phase))

    assert response.status_code == 200
    assert [e["rank"] for e in response.json()["entries"]] == [1, None, 2]


def test_unknown_phase_is_404(alice_api, phase):
    response = alice_api.get(f"/api/v1/phases/{phase.pk + 1000}/leaderboard/")

    assert response.status_code == 404
    assert response.json()["detail"]


def test_a_bad_token_is_401_even_on_a_public_board(api, phase, board):
    api.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    response = api.get(url(phase))

    assert response.status_code == 401
    assert response.json()["detail"]


def test_unpublished_challenges_are_404_except_to_organizers(
    alice_api, organizer_api, phase, board
):
    phase.challenge.is_published = False
    phase.challenge.save(update_fields=["is_published"])

    assert alice_api.get(url(phase)).status_code == 404
    assert organizer_api.get(url(phase)).status_code == 200


def test_private_phase_shows_organizers_the_full_board(organizer_api, private_phase, board):
    body = organizer_api.get(url(private_phase)).json()

    assert body["ranking_hidden"] is False
    assert [e["rank"] for e in body["entries"]] == [1, None, 2]


def test_private_phase_shows_a_team_only_its_own_scores_without_rank(bob_api, private_phase, board):
    response = bob_api.get(url(private_phase))

    assert response.status_code == 200
    body = response.json()
    assert body["ranking_hidden"] is True
    assert "private" in body["detail"]
    assert [(e["team"], e["rank"], e["submission_id"]) for e in body["entries"]] == [
        ("Alpha", None, board["alice"].pk)
    ]
    assert body["entries"][0]["scores"]["macro_f1"] == 0.4


def test_private_phase_shows_outsiders_and_anonymous_nothing(api, private_phase, board):
    outsider = UserFactory(username="dave")
    api.force_authenticate(user=outsider)
    body = api.get(url(private_phase)).json()
    assert (body["ranking_hidden"], body["entries"]) == (True, [])

    api.force_authenticate(user=None)
    body = api.get(url(private_phase)).json()
    assert (body["ranking_hidden"], body["entries"]) == (True, [])


def test_revealed_private_phase_shows_everyone_the_board(api, bob_api, private_phase, board):
    private_phase.leaderboard_revealed_at = at(50)
    private_phase.save(update_fields=["leaderboard_revealed_at"])

    for client in (api, bob_api):
        body = client.get(url(private_phase)).json()
        assert body["ranking_hidden"] is False
        assert [e["rank"] for e in body["entries"]] == [1, None, 2]


def test_frozen_phase_serves_the_frozen_entries(alice_api, organizer, phase, board, alice_team):
    with time_machine.travel(END + dt.timedelta(hours=1), tick=False):
        frozen = leaderboard_freeze(phase=phase, actor=organizer)
    # Changes after the freeze do not move the final board.
    board["charlie"].is_disqualified = True
    board["charlie"].save(update_fields=["is_disqualified"])
    scored(phase, alice_team, 0.99, at=at(3))

    body = alice_api.get(url(phase)).json()

    assert dt.datetime.fromisoformat(body["frozen_at"]) == frozen.frozen_at
    assert [(e["rank"], e["submission_id"]) for e in body["entries"]] == [
        (1, board["charlie"].pk),
        (None, board["baseline"].pk),
        (2, board["alice"].pk),
    ]


def test_frozen_private_phase_still_hides_the_ranking(bob_api, organizer, private_phase, board):
    with time_machine.travel(END + dt.timedelta(hours=1), tick=False):
        leaderboard_freeze(phase=private_phase, actor=organizer)

    body = bob_api.get(url(private_phase)).json()

    assert body["ranking_hidden"] is True
    assert body["frozen_at"] is not None
    assert [(e["team"], e["rank"]) for e in body["entries"]] == [("Alpha", None)]


def _many_teams(phase, n: int) -> None:
    for i in range(n):
        team = TeamFactory(challenge=phase.challenge)
        scored(phase, team, i / (n + 1), at=at(1))
        scored(phase, team, i / (n + 2), at=at(2))


# Per request: each throttle's database-cache read (1) and write (5, with its savepoint) --
# the user throttle for a signed-in caller, both throttles for an anonymous one -- then the
# phase with its challenge, frozen board and leaderboard version. The ranking query runs only
# when the board is not cached yet. A public board asks nothing about the viewer.
THROTTLE_QUERIES_SIGNED_IN = 6
THROTTLE_QUERIES_ANONYMOUS = 2 * 6
PHASE_QUERIES = 1
RANKING_QUERIES = 1
# A private board: the organizer check and the viewer's team.
VIEWER_QUERIES = 2


@pytest.mark.parametrize("n_teams", [3, 30])
def test_api_query_count_does_not_grow_with_teams(
    alice_api, api, phase, alice_team, n_teams, django_assert_num_queries
):
    _many_teams(phase, n_teams)

    with django_assert_num_queries(THROTTLE_QUERIES_SIGNED_IN + PHASE_QUERIES + RANKING_QUERIES):
        response = alice_api.get(url(phase))
    assert len(response.json()["entries"]) == n_teams

    with django_assert_num_queries(THROTTLE_QUERIES_SIGNED_IN + PHASE_QUERIES):
        response = alice_api.get(url(phase))
    assert len(response.json()["entries"]) == n_teams

    with django_assert_num_queries(THROTTLE_QUERIES_ANONYMOUS + PHASE_QUERIES):
        response = api.get(url(phase))
    assert len(response.json()["entries"]) == n_teams


@pytest.mark.parametrize("n_teams", [3, 30])
def test_after_a_finished_submission_the_api_reads_only_its_team(
    api, phase, alice_team, n_teams, django_assert_num_queries
):
    _many_teams(phase, n_teams)
    api.get(url(phase))
    # What the worker's finish does: the submission finished, its team named as the change.
    mine = scored(phase, alice_team, 0.99, at=at(3))

    expected = THROTTLE_QUERIES_ANONYMOUS + PHASE_QUERIES + RANKING_QUERIES
    with django_assert_num_queries(expected) as captured:
        response = api.get(url(phase))
    entries = response.json()["entries"]
    assert (entries[0]["submission_id"], entries[0]["rank"]) == (mine.pk, 1)
    assert [e["rank"] for e in entries] == list(range(1, n_teams + 2))
    # That one ranking query is the team's, not the whole phase's.
    ranking = [q["sql"] for q in captured.captured_queries if "team_position" in q["sql"]]
    assert len(ranking) == 1
    assert "s.team_id IN" in ranking[0]


@pytest.mark.parametrize("n_teams", [3, 30])
def test_private_board_query_count_does_not_grow_with_teams(
    bob_api, private_phase, alice_team, n_teams, django_assert_num_queries
):
    _many_teams(private_phase, n_teams)
    scored(private_phase, alice_team, 0.5, at=at(1))
    cold = THROTTLE_QUERIES_SIGNED_IN + PHASE_QUERIES + VIEWER_QUERIES + RANKING_QUERIES

    with django_assert_num_queries(cold):
        response = bob_api.get(url(private_phase))
    assert [e["team"] for e in response.json()["entries"]] == ["Alpha"]

    with django_assert_num_queries(cold - RANKING_QUERIES):
        response = bob_api.get(url(private_phase))
    assert [e["team"] for e in response.json()["entries"]] == ["Alpha"]


def test_frozen_board_is_read_only_when_not_cached(
    api, organizer, phase, board, django_assert_num_queries
):
    with time_machine.travel(END + dt.timedelta(hours=1), tick=False):
        leaderboard_freeze(phase=phase, actor=organizer)
    # The frozen entries are loaded apart from the phase, and only to build the board.
    with django_assert_num_queries(THROTTLE_QUERIES_ANONYMOUS + PHASE_QUERIES + 1):
        first = api.get(url(phase))
    with django_assert_num_queries(THROTTLE_QUERIES_ANONYMOUS + PHASE_QUERIES):
        second = api.get(url(phase))
    assert first.content == second.content
    assert [e["submission_id"] for e in second.json()["entries"]] == [
        board["charlie"].pk,
        board["baseline"].pk,
        board["alice"].pk,
    ]
