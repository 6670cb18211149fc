"""Which board entries are separable from the next one (issue 13), worked out once per board.

Every submission of a phase is bootstrapped on the same resamples (submissions.evaluations),
so the interval of the difference between two entries is the percentile interval of the
difference of their replicate vectors; an entry is *separable from the next* when that 95%
interval excludes 0. An entry without a replicate vector (scored before intervals existed)
is never separable.

The flags depend only on the ranking, which the phase's LeaderboardVersion token pins: they
are kept per process under (phase, token), so the 8 kB replicate vectors of 1,000 teams are
read once per board change, not once per page view.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from evalserver.challenges.models import Phase
from evalserver.scoring import bootstrap
from leaderboard.models import LeaderboardVersion

_CACHE_SIZE = 256
_cache: OrderedDict[tuple, tuple[tuple[int, ...], tuple[bool, ...]]] = OrderedDict()
_lock = threading.Lock()


def _key(phase: Phase, board: str) -> tuple | None:
    if not Phase.leaderboard_version.is_cached(phase):
        # Not loaded with the phase: a query to find it would cost more than it saves.
        return None
    try:
        token = phase.leaderboard_version.token
    except LeaderboardVersion.DoesNotExist:
        return None  # no version row yet: nothing to key a cache by
    return (phase.pk, phase.created_at, token, board)


def cached_flags(
    phase: Phase, board: str = "live"
) -> tuple[tuple[int, ...], tuple[bool, ...]] | None:
    """(submission ids, flags) worked out earlier for the phase's current version, or None."""
    key = _key(phase, board)
    if key is None:
        return None
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
        return found


def board_flags(
    phase: Phase,
    rows: list[tuple[int, bytes | memoryview | None]],
    known: tuple[tuple[int, ...], tuple[bool, ...]] | None,
    board: str = "live",
) -> list[bool]:
    """``separable_from_next`` for each (submission id, replicate bytes) in board order.

    ``known`` is what :func:`cached_flags` returned; it is used when it is about the same
    entries (else, e.g. after a concurrent change, the flags are worked out again, but
    without vectors they come out False and are not cached).
    """
    ids = tuple(submission_id for submission_id, _ in rows)
    if known is not None and known[0] == ids:
        return list(known[1])
    vectors = [bootstrap.replicates_from_bytes(blob) for _, blob in rows]
    flags = bootstrap.separable_flags(vectors)
    if known is None:
        key = _key(phase, board)
        if key is not None:
            with _lock:
                _cache[key] = (ids, tuple(flags))
                while len(_cache) > _CACHE_SIZE:
                    _cache.popitem(last=False)
    return flags


def clear() -> None:
    with _lock:
        _cache.clear()


def separable_flags(blobs: list[bytes | memoryview | None]) -> list[bool]:
    """``separable_from_next`` of a whole board, from each entry's stored replicate bytes."""
    return bootstrap.separable_flags([bootstrap.replicates_from_bytes(blob) for blob in blobs])


def separable_pair(upper, lower) -> bool:
    """Whether one entry is separable from the next, from their replicate vectors (arrays or
    None): the very computation :func:`separable_flags` makes for that pair on a whole board."""
    return bootstrap.separable_flags([upper, lower])[0]
