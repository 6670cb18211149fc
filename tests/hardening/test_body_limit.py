"""EVALSERVER_MAX_UPLOAD_BYTES is enforced before a request body is read.

The middleware refuses on the declared Content-Length (and a body of unknown length);
the upload handler stops a parse that receives more file bytes than the cap whatever the
headers said. The handler is driven through Django's ASGI handler, whose request reads
the body past its declared length (the WSGI request cannot).
"""

from __future__ import annotations

import asyncio
import io

import pytest
from asgiref.sync import async_to_sync
from django.core import signals
from django.core.asgi import get_asgi_application
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from evalserver.accounts.services import token_get_or_create
from evalserver.middleware import RequestBodyTooLarge
from submissions.models import Submission

pytestmark = pytest.mark.django_db

ANSWER = b"00000 " + b"0 " * 25 + b"1\n"


class _RecordingInput(io.BytesIO):
    """A wsgi.input that remembers whether anybody read from it."""

    was_read = False

    def read(self, *args):
        self.was_read = True
        return super().read(*args)

    def readline(self, *args):
        self.was_read = True
        return super().readline(*args)


def _multipart(content: bytes = ANSWER, **fields) -> bytes:
    return encode_multipart(BOUNDARY, {**fields, "file": _named(content)})


def _named(content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("answer.txt", content)


def _api_upload(client, phase, body: bytes, **extra):
    return client.generic(
        "POST",
        f"/api/v1/phases/{phase.pk}/submissions/",
        body,
        content_type=MULTIPART_CONTENT,
        **extra,
    )


# --- The declared length ----------------------------------------------------------------


def test_an_upload_declared_over_the_cap_is_refused_unread_with_json(
    alice_api, alice_team, phase, settings
):
    settings.EVALSERVER_MAX_UPLOAD_BYTES = 4096
    body = _multipart()
    stream = _RecordingInput(body)
    response = _api_upload(
        alice_api, phase, body, CONTENT_LENGTH=str(4097), **{"wsgi.input": stream}
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request is larger than the server accepts (4 KiB).",
        "code": "request_too_large",
    }
    assert not stream.was_read
    assert not Submission.objects.exists()


def test_an_upload_of_exactly_the_cap_is_accepted(alice_api, alice_team, phase_labelled, settings):
    phase = phase_labelled
    body = _multipart()
    settings.EVALSERVER_MAX_UPLOAD_BYTES = len(body)
    assert _api_upload(alice_api, phase, body).status_code == 201
    settings.EVALSERVER_MAX_UPLOAD_BYTES = len(body) - 1
    assert _api_upload(alice_api, phase, body).status_code == 413
    assert Submission.objects.count() == 1


def test_a_page_gets_a_plain_413_before_the_csrf_check_reads_the_form(
    alice, alice_team, phase, settings
):
    settings.EVALSERVER_MAX_UPLOAD_BYTES = 2 * 1024 * 1024
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    stream = _RecordingInput(b"")
    response = browser.generic(
        "POST",
        reverse("phase-detail", args=[phase.pk]),
        b"x",
        content_type=MULTIPART_CONTENT,
        CONTENT_LENGTH=str(50 * 1024 * 1024),
        **{"wsgi.input": stream},
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == "The request is larger than the server accepts (2 MiB)."
    assert not stream.was_read


def test_a_body_of_unknown_length_is_refused_with_411(alice_api, alice_team, phase):
    stream = _RecordingInput(_multipart())
    response = _api_upload(
        alice_api,
        phase,
        b"",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": stream},
    )
    assert response.status_code == 411
    assert response.json()["code"] == "length_required"
    assert "Content-Length" in response.json()["detail"]
    assert not stream.was_read


def test_requests_without_a_body_pass(api, phase, settings):
    settings.EVALSERVER_MAX_UPLOAD_BYTES = 1024
    assert api.get("/api/v1/challenges/").status_code == 200


# --- The bytes received (the upload handler) ----------------------------------------------


def _asgi_post(path: str, body: bytes, *, declared: int, headers: dict[str, str]) -> dict:
    """POST through Django's ASGI handler, declaring ``declared`` bytes and sending more."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", MULTIPART_CONTENT.encode()),
            (b"content-length", str(declared).encode()),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive():
        if messages:
            return messages.pop(0)
        # The client stays connected: Django listens for a disconnect while it answers.
        await asyncio.Event().wait()

    async def send(message):
        sent.append(message)

    # As Django's test clients do: the test's transaction must survive the request signals.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        async_to_sync(get_asgi_application())(scope, receive, send)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return {"status": start["status"], "content": content, "headers": dict(start["headers"])}


def test_the_upload_handler_stops_an_api_upload_that_sends_more_than_declared(
    alice, alice_team, phase, settings
):
    settings.EVALSERVER_MAX_UPLOAD_BYTES = 64 * 1024
    body = _multipart(b"00000 " + b"0 " * 25 + b"1\n" * 50_000)
    assert len(body) > 64 * 1024
    token = token_get_or_create(user=alice).key
    response = _asgi_post(
        f"/api/v1/phases/{phase.pk}/submissions/",
        body,
        declared=1024,
        headers={"Authorization": f"Token {token}"},
    )
    assert response["status"] == 413, response["content"]
    assert b'"code":"request_too_large"' in response["content"].replace(b" ", b"")
    assert not Submission.objects.exists()


def test_the_upload_handler_stops_a_form_upload_while_the_csrf_check_parses_it(
    alice, alice_team, phase, settings
):
    settings.EVALSERVER_MAX_UPLOAD_BYTES = 64 * 1024
    browser = Client()
    browser.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    csrf = _get_new_csrf_string()
    body = _multipart(b"1" * 200_000, csrfmiddlewaretoken=csrf)
    response = _asgi_post(
        reverse("phase-detail", args=[phase.pk]),
        body,
        declared=1024,
        headers={
            "Cookie": f"csrftoken={csrf}; sessionid={browser.cookies['sessionid'].value}",
            "Referer": "http://testserver/",
        },
    )
    assert response["status"] == 413, response["content"][:300]
    assert response["content"] == b"The request is larger than the server accepts (64 KiB)."
    assert not Submission.objects.exists()


def test_the_upload_handler_counts_every_file_of_the_request(rf, settings):
    settings.EVALSERVER_MAX_UPLOAD_BYTES = 3000
    body = encode_multipart(BOUNDARY, {"a": _named(b"a" * 2000), "b": _named(b"b" * 2000)})
    request = rf.generic("POST", "/anything/", body, content_type=MULTIPART_CONTENT)
    with pytest.raises(RequestBodyTooLarge):
        request.POST  # noqa: B018 - parsing is what is tested
    settings.EVALSERVER_MAX_UPLOAD_BYTES = 4000
    request = rf.generic("POST", "/anything/", body, content_type=MULTIPART_CONTENT)
    assert sorted(request.FILES) == ["a", "b"]
    assert request.FILES["b"].read() == b"b" * 2000
