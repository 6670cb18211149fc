"""Login protection: how failed password logins are counted and when they are refused.

django-axes records every failure (username, address, time) and refuses an account from an
address where it failed too often. This module adds the two limits axes cannot express, on
top of the same records, so the web login, the admin login and ``POST /api/v1/auth/token/``
(all of which go through ``django.contrib.auth.authenticate``) behave alike:

1. One account from one address: ``AXES_FAILURE_LIMIT`` failures within the cool-off lock
   that pair for the cool-off (axes, ``AXES_LOCKOUT_PARAMETERS = [["username",
   "ip_address"]]``). A success clears that pair only, never the address's failures against
   other accounts: a success of your own cannot launder guesses at someone else's.
2. One address, any accounts: ``EVALSERVER_LOGIN_ADDRESS_FAILURE_LIMIT`` failures within the
   cool-off lock the address for accounts that never logged in from it (password spraying).
3. One account, any addresses: after ``EVALSERVER_LOGIN_ACCOUNT_SLOWDOWN_AFTER`` failures
   within the cool-off, the account takes one attempt per
   ``EVALSERVER_LOGIN_ACCOUNT_INTERVAL`` seconds from addresses it never logged in from
   (distributed guessing is slowed, not locked).

An address an account has logged in from before (axes' access log) is exempt from 2 and 3,
so nobody can lock a user out of every address: at worst the attacker's own failures lock
the attacker's own address. Refused attempts are not counted (they cannot extend a lock).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone


def cool_off() -> timedelta:
    return timedelta(hours=float(settings.AXES_COOLOFF_TIME))


def _recent(**filters) -> list[tuple[datetime, int]]:
    """(last failure time, failures) of the records matching ``filters`` within the cool-off,
    oldest first."""
    threshold = timezone.now() - cool_off()
    return list(
        AccessAttempt.objects.filter(attempt_time__gte=threshold, **filters)
        .order_by("attempt_time")
        .values_list("attempt_time", "failures_since_start")
    )


def _seconds_until_below(records: list[tuple[datetime, int]], limit: int) -> int:
    """How long until the failures of ``records`` fall below ``limit`` as records age out of
    the cool-off; 0 when they already are below."""
    remaining = sum(failures for _, failures in records)
    if remaining < limit:
        return 0
    now = timezone.now()
    for attempt_time, failures in records:
        remaining -= failures
        if remaining < limit:
            return max(1, math.ceil((attempt_time + cool_off() - now).total_seconds()))
    return 0


def _known_address(*, username: str, ip_address: str | None) -> bool:
    return AccessLog.objects.filter(username=username, ip_address=ip_address).exists()


def pair_wait(*, username: str, ip_address: str | None) -> int:
    """Seconds until this account may try again from this address (rule 1)."""
    records = _recent(username=username, ip_address=ip_address)
    return _seconds_until_below(records, settings.AXES_FAILURE_LIMIT)


def address_wait(*, ip_address: str | None) -> int:
    """Seconds until an address that sprayed failures over many accounts is let in (rule 2)."""
    records = _recent(ip_address=ip_address)
    return _seconds_until_below(records, settings.EVALSERVER_LOGIN_ADDRESS_FAILURE_LIMIT)


def account_wait(*, username: str) -> int:
    """Seconds until the next attempt at an account under distributed guessing (rule 3)."""
    records = _recent(username=username)
    if sum(failures for _, failures in records) < settings.EVALSERVER_LOGIN_ACCOUNT_SLOWDOWN_AFTER:
        return 0
    last = records[-1][0]
    interval = timedelta(seconds=settings.EVALSERVER_LOGIN_ACCOUNT_INTERVAL)
    wait = (last + interval - timezone.now()).total_seconds()
    return max(0, math.ceil(wait))


def login_refusal_wait(*, username: str | None, ip_address: str | None) -> int:
    """Seconds this login attempt must wait under rules 2 and 3; 0 when it may go ahead."""
    if not username or _known_address(username=username, ip_address=ip_address):
        return 0
    return max(address_wait(ip_address=ip_address), account_wait(username=username))


class LoginProtectionBackend(AxesStandaloneBackend):
    """First in ``AUTHENTICATION_BACKENDS``: refuses the attempt (429 through axes' middleware
    and ``AXES_LOCKOUT_CALLABLE``) before any password is checked. The request carries
    ``login_retry_after``, the seconds the answer's Retry-After states."""

    def authenticate(self, request: HttpRequest, username=None, password=None, **kwargs):
        if not settings.AXES_ENABLED:
            return None
        try:
            super().authenticate(request, username=username, password=password, **kwargs)
        except AxesBackendPermissionDenied:
            request.login_retry_after = pair_wait(
                username=username, ip_address=request.axes_ip_address
            )
            raise
        wait = login_refusal_wait(username=username, ip_address=request.axes_ip_address)
        if wait:
            # Marked as axes marks its own refusals: its handler then records nothing (with
            # AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT off) and its middleware answers.
            request.axes_locked_out = True
            request.login_retry_after = wait
            raise AxesBackendPermissionDenied("Login refused by the login protection")
        return None
