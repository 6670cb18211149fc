"""Fixtures for the submission pipeline: labelled phases, answer files, and real workers.

Worker tests (marked ``pipeline``) start their own ``redis-server`` on a free port and
real ``celery -A evalserver worker`` processes pointed at the test database, so they
need ``@pytest.mark.django_db(transaction=True)``: a worker only sees committed rows.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from submissions.models import Submission
from tests.recognition_data import answer_bytes, phase_with_labels, random_matrix

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
N_CLIPS = 200


class LabelledPhase:
    """A phase with hidden labels and a way to make answer files with known scores."""

    def __init__(self, phase, truth: np.ndarray):
        self.phase = phase
        self.truth = truth
        self._seed = 100

    def prediction(self) -> np.ndarray:
        self._seed += 1
        return random_matrix(len(self.truth), seed=self._seed, density=0.15)

    def upload(self, prediction: np.ndarray | None = None, name: str = "answer.txt"):
        prediction = self.prediction() if prediction is None else prediction
        return SimpleUploadedFile(name, answer_bytes(prediction)), prediction


@pytest.fixture
def labelled_phase(challenge) -> LabelledPhase:
    truth = random_matrix(N_CLIPS, seed=7)
    phase = phase_with_labels(
        truth,
        challenge=challenge,
        slug="test",
        name="Test",
        max_submissions_per_day=5,
        max_submissions_total=100,
    )
    return LabelledPhase(phase, truth)


# --- Real Redis and real workers ----------------------------------------------------------


def _free_port() -> int:
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


class RedisServer:
    """A private redis-server: outage tests stop and start it, never the machine's own."""

    def __init__(self, tmp: Path):
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tmp
        self.proc: subprocess.Popen | None = None

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

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
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


class Worker:
    def __init__(self, proc: subprocess.Popen, log: Path):
        self.proc = proc
        self.log = log

    def children(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in out.stdout.split()]

    def kill_group(self) -> None:
        """SIGKILL the worker and its pool processes at once, as a machine crash would."""
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


@pytest.fixture
def start_worker(redis_server, settings, tmp_path) -> Iterator[Callable[..., Worker]]:
    """Start real workers against the test database; also points this process's
    publisher at the private Redis."""
    from evalserver.celery import app

    settings.EVALSERVER_INPROCESS_TASKS = False
    previous_url = app.conf.broker_url
    app.conf.broker_url = redis_server.url
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    workers: list[Worker] = []

    def start(name: str = "w1", *, beat: bool = False, **env: str) -> Worker:
        log = tmp_path / f"worker-{name}-{len(workers)}.log"
        command = [
            CELERY,
            "-A",
            "evalserver",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--hostname",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
        if beat:
            command += ["--beat", "--schedule", str(tmp_path / f"beat-{name}")]
        full_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "evalserver.settings",
            "DATABASE_URL": database_url,
            "DATABASE_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": redis_server.url,
            # The test process stores uploads and labels under tmp_path (tests/conftest.py).
            "EVALSERVER_DATA_DIR": str(tmp_path),
            **env,
        }
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(proc, log)
        workers.append(worker)
        wait_until(
            lambda: "ready." in worker.output() or proc.poll() is not None,
            timeout=60,
            what=f"worker {name} to start",
        )
        assert proc.poll() is None, worker.output()
        return worker

    yield start
    for worker in workers:
        worker.stop()
    app.conf.broker_url = previous_url


def wait_for_status(submission: Submission, statuses: set[str], *, timeout: float = 60):
    def done():
        submission.refresh_from_db()
        return submission.status in statuses

    wait_until(done, timeout=timeout, what=f"submission {submission.pk} to reach {statuses}")
    return submission
