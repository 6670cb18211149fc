"""Benchmark: the deadline rush, with locust against the full stack on this machine.

    .venv/bin/python -m benchmarks.bench_deadline_rush [--participants 300] [--window 60]
        [--teams 1000] [--per-team 5] [--gunicorn-workers 2] [--gunicorn-threads 4]
        [--database-url postgres://postgres@127.0.0.1:5432/evalserver_bench_rush]

It (re)creates the benchmark database (the name must contain "bench"), starts a private
redis-server on a free port of 127.0.0.1 (broker and cache), gives one recognition phase
6,097 hidden clips and a board of ``--teams`` teams with ``--per-team`` finished
submissions each, and makes ``--participants`` users with API tokens, each in a team of
that board. Then it starts gunicorn (``--gunicorn-workers`` x ``--gunicorn-threads``,
production settings) and two Celery workers (concurrency 1 each), and runs locust as a
library (headless, in a child process: locust patches the standard library with gevent)
against 127.0.0.1 only:

- every participant uploads one 6,097-clip ``answer.txt`` at a random moment of the
  ``--window``-second window (``POST /api/v1/phases/{id}/submissions/``), then polls its
  submission (``GET /api/v1/submissions/{id}/``) until it is done;
- all the while each one reloads the board (the HTML page and the API) and the phase page;
- each participant makes one request every 3-7 s (60 a second from 300), and the server
  starts as one that has served the board a while (every worker's caches warmed).

The run stops at the end of the window plus ``--tail`` seconds; then the script waits
(bounded) until every upload is scored and prints: errors, p50/p95 per kind of request,
when the last submission finished after the window, every score checked against the
labels, and the machine's load average. Exit status 1 on an error or a wrong score.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_CLIPS = 6_097
# Seconds between a participant's requests (uniform); an upload waits for the next one.
PAUSE = (3, 7)
SEED = 20_221_212


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# --- the locust child ------------------------------------------------------------------------


def locust_child(plan_path: str) -> None:
    """Runs in its own process: locust's gevent patches stay out of the Django parent."""
    import gevent
    from locust import FastHttpUser, between, events, task
    from locust.env import Environment

    plan = json.loads(Path(plan_path).read_text())
    base, phase_id, window = plan["base"], plan["phase"], plan["window"]
    tokens = list(plan["tokens"])
    answers = [Path(p).read_bytes() for p in plan["answers"]]
    random.Random(SEED).shuffle(tokens)
    started = time.monotonic()
    # (seconds since the start, kind of request, latency in seconds) of every request.
    timeline: list[tuple[float, str, float]] = []
    errors: list[str] = []
    uploads: list[dict] = []

    @events.request.add_listener
    def _record(request_type, name, response_time, response_length, exception, **_kw):
        at = time.monotonic() - started
        timeline.append((round(at, 3), name, response_time / 1000))
        if exception is not None:
            errors.append(
                f"{request_type} {name} at {at:.1f} s after {response_time:.0f} ms: {exception}"[
                    :300
                ]
            )

    # Multipart bodies made once: geventhttpclient (FastHttpUser) is the lighter client, so
    # the load generator takes less of the machine it shares with the server.
    boundary = f"rush{secrets.token_hex(8)}"
    bodies = [
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="answer.txt"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        + answer
        + f"\r\n--{boundary}--\r\n".encode()
        for answer in answers
    ]

    class Participant(FastHttpUser):
        host = base
        # One request per pause, 5 s apart on average: about 60 requests a second from 300.
        # The pause stays well under the server's keep-alive (10 s), as a browser's would
        # be while its user watches the board; a longer one would let the server close the
        # idle connection, and this client sends a POST on a closed one without retrying.
        wait_time = between(*PAUSE)

        def on_start(self) -> None:
            self.token = tokens.pop()
            self.headers = {"Authorization": f"Token {self.token}"}
            self.submission: int | None = None
            self.done = False
            # Each uploads once, at a random moment of the window.
            self.upload_at = started + random.uniform(0, window)
            self.answer = bodies[len(tokens) % len(bodies)]

        def uploaded_now(self) -> bool:
            """Upload if this participant's moment has come; True if it did."""
            if self.submission is not None or time.monotonic() < self.upload_at:
                return False
            t0 = time.time()
            with self.client.post(
                f"/api/v1/phases/{phase_id}/submissions/",
                data=self.answer,
                headers={
                    **self.headers,
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                },
                name="upload",
                catch_response=True,
            ) as response:
                if response.status_code != 201:
                    # A refused or broken connection has no body, only its error.
                    detail = (response.text or "")[:200] or repr(response.error)
                    response.failure(f"{response.status_code}: {detail}")
                    self.submission = -1  # counted as an error; no second try
                    return True
                self.submission = response.json()["id"]
                uploads.append({"id": self.submission, "at": t0})
            return True

        @task
        def act(self) -> None:
            """Upload when the moment has come; else poll the submission until it is
            scored (three times in six), and reload the board or the phase page."""
            if self.uploaded_now():
                return
            choices = [self.board_page, self.board_api, self.phase_page]
            if self.submission not in (None, -1) and not self.done:
                choices += [self.poll] * 3
            random.choice(choices)()

        def poll(self) -> None:
            with self.client.get(
                f"/api/v1/submissions/{self.submission}/",
                headers=self.headers,
                name="poll submission",
                catch_response=True,
            ) as response:
                if response.status_code != 200:
                    response.failure(str(response.status_code))
                    return
                self.done = response.json()["status"] in ("finished", "failed", "cancelled")

        def board_page(self) -> None:
            self.client.get(f"/phases/{phase_id}/leaderboard/", name="board page")

        def board_api(self) -> None:
            self.client.get(
                f"/api/v1/phases/{phase_id}/leaderboard/",
                headers={**self.headers, "Accept-Encoding": "gzip"},
                name="board API",
            )

        def phase_page(self) -> None:
            self.client.get(f"/phases/{phase_id}/", name="phase page")

    env = Environment(user_classes=[Participant], events=events)
    runner = env.create_local_runner()
    runner.start(user_count=len(tokens), spawn_rate=max(1, len(tokens) // 5))
    gevent.spawn_later(window + plan["tail"], runner.quit)
    runner.greenlet.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(
        json.dumps(
            {
                "timeline": timeline,
                "errors": errors,
                "uploads": uploads,
                "cpu": cpu,
            }
        )
    )


# --- the parent: data, servers, figures -------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=300)
    parser.add_argument("--window", type=float, default=60)
    parser.add_argument("--tail", type=float, default=15, help="seconds of load after it")
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--per-team", type=int, default=5)
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--score-timeout", type=float, default=300)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/evalserver_bench_rush"
    )
    parser.add_argument(
        "--timeline-file", help="write every request's (second, name, latency) here as JSON"
    )
    parser.add_argument(
        "--access-log", help="gunicorn's access log, with each request's duration, goes here"
    )
    parser.add_argument("--locust-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.locust_child:
        locust_child(args.locust_child)
        return 0
    if args.tail < PAUSE[1]:
        # A participant whose moment comes at the window's end uploads at its next request.
        raise SystemExit(f"--tail must be at least {PAUSE[1]} s, the longest pause")
    if args.participants > args.teams:
        raise SystemExit("--participants must not exceed --teams (one participant per team)")

    from benchmarks._common import free_port, recreate_database, stop_group, wait_for

    data_dir = Path(tempfile.mkdtemp(prefix="bench-rush-"))
    (data_dir / "static").mkdir()
    redis_port, web_port = free_port(), free_port()
    redis = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(redis_port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    env = {
        "DJANGO_SETTINGS_MODULE": "evalserver.settings",
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "EVALSERVER_CACHE_URL": f"redis://127.0.0.1:{redis_port}/1",
        "EVALSERVER_DATA_DIR": str(data_dir),
        "EVALSERVER_LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        # The crowd comes from one address here; in the field each has its own.
        "EVALSERVER_THROTTLE_ANON": "1000000/min",
        "EVALSERVER_THROTTLE_USER": "1000000/min",
        "EVALSERVER_THROTTLE_UPLOADS": "1000000/min",
    }
    os.environ.update(env)
    started: list[subprocess.Popen] = []
    try:
        wait_for(
            lambda: (
                subprocess.run(
                    ["redis-cli", "-p", str(redis_port), "ping"], capture_output=True, check=False
                ).returncode
                == 0
            ),
            timeout=20,
            what="redis-server",
        )
        recreate_database(args.database_url)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        return _run(args, env, data_dir, web_port, started, redis.pid)
    finally:
        for proc in started:
            stop_group(proc)
        stop_group(redis)
        shutil.rmtree(data_dir, ignore_errors=True)


def _setup(args, data_dir: Path):
    import numpy as np
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from evalserver.accounts.models import User
    from evalserver.challenges.models import Challenge, Phase
    from evalserver.challenges.services import phase_set_labels
    from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES as classes
    from evalserver.teams.models import Membership, Team
    from submissions.models import Submission

    t0 = time.perf_counter()
    rng = np.random.default_rng(SEED)
    ids = [str(i).zfill(5) for i in range(N_CLIPS)]
    truth = (rng.random((N_CLIPS, len(classes))) < 0.06).astype(np.uint8)
    truth[np.arange(N_CLIPS), rng.integers(0, len(classes), N_CLIPS)] = 1
    records = [
        {"id": cid, "dim": [96, 120, 120], "label": [classes[c] for c in np.flatnonzero(row)]}
        for cid, row in zip(ids, truth, strict=True)
    ]
    now = timezone.now()
    challenge = Challenge.objects.create(slug="rush", title="Deadline rush", is_published=True)
    phase = Phase.objects.create(
        challenge=challenge,
        slug="test",
        name="Test",
        starts_at=now - dt.timedelta(days=30),
        ends_at=now + dt.timedelta(days=1),
        max_submissions_per_day=None,
        max_submissions_total=None,
    )
    phase_set_labels(phase=phase, data=json.dumps(records).encode(), filename="test.json")

    answers, expected = [], {}
    for k in range(8):
        noise = np.random.default_rng(SEED + k).random(truth.shape) < 0.15
        prediction = np.where(noise, 1 - truth, truth).astype(np.uint8)
        path = data_dir / f"answer_{k}.txt"
        path.write_text(
            "".join(
                cid + " " + " ".join(map(str, row)) + "\n"
                for cid, row in zip(ids, prediction.tolist(), strict=True)
            )
        )
        answers.append(str(path))
        expected[path.read_bytes()] = prediction

    teams = Team.objects.bulk_create(
        Team(challenge=challenge, name=f"Team {i:04d}") for i in range(args.teams)
    )
    board_rng = random.Random(SEED)
    scores_template = json.loads(
        json.dumps(
            {
                "track": "classification",
                "primary_metric": "macro_f1",
                "per_class": [
                    {"class_id": i, "name": n, "precision": 0, "recall": 0, "f1": 0, "support": 1}
                    for i, n in enumerate(classes)
                ],
            }
        )
    )
    rows = []
    for team in teams:
        for _ in range(args.per_team):
            score = round(board_rng.uniform(0.05, 0.6), 4)
            scores = {**scores_template, "macro_f1": score, "micro_f1": score}
            rows.append(
                Submission(
                    team=team,
                    phase=phase,
                    file=f"bench/{team.pk}/{len(rows)}",
                    status=Submission.Status.FINISHED,
                    scores=scores,
                    primary_score=score,
                    # As every scored submission has: its bootstrap interval. A board
                    # without any would change its columns at the rush's first finish.
                    ci_low=round(score - 0.01, 4),
                    ci_high=round(score + 0.01, 4),
                    created_at=now - dt.timedelta(days=board_rng.uniform(1, 29)),
                )
            )
    Submission.objects.bulk_create(rows, batch_size=2000)
    users = User.objects.bulk_create(
        # "!" is an unusable password hash: these users sign in with their API token only.
        User(username=f"rush{i:04d}", password="!")  # noqa: S106
        for i in range(args.participants)
    )
    Membership.objects.bulk_create(
        Membership(team=team, user=user, challenge=challenge, role="owner")
        for team, user in zip(teams, users, strict=False)
    )
    tokens = [Token.objects.create(user=user).key for user in users]
    print(
        f"set up in {time.perf_counter() - t0:.1f} s: {args.teams} teams x {args.per_team} "
        f"submissions on the board, {args.participants} participants, {N_CLIPS} clips"
    )
    return phase, tokens, answers, truth


def _warm_up(base: str, phase_id: int, *, clients: int, rounds: int = 3) -> int:
    """Bring every gunicorn worker to the state of a server that has been up a while.

    A real deadline finds the server serving the board for days: each worker has rendered
    its rows and imported its templates. A fresh benchmark server has not, and the first
    request to each worker would render all 1,000 rows. ``clients`` concurrent requests of
    each page, ``rounds`` times, keep every worker busy at once, so each gets its share.
    """
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    paths = [
        f"/phases/{phase_id}/leaderboard/",
        f"/api/v1/phases/{phase_id}/leaderboard/",
        f"/phases/{phase_id}/",
    ]

    def fetch(path: str) -> None:
        # base is the benchmark's own http://127.0.0.1 server.
        request = urllib.request.Request(base + path, headers={"Accept-Encoding": "gzip"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            response.read()

    jobs = [path for _ in range(rounds) for path in paths for _ in range(clients)]
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(fetch, jobs))
    return len(jobs)


def _run(args, env: dict, data_dir: Path, web_port: int, started: list, redis_pid: int) -> int:
    import numpy as np

    from benchmarks._common import cpu_by_tree, pids_named, stop_group, wait_for
    from submissions.models import Submission

    phase, tokens, answers, truth = _setup(args, data_dir)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    bin_dir = Path(sys.executable).parent
    full_env = {**os.environ, **env}
    started.append(
        subprocess.Popen(
            [str(bin_dir / "gunicorn"), "evalserver.wsgi:application",
             "--workers", str(args.gunicorn_workers), "--threads", str(args.gunicorn_threads),
             # As in the Dockerfile: kept-alive connections outlive a participant's pause
             # (3-7 s), so the server never closes one just as the client reuses it.
             "--keep-alive", "10",
             "--bind", f"127.0.0.1:{web_port}", "--log-level", "warning",
             *(["--access-logfile", args.access_log, "--access-logformat",
                '%(t)s %(p)s %(D)s %(s)s "%(r)s"'] if args.access_log else [])],
            cwd=ROOT, env=full_env, start_new_session=True,
        )
    )  # fmt: skip
    for k in range(2):
        log = (data_dir / f"worker{k}.log").open("wb")
        started.append(
            subprocess.Popen(
                [str(bin_dir / "celery"), "-A", "evalserver", "worker", "--pool", "prefork",
                 "--concurrency", "1", "--loglevel", "WARNING", "--without-gossip",
                 "--without-mingle", "--hostname", f"rush{k}@%h"],
                cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )  # fmt: skip
    import urllib.request

    def answers_http() -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{web_port}/api/v1/phases/{phase.pk}/leaderboard/", timeout=5
            ) as response:
                return response.status == 200
        except OSError:
            return False

    wait_for(answers_http, timeout=60, what="gunicorn", interval=0.2)
    from evalserver.celery import app

    wait_for(lambda: len(app.control.ping(timeout=0.5)) >= 2, timeout=90, what="two workers")
    warmed = _warm_up(f"http://127.0.0.1:{web_port}", phase.pk, clients=4 * args.gunicorn_workers)
    print(f"warmed up: {warmed} requests before the window (the pages' caches of every worker)")

    plan = data_dir / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "base": f"http://127.0.0.1:{web_port}",
                "phase": phase.pk,
                "window": args.window,
                "tail": args.tail,
                "tokens": tokens,
                "answers": answers,
            }
        )
    )
    print(f"rush: {args.participants} participants, {args.window:g} s window; {_load()}")
    loads = []
    # The child's output goes to files, not pipes: a pipe nobody reads until the child ends
    # fills (64 KiB of the timeline or of failure tracebacks) and the child blocks writing it.
    child_out = data_dir / "locust.out"
    child_err = data_dir / "locust.err"
    with child_out.open("w") as out_file, child_err.open("w") as err_file:
        child = subprocess.Popen(
            [sys.executable, __file__, "--locust-child", str(plan)],
            cwd=ROOT,
            stdout=out_file,
            stderr=err_file,
            text=True,
            start_new_session=True,
        )
    window_start = time.time()
    groups = {
        "gunicorn": [started[0].pid],
        "celery workers": [proc.pid for proc in started[1:]],
        "locust": [child.pid],
        "postgresql": pids_named("postgres"),
        "redis": [redis_pid],
    }
    cpu_before = cpu_by_tree(groups)
    deadline = time.monotonic() + args.window + args.tail + 120
    while child.poll() is None and time.monotonic() < deadline:
        loads.append(os.getloadavg()[0])
        time.sleep(5)
    run_seconds = time.time() - window_start
    if child.poll() is None:
        stop_group(child)
        sys.stderr.write(child_err.read_text()[-4000:])
        raise SystemExit("the locust run did not stop in time")
    if child.returncode != 0:
        print(child_err.read_text()[-3000:], file=sys.stderr)
        raise SystemExit("the locust run failed")
    result = json.loads(child_out.read_text().strip().splitlines()[-1])
    window_end = window_start + args.window

    ids = [u["id"] for u in result["uploads"]]
    t_wait = time.monotonic()

    def all_done() -> bool:
        return not Submission.objects.filter(
            pk__in=ids, status__in=[Submission.Status.QUEUED, Submission.Status.RUNNING]
        ).exists()

    wait_for(all_done, timeout=args.score_timeout, what="every upload to be scored", interval=1)
    waited = time.monotonic() - t_wait
    rows = list(Submission.objects.filter(pk__in=ids))
    failed = [r.pk for r in rows if r.status != Submission.Status.FINISHED]
    last_finish = max((r.finished_at.timestamp() for r in rows if r.finished_at), default=0)
    from sklearn.metrics import f1_score

    expected = {}
    for path in answers:
        data = Path(path).read_bytes()
        pred = np.array(
            [[int(v) for v in line.split()[1:]] for line in data.decode().splitlines()],
            dtype=np.uint8,
        )
        expected[data] = float(f1_score(truth, pred, average="macro", zero_division=0))
    # Uploads go round-robin over the answer files; a score must be one of theirs exactly.
    valid_scores = set(expected.values())
    wrong = [r.pk for r in rows if r.primary_score not in valid_scores]

    print(f"uploads: {len(ids)} of {args.participants} participants answered 201")
    latencies: dict[str, list[float]] = {}
    for _at, name, latency in result["timeline"]:
        latencies.setdefault(name, []).append(latency)
    for name in ("upload", "poll submission", "board page", "board API", "phase page"):
        values = latencies.get(name, [])
        if values:
            print(
                f"  {name:<16} {len(values):>6} requests: p50 "
                f"{statistics.median(values) * 1000:7.1f} ms, p95 "
                f"{_percentile(values, 95) * 1000:7.1f} ms, max {max(values) * 1000:7.1f} ms"
            )
    # When the slow answers came: every request, by the 10 s in which it ended.
    slices: dict[int, list[float]] = {}
    if args.timeline_file:
        Path(args.timeline_file).write_text(json.dumps(result["timeline"]))
    for at, _name, latency in result["timeline"]:
        slices.setdefault(int(at // 10), []).append(latency)
    print(
        "  timeline (all requests, by 10 s): "
        + "; ".join(
            f"{k * 10}-{k * 10 + 10} s: {len(v)} req, p95 {_percentile(v, 95) * 1000:.0f} ms"
            for k, v in sorted(slices.items())
        )
    )
    after = last_finish - window_end
    print(
        f"scoring: {len(rows) - len(failed)} finished, {len(failed)} failed; the last finished "
        f"{after:+.1f} s after the window closed (waited {waited:.1f} s after the run)"
    )
    print(
        f"scores checked against scikit-learn: {len(rows) - len(wrong)} right, {len(wrong)} wrong"
    )
    print(f"errors: {len(result['errors'])}")
    for line in sorted(set(result["errors"]))[:10]:
        print(f"  {line}")
    print(
        f"load average during the run: mean {statistics.mean(loads or [0]):.1f}, "
        f"max {max(loads or [0]):.1f}; now {_load()}"
    )
    # The locust child has ended: it reported its own CPU time.
    cpu_after = {**cpu_by_tree(groups), "locust": cpu_before["locust"] + result["cpu"]}
    used = {name: cpu_after[name] - cpu_before[name] for name in groups}
    print(
        f"CPU seconds over the {run_seconds:.0f} s run ({os.cpu_count()} CPUs: "
        f"{run_seconds * (os.cpu_count() or 1):.0f} available): "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in used.items())
        + " (postgresql: the whole cluster, other databases included)"
    )
    bad = result["errors"] or failed or wrong or len(ids) != args.participants
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
