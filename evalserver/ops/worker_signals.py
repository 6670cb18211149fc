"""Celery hooks: worker heartbeats for /metrics, the submission id in task log lines, and a
word at start when detection scoring would run without its compiled module."""

from __future__ import annotations

import logging
import threading

from celery import signals
from django.db import close_old_connections, connections

from evalserver.ops import logcontext

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
_stop = threading.Event()


def _beat_forever(name: str) -> None:
    from evalserver.ops.services import worker_heartbeat

    # Bounded by the worker's life: the event is set at shutdown.
    while not _stop.is_set():
        try:
            close_old_connections()
            worker_heartbeat(name=name)
        except Exception:
            # The database may be restarting; the next beat tries again.
            logger.warning("Worker heartbeat for %s could not be written", name, exc_info=True)
        finally:
            connections.close_all()
        _stop.wait(HEARTBEAT_SECONDS)


@signals.worker_ready.connect
def _start_heartbeat(sender=None, **kwargs) -> None:
    name = getattr(sender, "hostname", None) or "celery"
    _stop.clear()
    threading.Thread(target=_beat_forever, args=(name,), name="heartbeat", daemon=True).start()


@signals.worker_ready.connect
def _say_if_detection_scoring_is_slow(**kwargs) -> None:
    """A worker installed where no C compiler was (pyproject.toml builds the module
    optionally) scores detection files on the numpy and Arrow paths, about half as fast:
    said once at its start, where an operator reads the worker's log."""
    from evalserver.scoring import detection_native

    if not detection_native.available():
        logger.warning(
            "The compiled detection reader (evalserver/scoring/_detection_csv.c) is not "
            "built: detection files are scored on the slower numpy and Arrow paths. "
            "Install a C compiler and reinstall the project to build it."
        )


@signals.worker_shutdown.connect
def _stop_heartbeat(**kwargs) -> None:
    _stop.set()


_task_tokens: dict[str, list] = {}


def _submission_of(args, kwargs) -> int | None:
    value = (kwargs or {}).get("submission_id")
    if value is None and args:
        value = args[0]
    return value if isinstance(value, int) else None


@signals.task_prerun.connect
def _bind_submission(task_id=None, task=None, args=None, kwargs=None, **extra) -> None:
    submission = _submission_of(args, kwargs)
    request = getattr(getattr(task, "request", None), "get", lambda *_: None)("request_id")
    tokens = []
    if submission is not None:
        tokens.append((logcontext.submission_id, logcontext.submission_id.set(submission)))
    if request:
        tokens.append((logcontext.request_id, logcontext.request_id.set(request)))
    _task_tokens[task_id] = tokens


@signals.task_postrun.connect
def _unbind_submission(task_id=None, **extra) -> None:
    for var, token in reversed(_task_tokens.pop(task_id, [])):
        try:
            var.reset(token)
        except ValueError:
            # Reset from another context (a pool thread): just clear.
            var.set(None)
