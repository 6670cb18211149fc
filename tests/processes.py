"""Real processes for the pipeline and fault tests: a private redis-server, celery workers
and beat, a gunicorn web server, all pointed at the test database, and a way to wait for
them with a bound on time.

Every process here is started by the test, in a session of its own (so a signal reaches
its children too), and stopped by the fixture that started it; never the machine's own.
The fixtures ``redis_server``, ``celery_processes``, ``start_worker`` and
``postgres_cluster`` are imported by the conftest of each folder that uses them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.services_real import PostgresCluster, RedisServer, free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CELERY = str(BIN / "celery")
GUNICORN = str(BIN / "gunicorn")


def current_database_url() -> str:
    """The URL of the database this test runs against, for processes it starts."""
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


class Process:
    """A process the test started in a session of its own, with its output in a file."""

    def __init__(self, proc: subprocess.Popen, log: Path):
        self.proc = proc
        self.log = log

    def children(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in out.stdout.split()]

    def kill_group(self) -> None:
        """SIGKILL the process and its children at once, as a machine crash would."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill_group()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


# The pipeline tests' name for a celery worker process.
Worker = Process


def start_process(
    command: list[str],
    *,
    log: Path,
    env: dict[str, str],
    ready: Callable[[Process], bool],
    what: str,
) -> Process:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process = Process(proc, log)
    try:
        wait_until(lambda: proc.poll() is not None or ready(process), timeout=60, what=what)
    except AssertionError as exc:
        process.kill_group()
        raise AssertionError(f"{exc}; its output ends:\n{process.output()[-3000:]}") from None
    assert proc.poll() is None, process.output()
    return process


class CeleryProcesses:
    """Celery workers, beat and gunicorn against the test database and a private Redis
    (broker on database 0, as in docker-compose.yml)."""

    def __init__(self, redis: RedisServer, tmp_path: Path):
        self.redis = redis
        self.tmp_path = tmp_path
        self.started: list[Process] = []
        self.base_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "evalserver.settings",
            "DATABASE_URL": current_database_url(),
            "DATABASE_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": redis.url(0),
            # The test process stores uploads and labels under tmp_path (tests/conftest.py).
            "EVALSERVER_DATA_DIR": str(tmp_path),
        }

    def _log(self, kind: str, name: str) -> Path:
        return self.tmp_path / f"{kind}-{name}-{len(self.started)}.log"

    def worker(
        self, name: str = "w1", *, beat: bool = False, concurrency: int = 1, **env: str
    ) -> Process:
        command = [
            CELERY,
            "-A",
            "evalserver",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--hostname",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
        if beat:
            command += ["--beat", "--schedule", str(self.tmp_path / f"beat-{name}")]
        process = start_process(
            command,
            log=self._log("worker", name),
            env={**self.base_env, **env},
            ready=lambda p: "ready." in p.output(),
            what=f"worker {name} to start",
        )
        self.started.append(process)
        return process

    def beat(self, **env: str) -> Process:
        command = [
            CELERY,
            "-A",
            "evalserver",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(self.tmp_path / "beat-schedule"),
        ]
        process = start_process(
            command,
            log=self._log("beat", "beat"),
            env={**self.base_env, **env},
            ready=lambda p: "beat: Starting" in p.output(),
            what="celery beat to start",
        )
        self.started.append(process)
        return process

    def web(self, *, workers: int = 2, **env: str) -> tuple[Process, str]:
        """gunicorn serving the app; returns it and its base URL."""
        process, base = start_web(
            log=self._log("web", "gunicorn"), env={**self.base_env, **env}, workers=workers
        )
        self.started.append(process)
        return process, base

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


def start_web(*, log: Path, env: dict[str, str], workers: int = 1) -> tuple[Process, str]:
    """gunicorn serving the app on a free loopback port; returns it and its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        GUNICORN,
        "evalserver.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "60",
    ]
    process = start_process(
        command, log=log, env=env, ready=lambda p: _answers(base), what="gunicorn to answer"
    )
    return process, base


def _answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/api/v1/challenges/", timeout=2):  # noqa: S310
            return True
    except OSError:
        return False


@pytest.fixture
def celery_processes(redis_server, settings, tmp_path) -> Iterator[CeleryProcesses]:
    """Starts processes on demand; also points this process's publisher at the private Redis."""
    from evalserver.celery import app

    settings.EVALSERVER_INPROCESS_TASKS = False
    previous_url = app.conf.broker_url
    app.conf.broker_url = redis_server.url(0)
    processes = CeleryProcesses(redis_server, tmp_path)
    yield processes
    processes.stop_all()
    app.conf.broker_url = previous_url


@pytest.fixture
def start_worker(celery_processes) -> Callable[..., Process]:
    """Start real workers against the test database (see CeleryProcesses.worker)."""
    return celery_processes.worker


# --- A PostgreSQL cluster of the test's own (tests/services_real.py) -----------------------


@pytest.fixture
def postgres_cluster(tmp_path) -> Iterator[PostgresCluster]:
    """A throwaway cluster on a free loopback port that the test may restart."""
    try:
        cluster = PostgresCluster(tmp_path / "pg").init()
    except FileNotFoundError:
        pytest.skip("no PostgreSQL server binaries (initdb)")
    try:
        yield cluster.start()
    finally:
        cluster.cleanup()
