"""Without a broker, a restart of the web process loses its thread pool's work: the next
process's sweeps take over what an earlier process owned, at once.

"An earlier process" is simulated by what it would have left in the database: a hand-over
time before this process started, or a claimant identity (``web:<host>:<pid>:<start>``)
that names a process that is gone.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from submissions import queue
from submissions.models import Submission
from submissions.services import CRASHED_MESSAGE, submission_create, submissions_sweep
from tests.factories import SubmissionFactory
from tests.recognition_data import expected_macro_f1

pytestmark = pytest.mark.django_db

Status = Submission.Status
NOTHING = {"requeued": 0, "recovered": 0, "timed_out": 0}


@pytest.fixture(autouse=True)
def _long_interval(settings):
    # Neither the interval nor the broker's visibility timeout may explain a take-over here.
    settings.EVALSERVER_SWEEP_INTERVAL = 3600


def _before_this_process(seconds: float = 1) -> dt.datetime:
    return queue.process_started_at() - dt.timedelta(seconds=seconds)


def _earlier_identity() -> str:
    """The identity the process before a restart recorded: our host and pid, an older start."""
    stamp = _before_this_process(600).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"web:{socket.gethostname()}:{os.getpid()}:{stamp}"


def _handed_out_before_restart(labelled_phase, team):
    """A queued upload the earlier process had handed to its pool when it went away."""
    upload, prediction = labelled_phase.upload()
    submission = SubmissionFactory(
        team=team,
        phase=labelled_phase.phase,
        file=upload,
        created_at=_before_this_process(2),
        enqueued_at=_before_this_process(1),
    )
    return submission, prediction


def _running(labelled_phase, team, *, worker: str, attempts: int = 1, started_ago: float):
    upload, prediction = labelled_phase.upload()
    started = timezone.now() - dt.timedelta(seconds=started_ago)
    submission = SubmissionFactory(
        team=team,
        phase=labelled_phase.phase,
        file=upload,
        status=Status.RUNNING,
        attempts=attempts,
        worker=worker,
        created_at=started,
        started_at=started,
        enqueued_at=started,
    )
    return submission, prediction


# --- Who owns what ------------------------------------------------------------------------------


def test_the_inprocess_runner_records_who_it_is(inprocess_sync, labelled_phase, alice, alice_team):
    upload, _ = labelled_phase.upload()
    with inprocess_sync():
        submission = submission_create(user=alice, phase=labelled_phase.phase, upload=upload)

    submission.refresh_from_db()
    assert submission.status == Status.FINISHED
    stamp = queue.process_started_at().strftime("%Y%m%dT%H%M%S.%fZ")
    assert submission.worker == f"web:{socket.gethostname()}:{os.getpid()}:{stamp}"
    assert queue.inprocess_owner(submission.worker) == "self"


def test_an_identity_says_whether_its_process_is_alive():
    host = socket.gethostname()
    stamp = "20240101T000000.000000Z"
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert queue.inprocess_owner(f"web:{host}:{sibling.pid}:{stamp}") == "alive"
    finally:
        sibling.kill()
        sibling.wait()
    assert queue.inprocess_owner(f"web:{host}:{sibling.pid}:{stamp}") == "dead"
    # Our pid with another start: the process this one replaced (containers reuse pids).
    assert queue.inprocess_owner(_earlier_identity()) == "dead"
    assert queue.inprocess_owner(queue.inprocess_worker_identity()) == "self"


@pytest.mark.parametrize(
    "worker",
    [
        "",
        "celery@worker-1:4242",  # a Celery worker's name
        f"web:{socket.gethostname()}:{os.getpid()}",  # recorded before identities had a start
        f"web:another-host.example:{os.getpid()}:20240101T000000.000000Z",
    ],
)
def test_what_is_no_local_in_process_identity_is_unknown(worker):
    assert queue.inprocess_owner(worker) == "unknown"


# --- The sweep after a restart ----------------------------------------------------------------


def test_queued_work_handed_to_an_earlier_process_is_handed_out_again_at_once(
    inprocess_sync, labelled_phase, alice_team
):
    lost, prediction = _handed_out_before_restart(labelled_phase, alice_team)
    never_handed_out = SubmissionFactory(
        team=alice_team,
        phase=labelled_phase.phase,
        file=labelled_phase.upload()[0],
        created_at=_before_this_process(1),
    )
    # Handed to this process's own pool a moment ago: it is on its way.
    ours = SubmissionFactory(
        team=alice_team,
        phase=labelled_phase.phase,
        created_at=timezone.now(),
        enqueued_at=timezone.now(),
    )

    assert submissions_sweep() == {**NOTHING, "requeued": 2}

    lost.refresh_from_db()
    never_handed_out.refresh_from_db()
    ours.refresh_from_db()
    assert lost.status == Status.FINISHED
    assert lost.primary_score == pytest.approx(expected_macro_f1(labelled_phase.truth, prediction))
    assert never_handed_out.status == Status.FINISHED
    assert ours.status == Status.QUEUED


def test_running_work_of_a_dead_earlier_process_is_taken_over_not_timed_out(
    inprocess_sync, settings, labelled_phase, alice_team
):
    # Two hours old: past the hard limit, which only a Celery worker enforces.
    submission, prediction = _running(
        labelled_phase, alice_team, worker=_earlier_identity(), started_ago=7200
    )

    assert submissions_sweep() == {**NOTHING, "recovered": 1}

    submission.refresh_from_db()
    assert submission.status == Status.FINISHED, submission.errors
    assert submission.attempts == 2
    assert submission.worker == queue.inprocess_worker_identity()
    assert submission.primary_score == pytest.approx(
        expected_macro_f1(labelled_phase.truth, prediction)
    )
    # Back in the queue with its attempt counted, then claimed afresh.
    assert submission.events.get(action="requeued").detail["reason"] == "worker_lost"
    assert submission.events.get(action="started").detail["recovered"] is False


def test_a_claim_without_an_identity_from_before_this_process_is_taken_over(
    inprocess_sync, labelled_phase, alice_team
):
    legacy = f"web:{socket.gethostname()}:{os.getpid()}"
    submission, _ = _running(labelled_phase, alice_team, worker=legacy, started_ago=7200)

    assert submissions_sweep() == {**NOTHING, "recovered": 1}

    submission.refresh_from_db()
    assert (submission.status, submission.attempts) == (Status.FINISHED, 2)


def test_a_submission_that_kept_killing_the_web_process_fails_as_crashed(
    inprocess_sync, settings, labelled_phase, alice_team
):
    submission, _ = _running(
        labelled_phase,
        alice_team,
        worker=_earlier_identity(),
        attempts=settings.EVALSERVER_MAX_SCORING_ATTEMPTS,
        started_ago=7200,
    )

    assert submissions_sweep() == {**NOTHING, "recovered": 1}

    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert submission.errors == [CRASHED_MESSAGE]


def test_a_claim_this_process_holds_is_left_alone(inprocess_sync, labelled_phase, alice_team):
    submission, _ = _running(
        labelled_phase, alice_team, worker=queue.inprocess_worker_identity(), started_ago=1
    )
    with queue.scoring_lock(submission.pk) as held:
        assert held
        assert submissions_sweep() == NOTHING
    submission.refresh_from_db()
    assert (submission.status, submission.attempts) == (Status.RUNNING, 1)


def test_with_a_broker_nothing_changes(settings, labelled_phase, alice_team):
    # Celery workers are not the web process: their work survives its restart. A running
    # submission nobody holds lost its worker, whatever its age: it goes back to the queue.
    settings.EVALSERVER_INPROCESS_TASKS = False
    queued = SubmissionFactory(
        team=alice_team,
        phase=labelled_phase.phase,
        created_at=_before_this_process(2),
        enqueued_at=_before_this_process(1),
    )
    running, _ = _running(labelled_phase, alice_team, worker=_earlier_identity(), started_ago=7200)

    assert submissions_sweep() == {**NOTHING, "recovered": 1}

    queued.refresh_from_db()
    running.refresh_from_db()
    assert queued.status == Status.QUEUED
    assert (running.status, running.attempts, running.errors) == (Status.QUEUED, 1, [])


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_thread_takes_over_at_once_when_it_starts(
    inprocess_sync, labelled_phase, alice_team
):
    lost, _ = _handed_out_before_restart(labelled_phase, alice_team)
    try:
        assert queue.start_in_process_sweeper()
        deadline = time.monotonic() + 15
        while Submission.objects.get(pk=lost.pk).status != Status.FINISHED:
            assert time.monotonic() < deadline, "the first sweep did not run at once"
            time.sleep(0.05)
    finally:
        queue.stop_in_process_sweeper()
        queue.wait_for_in_process_scoring()


# --- The embedded default itself: SQLite, where no process sees another's locks ----------------

ROOT = Path(__file__).resolve().parents[2]

EARLIER_PROCESS = """
import json, os
from django.core.files.base import ContentFile
from django.utils import timezone
from evalserver.challenges.services import phase_set_labels
from submissions import queue
from tests.factories import PhaseFactory, SubmissionFactory, TeamFactory
from tests.recognition_data import answer_bytes, labels_json, random_matrix

phase = PhaseFactory()
phase_set_labels(phase=phase, data=labels_json(random_matrix(50, seed=1)), filename="l.json")
team = TeamFactory(challenge=phase.challenge)
answer = answer_bytes(random_matrix(50, seed=2))
now = timezone.now()
me = queue.inprocess_worker_identity()


def submission(**fields):
    upload = ContentFile(answer, name="answer.txt")
    return SubmissionFactory(phase=phase, team=team, file=upload, **fields).pk


print(json.dumps({
    "queued": submission(created_at=now, enqueued_at=now),
    "running": submission(status="running", attempts=1, started_at=now, worker=me),
    "crasher": submission(status="running", attempts=3, started_at=now, worker=me),
    "sibling": submission(
        status="running", attempts=1, started_at=now, worker=os.environ["SIBLING"]
    ),
}))
"""

AFTERWARDS = """
import json, os
from submissions import queue
from submissions.models import Submission
from submissions.services import submission_score

ids = json.loads(os.environ["IDS"])
outcome = submission_score(submission_id=ids["sibling"], worker=queue.inprocess_worker_identity())
rows = {
    name: Submission.objects.values("status", "attempts", "errors", "worker").get(pk=pk)
    for name, pk in ids.items()
}
print(json.dumps({"outcome": outcome, "rows": rows}))
"""


def test_on_sqlite_a_later_process_takes_over_what_an_earlier_one_left(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "EVALSERVER_CACHE_URL")
    }
    env["EVALSERVER_DATA_DIR"] = str(tmp_path)
    # This test process plays a live sibling web process that is scoring one submission.
    sibling = f"web:{socket.gethostname()}:{os.getpid()}:20240101T000000.000000Z"
    env["SIBLING"] = sibling

    def manage(*args: str, **extra: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**env, **extra},
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    manage("migrate", "-v0")
    # The earlier process: it hands one upload to its pool and claims two, then dies.
    ids = json.loads(manage("shell", "-c", EARLIER_PROCESS).strip().splitlines()[-1])

    swept = manage("sweep_submissions")

    assert swept.strip() == "requeued: 1, recovered: 2, timed_out: 0"
    after = json.loads(manage("shell", "-c", AFTERWARDS, IDS=json.dumps(ids)).splitlines()[-1])
    rows = after["rows"]
    assert (rows["queued"]["status"], rows["queued"]["attempts"]) == ("finished", 1)
    assert (rows["running"]["status"], rows["running"]["attempts"]) == ("finished", 2)
    assert rows["crasher"]["status"] == "failed"
    assert rows["crasher"]["errors"] == [CRASHED_MESSAGE]
    # The live sibling's claim is left alone by the sweep and by a redelivered task.
    assert after["outcome"] == "busy"
    assert rows["sibling"] == {
        "status": "running",
        "attempts": 1,
        "errors": [],
        "worker": sibling,
    }
