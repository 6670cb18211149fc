"""The submission service without a broker: checks, limits, scoring, organizer actions."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import threading

import pytest
import time_machine
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.utils import timezone

from evalserver.errors import (
    Conflict,
    FileTooLarge,
    NotInTeam,
    PermissionDenied,
    PhaseClosed,
    QuotaExceeded,
    ValidationFailed,
)
from submissions import queue
from submissions.models import Submission
from submissions.services import (
    CRASHED_MESSAGE,
    submission_cancel,
    submission_create,
    submission_quota,
    submission_rerun,
    submission_score,
    submission_set_flags,
    submissions_sweep,
)
from tests.factories import SubmissionFactory
from tests.recognition_data import answer_bytes, expected_macro_f1

pytestmark = pytest.mark.django_db

Status = Submission.Status


def _actions(submission) -> list[str]:
    return list(submission.events.values_list("action", flat=True))


# --- Upload and scoring -----------------------------------------------------------------------


def test_an_upload_is_stored_under_a_server_name_and_scored(
    inprocess_sync, labelled_phase, alice, alice_team
):
    upload, prediction = labelled_phase.upload(name="../../etc/answer.txt")
    content = answer_bytes(prediction)

    with inprocess_sync():
        submission = submission_create(
            user=alice, phase=labelled_phase.phase, upload=upload, method_name="ResNet"
        )

    submission.refresh_from_db()
    assert submission.status == Status.FINISHED, submission.errors
    assert submission.team == alice_team
    assert submission.file_size == len(content)
    assert submission.file_sha256 == hashlib.sha256(content).hexdigest()
    assert "answer" not in submission.file.name
    assert ".." not in submission.file.name
    assert storages["default"].open(submission.file.name).read() == content
    expected = expected_macro_f1(labelled_phase.truth, prediction)
    assert submission.scores["macro_f1"] == pytest.approx(expected)
    assert submission.primary_score == pytest.approx(expected)
    assert len(submission.scores["per_class"]) == 26
    assert submission.attempts == 1
    assert _actions(submission) == ["created", "started", "finished"]


def test_a_malformed_file_fails_with_errors_naming_lines_and_costs_no_quota(
    inprocess_sync, labelled_phase, alice, alice_team
):
    bad = SimpleUploadedFile("answer.txt", b"00000 0 1 2\n")

    with inprocess_sync():
        submission = submission_create(user=alice, phase=labelled_phase.phase, upload=bad)

    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert any("line 1" in error for error in submission.errors)
    assert submission.scores is None
    quota = submission_quota(team=alice_team, phase=labelled_phase.phase)
    assert quota["used_today"] == 0


def test_an_upload_to_a_phase_without_labels_is_refused_and_not_stored(
    inprocess_sync, phase, alice, alice_team, caplog
):
    with pytest.raises(PhaseClosed, match="no hidden labels") as refused:
        submission_create(user=alice, phase=phase, upload=SimpleUploadedFile("a.txt", b"00000 1\n"))
    assert "The organizers have been told" in refused.value.message
    assert not Submission.objects.exists()
    assert not storages["default"].exists("submissions")
    assert any("has no hidden labels" in r.getMessage() for r in caplog.records)


def test_a_queued_submission_whose_phase_lost_its_labels_fails_with_a_server_side_message(
    inprocess_sync, phase, alice_team
):
    # Labels removed (in the database) after the upload was accepted: the worker's fallback.
    submission = SubmissionFactory(phase=phase, team=alice_team, status=Status.QUEUED)
    assert submission_score(submission_id=submission.pk) == "failed"
    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert "organizers have been told" in submission.errors[0]


def test_scoring_twice_scores_once(inprocess_sync, labelled_phase, alice, alice_team):
    upload, _ = labelled_phase.upload()
    with inprocess_sync():
        submission = submission_create(user=alice, phase=labelled_phase.phase, upload=upload)

    assert submission_score(submission_id=submission.pk) == "already finished"

    submission.refresh_from_db()
    assert submission.attempts == 1
    assert _actions(submission).count("finished") == 1


@pytest.mark.django_db(transaction=True)
def test_the_default_path_scores_in_a_background_thread(
    settings, labelled_phase, alice, alice_team
):
    settings.EVALSERVER_INPROCESS_TASKS = True
    settings.EVALSERVER_INPROCESS_SYNC = False
    upload, prediction = labelled_phase.upload()

    submission = submission_create(user=alice, phase=labelled_phase.phase, upload=upload)
    queue.wait_for_in_process_scoring()

    submission.refresh_from_db()
    assert submission.status == Status.FINISHED
    assert submission.worker.startswith("web:")
    assert submission.primary_score == pytest.approx(
        expected_macro_f1(labelled_phase.truth, prediction)
    )


# --- Refusals ----------------------------------------------------------------------------------


def test_a_user_without_a_team_is_refused(inprocess_sync, labelled_phase, alice):
    upload, _ = labelled_phase.upload()
    with pytest.raises(NotInTeam, match="create a team or join one"):
        submission_create(user=alice, phase=labelled_phase.phase, upload=upload)
    assert not Submission.objects.exists()


def test_a_team_of_another_challenge_does_not_count(inprocess_sync, labelled_phase, charlie):
    from tests.factories import MembershipFactory

    MembershipFactory(user=charlie)  # a team in some other challenge
    upload, _ = labelled_phase.upload()
    with pytest.raises(NotInTeam):
        submission_create(user=charlie, phase=labelled_phase.phase, upload=upload)


def test_a_late_upload_is_refused_with_the_end_time(
    inprocess_sync, labelled_phase, alice, alice_team
):
    phase = labelled_phase.phase
    upload, _ = labelled_phase.upload()
    with (
        time_machine.travel(phase.ends_at + dt.timedelta(seconds=1)),
        pytest.raises(PhaseClosed, match=r"ended at \d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? UTC"),
    ):
        submission_create(user=alice, phase=phase, upload=upload)
    assert not Submission.objects.exists()
    assert not storages["default"].exists("submissions")


@pytest.mark.parametrize(
    ("ends_at", "shown"),
    [
        (dt.datetime(2021, 6, 12, 23, 59, 59, tzinfo=dt.UTC), "ended at 2021-06-12 23:59:59 UTC."),
        (dt.datetime(2021, 6, 13, 0, 0, 0, 999, tzinfo=dt.UTC), "ended at 2021-06-13 00:00 UTC."),
        # Another zone is shown in UTC, seconds kept.
        (
            dt.datetime(2021, 6, 13, 1, 59, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "ended at 2021-06-12 23:59:30 UTC.",
        ),
    ],
)
def test_the_end_time_shows_seconds_when_the_deadline_has_them(
    inprocess_sync, labelled_phase, alice, alice_team, ends_at, shown
):
    phase = labelled_phase.phase
    phase.starts_at = dt.datetime(2021, 3, 1, tzinfo=dt.UTC)
    phase.ends_at = ends_at
    phase.save(update_fields=["starts_at", "ends_at"])
    upload, _ = labelled_phase.upload()
    with (
        time_machine.travel(dt.datetime(2021, 7, 1, tzinfo=dt.UTC)),
        pytest.raises(PhaseClosed) as refused,
    ):
        submission_create(user=alice, phase=phase, upload=upload)
    assert refused.value.message.endswith(shown)


def test_an_early_upload_is_refused_with_the_opening_time(
    inprocess_sync, labelled_phase, alice, alice_team
):
    phase = labelled_phase.phase
    upload, _ = labelled_phase.upload()
    with (
        time_machine.travel(phase.starts_at - dt.timedelta(minutes=1)),
        pytest.raises(PhaseClosed, match=r"not open yet; it opens at .* UTC"),
    ):
        submission_create(user=alice, phase=phase, upload=upload)


def test_a_phase_switched_closed_refuses_uploads(inprocess_sync, labelled_phase, alice, alice_team):
    phase = labelled_phase.phase
    phase.is_open = False
    phase.save(update_fields=["is_open"])
    upload, _ = labelled_phase.upload()
    with pytest.raises(PhaseClosed, match="closed to submissions by the organizers"):
        submission_create(user=alice, phase=phase, upload=upload)


def test_a_file_over_the_phase_cap_is_refused_with_the_cap(
    inprocess_sync, labelled_phase, alice, alice_team
):
    phase = labelled_phase.phase
    phase.max_upload_bytes = 1024 * 1024
    phase.save(update_fields=["max_upload_bytes"])
    big = SimpleUploadedFile("answer.txt", b"0" * (1024 * 1024 + 1))
    with pytest.raises(FileTooLarge, match="limit for this phase is 1 MB"):
        submission_create(user=alice, phase=phase, upload=big)


def test_an_empty_file_is_refused(inprocess_sync, labelled_phase, alice, alice_team):
    with pytest.raises(ValidationFailed, match="empty"):
        submission_create(
            user=alice, phase=labelled_phase.phase, upload=SimpleUploadedFile("a.txt", b"")
        )


def test_the_daily_limit_is_per_utc_day_and_ignores_failed_and_cancelled(
    inprocess_sync, labelled_phase, alice, bob, alice_team
):
    phase = labelled_phase.phase
    morning = timezone.now().replace(hour=0, minute=30, second=0, microsecond=0)
    with time_machine.travel(morning, tick=False):
        SubmissionFactory(team=alice_team, phase=phase, status=Status.FAILED)
        SubmissionFactory(team=alice_team, phase=phase, status=Status.CANCELLED)
        for user in (alice, bob, alice, bob, alice):
            submission_create(user=user, phase=phase, upload=labelled_phase.upload()[0])
        quota = submission_quota(team=alice_team, phase=phase)
        assert quota["remaining_today"] == 0
        assert quota["resets_at"] == morning.replace(minute=0) + dt.timedelta(days=1)
        with pytest.raises(QuotaExceeded) as refused:
            submission_create(user=bob, phase=phase, upload=labelled_phase.upload()[0])
        assert refused.value.message == "Daily limit of 5 reached; resets at 00:00 UTC"

    with time_machine.travel(morning + dt.timedelta(days=1), tick=False):
        submission_create(user=bob, phase=phase, upload=labelled_phase.upload()[0])
        assert submission_quota(team=alice_team, phase=phase)["remaining_today"] == 4


def test_the_total_limit(inprocess_sync, labelled_phase, alice, alice_team, charlie, charlie_team):
    phase = labelled_phase.phase
    phase.max_submissions_total = 2
    phase.save(update_fields=["max_submissions_total"])
    SubmissionFactory.create_batch(2, team=alice_team, phase=phase, status=Status.FINISHED)

    with pytest.raises(QuotaExceeded, match="Total limit of 2 submissions"):
        submission_create(user=alice, phase=phase, upload=labelled_phase.upload()[0])
    # Another team's count is its own.
    submission_create(user=charlie, phase=phase, upload=labelled_phase.upload()[0])


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_uploads_at_the_limit_let_exactly_one_through(
    inprocess_sync, labelled_phase, alice, bob, alice_team
):
    phase = labelled_phase.phase
    SubmissionFactory.create_batch(4, team=alice_team, phase=phase, status=Status.FINISHED)
    uploads = {user.pk: labelled_phase.upload()[0] for user in (alice, bob)}
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def upload(user):
        try:
            barrier.wait()
            outcomes.append(submission_create(user=user, phase=phase, upload=uploads[user.pk]))
        except Exception as exc:
            outcomes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=upload, args=(user,)) for user in (alice, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    accepted = [o for o in outcomes if isinstance(o, Submission)]
    refused = [o for o in outcomes if isinstance(o, QuotaExceeded)]
    assert len(accepted) == 1, outcomes
    assert len(refused) == 1, outcomes
    assert Submission.objects.filter(team=alice_team, phase=phase).count() == 5
    # The refused upload's file was removed again: every stored file belongs to a row.
    team_dir = f"submissions/phase-{phase.pk}/team-{alice_team.pk}"
    stored = {f"{team_dir}/{name}" for name in storages["default"].listdir(team_dir)[1]}
    rows = set(Submission.objects.filter(team=alice_team).values_list("file", flat=True))
    assert stored == rows


# --- Worker crashes and the sweeper ------------------------------------------------------------


def test_a_submission_that_keeps_crashing_its_worker_is_failed(
    inprocess_sync, settings, labelled_phase, alice_team
):
    submission = SubmissionFactory(
        team=alice_team,
        phase=labelled_phase.phase,
        status=Status.RUNNING,
        attempts=settings.EVALSERVER_MAX_SCORING_ATTEMPTS,
        started_at=timezone.now(),
    )

    assert submission_score(submission_id=submission.pk) == "crashed"

    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert submission.errors == [CRASHED_MESSAGE]


def test_a_running_submission_whose_worker_died_is_taken_over(
    inprocess_sync, labelled_phase, alice_team
):
    upload, prediction = labelled_phase.upload()
    submission = SubmissionFactory(
        team=alice_team,
        phase=labelled_phase.phase,
        file=upload,
        status=Status.RUNNING,
        attempts=1,
        started_at=timezone.now() - dt.timedelta(seconds=5),
    )

    assert submissions_sweep()["recovered"] == 1

    submission.refresh_from_db()
    assert submission.status == Status.FINISHED
    assert submission.attempts == 2
    assert submission.primary_score == pytest.approx(
        expected_macro_f1(labelled_phase.truth, prediction)
    )
    requeued = submission.events.get(action="requeued")
    assert requeued.detail == {"reason": "worker_lost", "worker": "", "attempts": 1}
    assert submission.events.filter(action="started").count() == 1


@pytest.fixture
def memory_broker(settings):
    """A broker that takes messages in this process (nobody consumes them)."""
    from evalserver.celery import app

    settings.EVALSERVER_INPROCESS_TASKS = False
    previous = app.conf.broker_url
    app.conf.broker_url = "memory://"
    yield
    app.conf.broker_url = previous


def test_a_dead_workers_submission_is_requeued_however_old_not_timed_out(
    settings, memory_broker, labelled_phase, alice_team, mailoutbox
):
    # Workers down behind a backlog for longer than the hard limit: nobody holds the lock,
    # so the worker died; the submission goes back to the queue, its attempt counted.
    long_ago = timezone.now() - dt.timedelta(
        seconds=10 * (settings.EVALSERVER_SCORING_TIME_LIMIT + settings.EVALSERVER_SWEEP_INTERVAL)
    )
    submission = SubmissionFactory(
        team=alice_team,
        phase=labelled_phase.phase,
        status=Status.RUNNING,
        attempts=1,
        worker="w1@host:123",
        started_at=long_ago,
    )

    assert submissions_sweep() == {"requeued": 0, "recovered": 1, "timed_out": 0}
    # Handed back once: the next sweep finds it queued and recently handed over.
    assert submissions_sweep() == {"requeued": 0, "recovered": 0, "timed_out": 0}

    submission.refresh_from_db()
    assert (submission.status, submission.attempts, submission.errors) == (Status.QUEUED, 1, [])
    assert submission.enqueued_at is not None
    assert submission.events.get(action="requeued").detail["worker"] == "w1@host:123"
    assert mailoutbox == []


def test_a_submission_being_scored_is_left_alone_by_duplicates_and_the_sweeper(
    inprocess_sync, labelled_phase, alice_team
):
    submission = SubmissionFactory(
        team=alice_team,
        phase=labelled_phase.phase,
        status=Status.RUNNING,
        attempts=1,
        started_at=timezone.now(),
    )
    with queue.scoring_lock(submission.pk) as held:
        assert held
        assert submissions_sweep() == {"requeued": 0, "recovered": 0, "timed_out": 0}
        # A duplicate message in another process (its own connection) finds it busy.
        outcome: list[str] = []

        def duplicate():
            try:
                outcome.append(submission_score(submission_id=submission.pk))
            finally:
                connections.close_all()

        thread = threading.Thread(target=duplicate)
        thread.start()
        thread.join()
        assert outcome == ["busy"]
    submission.refresh_from_db()
    assert (submission.status, submission.attempts) == (Status.RUNNING, 1)


def test_the_sweeper_fails_what_a_live_worker_runs_past_the_hard_limit(
    settings, labelled_phase, alice_team
):
    settings.EVALSERVER_INPROCESS_TASKS = False
    long_ago = timezone.now() - dt.timedelta(
        seconds=settings.EVALSERVER_SCORING_TIME_LIMIT + settings.EVALSERVER_SWEEP_INTERVAL + 1
    )
    submission = SubmissionFactory(
        team=alice_team,
        phase=labelled_phase.phase,
        status=Status.RUNNING,
        attempts=1,
        started_at=long_ago,
    )

    # A live worker is still scoring it (it holds the lock): only then does it time out.
    with queue.scoring_lock(submission.pk) as held:
        assert held
        assert submissions_sweep()["timed_out"] == 1

    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert "did not finish within the limit" in submission.errors[0]


def test_the_sweeper_requeues_what_never_reached_the_broker(
    inprocess_sync, settings, labelled_phase, alice_team
):
    upload, _ = labelled_phase.upload()
    created = timezone.now() - dt.timedelta(seconds=settings.EVALSERVER_SWEEP_INTERVAL + 1)
    stranded = SubmissionFactory(
        team=alice_team, phase=labelled_phase.phase, file=upload, created_at=created
    )
    just_uploaded = SubmissionFactory(team=alice_team, phase=labelled_phase.phase)

    assert submissions_sweep()["requeued"] == 1

    stranded.refresh_from_db()
    just_uploaded.refresh_from_db()
    assert stranded.status == Status.FINISHED
    assert just_uploaded.status == Status.QUEUED


# --- Organizer actions ------------------------------------------------------------------------


def test_rerun_rescores_after_a_label_fix_and_is_recorded(
    inprocess_sync, labelled_phase, alice, alice_team, organizer
):
    from evalserver.challenges.services import phase_set_labels
    from tests.recognition_data import labels_json

    upload, prediction = labelled_phase.upload()
    with inprocess_sync():
        submission = submission_create(user=alice, phase=labelled_phase.phase, upload=upload)
    fixed_truth = labelled_phase.truth.copy()
    fixed_truth[:20] = prediction[:20]
    phase_set_labels(phase=labelled_phase.phase, data=labels_json(fixed_truth))

    with inprocess_sync():
        submission_rerun(submission=submission, actor=organizer)
    submission.refresh_from_db()

    assert submission.status == Status.FINISHED
    assert submission.primary_score == pytest.approx(expected_macro_f1(fixed_truth, prediction))
    rerun = submission.events.get(action="rerun")
    assert rerun.actor == organizer
    assert rerun.detail["previous_status"] == "finished"
    assert _actions(submission).count("finished") == 2


def test_only_organizers_act_on_submissions(labelled_phase, alice, alice_team):
    submission = SubmissionFactory(team=alice_team, phase=labelled_phase.phase)
    for action in (submission_rerun, submission_cancel):
        with pytest.raises(PermissionDenied):
            action(submission=submission, actor=alice)
    with pytest.raises(PermissionDenied):
        submission_set_flags(submission=submission, actor=alice, hidden=True)
    assert not submission.events.exists()


def test_cancel_only_takes_queued_submissions(labelled_phase, alice_team, organizer):
    queued = SubmissionFactory(team=alice_team, phase=labelled_phase.phase)
    running = SubmissionFactory(team=alice_team, phase=labelled_phase.phase, status=Status.RUNNING)

    assert submission_cancel(submission=queued, actor=organizer).status == Status.CANCELLED
    with pytest.raises(Conflict, match="only queued submissions can be cancelled"):
        submission_cancel(submission=running, actor=organizer)
    with pytest.raises(Conflict, match="is running"):
        submission_rerun(submission=running, actor=organizer)
    assert queued.events.get(action="cancelled").actor == organizer
    # A cancelled submission's message, if it still arrives, scores nothing.
    assert submission_score(submission_id=queued.pk) == "already cancelled"


def test_flags_record_only_what_changed(labelled_phase, alice_team, organizer):
    submission = SubmissionFactory(
        team=alice_team, phase=labelled_phase.phase, status=Status.FINISHED
    )

    submission_set_flags(submission=submission, actor=organizer, hidden=True, baseline=False)
    submission_set_flags(submission=submission, actor=organizer, hidden=True)
    submission = submission_set_flags(submission=submission, actor=organizer, disqualified=True)

    assert (submission.is_hidden, submission.is_disqualified, submission.is_baseline) == (
        True,
        True,
        False,
    )
    events = list(submission.events.filter(action="flags"))
    assert [e.detail["changes"] for e in events] == [
        {"is_hidden": [False, True]},
        {"is_disqualified": [False, True]},
    ]
    assert all(e.actor == organizer for e in events)


def test_admin_actions_go_through_the_services(client, labelled_phase, alice_team, organizer):
    organizer.is_staff = True
    organizer.is_superuser = True
    organizer.save(update_fields=["is_staff", "is_superuser"])
    client.force_login(organizer)
    queued = SubmissionFactory(team=alice_team, phase=labelled_phase.phase)
    finished = SubmissionFactory(
        team=alice_team, phase=labelled_phase.phase, status=Status.FINISHED
    )

    response = client.post(
        "/admin/submissions/submission/",
        {"action": "cancel", "_selected_action": [queued.pk, finished.pk]},
        follow=True,
    )

    assert response.status_code == 200
    queued.refresh_from_db()
    finished.refresh_from_db()
    assert queued.status == Status.CANCELLED
    assert finished.status == Status.FINISHED
    assert f"#{finished.pk}: Submission {finished.pk} is finished" in response.content.decode()


def test_the_sweep_command_requeues_stranded_uploads(
    inprocess_sync, settings, labelled_phase, alice_team
):
    from django.core.management import call_command

    upload, _ = labelled_phase.upload()
    created = timezone.now() - dt.timedelta(seconds=settings.EVALSERVER_SWEEP_INTERVAL + 1)
    stranded = SubmissionFactory(
        team=alice_team, phase=labelled_phase.phase, file=upload, created_at=created
    )
    out = io.StringIO()

    call_command("sweep_submissions", stdout=out)

    assert "requeued: 1" in out.getvalue()
    stranded.refresh_from_db()
    assert stranded.status == Status.FINISHED
