""" "Organizers have been told" is true: a crashing submission, a server-side scoring error,
a submission swept past the hard limit and uploads to a phase without hidden labels mail the
challenge's organizers and EVALSERVER_ADMINS."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from evalserver.errors import PhaseClosed
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from submissions import queue
from submissions.models import Submission
from submissions.services import submission_create, submission_score, submissions_sweep
from tests.factories import SubmissionFactory, UserFactory

Status = Submission.Status


class RefusingMailServer(BaseEmailBackend):
    """An SMTP server that is down."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


@pytest.fixture
def outbox(db, mailoutbox):
    # After ``db``: the database fixture's set-up replaces ``mail.outbox`` with a new list,
    # and pytest-django's mailoutbox would otherwise be the one it dropped.
    return mailoutbox


@pytest.fixture
def told(settings, challenge, organizer):
    """olga (an organizer with an address), an organizer without one, and one admin."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ADMINS = [("ops@example.org", "ops@example.org")]
    challenge.organizers.add(UserFactory(username="noaddress", email=""))
    return ["olga@example.org", "ops@example.org"]


def _crasher(phase, team, settings) -> Submission:
    return SubmissionFactory(
        team=team,
        phase=phase,
        status=Status.RUNNING,
        attempts=settings.EVALSERVER_MAX_SCORING_ATTEMPTS,
        started_at=timezone.now(),
    )


def _upload():
    return SimpleUploadedFile("a.txt", b"00000 1\n")


def test_a_crashing_submission_mails_the_organizers_and_admins_once(
    inprocess_sync, settings, outbox, told, phase_labelled, alice_team, bob
):
    submission = _crasher(phase_labelled, alice_team, settings)

    with inprocess_sync():
        assert submission_score(submission_id=submission.pk) == "crashed"
        assert outbox == []  # not before the failure is committed
    # A duplicate message for the same submission tells nobody twice.
    with inprocess_sync():
        assert submission_score(submission_id=submission.pk) == "already failed"

    assert len(outbox) == 1
    mail = outbox[0]
    assert sorted(mail.to) == told
    assert bob.email not in mail.to
    assert f"submission {submission.pk}" in mail.subject
    assert "tinyactions-test" in mail.subject
    for named in ("'Alpha'", "'Validation'", "'TinyActions Test'"):
        assert named in mail.body
    assert f"/admin/submissions/submission/{submission.pk}/change/" in mail.body
    # The labels' clips and classes stay hidden.
    assert "00000" not in mail.body
    assert not any(name in mail.body for name in TINYVIRAT_V2_CLASSES)


def test_a_mail_server_that_is_down_leaves_the_crash_handling_alone_and_is_logged(
    inprocess_sync, settings, outbox, told, phase_labelled, alice_team, caplog
):
    settings.EMAIL_BACKEND = "tests.pipeline.test_notify.RefusingMailServer"
    submission = _crasher(phase_labelled, alice_team, settings)

    with inprocess_sync():
        assert submission_score(submission_id=submission.pk) == "crashed"

    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert outbox == []
    logged = [r for r in caplog.records if r.name == "submissions.notify"]
    assert len(logged) == 1
    assert logged[0].levelname == "ERROR"
    assert "olga@example.org" in logged[0].getMessage()
    assert "mail server down" in logged[0].exc_text


def test_a_burst_of_uploads_to_a_phase_without_labels_mails_once_an_hour(
    inprocess_sync, outbox, told, phase, alice, alice_team, charlie, charlie_team
):
    cache.delete(f"notify:no-labels:{phase.pk}")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for user in (alice, alice, charlie, alice, charlie):
            with inprocess_sync(), pytest.raises(PhaseClosed, match="no hidden labels"):
                submission_create(user=user, phase=phase, upload=_upload())

    assert len(outbox) == 1
    mail = outbox[0]
    assert sorted(mail.to) == told
    assert "phase dev refuses uploads: no hidden labels" in mail.subject
    assert "'Alpha'" in mail.body
    assert "'Validation'" in mail.body
    assert f"/admin/challenges/phase/{phase.pk}/change/" in mail.body

    later = start + dt.timedelta(minutes=61)
    with time_machine.travel(later, tick=False), inprocess_sync(), pytest.raises(PhaseClosed):
        submission_create(user=charlie, phase=phase, upload=_upload())
    assert len(outbox) == 2
    assert '"Charlie\'s"' in outbox[1].body


def test_a_server_side_scoring_error_mails_the_organizers(
    inprocess_sync, outbox, told, phase, alice_team
):
    # The phase lost its labels after the upload was accepted: the scorer cannot run, and
    # that is the organizers' problem, not the team's file.
    submission = SubmissionFactory(phase=phase, team=alice_team, status=Status.QUEUED)

    with inprocess_sync():
        assert submission_score(submission_id=submission.pk) == "failed"

    assert len(outbox) == 1
    mail = outbox[0]
    assert sorted(mail.to) == told
    assert f"submission {submission.pk} hit a server error while scoring" in mail.subject
    assert f"/admin/submissions/submission/{submission.pk}/change/" in mail.body


def test_a_submission_swept_past_the_hard_limit_mails_the_organizers(
    settings, outbox, told, phase_labelled, alice_team, django_capture_on_commit_callbacks
):
    settings.EVALSERVER_INPROCESS_TASKS = False  # the hard limit is a Celery worker's
    long_ago = timezone.now() - dt.timedelta(
        seconds=settings.EVALSERVER_SCORING_TIME_LIMIT + settings.EVALSERVER_SWEEP_INTERVAL + 1
    )
    submission = SubmissionFactory(
        team=alice_team,
        phase=phase_labelled,
        status=Status.RUNNING,
        attempts=1,
        started_at=long_ago,
    )

    # A live worker holds it (a dead one's submission is re-queued, and nobody is mailed).
    with queue.scoring_lock(submission.pk), django_capture_on_commit_callbacks(execute=True):
        assert submissions_sweep()["timed_out"] == 1
        assert submissions_sweep()["timed_out"] == 0  # failed once, told once

    assert len(outbox) == 1
    mail = outbox[0]
    assert sorted(mail.to) == told
    assert f"submission {submission.pk} ran past the scoring time limit" in mail.subject
    assert f"{settings.EVALSERVER_SCORING_TIME_LIMIT} seconds" in mail.body
