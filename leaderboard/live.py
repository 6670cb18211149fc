"""A phase's live ranking, kept per process and patched team by team (issue 12).

Ranking a phase of 1,000 teams x 20 submissions anew takes the ranking query over every
submission; a finished submission changes one team's entry. So each process keeps the
newest ranking it built per phase, with every entry's replicate vector, and when the
phase's :class:`LeaderboardVersion` says which teams changed since that board
(``team_changes``), it reads just those teams' entries (one query) and re-places them:
their old entries out, their new ones in at their place in the board's order, every rank
after the first moved entry recounted, and ``separable_from_next`` worked out again for
each entry whose next entry changed (the moved entries' old and new neighbours, from the
difference of their replicate vectors). The result equals a ranking made anew; the tests
check it on random sequences of changes.

A change of the whole board (an empty log, or a board older than the log), other phase
dates, or no board yet: the phase is ranked anew, with its replicate vectors (8 kB an entry),
so that the next change can be patched.

Teams changed concurrently in other processes are safe: each change appends to the log
under the version row's lock, so a process sees every team changed after its board's token;
a team read later than its change (by a change committed meanwhile) is only newer, and is
read again when that later change is applied.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from evalserver.challenges.models import Phase
from evalserver.scoring import bootstrap
from leaderboard import intervals
from leaderboard.models import LeaderboardVersion
from leaderboard.selectors import RankingRow, leaderboard_ranking_with_replicates


@dataclass(frozen=True)
class LiveBoard:
    # What the ranking depends on besides the submissions and team names (the version).
    basis: tuple
    token: uuid.UUID | None
    rows: tuple[RankingRow, ...]  # board order, with ranks and separability
    # Each row's replicate vector by submission id (None: scored without one). Never changed
    # once made: a patched board gets a new mapping.
    vectors: Mapping[int, np.ndarray | None]


_boards: dict[int, LiveBoard] = {}
_lock = threading.Lock()


def clear() -> None:
    with _lock:
        _boards.clear()


def _basis(phase: Phase) -> tuple:
    # With the id, the creation time tells apart phases of databases that reuse ids.
    return (phase.pk, phase.created_at, phase.starts_at, phase.ends_at)


def _version(phase: Phase) -> LeaderboardVersion | None:
    try:
        return phase.leaderboard_version
    except LeaderboardVersion.DoesNotExist:
        return None  # nothing has changed since the phase was made


def teams_changed_since(version: LeaderboardVersion | None, token: uuid.UUID | None):
    """The teams changed after the board at ``token``, or None when that is not known (a
    change of the whole board since, or more changes than the log keeps)."""
    if version is None or token is None:
        return None
    log = version.team_changes or []
    tokens = [entry[0] for entry in log]
    try:
        start = tokens.index(token.hex)
    except ValueError:
        return None
    teams = {entry[1] for entry in log[start + 1 :]}
    return None if None in teams else teams


def _vector(blob: bytes | None) -> np.ndarray | None:
    return bootstrap.replicates_from_bytes(blob)


def _order(row: RankingRow) -> tuple:
    # The ranking query's board order: higher score first, then earlier, then lower id.
    return (-row.primary_score, row.submitted_at, row.submission_id)


def patched(
    board: LiveBoard,
    *,
    token: uuid.UUID | None,
    team_ids: Iterable[int],
    fresh: list[tuple[RankingRow, bytes | None]],
) -> LiveBoard:
    """``board`` with the entries of ``team_ids`` replaced by ``fresh`` (those teams' rows as
    the ranking query reads them now, with their replicate bytes). No query."""
    teams = set(team_ids)
    old = board.rows
    old_next = {
        row.submission_id: old[k + 1].submission_id if k + 1 < len(old) else None
        for k, row in enumerate(old)
    }
    merged = [row for row in old if row.team_id not in teams]
    vectors = {row.submission_id: board.vectors[row.submission_id] for row in merged}
    fresh_ids = set()
    for row, blob in fresh:
        bisect.insort(merged, row, key=_order)
        vectors[row.submission_id] = _vector(blob)
        fresh_ids.add(row.submission_id)
    rows = []
    rank = 0
    for k, row in enumerate(merged):
        next_id = merged[k + 1].submission_id if k + 1 < len(merged) else None
        new_rank = None
        if not row.is_baseline:
            rank += 1
            new_rank = rank
        sid = row.submission_id
        flag = row.separable_from_next
        # A new neighbour, or a re-read row or next row (a re-scored submission keeps its id
        # but not its vector): the pair's separability is worked out again.
        if sid in fresh_ids or next_id in fresh_ids or old_next.get(sid, -1) != next_id:
            flag = next_id is not None and intervals.separable_pair(vectors[sid], vectors[next_id])
        if new_rank != row.rank or flag != row.separable_from_next:
            row = row.placed(rank=new_rank, separable_from_next=flag)
        rows.append(row)
    return LiveBoard(board.basis, token, tuple(rows), vectors)


def ranked_anew(phase: Phase, token: uuid.UUID | None) -> LiveBoard:
    """The phase's live board from its whole ranking. One query."""
    rows = leaderboard_ranking_with_replicates(phase=phase)
    return LiveBoard(
        _basis(phase),
        token,
        tuple(row for row, _ in rows),
        {row.submission_id: _vector(blob) for row, blob in rows},
    )


def live_board(*, phase: Phase) -> LiveBoard:
    """The phase's live ranking at its current version, from this process's memory, patched
    or ranked anew. At most one query.

    ``phase`` must be freshly loaded with its ``leaderboard_version`` (as
    ``selectors.phase_for_leaderboard`` does): the version on the object chooses the board.
    """
    version = _version(phase)
    token = version.token if version is not None else None
    basis = _basis(phase)
    with _lock:
        cached = _boards.get(phase.pk)
    board = None
    if cached is not None and cached.basis == basis:
        if cached.token == token:
            return cached
        teams = teams_changed_since(version, cached.token)
        if teams is not None:
            fresh = leaderboard_ranking_with_replicates(phase=phase, team_ids=sorted(teams))
            board = patched(cached, token=token, team_ids=teams, fresh=fresh)
    if board is None:
        board = ranked_anew(phase, token)
    with _lock:
        # Two threads may build at once; both boards are right for their version.
        _boards[phase.pk] = board
    return board
