"""The rules a participant relies on, at their edges: the deadline (one instant, the same
for the upload check, the leaderboard and the page), the UTC day of the daily quota, what
counts against the limits, and a re-run replacing the scores on the board."""

import datetime as dt

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from evalserver.challenges.services import phase_set_labels
from evalserver.errors import PhaseClosed, QuotaExceeded
from leaderboard.selectors import leaderboard_ranking
from submissions.models import Submission
from submissions.services import submission_cancel, submission_create, submission_rerun
from tests.clients import logged_in
from tests.factories import PhaseFactory
from tests.recognition_data import (
    LABELLED_CLIPS,
    answer_bytes,
    expected_macro_f1,
    labelled_truth,
    labels_json,
    random_matrix,
)

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 6, 12, 23, 59, 59, tzinfo=dt.UTC)
TICK = dt.timedelta(microseconds=1)


@pytest.fixture
def dated_phase(challenge):
    phase = PhaseFactory(
        challenge=challenge,
        slug="dated",
        starts_at=START,
        ends_at=END,
        max_submissions_per_day=2,
        max_submissions_total=100,
    )
    phase_set_labels(phase=phase, data=labels_json(labelled_truth()), filename="labels.json")
    phase.refresh_from_db()
    return phase


def _upload(seed: int = 1):
    return SimpleUploadedFile("answer.txt", answer_bytes(random_matrix(LABELLED_CLIPS, seed=seed)))


def _submit(user, phase, seed: int = 1) -> Submission:
    return submission_create(user=user, phase=phase, upload=_upload(seed))


def _run(captured, user, phase, seed: int = 1) -> Submission:
    with captured(execute=True):
        submission = _submit(user, phase, seed)
    submission.refresh_from_db()
    return submission


def test_the_deadline_is_one_instant_everywhere(
    alice, alice_team, dated_phase, inprocess_sync, django_capture_on_commit_callbacks
):
    with (
        time_machine.travel(START - TICK, tick=False),
        pytest.raises(PhaseClosed, match="not open yet"),
    ):
        _submit(alice, dated_phase)
    with time_machine.travel(START, tick=False):
        first = _run(django_capture_on_commit_callbacks, alice, dated_phase, seed=1)
    with time_machine.travel(END - TICK, tick=False):
        last = _run(django_capture_on_commit_callbacks, alice, dated_phase, seed=2)
        page = logged_in(alice).get(reverse("phase-detail", args=[dated_phase.pk]))
        assert b'data-countdown="2026-06-12T23:59:59+00:00"' in page.content
    with time_machine.travel(END, tick=False):
        with pytest.raises(PhaseClosed, match="ended"):
            _submit(alice, dated_phase)
        page = logged_in(alice).get(reverse("phase-detail", args=[dated_phase.pk]))
        assert b"data-countdown" not in page.content
        assert b"does not take submissions now" in page.content
    assert first.status == last.status == "finished"
    (entry,) = leaderboard_ranking(phase=dated_phase)
    # Both made inside the dates count: the team's entry has two submissions.
    assert entry.submission_count == 2


def test_the_daily_quota_resets_at_midnight_utc(alice, alice_team, dated_phase):
    day_end = dt.datetime(2026, 4, 2, tzinfo=dt.UTC)
    with time_machine.travel(day_end - dt.timedelta(hours=20), tick=False):
        _submit(alice, dated_phase, seed=1)
    with time_machine.travel(day_end - TICK, tick=False):
        _submit(alice, dated_phase, seed=2)
        with pytest.raises(QuotaExceeded, match="00:00 UTC"):
            _submit(alice, dated_phase, seed=3)
    with time_machine.travel(day_end, tick=False):
        _submit(alice, dated_phase, seed=4)


def test_failed_and_cancelled_submissions_do_not_count(
    alice, alice_team, organizer, dated_phase, inprocess_sync, django_capture_on_commit_callbacks
):
    with time_machine.travel(dt.datetime(2026, 4, 1, 12, tzinfo=dt.UTC), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            broken = submission_create(
                user=alice,
                phase=dated_phase,
                upload=SimpleUploadedFile("answer.txt", b"00000 1\n"),
            )
        broken.refresh_from_db()
        assert broken.status == "failed"
        queued = _submit(alice, dated_phase, seed=1)
        submission_cancel(submission=queued, actor=organizer)
        _submit(alice, dated_phase, seed=2)
        _submit(alice, dated_phase, seed=3)
        with pytest.raises(QuotaExceeded):
            _submit(alice, dated_phase, seed=4)


def test_a_rerun_after_a_label_fix_replaces_the_scores_on_the_board(
    alice,
    alice_team,
    organizer,
    phase_labelled,
    inprocess_sync,
    django_capture_on_commit_callbacks,
):
    prediction = random_matrix(LABELLED_CLIPS, seed=21)
    browser = logged_in(alice)
    url = f"/api/v1/phases/{phase_labelled.pk}/leaderboard/"
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(
            user=alice,
            phase=phase_labelled,
            upload=SimpleUploadedFile("answer.txt", answer_bytes(prediction)),
        )
    old_truth = labelled_truth()
    before = browser.get(url).json()["entries"][0]["scores"]["macro_f1"]
    assert before == expected_macro_f1(old_truth, prediction)

    fixed_truth = random_matrix(LABELLED_CLIPS, seed=12)
    phase_set_labels(phase=phase_labelled, data=labels_json(fixed_truth), filename="fixed.json")
    phase_labelled.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        submission_rerun(submission=submission, actor=organizer)
    submission.refresh_from_db()
    assert submission.status == "finished"
    after = browser.get(url).json()["entries"][0]
    assert after["scores"]["macro_f1"] == expected_macro_f1(fixed_truth, prediction)
    assert after["primary_score"] == after["scores"]["macro_f1"]
    assert after["scores"]["macro_f1"] != before
