"""Running ``manage.py score`` the two ways its tests need: in-process, and as a user would."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def call(*args: str | Path) -> tuple[int, str, str]:
    """Run the command in-process; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("score", *[str(a) for a in args], stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def run(*args: str | Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``python manage.py score`` as a user would, with no reachable database or broker."""
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "DATABASE_URL")}
    # A database nobody listens on: any attempt to use it would fail the command.
    env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:9/nothing"
    env["EVALSERVER_DATA_DIR"] = str(tmp_path / "data")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "score", *[str(a) for a in args]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
