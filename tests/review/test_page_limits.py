"""The upload page: the same field limits as the API, and rules that say what the server
enforces."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from submissions.models import Submission
from tests.recognition_data import LABELLED_CLIPS, answer_bytes, random_matrix

pytestmark = pytest.mark.django_db


def _post(browser, phase, **fields):
    upload = SimpleUploadedFile("answer.txt", answer_bytes(random_matrix(LABELLED_CLIPS, seed=1)))
    return browser.post(
        reverse("phase-detail", args=[phase.pk]),
        {"file": upload, **fields},
        HTTP_ACCEPT="application/json",
    )


def test_the_page_refuses_a_description_the_api_refuses(alice_web, alice_team, phase_labelled):
    response = _post(alice_web, phase_labelled, description="d" * 5001)
    assert response.status_code == 400
    assert "description" in response.json()["errors"]
    assert Submission.objects.count() == 0
    assert _post(alice_web, phase_labelled, description="d" * 5000).status_code == 201


def test_a_limit_of_zero_is_shown_as_zero_not_as_no_limit(alice_web, alice_team, phase_labelled):
    phase_labelled.max_submissions_per_day = 0
    phase_labelled.max_submissions_total = 0
    phase_labelled.save()
    html = alice_web.get(reverse("phase-detail", args=[phase_labelled.pk])).content.decode()
    assert "no daily limit" not in html
    assert "no total limit" not in html
    assert "0 a day (UTC)" in html
    assert "0 in total" in html
    assert _post(alice_web, phase_labelled).status_code == 429
