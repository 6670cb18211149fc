"""The pipeline end to end: PostgreSQL, a private Redis and real ``celery worker`` processes.

Killing a worker mid-task relies on a test hook: EVALSERVER_TEST_SCORING_DELAY_MS, set only
in the environment of the worker under test, makes the task sleep after it has claimed the
submission and before it scores, so "mid-task" is a window the test can hit every time.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time

import pytest
from django.utils import timezone

from submissions import queue
from submissions.models import Submission
from submissions.services import submission_create
from tests.pipeline.conftest import wait_for_status, wait_until
from tests.recognition_data import expected_macro_f1

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]

Status = Submission.Status
DONE = {Status.FINISHED, Status.FAILED, Status.CANCELLED}


def _actions(submission) -> list[str]:
    return list(submission.events.values_list("action", flat=True))


def test_a_submission_goes_queued_running_finished_with_the_right_scores(
    start_worker, labelled_phase, alice, alice_team
):
    start_worker("w1", EVALSERVER_TEST_SCORING_DELAY_MS="1500")
    upload, prediction = labelled_phase.upload()

    submission = submission_create(user=alice, phase=labelled_phase.phase, upload=upload)

    assert submission.status == Status.QUEUED
    seen = [Status.QUEUED]
    deadline = time.monotonic() + 60
    while submission.status not in DONE and time.monotonic() < deadline:
        time.sleep(0.05)
        submission.refresh_from_db()
        if submission.status != seen[-1]:
            seen.append(submission.status)
    assert seen == [Status.QUEUED, Status.RUNNING, Status.FINISHED]
    assert submission.enqueued_at is not None
    assert submission.started_at <= submission.finished_at
    assert submission.worker.startswith("w1@")
    assert submission.primary_score == pytest.approx(
        expected_macro_f1(labelled_phase.truth, prediction)
    )
    assert submission.scores["primary_metric"] == "macro_f1"
    assert _actions(submission) == ["created", "started", "finished"]


def test_a_killed_pool_process_gives_the_task_back_and_it_finishes_once(
    start_worker, labelled_phase, alice, alice_team
):
    worker = start_worker("w1", EVALSERVER_TEST_SCORING_DELAY_MS="4000")
    upload, prediction = labelled_phase.upload()
    submission = submission_create(user=alice, phase=labelled_phase.phase, upload=upload)
    wait_for_status(submission, {Status.RUNNING})

    # The pool process that claimed it (the worker field ends with its pid).
    child = int(submission.worker.rsplit(":", 1)[1])
    assert child in worker.children()
    os.kill(child, signal.SIGKILL)

    wait_for_status(submission, DONE, timeout=60)
    assert submission.status == Status.FINISHED, submission.errors
    assert submission.attempts == 2
    assert _actions(submission) == ["created", "started", "started", "finished"]
    assert submission.events.filter(action="started").last().detail["recovered"] is True
    assert submission.primary_score == pytest.approx(
        expected_macro_f1(labelled_phase.truth, prediction)
    )


def test_a_worker_killed_whole_leaves_nothing_stuck_and_a_new_worker_finishes_once(
    start_worker, labelled_phase, alice, alice_team
):
    first = start_worker("w1", EVALSERVER_TEST_SCORING_DELAY_MS="30000")
    upload, prediction = labelled_phase.upload()
    submission = submission_create(user=alice, phase=labelled_phase.phase, upload=upload)
    wait_for_status(submission, {Status.RUNNING})

    first.kill_group()
    submission.refresh_from_db()
    assert submission.status == Status.RUNNING  # the crash left it claimed...

    # ...and the new worker's sweeper sees no live process holding it and hands it back.
    start_worker("w2", beat=True, EVALSERVER_SWEEP_INTERVAL="2")
    wait_for_status(submission, DONE, timeout=90)
    assert submission.status == Status.FINISHED, submission.errors
    assert submission.attempts == 2
    assert submission.worker.startswith("w2@")
    assert _actions(submission) == ["created", "started", "requeued", "started", "finished"]
    assert submission.primary_score == pytest.approx(
        expected_macro_f1(labelled_phase.truth, prediction)
    )


def test_an_upload_during_a_redis_outage_is_scored_once_redis_is_back(
    redis_server, start_worker, labelled_phase, alice, alice_team
):
    start_worker("w1", beat=True, EVALSERVER_SWEEP_INTERVAL="2")
    redis_server.stop()

    began = time.monotonic()
    upload, prediction = labelled_phase.upload()
    submission = submission_create(user=alice, phase=labelled_phase.phase, upload=upload)
    took = time.monotonic() - began

    assert took < 5, f"an upload waited {took:.1f} s on a dead broker"
    submission.refresh_from_db()
    assert submission.status == Status.QUEUED
    assert submission.enqueued_at is None

    redis_server.start()
    wait_for_status(submission, DONE, timeout=120)
    assert submission.status == Status.FINISHED, submission.errors
    assert submission.attempts == 1
    assert submission.primary_score == pytest.approx(
        expected_macro_f1(labelled_phase.truth, prediction)
    )


def test_a_phase_that_closes_before_scoring_still_scores_the_upload_made_in_time(
    start_worker, labelled_phase, alice, alice_team
):
    phase = labelled_phase.phase
    upload, prediction = labelled_phase.upload()
    submission = submission_create(user=alice, phase=phase, upload=upload)
    phase.ends_at = timezone.now() - dt.timedelta(seconds=1)
    phase.starts_at = phase.ends_at - dt.timedelta(days=1)
    phase.is_open = False
    phase.save(update_fields=["starts_at", "ends_at", "is_open"])

    start_worker("w1")

    wait_for_status(submission, DONE)
    assert submission.status == Status.FINISHED, submission.errors
    assert submission.primary_score == pytest.approx(
        expected_macro_f1(labelled_phase.truth, prediction)
    )


def test_two_workers_on_one_queue_never_score_a_submission_twice(
    start_worker, labelled_phase, alice, bob, alice_team
):
    phase = labelled_phase.phase
    phase.max_submissions_per_day = None
    phase.save(update_fields=["max_submissions_per_day"])
    start_worker("w1", EVALSERVER_TEST_SCORING_DELAY_MS="200")
    start_worker("w2", EVALSERVER_TEST_SCORING_DELAY_MS="200")

    submissions = [
        submission_create(user=user, phase=phase, upload=labelled_phase.upload()[0])
        for user in (alice, bob) * 4
    ]
    # Every submission is also sent a second and a third time, as a redelivery or an eager
    # sweeper would: both workers hold copies of the same messages.
    for _ in range(2):
        for submission in submissions:
            assert queue.enqueue_scoring(submission.pk)

    def all_done():
        return not Submission.objects.filter(pk__in=[s.pk for s in submissions]).exclude(
            status__in=DONE
        )

    wait_until(all_done, timeout=120, what="every submission to finish")
    workers = set()
    for submission in submissions:
        submission.refresh_from_db()
        assert submission.status == Status.FINISHED, submission.errors
        assert submission.attempts == 1
        assert _actions(submission) == ["created", "started", "finished"]
        workers.add(submission.worker.split("@")[0])
    assert workers == {"w1", "w2"}
