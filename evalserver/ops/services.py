"""Writes of the ops app: worker heartbeats."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from evalserver.ops.models import WorkerHeartbeat

# A worker not heard from for this long is forgotten: worker names change with every
# container (celery@<host>), and /metrics would otherwise report each one ever started,
# its age growing for ever. A day leaves time to see a dead worker, and to alert on it.
WORKER_FORGOTTEN_AFTER = dt.timedelta(days=1)


def worker_heartbeat(*, name: str) -> None:
    """Record that the worker ``name`` is alive now (one upsert), and forget the workers
    silent for ``WORKER_FORGOTTEN_AFTER`` (a handful of rows: no index needed)."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(name=name[:200], defaults={"last_seen_at": now})
    WorkerHeartbeat.objects.filter(last_seen_at__lt=now - WORKER_FORGOTTEN_AFTER).delete()
