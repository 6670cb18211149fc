"""Check only on a detection phase (issue 14): both layouts, the scorer's messages."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from evalserver.scoring.detection import HEADER
from submissions.models import Submission
from tests.detection.conftest import frame_by_frame_csv
from tests.detection.test_2022_upload import perfect_2022_zip

pytestmark = pytest.mark.django_db


def _check(user, phase, data: bytes, name: str) -> dict:
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(
        f"/api/v1/phases/{phase.pk}/validate/",
        {"file": SimpleUploadedFile(name, data)},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_a_csv_and_a_2022_zip_both_check_valid(detection, alice, alice_team):
    phase = detection.phase
    assert _check(alice, phase, frame_by_frame_csv(detection.records), "d.csv")["valid"]
    zipped = _check(alice, phase, perfect_2022_zip(detection.records[:5]), "preds.zip")
    assert zipped == {"valid": True, "errors": [], "n_items": phase.n_items}
    assert not Submission.objects.exists()


def test_a_bad_row_gets_the_scorers_message(detection, alice, alice_team):
    first = detection.records[0]["id"]
    bad = f"{HEADER}\n{first},0,0,Opening,1.5,1,1,5,5\n".encode()
    body = _check(alice, detection.phase, bad, "d.csv")
    assert body["valid"] is False
    assert body["errors"][0].startswith("line 2: ")
