"""A scoring that read the old labels never saves after the labels changed under it: the
submission goes back to the queue and is scored against the new ones."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections

from evalserver.challenges.services import phase_set_labels
from submissions.models import Submission
from submissions.services import submission_score
from tests.console.conftest import fixed_truth
from tests.recognition_data import (
    answer_bytes,
    expected_macro_f1,
    labels_json,
    phase_with_labels,
    random_matrix,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_labels_replaced_while_scoring_send_the_submission_back_to_the_queue(
    settings, challenge, alice, alice_team
):
    truth = random_matrix(40, seed=5)
    fixed = fixed_truth(truth)
    phase = phase_with_labels(truth, challenge=challenge, slug="g", name="G")
    prediction = random_matrix(40, seed=6, density=0.3)
    # The requeued scoring runs at once in this process (no broker).
    settings.EVALSERVER_INPROCESS_TASKS = True
    settings.EVALSERVER_INPROCESS_SYNC = True
    # A row made directly is not handed out: the first scoring is called by hand below.
    submission = Submission.objects.create(
        team=alice_team, phase=phase, submitted_by=alice, status="queued"
    )
    submission.file.save("a.txt", SimpleUploadedFile("a.txt", answer_bytes(prediction)))
    settings.EVALSERVER_TEST_SCORING_DELAY_MS = 1500
    outcome: list[str] = []

    def score():
        try:
            outcome.append(submission_score(submission_id=submission.pk, worker="t"))
        finally:
            connections.close_all()

    thread = threading.Thread(target=score)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if Submission.objects.filter(pk=submission.pk, status="running").exists():
            break
        time.sleep(0.05)
    # The organizer replaces the labels while the first scoring sleeps with the old ones.
    phase_set_labels(phase=phase, data=labels_json(fixed), filename="fixed.json")
    settings.EVALSERVER_TEST_SCORING_DELAY_MS = 0
    thread.join(30)

    assert outcome == ["requeued"]
    submission.refresh_from_db()
    assert submission.status == "finished"
    assert submission.primary_score == pytest.approx(expected_macro_f1(fixed, prediction))
    actions = list(submission.events.values_list("action", flat=True))
    assert actions[:3] == ["started", "requeued", "started"]
