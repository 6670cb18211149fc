"""A plain file larger than what the scorer reads is refused at upload, not in the worker.

The scorer reads at most EVALSERVER_DETECTION_MAX_BYTES of a detection CSV (64 MiB of a
recognition answer), counted uncompressed. A plain upload's size is its content's, so
submission_create refuses it at once; a zip or gzip only says how large its content is
when it is decompressed, so the worker holds it to the cap then.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from evalserver.errors import FileTooLarge
from evalserver.scoring import recognition
from submissions.models import Submission
from submissions.services import submission_create

pytestmark = pytest.mark.django_db

Status = Submission.Status
CAP = 64 * 1024


@pytest.fixture
def small_cap(settings):
    settings.EVALSERVER_DETECTION_MAX_BYTES = CAP


def _stored_files(settings) -> list[Path]:
    return [p for p in Path(settings.UPLOAD_ROOT).rglob("*") if p.is_file()]


def _stored_zip(data: bytes) -> bytes:
    # No compression: the archive is larger than the CSV inside it.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("dets.csv", data)
    return buf.getvalue()


def test_a_plain_csv_over_the_cap_is_refused_at_upload(
    small_cap, settings, detection, alice, alice_team
):
    data = detection.noisy_csv()
    assert len(data) > CAP  # and far below the phase's own upload cap
    assert len(data) < detection.phase.max_upload_bytes

    with pytest.raises(FileTooLarge) as refused:
        submission_create(
            user=alice, phase=detection.phase, upload=SimpleUploadedFile("dets.csv", data)
        )

    size = f"{len(data) / (1024 * 1024):.1f} MB"
    assert refused.value.message == (
        f"The file is {size}; a detection CSV may be at most 0.1 MB, counted uncompressed "
        "(inside a .gz or .zip too). Leave out low-scoring boxes and upload again."
    )
    assert not Submission.objects.exists()
    assert _stored_files(settings) == []


def test_a_plain_csv_of_exactly_the_cap_is_scored(
    settings, inprocess_sync, detection, alice, alice_team
):
    data = detection.noisy_csv()
    settings.EVALSERVER_DETECTION_MAX_BYTES = len(data)

    with inprocess_sync():
        submission = submission_create(
            user=alice, phase=detection.phase, upload=SimpleUploadedFile("dets.csv", data)
        )

    submission.refresh_from_db()
    assert submission.status == Status.FINISHED, submission.errors


def test_an_archive_over_the_cap_is_left_to_the_worker(
    small_cap, inprocess_sync, detection, alice, alice_team
):
    upload = _stored_zip(detection.noisy_csv())
    assert len(upload) > CAP

    with inprocess_sync():
        submission = submission_create(
            user=alice, phase=detection.phase, upload=SimpleUploadedFile("dets.zip", upload)
        )

    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert (
        submission.errors[0] == "'dets.csv' in the zip archive is larger than the limit of 64 KiB"
    )


def test_the_file_name_does_not_decide_what_is_an_archive(small_cap, detection, alice, alice_team):
    # A plain CSV named .gz is still plain: its size is its content's.
    with pytest.raises(FileTooLarge):
        submission_create(
            user=alice,
            phase=detection.phase,
            upload=SimpleUploadedFile("dets.csv.gz", detection.noisy_csv()),
        )


def test_a_plain_answer_file_over_the_recognition_cap_is_refused(phase, alice, alice_team):
    cap = recognition.DEFAULT_MAX_BYTES
    assert cap < phase.max_upload_bytes

    with pytest.raises(FileTooLarge) as refused:
        submission_create(
            user=alice, phase=phase, upload=SimpleUploadedFile("answer.txt", b"0" * (cap + 1))
        )

    assert refused.value.message == (
        "The file is 64.0 MB; a predictions file may be at most 64 MB uncompressed."
    )
    assert not Submission.objects.exists()


def test_the_api_answers_413_with_the_reason(small_cap, detection, alice_team, alice_api):
    response = alice_api.post(
        f"/api/v1/phases/{detection.phase.pk}/submissions/",
        {"file": SimpleUploadedFile("dets.csv", detection.noisy_csv())},
        format="multipart",
    )

    assert response.status_code == 413
    assert (
        "a detection CSV may be at most 0.1 MB, counted uncompressed" in (response.json()["detail"])
    )


def _page(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_the_page_says_both_caps_and_shows_the_refusal_at_the_file(
    small_cap, detection, alice, alice_team
):
    client = _page(alice)
    url = reverse("phase-detail", args=[detection.phase.pk])

    html = client.get(url).content.decode()
    assert "At most 100.0\xa0MB, and 64.0\xa0KB once decompressed." in html

    response = client.post(url, {"file": SimpleUploadedFile("dets.csv", detection.noisy_csv())})
    assert response.status_code == 413
    file_errors = re.search(
        r'id="id_file_error" data-error-for="file"[^>]*>(.*?)</ul>', response.content.decode(), re.S
    )
    assert file_errors is not None
    assert "a detection CSV may be at most 0.1 MB" in file_errors.group(1)
    assert not Submission.objects.exists()


def test_the_page_says_one_cap_when_the_upload_cap_is_the_smaller(
    settings, detection, alice, alice_team
):
    settings.EVALSERVER_DETECTION_MAX_BYTES = 512 * 1024 * 1024
    html = _page(alice).get(reverse("phase-detail", args=[detection.phase.pk])).content.decode()
    assert "At most 100.0\xa0MB." in html
