"""Accounts: registration, API tokens and password logins.

The browser pages and the REST API both call these, so the rules (password strength,
unique names, login throttling) hold whichever door a person uses.
"""

from __future__ import annotations

import math

from axes.models import AccessAttempt
from django.contrib.auth import authenticate, password_validation, user_logged_in
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from rest_framework.authtoken.models import Token

from evalserver.accounts.models import EMAIL_TAKEN_MESSAGE, USERNAME_TAKEN_MESSAGE, User
from evalserver.errors import DomainError, ValidationFailed

USERNAME_MAX_LENGTH = User._meta.get_field("username").max_length

LOGIN_LOCKED_MESSAGE = (
    "Too many failed logins for this account or from this address. "
    "Try again later, or reset your password."
)


def login_locked_message(retry_after: int) -> str:
    """The refusal of a login, saying how long to wait (README "Login protection")."""
    if retry_after >= 120:
        wait = f"{math.ceil(retry_after / 60)} minutes"
    else:
        wait = f"{retry_after} second{'s' if retry_after != 1 else ''}"
    return (
        "Too many failed logins for this account or from this address. "
        f"Try again in {wait}, or reset your password."
    )


class AccountInvalid(ValidationFailed):
    """Registration input that cannot be accepted, with the problems per field."""

    def __init__(self, field_errors: dict[str, list[str]]):
        self.field_errors = field_errors
        message = " ".join(
            f"{field}: {' '.join(messages)}" for field, messages in field_errors.items()
        )
        super().__init__(message)


class InvalidCredentials(ValidationFailed):
    code = "invalid_credentials"


class LoginLocked(DomainError):
    """Too many failed logins for this account or from this address (django-axes)."""

    status_code = 429
    code = "login_locked"


def _normalise_username(username: str) -> str:
    return User.normalize_username((username or "").strip())


def user_create(*, username: str, email: str, password: str) -> User:
    """Create an active account, or raise AccountInvalid naming every problem at once."""
    username = _normalise_username(username)
    email = User.objects.normalize_email((email or "").strip())
    problems: dict[str, list[str]] = {}

    if not username:
        problems.setdefault("username", []).append("A username is required.")
    elif len(username) > USERNAME_MAX_LENGTH:
        problems.setdefault("username", []).append(
            f"A username has at most {USERNAME_MAX_LENGTH} characters."
        )
    else:
        try:
            User.username_validator(username)
        except DjangoValidationError as exc:
            problems.setdefault("username", []).extend(exc.messages)
        # "Alice" and "alice" are one name to people (and to the database's constraint).
        if User.objects.filter(username__iexact=username).exists():
            problems.setdefault("username", []).append(USERNAME_TAKEN_MESSAGE)

    if not email:
        problems.setdefault("email", []).append(
            "An email address is required (for password resets)."
        )
    else:
        try:
            validate_email(email)
        except DjangoValidationError:
            problems.setdefault("email", []).append("Enter a valid email address.")
        else:
            if User.objects.filter(email__iexact=email).exists():
                problems.setdefault("email", []).append(EMAIL_TAKEN_MESSAGE)

    if not password:
        problems.setdefault("password", []).append("A password is required.")
    else:
        # The validators compare the password with the other fields, so give them a user.
        candidate = User(username=username, email=email)
        try:
            password_validation.validate_password(password, user=candidate)
        except DjangoValidationError as exc:
            problems.setdefault("password", []).extend(exc.messages)

    if problems:
        raise AccountInvalid(problems)

    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError:
        # Another sign-up with this name or address committed between the checks above and
        # the insert: the database decided. Ask it which one, as the checks would have.
        taken: dict[str, list[str]] = {}
        if User.objects.filter(username__iexact=username).exists():
            taken["username"] = [USERNAME_TAKEN_MESSAGE]
        if User.objects.filter(email__iexact=email).exists():
            taken["email"] = [EMAIL_TAKEN_MESSAGE]
        if not taken:
            raise
        raise AccountInvalid(taken) from None


def user_authenticate(*, request: HttpRequest, username: str, password: str) -> User:
    """Check a username and password through Django's auth stack, so django-axes counts
    failures and refuses locked-out users and addresses.

    ``request`` must be the Django request (not DRF's wrapper): axes marks it, and its
    middleware reads the mark on the way out.
    """
    user = authenticate(request=request, username=(username or "").strip(), password=password)
    if getattr(request, "axes_locked_out", False):
        raise LoginLocked(LOGIN_LOCKED_MESSAGE)
    if user is None:
        raise InvalidCredentials("Unable to log in with the username and password given.")
    if not user.is_active:
        raise InvalidCredentials("This account is disabled.")
    return user


def token_login(*, request: HttpRequest, username: str, password: str) -> Token:
    """The API's log-in: check the password, then hand out the user's token.

    A session log-in sends ``user_logged_in`` from ``django.contrib.auth.login``; a token
    log-in sends it here, so ``last_login`` is kept and django-axes clears the failures.
    """
    user = user_authenticate(request=request, username=username, password=password)
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    return token_get_or_create(user=user)


def token_get_or_create(*, user: User) -> Token:
    token, _ = Token.objects.get_or_create(user=user)
    return token


@transaction.atomic
def token_rotate(*, user: User) -> Token:
    """Replace the user's API token: the old key stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


def token_revoke(*, user: User) -> None:
    Token.objects.filter(user=user).delete()


def user_password_changed(*, user: User) -> None:
    """After any new password (the change page, a reset link, the admin, ``changepassword``):
    the API token stops working, so whoever learnt the old password or token is out, and the
    account's failed logins are forgotten (guesses at the old password no longer matter).

    Other browser sessions end by themselves: Django checks each session against a hash of
    the password. The change page keeps its own session (``update_session_auth_hash``).
    """
    token_revoke(user=user)
    AccessAttempt.objects.filter(username=user.get_username()).delete()


RESET_LINK_SENT_MESSAGE = (
    "If an account uses this address, an email with a link to choose a new password "
    "has been sent to it."
)


def password_reset_request(*, request: HttpRequest, email: str) -> None:
    """Email a one-time reset link (the browser's reset page) to the account with this
    address, if there is one. The answer is the same either way, so nobody can probe
    which addresses have accounts."""
    form = PasswordResetForm(data={"email": (email or "").strip()})
    if not form.is_valid():
        raise AccountInvalid({"email": ["Enter a valid email address."]})
    form.save(request=request, use_https=request.is_secure())
