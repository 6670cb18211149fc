"""Readiness: the checks of django-health-check, one per component this process needs.

/readyz names each component (database, broker, cache, storage, labels) rather than
the library's class names, so an operator's probe and its alert read the same words.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from health_check.base import HealthCheck
from health_check.checks import Cache, Database, Storage


@dataclass
class _Database(Database):
    """The library's check, closing the connection it opened: it runs on a thread of the
    event loop's executor, where nothing else would ever close it."""

    def run(self) -> None:
        try:
            super().run()
        finally:
            connections[self.alias].close()


@dataclass
class ComponentResult:
    name: str
    ok: bool
    error: str | None
    seconds: float


def _broker_check() -> HealthCheck | None:
    url = settings.CELERY_BROKER_URL
    if not url:
        return None  # tasks run in this process: there is no broker to need
    if url.startswith(("redis://", "rediss://")):
        from health_check.contrib.redis import Redis
        from redis.asyncio import Redis as RedisClient

        return Redis(
            client_factory=lambda: RedisClient.from_url(
                url, socket_connect_timeout=3, socket_timeout=3
            )
        )
    if url.startswith(("amqp://", "amqps://")):
        from health_check.contrib.rabbitmq import RabbitMQ

        return RabbitMQ(amqp_url=url)
    return None  # the in-memory transport of tests: nothing outside the process


def readiness_checks() -> dict[str, HealthCheck]:
    checks: dict[str, HealthCheck] = {"database": _Database(alias="default")}
    broker = _broker_check()
    if broker is not None:
        checks["broker"] = broker
    checks["cache"] = Cache(alias="default")
    checks["storage"] = Storage(alias="default")
    checks["labels"] = Storage(alias="labels")
    return checks


async def run_readiness_checks() -> list[ComponentResult]:
    checks = readiness_checks()
    results = await asyncio.gather(*(check.get_result() for check in checks.values()))
    return [
        ComponentResult(
            name=name,
            ok=result.error is None,
            error=None if result.error is None else str(result.error),
            seconds=round(result.time_taken, 4),
        )
        for name, result in zip(checks, results, strict=True)
    ]
