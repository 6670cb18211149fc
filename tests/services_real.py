"""Real services a test starts and stops itself: redis-server, a PostgreSQL cluster made
with initdb, and moto's S3 server. Never the machine's own services.

Each listens on the address the test gives (127.0.0.1 by default, or an address inside a
network namespace the test made), on a free port, with its files in the test's folder.
Reusable by any test module (the ops, backup and multi-host tests use them).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], object], *, timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _pg_bin(name: str) -> str:
    """initdb and postgres are not on Debian's PATH: look in the versioned folder too."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    raise FileNotFoundError(name)


class RedisServer:
    def __init__(
        self,
        folder: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        prefix: list[str] | None = None,
    ):
        self.host = host
        self.port = port or free_port()
        self.folder = folder
        self.prefix = prefix or []
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    # The name the ops tests use for the same thing.
    def url_for(self, db: int) -> str:
        return self.url(db)

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                *self.prefix,
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--protected-mode",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, timeout=10, what="redis-server to answer")
        return self

    def answers(self) -> bool:
        if self.prefix:  # inside a namespace: ask from there
            return self._ping_in_namespace()
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _ping_in_namespace(self) -> bool:
        out = subprocess.run(
            [*self.prefix, "redis-cli", "-h", self.host, "-p", str(self.port), "ping"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return out.stdout.strip() == "PONG"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it by ``sig``: SIGTERM shuts down cleanly, SIGKILL as a crash would (the fault
        tests, tests/faults/test_redis_outage.py)."""
        if self.proc is not None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None


class PostgresCluster:
    """A throw-away cluster: initdb into the test's folder, trust auth, one database."""

    def __init__(
        self,
        folder: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        prefix: list[str] | None = None,
        allow_networks: tuple[str, ...] = (),
    ):
        self.host = host
        self.port = port or free_port()
        self.folder = folder
        self.prefix = prefix or []
        self.proc: subprocess.Popen | None = None
        # PostgreSQL refuses to run as root: run it as the owner of the folder.
        self.user = "postgres"
        self.allow_networks = list(allow_networks)

    def url(self, db: str = "evalserver") -> str:
        return f"postgres://postgres@{self.host}:{self.port}/{db}"

    def _as_owner(self, command: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", self.user, "--", *command]
        return command

    def init(self) -> PostgresCluster:
        if os.geteuid() == 0:
            # pytest's folders are private to root, where the postgres user cannot reach:
            # a folder of its own under /tmp instead, removed by cleanup().
            self.folder = Path(tempfile.mkdtemp(prefix="evalserver-test-pg-"))
            self._made_folder = True
            shutil.chown(self.folder, self.user, self.user)
        self.folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            self._as_owner(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(self.folder / "data"),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        for network in self.allow_networks:
            # initdb trusts loopback only; clients on the test's own links need a line too.
            with (self.folder / "data" / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {network} trust\n")
        return self

    def start(self) -> PostgresCluster:
        self.proc = subprocess.Popen(
            [
                *self.prefix,
                *self._as_owner(
                    [
                        _pg_bin("postgres"),
                        "-D",
                        str(self.folder / "data"),
                        "-h",
                        self.host,
                        "-p",
                        str(self.port),
                        "-k",
                        str(self.folder),
                        "-c",
                        "fsync=off",
                        "-c",
                        "max_connections=60",
                    ]
                ),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "postgres.log", "ab"),  # noqa: SIM115
        )
        wait_until(self.answers, timeout=30, what="PostgreSQL to accept connections")
        return self

    def answers(self) -> bool:
        out = subprocess.run(
            [*self.prefix, _pg_bin("pg_isready"), "-h", self.host, "-p", str(self.port)],
            capture_output=True,
            timeout=10,
            check=False,
        )
        return out.returncode == 0

    def restart(self) -> None:
        """``pg_ctl stop -m fast`` (sessions are cut, as in a real restart), then start again
        on the same port (tests/faults/test_postgres_restart.py)."""
        self.shut_down()
        self.start()

    def shut_down(self) -> None:
        """``pg_ctl stop -m fast``: sessions are cut, as when an operator stops the server
        (a plain SIGTERM waits for every client to leave, and a web process never does)."""
        subprocess.run(
            [
                *self.prefix,
                *self._as_owner(
                    [_pg_bin("pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop"]
                ),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        if self.proc is not None:
            self.proc.wait(timeout=30)
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if getattr(self, "_made_folder", False):
            shutil.rmtree(self.folder, ignore_errors=True)

    def create_database(self, name: str) -> str:
        subprocess.run(
            [
                *self.prefix,
                "psql",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-c",
                f'CREATE DATABASE "{name}"',
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None


class MotoServer:
    """moto in server mode: an S3-compatible endpoint for the test only."""

    def __init__(
        self,
        folder: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        prefix: list[str] | None = None,
    ):
        self.host = host
        self.port = port or free_port()
        self.folder = folder
        self.prefix = prefix or []
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        moto = str(Path(sys.executable).with_name("moto_server"))
        self.proc = subprocess.Popen(
            [*self.prefix, moto, "-H", self.host, "-p", str(self.port)],
            stdout=open(self.folder / "moto.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        wait_until(self._answers, timeout=30, what="moto to answer")
        return self

    def _answers(self) -> bool:
        if self.prefix:
            out = subprocess.run(
                [
                    *self.prefix,
                    sys.executable,
                    "-c",
                    f"import urllib.request;urllib.request.urlopen('{self.endpoint}/moto-api/')",
                ],
                capture_output=True,
                timeout=10,
                check=False,
            )
            return out.returncode == 0
        return port_answers(self.host, self.port)

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None
