"""Posting announcements and mailing them to a challenge's participants.

The post never waits for mail: it commits, then the mail goes out on a worker (or a thread of
the web process without a broker) in batches. A mail server that is down fails nobody's
request: the batch is retried later with a growing delay (the sweeper on celery beat, or a
timer in the web process), and recipients already mailed are never mailed again.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import threading

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connections, transaction
from django.utils import timezone

from evalserver.announcements.models import Announcement, MailOptOut
from evalserver.announcements.rendering import render_markdown
from evalserver.errors import NotFound, ValidationFailed

logger = logging.getLogger(__name__)

MAIL_BATCH = 50
# Waits before the next attempt when the mail server fails (the last repeats) ...
RETRY_DELAYS = (30, 120, 600, 1800, 3600)
# ... for about a day, then the announcement is marked failed and organizers see why.
MAX_ATTEMPTS = 30
OPT_OUT_PATH = "/account/mail/"


def announcement_post(*, challenge, actor, title: str, body: str, mail: bool) -> Announcement:
    if not challenge.is_organizer(actor):
        raise NotFound("No such challenge.")
    title, body = (title or "").strip(), (body or "").strip()
    problems = {}
    if not title:
        problems["title"] = ["A title is required."]
    elif len(title) > 200:
        problems["title"] = ["At most 200 characters."]
    if not body:
        problems["body"] = ["A message is required."]
    elif len(body) > 20_000:
        problems["body"] = ["At most 20,000 characters."]
    if problems:
        error = ValidationFailed("The announcement is incomplete: " + ", ".join(problems) + ".")
        error.field_errors = problems
        raise error
    with transaction.atomic():
        announcement = Announcement.objects.create(
            challenge=challenge,
            title=title,
            body=body,
            body_html=render_markdown(body),
            created_by=actor,
            mail=Announcement.Mail.PENDING if mail else Announcement.Mail.NONE,
        )
        if mail:
            transaction.on_commit(lambda: announcement_mail_enqueue(announcement.pk))
    return announcement


def recipients_after(*, challenge, cursor: int, limit: int) -> list:
    """The next participants to mail: members of a team of the challenge with an address,
    active, not opted out, not banned; by user id after ``cursor``."""
    from evalserver.accounts.models import User
    from evalserver.challenges.models import ChallengeBan

    return list(
        User.objects.filter(memberships__challenge=challenge, is_active=True, pk__gt=cursor)
        .exclude(email="")
        .exclude(pk__in=MailOptOut.objects.values("user_id"))
        .exclude(pk__in=ChallengeBan.objects.filter(challenge=challenge).values("user_id"))
        .order_by("pk")
        .distinct()[:limit]
    )


def _message(announcement: Announcement, user) -> EmailMessage:
    challenge = announcement.challenge
    text = (
        f"{announcement.body}\n\n-- \n"
        f"An announcement of the organizers of {challenge.title}, sent to you as a participant.\n"
        f"To stop challenge mail, switch it off on your account page ({OPT_OUT_PATH}).\n"
    )
    return EmailMessage(
        subject=f"[{challenge.title}] {announcement.title}",
        body=text,
        to=[user.email],
        headers={"List-Unsubscribe": f"<{OPT_OUT_PATH}>"},
    )


def announcement_mail_send(*, announcement_id: int, now=None) -> str:
    """Send every batch still due; on a mail server failure, schedule the next attempt.
    Returns "sent", "retry", "failed", "busy" or "nothing"."""
    while True:
        with transaction.atomic():
            # The row lock makes a second sender skip instead of mailing the batch twice.
            announcement = (
                Announcement.objects.select_for_update(skip_locked=True)
                .select_related("challenge")
                .filter(pk=announcement_id)
                .first()
            )
            if announcement is None:
                return (
                    "busy"
                    if Announcement.objects.filter(pk=announcement_id).exists()
                    else "nothing"
                )
            if announcement.mail != Announcement.Mail.PENDING:
                return "nothing"
            batch = recipients_after(
                challenge=announcement.challenge, cursor=announcement.mail_cursor, limit=MAIL_BATCH
            )
            if not batch:
                announcement.mail = Announcement.Mail.SENT
                announcement.mail_error = ""
                announcement.mail_next_attempt_at = None
                announcement.save(update_fields=["mail", "mail_error", "mail_next_attempt_at"])
                return "sent"
            try:
                with get_connection(fail_silently=False) as conn:
                    conn.send_messages([_message(announcement, user) for user in batch])
            except (OSError, smtplib.SMTPException) as exc:
                return _schedule_retry(announcement, exc, now=now)
            announcement.mail_cursor = batch[-1].pk
            announcement.mail_sent += len(batch)
            announcement.mail_error = ""
            announcement.save(update_fields=["mail_cursor", "mail_sent", "mail_error"])


def _schedule_retry(announcement: Announcement, exc: Exception, *, now=None) -> str:
    now = now or timezone.now()
    announcement.mail_attempts += 1
    announcement.mail_error = f"{type(exc).__name__}: {exc}"[:500]
    if announcement.mail_attempts >= MAX_ATTEMPTS:
        announcement.mail = Announcement.Mail.FAILED
        announcement.mail_next_attempt_at = None
        outcome = "failed"
    else:
        delay = RETRY_DELAYS[min(announcement.mail_attempts, len(RETRY_DELAYS)) - 1]
        announcement.mail_next_attempt_at = now + dt.timedelta(seconds=delay)
        outcome = "retry"
    announcement.save(update_fields=["mail", "mail_attempts", "mail_error", "mail_next_attempt_at"])
    logger.warning(
        "Announcement %s: the mail server failed (%s); %s",
        announcement.pk,
        announcement.mail_error,
        f"next attempt at {announcement.mail_next_attempt_at}" if outcome == "retry" else "gave up",
    )
    if (
        outcome == "retry"
        and settings.EVALSERVER_INPROCESS_TASKS
        and not settings.EVALSERVER_INPROCESS_SYNC
    ):
        # No beat without a broker: the web process retries by itself.
        timer = threading.Timer(delay, _send_and_close, args=(announcement.pk,))
        timer.daemon = True
        timer.start()
    return outcome


def _send_and_close(announcement_id: int) -> None:
    try:
        announcement_mail_send(announcement_id=announcement_id)
    except Exception:
        logger.exception("Mailing announcement %s failed", announcement_id)
    finally:
        connections.close_all()


def announcement_mail_enqueue(announcement_id: int) -> None:
    """Hand the mailing to a worker; never raises (the sweeper retries what is left)."""
    try:
        if settings.EVALSERVER_INPROCESS_TASKS:
            if settings.EVALSERVER_INPROCESS_SYNC:
                announcement_mail_send(announcement_id=announcement_id)
            else:
                threading.Thread(
                    target=_send_and_close, args=(announcement_id,), daemon=True
                ).start()
            return
        from evalserver.announcements.tasks import send_announcement_mail

        send_announcement_mail.apply_async(args=[announcement_id], retry=True)
    except Exception:
        logger.warning(
            "Could not hand announcement %s out for mail", announcement_id, exc_info=True
        )


def announcements_mail_sweep(*, now=None) -> int:
    """Mail again what is pending and due (its last attempt failed, or it was never handed
    out); returns how many were handed out."""
    now = now or timezone.now()
    due = Announcement.objects.filter(mail=Announcement.Mail.PENDING).filter(
        mail_next_attempt_at__lte=now
    ) | Announcement.objects.filter(
        mail=Announcement.Mail.PENDING,
        mail_next_attempt_at__isnull=True,
        created_at__lt=now - dt.timedelta(seconds=settings.EVALSERVER_SWEEP_INTERVAL),
    )
    ids = list(due.values_list("pk", flat=True))
    for announcement_id in ids:
        announcement_mail_enqueue(announcement_id)
    return len(ids)


def mail_opt_out_set(*, user, opted_out: bool) -> None:
    if opted_out:
        MailOptOut.objects.get_or_create(user=user)
    else:
        MailOptOut.objects.filter(user=user).delete()
