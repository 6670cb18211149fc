"""EVALSERVER_DETECTION_MAX_BYTES, read from the environment in a fresh interpreter."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_PRINT = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.EVALSERVER_DETECTION_MAX_BYTES)"
)


def _run(tmp_path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EVALSERVER_", "DATABASE"))}
    return subprocess.run(
        [sys.executable, "-c", _PRINT],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "evalserver.settings",
            "EVALSERVER_DATA_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 512 * 1024 * 1024), ("2147483648", 2 << 30)]
)
def test_the_cap_defaults_to_512_mib_and_can_be_raised(tmp_path, value, expected):
    env = {} if value is None else {"EVALSERVER_DETECTION_MAX_BYTES": value}
    result = _run(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("512MiB", "EVALSERVER_DETECTION_MAX_BYTES='512MiB' is not a whole number"),
        ("1000", "EVALSERVER_DETECTION_MAX_BYTES=1000 must be at least 1048576"),
    ],
)
def test_a_malformed_cap_stops_start_up_naming_the_variable(tmp_path, value, message):
    result = _run(tmp_path, EVALSERVER_DETECTION_MAX_BYTES=value)
    assert result.returncode != 0
    assert message in result.stderr
