"""EVALSERVER_CACHE_URL: the throttles' counters in Redis instead of the database.

Runs against the test Redis (EVALSERVER_TEST_REDIS_URL, as `make test` sets it) under a
key prefix of its own, removed afterwards; the rest of the suite keeps the database cache.
"""

from __future__ import annotations

import os
import secrets

import pytest
import redis
from rest_framework.throttling import SimpleRateThrottle

from tests.factories import ChallengeFactory, PhaseFactory

pytestmark = pytest.mark.django_db

REDIS_URL = os.environ.get("EVALSERVER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_cache(settings):
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis answers at {REDIS_URL}")
    prefix = f"evalserver-test-{secrets.token_hex(4)}"
    # The same shape settings.py gives CACHES for EVALSERVER_CACHE_URL.
    settings.CACHES = {
        "default": {
            "BACKEND": "evalserver.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0},
        }
    }
    yield client
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def _challenges(n: int) -> None:
    for i in range(n):
        challenge = ChallengeFactory(slug=f"c{i}")
        PhaseFactory(challenge=challenge, slug="dev")


def test_with_redis_the_throttles_cost_no_database_query(
    api, redis_cache, django_assert_num_queries
):
    _challenges(3)
    # count, challenges, their phases: nothing for the anon and user throttles, where the
    # database cache costs 6 queries each (tests/api/test_challenges_api.py).
    with django_assert_num_queries(3):
        response = api.get("/api/v1/challenges/")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


def test_with_redis_the_throttles_still_count(api, redis_cache, monkeypatch):
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, "anon": "2/min"}
    )
    statuses = [api.get("/api/v1/challenges/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    # The counter is in Redis, under our prefix.
    assert any(b"throttle_anon" in key for key in redis_cache.scan_iter("evalserver-test-*"))
