"""EVALSERVER_LOG_FORMAT=json in a real worker: one JSON object per line, and the lines of
a scoring task carry the submission id."""

from __future__ import annotations

import json

import pytest

from evalserver.ops.models import WorkerHeartbeat
from submissions.models import Submission
from submissions.services import submission_create
from tests.pipeline.conftest import wait_for_status, wait_until

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]


def test_a_json_logging_worker_tags_its_task_lines_with_the_submission_id(
    start_worker, labelled_phase, alice, alice_team
):
    worker = start_worker("w1", EVALSERVER_LOG_FORMAT="json")
    upload, _ = labelled_phase.upload()
    submission = submission_create(user=alice, phase=labelled_phase.phase, upload=upload)
    wait_for_status(submission, {Submission.Status.FINISHED})
    # The task logs its outcome just after the row is saved.
    wait_until(
        lambda: f"Submission {submission.pk}: finished" in worker.output(),
        timeout=30,
        what="the task's outcome line",
    )
    worker.stop()

    lines = [line for line in worker.output().splitlines() if line.strip()]
    records = []
    for line in lines:
        if line.startswith("{"):
            records.append(json.loads(line))
    # Celery's banner is printed, not logged; every logged line is one JSON object.
    assert records, worker.output()
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    tagged = [r for r in records if r.get("submission_id") == submission.pk]
    assert any(r["message"] == f"Submission {submission.pk}: finished" for r in tagged), lines
    # The worker's own lines outside any task carry none.
    assert any(r.get("submission_id") is None for r in records)
    # It said it was alive, for /metrics' evalserver_worker_last_seen_seconds.
    assert WorkerHeartbeat.objects.filter(name__startswith="w1@").exists()
