"""The ops tests start a private redis-server and PostgreSQL cluster (tests/processes.py)."""

from tests.processes import postgres_cluster, redis_server

__all__ = ["postgres_cluster", "redis_server"]
