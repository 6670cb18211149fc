"""Mail to the people who can fix what the server cannot: a challenge's organizers and the
site admins (EVALSERVER_ADMINS).

Mail leaves only after the surrounding transaction commits (a rolled-back failure told
nobody anything true), and a mail server that is down never fails the caller: the problem
is logged instead. Messages name the challenge, phase, team and the admin page, and
nothing of the hidden labels.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from evalserver.challenges.models import Challenge, Phase
from submissions.models import Submission

logger = logging.getLogger(__name__)

# A burst of uploads to a phase without labels must not become a burst of mail.
NO_LABELS_MAIL_INTERVAL = 3600


def _recipients(challenge: Challenge) -> list[str]:
    organizers = challenge.organizers.exclude(email="").values_list("email", flat=True)
    admins = [address for _, address in settings.ADMINS]
    return list(dict.fromkeys([*organizers, *admins]))


def _send_after_commit(*, challenge: Challenge, subject: str, body: str) -> None:
    recipients = _recipients(challenge)
    if not recipients:
        logger.warning(
            "Nobody to tell about %r: no organizer email and no EVALSERVER_ADMINS", subject
        )
        return

    def send() -> None:
        try:
            send_mail(subject, body, None, recipients)
        except Exception:
            logger.exception("Could not mail %s about %r", ", ".join(recipients), subject)

    transaction.on_commit(send)


def _notify_submission(*, submission_id: int, subject: str, what_happened: str) -> None:
    submission = Submission.objects.select_related("phase__challenge", "team").get(pk=submission_id)
    phase = submission.phase
    challenge = phase.challenge
    admin_path = reverse("admin:submissions_submission_change", args=[submission.pk])
    _send_after_commit(
        challenge=challenge,
        subject=f"[{challenge.slug}] submission {submission.pk} {subject}",
        body=(
            f"Submission {submission.pk} of team {submission.team.name!r} to phase "
            f"{phase.name!r} ({phase.slug}) of challenge {challenge.title!r} "
            f"({challenge.slug}) {what_happened} It has been failed, and the team was "
            "told the organizers know.\n\n"
            f"Admin page: {admin_path}\n"
            "The workers' logs around that submission id say what went wrong.\n"
        ),
    )


def notify_submission_crashed(*, submission_id: int, attempts: int) -> None:
    """Tell the organizers that a submission was failed because it kept crashing its worker."""
    _notify_submission(
        submission_id=submission_id,
        subject="crashed the scorer",
        what_happened=(
            f"was handed to a worker {attempts} times and never finished: it crashes or "
            "hangs the scorer."
        ),
    )


def notify_submission_server_error(*, submission_id: int) -> None:
    """Tell the organizers that scoring raised an error that is ours, not the file's."""
    _notify_submission(
        submission_id=submission_id,
        subject="hit a server error while scoring",
        what_happened="could not be scored because the scorer raised an unexpected error.",
    )


def notify_submission_timed_out(*, submission_id: int, limit_seconds: int) -> None:
    """Tell the organizers that the sweeper failed a submission stuck past the hard limit."""
    _notify_submission(
        submission_id=submission_id,
        subject="ran past the scoring time limit",
        what_happened=(
            f"was still running past the hard limit of {limit_seconds} seconds with no "
            "worker holding it."
        ),
    )


def notify_phase_has_no_labels(*, phase: Phase, team_name: str) -> None:
    """Tell the organizers an upload was refused for want of hidden labels, at most once an
    hour per phase."""
    if not cache.add(f"notify:no-labels:{phase.pk}", 1, timeout=NO_LABELS_MAIL_INTERVAL):
        return
    challenge = phase.challenge
    admin_path = reverse("admin:challenges_phase_change", args=[phase.pk])
    _send_after_commit(
        challenge=challenge,
        subject=f"[{challenge.slug}] phase {phase.slug} refuses uploads: no hidden labels",
        body=(
            f"Team {team_name!r} tried to upload to phase {phase.name!r} ({phase.slug}) "
            f"of challenge {challenge.title!r} ({challenge.slug}), which is open but has "
            "no hidden labels to score against, so the upload was refused. Import the "
            "labels (manage.py import_challenge, or the phase's admin page).\n\n"
            f"Admin page: {admin_path}\n"
            "Further refusals for this phase within the hour are not mailed.\n"
        ),
    )
