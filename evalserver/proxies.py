"""Who sent a request, when the server sits behind reverse proxies.

Each proxy appends the address it received the request from to X-Forwarded-For, so with
N trusted proxies in front of us the client's address is the N-th entry from the right.
Anything further left was written by the client and may be forged. This is the rule of
DRF's ``NUM_PROXIES`` (the API throttles); django-axes (login lockouts) gets it through
``AXES_CLIENT_IP_CALLABLE``, so both count the same address.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    trusted = settings.EVALSERVER_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not trusted or not forwarded.strip():
        return remote
    hops = [hop.strip() for hop in forwarded.split(",")]
    candidate = hops[-min(trusted, len(hops))]
    try:
        # Axes stores the address in an inet column: a proxy count set too high would
        # otherwise hand it whatever text the client put there.
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
