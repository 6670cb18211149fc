"""Handing submissions to whatever scores them, and knowing who is scoring what.

With a broker (CELERY_BROKER_URL) the scoring task is published to it; a broker that is
down is logged and the submission stays queued for the sweeper. Without one (the embedded
default) a small thread pool in the web process runs the same task body, so a request
never waits for scoring either way.

The scoring lock says "a live process is scoring this submission". On PostgreSQL it is a
session advisory lock: the server drops it the moment the process holding it dies, which
is how a redelivered task (or the sweeper) tells a dead worker from a busy one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

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


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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
    from submissions.tasks import score_submission

    # A fresh connection per message: a pooled one may be a corpse left by a broker restart,
    # and the short retry keeps an upload from hanging while the broker is down.
    with app.connection_for_write() as conn:
        score_submission.apply_async(
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
    from submissions.services import submission_score

    try:
        outcome = submission_score(submission_id=submission_id, worker=f"web:{worker_name()}")
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
    """One sweep, as celery beat would run it; never raises (the thread must survive)."""
    from submissions.services import submissions_sweep

    try:
        return submissions_sweep()
    except Exception:
        logger.exception("The in-process sweep failed; trying again next interval")
        return {}


def _sweep_forever(stop: threading.Event) -> None:
    while not stop.wait(settings.EVALSERVER_SWEEP_INTERVAL):
        try:
            sweep_tick()
        finally:
            # The thread's connection is its own; a stale one must not outlive the tick.
            connections.close_all()


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
