"""The in-process sweeper: without a broker, the web process re-queues what a restart
stranded, in a thread that its first request starts."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from sklearn.metrics import f1_score

from submissions import queue
from submissions.models import Submission
from tests.factories import SubmissionFactory
from tests.recognition_data import answer_bytes, phase_with_labels, random_matrix

Status = Submission.Status
N_CLIPS = 50


@pytest.fixture
def truth():
    return random_matrix(N_CLIPS, seed=3)


@pytest.fixture
def labelled_phase(challenge, truth):
    return phase_with_labels(truth, challenge=challenge, slug="test", name="Test")


@pytest.fixture
def sweeper_off_afterwards():
    yield
    queue.stop_in_process_sweeper()
    queue.wait_for_in_process_scoring()


def _stranded(phase, team, prediction, *, age_seconds: float):
    """A queued upload whose task never ran: the process that took it was restarted."""
    return SubmissionFactory(
        team=team,
        phase=phase,
        file=SimpleUploadedFile("answer.txt", answer_bytes(prediction)),
        created_at=timezone.now() - dt.timedelta(seconds=age_seconds),
    )


@pytest.mark.django_db
def test_a_tick_scores_a_queued_submission_that_has_no_task(
    inprocess_sync, settings, labelled_phase, alice_team, truth
):
    prediction = random_matrix(N_CLIPS, seed=4)
    stranded = _stranded(
        labelled_phase, alice_team, prediction, age_seconds=settings.EVALSERVER_SWEEP_INTERVAL + 1
    )
    fresh = _stranded(labelled_phase, alice_team, prediction, age_seconds=0)

    assert queue.sweep_tick() == {"requeued": 1, "recovered": 0, "timed_out": 0}

    stranded.refresh_from_db()
    fresh.refresh_from_db()
    assert stranded.status == Status.FINISHED
    expected = f1_score(truth, prediction, average="macro", zero_division=0)
    assert stranded.scores["macro_f1"] == pytest.approx(expected)
    # Just uploaded: its task may still be on its way; the next tick decides.
    assert fresh.status == Status.QUEUED


def test_a_failing_tick_is_logged_and_does_not_raise(inprocess_sync, caplog):
    # No database for this test: the sweep's first query fails, as an outage would.
    assert queue.sweep_tick() == {}
    assert "The sweep failed" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_first_request_starts_one_sweeper_that_ticks(
    inprocess_sync, settings, labelled_phase, alice_team, sweeper_off_afterwards
):
    settings.EVALSERVER_INPROCESS_SWEEP = True
    settings.EVALSERVER_SWEEP_INTERVAL = 1
    stranded = _stranded(labelled_phase, alice_team, random_matrix(N_CLIPS, seed=5), age_seconds=2)
    assert not queue.in_process_sweeper_running()

    browser = Client()
    for _ in range(3):
        assert browser.get("/api/v1/challenges/").status_code == 200
    Client().get("/api/v1/challenges/")  # another handler of the same process

    assert queue.in_process_sweeper_running()
    assert [t.name for t in threading.enumerate()].count("sweeper") == 1

    deadline = time.monotonic() + 15
    while Submission.objects.get(pk=stranded.pk).status != Status.FINISHED:
        assert time.monotonic() < deadline, "the sweeper thread never scored it"
        time.sleep(0.1)

    queue.stop_in_process_sweeper()
    assert not queue.in_process_sweeper_running()
    assert "sweeper" not in [t.name for t in threading.enumerate()]


@pytest.mark.django_db(transaction=True)  # the first tick runs at once, in the thread
def test_starting_twice_starts_once(inprocess_sync, settings, sweeper_off_afterwards):
    settings.EVALSERVER_SWEEP_INTERVAL = 3600  # no second tick during the test
    assert queue.start_in_process_sweeper() is True
    assert queue.start_in_process_sweeper() is False
    assert [t.name for t in threading.enumerate()].count("sweeper") == 1


def test_with_a_broker_there_is_no_in_process_sweeper(settings, sweeper_off_afterwards):
    settings.EVALSERVER_INPROCESS_TASKS = False
    settings.EVALSERVER_INPROCESS_SWEEP = True
    assert queue.start_in_process_sweeper() is False
    assert not queue.in_process_sweeper_running()


@pytest.mark.django_db
def test_requests_start_nothing_while_the_sweeper_is_switched_off(inprocess_sync, api):
    # The suite's default (tests/conftest.py): other tests' submissions are left alone.
    assert api.get("/api/v1/challenges/").status_code == 200
    assert not queue.in_process_sweeper_running()
