"""A PostgreSQL restart under a running web process (issue 11, item 5).

gunicorn keeps its database connection between requests (DATABASE_CONN_MAX_AGE). The
cluster, one of the test's own, restarts (pg_ctl stop -m fast, then start): the
connection gunicorn holds is dead. Django's health check (CONN_HEALTH_CHECKS) notices it
before the next request uses it and reconnects, so that request is answered, not 500.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from tests.faults.conftest import report
from tests.processes import CELERY, ROOT, start_process, start_web, wait_until

pytestmark = pytest.mark.faults

PATHS = ["/api/v1/challenges/", "/"]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _migrated_env(postgres_cluster, tmp_path) -> dict[str, str]:
    postgres_cluster.create_database("evalserver")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "evalserver.settings",
        "DATABASE_URL": postgres_cluster.url("evalserver"),
        # Connections outlive requests, as in production (the default is 60 s).
        "DATABASE_CONN_MAX_AGE": "600",
        "EVALSERVER_DATA_DIR": str(tmp_path),
    }
    for key in ("CELERY_BROKER_URL", "EVALSERVER_CACHE_URL"):
        env.pop(key, None)
    migrate = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return env


def test_the_first_request_after_a_postgresql_restart_is_answered(postgres_cluster, tmp_path):
    env = _migrated_env(postgres_cluster, tmp_path)
    # One gunicorn worker: the request after the restart reuses the connection it held.
    web, base = start_web(log=tmp_path / "web.log", env=env, workers=1)
    try:
        before = Counter(_status(base + path) for path in PATHS * 3)
        assert before == {200: len(PATHS) * 3}, web.output()[-3000:]

        began = time.monotonic()
        postgres_cluster.restart()
        restart_took = time.monotonic() - began

        first = _status(base + PATHS[0])
        after = Counter([first, *(_status(base + path) for path in PATHS * 5)])
    finally:
        web.stop()
    report(
        "postgresql-restart",
        restart=f"{restart_took:.1f}s",
        requests_after=sum(after.values()),
        http_5xx=sum(n for code, n in after.items() if code >= 500),
        first_after_restart=first,
    )
    assert first == 200, web.output()[-3000:]
    assert after == {200: sum(after.values())}


def test_beat_sweeps_on_after_a_postgresql_restart(postgres_cluster, redis_server, tmp_path):
    # Beat sweeps the database itself now, over a connection it keeps between sweeps.
    env = {
        **_migrated_env(postgres_cluster, tmp_path),
        "CELERY_BROKER_URL": redis_server.url(0),
        "EVALSERVER_SWEEP_INTERVAL": "1",
    }
    beat = start_process(
        [
            CELERY,
            "-A",
            "evalserver",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(tmp_path / "beat-schedule"),
        ],
        log=tmp_path / "beat.log",
        env=env,
        ready=lambda p: p.output().count("Sweep: {") >= 2,
        what="beat to sweep twice",
    )
    try:
        postgres_cluster.restart()
        restarted_at = len(beat.output())
        wait_until(
            lambda: beat.output()[restarted_at:].count("Sweep: {") >= 2,
            timeout=30,
            what="two sweeps after the restart",
        )
        after = beat.output()[restarted_at:]
    finally:
        beat.stop()
    report(
        "postgresql-restart-beat",
        sweeps_after=after.count("Sweep: {"),
        failed_sweeps=after.count("The sweep failed"),
    )
    assert "The sweep failed" not in after, after


def _metrics(url: str) -> tuple[int, dict[str, float]]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback)
        text = response.read().decode()
        return response.status, {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if not sample.labels
        }


def test_metrics_answer_while_postgresql_is_down(postgres_cluster, tmp_path):
    """A scrape during a database outage still answers 200: the process's own figures, and
    evalserver_pipeline_up 0 for the pipeline's, which come from the database (a 500 would
    lose both, and look like a dead web process)."""
    env = _migrated_env(postgres_cluster, tmp_path)
    web, base = start_web(log=tmp_path / "web.log", env=env, workers=1)
    try:
        before = _metrics(base + "/metrics")
        postgres_cluster.shut_down()
        during = _metrics(base + "/metrics")
        postgres_cluster.start()
        after = _metrics(base + "/metrics")
    finally:
        web.stop()
    report(
        "postgresql-down-metrics",
        status_during=during[0],
        pipeline_up_during=during[1].get("evalserver_pipeline_up"),
    )
    assert before[0] == 200
    assert before[1]["evalserver_pipeline_up"] == 1
    assert during[0] == 200, web.output()[-3000:]
    assert during[1]["evalserver_pipeline_up"] == 0
    assert "evalserver_queue_depth" not in during[1]
    # The process's own figures are still there.
    assert any(name.startswith("django_http_requests") for name in during[1])
    assert after[0] == 200
    assert after[1]["evalserver_pipeline_up"] == 1
    assert after[1]["evalserver_queue_depth"] == 0
    assert "/metrics: the pipeline figures could not be read" in web.output()
