"""Benchmark: the submission pipeline from upload to finished, with one real worker.

    .venv/bin/python -m benchmarks.bench_pipeline [--latency-runs 40] [--burst 100]
        [--database-url postgres://postgres@127.0.0.1:5432/evalserver_bench]

It starts a private redis-server on a free port, (re)creates the benchmark database
(never a database that holds anything else: the name must contain "bench"), gives a
phase synthetic hidden labels for 6,097 clips (the TinyVIRAT-v2 test set's size, 26
classes) and starts one ``celery -A evalserver worker`` (prefork, concurrency 1). Then:

- latency: one upload at a time, through ``submissions.services.submission_create`` (the
  service the API and the pages call), timed until the row reads ``finished``; reported
  as median and p95, with the split between waiting in the queue and scoring;
- throughput: a burst of uploads sent back to back, and the sustained rate at which the
  one worker finishes them (from the first start to the last finish); then a backlog
  uploaded while the worker's consumer is paused, which measures the worker alone.

Every score is checked against scikit-learn; the exit status is 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import free_port, recreate_database, stop_group, wait_for

ROOT = Path(__file__).resolve().parents[1]
N_CLIPS = 6_097
SEED = 20210312


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-runs", type=int, default=40)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/evalserver_bench"
    )
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    port = free_port()
    redis = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    workers: list[subprocess.Popen] = []
    try:
        env = {
            "DJANGO_SETTINGS_MODULE": "evalserver.settings",
            "DATABASE_URL": args.database_url,
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
            "EVALSERVER_DATA_DIR": str(data_dir),
            "EVALSERVER_LOG_LEVEL": "WARNING",
        }
        os.environ.update(env)
        recreate_database(args.database_url)

        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return _run(args, env, data_dir, port, workers)
    finally:
        for proc in workers:
            stop_group(proc)
        redis.terminate()
        redis.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)


def _run(args, env: dict, data_dir: Path, port: int, started: list) -> int:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone
    from sklearn.metrics import f1_score

    from evalserver.accounts.models import User
    from evalserver.challenges.models import Challenge, Phase
    from evalserver.challenges.services import phase_set_labels
    from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
    from evalserver.teams.models import Membership, Team
    from submissions.models import Submission
    from submissions.services import submission_create

    classes = TINYVIRAT_V2_CLASSES
    rng = np.random.default_rng(SEED)
    ids = [str(i).zfill(5) for i in range(N_CLIPS)]
    truth = (rng.random((N_CLIPS, len(classes))) < 0.06).astype(np.uint8)
    truth[np.arange(N_CLIPS), rng.integers(0, len(classes), N_CLIPS)] = 1
    records = [
        {"id": cid, "dim": [96, 120, 120], "label": [classes[c] for c in np.flatnonzero(row)]}
        for cid, row in zip(ids, truth, strict=True)
    ]

    challenge = Challenge.objects.create(slug="bench", title="Bench")
    phase = Phase.objects.create(
        challenge=challenge,
        slug="test",
        name="Test",
        starts_at=timezone.now() - dt.timedelta(days=1),
        ends_at=timezone.now() + dt.timedelta(days=1),
        max_submissions_per_day=None,
        max_submissions_total=None,
    )
    phase_set_labels(phase=phase, data=json.dumps(records).encode(), filename="test.json")
    phase.refresh_from_db()
    user = User.objects.create_user(username="bench", password=None)
    team = Team.objects.create(challenge=challenge, name="Bench")
    Membership.objects.create(team=team, user=user, challenge=challenge, role="owner")

    # A handful of distinct answer files (flip ~15% of the truth), reused round-robin.
    variants = []
    for k in range(8):
        noise = np.random.default_rng(SEED + k).random(truth.shape) < 0.15
        prediction = np.where(noise, 1 - truth, truth).astype(np.uint8)
        body = "".join(
            cid + " " + " ".join(map(str, row)) + "\n"
            for cid, row in zip(ids, prediction.tolist(), strict=True)
        ).encode()
        expected = float(f1_score(truth, prediction, average="macro", zero_division=0))
        variants.append((body, expected))
    file_kb = len(variants[0][0]) / 1024

    log = data_dir / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [str(Path(sys.executable).with_name("celery")), "-A", "evalserver", "worker",
             "--pool", "prefork", "--concurrency", "1", "--loglevel", "WARNING",
             "--without-gossip", "--without-mingle", "--hostname", "bench@%h"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    started.append(worker)
    from evalserver.celery import app

    def ready() -> bool:
        replies = app.control.ping(timeout=0.5)
        return bool(replies)

    wait_for(ready, timeout=60, what="the worker")

    def upload(i: int) -> Submission:
        body, _ = variants[i % len(variants)]
        return submission_create(
            user=user, phase=phase, upload=SimpleUploadedFile("answer.txt", body)
        )

    def wait_finished(pk: int) -> Submission:
        while True:
            row = Submission.objects.get(pk=pk)
            if row.is_done:
                return row
            time.sleep(0.005)

    mismatches = 0

    def check(row: Submission, i: int) -> None:
        nonlocal mismatches
        expected = variants[i % len(variants)][1]
        if row.status != "finished" or abs((row.primary_score or -1) - expected) > 1e-9:
            mismatches += 1
            print(f"MISMATCH submission {row.pk}: {row.status} {row.primary_score} != {expected}")

    for i in range(3):  # warm-up: imports, labels cache, connections
        check(wait_finished(upload(i).pk), i)

    latencies, queue_waits, scoring_times = [], [], []
    for i in range(args.latency_runs):
        began = time.perf_counter()
        pk = upload(i).pk
        row = wait_finished(pk)
        latencies.append(time.perf_counter() - began)
        queue_waits.append((row.started_at - row.created_at).total_seconds())
        scoring_times.append((row.finished_at - row.started_at).total_seconds())
        check(row, i)

    began = time.perf_counter()
    burst = [upload(i).pk for i in range(args.burst)]
    upload_seconds = time.perf_counter() - began
    rows = [wait_finished(pk) for pk in burst]
    for i, row in enumerate(rows):
        check(row, i)
    first_start = min(row.started_at for row in rows)
    last_finish = max(row.finished_at for row in rows)
    first_created = min(row.created_at for row in rows)
    worker_rate = len(rows) / (last_finish - first_start).total_seconds()
    end_to_end_rate = len(rows) / (last_finish - first_created).total_seconds()

    # The same again with the worker's consumer paused while the uploads go in, so the
    # rate is the worker's alone rather than bounded by how fast this process uploads.
    app.control.cancel_consumer("celery", reply=True, timeout=5)
    backlog = [upload(i).pk for i in range(args.burst)]
    app.control.add_consumer("celery", reply=True, timeout=5)
    rows = [wait_finished(pk) for pk in backlog]
    for i, row in enumerate(rows):
        check(row, i)
    backlog_rate = (
        len(rows)
        / (
            max(row.finished_at for row in rows) - min(row.started_at for row in rows)
        ).total_seconds()
    )

    ms = 1000
    print(f"pipeline benchmark: one prefork worker (concurrency 1), Redis {port}, PostgreSQL")
    print(f"answer.txt: {N_CLIPS} clips x {len(classes)} classes, {file_kb:.0f} KiB, plain")
    print(f"machine: {os.cpu_count()} CPUs (shared; other jobs may be running)")
    print(
        f"latency upload->finished over {len(latencies)} sequential uploads: "
        f"median {statistics.median(latencies) * ms:.0f} ms, "
        f"p95 {_percentile(latencies, 95) * ms:.0f} ms, max {max(latencies) * ms:.0f} ms"
    )
    print(
        f"  of which queued->started median {statistics.median(queue_waits) * ms:.0f} ms, "
        f"started->finished median {statistics.median(scoring_times) * ms:.0f} ms"
    )
    print(
        f"throughput over a burst of {len(rows)}: uploads accepted at "
        f"{len(rows) / upload_seconds:.1f}/s; worker sustained {worker_rate:.2f} submissions/s "
        f"({end_to_end_rate:.2f}/s from first upload to last finish)"
    )
    print(
        f"backlog of {len(rows)} queued before the worker consumed: "
        f"worker sustained {backlog_rate:.2f} submissions/s"
    )
    print("scores checked against scikit-learn:", "all match" if not mismatches else "MISMATCH")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
