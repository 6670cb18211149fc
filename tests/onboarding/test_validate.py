"""Check only (issue 14 item 3): full validation, nothing stored, no quota, no label leak."""

import gzip
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from evalserver.challenges.services import phase_set_labels
from submissions.models import Submission, SubmissionEvent
from submissions.services import submission_quota
from tests.clients import logged_in
from tests.factories import PhaseFactory
from tests.recognition_data import (
    answer_bytes,
    answer_txt,
    clip_ids,
    labelled_truth,
    labels_json,
)

pytestmark = pytest.mark.django_db


def _files() -> set[Path]:
    return {p for p in Path(settings.UPLOAD_ROOT).rglob("*") if p.is_file()}


def _good(phase) -> bytes:
    return answer_bytes(labelled_truth())


@pytest.fixture
def api(alice):
    client = APIClient()
    client.force_authenticate(alice)
    return client


def _validate(client, phase, data: bytes, name="answer.txt"):
    return client.post(
        f"/api/v1/phases/{phase.pk}/validate/",
        {"file": SimpleUploadedFile(name, data)},
        format="multipart",
    )


def test_a_valid_file_is_valid_and_nothing_changes(api, phase_labelled, alice_team):
    quota = submission_quota(team=alice_team, phase=phase_labelled)
    response = _validate(api, phase_labelled, _good(phase_labelled))
    assert response.status_code == 200, response.json()
    assert response.json() == {"valid": True, "errors": [], "n_items": phase_labelled.n_items}
    assert submission_quota(team=alice_team, phase=phase_labelled) == quota
    assert not Submission.objects.exists()
    assert not SubmissionEvent.objects.exists()
    assert _files() == set()


def test_an_invalid_file_lists_the_scorers_messages(api, phase_labelled, alice_team):
    ids = clip_ids(phase_labelled.n_items)
    ids[3] = ids[2]
    matrix = labelled_truth()
    body = _validate(api, phase_labelled, answer_txt(ids, matrix)).json()
    assert body["valid"] is False
    assert f"line 4: clip id {ids[2]!r} already given on line 3" in body["errors"]
    assert any("missing" in e for e in body["errors"])
    assert not Submission.objects.exists()


def test_archives_are_opened_like_uploads(api, phase_labelled):
    body = _validate(api, phase_labelled, gzip.compress(_good(phase_labelled)), "a.txt.gz").json()
    assert body["valid"] is True


def test_the_caps_are_the_uploads(api, phase_labelled):
    phase_labelled.max_upload_bytes = 100
    phase_labelled.save()
    response = _validate(api, phase_labelled, _good(phase_labelled))
    assert response.status_code == 413
    phase_labelled.max_upload_bytes = 10_000
    phase_labelled.save()
    empty = _validate(api, phase_labelled, b"").json()
    assert empty == {
        "valid": False,
        "errors": ["The file is empty; upload your predictions file."],
        "n_items": phase_labelled.n_items,
    }


def test_a_phase_without_labels_says_so(api, phase):
    response = _validate(api, phase, b"00000 1\n")
    assert response.status_code == 409


def test_the_answer_depends_on_clip_ids_only_never_on_labels(api, phase_labelled, challenge):
    # Same clips, other labels: every answer is identical, so nothing about labels leaks.
    twin = PhaseFactory(challenge=challenge, slug="twin", name="Twin")
    matrix = labelled_truth()
    phase_set_labels(phase=twin, data=labels_json(1 - matrix), filename="l.json")
    twin.refresh_from_db()
    ids = clip_ids(phase_labelled.n_items)
    samples = [_good(phase_labelled), answer_txt(ids[:-1], matrix[:-1]), b"x y z\n"]
    for data in samples:
        assert _validate(api, phase_labelled, data).json() == _validate(api, twin, data).json()


def test_check_only_needs_a_sign_in_and_is_throttled_like_uploads(phase_labelled, api, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    assert _validate(APIClient(), phase_labelled, b"x").status_code == 401
    # The rates are read when DRF is imported; give uploads a tiny one for this test.
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "uploads": "2/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    codes = [_validate(api, phase_labelled, b"x").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# --- The page's "Check only" button -------------------------------------------------------


def test_the_check_only_button_answers_json_and_stores_nothing(phase_labelled, alice, alice_team):
    browser = logged_in(alice)
    url = reverse("phase-check", args=[phase_labelled.pk])
    response = browser.post(
        url,
        {"file": SimpleUploadedFile("answer.txt", _good(phase_labelled))},
        headers={"Accept": "application/json"},
    )
    assert response.json() == {"valid": True, "errors": [], "n_items": phase_labelled.n_items}
    assert not Submission.objects.exists()
    assert _files() == set()


def test_without_javascript_the_page_shows_the_result(phase_labelled, alice, alice_team):
    browser = logged_in(alice)
    response = browser.post(
        reverse("phase-check", args=[phase_labelled.pk]),
        {"file": SimpleUploadedFile("answer.txt", b"00000,1,0\n")},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "data-check-invalid" in html
    assert "fields are separated by commas or semicolons" in html
    assert not Submission.objects.exists()


def test_the_phase_page_offers_check_only_and_format_help(phase_labelled, alice, alice_team):
    html = logged_in(alice).get(reverse("phase-detail", args=[phase_labelled.pk])).content.decode()
    assert "Check only" in html
    assert "What answer.txt looks like" in html
    first = clip_ids(phase_labelled.n_items)[0]
    assert f"{first} 1 0 0" in html
    # Each common mistake with the scorer's own message for it.
    assert "already given on line" in html
    assert "3 clip ids missing" in html
    assert "value &#x27;0.73&#x27; in column 1 is not 0 or 1" in html
    assert "separated by commas" in html
    assert "zero-padded: did you mean" in html
    assert "0: Opening" in html
