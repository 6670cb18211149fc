"""Handing submissions to whatever scores them, and knowing who is scoring what.

With a broker (CELERY_BROKER_URL) the scoring task is published to it; a broker that is
down is logged and the submission stays queued for the sweeper. Without one (the embedded
default) a small thread pool in the web process runs the same task body, so a request
never waits for scoring either way.

This module is the dispatcher: it names tasks (``SCORE_TASK``, ``SWEEP_TASK``) and sends
or runs them by name, through the Celery app's registry, so it imports neither
``submissions.tasks`` nor ``submissions.services``. The services import this module and
the tasks import the services: the imports go one way (tests/pipeline/test_dispatch.py).

The scoring lock says "a live process is scoring this submission". On PostgreSQL it is a
session advisory lock: the server drops it the moment the process holding it dies, which
is how a redelivered task (or the sweeper) tells a dead worker from a busy one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, Literal

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

logger = logging.getLogger(__name__)

# The first key of the two-key advisory lock, so our locks never collide with anybody else's.
_LOCK_NAMESPACE = 0x5AB5
_INT4 = 0x7FFFFFFF

_local_lock = threading.Lock()
_local_scoring: set[int] = set()

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_discovery_lock = threading.Lock()

# The tasks this module sends, by the names submissions.tasks registers them under.
TaskName = Literal["submissions.score_submission", "submissions.sweep"]
SCORE_TASK: Final = "submissions.score_submission"
SWEEP_TASK: Final = "submissions.sweep"


def run_here(name: TaskName, *args: int) -> Any:
    """Run a task's body in this process (no broker involved), looked up by its name."""
    from evalserver.celery import app

    if name not in app.tasks:
        # Workers and beat discover the apps' tasks at start; a web process on the first use.
        # Under a lock: the pool's threads start together after a restart's sweep, and a
        # thread that looked while another was half-way through the import found no task.
        with _discovery_lock:
            if name not in app.tasks:
                app.loader.import_default_modules()
    return app.tasks[name](*args)


def can_see_scoring_locks() -> bool:
    """Whether locks held by other processes are visible (PostgreSQL) or only our own."""
    return connection.vendor == "postgresql"


# A worker's pool process killed mid-task gets its message redelivered at once, possibly
# before PostgreSQL has noticed the dead connection and dropped its lock: that is worth
# waiting out, where a live duplicate would hold the lock for the whole scoring.
_DEAD_HOLDER_WAIT = 5.0


@contextlib.contextmanager
def scoring_lock(
    submission_id: int, *, wait_if: Callable[[int], bool] | None = None
) -> Iterator[bool]:
    """Yields True when this process now holds the submission's lock, False if another does.

    When the lock is taken and ``wait_if(submission_id)`` is true, keep trying for a few
    seconds before giving up.
    """
    if connection.vendor != "postgresql":
        with _local_lock:
            held = submission_id not in _local_scoring
            if held:
                _local_scoring.add(submission_id)
        try:
            yield held
        finally:
            if held:
                with _local_lock:
                    _local_scoring.discard(submission_id)
        return

    key = submission_id & _INT4
    held = _try_lock(key)
    if not held and wait_if is not None and wait_if(submission_id):
        deadline = time.monotonic() + _DEAD_HOLDER_WAIT
        while not held and time.monotonic() < deadline:
            time.sleep(0.2)
            held = _try_lock(key)
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, key])
            except Exception:
                # A session lock lives as long as the connection: closing it is the release.
                logger.exception("Could not release the scoring lock of %s", submission_id)
                connection.close()


def _try_lock(key: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, key])
        return bool(cursor.fetchone()[0])


def scoring_locks_held(submission_ids: list[int]) -> set[int]:
    """The ids among ``submission_ids`` that some live process is scoring right now."""
    if not submission_ids:
        return set()
    if connection.vendor != "postgresql":
        with _local_lock:
            return set(submission_ids) & _local_scoring
    by_key = {pk & _INT4: pk for pk in submission_ids}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objsubid = 2 AND objid::bigint = ANY(%s)",
            [_LOCK_NAMESPACE, list(by_key)],
        )
        return {by_key[row[0]] for row in cursor.fetchall()}


# --- Who owns in-process work ---------------------------------------------------------------
#
# Without a broker, work handed to the thread pool dies with the web process, and on SQLite
# no other process can see this process's scoring locks. So the in-process runner records
# who it is in `worker` when it claims (host, pid and when this process started), and a
# later process's sweeper tells work left by an earlier process from a live sibling's.

_process_started_at = dt.datetime.now(dt.UTC)


def _restart_clock_after_fork() -> None:
    # A gunicorn worker forked from a master that preloaded the app is a new process.
    global _process_started_at
    _process_started_at = dt.datetime.now(dt.UTC)


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_restart_clock_after_fork)

_STAMP = "%Y%m%dT%H%M%S.%fZ"
_IDENTITY = re.compile(r"^web:(?P<host>.+):(?P<pid>\d+):(?P<started>\d{8}T\d{6}\.\d{6}Z)$")


def process_started_at() -> dt.datetime:
    """When this process started: nothing handed out before then went to its thread pool."""
    return _process_started_at


def inprocess_worker_identity() -> str:
    """What the in-process runner records in ``worker``: ``web:<host>:<pid>:<start>``."""
    return f"web:{socket.gethostname()}:{os.getpid()}:{_process_started_at.strftime(_STAMP)}"


def inprocess_owner(worker: str) -> str:
    """Whose in-process work ``worker`` names: "self", "alive", "dead" or "unknown".

    "unknown" is anything else: a Celery worker's name, a row from before identities were
    recorded, another host (whose processes cannot be looked at from here).
    """
    match = _IDENTITY.match(worker or "")
    if match is None or match["host"] != socket.gethostname():
        return "unknown"
    if worker == inprocess_worker_identity():
        return "self"
    pid = int(match["pid"])
    if pid == os.getpid():
        # Our pid, another start: the process before a restart (containers reuse pids).
        return "dead"
    return "alive" if _pid_exists(pid) else "dead"


def _pid_exists(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap check: assume alive, as before identities were recorded
    # A pid reused by an unrelated process reads as alive: the submission then waits for
    # the hard limit, as it did before identities were recorded. Rare: pids go up to
    # millions on Linux before they wrap.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process
    return True


# --- Publishing ---------------------------------------------------------------------------


def enqueue_scoring(submission_id: int) -> bool:
    """Send the submission to be scored; False (and logged) if that was not possible.

    Never raises: it runs after the upload has committed, and the upload stands whatever
    happens here; a submission left queued is picked up by the sweeper.
    """
    from submissions.models import Submission

    handed_over_at = timezone.now()
    try:
        if settings.EVALSERVER_INPROCESS_TASKS:
            _run_in_process(submission_id)
        else:
            _publish(submission_id)
    except Exception:
        logger.warning(
            "Could not hand submission %s to the broker; it stays queued for the sweeper",
            submission_id,
            exc_info=True,
        )
        return False
    # Not conditional on the status: a fast worker may already have claimed it.
    Submission.objects.filter(pk=submission_id).update(enqueued_at=handed_over_at)
    return True


def _publish(submission_id: int) -> None:
    from evalserver.celery import app

    # A fresh connection per message: a pooled one may be a corpse left by a broker restart,
    # and the short retry keeps an upload from hanging while the broker is down.
    with app.connection_for_write() as conn:
        app.send_task(
            SCORE_TASK,
            args=[submission_id],
            connection=conn,
            retry=True,
            retry_policy={
                "max_retries": 2,
                "interval_start": 0,
                "interval_step": 0.2,
                "interval_max": 0.5,
            },
        )


def broker_backlog() -> int | None:
    """How many scoring messages wait in the broker's queue; None if that is not known.

    None without a broker, or when the broker cannot be asked. The sweeper uses it to tell a
    message the broker lost (a Redis restarted without its data) from one waiting behind
    others: with nothing waiting, a submission handed over an interval ago and still
    queued has no message any more.
    """
    if settings.EVALSERVER_INPROCESS_TASKS:
        return None
    from evalserver.celery import app

    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_max=0.2)
            scoring_queue = app.amqp.queues[app.conf.task_default_queue]
            try:
                declared = scoring_queue(conn.default_channel).queue_declare(passive=True)
            except conn.channel_errors:
                return 0  # no such queue: Redis drops a list once it is empty
            return int(declared.message_count)
    except Exception:
        logger.warning("Could not ask the broker how many messages wait", exc_info=True)
        return None


def _run_in_process(submission_id: int) -> None:
    if settings.EVALSERVER_INPROCESS_SYNC:
        # Tests only: score before returning, so a test can look at the result directly.
        _score_and_close(submission_id)
        return
    _get_executor().submit(_score_and_close, submission_id)


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.EVALSERVER_INPROCESS_WORKERS,
                thread_name_prefix="scoring",
            )
        return _executor


def _score_and_close(submission_id: int) -> None:
    try:
        # The task body names this process with inprocess_worker_identity() (no hostname).
        outcome = run_here(SCORE_TASK, submission_id)
        logger.info("Submission %s: %s", submission_id, outcome)
    except Exception:
        logger.exception("In-process scoring of submission %s failed", submission_id)
    finally:
        if not settings.EVALSERVER_INPROCESS_SYNC:
            # A pool thread's connection is its own; nothing else would ever close it.
            connections.close_all()


def wait_for_in_process_scoring() -> None:
    """Block until the background executor is idle (tests and shutdown)."""
    global _executor
    with _executor_lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=True)


# --- The in-process sweeper ---------------------------------------------------------------
#
# With a broker, celery beat runs the sweeper. The embedded default has no beat: a restart
# of the web process drops the thread pool's work, and those submissions would stay queued
# or running until someone ran `manage.py sweep_submissions`. So the web process sweeps
# itself, in one daemon thread, started by the first request it handles
# (evalserver.middleware.InProcessSweeperMiddleware): management commands never start it,
# and neither does a process that only imports the app (gunicorn --preload, before fork).

_sweeper: threading.Thread | None = None
# A fresh event per thread: a thread that outlived its stop() never sees a later start's.
_sweeper_stop = threading.Event()
_sweeper_lock = threading.Lock()


def sweep_tick() -> dict[str, int]:
    """One sweep, as celery beat runs it too; never raises (the thread must survive)."""
    try:
        return run_here(SWEEP_TASK)
    except Exception:
        logger.exception("The sweep failed; trying again next interval")
        return {}


def _sweep_forever(stop: threading.Event) -> None:
    # The first sweep runs at once: what an earlier process left is taken over on the first
    # request after a restart, not an interval later.
    while not stop.is_set():
        try:
            sweep_tick()
        finally:
            # The thread's connection is its own; a stale one must not outlive the tick.
            connections.close_all()
        if stop.wait(settings.EVALSERVER_SWEEP_INTERVAL):
            break


def start_in_process_sweeper() -> bool:
    """Start this process's sweeper thread unless it runs already; True if this call did.

    Only without a broker (EVALSERVER_INPROCESS_TASKS): beat sweeps otherwise.
    """
    global _sweeper, _sweeper_stop
    if not settings.EVALSERVER_INPROCESS_TASKS:
        return False
    with _sweeper_lock:
        if _sweeper is not None and _sweeper.is_alive():
            return False
        _sweeper_stop = threading.Event()
        _sweeper = threading.Thread(
            target=_sweep_forever, args=(_sweeper_stop,), name="sweeper", daemon=True
        )
        _sweeper.start()
    logger.info("In-process sweeper started (every %s s)", settings.EVALSERVER_SWEEP_INTERVAL)
    return True


def in_process_sweeper_running() -> bool:
    thread = _sweeper
    return thread is not None and thread.is_alive()


def stop_in_process_sweeper(timeout: float = 10.0) -> None:
    """Stop the sweeper thread and wait for it (tests and shutdown)."""
    global _sweeper
    with _sweeper_lock:
        thread, _sweeper = _sweeper, None
        _sweeper_stop.set()
    if thread is not None:
        thread.join(timeout)
