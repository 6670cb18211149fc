"""Benchmark: the leaderboard API and page of a phase with 1,000 teams x 20 submissions.

    .venv/bin/python -m benchmarks.bench_leaderboard [--teams 1000] [--per-team 20]
        [--requests 200] [--cold-requests 50] [--threads 4] [--workers 2]
        [--gunicorn-threads 4] [--page-threads 16]
        [--database-url postgres://postgres@127.0.0.1:5432/evalserver_bench_leaderboard]

It (re)creates the benchmark database (never one that holds anything else: the name must
contain "bench"), migrates it, and fills one recognition phase with ``teams x per-team``
finished submissions carrying full score JSON (26 classes) and bootstrap replicate vectors,
a few of them hidden, disqualified, failed or late, plus one baseline. Then it starts
gunicorn (``--workers`` workers of ``--gunicorn-threads`` threads, production settings:
DEBUG off) on a free port of 127.0.0.1 and times, as an anonymous client:

- in-process first: the ranking query's plan (EXPLAIN ANALYZE), the ranking selector, the
  API's board built from scratch, and the board after one submission finished, patched
  (leaderboard.live: the team's entries re-read and re-placed);
- ``GET /api/v1/phases/{id}/leaderboard/``: ``--cold-requests`` requests each after a change
  of the whole board (a new ranking), then each right after a submission finishes (what the
  scoring worker does: the submission finished with its scores and replicate vector, and
  its team named as the change), after which the served board is checked byte for byte
  against one built anew; warm requests (cache hits), plain and gzip; ``--threads``
  concurrent clients;
- the HTML page, twice: as a plain client, and as a browser's full GET (``Accept-Encoding:
  gzip``, the answer decompressed and its length checked): warm, first request after a
  change of the whole board, first request after a submission finishes, and
  ``--page-threads`` concurrent clients (requests per second, median, p95, and the CPU time
  per request of the server's processes and of this client).

The load average is printed throughout: the machine may be shared, so compare the CPU per
request and the ratios of one run rather than absolute latencies of different runs.

The API's answer is checked against a ranking computed here in Python (best per team,
earlier wins a tie); the exit status is 1 on a mismatch. The rate limits are raised so the
loop is not refused, but the throttles still run (and still cost their cache queries).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import random
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

ROOT = Path(__file__).resolve().parents[1]
SEED = 20210312
N_CLASSES = 26


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--per-team", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--cold-requests", type=int, default=50)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--gunicorn-threads",
        type=int,
        default=4,
        help="threads per gunicorn worker (gthread; 1: sync workers, gunicorn's default)",
    )
    parser.add_argument(
        "--in-process-only", action="store_true", help="skip the HTTP measurements (gunicorn)"
    )
    parser.add_argument(
        "--page-threads", type=int, default=16, help="concurrent clients of the HTML page"
    )
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/evalserver_bench_leaderboard",
    )
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-leaderboard-"))
    (data_dir / "static").mkdir()  # whitenoise warns about a missing STATIC_ROOT
    env = {
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
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    # The HTML page links its CSS through the manifest of collected static files.
    call_command("collectstatic", interactive=False, verbosity=0)
    phase, expected = _fill(args.teams, args.per_team)
    _fill_intervals(phase)
    from django.db import connection

    with connection.cursor() as cursor:
        # What autovacuum does soon after a bulk load: statistics for the planner, and the
        # visibility map that lets the ranking read its index alone.
        cursor.execute("VACUUM ANALYZE")
    _explain(phase)
    _time_query(phase)
    # The in-process timings finished a few submissions more.
    expected = _expected_ranking(phase)
    if args.in_process_only:
        return 0

    port = free_port()
    gunicorn = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "evalserver.wsgi:application",
            "--workers",
            str(args.workers),
            # Threads: a worker sending a page of megabytes to one client serves others
            # meanwhile (a sync worker waits until that client has read it all).
            "--threads",
            str(args.gunicorn_threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        start_new_session=True,
    )
    try:
        return _measure(args, port, gunicorn.pid, phase.pk, expected)
    finally:
        stop_group(gunicorn)
        shutil.rmtree(data_dir, ignore_errors=True)


def _scores(rng: random.Random, macro_f1: float) -> dict:
    from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES

    per_class = [min(1.0, max(0.0, rng.gauss(macro_f1, 0.1))) for _ in range(N_CLASSES)]
    return {
        "track": "classification",
        "primary_metric": "macro_f1",
        "macro_f1": macro_f1,
        "macro_precision": min(1.0, macro_f1 + 0.02),
        "macro_recall": max(0.0, macro_f1 - 0.02),
        "micro_precision": macro_f1,
        "micro_recall": macro_f1,
        "micro_f1": macro_f1,
        "samples_f1": macro_f1,
        "n_items": 6097,
        "per_class": [
            {
                "class_id": i,
                "name": TINYVIRAT_V2_CLASSES[i],
                "precision": f1,
                "recall": f1,
                "f1": f1,
                "support": 100,
            }
            for i, f1 in enumerate(per_class)
        ],
    }


def _fill(n_teams: int, per_team: int):
    """Create the phase and its submissions; return the phase and the expected ranking."""
    from evalserver.challenges.models import Challenge, Phase
    from evalserver.teams.models import Team
    from submissions.models import Submission

    rng = random.Random(SEED)
    started = time.perf_counter()
    start = dt.datetime(2021, 3, 1, tzinfo=dt.UTC)
    end = dt.datetime(2021, 6, 12, 23, 59, 59, tzinfo=dt.UTC)
    span = (end - start).total_seconds()
    challenge = Challenge.objects.create(slug="bench", title="Benchmark")
    phase = Phase.objects.create(
        challenge=challenge, slug="test", name="Test", starts_at=start, ends_at=end
    )
    teams = Team.objects.bulk_create(
        Team(challenge=challenge, name=f"Team {i:04d}") for i in range(n_teams)
    )
    rows = []
    best: dict[int, tuple] = {}
    for team in teams:
        skill = rng.uniform(0.05, 0.6)
        for _ in range(per_team):
            # Rounded, so equal scores (and the tie-break) really occur.
            score = round(min(1.0, max(0.0, rng.gauss(skill, 0.05))), 3)
            created_at = start + dt.timedelta(seconds=rng.uniform(0, span))
            kind = rng.random()
            fields = {}
            if kind < 0.02:
                fields["is_hidden"] = True
            elif kind < 0.03:
                fields["is_disqualified"] = True
            elif kind < 0.05:
                fields["status"] = Submission.Status.FAILED
            elif kind < 0.06:
                created_at = end + dt.timedelta(seconds=rng.uniform(0, 86400))
            row = Submission(
                team=team,
                phase=phase,
                file=f"bench/{team.pk}/{len(rows)}",
                status=fields.pop("status", Submission.Status.FINISHED),
                scores=_scores(rng, score),
                primary_score=score,
                created_at=created_at,
                **fields,
            )
            rows.append(row)
    rows.append(
        Submission(
            team=teams[0],
            phase=phase,
            file="bench/baseline",
            status=Submission.Status.FINISHED,
            scores=_scores(rng, 0.3),
            primary_score=0.3,
            created_at=start,
            is_baseline=True,
            method_name="Baseline",
        )
    )
    Submission.objects.bulk_create(rows, batch_size=2000)
    for row in rows:
        counts = (
            row.status == Submission.Status.FINISHED
            and not (row.is_hidden or row.is_disqualified or row.is_baseline)
            and start <= row.created_at < end
        )
        if counts:
            key = (-row.primary_score, row.created_at, row.pk)
            if row.team_id not in best or key < best[row.team_id]:
                best[row.team_id] = key
    expected = [pk for _, _, pk in sorted(best.values())]
    print(
        f"filled {n_teams} teams x {per_team} submissions ({len(rows)} rows) "
        f"in {time.perf_counter() - started:.1f} s; {len(expected)} teams ranked"
    )
    return phase, expected


def _expected_ranking(phase) -> list[int]:
    """The ranked submission ids, worked out here in Python (best per team, earlier wins)."""
    from submissions.models import Submission

    best: dict[int, tuple] = {}
    rows = Submission.objects.filter(
        phase=phase,
        status=Submission.Status.FINISHED,
        primary_score__isnull=False,
        is_hidden=False,
        is_disqualified=False,
        is_baseline=False,
        created_at__gte=phase.starts_at,
        created_at__lt=phase.ends_at,
    ).values_list("team_id", "primary_score", "created_at", "pk")
    for team_id, score, created_at, pk in rows:
        key = (-score, created_at, pk)
        if team_id not in best or key < best[team_id]:
            best[team_id] = key
    return [pk for _, _, pk in sorted(best.values())]


def _fill_intervals(phase) -> None:
    """Bootstrap data as the worker stores it (issue 13), for every finished submission:
    public and private replicate vectors (B = 1,000) and intervals; the phase is split."""
    import numpy as np

    from evalserver.scoring import bootstrap
    from submissions.models import Submission, SubmissionEvaluation

    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    finished = list(
        Submission.objects.filter(phase=phase, status=Submission.Status.FINISHED).values_list(
            "pk", "primary_score"
        )
    )
    updates, evaluations = [], []
    for pk, score in finished:
        public = rng.normal(score, 0.01, bootstrap.DEFAULT_REPLICATES)
        private_score = float(min(1.0, max(0.0, score + rng.normal(0, 0.02))))
        private = rng.normal(private_score, 0.012, bootstrap.DEFAULT_REPLICATES)
        low, high = bootstrap.percentile_interval(public)
        updates.append(Submission(pk=pk, ci_low=low, ci_high=high))
        private_low, private_high = bootstrap.percentile_interval(private)
        evaluations.append(
            SubmissionEvaluation(
                submission_id=pk,
                replicates=bootstrap.replicates_to_bytes(public),
                private_scores={"primary_metric": "macro_f1", "macro_f1": private_score},
                private_primary_score=private_score,
                private_ci_low=private_low,
                private_ci_high=private_high,
                private_replicates=bootstrap.replicates_to_bytes(private),
            )
        )
    Submission.objects.bulk_update(updates, ["ci_low", "ci_high"], batch_size=2000)
    SubmissionEvaluation.objects.bulk_create(evaluations, batch_size=1000)
    phase.labels_split = True
    phase.save(update_fields=["labels_split"])
    print(
        f"filled bootstrap data of {len(finished)} submissions "
        f"in {time.perf_counter() - started:.1f} s"
    )


def _explain(phase) -> None:
    from django.db import connection

    from evalserver.challenges.models import Phase
    from evalserver.teams.models import Team
    from leaderboard.selectors import _RANKING_SQL
    from submissions.models import Submission

    sql = _RANKING_SQL.format(
        submission=connection.ops.quote_name(Submission._meta.db_table),
        phase=connection.ops.quote_name(Phase._meta.db_table),
        team=connection.ops.quote_name(Team._meta.db_table),
        scores_text="s.scores::text",
        replicates="e.replicates",
        evaluation_join="LEFT JOIN submissions_submissionevaluation e ON e.submission_id = r.id",
        team_filter="",
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE) " + sql, [phase.pk, Submission.Status.FINISHED])
        plan = [line for (line,) in cursor.fetchall()]
    scans = sorted({line.split("->")[-1].split("(")[0].strip() for line in plan if "Scan" in line})
    print(f"ranking query plan: {'; '.join(scans)}; {plan[-1].strip()}")


def _timed(call, n: int = 20) -> str:
    timings = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        timings.append(time.perf_counter() - t0)
    return (
        f"median {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {_percentile(timings, 95) * 1000:.1f} ms"
    )


def _time_query(phase) -> None:
    from django.db import connection

    from evalserver.challenges.models import Phase
    from leaderboard import encoded, intervals
    from leaderboard.final import final_board_entries
    from leaderboard.selectors import leaderboard_ranking, leaderboard_ranking_rows
    from leaderboard.services import leaderboard_changed

    print(
        "ranking selector in-process, score JSON decoded (page, CSV): "
        + _timed(lambda: leaderboard_ranking(phase=phase))
    )
    print(
        "ranking selector in-process, score JSON as text (API): "
        + _timed(lambda: leaderboard_ranking_rows(phase=phase))
    )

    # What separability (issue 13) adds to a board build, in one run: the ranking read with
    # the replicate vectors and the flags worked out, against the same read once the flags
    # of this board version are remembered (the vectors are then not selected).
    leaderboard_changed(phase_ids=[phase.pk])

    def fresh():
        return Phase.objects.select_related("challenge", "leaderboard_version").get(pk=phase.pk)

    def separability_cold():
        intervals.clear()
        leaderboard_ranking_rows(phase=fresh())

    remembered = fresh()
    leaderboard_ranking_rows(phase=remembered)
    print(
        "ranking as text with separability worked out (first build of a version): "
        + _timed(separability_cold)
    )
    print(
        "ranking as text, separability remembered (no replicate vectors read): "
        + _timed(lambda: leaderboard_ranking_rows(phase=remembered))
    )

    def build():
        encoded.clear_board_cache()
        fresh = Phase.objects.select_related(
            "challenge", "frozen_leaderboard", "leaderboard_version"
        ).get(pk=phase.pk)
        encoded.encoded_board(phase=fresh)

    print(
        "API board built in-process (phase, ranking with separability, JSON bytes): "
        + _timed(build)
    )

    # A team's change patched into the board this process holds (leaderboard.live): the
    # phase row, that team's entries with their vectors, re-placed, and the bytes re-joined.
    finish = Finisher(phase.pk)
    encoded.encoded_board(phase=fresh_board_phase(phase.pk))
    timings = []
    for _ in range(20):
        finish()
        t0 = time.perf_counter()
        encoded.encoded_board(phase=fresh_board_phase(phase.pk))
        timings.append(time.perf_counter() - t0)
    print(
        "API board after one submission finished, patched in-process (phase, the team's "
        f"entries, re-placed, JSON bytes): median {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {_percentile(timings, 95) * 1000:.1f} ms"
    )

    def build_final():
        encoded.clear_board_cache()
        fresh = Phase.objects.select_related("challenge", "leaderboard_version").get(pk=phase.pk)
        final_board_entries(phase=fresh)

    print(
        "final (private-split) board built in-process (selections, ranking, separability): "
        + _timed(build_final)
    )
    connection.close()


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _get(url: str, *, accept_gzip: bool = False) -> tuple[int, bytes]:
    # The stdlib client, one connection per request (gunicorn's sync workers close them).
    # It never decompresses: the gzip figures are for the bytes on the wire.
    headers = {"Accept-Encoding": "gzip"} if accept_gzip else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - our http URL
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our URL
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _browser_get(url: str) -> tuple[int, bytes]:
    """A full GET as a browser makes it: it accepts gzip, and the answer is decompressed
    (and its length checked) before it counts as received."""
    request = urllib.request.Request(  # noqa: S310 - our http URL
        url, headers={"Accept-Encoding": "gzip, deflate, br"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our URL
            wire = response.read()
            status = response.status
            encoding = response.headers.get("Content-Encoding")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    if encoding == "gzip":
        return status, gzip.decompress(wire)
    return status, wire


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children, e.g. gunicorn's workers."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the name: state, ppid, ..., utime (14th field of the line), stime (15th).
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _concurrent(
    url: str, n_threads: int, total: int, get=None
) -> tuple[list[float], float, list[str]]:
    """``n_threads`` clients sending ``total`` requests in all: (timings, wall, failures)."""
    get = get or _get
    timings: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    per_thread = max(1, total // n_threads)

    def client() -> None:
        mine = []
        for _ in range(per_thread):
            t0 = time.perf_counter()
            status, _content = get(url)
            mine.append(time.perf_counter() - t0)
            if status != 200:
                with lock:
                    failures.append(str(status))
        with lock:
            timings.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(n_threads)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings, time.perf_counter() - t0, failures


def _measure_page(
    args, port: int, server_pid: int, phase_id: int, new_version, finish
) -> list[str]:
    """The HTML board (anonymous viewer): warm, right after a change, and concurrent; each
    as a plain client and as a browser (gzip accepted, decompressed)."""
    url = f"http://127.0.0.1:{port}/phases/{phase_id}/leaderboard/"
    status, content = _get(url)
    if status != 200:
        raise SystemExit(f"the leaderboard page answered {status}")
    _status, zipped = _get(url, accept_gzip=True)
    _status, decoded = _browser_get(url)
    if len(decoded) != len(content):
        raise SystemExit("the gzip page differs from the plain one")
    print(
        f"page: {len(content) / 1024:.0f} KiB of HTML, {len(zipped) / 1024:.0f} KiB gzipped "
        f"(a browser's GET: {len(decoded) / 1024:.0f} KiB once decompressed)"
    )
    failures: list[str] = []
    for label, get in (("plain", _get), ("browser (gzip, decompressed)", _browser_get)):
        for _ in range(2 * args.workers):
            get(url)
        _report(
            f"page warm (cache hit), {label}, sequential", _sequential(url, args.requests, get=get)
        )
        # Right after a change: the first request of each worker after it rebuilds (the
        # others of a worker that already rebuilt are warm), as a crowd sees it.
        after_change = []
        for _ in range(args.cold_requests):
            new_version()
            after_change += _sequential(url, 1, get=get)
        _report(f"page first request after a change of the whole board, {label}", after_change)
        for _ in range(2 * args.workers):
            get(url)
        after_finish = []
        for _ in range(args.cold_requests):
            finish()
            after_finish += _sequential(url, 1, get=get)
        _report(f"page first request after a submission finishes, {label}", after_finish)
        for _ in range(2 * args.workers):
            get(url)
        server_cpu = _cpu_seconds(server_pid)
        client_cpu = time.process_time()
        timings, wall, failed = _concurrent(url, args.page_threads, args.requests, get=get)
        server_cpu = _cpu_seconds(server_pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
        failures += failed
        print(
            f"page warm, {label}, {args.page_threads} client threads, {len(timings)} requests, "
            f"gunicorn {args.workers} workers x {args.gunicorn_threads} threads: "
            f"{len(timings) / wall:.1f} requests/s, median "
            f"{statistics.median(timings) * 1000:.1f} ms, p95 "
            f"{_percentile(timings, 95) * 1000:.1f} ms; CPU per request: server "
            f"{server_cpu / len(timings) * 1000:.1f} ms, "
            f"client {client_cpu / len(timings) * 1000:.1f} ms"
        )
        print(_load())
    return failures


def _sequential(
    url: str, n: int, *, before=None, accept_gzip: bool = False, get=None
) -> list[float]:
    timings = []
    for _ in range(n):
        if before is not None:
            before()
        t0 = time.perf_counter()
        if get is not None:
            status, _content = get(url)
        else:
            status, _content = _get(url, accept_gzip=accept_gzip)
        timings.append(time.perf_counter() - t0)
        if status != 200:
            raise SystemExit(f"the leaderboard API answered {status}")
    return timings


def _report(label: str, timings: list[float]) -> None:
    print(
        f"{label}, {len(timings)} requests: median {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {_percentile(timings, 95) * 1000:.1f} ms, "
        f"{len(timings) / sum(timings):.1f} requests/s"
    )


class Finisher:
    """Finishes submissions as the scoring worker does (submissions.services.submission_score),
    in one transaction: a submission of a random team becomes finished with its scores and
    interval, its replicate vector is saved, and the board learns which team changed. The
    row is written finished at once (not claimed and scored first), so that no sweeper of
    the server takes it for a lost running one."""

    def __init__(self, phase_id: int):
        from evalserver.challenges.models import Phase
        from evalserver.teams.models import Team

        self.rng = random.Random(SEED + 1)
        self.phase = Phase.objects.get(pk=phase_id)
        self.teams = list(Team.objects.filter(challenge_id=self.phase.challenge_id).order_by("pk"))
        self.finished: list[int] = []

    def __call__(self) -> None:
        import numpy as np
        from django.db import transaction

        from evalserver.scoring import bootstrap
        from leaderboard.services import leaderboard_changed
        from submissions import evaluations
        from submissions.models import Submission

        # Mostly in the crowd, now and then a new leader.
        score = round(min(1.0, max(0.0, self.rng.gauss(0.35, 0.15))), 3)
        replicates = np.random.default_rng(len(self.finished)).normal(
            score, 0.01, bootstrap.DEFAULT_REPLICATES
        )
        low, high = bootstrap.percentile_interval(replicates)
        now = dt.datetime.now(dt.UTC)
        team = self.rng.choice(self.teams)
        with transaction.atomic():
            # bulk_create: no post_save signal, which would tell the board a second time.
            (submission,) = Submission.objects.bulk_create(
                [
                    Submission(
                        team=team,
                        phase=self.phase,
                        file=f"bench/finish/{len(self.finished)}",
                        status=Submission.Status.FINISHED,
                        scores=_scores(self.rng, score),
                        primary_score=score,
                        ci_low=low,
                        ci_high=high,
                        created_at=min(now, self.phase.ends_at - dt.timedelta(hours=1)),
                        finished_at=now,
                    )
                ]
            )
            evaluations.save_evaluation(
                submission_id=submission.pk,
                fields={"replicates": bootstrap.replicates_to_bytes(replicates)},
            )
            leaderboard_changed(phase_ids=[self.phase.pk], team_id=team.pk)
        self.finished.append(submission.pk)


def fresh_board_phase(phase_id: int):
    """The phase as a leaderboard request loads it."""
    from evalserver.challenges.models import Phase

    return Phase.objects.select_related(
        "challenge", "frozen_leaderboard", "leaderboard_version"
    ).get(pk=phase_id)


def _rebuilt_body(phase_id: int) -> bytes:
    """The API's board built in this process from scratch (no cache): what every worker's
    patched board must equal."""
    from leaderboard import encoded

    encoded.clear_board_cache()
    return encoded.encoded_board(phase=fresh_board_phase(phase_id)).body


def _measure(args, port: int, server_pid: int, phase_id: int, expected: list[int]) -> int:
    from leaderboard.services import leaderboard_changed

    url = f"http://127.0.0.1:{port}/api/v1/phases/{phase_id}/leaderboard/"

    def first_answer() -> tuple[int, bytes] | None:
        try:
            return _get(url)
        except OSError:
            return None

    status, content = wait_for(first_answer, timeout=30, what="gunicorn to answer", interval=0.1)
    if status != 200:
        raise SystemExit(f"the leaderboard API answered {status}")
    body = json.loads(content)
    ranked = [e["submission_id"] for e in body["entries"] if e["rank"] is not None]
    ranks = [e["rank"] for e in body["entries"] if e["rank"] is not None]
    baselines = [e for e in body["entries"] if e["is_baseline"]]
    if ranked != expected or ranks != list(range(1, len(expected) + 1)) or len(baselines) != 1:
        print("MISMATCH: the API's ranking differs from the one computed here", file=sys.stderr)
        return 1
    _status, zipped = _get(url, accept_gzip=True)
    if gzip.decompress(zipped) != content:
        print("MISMATCH: the gzip answer differs from the plain one", file=sys.stderr)
        return 1
    print(
        f"answer: {len(body['entries'])} entries, {len(content) / 1024:.0f} KiB of JSON, "
        f"{len(zipped) / 1024:.0f} KiB gzipped; ranking checked"
    )
    print(_load())

    def new_version():
        # What a finished submission does: every worker's cached board is now out of date.
        leaderboard_changed(phase_ids=[phase_id])

    finish = Finisher(phase_id)
    for _ in range(5):  # warm every worker's connection and code
        new_version()
        _get(url)
    _report(
        "after a change of the whole board (a new ranking before each request), sequential",
        _sequential(url, args.cold_requests, before=new_version),
    )
    for _ in range(2 * args.workers):  # every worker's board at the current version
        _get(url)
    _report(
        "right after a submission finishes (its team re-placed), sequential",
        _sequential(url, args.cold_requests, before=finish),
    )
    for _ in range(2 * args.workers):
        _get(url, accept_gzip=True)
    _report(
        "right after a submission finishes, gzip, sequential",
        _sequential(url, args.cold_requests, before=finish, accept_gzip=True),
    )
    for _ in range(2 * args.workers):  # every worker patched to the last finish
        _get(url)
    _status, served = _get(url)
    _status, served_gzip = _get(url, accept_gzip=True)
    if gzip.decompress(served_gzip) != served:
        print("MISMATCH: the patched board's gzip answer differs from the plain", file=sys.stderr)
        return 1
    if served != _rebuilt_body(phase_id):
        print("MISMATCH: the patched board differs from one built anew", file=sys.stderr)
        return 1
    print(
        f"after {len(finish.finished)} finishes, the served (patched) board equals one built "
        "anew, byte for byte"
    )

    for _ in range(5):  # the board into every worker's cache, plain and gzipped
        _get(url)
        _get(url, accept_gzip=True)
    _report("warm (cache hit), sequential", _sequential(url, args.requests))
    _report("warm, gzip, sequential", _sequential(url, args.requests, accept_gzip=True))

    concurrent: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    per_thread = max(1, args.requests // args.threads)

    def client() -> None:
        mine = []
        for _ in range(per_thread):
            t0 = time.perf_counter()
            status, _content = _get(url)
            mine.append(time.perf_counter() - t0)
            if status != 200:
                with lock:
                    failures.append(str(status))
        with lock:
            concurrent.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(args.threads)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0

    print(
        f"warm, {args.threads} client threads, {len(concurrent)} requests, gunicorn "
        f"{args.workers} workers x {args.gunicorn_threads} threads: "
        f"{len(concurrent) / wall:.1f} requests/s, median "
        f"{statistics.median(concurrent) * 1000:.1f} ms, p95 "
        f"{_percentile(concurrent, 95) * 1000:.1f} ms"
    )
    print(_load())
    failures += _measure_page(args, port, server_pid, phase_id, new_version, finish)
    print(_load())
    if failures:
        print(f"{len(failures)} requests failed: {sorted(set(failures))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
