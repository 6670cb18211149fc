"""Django's Redis cache, failing open: a Redis that cannot be reached reads as an empty cache.

The cache holds throttle counters and other things that are nice to have (mail rate
limits, cached pages). During a Redis outage those must not fail the request: the cache
behaves as an empty one whose writes vanish (reads miss, an add succeeds), so throttles and
rate limits let the request through. A warning is logged at most once a
minute per process, and after a failure Redis is left alone for a couple of seconds, so an
outage costs a request one connection attempt at most, not one per cache call.

Only "cannot reach Redis" errors fail open (connection refused, reset, timed out, Redis
still loading its data); anything else (a wrong command, a value that cannot be
serialised) is a bug and raises as before.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# Seconds between two warnings about the same unreachable cache.
WARN_EVERY = 60.0
# Seconds during which a cache that just failed is not tried again.
RETRY_AFTER = 2.0

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)

_F = TypeVar("_F", bound=Callable[..., Any])


class _Health:
    """Per process and cache location (Django makes a cache object per thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down_until = 0.0
        self.warned_at: float | None = None
        self.skipped = 0
        self.down = False
        # Whether this outage was warned about: only then is its end logged too, so a
        # flapping Redis logs two lines a minute at most.
        self.announced = False


_health: dict[str, _Health] = {}
_health_lock = threading.Lock()


def _health_of(location: str) -> _Health:
    with _health_lock:
        return _health.setdefault(location, _Health())


def _fail_open(fallback: Callable[..., Any]) -> Callable[[_F], _F]:
    """Run the cache method; if Redis is unreachable, log and return ``fallback(...)``."""

    def decorate(method: _F) -> _F:
        @functools.wraps(method)
        def wrapper(self: FailOpenRedisCache, *args: Any, **kwargs: Any) -> Any:
            health = self._health
            if time.monotonic() < health.down_until:
                with health.lock:
                    health.skipped += 1
                return fallback(*args, **kwargs)
            try:
                result = method(self, *args, **kwargs)
            except _UNREACHABLE as exc:
                self._went_down(exc)
                return fallback(*args, **kwargs)
            if health.down:
                self._came_back()
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def _missing_key(key: str, *args: Any, **kwargs: Any) -> Any:
    raise ValueError(f"Key {key!r} not found (the cache cannot be reached)")


class _OneClientPerPool(RedisCacheClient):
    """Django's client makes a ``redis.Redis`` for every cache call, and redis-py copies
    its ~170 response callbacks into each one: about as much CPU as the round trip itself
    (issue 12: two per API request, for the throttle). One per connection pool serves every
    call; ``redis.Redis`` is thread-safe, and Django keeps a cache object per thread anyway."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class FailOpenRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` that degrades instead of raising."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _OneClientPerPool
        self._location = server if isinstance(server, str) else ",".join(server)
        self._health = _health_of(self._location)

    def _went_down(self, exc: BaseException) -> None:
        health = self._health
        now = time.monotonic()
        with health.lock:
            health.down = True
            health.down_until = now + RETRY_AFTER
            warn = health.warned_at is None or now - health.warned_at >= WARN_EVERY
            if warn:
                health.warned_at = now
                health.announced = True
                skipped, health.skipped = health.skipped, 0
        if warn:
            logger.warning(
                "The cache at %s cannot be reached (%s: %s): throttles let requests through "
                "and cached values are recomputed until it answers (%s calls skipped since "
                "the last warning)",
                _without_password(self._location),
                type(exc).__name__,
                exc,
                skipped,
            )

    def _came_back(self) -> None:
        health = self._health
        with health.lock:
            announced = health.down and health.announced
            health.down = health.announced = False
        if announced:
            logger.warning("The cache at %s answers again", _without_password(self._location))

    get = _fail_open(lambda key, default=None, version=None: default)(RedisCache.get)
    # As on an empty cache, where an add succeeds: a rate limit built on add (one mail an
    # hour) lets the action through, like the throttles.
    add = _fail_open(lambda *args, **kwargs: True)(RedisCache.add)
    set = _fail_open(lambda *args, **kwargs: None)(RedisCache.set)
    touch = _fail_open(lambda *args, **kwargs: False)(RedisCache.touch)
    delete = _fail_open(lambda *args, **kwargs: False)(RedisCache.delete)
    get_many = _fail_open(lambda *args, **kwargs: {})(RedisCache.get_many)
    has_key = _fail_open(lambda *args, **kwargs: False)(RedisCache.has_key)
    incr = _fail_open(_missing_key)(RedisCache.incr)
    set_many = _fail_open(lambda data, *args, **kwargs: list(data))(RedisCache.set_many)
    delete_many = _fail_open(lambda *args, **kwargs: None)(RedisCache.delete_many)
    clear = _fail_open(lambda *args, **kwargs: False)(RedisCache.clear)

    @_fail_open(lambda *args, **kwargs: None)
    def run_script(self, lua: str, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script on the cache's Redis in one round trip (EVALSHA, loading it
        the first time); None while Redis cannot be reached, as an empty cache reads.
        ``keys`` are given whole (``make_key`` them)."""
        client = self._cache.get_client(write=True)
        scripts = self.__dict__.setdefault("_scripts", {})
        script = scripts.get((id(client), lua))
        if script is None:
            script = scripts[(id(client), lua)] = client.register_script(lua)
        return script(keys=keys, args=args)


def _without_password(location: str) -> str:
    # redis://:secret@host:6379/1 -> redis://***@host:6379/1
    scheme, sep, rest = location.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"
