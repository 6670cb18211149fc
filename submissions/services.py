"""Writes for submissions: upload, scoring, organizer actions and the sweeper.

The lifecycle is queued -> running -> finished | failed, or queued -> cancelled. Every
transition is a conditional UPDATE on the current status, so two workers, a worker and
the sweeper, or an organizer and a worker can never both move one submission.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from evalserver import scoring
from evalserver.challenges.models import Phase, is_banned
from evalserver.challenges.registration import PENDING_MESSAGE, team_is_pending
from evalserver.challenges.selectors import phase_has_labels, phase_labels
from evalserver.errors import (
    Conflict,
    FileTooLarge,
    NotInTeam,
    PermissionDenied,
    PhaseClosed,
    QuotaExceeded,
    ValidationFailed,
)
from evalserver.scoring.archive import is_archive
from evalserver.scoring.errors import SubmissionInvalid, SubmissionTooLarge
from evalserver.teams.models import Membership, Team
from leaderboard.services import leaderboard_changed
from submissions import evaluations, notify, queue
from submissions.models import Submission, SubmissionEvent, submission_upload_to

logger = logging.getLogger(__name__)

Status = Submission.Status

# Submissions that count against a team's limits: a refused file costs the team nothing.
_COUNTED = ~Q(status__in=[Status.FAILED, Status.CANCELLED])

CRASHED_MESSAGE = "the scorer crashed; organizers have been told"
SERVER_ERROR_MESSAGE = (
    "the server could not score this file because of a problem on our side; "
    "organizers have been told"
)


def _utc(moment: dt.datetime) -> str:
    # A deadline of 23:59:59 shown as "23:59" reads as a minute earlier than it is.
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if moment.second else "%Y-%m-%d %H:%M UTC")


def _mb(n_bytes: int) -> str:
    value = n_bytes / (1024 * 1024)
    return f"{value:.0f} MB" if value == int(value) else f"{value:.1f} MB"


def _utc_day_bounds(moment: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    start = moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + dt.timedelta(days=1)


def _event(submission_id: int, action: str, *, actor=None, **detail: Any) -> None:
    SubmissionEvent.objects.create(
        submission_id=submission_id, actor=actor, action=action, detail=detail
    )


# --- Upload ---------------------------------------------------------------------------------


def _team_of(*, user, phase: Phase) -> Team:
    membership = (
        Membership.objects.select_related("team")
        .filter(user=user, challenge_id=phase.challenge_id)
        .first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise NotInTeam(
            "You are not in a team for this challenge; create a team or join one first."
        )
    return membership.team


def _check_open(*, phase: Phase, now: dt.datetime) -> None:
    if not phase.is_open:
        raise PhaseClosed(f"Phase {phase.name!r} has been closed to submissions by the organizers.")
    if now < phase.starts_at:
        raise PhaseClosed(
            f"Phase {phase.name!r} is not open yet; it opens at {_utc(phase.starts_at)}."
        )
    if now >= phase.ends_at:
        raise PhaseClosed(f"Phase {phase.name!r} ended at {_utc(phase.ends_at)}.")


def _check_has_labels(*, phase: Phase, team: Team) -> None:
    if phase_has_labels(phase=phase):
        return
    # Accepting the file would only fail it in the worker with "a problem on our side".
    logger.error("Upload refused: phase %s (id %s) has no hidden labels", phase, phase.pk)
    notify.notify_phase_has_no_labels(phase=phase, team_name=team.name)
    raise PhaseClosed(
        f"Phase {phase.name!r} cannot take submissions yet: it has no hidden labels to "
        "score them against. The organizers have been told; try again later."
    )


def _counts(*, team: Team, phase: Phase, now: dt.datetime) -> tuple[int, int]:
    """The team's submissions of the phase (today, in total) that count towards its quotas.

    A person's submissions count towards the team they are in now, whichever team they made
    them in: someone who leaves a team that used its quota and founds or joins another brings
    their submissions along, so hopping teams buys no fresh quota (README "Submission
    quotas"). The team's own submissions made by members who since left still count too.
    """
    day_start, day_end = _utc_day_bounds(now)
    # The members as a list of ids, not a subquery: PostgreSQL cannot combine an index scan
    # of a subquery's rows with the team's in an OR, so it read every submission of the
    # phase (3 ms at 5,000, growing with the phase); with plain ids it ORs two index scans.
    members = list(Membership.objects.filter(team=team).values_list("user_id", flat=True))
    counts = Submission.objects.filter(
        Q(team=team) | Q(submitted_by_id__in=members), _COUNTED, phase=phase
    ).aggregate(
        total=Count("id"),
        today=Count("id", filter=Q(created_at__gte=day_start, created_at__lt=day_end)),
    )
    return counts["today"], counts["total"]


def _check_quota(*, team: Team, phase: Phase, now: dt.datetime) -> None:
    today, total = _counts(team=team, phase=phase, now=now)
    if phase.max_submissions_total is not None and total >= phase.max_submissions_total:
        raise QuotaExceeded(
            f"Total limit of {phase.max_submissions_total} submissions for this phase reached."
        )
    if phase.max_submissions_per_day is not None and today >= phase.max_submissions_per_day:
        raise QuotaExceeded(
            f"Daily limit of {phase.max_submissions_per_day} reached; resets at 00:00 UTC"
        )


def _sha256_of(upload: File) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def submission_plain_max_bytes(*, phase: Phase) -> int:
    """The largest file of ``phase`` the scorer reads, counted uncompressed.

    A plain upload over it is refused at once; a zip or gzip is held to it by the worker
    as it decompresses (the upload itself says nothing reliable about its content's size).
    """
    cap = _decompressed_cap(phase)
    return cap if cap is not None else scoring.track_module(phase.track).DEFAULT_MAX_BYTES


def _check_plain_size(*, phase: Phase, upload: File, size: int) -> None:
    cap = submission_plain_max_bytes(phase=phase)
    if size <= cap:
        return
    upload.seek(0)
    head = upload.read(4)
    upload.seek(0)
    if is_archive(head):
        return
    if phase.track == Phase.Track.DETECTION:
        raise FileTooLarge(
            f"The file is {_mb(size)}; a detection CSV may be at most {_mb(cap)}, counted "
            "uncompressed (inside a .gz or .zip too). Leave out low-scoring boxes and "
            "upload again."
        )
    raise FileTooLarge(
        f"The file is {_mb(size)}; a predictions file may be at most {_mb(cap)} uncompressed."
    )


def submission_check_size(*, phase: Phase, upload: File) -> int:
    """The upload's size, after the caps every door applies (upload and check only)."""
    size = upload.size or 0
    if size == 0:
        raise ValidationFailed("The file is empty; upload your predictions file.")
    if size > phase.max_upload_bytes:
        raise FileTooLarge(
            f"The file is {_mb(size)}; the limit for this phase is {_mb(phase.max_upload_bytes)}."
        )
    _check_plain_size(phase=phase, upload=upload, size=size)
    return size


def submission_create(
    *,
    user,
    phase: Phase,
    upload: File,
    method_name: str = "",
    description: str = "",
) -> Submission:
    """Accept a team's prediction file for ``phase`` and queue it for scoring.

    The checks that can run without a lock come first, so the common refusals cost no
    storage. The file is then stored under a server-chosen name, and the quota is checked
    again and the row inserted while the team's row is locked: two concurrent uploads at
    the limit serialise there and only one gets through.
    """
    now = timezone.now()
    team = _team_of(user=user, phase=phase)
    if is_banned(challenge_id=phase.challenge_id, user=user):
        raise PermissionDenied(
            "The organizers of this challenge have banned you from taking part in it."
        )
    if team_is_pending(team=team, challenge=phase.challenge):
        raise PermissionDenied(PENDING_MESSAGE)
    _check_open(phase=phase, now=now)
    size = submission_check_size(phase=phase, upload=upload)
    _check_has_labels(phase=phase, team=team)
    _check_quota(team=team, phase=phase, now=now)

    sha256 = _sha256_of(upload)
    storage = storages["default"]
    draft = Submission(team=team, phase=phase)
    stored_name = storage.save(submission_upload_to(draft, upload.name or ""), upload)
    try:
        with transaction.atomic():
            Team.objects.select_for_update().only("pk").get(pk=team.pk)
            # The team's row is locked, and with it its membership (joining, leaving and
            # removals lock it too). Asked after the lock (a fresh snapshot): the uploader
            # must still be a member, else an upload started before leaving could land
            # after the member's next team counted them.
            if not Membership.objects.filter(team=team, user=user).exists():
                raise NotInTeam(
                    "You are no longer in this team; upload again from your current team."
                )
            _check_quota(team=team, phase=phase, now=now)
            submission = Submission(
                team=team,
                phase=phase,
                submitted_by=user,
                original_filename=(upload.name or "")[-255:],
                file_size=size,
                file_sha256=sha256,
                method_name=method_name[:200],
                description=description,
                status=Status.QUEUED,
                created_at=now,
            )
            submission.file.name = stored_name
            submission.save(force_insert=True)
            _event(
                submission.pk,
                "created",
                actor=user,
                filename=submission.original_filename,
                size=size,
                sha256=sha256,
            )
            transaction.on_commit(lambda: queue.enqueue_scoring(submission.pk))
    except BaseException:
        # The row was never committed: the stored file belongs to nobody.
        storage.delete(stored_name)
        raise
    return submission


def submission_quota(*, team: Team, phase: Phase) -> dict:
    """What the upload page shows: submissions left today and in total (None = no limit)."""
    now = timezone.now()
    today, total = _counts(team=team, phase=phase, now=now)
    _, resets_at = _utc_day_bounds(now)
    daily_limit = phase.max_submissions_per_day
    total_limit = phase.max_submissions_total
    return {
        "daily_limit": daily_limit,
        "used_today": today,
        "remaining_today": None if daily_limit is None else max(daily_limit - today, 0),
        "total_limit": total_limit,
        "used_total": total,
        "remaining_total": None if total_limit is None else max(total_limit - total, 0),
        "resets_at": resets_at,
    }


# --- Scoring (runs on a worker, or in the web process's background executor) ---------------


def _fail(submission_id: int, *, errors: list[str], from_status: str, **detail: Any) -> bool:
    done = Submission.objects.filter(pk=submission_id, status=from_status).update(
        status=Status.FAILED,
        errors=errors,
        scores=None,
        primary_score=None,
        ci_low=None,
        ci_high=None,
        finished_at=timezone.now(),
    )
    if done:
        evaluations.clear_evaluation(submission_ids=[submission_id])
        _event(submission_id, "failed", errors=errors[:5], **detail)
    return bool(done)


def _claim(submission_id: int, *, worker: str) -> tuple[Submission | None, str]:
    """Move the submission to running; returns it (or None) and what happened.

    Call only while holding the scoring lock: then a submission found running has lost
    its worker (the process that set it running would hold the lock), and is taken over.
    """
    current = (
        Submission.objects.filter(pk=submission_id).values("status", "attempts", "worker").first()
    )
    if current is None:
        return None, "missing"
    if current["status"] not in (Status.QUEUED, Status.RUNNING):
        return None, f"already {current['status']}"
    if (
        current["status"] == Status.RUNNING
        and not queue.can_see_scoring_locks()
        and queue.inprocess_owner(current["worker"]) == "alive"
    ):
        # SQLite: our lock says nothing about other processes, but the claimant's identity
        # does; another live web process is scoring it (a sweep re-queued it to us too).
        return None, "busy"
    if current["attempts"] >= settings.EVALSERVER_MAX_SCORING_ATTEMPTS:
        # It was handed to a worker that many times and never came back: it kills workers.
        if _fail(
            submission_id,
            errors=[CRASHED_MESSAGE],
            from_status=current["status"],
            reason="crashed",
            attempts=current["attempts"],
        ):
            logger.error(
                "Submission %s failed after %s attempts that never finished: "
                "it crashes or hangs its worker",
                submission_id,
                current["attempts"],
            )
            notify.notify_submission_crashed(
                submission_id=submission_id, attempts=current["attempts"]
            )
        return None, "crashed"
    now = timezone.now()
    claimed = Submission.objects.filter(
        pk=submission_id, status=current["status"], attempts=current["attempts"]
    ).update(
        status=Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        finished_at=None,
        worker=worker[:200],
    )
    if not claimed:
        return None, "claimed elsewhere"
    submission = Submission.objects.select_related("phase__challenge").get(pk=submission_id)
    _event(
        submission_id,
        "started",
        attempt=submission.attempts,
        worker=worker,
        recovered=current["status"] == Status.RUNNING,
    )
    return submission, "claimed"


def _decompressed_cap(phase: Phase) -> int | None:
    """The most content the scorer may read from one file of ``phase``, decompressed.

    None keeps the track's own default: recognition files are small whatever they say.
    Detection memory grows with the rows, so its cap is the workers' to set.
    """
    if phase.track == Phase.Track.DETECTION:
        return settings.EVALSERVER_DETECTION_MAX_BYTES
    return None


def _score_file(submission: Submission, labels=None) -> scoring.Evaluation:
    phase = submission.phase
    if labels is None:
        labels = phase_labels(phase=phase)
    cap = _decompressed_cap(phase)
    # The phase's detection conventions (voc or act); recognition has none.
    protocol = phase.detection_protocol if phase.track == Phase.Track.DETECTION else None
    with storages["default"].open(submission.file.name, "rb") as fh:
        try:
            return evaluations.evaluate_file(
                phase=phase, labels=labels, source=fh, max_bytes=cap, protocol=protocol
            )
        except SubmissionTooLarge as exc:
            # A participant whose 40 MB .gz hits the cap needs to hear that the CSV inside
            # counts, not the upload.
            if cap is not None:
                rows = cap // 50  # a typical row is about 50 bytes
                about = f"{rows / 1e6:.0f} million" if rows >= 1_000_000 else f"{rows:,}"
                raise SubmissionTooLarge(
                    [
                        *exc.errors,
                        f"the limit counts the CSV after decompression (about {about} "
                        "rows); leave out low-scoring boxes and upload again",
                    ]
                ) from None
            raise


def submission_scores_against(*, submission: Submission, labels) -> dict:
    """Score a stored submission against ``labels`` exactly as the worker does.

    The one entry point for scoring a submission's file: the worker (with the phase's
    labels) and the console's label-fix preview (with candidate labels) both come here, so
    whatever the score JSON gains is recomputed by a preview too. Raises
    ``SubmissionInvalid`` listing the problems.
    """
    # The scores JSON only: the bootstrap replicates and split scores stay with the worker's
    # save (a preview's apply stores these scores; see the README's label-fix notes).
    fields, _ = evaluations.stored_fields(_score_file(submission, labels))
    return fields["scores"]


def primary_score_of(scores: dict) -> float | None:
    """The number the leaderboard ranks by, copied out of the score JSON."""
    value = scores.get(scores.get("primary_metric", ""))
    return value if isinstance(value, int | float) else None


def _is_running(submission_id: int) -> bool:
    return Submission.objects.filter(pk=submission_id, status=Status.RUNNING).exists()


def submission_score(*, submission_id: int, worker: str = "") -> str:
    """Score one submission exactly once, however often this is called for it.

    Returns what happened ("finished", "failed", "busy", "already finished", ...), for
    logs and tests.
    """
    from celery.exceptions import SoftTimeLimitExceeded

    with queue.scoring_lock(submission_id, wait_if=_is_running) as held:
        if not held:
            # Another process is scoring it right now: this message is a duplicate.
            return "busy"
        submission, outcome = _claim(submission_id, worker=worker)
        if submission is None:
            return outcome
        attempt = submission.attempts
        delay = settings.EVALSERVER_TEST_SCORING_DELAY_MS
        if delay:
            time.sleep(delay / 1000)
        try:
            evaluation = _score_file(submission)
        except SubmissionInvalid as exc:
            _fail(submission_id, errors=exc.errors, from_status=Status.RUNNING, reason="invalid")
            return "failed"
        except SoftTimeLimitExceeded:
            limit = settings.EVALSERVER_SCORING_SOFT_TIME_LIMIT
            _fail(
                submission_id,
                errors=[f"scoring took longer than the limit of {limit} seconds"],
                from_status=Status.RUNNING,
                reason="time_limit",
            )
            return "failed"
        except Exception:
            if _labels_changed_since(submission):
                # The labels were replaced while we scored, and their old files deleted
                # once the new ones committed: not the file's fault. Back to the queue below.
                evaluation = None
            else:
                logger.exception("Scoring submission %s failed on the server side", submission_id)
                if _fail(
                    submission_id,
                    errors=[SERVER_ERROR_MESSAGE],
                    from_status=Status.RUNNING,
                    reason="server_error",
                ):
                    notify.notify_submission_server_error(submission_id=submission_id)
                return "failed"
        saved = 0
        if evaluation is not None:
            fields, evaluation_fields = evaluations.stored_fields(evaluation)
            scores, primary = fields["scores"], fields["primary_score"]
            with transaction.atomic():
                # Only while the phase still has the labels it was scored against: labels
                # replaced meanwhile (import_challenge, the console) send it back to the queue.
                saved = Submission.objects.filter(
                    pk=submission_id,
                    status=Status.RUNNING,
                    attempts=attempt,
                    phase__labels_sha256=submission.phase.labels_sha256,
                ).update(
                    status=Status.FINISHED,
                    errors=[],
                    finished_at=timezone.now(),
                    **fields,
                )
                if saved:
                    evaluations.save_evaluation(
                        submission_id=submission_id, fields=evaluation_fields
                    )
                    leaderboard_changed(phase_ids=[submission.phase_id], team_id=submission.team_id)
                    # In the same transaction: whoever sees it finished sees the event too.
                    _event(
                        submission_id,
                        "finished",
                        attempt=attempt,
                        primary_metric=scores.get("primary_metric"),
                        primary_score=primary,
                    )
        # Not saved: the labels changed under us (requeued now), or a label fix applied by
        # the console put it back in the queue while we scored; its own message may have
        # found our lock held, so it is handed out once more below. Otherwise superseded.
        if (
            not saved
            and not _requeue_after_label_change(submission_id, attempt=attempt)
            and not Submission.objects.filter(pk=submission_id, status=Status.QUEUED).exists()
        ):
            return "superseded"
        if saved:
            return "finished"
    # Requeued because the labels changed: handed out again outside the scoring lock, so
    # the next delivery can take it at once (a duplicate message finds it claimed).
    queue.enqueue_scoring(submission_id)
    return "requeued"


def _labels_changed_since(submission: Submission) -> bool:
    """Whether the phase's labels are no longer the ones ``submission`` was claimed with."""
    return not Phase.objects.filter(
        pk=submission.phase_id, labels_sha256=submission.phase.labels_sha256
    ).exists()


def _requeue_after_label_change(submission_id: int, *, attempt: int) -> bool:
    """Back to the queue when the labels changed under a running scoring (not its fault)."""
    done = Submission.objects.filter(
        pk=submission_id, status=Status.RUNNING, attempts=attempt
    ).update(
        status=Status.QUEUED,
        attempts=F("attempts") - 1,
        worker="",
        enqueued_at=None,
        started_at=None,
    )
    if done:
        _event(submission_id, "requeued", reason="labels_changed", attempt=attempt)
    return bool(done)


# --- Final submissions (issue 13) -------------------------------------------------------------


def submission_select(
    *, user, submission: Submission, selected: bool, now: dt.datetime | None = None
) -> Submission:
    """Mark (or unmark) one of the caller's team's finished submissions as final.

    At most ``phase.max_final_submissions`` per team: enforced under the team row's lock,
    so two requests at once cannot both take the last place. Refused after ``ends_at``
    (selections freeze there) and on a phase that counts every submission.
    """
    phase = submission.phase
    now = now or timezone.now()
    if not Membership.objects.filter(user=user, team_id=submission.team_id).exists():
        raise PermissionDenied(
            "Only members of the submitting team can choose its final submissions."
        )
    limit = phase.max_final_submissions
    if not phase.labels_split:
        raise ValidationFailed(
            "This phase has no private split: its board ranks every submission, so there "
            "is nothing to select."
        )
    if limit is None:
        raise ValidationFailed(
            "This phase counts every submission on the final board; there is nothing to select."
        )
    if now >= phase.ends_at:
        raise PermissionDenied(
            f"Final submissions froze when the phase ended ({_utc(phase.ends_at)})."
        )
    with transaction.atomic():
        # The team row is the lock every selection of this team queues behind.
        Team.objects.select_for_update().filter(pk=submission.team_id).first()
        current = (
            Submission.objects.filter(pk=submission.pk)
            .values("status", "selected", "is_baseline")
            .first()
        )
        if current is None:
            raise Conflict(f"Submission {submission.pk} no longer exists.")
        if current["selected"] == selected:
            submission.selected = selected
            return submission
        if selected:
            if current["status"] != Status.FINISHED or current["is_baseline"]:
                raise Conflict(
                    f"Submission {submission.pk} is {current['status']}; only finished "
                    "submissions can be marked final."
                )
            others = list(
                Submission.objects.filter(team_id=submission.team_id, phase=phase, selected=True)
                .exclude(pk=submission.pk)
                .order_by("created_at", "id")
                .values_list("pk", flat=True)
            )
            if len(others) >= limit:
                listed = ", ".join(str(pk) for pk in others)
                raise Conflict(
                    f"Your team has already marked {len(others)} submission"
                    f"{'' if len(others) == 1 else 's'} as final ({listed}); this phase allows "
                    f"{limit}. Unmark one first."
                )
        Submission.objects.filter(pk=submission.pk).update(selected=selected)
        # The final board reads selections: a new board version.
        leaderboard_changed(phase_ids=[phase.pk], team_id=submission.team_id)
        _event(submission.pk, "selected" if selected else "unselected", actor=user)
    submission.selected = selected
    return submission


# --- Organizer actions -----------------------------------------------------------------------


def _require_organizer(*, submission: Submission, actor) -> None:
    if not submission.phase.challenge.is_organizer(actor):
        raise PermissionDenied("Only the challenge's organizers can do this.")


def _why(reason: str) -> dict[str, str]:
    # An organizer's reason is kept in the audit trail (and shown to the team where it
    # concerns them); the admin's actions give none.
    reason = reason.strip()
    return {"reason": reason} if reason else {}


def submission_rerun(*, submission: Submission, actor, reason: str = "") -> Submission:
    """Score a finished, failed or cancelled submission again (e.g. after a label fix)."""
    _require_organizer(submission=submission, actor=actor)
    with transaction.atomic():
        previous = (
            Submission.objects.select_for_update()
            .values_list("status", flat=True)
            .get(pk=submission.pk)
        )
        done = Submission.objects.filter(
            pk=submission.pk, status__in=[Status.FINISHED, Status.FAILED, Status.CANCELLED]
        ).update(
            status=Status.QUEUED,
            scores=None,
            primary_score=None,
            ci_low=None,
            ci_high=None,
            errors=[],
            attempts=0,
            worker="",
            enqueued_at=None,
            started_at=None,
            finished_at=None,
        )
        if not done:
            submission.refresh_from_db(fields=["status"])
            raise Conflict(
                f"Submission {submission.pk} is {submission.status}; "
                "only finished, failed or cancelled submissions can be re-run."
            )
        evaluations.clear_evaluation(submission_ids=[submission.pk])
        if previous == Status.FINISHED:
            leaderboard_changed(phase_ids=[submission.phase_id], team_id=submission.team_id)
        _event(submission.pk, "rerun", actor=actor, previous_status=previous, **_why(reason))
        transaction.on_commit(lambda: queue.enqueue_scoring(submission.pk))
    submission.refresh_from_db()
    return submission


def submission_cancel(*, submission: Submission, actor, reason: str = "") -> Submission:
    """Take a queued submission out of the queue; it no longer counts against limits."""
    _require_organizer(submission=submission, actor=actor)
    with transaction.atomic():
        done = Submission.objects.filter(pk=submission.pk, status=Status.QUEUED).update(
            status=Status.CANCELLED, finished_at=timezone.now()
        )
        if not done:
            submission.refresh_from_db(fields=["status"])
            raise Conflict(
                f"Submission {submission.pk} is {submission.status}; "
                "only queued submissions can be cancelled."
            )
        _event(submission.pk, "cancelled", actor=actor, **_why(reason))
    submission.refresh_from_db()
    return submission


def submission_set_flags(
    *,
    submission: Submission,
    actor,
    hidden: bool | None = None,
    disqualified: bool | None = None,
    baseline: bool | None = None,
    reason: str = "",
) -> Submission:
    """Hide, disqualify or mark as baseline; records only the flags that changed."""
    _require_organizer(submission=submission, actor=actor)
    wanted = {"is_hidden": hidden, "is_disqualified": disqualified, "is_baseline": baseline}
    wanted = {field: value for field, value in wanted.items() if value is not None}
    with transaction.atomic():
        locked = Submission.objects.select_for_update().get(pk=submission.pk)
        changes = {
            field: [getattr(locked, field), value]
            for field, value in wanted.items()
            if getattr(locked, field) != value
        }
        if changes:
            for field, (_, value) in changes.items():
                setattr(locked, field, value)
            # A finished submission's save also makes a new leaderboard version
            # (leaderboard.signals).
            locked.save(update_fields=list(changes))
            _event(submission.pk, "flags", actor=actor, changes=changes, **_why(reason))
    submission.refresh_from_db()
    return submission


# --- The sweeper (celery beat) --------------------------------------------------------------


def _left_by_earlier_process(worker: str, started_at: dt.datetime | None) -> bool:
    """Whether an in-process claim belongs to no live process (see queue.inprocess_owner)."""
    owner = queue.inprocess_owner(worker)
    if owner == "unknown":
        return started_at is not None and started_at < queue.process_started_at()
    # "self": this process claimed it but holds no lock on it, so it is scoring it no more.
    return owner in ("dead", "self")


def _requeue_lost(submission_id: int, *, worker: str, attempts: int) -> bool:
    """Put back in the queue a running submission whose worker died (its attempt counts).

    Conditional on the claim the sweep saw, so a worker that claims it meanwhile wins.
    ``enqueued_at`` is cleared: if the broker cannot take it now, the next sweep retries.
    """
    done = Submission.objects.filter(
        pk=submission_id, status=Status.RUNNING, worker=worker, attempts=attempts
    ).update(status=Status.QUEUED, enqueued_at=None)
    if not done:
        return False
    _event(submission_id, "requeued", reason="worker_lost", worker=worker, attempts=attempts)
    queue.enqueue_scoring(submission_id)
    return True


def submissions_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Re-queue what the broker never got or lost, and end what a live worker cannot finish.

    - queued and not handed to the broker for a whole sweep interval (it was down when the
      upload committed), or handed over so long ago that the message must be lost, or
      handed over an interval ago while the broker's queue is now empty (it lost it);
    - running, but no process holds its scoring lock: its worker died, whenever that was
      (workers may have been down for hours behind a backlog). It goes back to the queue
      with its attempt counted, so the attempt cap stays the only way a crasher fails;
    - running, its scoring lock held by a live process, for longer than the hard time limit
      plus an interval: failed as timed out, and the organizers are told.

    Where other processes' locks cannot be seen (SQLite), the in-process runner's recorded
    identity tells a dead claimant from a live one; a claim by a process that cannot be
    looked at is treated as live.

    Without a broker (tasks in the web process's thread pool) a restart loses the pool's
    work, so what an earlier process owned is taken over at once, whatever its age:
    queued submissions handed out (or created) before this process started, and running
    ones that no live process holds.
    """
    now = now or timezone.now()
    inprocess = settings.EVALSERVER_INPROCESS_TASKS
    interval = dt.timedelta(seconds=settings.EVALSERVER_SWEEP_INTERVAL)
    hard_limit = dt.timedelta(seconds=settings.EVALSERVER_SCORING_TIME_LIMIT)
    lost_after = dt.timedelta(
        seconds=settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    )
    counts = {"requeued": 0, "recovered": 0, "timed_out": 0}

    stranded_when = Q(enqueued_at__isnull=True, created_at__lt=now - interval) | Q(
        enqueued_at__lt=now - lost_after - interval
    )
    if inprocess:
        started = queue.process_started_at()
        stranded_when |= Q(enqueued_at__lt=started) | Q(
            enqueued_at__isnull=True, created_at__lt=started
        )
    stranded = Submission.objects.filter(status=Status.QUEUED)
    if (
        not inprocess
        and stranded.filter(enqueued_at__lt=now - interval).exists()
        and queue.broker_backlog() == 0
    ):
        # Handed over an interval ago, nothing waits in the broker, still queued: the broker
        # lost the message (a Redis restarted without its data). Sending it again costs at
        # most a duplicate, which the scoring lock and the claim make harmless.
        stranded_when |= Q(enqueued_at__lt=now - interval)
    stranded = stranded.filter(stranded_when)
    for submission_id in stranded.values_list("pk", flat=True):
        if queue.enqueue_scoring(submission_id):
            counts["requeued"] += 1

    running = list(
        Submission.objects.filter(status=Status.RUNNING).values_list(
            "pk", "started_at", "worker", "attempts"
        )
    )
    live = queue.scoring_locks_held([pk for pk, _, _, _ in running])
    locks_visible = queue.can_see_scoring_locks()
    for submission_id, started_at, worker, attempts in running:
        if submission_id not in live and (
            locks_visible or (inprocess and _left_by_earlier_process(worker, started_at))
        ):
            if _requeue_lost(submission_id, worker=worker, attempts=attempts):
                counts["recovered"] += 1
        elif started_at is not None and started_at < now - hard_limit - interval:
            limit = settings.EVALSERVER_SCORING_TIME_LIMIT
            if _fail(
                submission_id,
                errors=[
                    f"scoring did not finish within the limit of {limit} seconds; "
                    "organizers have been told"
                ],
                from_status=Status.RUNNING,
                reason="swept",
            ):
                logger.error("Submission %s was still running past the hard limit", submission_id)
                notify.notify_submission_timed_out(submission_id=submission_id, limit_seconds=limit)
                counts["timed_out"] += 1
    if any(counts.values()):
        logger.warning("Sweeper: %s", counts)
    return counts
