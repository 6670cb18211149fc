"""EVALSERVER_TRUSTED_PROXIES: login lockouts (django-axes) and API throttles count the
client's own address, taken from X-Forwarded-For only as far as our proxies wrote it."""

import pytest
from axes.models import AccessAttempt
from rest_framework.throttling import SimpleRateThrottle

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
REGISTER = "/api/v1/auth/register/"
PROXY = "10.0.0.2"
GOOD_PASSWORD = "correct horse battery"


def _login(api, username, password, *, forwarded=None, remote=PROXY):
    headers = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return api.post(TOKEN, {"username": username, "password": password}, format="json", **headers)


@pytest.fixture
def one_proxy(settings):
    settings.EVALSERVER_TRUSTED_PROXIES = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}


def test_behind_one_proxy_the_forwarded_address_is_locked_out(api, alice, bob, settings, one_proxy):
    # The client forges an extra hop on the left; the proxy appends what it really saw.
    for n in range(settings.EVALSERVER_LOGIN_ADDRESS_FAILURE_LIMIT):
        _login(api, f"guess{n}", "wrong", forwarded="192.0.2.66, 203.0.113.9")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}

    locked = _login(api, "bob", GOOD_PASSWORD, forwarded="203.0.113.9")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.json()["detail"]
    # Another client behind the same proxy is not punished for it, nor is the forged one.
    assert _login(api, "bob", GOOD_PASSWORD, forwarded="198.51.100.7").status_code == 200
    assert _login(api, "alice", GOOD_PASSWORD, forwarded="192.0.2.66").status_code == 200


def test_without_trusted_proxies_the_header_is_ignored(api, alice, bob, settings):
    assert settings.EVALSERVER_TRUSTED_PROXIES == 0
    # A client rotating forged X-Forwarded-For values is still one address.
    for n in range(settings.EVALSERVER_LOGIN_ADDRESS_FAILURE_LIMIT):
        _login(api, f"guess{n}", "wrong", forwarded=f"198.51.100.{n}", remote="203.0.113.9")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}
    locked = _login(api, "bob", GOOD_PASSWORD, forwarded="198.51.100.200", remote="203.0.113.9")
    assert locked.status_code == 429


def test_a_forwarded_value_that_is_no_address_falls_back_to_the_peer(api, settings, one_proxy):
    _login(api, "nobody", "wrong", forwarded="unknown")
    _login(api, "nobody", "wrong", forwarded="203.0.113.9:51234")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {PROXY}


@pytest.fixture
def two_sign_ups_an_hour(monkeypatch):
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "register": "2/hour"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)


def _register(api, n, **headers):
    return api.post(
        REGISTER,
        {"username": f"user{n}", "email": f"u{n}@example.org", "password": "a sturdy pw 91"},
        format="json",
        **headers,
    ).status_code


def test_without_trusted_proxies_a_forged_header_does_not_escape_the_sign_up_throttle(
    api, two_sign_ups_an_hour
):
    codes = [
        _register(api, n, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        for n in range(3)
    ]
    assert codes == [201, 201, 429]


def test_behind_one_proxy_each_client_has_its_own_sign_up_budget(
    api, two_sign_ups_an_hour, one_proxy
):
    first = [
        _register(api, n, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9")
        for n in range(3)
    ]
    assert first == [201, 201, 429]
    # Same proxy, another client: not throttled by the first one's sign-ups.
    assert _register(api, 10, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7") == 201
