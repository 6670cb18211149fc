"""Browsers for the page tests: Django's test client, logged in as a persona."""

from django.test import Client


def logged_in(user, *, csrf: bool = False) -> Client:
    """A browser with ``user``'s session; ``csrf`` makes it send no CSRF token unasked, as a
    forged cross-site form would."""
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client
