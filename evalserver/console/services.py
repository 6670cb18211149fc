"""Writes of the organizer console: label fixes with a rank diff (CONTRACT section 6).

A label fix runs as a preview first. ``rescore_start`` validates the corrected labels with the
import's checks, stores them beside the live ones and hands the preview to the workers;
``rescore_run`` (the task body) scores every finished submission of the phase against them
through the worker's own entry point (``submission_scores_against``), storing each result as
it finishes, so a preview redelivered after a worker death carries on where it stopped.
Nothing live changes until ``rescore_apply`` swaps the labels and every new score in one
transaction (one new leaderboard version); ``rescore_discard`` changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from evalserver import scoring
from evalserver.accounts.models import User
from evalserver.challenges.models import Challenge, ChallengeBan, Phase
from evalserver.challenges.registration import clean_domains
from evalserver.challenges.services import (
    StoredLabels,
    labels_discard_candidate,
    labels_item_count,
    labels_load_candidate,
    labels_store_candidate,
    phase_set_labels,
    phase_swap_labels,
)
from evalserver.console import locks
from evalserver.console.models import AuditEntry, Rescore, RescoreResult
from evalserver.errors import Conflict, DomainError, NotFound, ValidationFailed
from evalserver.scoring.errors import LabelsInvalid, SubmissionInvalid
from evalserver.teams.models import Membership, Team
from leaderboard.services import leaderboard_changed
from submissions import queue
from submissions.evaluations import clear_evaluation
from submissions.models import Submission, SubmissionEvent
from submissions.services import (
    primary_score_of,
    submission_cancel,
    submission_rerun,
    submission_scores_against,
    submission_set_flags,
)

logger = logging.getLogger(__name__)

Status = Rescore.Status
_OPEN = (Status.RUNNING, Status.READY)
# How often the preview looks again for submissions that finished while it ran.
_MAX_PASSES = 5


class LabelsRejected(ValidationFailed):
    """The corrected label file fails the import's checks; ``errors.labels`` lists why."""

    code = "labels_invalid"

    def __init__(self, problems: list[str]):
        super().__init__(
            f"The label file has {len(problems)} problem(s); nothing was stored: "
            + "; ".join(problems[:3])
        )
        self.field_errors = {"labels": problems}


def require_organizer(*, phase: Phase, user) -> None:
    """Organizers of the phase's challenge (and superusers); 404 for anyone else."""
    if not phase.challenge.is_organizer(user):
        raise NotFound("No such phase.")


def _stored(rescore: Rescore) -> StoredLabels:
    return StoredLabels(
        raw_name=rescore.labels_file,
        compact_name=rescore.labels_compact_file,
        sha256=rescore.labels_sha256,
        n_items=rescore.n_items,
    )


def _targets(phase_id: int):
    """What a preview scores: every finished submission of the phase (hidden, disqualified
    and baseline ones too, so lifting a flag later shows a score of the live labels)."""
    return Submission.objects.filter(phase_id=phase_id, status=Submission.Status.FINISHED)


# --- Start -----------------------------------------------------------------------------------


def rescore_start(*, phase: Phase, actor, data: bytes, filename: str = "labels.json") -> Rescore:
    """Validate ``data`` as the phase's corrected labels and start a preview on the workers.

    A preview of the same phase still running or ready is discarded: the newer file is the
    one the organizer means (the database allows one open preview per phase).
    """
    require_organizer(phase=phase, user=actor)
    if not data:
        raise LabelsRejected(["the file is empty"])
    try:
        stored = labels_store_candidate(phase=phase, data=data, filename=filename)
    except LabelsInvalid as exc:
        raise LabelsRejected(list(exc.errors)) from None
    if stored.sha256 == phase.labels_sha256:
        labels_discard_candidate(stored=stored)
        raise ValidationFailed(
            "This file is the phase's current label file; there is nothing to re-score."
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            locked = Phase.objects.select_for_update().get(pk=phase.pk)
            replaced = list(Rescore.objects.filter(phase=locked, status__in=_OPEN))
            Rescore.objects.filter(pk__in=[r.pk for r in replaced], status__in=_OPEN).update(
                status=Status.DISCARDED, closed_at=now, closed_by=actor
            )
            rescore = Rescore.objects.create(
                phase=locked,
                status=Status.RUNNING,
                labels_file=stored.raw_name,
                labels_compact_file=stored.compact_name,
                labels_sha256=stored.sha256,
                n_items=stored.n_items,
                original_filename=filename[-255:],
                base_labels_sha256=locked.labels_sha256,
                total=_targets(locked.pk).count(),
                created_by=actor,
                created_at=now,
            )
            for old in replaced:
                transaction.on_commit(lambda old=old: _forget_candidate(old))
            transaction.on_commit(lambda: rescore_enqueue(rescore.pk))
    except BaseException:
        labels_discard_candidate(stored=stored)
        raise
    logger.info("Rescore %s of %s started by %s", rescore.pk, phase, actor)
    return rescore


def _forget_candidate(rescore: Rescore) -> None:
    # Another rescore may have stored the very same file under the same name.
    names = {rescore.labels_file, rescore.labels_compact_file}
    in_use = Rescore.objects.filter(status__in=[*_OPEN, Status.APPLIED]).exclude(pk=rescore.pk)
    if (
        in_use.filter(labels_file__in=names).exists()
        or in_use.filter(labels_compact_file__in=names).exists()
    ):
        return
    live = Phase.objects.filter(pk=rescore.phase_id).values_list(
        "labels_file", "labels_compact_file"
    )
    if names & {name for row in live for name in row}:
        return
    labels_discard_candidate(stored=_stored(rescore))


# --- Handing the preview to a worker -----------------------------------------------------


def rescore_enqueue(rescore_id: int) -> bool:
    """Send the preview to be run; False (and logged) when that was not possible. Never
    raises: the sweeper hands it out again later."""
    handed_over_at = timezone.now()
    try:
        if settings.EVALSERVER_INPROCESS_TASKS:
            if settings.EVALSERVER_INPROCESS_SYNC:
                _run_and_close(rescore_id)
            else:
                threading.Thread(
                    target=_run_and_close, args=(rescore_id,), name="rescore", daemon=True
                ).start()
        else:
            from evalserver.celery import app
            from evalserver.console.tasks import run_rescore

            with app.connection_for_write() as conn:
                run_rescore.apply_async(
                    args=[rescore_id],
                    connection=conn,
                    retry=True,
                    retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
                )
    except Exception:
        logger.warning("Could not hand rescore %s out; the sweeper will", rescore_id, exc_info=True)
        return False
    Rescore.objects.filter(pk=rescore_id).update(enqueued_at=handed_over_at)
    return True


def _run_and_close(rescore_id: int) -> None:
    try:
        rescore_run(rescore_id=rescore_id, worker=queue.inprocess_worker_identity())
    except Exception:
        logger.exception("In-process rescore %s failed", rescore_id)
    finally:
        if not settings.EVALSERVER_INPROCESS_SYNC:
            connections.close_all()


# --- The preview itself (runs on a worker) ------------------------------------------------


def _fail(rescore_id: int, errors: list[str]) -> bool:
    return bool(
        Rescore.objects.filter(pk=rescore_id, status=Status.RUNNING).update(
            status=Status.FAILED, errors=errors, closed_at=timezone.now()
        )
    )


def _claim(rescore_id: int, *, worker: str) -> tuple[Rescore | None, str]:
    current = Rescore.objects.filter(pk=rescore_id).values("status", "attempts").first()
    if current is None:
        return None, "missing"
    if current["status"] != Status.RUNNING:
        return None, f"already {current['status']}"
    if current["attempts"] >= settings.EVALSERVER_MAX_SCORING_ATTEMPTS:
        _fail(rescore_id, [f"the preview stopped its worker {current['attempts']} times"])
        logger.error("Rescore %s failed after %s attempts", rescore_id, current["attempts"])
        return None, "crashed"
    claimed = Rescore.objects.filter(
        pk=rescore_id, status=Status.RUNNING, attempts=current["attempts"]
    ).update(attempts=F("attempts") + 1, worker=worker[:200], started_at=timezone.now())
    if not claimed:
        return None, "claimed elsewhere"
    return Rescore.objects.select_related("phase__challenge").get(pk=rescore_id), "claimed"


def _score_one(submission: Submission, labels) -> RescoreResult:
    try:
        scores = submission_scores_against(submission=submission, labels=labels)
    except SubmissionInvalid as exc:
        return RescoreResult(submission=submission, errors=list(exc.errors)[:20])
    return RescoreResult(
        submission=submission, scores=scores, primary_score=primary_score_of(scores)
    )


def _missing(rescore: Rescore) -> list[int]:
    done = RescoreResult.objects.filter(rescore=rescore).values("submission_id")
    return list(
        _targets(rescore.phase_id).exclude(pk__in=done).order_by("pk").values_list("pk", flat=True)
    )


def _still_running(rescore_id: int) -> bool:
    return Rescore.objects.filter(pk=rescore_id, status=Status.RUNNING).exists()


def _score_and_store(rescore: Rescore, submission_id: int, labels) -> None:
    submission = Submission.objects.select_related("phase__challenge").get(pk=submission_id)
    result = _score_one(submission, labels)
    result.rescore = rescore
    # A redelivered duplicate may have stored it first: the first result stands.
    RescoreResult.objects.bulk_create([result], ignore_conflicts=True)


def rescore_run(*, rescore_id: int, worker: str = "") -> str:
    """Score the preview's missing submissions, then mark it ready. Safe to call again at
    any point (after a worker death, twice at once): it resumes, and finishes once."""
    with locks.rescore_lock(rescore_id) as held:
        if not held:
            return "busy"
        rescore, outcome = _claim(rescore_id, worker=worker)
        if rescore is None:
            return outcome
        try:
            labels = labels_load_candidate(phase=rescore.phase, stored=_stored(rescore))
        except Exception:
            logger.exception("Rescore %s: the candidate labels could not be read", rescore_id)
            _fail(rescore_id, ["the corrected labels could not be read back from storage"])
            return "failed"
        delay = settings.EVALSERVER_TEST_SCORING_DELAY_MS
        for _ in range(_MAX_PASSES):
            missing = _missing(rescore)
            if not missing:
                break
            done = RescoreResult.objects.filter(rescore=rescore).count()
            Rescore.objects.filter(pk=rescore_id).update(total=done + len(missing))
            for submission_id in missing:
                if not _still_running(rescore_id):
                    return "stopped"  # discarded or replaced meanwhile
                if delay:
                    time.sleep(delay / 1000)
                try:
                    _score_and_store(rescore, submission_id, labels)
                except Submission.DoesNotExist:
                    continue  # deleted meanwhile
                except Exception:
                    logger.exception("Rescore %s: submission %s", rescore_id, submission_id)
                    _fail(
                        rescore_id,
                        [f"submission {submission_id} could not be scored (a server problem)"],
                    )
                    return "failed"
        done = RescoreResult.objects.filter(rescore=rescore).count()
        ready = Rescore.objects.filter(pk=rescore_id, status=Status.RUNNING).update(
            status=Status.READY, ready_at=timezone.now(), total=done
        )
        return "ready" if ready else "stopped"


# --- Apply and discard -------------------------------------------------------------------


def _locked_open(rescore: Rescore, *, actor, wanted: tuple[str, ...]) -> Rescore:
    locked = (
        Rescore.objects.select_for_update().select_related("phase__challenge").get(pk=rescore.pk)
    )
    if locked.status not in wanted:
        raise Conflict(
            f"Rescore {rescore.pk} is {locked.status}; only a "
            + " or ".join(wanted)
            + " preview can do this."
        )
    return locked


def rescore_apply(*, rescore: Rescore, actor) -> Rescore:
    """Swap in the corrected labels and every new score in one transaction.

    Submissions that finished after the preview's last pass are scored against the new labels
    here; queued and running ones are (re)scored by the workers against the new labels (a
    running one is put back in the queue). A submission that does not fit the new labels
    fails with the scorer's problems. The board changes once: one new leaderboard version.
    """
    require_organizer(phase=rescore.phase, user=actor)
    if rescore.status != Status.READY:
        raise Conflict(f"Rescore {rescore.pk} is {rescore.status}; only a ready one can apply.")
    labels = labels_load_candidate(phase=rescore.phase, stored=_stored(rescore))
    # Most stragglers are scored before the transaction, keeping its locks short.
    for submission_id in _missing(rescore):
        try:
            _score_and_store(rescore, submission_id, labels)
        except Submission.DoesNotExist:
            continue
    now = timezone.now()
    requeue: list[int] = []
    with transaction.atomic():
        locked = _locked_open(rescore, actor=actor, wanted=(Status.READY,))
        phase = (
            Phase.objects.select_for_update().select_related("challenge").get(pk=locked.phase_id)
        )
        if phase.labels_sha256 != locked.base_labels_sha256:
            raise Conflict(
                "The phase's labels changed after this preview started; start a new preview."
            )
        # Queued rows are locked too: a worker claiming one now waits for the new labels.
        submissions = list(
            Submission.objects.select_for_update()
            .filter(
                phase=phase,
                status__in=[
                    Submission.Status.QUEUED,
                    Submission.Status.RUNNING,
                    Submission.Status.FINISHED,
                ],
            )
            .select_related("phase__challenge")
            .order_by("pk")
        )
        results = {r.submission_id: r for r in RescoreResult.objects.filter(rescore=locked)}
        changed: list[Submission] = []
        events: list[SubmissionEvent] = []
        for submission in submissions:
            if submission.status == Submission.Status.RUNNING:
                requeue.append(submission.pk)
                continue
            if submission.status != Submission.Status.FINISHED:
                continue
            result = results.get(submission.pk)
            if result is None:  # finished in the last moments: scored here, under the lock
                result = _score_one(submission, labels)
                result.rescore = locked
                result.save()
            old_score = submission.primary_score
            if result.errors:
                submission.status = Submission.Status.FAILED
                submission.scores = None
                submission.primary_score = None
                submission.errors = result.errors
                submission.finished_at = now
            else:
                submission.scores = result.scores
                submission.primary_score = result.primary_score
            # The old labels' interval and split scores no longer hold: dropped rather than
            # shown beside the new score (the preview does not compute replicates yet).
            submission.ci_low = None
            submission.ci_high = None
            changed.append(submission)
            events.append(
                SubmissionEvent(
                    submission=submission,
                    actor=actor,
                    action="rescored",
                    detail={
                        "rescore": locked.pk,
                        "old_primary_score": old_score,
                        "new_primary_score": submission.primary_score,
                        "failed": bool(result.errors),
                    },
                    created_at=now,
                )
            )
        # bulk_update sends no signals: the one version bump below is the board's only one.
        Submission.objects.bulk_update(
            changed,
            ["status", "scores", "primary_score", "errors", "finished_at", "ci_low", "ci_high"],
            batch_size=500,
        )
        clear_evaluation(submission_ids=[submission.pk for submission in changed])
        if requeue:
            # Scored against the old labels right now: back to the queue, for the new ones.
            Submission.objects.filter(pk__in=requeue, status=Submission.Status.RUNNING).update(
                status=Submission.Status.QUEUED,
                attempts=F("attempts") - 1,
                worker="",
                enqueued_at=None,
                started_at=None,
            )
            events += [
                SubmissionEvent(
                    submission_id=pk,
                    actor=actor,
                    action="requeued",
                    detail={"reason": "label_fix", "rescore": locked.pk},
                    created_at=now,
                )
                for pk in requeue
            ]
        SubmissionEvent.objects.bulk_create(events)
        phase_swap_labels(phase=phase, stored=_stored(locked))
        leaderboard_changed(phase_ids=[phase.pk])
        locked.status = Status.APPLIED
        locked.closed_at = now
        locked.closed_by = actor
        locked.save(update_fields=["status", "closed_at", "closed_by"])
        for pk in requeue:
            transaction.on_commit(lambda pk=pk: queue.enqueue_scoring(pk))
    logger.info(
        "Rescore %s applied to %s by %s: %d submissions re-scored, %d re-queued",
        locked.pk,
        phase,
        actor,
        len(changed),
        len(requeue),
    )
    return locked


def rescore_discard(*, rescore: Rescore, actor) -> Rescore:
    """Drop a preview: the live labels and board stay exactly as they are."""
    require_organizer(phase=rescore.phase, user=actor)
    with transaction.atomic():
        locked = _locked_open(rescore, actor=actor, wanted=_OPEN)
        locked.status = Status.DISCARDED
        locked.closed_at = timezone.now()
        locked.closed_by = actor
        locked.save(update_fields=["status", "closed_at", "closed_by"])
        transaction.on_commit(lambda: _forget_candidate(locked))
    return locked


# --- The sweeper ---------------------------------------------------------------------------


def rescore_resume_if_stalled(*, rescore: Rescore) -> bool:
    """Without a broker there is no beat to sweep previews: one left running by a web process
    that restarted is handed out again when someone looks at it (the page or the API)."""
    if not settings.EVALSERVER_INPROCESS_TASKS or rescore.status != Status.RUNNING:
        return False
    return rescores_sweep(rescore_ids=[rescore.pk]) > 0


def rescores_sweep(*, now=None, rescore_ids: list[int] | None = None) -> int:
    """Hand out again every running preview no live process holds (its worker died, or the
    broker lost or never got the message). Returns how many were handed out."""
    now = now or timezone.now()
    interval = settings.EVALSERVER_SWEEP_INTERVAL
    running = Rescore.objects.filter(status=Status.RUNNING)
    if rescore_ids is not None:
        running = running.filter(pk__in=rescore_ids)
    running = list(running.values_list("pk", "enqueued_at"))
    held = locks.rescore_locks_held([pk for pk, _ in running])
    count = 0
    for pk, enqueued_at in running:
        if pk in held:
            continue
        # Just handed out: its worker may not have taken it yet. Without a broker, what this
        # process handed out lives in this process's threads (held locks), so anything
        # handed out before this process started is orphaned at once.
        recent = enqueued_at is not None and (now - enqueued_at).total_seconds() < interval
        if settings.EVALSERVER_INPROCESS_TASKS and enqueued_at is not None:
            recent = recent and enqueued_at >= queue.process_started_at()
        if recent:
            continue
        if rescore_enqueue(pk):
            count += 1
    return count


# --- Phases ----------------------------------------------------------------------------------


def _audit(*, challenge_id: int, actor, action: str, reason: str = "", phase_id=None, **detail):
    AuditEntry.objects.create(
        challenge_id=challenge_id,
        phase_id=phase_id,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        reason=reason.strip(),
        detail=detail,
    )


def _required_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired()
    if len(reason) > 2000:
        raise ValidationFailed("A reason has at most 2,000 characters.")
    return reason


class ReasonRequired(ValidationFailed):
    code = "reason_required"

    def __init__(self):
        super().__init__("Give a reason: it is kept in the audit trail.")
        self.field_errors = {"reason": ["This field is required."]}


# The settings of a phase the console edits (a subset of challenges.services.PHASE_SETTINGS).
PHASE_EDITABLE = (
    "starts_at",
    "ends_at",
    "is_open",
    "max_submissions_per_day",
    "max_submissions_total",
    "max_upload_bytes",
    "leaderboard_visibility",
)


def _jsonable(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def phase_update(*, phase: Phase, actor, changes: dict, reason: str = "") -> Phase:
    """Change a phase's dates, limits, switch or visibility; records what changed."""
    require_organizer(phase=phase, user=actor)
    unknown = set(changes) - set(PHASE_EDITABLE)
    if unknown:
        raise ValidationFailed(
            f"These settings cannot be changed here: {', '.join(sorted(unknown))}."
        )
    with transaction.atomic():
        locked = Phase.objects.select_for_update().get(pk=phase.pk)
        changed = {
            name: [_jsonable(getattr(locked, name)), _jsonable(value)]
            for name, value in changes.items()
            if getattr(locked, name) != value
        }
        for name in changed:
            setattr(locked, name, changes[name])
        if locked.ends_at <= locked.starts_at:
            raise ValidationFailed("The phase must end after it starts.")
        visibility = locked.leaderboard_visibility
        if visibility not in Phase.Visibility.values:
            raise ValidationFailed(f"Unknown leaderboard visibility {visibility!r}.")
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
            _audit(
                challenge_id=locked.challenge_id,
                phase_id=locked.pk,
                actor=actor,
                action="phase_updated",
                reason=reason,
                changes=changed,
            )
            if changed.keys() & {"starts_at", "ends_at"}:
                # Which submissions count depends on the dates.
                leaderboard_changed(phase_ids=[locked.pk])
    phase.refresh_from_db()
    return phase


def phase_open_now(*, phase: Phase, actor, reason: str = "") -> Phase:
    """Take uploads from now on: the switch on, and a start in the future moved to now."""
    require_organizer(phase=phase, user=actor)
    now = timezone.now()
    if phase.ends_at <= now:
        raise Conflict(
            f"The phase ended at {phase.ends_at:%Y-%m-%d %H:%M} UTC; move its end date first."
        )
    changes = {"is_open": True}
    if phase.starts_at > now:
        changes["starts_at"] = now
    return phase_update(phase=phase, actor=actor, changes=changes, reason=reason)


def phase_close_now(*, phase: Phase, actor, reason: str = "") -> Phase:
    """Refuse uploads from now on (the switch off); the dates stay as they are."""
    return phase_update(phase=phase, actor=actor, changes={"is_open": False}, reason=reason)


@dataclass(frozen=True)
class LabelsCheck:
    valid: bool
    errors: list[str]
    n_items: int
    sha256: str
    # Finished submissions scored against the current labels: replacing the labels then
    # goes through a rescore preview, so the board never mixes old and new scores.
    needs_rescore: bool
    saved: bool = False


def phase_needs_rescore(*, phase: Phase) -> bool:
    """Whether new labels for ``phase`` must go through a rescore preview."""
    return _targets(phase.pk).exists()


def phase_labels_check(*, phase: Phase, actor, data: bytes) -> LabelsCheck:
    """The import's checks on a label file, without storing anything."""
    require_organizer(phase=phase, user=actor)
    needs = phase_needs_rescore(phase=phase)
    if not data:
        return LabelsCheck(False, ["the file is empty"], 0, "", needs)
    try:
        labels = scoring.load_labels(phase.track, data, list(phase.challenge.class_names))
    except LabelsInvalid as exc:
        return LabelsCheck(False, list(exc.errors), 0, "", needs)
    return LabelsCheck(True, [], labels_item_count(labels), hashlib.sha256(data).hexdigest(), needs)


def phase_labels_replace(*, phase: Phase, actor, data: bytes, filename: str, reason: str = ""):
    """Replace the labels of a phase that has no scored submission yet (else: a rescore)."""
    check = phase_labels_check(phase=phase, actor=actor, data=data)
    if not check.valid:
        raise LabelsRejected(check.errors)
    if check.needs_rescore:
        raise Conflict(
            "This phase has scored submissions: replace its labels with a re-score preview, "
            "so the board changes once, from the old ranking to the new."
        )
    try:
        phase_set_labels(phase=phase, data=data, filename=filename)
    except LabelsInvalid as exc:
        raise LabelsRejected(list(exc.errors)) from None
    _audit(
        challenge_id=phase.challenge_id,
        phase_id=phase.pk,
        actor=actor,
        action="labels_replaced",
        reason=reason,
        sha256=check.sha256,
        n_items=check.n_items,
    )
    return LabelsCheck(True, [], check.n_items, check.sha256, False, saved=True)


# --- Submissions -------------------------------------------------------------------------------

BULK_ACTIONS = (
    "rerun",
    "cancel",
    "hide",
    "unhide",
    "disqualify",
    "requalify",
    "baseline",
    "unbaseline",
)
_FLAG_ACTIONS = {
    "hide": {"hidden": True},
    "unhide": {"hidden": False},
    "disqualify": {"disqualified": True},
    "requalify": {"disqualified": False},
    "baseline": {"baseline": True},
    "unbaseline": {"baseline": False},
}
BULK_MAX = 500


@dataclass(frozen=True)
class BulkOutcome:
    submission_id: int
    ok: bool
    status: str
    detail: str


def submissions_bulk_action(
    *, challenge, actor, action: str, submission_ids: list[int], reason: str
) -> list[BulkOutcome]:
    """Re-run, cancel, hide, disqualify or mark baseline many submissions, each through the
    submission services, with the reason in each one's audit trail. A submission that cannot
    take the action (a queued one re-run, another challenge's) is reported, not fatal."""
    if not challenge.is_organizer(actor):
        raise NotFound("No such challenge.")
    if action not in BULK_ACTIONS:
        raise ValidationFailed(f"Unknown action {action!r}; one of {', '.join(BULK_ACTIONS)}.")
    reason = _required_reason(reason)
    ids = list(dict.fromkeys(int(i) for i in submission_ids))
    if not ids:
        raise ValidationFailed("Select at least one submission.")
    if len(ids) > BULK_MAX:
        raise ValidationFailed(f"At most {BULK_MAX} submissions at a time.")
    found = {
        s.pk: s
        for s in Submission.objects.select_related("phase__challenge").filter(
            pk__in=ids, phase__challenge=challenge
        )
    }
    outcomes = []
    for submission_id in ids:
        submission = found.get(submission_id)
        if submission is None:
            outcomes.append(BulkOutcome(submission_id, False, "", "No such submission."))
            continue
        try:
            if action == "rerun":
                submission = submission_rerun(submission=submission, actor=actor, reason=reason)
            elif action == "cancel":
                submission = submission_cancel(submission=submission, actor=actor, reason=reason)
            else:
                submission = submission_set_flags(
                    submission=submission, actor=actor, reason=reason, **_FLAG_ACTIONS[action]
                )
        except DomainError as exc:
            outcomes.append(BulkOutcome(submission_id, False, submission.status, exc.message))
            continue
        outcomes.append(BulkOutcome(submission_id, True, submission.status, "done"))
    return outcomes


# --- Teams and participants --------------------------------------------------------------------


def _membership_in(challenge, user_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("team", "user")
        .filter(challenge=challenge, user_id=user_id)
        .first()
    )
    if membership is None:
        raise NotFound("That user is in no team of this challenge.")
    return membership


def _remove_membership(membership: Membership) -> None:
    team_id = membership.team_id
    was_owner = membership.role == Membership.Role.OWNER
    membership.delete()
    if was_owner:
        # The team keeps an owner who can manage it: its longest-standing member.
        successor = Membership.objects.filter(team_id=team_id).order_by("joined_at", "id").first()
        if successor is not None:
            Membership.objects.filter(pk=successor.pk).update(role=Membership.Role.OWNER)


def team_member_remove(*, challenge, actor, user_id: int, reason: str) -> None:
    """Take a user out of their team; the team and its submissions stay."""
    if not challenge.is_organizer(actor):
        raise NotFound("No such challenge.")
    reason = _required_reason(reason)
    with transaction.atomic():
        membership = _membership_in(challenge, user_id)
        _remove_membership(membership)
        _audit(
            challenge_id=challenge.pk,
            actor=actor,
            action="member_removed",
            reason=reason,
            user=membership.user.get_username(),
            user_id=user_id,
            team=membership.team.name,
            team_id=membership.team_id,
        )


def user_ban(*, challenge, actor, user_id: int, reason: str) -> ChallengeBan:
    """Ban a user from the challenge: out of their team, no more uploads, teams or joins.
    Their team's submissions stay; the console flags the team."""
    if not challenge.is_organizer(actor):
        raise NotFound("No such challenge.")
    reason = _required_reason(reason)
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise NotFound("No such user.")
    if challenge.is_organizer(user):
        raise ValidationFailed("An organizer of the challenge cannot be banned from it.")
    with transaction.atomic():
        ban, created = ChallengeBan.objects.get_or_create(
            challenge=challenge,
            user=user,
            defaults={"reason": reason, "created_by": actor},
        )
        if not created:
            raise Conflict(f"{user.get_username()} is banned from this challenge already.")
        membership = Membership.objects.filter(challenge=challenge, user=user).first()
        team = None
        if membership is not None:
            team = membership.team
            _remove_membership(membership)
        _audit(
            challenge_id=challenge.pk,
            actor=actor,
            action="user_banned",
            reason=reason,
            user=user.get_username(),
            user_id=user.pk,
            team=team.name if team else None,
            team_id=team.pk if team else None,
        )
    return ban


def user_unban(*, challenge, actor, user_id: int, reason: str) -> None:
    if not challenge.is_organizer(actor):
        raise NotFound("No such challenge.")
    reason = _required_reason(reason)
    deleted, _ = ChallengeBan.objects.filter(challenge=challenge, user_id=user_id).delete()
    if not deleted:
        raise NotFound("That user is not banned from this challenge.")
    _audit(
        challenge_id=challenge.pk,
        actor=actor,
        action="user_unbanned",
        reason=reason,
        user_id=user_id,
    )


# --- Who may take part ---------------------------------------------------------------------


def challenge_registration_update(
    *, challenge, actor, registration: str, allowed_email_domains, reason: str = ""
):
    """Set the registration mode and the email-domain allow-list, with an audit entry."""
    if not challenge.is_organizer(actor):
        raise NotFound("No such challenge.")
    if registration not in Challenge.Registration.values:
        raise ValidationFailed(
            f"registration must be one of {', '.join(Challenge.Registration.values)}."
        )
    domains = clean_domains(allowed_email_domains)
    if registration == Challenge.Registration.DOMAINS and not domains:
        raise ValidationFailed("List at least one email domain for registration by domain.")
    with transaction.atomic():
        locked = Challenge.objects.select_for_update().get(pk=challenge.pk)
        changes = {}
        if locked.registration != registration:
            changes["registration"] = [locked.registration, registration]
        if list(locked.allowed_email_domains or []) != domains:
            changes["allowed_email_domains"] = [locked.allowed_email_domains, domains]
        if changes:
            locked.registration = registration
            locked.allowed_email_domains = domains
            locked.save(update_fields=["registration", "allowed_email_domains", "updated_at"])
            _audit(
                challenge_id=challenge.pk,
                actor=actor,
                action="registration_updated",
                reason=reason,
                changes=changes,
            )
    challenge.refresh_from_db()
    return challenge


def team_approve(*, challenge, actor, team_id: int, reason: str = "") -> Team:
    """Let a pending team upload (registration "approval"); a no-op for an approved one."""
    if not challenge.is_organizer(actor):
        raise NotFound("No such challenge.")
    team = Team.objects.filter(challenge=challenge, pk=team_id).first()
    if team is None:
        raise NotFound("No such team.")
    updated = Team.objects.filter(pk=team.pk, approved_at__isnull=True).update(
        approved_at=timezone.now()
    )
    if updated:
        _audit(
            challenge_id=challenge.pk,
            actor=actor,
            action="team_approved",
            reason=reason,
            team=team.name,
            team_id=team.pk,
        )
    team.refresh_from_db()
    return team
