"""Benchmark: the lists a crowd grows, through gunicorn (issue 12).

    .venv/bin/python -m benchmarks.bench_submission_lists [--teams 1000] [--per-team 20]
        [--requests 2000] [--clients 16] [--client-processes 2] [--seconds 60]
        [--workers 2] [--worker-class sync] [--threads 1] [--reuse-database]
        [--database-url postgres://postgres@127.0.0.1:5432/evalserver_bench_lists]

Fills a phase like ``bench_leaderboard`` (``teams x per-team`` submissions with full score
JSON), then times, through gunicorn with production settings on 127.0.0.1 (by default the
image's: ``--worker-class``, ``--workers`` and ``--threads`` override it):

- ``GET /api/v1/phases/{id}/submissions/`` for a team member (token), ``--clients``
  concurrent clients sending ``--requests`` in all (at most ``--seconds``): requests per
  second, p50, p95 and p99, and the CPU each request cost: the load generator's own, the
  gunicorn workers', PostgreSQL's backends' and Redis's, in milliseconds per request. On
  this 2-core machine 150 requests/s leave 13.3 ms of CPU per request for all of them;
- the organizers' HTML submission list (signed in by session), first page and a late
  page, sequential: p50 and p95;
- the admin's submission list for the same organizer.

The load generator is cheap on purpose, so that it measures the server: plain
``http.client`` connections kept alive (gunicorn's sync workers close each one; the client
then reconnects), one per client thread, spread over ``--client-processes`` processes so
that they do not queue for one interpreter; each response is read whole and its status
checked, never parsed. The throttles keep their counters in a private redis-server (as in
production), with rates raised so that the loop is not refused (the throttles still run).

``--reuse-database`` keeps a database that an earlier run filled (no migrate, no fill).
The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import multiprocessing
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from benchmarks._common import free_port, recreate_database, stop_group, wait_for
from benchmarks.bench_leaderboard import _fill, _load, _percentile

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _get(url: str, headers: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - our http URL
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _sequential(label: str, url: str, headers: dict, n: int, server=None) -> None:
    """``n`` requests one after the other: p50, p95 and, given ``server`` (a function
    returning the server's pids), the server's CPU per request (steadier than latencies on
    a loaded machine)."""
    timings = []
    before = _cpu_seconds(server()) if server else {}
    for _ in range(n):
        t0 = time.perf_counter()
        status, _ = _get(url, headers)
        timings.append(time.perf_counter() - t0)
        if status != 200:
            raise SystemExit(f"{label} answered {status}")
    cpu = ""
    if server:
        after = _cpu_seconds(server())
        spent = sum(after[pid] - before.get(pid, 0.0) for pid in after)
        cpu = f", server CPU {spent / n * 1000:.1f} ms per request"
    print(
        f"{label}, {n} requests sequential: p50 {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {_percentile(timings, 95) * 1000:.1f} ms{cpu}"
    )


# --- The load generator -------------------------------------------------------------------


def _client_process(url, headers, threads, per_thread, seconds, start, results) -> None:
    """``threads`` clients in this process, each with its own kept-alive connection."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    timings: list[float] = []
    failures: list[str] = []
    sizes: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        mine, bad = [], []
        size = 0
        deadline = time.monotonic() + seconds
        for _ in range(per_thread):
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            try:
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                bad.append(type(exc).__name__)
                connection.close()
                continue
            mine.append(time.perf_counter() - t0)
            size = len(body)
            if response.status != 200:
                bad.append(str(response.status))
        connection.close()
        with lock:
            timings.extend(mine)
            failures.extend(bad)
            sizes.append(size)

    pool = [threading.Thread(target=client) for _ in range(threads)]
    start.wait()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put((timings, failures, max(sizes or [0]), usage.ru_utime + usage.ru_stime - cpu0))


def _cpu_seconds(pids) -> dict[int, float]:
    """User + system CPU of each live process, from /proc."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return out


def _children(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            found.extend(_children(int(child)))
    return found


def _backends(database_url: str) -> list[int]:
    """The PostgreSQL server processes serving the benchmark's database."""
    import dj_database_url
    import psycopg2

    config = dj_database_url.parse(database_url)
    with (
        psycopg2.connect(
            dbname="postgres",
            user=config["USER"] or None,
            password=config["PASSWORD"] or None,
            host=config["HOST"] or "127.0.0.1",
            port=config["PORT"] or 5432,
        ) as admin,
        admin.cursor() as cursor,
    ):
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [config["NAME"]])
        pids = [row[0] for row in cursor.fetchall()]
    admin.close()
    return pids


def _concurrent(label: str, url: str, headers: dict, args, processes: dict) -> float:
    """Run the load; print throughput, latency and CPU per request. Returns requests/s."""
    context = multiprocessing.get_context("fork")
    start = context.Event()
    results = context.Queue()
    n_procs = max(1, min(args.client_processes, args.clients))
    per_process = [args.clients // n_procs + (i < args.clients % n_procs) for i in range(n_procs)]
    per_thread = max(1, args.requests // args.clients)
    workers = [
        context.Process(
            target=_client_process,
            args=(url, headers, threads, per_thread, args.seconds, start, results),
        )
        for threads in per_process
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.5)  # every client process up and waiting

    def server_pids() -> dict[str, list[int]]:
        return {
            "gunicorn": _children(processes["gunicorn"]),
            "postgres": _backends(args.database_url),
            "redis": [processes["redis"]],
        }

    before = {name: _cpu_seconds(pids) for name, pids in server_pids().items()}
    t0 = time.perf_counter()
    start.set()
    gathered = [results.get(timeout=args.seconds + 120) for _ in workers]
    wall = time.perf_counter() - t0
    after = {name: _cpu_seconds(pids) for name, pids in server_pids().items()}
    for worker in workers:
        worker.join(timeout=30)
    timings = [t for part in gathered for t in part[0]]
    failures = [f for part in gathered for f in part[1]]
    size = max(part[2] for part in gathered)
    n = len(timings)
    if not n:
        raise SystemExit(f"{label}: no request answered ({sorted(set(failures))})")
    cpu = {"load generator": sum(part[3] for part in gathered)}
    for name in before:
        # A process that started during the run spent all its CPU in it.
        cpu[name] = sum(after[name][pid] - before[name].get(pid, 0.0) for pid in after[name])
    rate = n / wall
    print(
        f"{label}, {args.clients} concurrent clients, {n} requests in {wall:.1f} s "
        f"({size / 1024:.0f} KiB each): {rate:.1f} requests/s, "
        f"p50 {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {_percentile(timings, 95) * 1000:.1f} ms, "
        f"p99 {_percentile(timings, 99) * 1000:.1f} ms"
    )
    per_request = {name: seconds / n * 1000 for name, seconds in cpu.items()}
    print(
        "  CPU per request: "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in per_request.items())
        + f"; all {sum(per_request.values()):.2f} ms (2 cores at 150 requests/s: 13.3 ms)"
    )
    if failures:
        raise SystemExit(f"{len(failures)} requests failed: {sorted(set(failures))}")
    return rate


# --- Set-up ---------------------------------------------------------------------------------


def _gunicorn_command(args, port: int) -> list[str]:
    """The Dockerfile's gunicorn command line, on a free loopback port; the options given
    on this command line replace the image's."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd_line = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    import json

    command = json.loads(cmd_line[4:])
    options = {}
    words = command[2:]
    i = 0
    while i < len(words):
        if words[i].startswith("--") and i + 1 < len(words) and not words[i + 1].startswith("--"):
            options[words[i]] = words[i + 1]
            i += 2
        else:
            options[words[i]] = None
            i += 1
    options["--bind"] = f"127.0.0.1:{port}"
    options["--log-level"] = "warning"
    for flag, value in (
        ("--workers", args.workers),
        ("--worker-class", args.worker_class),
        ("--threads", args.threads),
    ):
        if value is not None:
            options[flag] = str(value)
    argv = [str(ROOT / ".venv" / "bin" / "gunicorn"), "evalserver.wsgi:application"]
    for flag, value in options.items():
        argv += [flag] if value is None else [flag, value]
    return argv


def _prepare(args) -> tuple[int, str, str]:
    """The phase, the member's token and the organizer's session key."""
    import django

    if not args.reuse_database:
        recreate_database(args.database_url)
    django.setup()
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection
    from django.db.utils import DatabaseError
    from rest_framework.authtoken.models import Token

    from evalserver.accounts.models import User
    from evalserver.challenges.models import Phase
    from evalserver.challenges.organizers import ORGANIZERS_GROUP
    from evalserver.teams.models import Membership, Team

    call_command("collectstatic", interactive=False, verbosity=0)
    try:
        filled = args.reuse_database and User.objects.filter(username="member").exists()
    except DatabaseError:  # no database, or not migrated
        filled = False
        connection.close()
    if filled:
        phase = Phase.objects.get()
        print(f"reusing the filled database ({phase.submissions.count()} submissions)")
        token = Token.objects.get(user__username="member").key
        organizer = User.objects.get(username="olga")
    else:
        if args.reuse_database:
            recreate_database(args.database_url)
        call_command("migrate", verbosity=0)
        call_command("createcachetable", verbosity=0)
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
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    session = SessionStore()
    session["_auth_user_id"] = str(organizer.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = organizer.get_session_auth_hash()
    session.create()
    connection.close()
    return phase.pk, token, session.session_key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--per-team", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", "--threads", type=int, default=16, dest="clients")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=None, help="default: the Dockerfile's")
    parser.add_argument("--worker-class", default=None, help="default: the Dockerfile's")
    parser.add_argument("--threads-per-worker", type=int, default=None, dest="threads")
    parser.add_argument("--reuse-database", action="store_true")
    parser.add_argument("--api-only", action="store_true", help="skip the HTML and admin lists")
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
    phase_id, token, session_key = _prepare(args)

    port = free_port()
    command = _gunicorn_command(args, port)
    print("gunicorn " + " ".join(command[2:]))
    gunicorn = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        api = f"{base}/api/v1/phases/{phase_id}/submissions/"
        by_token = {"Authorization": f"Token {token}"}
        by_session = {"Cookie": f"sessionid={session_key}"}

        def up() -> bool:
            try:
                return _get(api, by_token)[0] == 200
            except OSError:
                return False

        wait_for(up, timeout=60, what="gunicorn", interval=0.2)
        for _ in range(20):
            _get(api, by_token)
        print(_load())
        processes = {"gunicorn": gunicorn.pid, "redis": redis.pid}
        _concurrent("submissions API, team member", api, by_token, args, processes)
        print(_load())
        if not args.api_only:
            html = f"{base}/phases/{phase_id}/submissions/"

            def server() -> list[int]:
                # gunicorn's workers and PostgreSQL's backends.
                return _children(gunicorn.pid) + _backends(args.database_url)

            _sequential("organizers' HTML list, page 1", html, by_session, 60, server)
            _sequential(
                "organizers' HTML list, page 300", html + "?page=300", by_session, 60, server
            )
            changelist = f"{base}/admin/submissions/submission/?phase__id__exact={phase_id}"
            _sequential("admin submission list", changelist, by_session, 30, server)
            _sequential(
                "admin submission list, page 300", changelist + "&p=300", by_session, 30, server
            )
            print(_load())
    finally:
        stop_group(gunicorn)
        stop_group(redis)
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
