"""The API's cached leaderboard (leaderboard.encoded): the same answer as the decoded board,
and never a stale one after anything that changes the board.

Each staleness test reads the board once (which caches it), makes the change the way the
server makes it, and reads again.
"""

import datetime as dt
import gzip
import json

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.db.models import F

from evalserver.challenges.models import Phase
from evalserver.challenges.services import phase_set_labels
from leaderboard import encoded
from leaderboard.models import LeaderboardVersion
from leaderboard.selectors import leaderboard_for_viewer, phase_for_leaderboard
from leaderboard.services import (
    leaderboard_freeze,
    leaderboard_reveal,
    leaderboard_unfreeze,
)
from submissions.models import Submission
from submissions.services import (
    submission_cancel,
    submission_rerun,
    submission_score,
    submission_set_flags,
)
from tests.factories import SubmissionFactory, TeamFactory, UserFactory
from tests.leaderboard.conftest import END, at, detection_scores, recognition_scores, scored
from tests.recognition_data import answer_bytes, labels_json, random_matrix

pytestmark = pytest.mark.django_db


def url(phase) -> str:
    return f"/api/v1/phases/{phase.pk}/leaderboard/"


def board_of(client, phase) -> list[tuple]:
    response = client.get(url(phase))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return [(e["rank"], e["team"], e["submission_id"]) for e in response.json()["entries"]]


def decoded_body(phase, user) -> dict:
    """The answer as the view built it before the cache: from decoded entries."""
    phase = phase_for_leaderboard(phase_id=phase.pk, user=user)
    board = leaderboard_for_viewer(phase=phase, user=user)
    body = {
        "phase": phase.pk,
        "primary_metric": phase.primary_metric,
        "class_names": board.class_names,
        "frozen_at": board.frozen_at.isoformat() if board.frozen_at else None,
        "ranking_hidden": board.ranking_hidden,
        "split": "public" if phase.labels_split else None,
        "entries": [entry.as_json() for entry in board.entries],
    }
    if board.detail:
        body["detail"] = board.detail
    return body


@pytest.fixture
def board(phase, alice_team, charlie_team, organizer_team):
    """Charlie's first (his better of two), Alpha second, an organizers' baseline between."""
    return {
        "charlie_early": scored(phase, charlie_team, 0.3, at=at(1)),
        "charlie": scored(phase, charlie_team, 0.6, at=at(2), method_name='Tiny "Net"'),
        "baseline": scored(phase, organizer_team, 0.5, at=at(0), is_baseline=True),
        "alice": scored(phase, alice_team, 0.4, at=at(3)),
    }


def _viewer(name, *, alice, organizer):
    if name == "outsider":
        return UserFactory(username="outsider")
    return {"anonymous": AnonymousUser(), "alice": alice, "organizer": organizer}[name]


@pytest.mark.parametrize("viewer", ["anonymous", "alice", "organizer", "outsider"])
@pytest.mark.parametrize("visibility", ["public", "private"])
@pytest.mark.parametrize("frozen", [False, True])
def test_the_answer_equals_the_decoded_board(
    api, phase, board, alice, organizer, viewer, visibility, frozen
):
    # Multi-byte names before a viewer's own entries: their places are byte offsets.
    board["alice"].team.name = "Ålpha \u2028 </script> \\ 'quoted'"
    board["alice"].team.save(update_fields=["name"])
    board["charlie"].team.name = "Чарли 🚀"
    board["charlie"].team.save(update_fields=["name"])
    # Two entries of Alpha: its ranked best and a baseline.
    scored(phase, board["alice"].team, 0.45, at=at(4), is_baseline=True)
    phase.leaderboard_visibility = visibility
    phase.save(update_fields=["leaderboard_visibility"])
    if frozen:
        with time_machine.travel(END + dt.timedelta(hours=1), tick=False):
            leaderboard_freeze(phase=phase, actor=organizer)
    user = _viewer(viewer, alice=alice, organizer=organizer)
    if user.is_authenticated:
        api.force_authenticate(user=user)

    for _ in ("cold", "warm"):
        response = api.get(url(phase))
        assert response.status_code == 200
        assert response.json() == decoded_body(phase, user)


def test_the_answer_equals_the_decoded_board_for_detection(api, phase, alice_team):
    phase.track = Phase.Track.DETECTION
    phase.save(update_fields=["track"])
    scores = detection_scores(0.25, 0.5, [None, 0.1e-7, *[0.5] * 24])
    scored(phase, alice_team, 0.25, at=at(1), scores=scores)

    body = api.get(url(phase)).json()

    assert body == decoded_body(phase, AnonymousUser())
    assert body["primary_metric"] == "video_map"
    assert body["entries"][0]["scores"] == scores


def test_a_finished_submission_shows_up(api, phase, board, alice_team):
    truth = random_matrix(50, seed=3)
    phase_set_labels(phase=phase, data=labels_json(truth), filename="labels.json")
    queued = SubmissionFactory(
        phase=phase,
        team=alice_team,
        submitted_by=None,
        created_at=at(4),
        file__data=answer_bytes(truth),  # a perfect answer: macro F1 1.0
    )
    assert board_of(api, phase)[0][2] == board["charlie"].pk

    assert submission_score(submission_id=queued.pk) == "finished"

    assert board_of(api, phase) == [
        (1, "Alpha", queued.pk),
        (2, "Charlie's", board["charlie"].pk),
        (None, "Organizers", board["baseline"].pk),
    ]


def test_a_rerun_takes_the_submission_off_until_scored_again(api, phase, board, organizer):
    board_of(api, phase)

    submission_rerun(submission=board["charlie"], actor=organizer)

    # Charlie's earlier 0.3 is now his best.
    assert board_of(api, phase) == [
        (None, "Organizers", board["baseline"].pk),
        (1, "Alpha", board["alice"].pk),
        (2, "Charlie's", board["charlie_early"].pk),
    ]


@pytest.mark.parametrize("flag", ["hidden", "disqualified"])
def test_hiding_or_disqualifying_and_undoing_it(api, phase, board, organizer, flag):
    before = board_of(api, phase)

    submission_set_flags(submission=board["alice"], actor=organizer, **{flag: True})
    assert board_of(api, phase) == [
        (1, "Charlie's", board["charlie"].pk),
        (None, "Organizers", board["baseline"].pk),
    ]

    submission_set_flags(submission=board["alice"], actor=organizer, **{flag: False})
    assert board_of(api, phase) == before


def test_marking_and_unmarking_a_baseline(api, phase, board, organizer):
    before = board_of(api, phase)

    submission_set_flags(submission=board["charlie"], actor=organizer, baseline=True)
    assert board_of(api, phase) == [
        (None, "Charlie's", board["charlie"].pk),
        (None, "Organizers", board["baseline"].pk),
        (1, "Alpha", board["alice"].pk),
        (2, "Charlie's", board["charlie_early"].pk),
    ]

    submission_set_flags(submission=board["charlie"], actor=organizer, baseline=False)
    assert board_of(api, phase) == before


def test_cancelling_a_queued_submission(api, phase, board, organizer, alice_team):
    queued = scored(phase, alice_team, None, at=at(5), status=Submission.Status.QUEUED)
    before = board_of(api, phase)

    submission_cancel(submission=queued, actor=organizer)

    assert board_of(api, phase) == before
    assert queued.pk not in {submission_id for _, _, submission_id in before}


def test_moving_the_phase_dates(api, phase, board):
    board_of(api, phase)

    # Through the admin's form (a full save), then a plain UPDATE: both are seen.
    phase.ends_at = at(2.5)
    phase.save()
    assert board_of(api, phase) == [
        (1, "Charlie's", board["charlie"].pk),
        (None, "Organizers", board["baseline"].pk),
    ]

    Phase.objects.filter(pk=phase.pk).update(starts_at=at(1.5), ends_at=END)
    assert board_of(api, phase) == [
        (1, "Charlie's", board["charlie"].pk),
        (None, "Organizers", board["baseline"].pk),
        (2, "Alpha", board["alice"].pk),
    ]


def test_a_full_save_of_an_old_phase_object_does_not_revive_an_old_board(
    api, phase, board, organizer
):
    stale_phase = Phase.objects.get(pk=phase.pk)  # e.g. the admin's form, opened earlier
    board_of(api, phase)
    submission_set_flags(submission=board["charlie"], actor=organizer, hidden=True)
    board_of(api, phase)

    stale_phase.name = "Renamed"
    stale_phase.save()

    assert board["charlie"].pk not in {s for _, _, s in board_of(api, phase)}


def test_private_phase_visibility_and_reveal(api, alice_api, phase, board, organizer):
    assert len(board_of(api, phase)) == 3

    phase.leaderboard_visibility = Phase.Visibility.PRIVATE
    phase.save(update_fields=["leaderboard_visibility"])
    assert board_of(api, phase) == []
    assert board_of(alice_api, phase) == [(None, "Alpha", board["alice"].pk)]

    leaderboard_reveal(phase=phase, actor=organizer)
    assert len(board_of(api, phase)) == 3
    assert board_of(alice_api, phase)[2] == (2, "Alpha", board["alice"].pk)


def test_freezing_and_unfreezing(api, phase, board, organizer):
    live = board_of(api, phase)

    with time_machine.travel(END + dt.timedelta(hours=1), tick=False):
        leaderboard_freeze(phase=phase, actor=organizer)
    response = api.get(url(phase))
    assert response.json()["frozen_at"] is not None
    submission_set_flags(submission=board["charlie"], actor=organizer, disqualified=True)
    assert board_of(api, phase) == live  # the frozen board does not move

    leaderboard_unfreeze(phase=phase, actor=organizer)
    response = api.get(url(phase))
    assert response.json()["frozen_at"] is None
    assert board_of(api, phase) == [
        (None, "Organizers", board["baseline"].pk),
        (1, "Alpha", board["alice"].pk),
        (2, "Charlie's", board["charlie_early"].pk),
    ]


def test_renaming_a_team(api, phase, board, charlie_team):
    board_of(api, phase)

    charlie_team.name = "Charlie's Angels"
    charlie_team.save()  # the admin's change form

    assert board_of(api, phase)[0] == (1, "Charlie's Angels", board["charlie"].pk)


def test_deleting_a_submission_or_a_team(api, phase, board, alice_team):
    board_of(api, phase)

    board["charlie"].delete()
    assert board_of(api, phase)[2] == (2, "Charlie's", board["charlie_early"].pk)

    alice_team.delete()
    assert board_of(api, phase) == [
        (None, "Organizers", board["baseline"].pk),
        (1, "Charlie's", board["charlie_early"].pk),
    ]


def test_deleting_a_phase_with_its_submissions(api, phase, board):
    board_of(api, phase)

    phase.delete()

    assert api.get(url(phase)).status_code == 404
    assert not Submission.objects.exists()


def test_class_names_and_track_are_read_fresh(api, phase, board):
    board_of(api, phase)
    challenge = phase.challenge
    challenge.class_names = [f"class {i}" for i in range(26)]
    challenge.save(update_fields=["class_names"])
    Phase.objects.filter(pk=phase.pk).update(track=Phase.Track.DETECTION)

    body = api.get(url(phase)).json()

    assert body["class_names"][0] == "class 0"
    assert body["primary_metric"] == "video_map"


def test_rescoring_directly_through_the_orm_is_seen(api, phase, board):
    # A save() of a finished submission, e.g. a data fix in the shell.
    board_of(api, phase)
    alice = board["alice"]
    alice.primary_score = 0.9
    alice.scores = recognition_scores(0.9)
    alice.save()

    body = api.get(url(phase)).json()

    assert body["entries"][0]["submission_id"] == alice.pk
    assert body["entries"][0]["scores"]["macro_f1"] == 0.9


def test_changes_elsewhere_leave_the_version_alone(phase, board, alice_team):
    version = LeaderboardVersion.objects.get(phase=phase).token

    alice_team.invite_code = "fresh-code"
    alice_team.save(update_fields=["invite_code"])
    scored(phase, alice_team, None, at=at(5), status=Submission.Status.QUEUED)
    TeamFactory(challenge=phase.challenge)

    assert LeaderboardVersion.objects.get(phase=phase).token == version


def test_each_change_makes_a_new_token(phase, board, organizer):
    seen = {LeaderboardVersion.objects.get(phase=phase).token}
    for hidden in (True, False, True):
        submission_set_flags(submission=board["alice"], actor=organizer, hidden=hidden)
        seen.add(LeaderboardVersion.objects.get(phase=phase).token)
    assert len(seen) == 4


def test_the_cache_keeps_within_its_budget(api, phase, board, challenge, monkeypatch):
    from tests.factories import PhaseFactory

    other = PhaseFactory(challenge=challenge, starts_at=at(0), ends_at=END)
    scored(other, board["alice"].team, 0.7, at=at(1))
    monkeypatch.setattr(encoded, "CACHE_BUDGET_BYTES", 1)

    for _ in range(2):
        assert len(board_of(api, phase)) == 3
        assert board_of(api, other) == [(1, "Alpha", other.submissions.get().pk)]
        # Over budget, only the board served last stays.
        assert len(encoded._cache) == 1


def test_a_phase_keeps_only_its_newest_board(api, phase, board, organizer):
    board_of(api, phase)
    Phase.objects.filter(pk=phase.pk).update(ends_at=F("ends_at") + dt.timedelta(days=1))
    board_of(api, phase)

    assert len(encoded._cache) == 1


def test_the_full_board_comes_gzipped_when_asked(api, phase, board):
    plain = api.get(url(phase))
    zipped = api.get(url(phase), HTTP_ACCEPT_ENCODING="br, gzip;q=0.8")

    assert plain.get("Content-Encoding") is None
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in plain["Vary"]
    assert "Accept-Encoding" in zipped["Vary"]
    assert gzip.decompress(zipped.content) == plain.content
    assert json.loads(plain.content) == decoded_body(phase, AnonymousUser())


def test_a_hidden_ranking_is_never_compressed(alice_api, phase, board):
    phase.leaderboard_visibility = Phase.Visibility.PRIVATE
    phase.save(update_fields=["leaderboard_visibility"])

    response = alice_api.get(url(phase), HTTP_ACCEPT_ENCODING="gzip")

    assert response.get("Content-Encoding") is None
    assert [e["team"] for e in response.json()["entries"]] == ["Alpha"]
