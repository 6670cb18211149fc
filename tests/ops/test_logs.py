"""Request ids and JSON log lines."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from evalserver.ops.logcontext import request_id_from
from tests.foundation.test_settings import _failure

ROOT = Path(__file__).resolve().parents[2]


def test_every_response_carries_a_request_id():
    first = Client().get("/healthz")["X-Request-ID"]
    second = Client().get("/healthz")["X-Request-ID"]
    assert len(first) == 32
    assert first != second


@pytest.mark.parametrize(
    "incoming",
    ["lb-7f3a9c2e-41d1", "01HX3Y9ZK2M4N5P6Q7R8S9T0UV", "a" * 128, "trace:abc.def_1-2"],
)
def test_a_sane_incoming_request_id_is_kept(incoming):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "",
        "short",
        "a" * 129,
        "has space here",
        'quote"injection"x',
        "line\nbreak-xxxxx",
        "-leading",
    ],
)
def test_an_odd_incoming_request_id_is_replaced(incoming):
    assert request_id_from(incoming) != incoming
    assert len(request_id_from(incoming)) == 32


_REQUEST = """
import logging, django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
r = Client().get("/no-such-page/", HTTP_X_REQUEST_ID="probe-request-0001")
logging.getLogger("evalserver.test").warning("outside", extra={"phase": "x/y"})
print("STATUS", r.status_code, r["X-Request-ID"])
"""


def test_json_log_lines_carry_the_request_id(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _REQUEST],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "evalserver.settings",
            "EVALSERVER_DATA_DIR": str(tmp_path),
            "EVALSERVER_LOG_FORMAT": "json",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "STATUS 404 probe-request-0001" in result.stdout
    records = [json.loads(line) for line in result.stderr.splitlines()]
    not_found = next(r for r in records if r["logger"] == "django.request")
    assert not_found["level"] == "WARNING"
    assert not_found["request_id"] == "probe-request-0001"
    assert "/no-such-page/" in not_found["message"]
    outside = next(r for r in records if r["logger"] == "evalserver.test")
    assert outside["request_id"] is None
    assert outside["phase"] == "x/y"
    assert outside["time"]


def test_the_log_format_is_parsed_strictly(tmp_path):
    assert "EVALSERVER_LOG_FORMAT='xml' must be plain or json" in _failure(
        tmp_path, EVALSERVER_LOG_FORMAT="xml"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10.0.0.1/8", "EVALSERVER_METRICS_ALLOWED has '10.0.0.1/8'"),
        ("10.0.0.0/8,,::1", "EVALSERVER_METRICS_ALLOWED="),
        ("localhost", "EVALSERVER_METRICS_ALLOWED has 'localhost'"),
    ],
)
def test_metrics_networks_are_parsed_strictly(tmp_path, value, message):
    assert message in _failure(tmp_path, EVALSERVER_METRICS_ALLOWED=value)


def test_a_short_metrics_token_is_refused(tmp_path):
    assert "EVALSERVER_METRICS_TOKEN must be at least 16" in _failure(
        tmp_path, EVALSERVER_METRICS_TOKEN="short"
    )
