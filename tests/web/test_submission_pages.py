"""Uploading from the phase page, following a submission, and who may see what."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from submissions.models import Submission
from tests.factories import PhaseFactory, SubmissionFactory
from tests.recognition_data import answer_bytes, answer_with_duplicate, random_matrix

pytestmark = pytest.mark.django_db


def _upload(client, phase, content: bytes, *, name="answer.txt", as_json=False, **extra):
    headers = {"HTTP_ACCEPT": "application/json"} if as_json else {}
    return client.post(
        reverse("phase-detail", args=[phase.pk]),
        {"file": SimpleUploadedFile(name, content), **extra},
        **headers,
    )


@pytest.mark.usefixtures("inprocess_sync", "alice_team")
def test_an_upload_without_javascript_redirects_to_the_scored_submission(
    alice_web, labelled_phase, truth, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(alice_web, labelled_phase, answer_bytes(truth), method_name="Oracle")
    submission = Submission.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("submission-detail", args=[submission.pk])
    html = alice_web.get(response["Location"]).content.decode()
    assert "Finished" in html
    # The truth itself scores 1 on every class: 26 rows of the per-class table.
    assert html.count('<td class="num">1.0000</td>') == 26 * 3
    assert "Oracle" in html


@pytest.mark.usefixtures("inprocess_sync", "alice_team")
def test_an_upload_with_javascript_answers_json_with_the_submission_page(
    alice_web, labelled_phase, truth
):
    response = _upload(alice_web, labelled_phase, answer_bytes(truth), as_json=True)
    submission = Submission.objects.get()
    assert response.status_code == 201
    assert response.json() == {
        "id": submission.pk,
        "status": "queued",
        "url": reverse("submission-detail", args=[submission.pk]),
    }


@pytest.mark.usefixtures("inprocess_sync", "alice_team")
def test_a_bad_file_shows_its_line_errors(
    alice_web, labelled_phase, truth, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _upload(alice_web, labelled_phase, answer_with_duplicate(truth, line=17))
    submission = Submission.objects.get()
    assert submission.status == Submission.Status.FAILED
    html = alice_web.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "The file was not scored" in html
    assert "line 17" in html
    assert "failed submissions do not count" in html


@pytest.mark.usefixtures("alice_team")
def test_an_empty_file_is_refused_next_to_the_file_field(alice_web, labelled_phase):
    response = _upload(alice_web, labelled_phase, b"")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-error-for="file" tabindex="-1" role="alert"><li>The file is empty' in html
    assert not Submission.objects.exists()


@pytest.mark.usefixtures("alice_team")
def test_a_file_over_the_phase_cap_is_refused_with_json_on_the_file_field(alice_web, challenge):
    phase = PhaseFactory(challenge=challenge, max_upload_bytes=1024)
    response = _upload(alice_web, phase, b"0" * 2048, as_json=True)
    assert response.status_code == 413
    assert list(response.json()["errors"]) == ["file"]
    assert "limit for this phase" in response.json()["errors"]["file"][0]


@pytest.mark.usefixtures("alice_team")
def test_a_closed_phase_refuses_an_upload_and_says_why(alice_web, labelled_phase, truth):
    labelled_phase.is_open = False
    labelled_phase.save(update_fields=["is_open"])
    response = _upload(alice_web, labelled_phase, answer_bytes(truth))
    assert response.status_code == 403
    html = response.content.decode()
    assert "has been closed to submissions by the organizers" in html
    assert 'type="file"' not in html
    assert not Submission.objects.exists()


@pytest.mark.usefixtures("alice_team")
def test_the_daily_limit_refuses_with_a_message_for_the_whole_form(
    alice_web, alice_team, labelled_phase, truth
):
    for _ in range(labelled_phase.max_submissions_per_day):
        SubmissionFactory(phase=labelled_phase, team=alice_team)
    html = alice_web.get(reverse("phase-detail", args=[labelled_phase.pk])).content.decode()
    assert "<strong data-remaining-today>0</strong> of 3 left today" in html
    response = _upload(alice_web, labelled_phase, answer_bytes(truth), as_json=True)
    assert response.status_code == 429
    assert "Daily limit of 3 reached" in response.json()["errors"]["__all__"][0]


def test_a_user_without_a_team_cannot_upload(charlie_web, labelled_phase, truth):
    response = _upload(charlie_web, labelled_phase, answer_bytes(truth), as_json=True)
    assert response.status_code == 403
    assert "not in a team" in response.json()["detail"]


def test_an_anonymous_upload_is_sent_to_log_in(client, labelled_phase, truth):
    response = _upload(client, labelled_phase, answer_bytes(truth))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert _upload(client, labelled_phase, b"x", as_json=True).status_code == 403


def test_the_upload_form_needs_a_file(alice_web, alice_team, labelled_phase):
    response = alice_web.post(reverse("phase-detail", args=[labelled_phase.pk]), {})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_the_status_endpoint_is_small_json(alice_web, alice_team, labelled_phase):
    submission = SubmissionFactory(
        phase=labelled_phase, team=alice_team, status="finished", primary_score=0.25
    )
    response = alice_web.get(reverse("submission-status", args=[submission.pk]))
    assert response.json() == {
        "id": submission.pk,
        "status": "finished",
        "status_label": "Finished",
        "primary_score": 0.25,
        "is_done": True,
    }
    assert "no-cache" in response["Cache-Control"]


def test_polling_the_status_costs_a_few_queries(
    alice_web, alice_team, labelled_phase, django_assert_max_num_queries
):
    submission = SubmissionFactory(phase=labelled_phase, team=alice_team)
    # session + user, the submission, the membership check
    with django_assert_max_num_queries(4):
        alice_web.get(reverse("submission-status", args=[submission.pk]))


def test_the_team_downloads_its_own_file(alice_web, bob_web, alice_team, labelled_phase):
    submission = SubmissionFactory(
        phase=labelled_phase,
        team=alice_team,
        file__data=b"00000 1 0\n",
        original_filename="my answer.txt",
    )
    for client in (alice_web, bob_web):
        response = client.get(reverse("submission-file", args=[submission.pk]))
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == b"00000 1 0\n"
        assert 'attachment; filename="my answer.txt"' in response["Content-Disposition"]


def test_other_teams_submission_pages_and_files_are_404(
    charlie_web, client, alice_team, charlie_team, labelled_phase
):
    submission = SubmissionFactory(phase=labelled_phase, team=alice_team)
    for name in ("submission-detail", "submission-status", "submission-file"):
        url = reverse(name, args=[submission.pk])
        assert charlie_web.get(url).status_code == 404, name
        assert client.get(url).status_code == 404, name


def test_an_organizer_sees_any_submission_and_its_file(organizer_web, alice_team, labelled_phase):
    submission = SubmissionFactory(phase=labelled_phase, team=alice_team, file__data=b"x")
    assert organizer_web.get(reverse("submission-detail", args=[submission.pk])).status_code == 200
    assert organizer_web.get(reverse("submission-file", args=[submission.pk])).status_code == 200


def test_the_list_shows_only_my_teams_submissions_with_live_status(
    alice_web, alice_team, charlie_team, labelled_phase
):
    mine = SubmissionFactory(phase=labelled_phase, team=alice_team, status="running")
    theirs = SubmissionFactory(phase=labelled_phase, team=charlie_team)
    html = alice_web.get(reverse("submission-list", args=[labelled_phase.pk])).content.decode()
    assert f'data-status-url="{reverse("submission-status", args=[mine.pk])}"' in html
    assert reverse("submission-detail", args=[theirs.pk]) not in html


def test_a_queued_submission_page_says_it_updates_itself(alice_web, alice_team, labelled_phase):
    submission = SubmissionFactory(
        phase=labelled_phase, team=alice_team, created_at=timezone.now() - dt.timedelta(minutes=1)
    )
    html = alice_web.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "data-reload-when-done" in html
    assert "updates itself" in html


def test_the_phase_page_lists_recent_submissions_newest_first(
    alice_web, alice_team, labelled_phase
):
    older = SubmissionFactory(
        phase=labelled_phase, team=alice_team, created_at=timezone.now() - dt.timedelta(hours=2)
    )
    newer = SubmissionFactory(phase=labelled_phase, team=alice_team)
    html = alice_web.get(reverse("phase-detail", args=[labelled_phase.pk])).content.decode()
    assert html.index(f">{newer.pk}</a>") < html.index(f">{older.pk}</a>")


def test_random_predictions_are_scored_as_the_metric_says(
    alice_web, alice_team, labelled_phase, truth, inprocess_sync, django_capture_on_commit_callbacks
):
    from sklearn.metrics import f1_score

    prediction = random_matrix(len(truth), seed=99)
    with django_capture_on_commit_callbacks(execute=True):
        _upload(alice_web, labelled_phase, answer_bytes(prediction))
    submission = Submission.objects.get()
    expected = f1_score(truth, prediction, average="macro", zero_division=0)
    html = alice_web.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert f"{expected:.4f}" in html


def test_an_organizer_lists_every_teams_submissions(
    organizer_web, alice_team, charlie_team, labelled_phase
):
    SubmissionFactory(phase=labelled_phase, team=alice_team)
    SubmissionFactory(phase=labelled_phase, team=charlie_team)
    html = organizer_web.get(reverse("submission-list", args=[labelled_phase.pk])).content.decode()
    assert "<td>Alpha</td>" in html
    assert "<td>Charlie&#x27;s</td>" in html
