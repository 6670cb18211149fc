"""Every finished submission has a bootstrap interval; boards say who is separable."""

from __future__ import annotations

import numpy as np
import pytest
import time_machine

from evalserver.scoring import bootstrap
from leaderboard.services import leaderboard_freeze
from submissions.evaluations import phase_bootstrap_seed
from submissions.models import Submission, SubmissionEvaluation
from tests.final_ranking.conftest import AFTER, DURING
from tests.recognition_data import random_matrix

pytestmark = pytest.mark.django_db


def _replicates(board, prediction):
    counts = bootstrap.resample_counts(
        len(board.truth), replicates=1000, seed=phase_bootstrap_seed(board.phase)
    )
    return bootstrap.macro_f1_replicates(board.truth, prediction, counts)


def test_the_worker_stores_the_interval_and_the_replicates(board, alice, alice_team):
    prediction = board.noisy(wrong=0.4, seed=1)
    submission = board.upload(alice, prediction)
    expected = _replicates(board, prediction)
    stored = SubmissionEvaluation.objects.get(submission=submission)
    np.testing.assert_array_equal(bootstrap.replicates_from_bytes(stored.replicates), expected)
    assert len(stored.replicates) == 8000
    low, high = bootstrap.percentile_interval(expected)
    assert (submission.ci_low, submission.ci_high) == (low, high)
    assert low < submission.primary_score < high
    assert stored.private_scores is None
    assert stored.all_scores is None
    assert phase_bootstrap_seed(board.phase) == bootstrap.phase_seed("tinyactions-test/plain")


def test_a_failed_rescore_forgets_the_interval(board, alice, alice_team, organizer):
    from submissions.services import submission_rerun

    submission = board.upload(alice, board.noisy(wrong=0.4, seed=1))
    submission_rerun(submission=submission, actor=organizer)
    submission.refresh_from_db()
    assert (submission.ci_low, submission.ci_high) == (None, None)
    assert not SubmissionEvaluation.objects.filter(submission=submission).exists()


def test_api_entries_carry_intervals_and_separability(
    board, api, alice, alice_team, charlie, charlie_team
):
    good = board.noisy(wrong=0.05, seed=2)
    bad = random_matrix(len(board.truth), seed=3)
    board.upload(alice, good)
    board.upload(charlie, bad)
    entries = api.get(f"/api/v1/phases/{board.phase.pk}/leaderboard/").json()["entries"]
    assert [e["team"] for e in entries] == ["Alpha", "Charlie's"]
    for entry in entries:
        assert entry["ci_low"] < entry["primary_score"] < entry["ci_high"]
    assert [e["separable_from_next"] for e in entries] == [True, False]


def test_identical_files_are_not_separable_on_the_board_and_the_page_says_so(
    board, api, alice, alice_team, charlie, charlie_team, client
):
    prediction = board.noisy(wrong=0.3, seed=4)
    first = board.upload(alice, prediction)
    board.upload(charlie, prediction)
    entries = api.get(f"/api/v1/phases/{board.phase.pk}/leaderboard/").json()["entries"]
    assert [e["separable_from_next"] for e in entries] == [False, False]
    assert entries[0]["ci_low"] == entries[1]["ci_low"] == first.ci_low

    page = client.get(f"/phases/{board.phase.pk}/leaderboard/").content.decode()
    assert "95% interval" in page
    assert f"{first.ci_low:.4f}\u2013{first.ci_high:.4f}" in page
    assert page.count('class="not-separable-mark"') == 1
    assert "not separable" in page


def test_a_frozen_board_keeps_intervals_and_flags(board, api, alice, alice_team, organizer):
    board.upload(alice, board.noisy(wrong=0.2, seed=5))
    live = api.get(f"/api/v1/phases/{board.phase.pk}/leaderboard/").json()["entries"]
    with time_machine.travel(AFTER, tick=False):
        leaderboard_freeze(phase=board.phase, actor=organizer)
    frozen = api.get(f"/api/v1/phases/{board.phase.pk}/leaderboard/").json()
    assert frozen["frozen_at"] is not None
    keys = ("ci_low", "ci_high", "separable_from_next")
    assert [{k: e[k] for k in keys} for e in frozen["entries"]] == [
        {k: e[k] for k in keys} for e in live
    ]


def test_submissions_scored_before_intervals_show_none(board, api, alice, alice_team):
    from tests.factories import SubmissionFactory
    from tests.leaderboard.conftest import recognition_scores

    SubmissionFactory(
        phase=board.phase,
        team=alice_team,
        status=Submission.Status.FINISHED,
        primary_score=0.5,
        scores=recognition_scores(0.5),
        created_at=DURING,
    )
    entry = api.get(f"/api/v1/phases/{board.phase.pk}/leaderboard/").json()["entries"][0]
    assert (entry["ci_low"], entry["ci_high"], entry["separable_from_next"]) == (None, None, False)


def test_a_hidden_ranking_does_not_tell_a_team_whether_the_next_one_is_close(
    board, alice_api, alice, alice_team, charlie, charlie_team
):
    board.upload(alice, board.noisy(wrong=0.05, seed=2))
    board.upload(charlie, random_matrix(len(board.truth), seed=3))
    board.phase.leaderboard_visibility = "private"
    board.phase.save(update_fields=["leaderboard_visibility"])
    body = alice_api.get(f"/api/v1/phases/{board.phase.pk}/leaderboard/").json()
    assert body["ranking_hidden"] is True
    assert [(e["team"], e["separable_from_next"]) for e in body["entries"]] == [("Alpha", False)]
    assert body["entries"][0]["ci_low"] is not None
