"""evalserver.authentication.TokenAuthentication: DRF's answers from one plain query."""

import pytest
from rest_framework import authentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIClient

from evalserver.accounts.services import token_get_or_create
from evalserver.authentication import TokenAuthentication

pytestmark = pytest.mark.django_db


def _outcome(auth, key):
    try:
        user, token = auth.authenticate_credentials(key)
    except AuthenticationFailed as exc:
        return ("refused", str(exc.detail))
    fields = [f.attname for f in type(user)._meta.concrete_fields]
    return (
        {name: getattr(user, name) for name in fields},
        (token.key, token.user_id, token.created),
        token.user is user,
    )


def test_the_same_user_token_and_refusals_as_drfs(alice, bob):
    key = token_get_or_create(user=alice).key
    bob_key = token_get_or_create(user=bob).key
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    ours, drfs = TokenAuthentication(), authentication.TokenAuthentication()
    for candidate in (key, bob_key, "0" * 40, "", "x' OR '1'='1"):
        assert _outcome(ours, candidate) == _outcome(drfs, candidate), candidate
    assert _outcome(ours, bob_key) == ("refused", "User inactive or deleted.")
    assert _outcome(ours, "0" * 40) == ("refused", "Invalid token.")


def test_the_api_answers_and_refuses_tokens(alice):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_get_or_create(user=alice).key}")
    assert api.get("/api/v1/auth/me/").json()["username"] == "alice"
    api.credentials(HTTP_AUTHORIZATION="Token nope")
    response = api.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."
