"""The API's leaderboard as JSON bytes, built once per board version and kept in memory.

At 1,000 teams the answer is megabytes, nearly all of it the entries' score JSON. Decoding
that from the database and encoding it again cost most of a request, so the board is
spliced together from the database's own JSON text, once, and kept per process under a key
made of everything it is built from: the phase's :class:`LeaderboardVersion` token (new
whenever a submission or team name the ranking reads changes), its dates, track and class
names, and its frozen board. All of these come with the phase row the request loads anyway,
so a hit costs no query, a changed board is never served, and every process agrees.

After a change of one team (a finished submission: leaderboard.live re-places that team in
the ranking), the new version's bytes reuse the previous version's for every entry that is the
same but for its rank: only the moved entries and their neighbours are encoded again.

Who sees what is decided after the cache: the public board is the same bytes for everyone
who may see it; a viewer of a private board sees their own team's entries, unranked.
"""

from __future__ import annotations

import functools
import itertools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from evalserver.challenges.models import Phase
from leaderboard import final, intervals, live, pagezip
from leaderboard.models import LeaderboardVersion
from leaderboard.selectors import (
    HIDDEN_RANKING_DETAIL,
    LeaderboardEntry,
    RankingRow,
    frozen_leaderboard_of,
    team_of,
)

T = TypeVar("T")

# Compact, like DRF's JSON renderer.
_dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

# Per process: a board of 1,000 teams is about 4 MB (and 0.6 MB more once gzipped, which the
# budget leaves out). Beyond the budget the least recently served boards go first; a phase
# keeps only its newest board.
CACHE_BUDGET_BYTES = 64 * 1024 * 1024


class _Entry(NamedTuple):
    # A tuple, not a frozen dataclass: made for every entry of every board version (five
    # times faster to make), and holding only numbers, out of the garbage collector's way.
    team_id: int
    rank: int | None
    # body[rest:end] is the entry's JSON after its rank, up to and with its closing brace.
    rest: int
    end: int


@dataclass(frozen=True)
class EncodedBoard:
    body: bytes  # the whole answer for viewers who see the full board
    entries: tuple[_Entry, ...]
    frozen_at: str | None
    # A live board's entries as they were encoded (all but the rank), for the next version
    # to reuse the bytes of the entries it shares with this one; empty for a frozen board.
    contents: tuple[tuple, ...] = ()
    # The live board's rows themselves (leaderboard.live keeps the unchanged ones as they
    # are from one version to the next); empty for a frozen board.
    rows: tuple = ()

    phase_id: int = 0

    @functools.cached_property
    def body_gzip(self) -> bytes:
        # Compressed once per board and process, when a client first asks for it, in chunks
        # of entries (leaderboard.pagezip): a chunk whose bytes the phase's previous board had
        # too (its entries neither changed nor moved) keeps that board's compressed segment,
        # so after a team's change only the chunks between its old and new place are
        # compressed again (a whole board of 1,000 teams: 32 chunks, about 6 ms with ISA-L).
        cuts = [0]
        for k in range(GZIP_CHUNK_ENTRIES, len(self.entries), GZIP_CHUNK_ENTRIES):
            entry = self.entries[k]
            cuts.append(entry.rest - len(_rank_prefix(entry.rank)))
        cuts.append(len(self.body))
        with _cache_lock:
            previous = _last_segments.get(self.phase_id)
        segments = pagezip.segmented(self.body, list(itertools.pairwise(cuts)), previous)
        with _cache_lock:
            _last_segments[self.phase_id] = segments
        return pagezip.gzipped(segments.parts())


class Body(NamedTuple):
    content: bytes
    # "gzip" when ``content`` is compressed; None when it is plain JSON.
    encoding: str | None
    # True when the answer is the same for every viewer who gets it (the full board).
    shared: bool


# Entries compressed together as one gzip segment (about 140 kB of JSON).
GZIP_CHUNK_ENTRIES = 32
# Per phase, the newest board's gzip segments, for the next board.
_last_segments: dict[int, pagezip.Segments] = {}

_cache: OrderedDict[tuple, EncodedBoard] = OrderedDict()
_cache_lock = threading.Lock()


def clear_board_cache() -> None:
    with _cache_lock:
        _cache.clear()
        _memo.clear()
        _last_segments.clear()
    intervals.clear()
    live.clear()
    final.clear()


# What else is derived from a board version and kept per process (the page's rendered rows,
# its chart), under the same key as the board: a changed board never serves an old one.
# Each (phase, kind) keeps only its newest value; beyond MEMO_ENTRIES the least recently
# used go first (a rendered board of 1,000 teams is a few MB).
MEMO_ENTRIES = 32
_memo: OrderedDict[tuple, object] = OrderedDict()


def board_memo(phase: Phase, kind: str, build: Callable[[], T], *, extra: tuple = ()) -> T:
    """``build()`` once per board version of ``phase`` (and ``extra``), then from memory.

    ``phase`` must be freshly loaded, as for :func:`encoded_board`.
    """
    key = (*_board_key(phase), kind, *extra)
    with _cache_lock:
        if key in _memo:
            _memo.move_to_end(key)
            return _memo[key]  # type: ignore[return-value]
    value = build()
    with _cache_lock:
        for other in [
            k for k in _memo if k[0] == phase.pk and k[len(key) - len(extra) - 1] == kind
        ]:
            del _memo[other]
        _memo[key] = value
        while len(_memo) > MEMO_ENTRIES:
            _memo.popitem(last=False)
    return value


def _board_key(phase: Phase) -> tuple:
    try:
        token = phase.leaderboard_version.token
    except LeaderboardVersion.DoesNotExist:
        token = None  # nothing has changed since the phase was made
    frozen = frozen_leaderboard_of(phase)
    return (
        phase.pk,
        # With the id, tells apart phases of databases that reuse ids (SQLite rolled back).
        phase.created_at,
        token,
        phase.starts_at,
        phase.ends_at,
        phase.track,
        tuple(phase.challenge.class_names),
        frozen.pk if frozen is not None else None,
        frozen.frozen_at if frozen is not None else None,
        # The head says which split a split phase's board is (issue 13).
        phase.labels_split,
    )


def _head(phase: Phase, *, frozen_at: str | None, ranking_hidden: bool) -> str:
    """The answer's opening up to its entries' ``[``."""
    head = _dumps(
        {
            "phase": phase.pk,
            "primary_metric": phase.primary_metric,
            "class_names": list(phase.challenge.class_names),
            "frozen_at": frozen_at,
            "ranking_hidden": ranking_hidden,
            # A split phase's running board is the public split's; null without a split.
            "split": "public" if phase.labels_split else None,
        }
    )
    return head[:-1] + ',"entries":['


def _entry_rest(entry, scores_json: str) -> bytes:
    """An entry's JSON after ``{"rank":N,``, with the score JSON spliced in as it is."""
    before = _dumps({"team": entry.team, "submission_id": entry.submission_id})
    after = _dumps(
        {
            "submitted_at": entry.submitted_at.isoformat(),
            "team_id": entry.team_id,
            "method_name": entry.method_name,
            "primary_score": entry.primary_score,
            "is_baseline": entry.is_baseline,
            "submission_count": entry.submission_count,
            "ci_low": entry.ci_low,
            "ci_high": entry.ci_high,
            "separable_from_next": entry.separable_from_next,
        }
    )
    return f'{before[1:-1]},"scores":{scores_json},{after[1:]}'.encode()


@functools.lru_cache(maxsize=4096)
def _rank_prefix(rank: int | None) -> bytes:
    return b'{"rank":' + (b"null" if rank is None else str(rank).encode()) + b","


_SEPARABLE_TAIL = b'"separable_from_next":true}'


def _unseparated(rest: bytes) -> bytes:
    """An entry shown outside its hidden ranking: whether the next team is close is the
    ranking's business, so ``separable_from_next`` (the entry's last key) reads false."""
    if rest.endswith(_SEPARABLE_TAIL):
        return rest[: -len(_SEPARABLE_TAIL)] + b'"separable_from_next":false}'
    return rest


def _content(row) -> tuple:
    """What a live entry's bytes after its rank are made of."""
    return (
        row.submission_id,
        row.team_id,
        row.team,
        row.method_name,
        row.scores_json,
        row.primary_score,
        row.submitted_at,
        row.is_baseline,
        row.submission_count,
        row.ci_low,
        row.ci_high,
        row.separable_from_next,
    )


def _build(phase: Phase, previous: EncodedBoard | None = None) -> EncodedBoard:
    frozen = frozen_leaderboard_of(phase)
    if frozen is None:
        return encode_live_rows(phase, live.live_board(phase=phase).rows, previous)
    # Frozen boards are decoded once per process and version; they are rarely read cold.
    entries = [LeaderboardEntry.from_json(item) for item in frozen.entries]
    return _encode_frozen(phase, entries, frozen_at=frozen.frozen_at.isoformat())


def _put_entry(parts: list, index: list[_Entry], offset: int, *, entry, rest) -> int:
    """Append ``entry``'s rank prefix and ``rest`` (its JSON after the rank) at ``offset``
    of the body being joined, and its place to ``index``; the offset after it."""
    prefix = _rank_prefix(entry.rank)
    parts += [prefix, rest]
    offset += len(prefix)
    index.append(_Entry(entry.team_id, entry.rank, rest=offset, end=offset + len(rest)))
    return offset + len(rest)


def encode_live_rows(
    phase: Phase, rows: Iterable[RankingRow], previous: EncodedBoard | None = None
) -> EncodedBoard:
    """The live board's bytes. Those of ``previous`` (an earlier version of the phase's
    board) are reused: a row that is the very object ``previous`` encoded (its team did not
    change and its rank did not move: ``leaderboard.live`` keeps such rows) brings its
    entry's bytes, rank and all, and a run of such rows in the same order is one slice of
    the previous body; a row that is the same but for its rank keeps the bytes after its
    rank. So after a team's change only its entries and their neighbours are encoded again,
    and the unchanged rest costs a dictionary lookup a row."""
    rows = tuple(rows)
    if previous is None:
        previous = EncodedBoard(body=b"", entries=(), frozen_at=None)
    old_rows, old_entries, old_contents = previous.rows, previous.entries, previous.contents
    old_body = memoryview(previous.body)
    by_object = {id(row): k for k, row in enumerate(old_rows)}
    by_submission = {row.submission_id: k for k, row in enumerate(old_rows)}
    head = _head(phase, frozen_at=None, ranking_hidden=False).encode()
    parts: list = [head]
    offset = len(head)
    index: list[_Entry] = []
    contents: list[tuple] = []
    # The run of previous entries being copied as one slice: its first and last numbers.
    run_first = run_last = -1

    def close_run() -> None:
        first, last = old_entries[run_first], old_entries[run_last]
        parts.append(old_body[first.rest - len(_rank_prefix(first.rank)) : last.end])

    for number, row in enumerate(rows):
        if number:
            offset += 1
        k = by_object.get(id(row))
        if k is not None and old_rows[k] is row:
            old = old_entries[k]
            if run_first < 0 or k != run_last + 1:
                if run_first >= 0:
                    close_run()
                if number:
                    parts.append(b",")
                run_first = k
            run_last = k
            # Its place in the new body: its bytes are the old ones, moved as a block.
            shift = offset + len(_rank_prefix(old.rank)) - old.rest
            index.append(_Entry(old.team_id, old.rank, rest=old.rest + shift, end=old.end + shift))
            offset = old.end + shift
            contents.append(old_contents[k])
            continue
        if run_first >= 0:
            close_run()
            run_first = run_last = -1
        if number:
            parts.append(b",")
        content = _content(row)
        k = by_submission.get(row.submission_id)
        if k is not None and old_contents[k] == content:
            rest = old_body[old_entries[k].rest : old_entries[k].end]
        else:
            rest = _entry_rest(row, row.scores_json)
        offset = _put_entry(parts, index, offset, entry=row, rest=rest)
        contents.append(content)
    if run_first >= 0:
        close_run()
    parts.append(b"]}")
    return EncodedBoard(
        body=b"".join(parts),
        entries=tuple(index),
        frozen_at=None,
        contents=tuple(contents),
        rows=rows,
        phase_id=phase.pk,
    )


def _encode_frozen(
    phase: Phase, entries: list[LeaderboardEntry], *, frozen_at: str
) -> EncodedBoard:
    head = _head(phase, frozen_at=frozen_at, ranking_hidden=False).encode()
    parts: list = [head]
    offset = len(head)
    index: list[_Entry] = []
    for number, entry in enumerate(entries):
        if number:
            parts.append(b",")
            offset += 1
        rest = _entry_rest(entry, _dumps(entry.scores))
        offset = _put_entry(parts, index, offset, entry=entry, rest=rest)
    parts.append(b"]}")
    return EncodedBoard(
        body=b"".join(parts), entries=tuple(index), frozen_at=frozen_at, phase_id=phase.pk
    )


def encoded_board(*, phase: Phase) -> EncodedBoard:
    """The phase's full board as served (frozen or live), from this process's cache.

    ``phase`` must be freshly loaded (for this request): its version and frozen board, as
    cached on the object, choose the board.
    """
    key = _board_key(phase)
    with _cache_lock:
        board = _cache.get(key)
        if board is not None:
            _cache.move_to_end(key)
            return board
        previous = next((b for k, b in _cache.items() if k[0] == phase.pk), None)
    # Built outside the lock: a slow build must not hold up other phases' hits. Two threads
    # missing at once both build; the same bytes, so either may stay.
    board = _build(phase, previous)
    with _cache_lock:
        for other in [k for k in _cache if k[0] == phase.pk]:
            del _cache[other]
        _cache[key] = board
        total = sum(len(b.body) for b in _cache.values())
        while total > CACHE_BUDGET_BYTES and len(_cache) > 1:
            _, evicted = _cache.popitem(last=False)
            total -= len(evicted.body)
    return board


def leaderboard_leader(*, phase: Phase) -> LeaderboardEntry | None:
    """Rank 1 of the board as served, for viewers who may see the full board; from the cache.

    For pages that show one submission against the leader: the whole ranking for one entry
    would cost them the ranking query and decoding every team's score JSON.
    """
    board = encoded_board(phase=phase)
    for entry in board.entries:
        if entry.rank == 1:
            item = json.loads(_rank_prefix(1) + board.body[entry.rest : entry.end])
            return LeaderboardEntry.from_json(item)
    return None


def leaderboard_json(*, phase: Phase, user, accepts_gzip: bool = False) -> Body:
    """The body of ``GET /api/v1/phases/{id}/leaderboard/`` for this viewer.

    The same rules as ``selectors.leaderboard_for_viewer``. A public board needs no query
    about the viewer, and a hit on the cache none at all. Only the full board is ever
    compressed: it holds no secret and echoes nothing from the request, so compression
    cannot leak anything (BREACH).
    """
    ranking_hidden = not phase.leaderboard_is_public and not phase.challenge.is_organizer(user)
    if not ranking_hidden:
        board = encoded_board(phase=phase)
        if accepts_gzip:
            return Body(board.body_gzip, "gzip", shared=True)
        return Body(board.body, None, shared=True)
    viewer_team_id = team_of(user=user, phase=phase)
    if viewer_team_id is None:
        # Nothing this viewer may see: no board to build.
        frozen = frozen_leaderboard_of(phase)
        frozen_at = frozen.frozen_at.isoformat() if frozen is not None else None
        own: list[bytes] = []
    else:
        board = encoded_board(phase=phase)
        frozen_at = board.frozen_at
        own = [
            _rank_prefix(None) + _unseparated(board.body[entry.rest : entry.end])
            for entry in board.entries
            if entry.team_id == viewer_team_id
        ]
    head = _head(phase, frozen_at=frozen_at, ranking_hidden=True).encode()
    detail = b',"detail":' + _dumps(HIDDEN_RANKING_DETAIL).encode()
    return Body(head + b",".join(own) + b"]" + detail + b"}", None, shared=False)
