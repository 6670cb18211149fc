"""Writes of the ops app: worker heartbeats."""

from __future__ import annotations

from django.utils import timezone

from evalserver.ops.models import WorkerHeartbeat


def worker_heartbeat(*, name: str) -> None:
    """Record that the worker ``name`` is alive now (one upsert)."""
    WorkerHeartbeat.objects.update_or_create(
        name=name[:200], defaults={"last_seen_at": timezone.now()}
    )
