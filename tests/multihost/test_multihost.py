"""The multi-host deployment for real: a web host and two worker hosts in network
namespaces of their own, sharing PostgreSQL, Redis and S3 (moto) on a services host, and
nothing else: each has its own empty EVALSERVER_DATA_DIR.

Everything is reached over veth links inside namespaces the test made (10.231.0.0/24,
addresses that exist nowhere else); the test machine's own PostgreSQL and Redis are not
used. The participant's side runs on a "cli" host (tests/multihost/driver.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.multihost.netns import Network, netns_unavailable
from tests.services_real import MotoServer, PostgresCluster, RedisServer, wait_until

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SUBNET = "10.231.0"

pytestmark = pytest.mark.multihost

_why_not = netns_unavailable()
if _why_not is None:
    for tool in ("redis-server", "redis-cli", "pg_dump", "psql"):
        if not shutil.which(tool):
            _why_not = f"{tool} is not installed"
if _why_not:
    pytestmark = [pytestmark, pytest.mark.skip(reason=f"multi-host test skipped: {_why_not}")]

_STRIP = ("DATABASE_", "CELERY_", "EVALSERVER_", "DJANGO_", "EMAIL_", "PROMETHEUS_", "AWS_")


class Deployment:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.net = Network(SUBNET)
        self.procs: list[subprocess.Popen] = []
        self.logs: dict[str, Path] = {}
        self.data_dirs: dict[str, Path] = {}
        self.pg: PostgresCluster | None = None
        services = self.net.services_address
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(_STRIP) and "proxy" not in k.lower()
        }
        self.env.update(
            DJANGO_SETTINGS_MODULE="evalserver.settings",
            DATABASE_URL=f"postgres://postgres@{services}:5432/evalserver",
            DATABASE_CONN_MAX_AGE="0",
            CELERY_BROKER_URL=f"redis://{services}:6379/0",
            EVALSERVER_CACHE_URL=f"redis://{services}:6379/1",
            EVALSERVER_S3_BUCKET="evalserver",
            EVALSERVER_S3_ENDPOINT_URL=f"http://{services}:5000",
            EVALSERVER_S3_ACCESS_KEY="testing",
            EVALSERVER_S3_SECRET_KEY="testing",
            EVALSERVER_S3_URL_EXPIRY="60",
            AWS_DEFAULT_REGION="us-east-1",
            EVALSERVER_LOG_FORMAT="json",
            EVALSERVER_METRICS_ALLOWED=f"{SUBNET}.0/24",
            DJANGO_ALLOWED_HOSTS=f"{SUBNET}.10",
            WEB=f"http://{SUBNET}.10:8000",
        )

    def host_env(self, host: str, **extra: str) -> dict:
        folder = self.tmp / f"data-{host}"
        folder.mkdir(exist_ok=True)
        self.data_dirs[host] = folder
        return {**self.env, "EVALSERVER_DATA_DIR": str(folder), **extra}

    def run(self, host: str, *command: str, timeout: float = 180, **extra) -> str:
        result = subprocess.run(
            [*self.net.run_in(host), *command],
            cwd=ROOT,
            env=self.host_env(host, **extra),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"{command} on {host}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def start(self, host: str, *command: str, name: str | None = None, **extra) -> None:
        log = self.tmp / f"{name or host}.log"
        self.logs[name or host] = log
        with log.open("ab") as out:
            self.procs.append(
                subprocess.Popen(
                    [*self.net.run_in(host), *command],
                    cwd=ROOT,
                    env=self.host_env(host, **extra),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def driver(self, *args: str):
        return json.loads(self.run("cli", sys.executable, "-m", "tests.multihost.driver", *args))

    def start_worker(self, host: str, *, beat: bool = False, **extra) -> None:
        command = [
            str(BIN / "celery"),
            "-A",
            "evalserver",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--hostname",
            f"{host}@host-{host}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ]
        if beat:
            command += ["--beat", "--schedule", str(self.tmp / f"beat-{host}")]
        name = f"{host}-{sum(1 for k in self.logs if k.startswith(host))}"
        self.start(host, *command, name=name, **extra)
        wait_until(
            lambda: "ready." in self.logs[name].read_text(errors="replace"),
            timeout=60,
            what=f"worker {name} to start",
        )

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        if self.pg is not None:
            self.pg.cleanup()
        self.net.close()


@pytest.fixture
def deployment(tmp_path):
    started = time.monotonic()
    d = Deployment(tmp_path)
    try:
        svc = d.net.run_in("svc")
        services = d.net.services_address
        for host, octet in (("web", 10), ("w1", 11), ("w2", 12), ("cli", 20)):
            d.net.add_host(host, octet)
        d.pg = (
            PostgresCluster(
                tmp_path / "pg",
                host=services,
                port=5432,
                prefix=svc,
                allow_networks=(f"{SUBNET}.0/24",),
            )
            .init()
            .start()
        )
        d.pg.create_database("evalserver")
        redis = RedisServer(tmp_path / "redis", host=services, port=6379, prefix=svc).start()
        moto = MotoServer(tmp_path / "moto", host=services, port=5000, prefix=svc).start()
        d.procs += [redis.proc, moto.proc]
        d.driver("make-bucket")
        # The organizer's work happens on the web host: schema, then the challenge and its
        # hidden labels (the label import), which go to the bucket.
        d.run("web", sys.executable, "manage.py", "migrate", "--noinput", "-v", "0")
        d.run("web", sys.executable, "manage.py", "seed_demo", "--force")
        prom = tmp_path / "prometheus"
        prom.mkdir()
        d.start(
            "web",
            str(BIN / "gunicorn"),
            "evalserver.wsgi",
            "--bind",
            f"{SUBNET}.10:8000",
            "--workers",
            "2",
            "--timeout",
            "60",
            PROMETHEUS_MULTIPROC_DIR=str(prom),
        )
        wait_until(
            lambda: d.driver("get", "/readyz")["status"] == 200,
            timeout=60,
            what="the web host to be ready",
        )
        yield d
    finally:
        d.close()
        leftover = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=False
        ).stdout
        assert d.net.tag not in leftover
        # Bounded: the whole scenario, set-up included.
        assert time.monotonic() - started < 600


def _wait_done(d: Deployment, ids: list[int], timeout: float = 120) -> dict:
    def done():
        rows = d.driver("show", *map(str, ids))
        if all(r["status"] in ("finished", "failed") for r in rows.values()) and len(rows) == len(
            ids
        ):
            return rows
        return None

    return wait_until(done, timeout=timeout, what=f"submissions {ids} to be scored")


def test_web_and_two_worker_hosts_share_only_postgres_redis_and_s3(deployment):
    d = deployment
    phases = d.driver("phases")
    dev, detection = str(phases["dev"]), str(phases["detection"])
    alice = d.driver("token", "alice", "alice-demo-2021")["token"]
    charlie = d.driver("token", "charlie", "charlie-demo-2021")["token"]

    # 1. One worker host, slow on purpose; it is killed whole while scoring.
    d.start_worker("w1", EVALSERVER_TEST_SCORING_DELAY_MS="5000")
    first = d.driver("upload", alice, dev, "recognition", "1")[0]
    assert first["status"] == 201, first
    assert first["request_id"] == "upload-recognition-1"
    a = first["body"]["id"]
    wait_until(
        lambda: d.driver("show", str(a))[str(a)]["status"] == "running",
        timeout=60,
        what="the first worker to claim the submission",
    )
    assert d.driver("show", str(a))[str(a)]["worker"].startswith("w1@host-w1")
    killed = d.net.kill_host("w1")
    assert killed

    # 2. The other worker host (with the sweeper) and w1 back again take over.
    d.start_worker(
        "w2", beat=True, EVALSERVER_SWEEP_INTERVAL="2", EVALSERVER_TEST_SCORING_DELAY_MS="1500"
    )
    d.start_worker("w1", EVALSERVER_TEST_SCORING_DELAY_MS="1500")
    rows = _wait_done(d, [a])
    assert rows[str(a)]["status"] == "finished", rows
    assert rows[str(a)]["attempts"] == 2
    assert rows[str(a)]["events"].count("finished") == 1

    # 3. Both tracks, from both teams, in a burst: scored on both worker hosts.
    burst = d.driver(
        "upload",
        alice,
        dev,
        "recognition",
        "2",
        charlie,
        dev,
        "recognition",
        "3",
        alice,
        detection,
        "detection",
        "4",
        charlie,
        detection,
        "detection",
        "5",
    )
    assert [u["status"] for u in burst] == [201] * 4, burst
    ids = [a] + [u["body"]["id"] for u in burst]
    rows = _wait_done(d, ids)
    assert {r["status"] for r in rows.values()} == {"finished"}, rows
    assert all(r["primary_score"] is not None for r in rows.values())
    hosts = {r["worker"].split("@", 1)[0] for r in rows.values()}
    assert hosts == {"w1", "w2"}, rows

    # Ranked on the web host's boards.
    for phase, expected in ((dev, 3), (detection, 2)):
        board = d.driver("get", f"/api/v1/phases/{phase}/leaderboard/", alice)
        assert board["status"] == 200
        entries = board["body"]["entries"]
        assert {e["team"] for e in entries} == {"Tiny Transformers", "Low-Res Lab"}
        assert [e["rank"] for e in entries] == [1, 2]
        scored = {e["submission_id"]: e for e in entries}
        for sid, entry in scored.items():
            assert (
                entry["scores"][entry["scores"]["primary_metric"]]
                == rows[str(sid)]["primary_score"]
            )
        assert expected >= len(entries)

    # 4. Files live in the bucket only, private; the hidden labels have no URL anywhere.
    bucket = d.driver("s3-check")
    stored = {r["file"] for r in rows.values()}
    assert {f"uploads/{name}" for name in stored} <= set(bucket["keys"])
    labels = [k for k in bucket["keys"] if k.startswith("labels/")]
    assert labels
    assert set(bucket["anonymous"].values()) == {403}
    assert not any(bucket["public_grants"].values())
    listing = json.dumps(d.driver("get", "/api/v1/challenges/", alice)["body"])
    assert "labels/" not in listing
    for host in ("web", "w1", "w2"):
        folder = d.data_dirs[host]
        assert not (folder / "uploads").exists(), host
        assert not (folder / "labels").exists(), host

    # 5. A team's own file: a presigned link that expires; other teams get nothing.
    link = d.driver("file-link", "alice", "alice-demo-2021", str(a))
    assert link["status"] == 302
    assert urlsplit(link["location"]).netloc == f"{d.net.services_address}:5000"
    assert parse_qs(urlsplit(link["location"]).query)["X-Amz-Expires"] == ["60"]
    assert link["fetched_status"] == 200
    assert link["fetched_sha256"] == first["sha256"]
    assert link["bare_status"] == 403
    assert d.driver("file-link", "charlie", "charlie-demo-2021", str(a))["status"] == 404

    # 6. The operator's view from another host: both workers seen, nothing queued, and the
    # request counts of both gunicorn workers added up (multiprocess mode).
    metrics = d.driver("metrics")
    assert metrics["status"] == 200
    text = metrics["text"]
    assert 'evalserver_worker_last_seen_seconds{worker="w1@host-w1"}' in text
    assert 'evalserver_worker_last_seen_seconds{worker="w2@host-w2"}' in text
    assert "evalserver_queue_depth 0.0" in text
    assert "django_http_requests_total_by_view_transport_method_total" in text
    # One submission followed across hosts: the worker's JSON line names it.
    worker_lines = [
        json.loads(line)
        for name in d.logs
        if name.startswith(("w1", "w2"))
        for line in d.log(name).splitlines()
        if line.startswith("{")
    ]
    finished = {r["submission_id"] for r in worker_lines if r["message"].endswith(": finished")}
    assert set(ids) <= finished
