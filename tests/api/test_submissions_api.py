"""Submission endpoints: upload, the team's list, one submission; 404 across teams."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from submissions.models import Submission
from tests.factories import SubmissionFactory, UserFactory

pytestmark = pytest.mark.django_db

SCORES = {"track": "classification", "primary_metric": "macro_f1", "macro_f1": 0.25}


def _upload(client, phase, content=b"00000 " + b"0 " * 25 + b"1\n", name="answer.txt", **extra):
    return client.post(
        f"/api/v1/phases/{phase.pk}/submissions/",
        {"file": SimpleUploadedFile(name, content), **extra},
        format="multipart",
    )


@pytest.fixture
def alice_finished(alice_team, alice, phase):
    return SubmissionFactory(
        team=alice_team,
        phase=phase,
        submitted_by=alice,
        status=Submission.Status.FINISHED,
        scores=SCORES,
        primary_score=0.25,
        method_name="I3D",
        created_at=timezone.now() - dt.timedelta(hours=2),
    )


@pytest.fixture
def bob_failed(alice_team, bob, phase):
    return SubmissionFactory(
        team=alice_team,
        phase=phase,
        submitted_by=bob,
        status=Submission.Status.FAILED,
        errors=["line 17: expected 26 values, found 25"],
        created_at=timezone.now() - dt.timedelta(hours=1),
    )


@pytest.fixture
def charlie_submission(charlie_team, charlie, phase):
    return SubmissionFactory(team=charlie_team, phase=phase, submitted_by=charlie)


# --- POST /api/v1/phases/{id}/submissions/ -----------------------------------------------


def test_upload_answers_201_with_id_and_status_queued(alice_team, bob_api, phase_labelled):
    phase = phase_labelled
    response = _upload(bob_api, phase, method_name="TSM", description="8 frames")
    assert response.status_code == 201, response.json()
    body = response.json()
    submission = Submission.objects.get(pk=body["id"])
    assert body["status"] == "queued"
    assert body["scores"] is None
    assert body["errors"] == []
    assert body["team"] == "Alpha"
    assert body["submitted_by"] == "bob"
    assert body["method_name"] == "TSM"
    assert body["original_filename"] == "answer.txt"
    assert submission.team == alice_team
    assert submission.description == "8 frames"


def test_upload_without_a_team_is_403(charlie_api, phase):
    response = _upload(charlie_api, phase)
    assert response.status_code == 403
    assert "not in a team" in response.json()["detail"]
    assert response.json()["code"] == "not_in_team"


def test_upload_to_a_closed_phase_is_403(alice_team, alice_api, phase):
    phase.is_open = False
    phase.save(update_fields=["is_open"])
    response = _upload(alice_api, phase)
    assert response.status_code == 403
    assert response.json()["code"] == "phase_closed"
    assert response.json()["detail"]


def test_upload_after_the_end_is_403(alice_team, alice_api, phase, time_machine):
    time_machine.move_to(phase.ends_at + dt.timedelta(seconds=1))
    response = _upload(alice_api, phase)
    assert response.status_code == 403
    assert "ended" in response.json()["detail"]


def test_upload_too_large_is_413(alice_team, alice_api, phase):
    phase.max_upload_bytes = 10
    phase.save(update_fields=["max_upload_bytes"])
    response = _upload(alice_api, phase)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_upload_over_the_daily_quota_is_429(alice_team, alice_api, phase_labelled):
    phase = phase_labelled
    phase.max_submissions_per_day = 1
    phase.save(update_fields=["max_submissions_per_day"])
    assert _upload(alice_api, phase).status_code == 201
    response = _upload(alice_api, phase)
    assert response.status_code == 429
    assert response.json()["code"] == "quota_exceeded"
    assert "Daily limit" in response.json()["detail"]


def test_upload_without_a_file_is_400(alice_team, alice_api, phase):
    response = alice_api.post(f"/api/v1/phases/{phase.pk}/submissions/", {}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["errors"]


def test_upload_of_an_empty_file_is_400(alice_team, alice_api, phase):
    response = _upload(alice_api, phase, content=b"")
    assert response.status_code == 400
    assert "empty" in response.json()["detail"]


def test_upload_to_an_unknown_phase_is_404(alice_api):
    from evalserver.challenges.models import Phase

    response = _upload(alice_api, Phase(pk=999999))
    assert response.status_code == 404


def test_upload_as_json_is_415(alice_team, alice_api, phase):
    response = alice_api.post(
        f"/api/v1/phases/{phase.pk}/submissions/", {"file": "x"}, format="json"
    )
    assert response.status_code == 415
    assert response.json()["detail"]


def test_uploads_are_rate_limited_per_user_apart_from_the_quota(
    alice_team, alice_api, phase_labelled, monkeypatch
):
    phase = phase_labelled
    from rest_framework.throttling import SimpleRateThrottle

    # The rates are read when DRF is imported; give uploads a tiny one for this test.
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "uploads": "2/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    phase.max_submissions_per_day = None
    phase.max_submissions_total = None
    phase.save(update_fields=["max_submissions_per_day", "max_submissions_total"])
    assert [_upload(alice_api, phase).status_code for _ in range(2)] == [201, 201]
    response = _upload(alice_api, phase)
    assert response.status_code == 429
    assert "throttled" in response.json()["detail"]
    assert int(response["Retry-After"]) > 0
    # Reads are not counted as uploads.
    assert alice_api.get(f"/api/v1/phases/{phase.pk}/submissions/").status_code == 200


# --- GET /api/v1/phases/{id}/submissions/ ------------------------------------------------


def test_list_shows_the_team_its_own_submissions_newest_first(
    alice_api, bob_api, alice_finished, bob_failed, charlie_submission, phase
):
    for client in (alice_api, bob_api):
        body = client.get(f"/api/v1/phases/{phase.pk}/submissions/").json()
        assert body["count"] == 2
        assert [s["id"] for s in body["results"]] == [bob_failed.pk, alice_finished.pk]


def test_list_for_another_team_shows_only_its_own(
    charlie_api, alice_finished, charlie_submission, phase
):
    body = charlie_api.get(f"/api/v1/phases/{phase.pk}/submissions/").json()
    assert [s["id"] for s in body["results"]] == [charlie_submission.pk]


def test_list_for_a_user_without_a_team_is_empty(phase, alice_finished):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(UserFactory(username="dora"))
    assert client.get(f"/api/v1/phases/{phase.pk}/submissions/").json()["count"] == 0


def test_organizers_see_every_teams_submissions(
    phase, challenge, alice_finished, charlie_submission
):
    from rest_framework.test import APIClient

    organizer = UserFactory(username="olga")
    challenge.organizers.add(organizer)
    client = APIClient()
    client.force_authenticate(organizer)
    body = client.get(f"/api/v1/phases/{phase.pk}/submissions/").json()
    assert {s["id"] for s in body["results"]} == {alice_finished.pk, charlie_submission.pk}
    assert client.get(f"/api/v1/submissions/{charlie_submission.pk}/").status_code == 200


def test_list_of_an_unknown_phase_is_404(alice_api):
    response = alice_api.get("/api/v1/phases/999999/submissions/")
    assert response.status_code == 404
    assert response.json()["detail"]


def test_list_is_paginated(alice_api, alice_team, alice, phase):
    for _ in range(3):
        SubmissionFactory(team=alice_team, phase=phase, submitted_by=alice)
    body = alice_api.get(f"/api/v1/phases/{phase.pk}/submissions/?page=1").json()
    assert body["count"] == 3
    assert set(body) == {"count", "next", "previous", "results"}


def test_the_list_costs_a_fixed_number_of_queries(
    alice_api, alice_team, alice, bob, phase, django_assert_num_queries
):
    for n in range(20):
        SubmissionFactory(team=alice_team, phase=phase, submitted_by=alice if n % 2 else bob)
    # the phase with the organizer check and the user's team, the page with its count: no
    # query per row; plus 6 for the user throttle's counter in the database cache.
    with django_assert_num_queries(2 + 6):
        response = alice_api.get(f"/api/v1/phases/{phase.pk}/submissions/")
    assert len(response.json()["results"]) == 20


def test_the_organizers_list_costs_a_fixed_number_of_queries(
    organizer, alice_team, charlie_team, alice, charlie, phase, django_assert_num_queries
):
    from rest_framework.test import APIClient

    for n in range(60):
        SubmissionFactory(
            team=alice_team if n % 2 else charlie_team,
            phase=phase,
            submitted_by=alice if n % 2 else charlie,
        )
    client = APIClient()
    client.force_authenticate(organizer)
    # the phase with the organizer check, COUNT(*), the page; plus 6 for the throttle.
    for page in (1, 2):
        with django_assert_num_queries(3 + 6):
            body = client.get(f"/api/v1/phases/{phase.pk}/submissions/?page={page}").json()
        assert body["count"] == 60
        assert len(body["results"]) == (50 if page == 1 else 10)


# --- GET /api/v1/submissions/{id}/ -------------------------------------------------------


def test_detail_of_a_finished_submission_carries_the_scores(alice_api, bob_api, alice_finished):
    for client in (alice_api, bob_api):
        body = client.get(f"/api/v1/submissions/{alice_finished.pk}/").json()
        assert body["status"] == "finished"
        assert body["scores"] == SCORES
        assert body["primary_score"] == 0.25
        assert body["errors"] == []
        assert body["phase"] == alice_finished.phase_id
        assert body["method_name"] == "I3D"


def test_detail_of_a_failed_submission_carries_the_errors(alice_api, bob_failed):
    body = alice_api.get(f"/api/v1/submissions/{bob_failed.pk}/").json()
    assert body["status"] == "failed"
    assert body["scores"] is None
    assert body["errors"] == ["line 17: expected 26 values, found 25"]


def test_scores_stay_hidden_until_the_submission_is_finished(alice_api, alice_team, phase):
    # A rescore in progress keeps the old numbers in the row; they must not show.
    running = SubmissionFactory(
        team=alice_team, phase=phase, status=Submission.Status.RUNNING, scores=SCORES
    )
    body = alice_api.get(f"/api/v1/submissions/{running.pk}/").json()
    assert body["scores"] is None
    assert body["primary_score"] is None


def test_detail_never_exposes_file_paths_or_hashes(alice_api, alice_finished):
    body = alice_api.get(f"/api/v1/submissions/{alice_finished.pk}/").json()
    assert not {"file", "file_sha256", "worker", "attempts"} & set(body)


def test_other_teams_submissions_are_404(
    charlie_api, alice_api, alice_finished, charlie_submission
):
    response = charlie_api.get(f"/api/v1/submissions/{alice_finished.pk}/")
    assert response.status_code == 404
    assert response.json()["detail"] == "No such submission."
    # Exactly what an id that does not exist answers: nothing to tell them apart.
    assert charlie_api.get("/api/v1/submissions/999999/").json() == response.json()
    assert alice_api.get(f"/api/v1/submissions/{charlie_submission.pk}/").status_code == 404


def test_submission_endpoints_need_authentication(api, phase, alice_finished):
    assert api.get(f"/api/v1/phases/{phase.pk}/submissions/").status_code == 401
    assert api.get(f"/api/v1/submissions/{alice_finished.pk}/").status_code == 401
    assert _upload(api, phase).status_code == 401
