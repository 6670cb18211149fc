"""The label-fix preview on real workers: a pool process killed by signal mid-preview, and
a submission uploaded while the preview runs."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from evalserver.console.models import Rescore, RescoreResult
from submissions.models import Submission
from submissions.services import submission_create
from tests.pipeline.conftest import wait_for_status, wait_until
from tests.recognition_data import answer_bytes, expected_macro_f1, labels_json, random_matrix

pytestmark = [pytest.mark.pipeline, pytest.mark.django_db(transaction=True)]

DONE = {"finished", "failed", "cancelled"}


def _upload(user, phase, prediction: np.ndarray) -> Submission:
    return submission_create(
        user=user, phase=phase, upload=SimpleUploadedFile("a.txt", answer_bytes(prediction))
    )


def test_a_preview_survives_a_killed_worker_and_a_submission_arriving_meanwhile(
    start_worker, labelled_phase, alice, alice_team, charlie, charlie_team, organizer_api
):
    worker = start_worker("w1", EVALSERVER_TEST_SCORING_DELAY_MS="700")
    phase = labelled_phase.phase
    truth = labelled_phase.truth
    fixed = truth.copy()
    fixed[::7] = random_matrix(len(fixed[::7]), seed=42)
    predictions = [labelled_phase.prediction() for _ in range(4)]
    predictions.append(fixed)  # perfect on the new labels
    submissions = []
    for i, prediction in enumerate(predictions):
        submissions.append(_upload(alice if i % 2 else charlie, phase, prediction))
    for submission in submissions:
        wait_for_status(submission, DONE, timeout=90)
        assert submission.status == "finished", submission.errors

    response = organizer_api.post(
        f"/api/v1/phases/{phase.pk}/rescores/",
        {"labels": SimpleUploadedFile("fixed.json", labels_json(fixed))},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    rescore = Rescore.objects.get(pk=response.json()["id"])

    # Kill the pool process once it has stored some results, mid-preview.
    wait_until(
        lambda: RescoreResult.objects.filter(rescore=rescore).count() >= 2,
        timeout=60,
        what="the preview to store two results",
    )
    rescore.refresh_from_db()
    assert rescore.status == "running"
    assert rescore.worker.startswith("w1@")
    child = int(rescore.worker.rsplit(":", 1)[1])
    assert child in worker.children()
    os.kill(child, signal.SIGKILL)

    # A submission arrives while the preview is (re)running.
    late_prediction = labelled_phase.prediction()
    late = _upload(alice, phase, late_prediction)

    def ready():
        rescore.refresh_from_db()
        return rescore.status in {"ready", "failed"}

    wait_until(ready, timeout=90, what="the preview to be ready")
    assert rescore.status == "ready", rescore.errors
    assert rescore.attempts == 2
    # Every submission scored once: the redelivered task resumed, the first results stand.
    scored = list(
        RescoreResult.objects.filter(rescore=rescore).values_list("submission_id", flat=True)
    )
    assert len(scored) == len(set(scored))
    assert set(s.pk for s in submissions) <= set(scored)
    # The live scores are still the old labels'.
    for submission, prediction in zip(submissions, predictions, strict=True):
        submission.refresh_from_db()
        assert submission.primary_score == pytest.approx(expected_macro_f1(truth, prediction))

    detail = organizer_api.get(f"/api/v1/rescores/{rescore.pk}/").json()
    late.refresh_from_db()
    if late.pk not in scored:
        assert late.pk in detail["diff"]["pending_submission_ids"]
    assert detail["diff"]["teams"][0]["new_score"] == pytest.approx(1.0)

    applied = organizer_api.post(f"/api/v1/rescores/{rescore.pk}/apply/")
    assert applied.status_code == 200, applied.json()

    wait_for_status(late, {"finished"}, timeout=90)
    wait_until(
        lambda: (
            Submission.objects.get(pk=late.pk).primary_score
            == pytest.approx(expected_macro_f1(fixed, late_prediction))
        ),
        timeout=90,
        what="the late submission to carry its score against the new labels",
    )
    for submission, prediction in zip(submissions, predictions, strict=True):
        submission.refresh_from_db()
        assert submission.primary_score == pytest.approx(expected_macro_f1(fixed, prediction))
