"""Benchmark: capacity figures for the README's "Capacity" section.

    .venv/bin/python -m benchmarks.bench_capacity [--scored 40] [--seconds 20]
        [--clients 4] [--database-url postgres://postgres@127.0.0.1:5432/evalserver_bench]

On the demo challenge (``seed_demo``: the recognition test phase has 6,097 clips, the
TinyVIRAT-v2 test set's size; the detection phase 480 clips, with the demo's sample file
of tubes) in a recreated benchmark database (its name must contain "bench"):

1. scoring: a backlog per track is scored one after the other by
   ``submissions.services.submission_score`` in this one process, which is what a Celery
   pool process runs for each message (claim, read the file and the labels from
   storage, score, save): submissions scored per second per worker process;
2. uploads: ``gunicorn --workers 1`` (sync) with a private redis-server as the broker (no
   worker consumes, so scoring costs the web process nothing), and ``--clients`` threads
   of different teams posting recognition answer files (each ~330 KB, 6,097 lines) to
   ``POST /api/v1/phases/{id}/submissions/`` for ``--seconds``: uploads accepted (201)
   per second per gunicorn worker. The clients run on the same machine.

Prints the figures with the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks._common import free_port, recreate_database, stop_group, wait_for

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scored", type=int, default=40, help="submissions scored per track")
    parser.add_argument("--seconds", type=float, default=20.0, help="upload measurement time")
    parser.add_argument("--clients", type=int, default=4, help="concurrent uploading teams")
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/evalserver_bench"
    )
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    port = free_port()
    redis = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = {
        "DJANGO_SETTINGS_MODULE": "evalserver.settings",
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "EVALSERVER_CACHE_URL": f"redis://127.0.0.1:{port}/1",
        "EVALSERVER_DATA_DIR": str(data_dir),
        "EVALSERVER_LOG_LEVEL": "WARNING",
        "EVALSERVER_THROTTLE_UPLOADS": "1000000/min",
        "EVALSERVER_THROTTLE_USER": "1000000/min",
    }
    os.environ.update(env)
    try:
        recreate_database(args.database_url)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("seed_demo", force=True, verbosity=0)
        return _run(args, env, data_dir)
    finally:
        redis.terminate()
        redis.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)


def _recognition_file(ids: list[str], seed: int) -> bytes:
    p = (np.random.default_rng(seed).random((len(ids), 26)) < 0.1).astype(int)
    return "".join(
        f"{i} " + " ".join(map(str, row)) + "\n" for i, row in zip(ids, p.tolist(), strict=True)
    ).encode()


def _run(args, env: dict, data_dir: Path) -> int:
    from django.conf import settings
    from django.core.files.base import ContentFile

    from evalserver.accounts.models import User
    from evalserver.challenges.demo import generate_demo
    from evalserver.challenges.models import Phase
    from evalserver.teams.models import Membership, Team
    from submissions.models import Submission
    from submissions.services import submission_score

    files = generate_demo(data_dir / "demo")
    test = Phase.objects.get(slug="test")
    detection = Phase.objects.get(slug="detection")
    Phase.objects.filter(pk__in=[test.pk, detection.pk]).update(
        max_submissions_per_day=None, max_submissions_total=None
    )
    ids = [r["id"] for r in json.loads(files.test_public.read_text())]
    team = Team.objects.get(name="Tiny Transformers")
    alice = User.objects.get(username="alice")

    results: dict[str, float] = {}
    for track, phase, make in (
        ("recognition", test, lambda k: _recognition_file(ids, k)),
        ("detection", detection, lambda k: files.detection_sample.read_bytes()),
    ):
        rows = []
        for k in range(args.scored + 2):
            s = Submission(team=team, phase=phase, submitted_by=alice, original_filename="f")
            s.file.save(f"bench-{track}-{k}", ContentFile(make(k)), save=True)
            rows.append(s.pk)
        for pk in rows[:2]:  # warm-up: imports and the labels cache
            submission_score(submission_id=pk, worker="bench")
        began = time.perf_counter()
        for pk in rows[2:]:
            outcome = submission_score(submission_id=pk, worker="bench")
            assert outcome == "finished", outcome
        elapsed = time.perf_counter() - began
        results[f"{track}_scored_per_s"] = args.scored / elapsed
        size = len(make(0))
        print(
            f"scoring {track}: {args.scored} in {elapsed:.2f} s = "
            f"{args.scored / elapsed:.1f} submissions/s per worker process "
            f"(file {size / 1024:.0f} KiB)",
            flush=True,
        )

    # Uploads through gunicorn: teams of their own, so no two clients wait on one team lock.
    import requests
    from rest_framework.authtoken.models import Token

    tokens = []
    for c in range(args.clients):
        user = User.objects.create_user(username=f"bench{c}", password=None)
        t = Team.objects.create(challenge=test.challenge, name=f"Bench {c}")
        Membership.objects.create(team=t, user=user, challenge=test.challenge, role="owner")
        tokens.append(Token.objects.create(user=user).key)
    body = _recognition_file(ids, 99)
    web_port = free_port()
    log = data_dir / "gunicorn.log"
    with log.open("wb") as out:
        web = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "evalserver.wsgi", "--bind",
             f"127.0.0.1:{web_port}", "--workers", "1", "--timeout", "60"],
            cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{web_port}"
        wait_for(lambda: _answers(base), timeout=60, what="gunicorn")
        url = f"{base}/api/v1/phases/{test.pk}/submissions/"
        accepted = [0] * args.clients
        refused: list[int] = []
        stop = time.monotonic() + args.seconds

        def client(c: int) -> None:
            session = requests.Session()
            while time.monotonic() < stop:
                r = session.post(
                    url,
                    headers={"Authorization": f"Token {tokens[c]}"},
                    files={"file": ("answer.txt", body)},
                    timeout=60,
                )
                if r.status_code == 201:
                    accepted[c] += 1
                else:
                    refused.append(r.status_code)

        began = time.perf_counter()
        threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
        rate = sum(accepted) / elapsed
        results["uploads_per_s"] = rate
        print(
            f"uploads: {sum(accepted)} accepted in {elapsed:.1f} s = {rate:.1f}/s per "
            f"gunicorn worker ({args.clients} clients, file {len(body) / 1024:.0f} KiB, "
            f"refused {len(refused)})",
            flush=True,
        )
        assert not refused, refused[:5]
    finally:
        stop_group(web)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cores: {os.cpu_count()}")
    print(json.dumps({k: round(v, 2) for k, v in results.items()}))
    del settings
    return 0


def _answers(base: str) -> bool:
    import requests

    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


if __name__ == "__main__":
    sys.exit(main())
