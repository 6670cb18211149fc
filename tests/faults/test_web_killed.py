"""The web process killed in the middle of an upload.

gunicorn receives half of a large upload's body and is killed by SIGKILL with its workers
(a crash, an OOM kill). The client sees its connection drop, with no answer. Nothing of
the upload is kept: no submission row, no stored file, no quota used; after a restart the
same upload goes through and is scored. (An upload that committed before the web process
died is picked up by the sweeper: tests/pipeline/test_restart.py.)
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import requests
from rest_framework.authtoken.models import Token

from submissions.models import Submission
from tests.faults.conftest import report
from tests.processes import current_database_url, start_web, wait_until
from tests.recognition_data import answer_bytes, expected_macro_f1

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def _stored_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def test_a_web_process_killed_mid_upload_keeps_nothing_and_the_retry_is_scored(
    open_phase, alice, alice_team, tmp_path
):
    phase = open_phase.phase
    token = Token.objects.create(user=alice).key
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "evalserver.settings",
        "DATABASE_URL": current_database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        # The test process keeps labels and uploads under tmp_path (tests/conftest.py).
        "EVALSERVER_DATA_DIR": str(tmp_path),
    }
    for key in ("CELERY_BROKER_URL", "EVALSERVER_CACHE_URL"):
        env.pop(key, None)  # the embedded default: scoring in the web process
    web, base = start_web(log=tmp_path / "web-1.log", env=env, workers=1)
    port = int(base.rsplit(":", 1)[1])

    prediction = open_phase.prediction()
    content = answer_bytes(prediction)
    boundary = "faultboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="answer.txt"'
            "\r\nContent-Type: text/plain\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /api/v1/phases/{phase.pk}/submissions/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Token {token}\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(head + body[: len(body) // 2])
        time.sleep(0.5)  # the worker is reading the body
        killed_at = time.monotonic()
        web.kill_group()
        client.settimeout(5)
        try:
            answer = client.recv(1024)
        except OSError:
            answer = b""
    assert answer == b"", answer  # the connection dropped without an answer

    assert not Submission.objects.filter(phase=phase).exists()
    assert _stored_files(tmp_path / "uploads") == []

    web, base = start_web(log=tmp_path / "web-2.log", env=env, workers=1)
    try:
        back_after = time.monotonic() - killed_at
        retry = requests.post(
            f"{base}/api/v1/phases/{phase.pk}/submissions/",
            files={"file": ("answer.txt", content)},
            headers={"Authorization": f"Token {token}"},
            timeout=30,
        )
        assert retry.status_code == 201, retry.text
        submission = Submission.objects.get(pk=retry.json()["id"])
        wait_until(
            lambda: Submission.objects.filter(pk=submission.pk, status="finished").exists(),
            timeout=60,
            what="the retried upload to be scored",
        )
    finally:
        web.stop()
    submission.refresh_from_db()
    assert submission.primary_score == pytest.approx(
        expected_macro_f1(open_phase.truth, prediction)
    )
    assert Submission.objects.filter(phase=phase).count() == 1
    report(
        "web-killed-mid-upload",
        body_sent=f"{len(body) // 2}/{len(body)} bytes",
        rows_kept=0,
        files_kept=0,
        web_back_after=f"{back_after:.1f}s",
        retry_status=retry.status_code,
    )
