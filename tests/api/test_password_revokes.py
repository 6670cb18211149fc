"""Issue 11 item 4: a new password (reset link, change page, admin) revokes the API token
and ends the account's other sessions."""

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from evalserver.accounts.services import token_get_or_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/auth/me/"
GOOD_PASSWORD = "correct horse battery"
NEW_PASSWORD = "a new sturdy pw 7"


def _me(key):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api.get(ME)


def _logged_in_browser(username, password=GOOD_PASSWORD):
    browser = Client()
    response = browser.post("/accounts/login/", {"username": username, "password": password})
    assert response.status_code == 302
    return browser


def _still_logged_in(browser):
    return browser.get("/accounts/token/").status_code == 200


def test_a_reset_through_the_emailed_link_revokes_the_token_and_sessions(alice, mailoutbox):
    key = token_get_or_create(user=alice).key
    assert _me(key).status_code == 200
    other_browser = _logged_in_browser("alice")
    AccessAttempt.objects.create(
        username="alice", ip_address="203.0.113.5", user_agent="x", failures_since_start=4
    )

    api = APIClient()
    assert (
        api.post("/api/v1/auth/password-reset/", {"email": "alice@example.org"}).status_code == 202
    )
    [mail] = mailoutbox
    link = next(line for line in mail.body.splitlines() if "://" in line)
    browser = Client()
    page = browser.get("/" + link.split("://", 1)[1].split("/", 1)[1], follow=True)
    form_url = page.redirect_chain[-1][0]
    done = browser.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302

    response = _me(key)
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."
    assert not Token.objects.filter(user=alice).exists()
    assert not _still_logged_in(other_browser)
    # The failures counted against the old password are forgotten.
    assert not AccessAttempt.objects.filter(username="alice").exists()
    # The new password gives a new token.
    login = api.post("/api/v1/auth/token/", {"username": "alice", "password": NEW_PASSWORD})
    assert login.status_code == 200
    assert _me(login.json()["token"]).status_code == 200


def test_the_change_page_revokes_the_token_and_other_sessions_but_keeps_its_own(alice):
    key = token_get_or_create(user=alice).key
    other_browser = _logged_in_browser("alice")
    browser = _logged_in_browser("alice")
    response = browser.post(
        "/accounts/password/change/",
        {
            "old_password": GOOD_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Your API token was revoked" in response.content.decode()
    assert _me(key).status_code == 401
    assert _still_logged_in(browser)
    assert not _still_logged_in(other_browser)


def test_a_password_set_in_the_admin_revokes_the_users_token(alice):
    key = token_get_or_create(user=alice).key
    admin = Client()
    admin.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    response = admin.post(
        f"/admin/accounts/user/{alice.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302
    assert _me(key).status_code == 401


def test_other_saves_and_a_hash_upgrade_at_login_keep_the_token(alice, settings):
    key = token_get_or_create(user=alice).key
    alice.first_name = "Alice"
    alice.save()
    # Logging in with a password stored under an older hasher re-hashes it: no new password.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.ScryptPasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    old_hash = alice.password
    login = APIClient().post(
        "/api/v1/auth/token/", {"username": "alice", "password": GOOD_PASSWORD}
    )
    assert login.status_code == 200
    alice.refresh_from_db()
    assert alice.password != old_hash
    assert login.json()["token"] == key
    assert _me(key).status_code == 200
