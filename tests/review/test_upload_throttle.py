"""Uploads through the phase page count against the API's uploads throttle (per user,
EVALSERVER_THROTTLE_UPLOADS), on the same counter as the API."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from submissions.models import Submission
from tests.clients import logged_in
from tests.recognition_data import answer_bytes, random_matrix

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_uploads_a_minute(monkeypatch, phase_labelled):
    # The rates are read when DRF is imported; give uploads a tiny one for these tests.
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "uploads": "2/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    phase_labelled.max_submissions_per_day = None
    phase_labelled.max_submissions_total = None
    phase_labelled.save(update_fields=["max_submissions_per_day", "max_submissions_total"])
    return phase_labelled


def _file() -> SimpleUploadedFile:
    return SimpleUploadedFile("answer.txt", answer_bytes(random_matrix(5, seed=3)))


def _page_upload(client, phase, *, as_json: bool = False):
    headers = {"HTTP_ACCEPT": "application/json"} if as_json else {}
    return client.post(reverse("phase-detail", args=[phase.pk]), {"file": _file()}, **headers)


def _api_upload(client, phase):
    return client.post(
        f"/api/v1/phases/{phase.pk}/submissions/", {"file": _file()}, format="multipart"
    )


def test_page_uploads_are_rate_limited_per_user(two_uploads_a_minute, alice, alice_team):
    phase = two_uploads_a_minute
    browser = logged_in(alice)

    responses = [_page_upload(browser, phase) for _ in range(3)]

    assert [r.status_code for r in responses] == [302, 302, 429]
    refused = responses[2]
    assert 0 < int(refused["Retry-After"]) <= 60
    errors = re.search(r'data-error-for="__all__"[^>]*>(.*?)</ul>', refused.content.decode(), re.S)
    assert errors is not None
    assert "You are uploading too fast. Try again in" in errors.group(1)
    assert Submission.objects.count() == 2


def test_a_script_on_the_page_gets_json_with_retry_after(two_uploads_a_minute, alice, alice_team):
    phase = two_uploads_a_minute
    browser = logged_in(alice)
    assert [_page_upload(browser, phase, as_json=True).status_code for _ in range(2)] == [201, 201]

    refused = _page_upload(browser, phase, as_json=True)

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["detail"].startswith("You are uploading too fast. Try again in")
    assert Submission.objects.count() == 2


def test_the_page_and_the_api_share_one_upload_counter(
    two_uploads_a_minute, alice, alice_team, alice_api
):
    phase = two_uploads_a_minute
    browser = logged_in(alice)

    assert _api_upload(alice_api, phase).status_code == 201
    assert _page_upload(browser, phase).status_code == 302
    assert _page_upload(browser, phase).status_code == 429
    assert _api_upload(alice_api, phase).status_code == 429
    assert Submission.objects.count() == 2


def test_another_user_has_their_own_counter(two_uploads_a_minute, alice, bob, alice_team):
    phase = two_uploads_a_minute
    alice_browser = logged_in(alice)
    for _ in range(2):
        _page_upload(alice_browser, phase)
    assert _page_upload(alice_browser, phase).status_code == 429

    assert _page_upload(logged_in(bob), phase).status_code == 302
