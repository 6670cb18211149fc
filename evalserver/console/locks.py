"""The rescore lock: "a live process is running this preview".

The same device as the scoring lock (submissions.queue): a PostgreSQL session advisory lock,
dropped by the server the moment the holding process dies, so a redelivered task or the
sweeper tells a dead worker from a busy one. Its own namespace keeps rescore ids apart from
submission ids. Other databases fall back to a lock of this process.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from django.db import connection

logger = logging.getLogger(__name__)

_NAMESPACE = 0x5AB6
_INT4 = 0x7FFFFFFF

_local_lock = threading.Lock()
_local_held: set[int] = set()


def _try(key: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_NAMESPACE, key])
        return bool(cursor.fetchone()[0])


@contextlib.contextmanager
def rescore_lock(rescore_id: int) -> Iterator[bool]:
    """Yields True when this process now holds the preview's lock, False if another does."""
    if connection.vendor != "postgresql":
        with _local_lock:
            held = rescore_id not in _local_held
            if held:
                _local_held.add(rescore_id)
        try:
            yield held
        finally:
            if held:
                with _local_lock:
                    _local_held.discard(rescore_id)
        return
    key = rescore_id & _INT4
    held = _try(key)
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_NAMESPACE, key])
            except Exception:
                logger.exception("Could not release the rescore lock of %s", rescore_id)
                connection.close()


def rescore_locks_held(rescore_ids: list[int]) -> set[int]:
    """The ids among ``rescore_ids`` that some live process is running right now."""
    if not rescore_ids:
        return set()
    if connection.vendor != "postgresql":
        with _local_lock:
            return set(rescore_ids) & _local_held
    by_key = {pk & _INT4: pk for pk in rescore_ids}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objsubid = 2 AND objid::bigint = ANY(%s)",
            [_NAMESPACE, list(by_key)],
        )
        return {by_key[row[0]] for row in cursor.fetchall()}
