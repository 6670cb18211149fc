"""DRF's user and anonymous rate throttles, counted in one Redis round trip (issue 12).

DRF keeps each client's request times as a pickled list in the cache: a read and a write
per request, the whole list each way. With the Redis cache the same sliding log is a
sorted set, pruned, counted and added to by one Lua script: one round trip, the same
decisions (requests older than the period drop out, a request is refused once the period
holds the rate's number) and the same Retry-After. Without Redis (the database or local
memory cache) they are DRF's throttles.
"""

from __future__ import annotations

import itertools
import os
import secrets

from rest_framework import throttling

# KEYS[1]: the client's log; ARGV: now, period (s), allowed requests, a unique member.
# Returns {1, n} when allowed (n counting this request), else {0, n, oldest time}.
_SLIDING_LOG = """
local now = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[3]) then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {0, n, oldest[2]}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(period))
return {1, n + 1}
"""
# Members of a log must differ even for two requests in the same microsecond.
_MEMBER_PREFIX = f"{os.getpid()}-{secrets.token_hex(4)}-"
_counter = itertools.count()


class _OneRoundTrip(throttling.SimpleRateThrottle):
    def allow_request(self, request, view):
        run_script = getattr(self.cache, "run_script", None)
        if run_script is None or self.rate is None:
            return super().allow_request(request, view)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        reply = run_script(
            _SLIDING_LOG,
            # Not the key of DRF's pickled list: a log is a sorted set.
            [self.cache.make_and_validate_key(f"{self.key}_log")],
            [
                repr(self.now),
                self.duration,
                self.num_requests,
                _MEMBER_PREFIX + str(next(_counter)),
            ],
        )
        if reply is None:  # Redis cannot be reached: let it through, as DRF on an empty cache
            return True
        self._logged = int(reply[1])
        self._oldest = float(reply[2]) if len(reply) > 2 else None
        return bool(reply[0])

    def wait(self):
        if getattr(self, "_oldest", None) is None:
            return super().wait()
        # DRF's wait() on the refused request's history: len(history) and history[-1].
        remaining_duration = self.duration - (self.now - self._oldest)
        available_requests = self.num_requests - self._logged + 1
        if available_requests <= 0:
            return None
        return remaining_duration / float(available_requests)


class UserRateThrottle(_OneRoundTrip, throttling.UserRateThrottle):
    pass


class AnonRateThrottle(_OneRoundTrip, throttling.AnonRateThrottle):
    pass
