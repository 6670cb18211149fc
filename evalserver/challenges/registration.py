"""Who may take part in a challenge: its registration mode, checked when a user creates or
joins a team (evalserver.teams.services) and when a team uploads (submissions.services).

- ``open``: anyone signed in (and not banned).
- ``approval``: teams are created as usual but upload only once an organizer approved them;
  the team sees that it is pending.
- ``domains``: only users whose address is at one of ``allowed_email_domains`` and who have
  confirmed that address (a link mailed to it) may create or join a team.
"""

from __future__ import annotations

import datetime as dt

from django.core import signing
from django.core.mail import send_mail
from django.urls import reverse

from evalserver.challenges.models import Challenge, EmailConfirmation
from evalserver.errors import PermissionDenied, ValidationFailed

CONFIRM_SALT = "evalserver.email-confirmation"
CONFIRM_MAX_AGE = dt.timedelta(days=3)
PENDING_MESSAGE = (
    "Your team is waiting for the organizers' approval; you can upload once they approve it."
)


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower() if "@" in (email or "") else ""


def email_is_confirmed(*, user) -> bool:
    confirmation = EmailConfirmation.objects.filter(user_id=user.pk).first()
    return bool(
        confirmation
        and user.email
        and confirmation.email.strip().lower() == user.email.strip().lower()
    )


def registration_refusal(*, challenge: Challenge, user) -> str | None:
    """Why ``user`` may not create or join a team of ``challenge`` (None: they may)."""
    if challenge.registration != Challenge.Registration.DOMAINS:
        return None
    domains = [d.lower() for d in challenge.allowed_email_domains or []]
    if email_domain(user.email) not in domains:
        listed = ", ".join(f"@{d}" for d in domains) or "(none yet)"
        return (
            f"This challenge is open to addresses at {listed} only; yours is "
            f"{user.email or 'not set'}."
        )
    if not email_is_confirmed(user=user):
        return (
            "Confirm your email address first: we mail you a link from your account page "
            f"({reverse('confirm-email')})."
        )
    return None


def check_may_take_part(*, challenge: Challenge, user) -> None:
    refusal = registration_refusal(challenge=challenge, user=user)
    if refusal:
        raise PermissionDenied(refusal)


def team_is_pending(*, team, challenge: Challenge | None = None) -> bool:
    """Whether the team waits for the organizers' approval before it may upload."""
    challenge = challenge or team.challenge
    return challenge.registration == Challenge.Registration.APPROVAL and team.approved_at is None


def clean_domains(raw) -> list[str]:
    """Domains from a list or a comma/space separated text; raises ValidationFailed."""
    items = raw if isinstance(raw, list) else str(raw or "").replace(",", " ").split()
    domains = []
    for item in items:
        domain = str(item).strip().lower().lstrip("@")
        if not domain:
            continue
        labels = domain.split(".")
        if len(labels) < 2 or not all(
            label and all(c.isalnum() or c == "-" for c in label) for label in labels
        ):
            raise ValidationFailed(f"{item!r} is not a domain like example.org.")
        domains.append(domain)
    return list(dict.fromkeys(domains))


# --- Confirming an address ------------------------------------------------------------------


def confirmation_token(*, user) -> str:
    return signing.dumps({"u": user.pk, "e": user.email.lower()}, salt=CONFIRM_SALT)


def confirmation_send(*, user, base_url: str = "") -> None:
    """Mail a confirmation link to the user's address (through the configured mail server)."""
    if not user.email:
        raise ValidationFailed("Your account has no email address to confirm.")
    path = reverse("confirm-email-token", args=[confirmation_token(user=user)])
    send_mail(
        subject="Confirm your email address",
        message=(
            f"Open this link to confirm {user.email} for your evalserver account "
            f"{user.get_username()}:\n\n{base_url}{path}\n\n"
            "It works for 3 days. If you did not ask for it, ignore this mail."
        ),
        from_email=None,
        recipient_list=[user.email],
    )


def confirmation_accept(*, user, token: str) -> EmailConfirmation:
    try:
        data = signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
    except signing.SignatureExpired:
        raise ValidationFailed("The link has expired; ask for a new one.") from None
    except signing.BadSignature:
        raise ValidationFailed("The link is not valid.") from None
    if data.get("u") != user.pk or data.get("e") != (user.email or "").lower():
        raise ValidationFailed(
            "The link was sent for another account or address; ask for a new one."
        )
    confirmation, _ = EmailConfirmation.objects.update_or_create(
        user=user, defaults={"email": user.email}
    )
    return confirmation
