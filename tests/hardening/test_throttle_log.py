"""evalserver.throttling: DRF's sliding log in one Redis round trip, the same decisions
and Retry-After as DRF's throttle on a cache that keeps the pickled list."""

from __future__ import annotations

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpRequest
from rest_framework import throttling as drf

from evalserver import throttling
from tests.hardening.test_cache import redis_cache  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


class _Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.25

    def __call__(self) -> float:
        return self.now


def _request(user) -> HttpRequest:
    request = HttpRequest()
    request.user = user
    request.META["REMOTE_ADDR"] = "127.0.0.1"
    return request


def test_the_same_decisions_and_waits_as_drfs(redis_cache, alice, monkeypatch):  # noqa: F811
    monkeypatch.setattr(
        drf.SimpleRateThrottle,
        "THROTTLE_RATES",
        {**drf.SimpleRateThrottle.THROTTLE_RATES, "user": "4/min"},
    )
    clock = _Clock()
    # DRF's throttle on a cache of its own (the pickled list), ours on Redis.
    reference_cache = LocMemCache("throttle-reference", {})
    steps = [0, 1, 1.5, 2, 3, 10, 59.9, 60.5, 61, 61.2, 62, 130, 130, 130.01, 131, 132, 133]
    ours, theirs = [], []
    for at in steps:
        clock.now = 1_700_000_000.25 + at
        mine = throttling.UserRateThrottle()
        mine.timer = clock
        reference = drf.UserRateThrottle()
        reference.timer = clock
        reference.cache = reference_cache
        for throttle, out in ((mine, ours), (reference, theirs)):
            allowed = throttle.allow_request(_request(alice), None)
            out.append((allowed, None if allowed else round(throttle.wait(), 6)))
    assert ours == theirs
    assert any(not allowed for allowed, _ in ours)
    # One sorted set in Redis, no pickled list.
    keys = [key for key in redis_cache.scan_iter("evalserver-test-*") if b"throttle_user" in key]
    assert len(keys) == 1
    assert redis_cache.type(keys[0]) == b"zset"


def test_without_redis_it_is_drfs(alice, settings):
    # The database cache of the test settings: DRF's get and set of the list.
    throttle = throttling.UserRateThrottle()
    assert getattr(throttle.cache, "run_script", None) is None
    assert throttle.allow_request(_request(alice), None)
