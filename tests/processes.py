"""Real processes for the pipeline and fault tests: a private redis-server, celery workers
and beat, a gunicorn web server, all pointed at the test database, and a way to wait for
them with a bound on time.

Every process here is started by the test, in a session of its own (so a signal reaches
its children too), and stopped by the fixture that started it; never the machine's own.
The fixtures ``redis_server``, ``celery_processes``, ``start_worker`` and
``postgres_cluster`` are imported by the conftest of each folder that uses them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CELERY = str(BIN / "celery")
GUNICORN = str(BIN / "gunicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], object], *, timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def current_database_url() -> str:
    """The URL of the database this test runs against, for processes it starts."""
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


class RedisServer:
    """A private redis-server: outage tests stop and start it, never the machine's own."""

    def __init__(self, tmp: Path):
        self.port = free_port()
        self.url = self.url_for(0)
        self.dir = tmp
        self.proc: subprocess.Popen | None = None

    def url_for(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, timeout=10, what="redis-server to answer")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it by ``sig``: SIGTERM shuts down cleanly, SIGKILL as a crash would."""
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
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
            "CELERY_BROKER_URL": redis.url,
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
    app.conf.broker_url = redis_server.url
    processes = CeleryProcesses(redis_server, tmp_path)
    yield processes
    processes.stop_all()
    app.conf.broker_url = previous_url


@pytest.fixture
def start_worker(celery_processes) -> Callable[..., Process]:
    """Start real workers against the test database (see CeleryProcesses.worker)."""
    return celery_processes.worker


# --- A PostgreSQL cluster of the test's own ----------------------------------------------


def postgres_bin_dir() -> Path | None:
    """The newest PostgreSQL server binaries installed (Debian keeps them per version)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return found[-1].parent if found else None


class PostgresCluster:
    """A throwaway cluster (initdb into a temporary folder, on a free loopback port) that a
    test may stop and start, never the machine's own. PostgreSQL refuses to run as root:
    as root, the cluster belongs to the ``postgres`` OS user and its commands run as it."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="evalserver-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.root, user="postgres")

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        assert result.returncode == 0, f"{args[0]} failed: {result.stdout}\n{result.stderr}"

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
            " -c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
            timeout=90,
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", timeout=90
        )

    def restart(self) -> None:
        self.stop("fast")
        self.start()

    def create_database(self, name: str) -> None:
        import psycopg2

        conn = psycopg2.connect(self.url())
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(AssertionError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def postgres_cluster() -> Iterator[PostgresCluster]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
