"""Benchmark: the lists a crowd grows, through gunicorn (issue 12).

    .venv/bin/python -m benchmarks.bench_submission_lists [--teams 1000] [--per-team 20]
        [--requests 320] [--threads 16] [--workers 2]

Fills a phase like ``bench_leaderboard`` (``teams x per-team`` submissions with full score
JSON), then times, through gunicorn with production settings on 127.0.0.1:

- ``GET /api/v1/phases/{id}/submissions/`` for a team member (token), ``--threads``
  concurrent clients: requests per second, p50 and p95;
- the organizers' HTML submission list (signed in by session), first page and a late
  page, sequential: p50 and p95;
- the admin's submission list for the same organizer.

The throttles keep their counters in a private redis-server (as in production).

The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import atexit
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks._common import free_port, recreate_database, stop_group, wait_for
from benchmarks.bench_leaderboard import _fill, _load, _percentile

ROOT = Path(__file__).resolve().parents[1]


def _get(url: str, headers: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - our http URL
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _sequential(label: str, url: str, headers: dict, n: int) -> None:
    timings = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, _ = _get(url, headers)
        timings.append(time.perf_counter() - t0)
        if status != 200:
            raise SystemExit(f"{label} answered {status}")
    print(
        f"{label}, {n} requests sequential: p50 {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {_percentile(timings, 95) * 1000:.1f} ms"
    )


def _concurrent(label: str, url: str, headers: dict, threads: int, total: int) -> None:
    timings: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        mine = []
        for _ in range(max(1, total // threads)):
            t0 = time.perf_counter()
            status, _ = _get(url, headers)
            mine.append(time.perf_counter() - t0)
            if status != 200:
                with lock:
                    failures.append(status)
        with lock:
            timings.extend(mine)

    pool = [threading.Thread(target=client) for _ in range(threads)]
    t0 = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - t0
    print(
        f"{label}, {threads} concurrent clients, {len(timings)} requests: "
        f"{len(timings) / wall:.1f} requests/s, p50 {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {_percentile(timings, 95) * 1000:.1f} ms"
    )
    if failures:
        raise SystemExit(f"{len(failures)} requests failed: {sorted(set(failures))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--per-team", type=int, default=20)
    parser.add_argument("--requests", type=int, default=320)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/evalserver_bench_lists"
    )
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-lists-"))
    (data_dir / "static").mkdir()
    # The throttles' counters in Redis, as in production (the database cache costs about
    # five queries per request): a private redis-server on a free loopback port.
    redis_port = free_port()
    redis = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(redis_port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    # Stopped however the setup ends (stop_group is a no-op once it is stopped).
    atexit.register(stop_group, redis)
    env = {
        "EVALSERVER_CACHE_URL": f"redis://127.0.0.1:{redis_port}/0",
        "DJANGO_SETTINGS_MODULE": "evalserver.settings",
        "DATABASE_URL": args.database_url,
        "EVALSERVER_DATA_DIR": str(data_dir),
        "EVALSERVER_LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "EVALSERVER_THROTTLE_ANON": "1000000/min",
        "EVALSERVER_THROTTLE_USER": "1000000/min",
    }
    os.environ.update(env)
    recreate_database(args.database_url)
    import django

    django.setup()
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from evalserver.accounts.models import User
    from evalserver.challenges.organizers import ORGANIZERS_GROUP
    from evalserver.teams.models import Membership, Team

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    phase, _expected = _fill(args.teams, args.per_team)
    phase.challenge.is_published = True
    phase.challenge.save(update_fields=["is_published"])
    member = User.objects.create_user(username="member", password=None)
    team = Team.objects.order_by("pk").first()
    Membership.objects.create(team=team, user=member, challenge=phase.challenge, role="owner")
    token = Token.objects.create(user=member).key
    organizer = User.objects.create_user(username="olga", password=None, is_staff=True)
    organizer.groups.add(Group.objects.get(name=ORGANIZERS_GROUP))
    phase.challenge.organizers.add(organizer)
    session = SessionStore()
    session["_auth_user_id"] = str(organizer.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = organizer.get_session_auth_hash()
    session.create()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connection.close()

    port = free_port()
    gunicorn = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "evalserver.wsgi:application",
         "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}", "--log-level",
         "warning"],
        cwd=ROOT, env={**os.environ, **env}, start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        api = f"{base}/api/v1/phases/{phase.pk}/submissions/"
        by_token = {"Authorization": f"Token {token}"}
        by_session = {"Cookie": f"sessionid={session.session_key}"}

        def up() -> bool:
            try:
                return _get(api, by_token)[0] == 200
            except OSError:
                return False

        wait_for(up, timeout=60, what="gunicorn", interval=0.2)
        for _ in range(10):
            _get(api, by_token)
        print(_load())
        _concurrent("submissions API, team member", api, by_token, args.threads, args.requests)
        html = f"{base}/phases/{phase.pk}/submissions/"
        _sequential("organizers' HTML list, page 1", html, by_session, 60)
        _sequential("organizers' HTML list, page 300", html + "?page=300", by_session, 60)
        _sequential(
            "admin submission list",
            f"{base}/admin/submissions/submission/?phase__id__exact={phase.pk}",
            by_session,
            30,
        )
        print(_load())
    finally:
        stop_group(gunicorn)
        stop_group(redis)
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
