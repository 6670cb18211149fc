"""Every refusal under /api/ is JSON with a `detail`, even outside the DRF views."""

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_an_unknown_api_path_is_a_json_404(settings):
    settings.DEBUG = False
    response = Client().get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "No API endpoint at /api/v1/nothing-here/.",
        "code": "not_found",
    }


def test_an_unknown_page_is_still_a_page(settings):
    settings.DEBUG = False
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_server_error_on_the_api_is_json(settings):
    from django.test import RequestFactory

    from evalserver.api import server_error

    response = server_error(RequestFactory().get("/api/v1/challenges/"))
    assert response.status_code == 500
    assert "organizers have been told" in json.loads(response.content)["detail"]


def test_a_wrong_method_is_a_json_405(alice_api):
    response = alice_api.delete("/api/v1/challenges/")
    assert response.status_code == 405
    assert response.json()["detail"] == 'Method "DELETE" not allowed.'


def test_a_malformed_json_body_is_a_json_400(alice_api, challenge):
    response = alice_api.post(
        f"/api/v1/challenges/{challenge.slug}/teams/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_a_browser_login_lockout_is_a_429_page(alice, settings):
    client = Client(REMOTE_ADDR="203.0.113.77")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "correct horse battery"}
    )
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
