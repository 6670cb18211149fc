"""A phase with a hidden public/private split: what is scored, ranked, and shown to whom."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from evalserver.scoring import recognition
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from submissions.models import SubmissionEvaluation
from tests.clients import logged_in
from tests.final_ranking.conftest import AFTER, DURING
from tests.recognition_data import random_matrix

pytestmark = pytest.mark.django_db


def _metrics(truth, prediction):
    return recognition.compute_metrics(truth, prediction, TINYVIRAT_V2_CLASSES)


def _public_star_and_private_star(split_board):
    """Alpha is right on the public clips only; Charlie's on the private clips only."""
    truth, private = split_board.truth, split_board.private
    noise = random_matrix(len(truth), seed=99, density=0.3)
    public_star = np.where(private[:, None], noise, truth).astype(np.uint8)
    private_star = np.where(private[:, None], truth, noise).astype(np.uint8)
    return public_star, private_star


def test_a_split_phase_keeps_public_scores_on_the_submission_and_the_rest_apart(
    split_board, alice, alice_team
):
    assert split_board.phase.labels_split
    prediction = split_board.noisy(wrong=0.3, seed=1)
    submission = split_board.upload(alice, prediction)
    truth, private = split_board.truth, split_board.private
    assert submission.scores == _metrics(truth[~private], prediction[~private])
    assert submission.primary_score == submission.scores["macro_f1"]
    evaluation = SubmissionEvaluation.objects.get(submission=submission)
    assert evaluation.private_scores == _metrics(truth[private], prediction[private])
    assert evaluation.private_primary_score == evaluation.private_scores["macro_f1"]
    assert evaluation.all_scores == _metrics(truth, prediction)
    assert evaluation.private_ci_low < evaluation.private_primary_score
    assert evaluation.private_primary_score < evaluation.private_ci_high
    assert len(evaluation.private_replicates) == 8000


def test_the_running_board_ranks_by_public_and_the_final_board_by_private(
    split_board, api, organizer_api, alice, alice_team, charlie, charlie_team
):
    public_star, private_star = _public_star_and_private_star(split_board)
    split_board.upload(alice, public_star)
    split_board.upload(charlie, private_star)
    url = f"/api/v1/phases/{split_board.phase.pk}/leaderboard/"
    running = api.get(url).json()
    assert running["split"] == "public"
    assert [e["team"] for e in running["entries"]] == ["Alpha", "Charlie's"]
    final = organizer_api.get(url + "?split=private").json()
    assert final["split"] == "private"
    assert final["published_at"] is None
    assert [e["team"] for e in final["entries"]] == ["Charlie's", "Alpha"]
    assert [e["rank"] for e in final["entries"]] == [1, 2]
    assert final["entries"][0]["separable_from_next"] is True
    assert final["entries"][1]["separable_from_next"] is False
    truth, private = split_board.truth, split_board.private
    expected = _metrics(truth[private], private_star[private])["macro_f1"]
    assert final["entries"][0]["primary_score"] == expected
    assert final["entries"][0]["scores"]["macro_f1"] == expected


def test_who_sees_the_private_board_when(
    split_board, api, alice_api, organizer_api, alice, alice_team, organizer
):
    split_board.upload(alice, split_board.noisy(wrong=0.3, seed=2))
    url = f"/api/v1/phases/{split_board.phase.pk}/leaderboard/?split=private"
    for when in (DURING, AFTER):
        with time_machine.travel(when, tick=False):
            assert organizer_api.get(url).status_code == 200
            for client in (api, alice_api):
                response = client.get(url)
                assert response.status_code == 403
                assert (
                    "published by the organizers after the phase ends" in response.json()["detail"]
                )
    with (
        time_machine.travel(DURING, tick=False),
        pytest.raises(CommandError, match="only after the deadline"),
    ):
        call_command("publish_leaderboard", "--phase", "tinyactions-test/final")
    with time_machine.travel(AFTER, tick=False):
        out = io.StringIO()
        call_command("publish_leaderboard", "--phase", "tinyactions-test/final", stdout=out)
        assert "Published the final (private-split) leaderboard" in out.getvalue()
        with pytest.raises(CommandError, match="published already"):
            call_command("publish_leaderboard", "--phase", "tinyactions-test/final")
        for client in (api, alice_api, organizer_api):
            body = client.get(url).json()
            assert body["published_at"] is not None
            assert [e["team"] for e in body["entries"]] == ["Alpha"]
    assert api.get(url.replace("private", "everything")).status_code == 400


def test_a_phase_without_split_has_no_private_board(board, api, organizer_api, organizer):
    url = f"/api/v1/phases/{board.phase.pk}/leaderboard/"
    assert api.get(url).json()["split"] is None
    assert organizer_api.get(url + "?split=private").status_code == 404
    with time_machine.travel(AFTER, tick=False), pytest.raises(CommandError, match="no private"):
        call_command("publish_leaderboard", "--phase", "tinyactions-test/plain")


def test_the_publish_api_and_page_button_are_organizers_only(
    split_board, alice_api, organizer_api, alice, alice_team, organizer
):
    split_board.upload(alice, split_board.noisy(wrong=0.3, seed=3))
    phase = split_board.phase
    url = f"/api/v1/phases/{phase.pk}/leaderboard/publish/"
    with time_machine.travel(DURING, tick=False):
        assert organizer_api.post(url).status_code == 400
        # Signed in at the travelled-to moment: a session from today has expired by 2031.
        page = logged_in(organizer).get(f"/phases/{phase.pk}/leaderboard/").content.decode()
        assert "Publish the final board" not in page
    with time_machine.travel(AFTER, tick=False):
        organizer_web, alice_web = logged_in(organizer), logged_in(alice)
        assert alice_api.post(url).status_code == 403
        assert (
            "Publish the final board"
            not in alice_web.get(f"/phases/{phase.pk}/leaderboard/").content.decode()
        )
        page = organizer_web.get(f"/phases/{phase.pk}/leaderboard/").content.decode()
        assert "Publish the final board" in page
        response = organizer_web.post(f"/phases/{phase.pk}/leaderboard/publish/")
        assert response.status_code == 302
        assert response["Location"].endswith("?split=private")
        assert organizer_api.post(url).status_code == 409
        final = alice_web.get(f"/phases/{phase.pk}/leaderboard/?split=private")
        assert final.status_code == 200
        assert "Final board" in final.content.decode()


def test_labels_with_some_records_split_are_refused_at_import(tmp_path, challenge):
    from evalserver.challenges.services import phase_set_labels
    from evalserver.scoring.errors import LabelsInvalid
    from tests.factories import PhaseFactory
    from tests.recognition_data import labels_json

    records = json.loads(labels_json(random_matrix(5, seed=1)))
    records[0]["split"] = "public"
    records[1]["split"] = "private"
    phase = PhaseFactory(challenge=challenge, slug="mixed")
    with pytest.raises(LabelsInvalid) as exc:
        phase_set_labels(phase=phase, data=json.dumps(records).encode(), filename="l.json")
    assert exc.value.errors[0].startswith("record 3 (id '00002'): has no 'split'")
    phase.refresh_from_db()
    assert not phase.labels_split
    assert not phase.labels_sha256
