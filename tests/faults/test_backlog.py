"""Every worker killed mid-scoring behind a backlog (issue 11, item 3).

Two real workers score a backlog of uploads; both are killed by SIGKILL (with their pool
processes) while each is scoring one, and stay down for longer than the hard time limit
plus a sweep interval. Beat keeps sweeping the database meanwhile: the two submissions
whose worker died go back to the queue with their attempt counted, instead of being failed
as timed out. Restarted workers then finish everything; nothing fails and nobody is
mailed (a real SMTP server listens for the workers and beat).
"""

from __future__ import annotations

import subprocess
import time

import pytest

from submissions.models import Submission
from submissions.services import submission_create
from tests.faults.conftest import elapsed, report
from tests.processes import ROOT, current_database_url, wait_until
from tests.recognition_data import expected_macro_f1

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

Status = Submission.Status
BACKLOG = 8
SOFT_LIMIT, HARD_LIMIT, SWEEP_INTERVAL = 5, 6, 2


def test_workers_killed_behind_a_backlog_fail_nothing_and_mail_nobody(
    celery_processes, smtp_sink, open_phase, alice, alice_team
):
    env = {
        "EVALSERVER_SCORING_SOFT_TIME_LIMIT": str(SOFT_LIMIT),
        "EVALSERVER_SCORING_TIME_LIMIT": str(HARD_LIMIT),
        "EVALSERVER_SWEEP_INTERVAL": str(SWEEP_INTERVAL),
        **smtp_sink.env(),
    }
    scoring = {"EVALSERVER_TEST_SCORING_DELAY_MS": "1500", **env}
    beat = celery_processes.beat(**env)
    workers = [celery_processes.worker(name, **scoring) for name in ("w1", "w2")]

    predictions = {}
    for _ in range(BACKLOG):
        upload, prediction = open_phase.upload()
        submission = submission_create(user=alice, phase=open_phase.phase, upload=upload)
        predictions[submission.pk] = prediction
    backlog = Submission.objects.filter(pk__in=predictions)

    def two_running():
        running = list(backlog.filter(status=Status.RUNNING).values_list("pk", flat=True))
        return running if len(running) == 2 else None

    killed = wait_until(two_running, timeout=60, what="both workers to be scoring")
    for worker in workers:
        worker.kill_group()
    down_since = time.monotonic()
    sweeps_before = beat.output().count("Sweep:")

    # Down for longer than the hard limit plus an interval (the old sweeper failed the
    # killed ones then); beat sweeps all along, whatever is queued.
    down_for = HARD_LIMIT + 2 * SWEEP_INTERVAL + 2
    time.sleep(down_for)
    sweeps_while_down = beat.output().count("Sweep:") - sweeps_before
    assert not backlog.filter(status=Status.FAILED).exists()
    assert set(backlog.filter(status=Status.QUEUED).values_list("pk", flat=True)) >= set(killed)
    assert sweeps_while_down >= down_for // SWEEP_INTERVAL - 1, beat.output()[-2000:]

    restarted = time.monotonic()
    workers_down = f"{restarted - down_since:.1f}s"
    for name in ("w3", "w4"):
        celery_processes.worker(name, **scoring)
    wait_until(
        lambda: not backlog.exclude(status__in=[Status.FINISHED, Status.FAILED]).exists(),
        timeout=120,
        what="the whole backlog to finish",
    )
    report(
        "workers-killed-behind-backlog",
        backlog=BACKLOG,
        killed_mid_scoring=len(killed),
        workers_down=workers_down,
        sweeps_while_down=sweeps_while_down,
        all_finished_after_restart=elapsed(restarted),
        failed=backlog.filter(status=Status.FAILED).count(),
        mails=len(smtp_sink.messages),
    )
    for submission in backlog:
        assert submission.status == Status.FINISHED, submission.errors
        assert submission.primary_score == pytest.approx(
            expected_macro_f1(open_phase.truth, predictions[submission.pk])
        )
        actions = list(submission.events.values_list("action", flat=True))
        if submission.pk in killed:
            assert submission.attempts == 2
            assert actions == ["created", "started", "requeued", "started", "finished"]
            requeued = submission.events.get(action="requeued").detail
            assert requeued["reason"] == "worker_lost"
        else:
            assert (submission.attempts, actions) == (1, ["created", "started", "finished"])
    assert smtp_sink.messages == []

    # The sink does receive what these processes send: a mail from the same settings.
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "sendtestemail", "x@example.org"],
        cwd=ROOT,
        env={**celery_processes.base_env, "DATABASE_URL": current_database_url(), **env},
        check=True,
        capture_output=True,
        timeout=60,
    )
    wait_until(lambda: smtp_sink.messages, timeout=10, what="the control mail")
