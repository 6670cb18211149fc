"""POST /api/v1/auth/register/, /auth/token/, /auth/token/rotate/, GET /auth/me/."""

import pytest
from rest_framework.authtoken.models import Token

from evalserver.accounts.models import User

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
ROTATE = "/api/v1/auth/token/rotate/"
ME = "/api/v1/auth/me/"
GOOD_PASSWORD = "correct horse battery"


def _login(api, username, password, ip="203.0.113.5"):
    return api.post(
        TOKEN, {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
    )


def test_register_creates_an_account_and_the_token_endpoint_logs_it_in(api):
    response = api.post(
        REGISTER,
        {"username": "dora", "email": "dora@example.org", "password": "a sturdy pw 91"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["username"] == "dora"
    assert "password" not in response.json()
    assert User.objects.get(username="dora").check_password("a sturdy pw 91")

    response = _login(api, "dora", "a sturdy pw 91")
    assert response.status_code == 200
    key = response.json()["token"]
    assert key == Token.objects.get(user__username="dora").key

    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get(ME).json()["username"] == "dora"


def test_register_refuses_a_weak_password_with_a_detail_and_field_errors(api):
    response = api.post(
        REGISTER,
        {"username": "dora", "email": "dora@example.org", "password": "12345"},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert "password" in body["errors"]
    assert "too short" in body["detail"]
    assert not User.objects.filter(username="dora").exists()


def test_register_refuses_a_taken_username(api, alice):
    response = api.post(
        REGISTER,
        {"username": "Alice", "email": "new@example.org", "password": "a sturdy pw 91"},
        format="json",
    )
    assert response.status_code == 400
    assert "already taken" in response.json()["detail"]


def test_register_refuses_missing_fields(api):
    response = api.post(REGISTER, {"username": "dora"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"email", "password"}
    assert "required" in response.json()["detail"]


def test_token_with_a_wrong_password_is_a_400_with_a_detail(api, alice):
    response = _login(api, "alice", "wrong")
    assert response.status_code == 400
    assert response.json()["detail"] == "Unable to log in with the username and password given."


def test_token_for_a_disabled_account_is_refused(api, alice):
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert _login(api, "alice", GOOD_PASSWORD).status_code == 400


def test_the_same_token_comes_back_until_it_is_rotated(api, alice):
    first = _login(api, "alice", GOOD_PASSWORD).json()["token"]
    assert _login(api, "alice", GOOD_PASSWORD).json()["token"] == first

    api.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    response = api.post(ROTATE)
    assert response.status_code == 200
    second = response.json()["token"]
    assert second != first

    # The old key is dead at once; the new one works.
    assert api.get(ME).status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert api.get(ME).status_code == 200


def test_logout_deletes_the_token(api, alice):
    key = _login(api, "alice", GOOD_PASSWORD).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.post("/api/v1/auth/logout/").status_code == 204
    assert not Token.objects.filter(user=alice).exists()
    response = api.get(ME)
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


def test_rotate_logout_and_me_need_authentication(api):
    for response in (api.post(ROTATE), api.get(ME), api.post("/api/v1/auth/logout/")):
        assert response.status_code == 401
        assert response.json()["detail"]


def test_lockout_ends_after_the_cool_off(api, alice, settings, time_machine):
    time_machine.move_to("2026-03-01T12:00:00Z", tick=False)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(api, "alice", "wrong")
    assert _login(api, "alice", GOOD_PASSWORD).status_code == 429
    time_machine.move_to("2026-03-01T12:16:00Z", tick=False)
    assert _login(api, "alice", GOOD_PASSWORD).status_code == 200


def test_a_success_resets_the_failure_count(api, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(api, "alice", "wrong")
    assert _login(api, "alice", GOOD_PASSWORD).status_code == 200
    assert _login(api, "alice", "wrong").status_code == 400


def test_password_reset_emails_a_link_that_sets_a_new_password(api, alice, client, mailoutbox):
    response = api.post(
        "/api/v1/auth/password-reset/", {"email": "ALICE@example.org"}, format="json"
    )
    assert response.status_code == 202
    assert "If an account uses this address" in response.json()["detail"]
    [mail] = mailoutbox
    assert mail.to == ["alice@example.org"]
    link = next(line for line in mail.body.splitlines() if "://" in line)
    path = link.split("://", 1)[1].split("/", 1)[1]

    # The browser page redirects to a token-free URL, then takes the new password.
    page = client.get("/" + path, follow=True)
    assert page.status_code == 200
    form_url = page.redirect_chain[-1][0]
    client.post(
        form_url, {"new_password1": "a new sturdy pw 7", "new_password2": "a new sturdy pw 7"}
    )
    alice.refresh_from_db()
    assert alice.check_password("a new sturdy pw 7")


def test_password_reset_for_an_unknown_address_answers_the_same(api, mailoutbox):
    response = api.post(
        "/api/v1/auth/password-reset/", {"email": "nobody@example.org"}, format="json"
    )
    assert response.status_code == 202
    assert "If an account uses this address" in response.json()["detail"]
    assert mailoutbox == []


def test_password_reset_needs_a_valid_address(api):
    response = api.post("/api/v1/auth/password-reset/", {"email": "nope"}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()["errors"]


def test_sign_ups_are_rate_limited_per_address(api, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    rates = {**SimpleRateThrottle.THROTTLE_RATES, "register": "2/hour"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    codes = [
        api.post(
            REGISTER,
            {"username": f"user{n}", "email": f"u{n}@example.org", "password": "a sturdy pw 91"},
            format="json",
        ).status_code
        for n in range(3)
    ]
    assert codes == [201, 201, 429]
    assert not User.objects.filter(username="user2").exists()
