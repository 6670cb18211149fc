"""Sign up, log in, password reset and the API token page."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from evalserver.accounts.models import User

pytestmark = pytest.mark.django_db

GOOD = {
    "username": "dana",
    "email": "dana@example.org",
    "password1": "correct horse battery",
    "password2": "correct horse battery",
}


def test_sign_up_creates_the_account_and_logs_in(client):
    response = client.post(reverse("signup"), GOOD)
    assert response.status_code == 302
    assert response["Location"] == reverse("challenge-list")
    user = User.objects.get(username="dana")
    assert user.check_password("correct horse battery")
    assert client.get(reverse("api-token")).status_code == 200


def test_sign_up_follows_a_safe_next_and_ignores_an_outside_one(client):
    response = client.post(reverse("signup"), {**GOOD, "next": "/challenges/x/"})
    assert response["Location"] == "/challenges/x/"
    other = Client()
    response = other.post(
        reverse("signup"),
        {**GOOD, "username": "erin", "email": "erin@example.org", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("challenge-list")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"password2": "something else"}, "password2", "The two passwords differ."),
        ({"password1": "short", "password2": "short"}, "password1", "too short"),
        ({"username": "alice"}, "username", "already taken"),
        ({"username": "ALICE"}, "username", "already taken"),
        ({"email": "alice@example.org"}, "email", "already exists"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"username": "bad name!"}, "username", "Enter a valid username"),
    ],
)
def test_sign_up_problems_are_shown_next_to_their_field(client, alice, change, field, message):
    response = client.post(reverse("signup"), {**GOOD, **change})
    assert response.status_code == 400
    html = response.content.decode()
    errors = re.search(
        rf'id="id_{field}_error" data-error-for="{field}"[^>]*>(.*?)</ul>', html, re.S
    )
    assert errors is not None
    assert message in errors.group(1)
    assert not User.objects.filter(username="dana").exists()


def test_a_logged_in_user_is_sent_away_from_sign_up(alice_web):
    assert alice_web.get(reverse("signup")).status_code == 302


def test_log_in_and_log_out(client, alice):
    response = client.post(
        reverse("login"), {"username": "alice", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    assert "Log out" in client.get(reverse("challenge-list")).content.decode()
    assert client.post(reverse("logout")).status_code == 302
    assert "Log in" in client.get(reverse("challenge-list")).content.decode()


def test_a_wrong_password_is_said_on_the_form(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_password_reset_sends_a_link_that_sets_a_new_password(client, alice, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": "alice@example.org"})
    assert response["Location"] == reverse("password_reset_done")
    assert len(mailoutbox) == 1
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", mailoutbox[0].body)
    response = client.get(link.group(1), follow=True)
    assert "Choose a new password" in response.content.decode()
    response = client.post(
        response.redirect_chain[-1][0],
        {"new_password1": "brand new horse", "new_password2": "brand new horse"},
    )
    assert response["Location"] == reverse("password_reset_complete")
    alice.refresh_from_db()
    assert alice.check_password("brand new horse")


def test_an_unknown_reset_address_sends_nothing_and_says_the_same(client, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"})
    assert response["Location"] == reverse("password_reset_done")
    assert mailoutbox == []


def test_a_used_reset_link_is_refused(client):
    html = client.get("/accounts/password/reset/MQ/set-password/", follow=True).content.decode()
    assert "This link is not valid any more" in html


def test_the_token_page_needs_a_login(client):
    response = client.get(reverse("api-token"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_token_page_creates_rotates_and_revokes(alice_web, alice):
    assert "You have no API token" in alice_web.get(reverse("api-token")).content.decode()
    alice_web.post(reverse("api-token"), {"action": "create"})
    first = Token.objects.get(user=alice).key
    html = alice_web.get(reverse("api-token")).content.decode()
    assert first in html
    assert "no-store" in alice_web.get(reverse("api-token"))["Cache-Control"]
    alice_web.post(reverse("api-token"), {"action": "rotate"})
    second = Token.objects.get(user=alice).key
    assert second != first
    alice_web.post(reverse("api-token"), {"action": "revoke"})
    assert not Token.objects.filter(user=alice).exists()


@pytest.fixture
def two_sign_ups_an_hour(monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    rates = {**SimpleRateThrottle.THROTTLE_RATES, "register": "2/hour"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)


def _sign_up_page(n: int):
    # A fresh browser each time: a signed-up one is logged in and sent away from the page.
    fields = {**GOOD, "username": f"user{n}", "email": f"u{n}@example.org"}
    return Client().post(reverse("signup"), fields)


def test_sign_ups_on_the_page_are_rate_limited_per_address(two_sign_ups_an_hour):
    responses = [_sign_up_page(n) for n in range(3)]

    assert [r.status_code for r in responses] == [302, 302, 429]
    refused = responses[2]
    assert 0 < int(refused["Retry-After"]) <= 3600
    html = refused.content.decode()
    errors = re.search(r'data-error-for="__all__"[^>]*>(.*?)</ul>', html, re.S)
    assert errors is not None
    assert "Too many sign-up attempts from your address. Try again in" in errors.group(1)
    assert not User.objects.filter(username="user2").exists()
    # Reading the page costs nothing.
    assert Client().get(reverse("signup")).status_code == 200


def test_the_page_and_the_api_share_one_sign_up_counter(two_sign_ups_an_hour, api):
    registered = api.post(
        "/api/v1/auth/register/",
        {"username": "user0", "email": "u0@example.org", "password": "a sturdy pw 91"},
        format="json",
    )
    assert registered.status_code == 201
    assert _sign_up_page(1).status_code == 302

    assert _sign_up_page(2).status_code == 429
    refused = api.post(
        "/api/v1/auth/register/",
        {"username": "user3", "email": "u3@example.org", "password": "a sturdy pw 91"},
        format="json",
    )
    assert refused.status_code == 429
    assert set(User.objects.values_list("username", flat=True)) == {"user0", "user1"}
