"""Phases an organizer has not finished setting up, or that are over."""

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from submissions.models import Submission
from tests.factories import PhaseFactory
from tests.recognition_data import answer_bytes, random_matrix

pytestmark = pytest.mark.django_db


def test_joining_a_team_after_the_phase_is_allowed_but_uploads_are_not(
    challenge, alice_team, charlie_api
):
    over = PhaseFactory(
        challenge=challenge,
        starts_at=timezone.now() - dt.timedelta(days=20),
        ends_at=timezone.now() - dt.timedelta(days=1),
    )
    joined = charlie_api.post(
        f"/api/v1/teams/{alice_team.pk}/join/", {"invite_code": alice_team.invite_code}
    )
    # The team may grow after a deadline (to see its own results); it cannot submit.
    assert joined.status_code == 200
    upload = SimpleUploadedFile("answer.txt", answer_bytes(random_matrix(5, seed=1)))
    response = charlie_api.post(
        f"/api/v1/phases/{over.pk}/submissions/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "phase_closed"
    assert "ended at" in response.json()["detail"]


def test_an_upload_to_a_phase_without_labels_is_refused_without_blaming_the_file(
    alice_api, alice_team, phase, inprocess_sync
):
    upload = SimpleUploadedFile("answer.txt", answer_bytes(random_matrix(5, seed=1)))
    response = alice_api.post(
        f"/api/v1/phases/{phase.pk}/submissions/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "phase_closed"
    assert body["detail"] == (
        f"Phase {phase.name!r} cannot take submissions yet: it has no hidden labels to "
        "score them against. The organizers have been told; try again later."
    )
    assert not Submission.objects.exists()
    assert not any(Path(settings.UPLOAD_ROOT).rglob("*.txt"))
