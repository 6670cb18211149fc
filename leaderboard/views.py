"""The leaderboard page of a phase.

At 1,000 teams nearly all of a page's time went into rendering 1,001 rows of 30 cells. The
table of the full board (its rows, headings and note) is rendered once per board version
and process, from the live ranking (leaderboard.live, patched team by team), and kept as
bytes beside the API's encoded board, under the same key, so a changed board is never
served; rows are also kept by their content, so after a change only the changed rows are
rendered again. Per request, only the page around the table is rendered (the viewer's
navigation, CSRF token, messages) and the viewer's own team's rows are rendered again,
highlighted, and spliced into the shared bytes. Clients that accept gzip get the rows
compressed once per version (leaderboard.pagezip), the viewer's own part never compressed.
The chart is kept per board version too, per minute of its time axis.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from evalserver.errors import DomainError, NotFound, PermissionDenied
from leaderboard import pagezip, rowhtml
from leaderboard.charts import best_score_over_time_svg
from leaderboard.encoded import board_memo
from leaderboard.final import final_board_entries, final_board_visible
from leaderboard.live import live_board
from leaderboard.selectors import (
    Leaderboard,
    LeaderboardEntry,
    RankingRow,
    best_score_history,
    frozen_leaderboard_of,
    leaderboard_for_viewer,
    phase_for_leaderboard,
    team_of,
)
from leaderboard.services import final_board_publish

# How many teams the score-over-time chart draws; more lines are unreadable.
CHART_TEAMS = 5
ROW_TEMPLATE = "leaderboard/_board_row.html"
TABLE_TEMPLATE = "leaderboard/_board_table.html"
# As django.middleware.gzip.GZipMiddleware reads the header.
_ACCEPTS_GZIP = re.compile(r"\bgzip\b")


def _tied_flags(entries: list, *, ranking_hidden: bool) -> list[bool]:
    """Per entry: not told apart from the entry above by the bootstrap (see the note below
    the table); only on a ranked board, where "above" means something."""
    return [
        not ranking_hidden
        and k > 0
        and entries[k - 1].ci_low is not None
        and entry.ci_low is not None
        and not entries[k - 1].separable_from_next
        for k, entry in enumerate(entries)
    ]


def _has_intervals(entries: list) -> bool:
    return any(entry.ci_low is not None for entry in entries)


def _row(board: Leaderboard, entry: LeaderboardEntry, *, is_own: bool, tied: bool) -> dict:
    columns = board.columns
    return {
        "entry": entry,
        "primary": entry.metric(columns.primary.key),
        "secondary": [entry.metric(column.key) for column in columns.secondary],
        "per_class": entry.per_class(columns.per_class_key, len(board.class_names)),
        "is_own": is_own,
        "tied_with_previous": tied,
    }


def _render_rows(
    board: Leaderboard,
    entries: list[LeaderboardEntry],
    *,
    own: int | None,
    tied: list[bool],
    has_intervals: bool,
    fast: bool | None = None,
) -> list[str]:
    """Each entry's row; ``tied`` holds each one's flag, worked out on the whole board.

    Written by leaderboard.rowhtml where it covers the row (the same characters, a tenth
    of the time), else by the template; ``fast``: whether rowhtml covers the active
    language (asked here if not given)."""
    if fast is None:
        fast = rowhtml.supported()
    template = None
    rows = []
    for entry, flag in zip(entries, tied, strict=True):
        row = _row(board, entry, is_own=entry.team_id == own, tied=flag)
        html = rowhtml.row_html(row, has_intervals=has_intervals) if fast else None
        if html is None:
            template = template or get_template(ROW_TEMPLATE)
            html = str(template.render({"row": row, "has_intervals": has_intervals}))
        rows.append(html)
    return rows


# A rank moves whenever a team above changes places, the rest of a row only when its own
# submission, team or scores do. Rows are rendered with this stand-in for the rank (random:
# no team name or method can contain it) and kept by their content, as the UTF-8 pieces
# around the stand-in, so after a change only the changed rows are rendered again and every
# other row is just joined around its new rank.
_RANK = f"rank-{uuid.uuid4().hex}"
ROW_CACHE_ENTRIES = 20_000
_row_cache: OrderedDict[tuple, tuple[bytes, ...]] = OrderedDict()
_row_lock = threading.Lock()


class _Shared(NamedTuple):
    """What every row of a board shares, worked out once per board (asking for the
    language, or whether rowhtml covers it, costs more than the rest of a cached row)."""

    phase_id: int
    language: str | None
    class_names: tuple[str, ...]
    fast: bool


def _unranked_row(
    board: Leaderboard,
    item: RankingRow | LeaderboardEntry,
    scores: str,
    *,
    tied: bool,
    has_intervals: bool,
    common: _Shared,
) -> tuple[bytes, ...]:
    """The row of ``item`` as the bytes around its rank; ``common`` is what every row of
    the board shares, worked out once per board."""
    key = (
        common,
        item.team_id,
        item.team,
        item.submission_id,
        item.method_name,
        item.submitted_at,
        item.is_baseline,
        item.submission_count,
        item.primary_score,
        item.rank is None,
        scores,
        item.ci_low,
        item.ci_high,
        tied,
        has_intervals,
    )
    with _row_lock:
        pieces = _row_cache.get(key)
        if pieces is not None:
            _row_cache.move_to_end(key)
            return pieces
    entry = item.entry() if isinstance(item, RankingRow) else copy.copy(item)
    if entry.rank is not None:
        entry.rank = _RANK  # type: ignore[assignment]
    html = str(
        _render_rows(
            board, [entry], own=None, tied=[tied], has_intervals=has_intervals, fast=common.fast
        )[0]
    )
    pieces = tuple((html + "\n").encode().split(_RANK.encode()))
    with _row_lock:
        _row_cache[key] = pieces
        while len(_row_cache) > ROW_CACHE_ENTRIES:
            _row_cache.popitem(last=False)
    return pieces


@dataclass(frozen=True)
class _RenderedBoard:
    """The full board of one version: its entries and their rows, not highlighted, as the
    bytes of the table's body, the same for every viewer who sees the full board.

    ``entries`` are the ranking's rows (score JSON still text) or a frozen board's entries:
    what the page needs of them is the team, its rank and, for the viewer's own, the rest.
    """

    entries: list
    frozen_at: dt.datetime | None
    # Each row's HTML, one after the other (UTF-8), and where each entry's row is in it.
    block: bytes
    spans: list[tuple[int, int]]
    # Per entry, whether it is not separable from the one above (a board version's fact).
    tied: list[bool]
    has_intervals: bool
    phase_id: int
    # The table around the rows (caption, column headings, the note below).
    table_start: bytes
    table_end: bytes

    @functools.cached_property
    def chunks(self) -> list[tuple[int, int, list[int]]]:
        """(start, end in ``block``, entry numbers) of each run of ``CHUNK_ROWS`` rows."""
        found = []
        for first in range(0, len(self.spans), CHUNK_ROWS):
            numbers = list(range(first, min(first + CHUNK_ROWS, len(self.spans))))
            end = self.spans[numbers[-1]][1] + 1
            found.append((self.spans[first][0], end, numbers))
        return found

    @functools.cached_property
    def deflated_chunks(self) -> tuple[bytes, ...]:
        """Each chunk's deflate segment (leaderboard.pagezip), once per version and process.
        A chunk whose bytes the phase's previous version had too (its rows neither moved
        nor changed rank) keeps that version's segment."""
        with _zip_lock:
            previous = _last_segments.get(self.phase_id)
        segments = pagezip.segmented(
            self.block, [(start, end) for start, end, _ in self.chunks], previous
        )
        with _zip_lock:
            _last_segments[self.phase_id] = segments
        return segments.deflated

    @functools.cached_property
    def rows_of_team(self) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {}
        for k, entry in enumerate(self.entries):
            found.setdefault(entry.team_id, []).append(k)
        return found


# Rows compressed together as one gzip segment: about 70 kB of HTML, more than deflate's
# window, so cutting the board into chunks costs little compression.
CHUNK_ROWS = 32
# Per phase, the newest version's segments, for the next version.
_last_segments: dict[int, pagezip.Segments] = {}
_zip_lock = threading.Lock()


_ROWS = f"<!--rows-{uuid.uuid4().hex}-->"


def _table_ends(
    board: Leaderboard, *, has_intervals: bool, has_ties: bool, ranking_hidden: bool
) -> tuple[bytes, bytes]:
    """The table's HTML before and after its rows."""
    html = render_to_string(
        TABLE_TEMPLATE,
        {
            "columns": board.columns,
            "class_names": board.class_names,
            "has_intervals": has_intervals,
            "has_ties": has_ties,
            "ranking_hidden": ranking_hidden,
            "rows": mark_safe(_ROWS),  # noqa: S308 - a comment of our own
        },
    )
    start, _, end = html.partition(_ROWS)
    return start.encode(), end.encode()


def _joined(rows: list[str]) -> tuple[bytes, list[tuple[int, int]]]:
    return _joined_pieces([((html + "\n").encode(),) for html in rows], [None] * len(rows))


def _joined_pieces(
    rows: list[tuple[bytes, ...]], ranks: list[int | None]
) -> tuple[bytes, list[tuple[int, int]]]:
    """The rows (each its pieces around the rank, ending in a newline) joined, and where
    each row is in the result, its newline left out."""
    parts, spans, offset = [], [], 0
    for pieces, rank in zip(rows, ranks, strict=True):
        data = pieces[0] if len(pieces) == 1 else str(rank).encode().join(pieces)
        parts.append(data)
        spans.append((offset, offset + len(data) - 1))
        offset += len(data)
    return b"".join(parts), spans


def _rendered_board(phase) -> _RenderedBoard:
    language = translation.get_language()

    def build() -> _RenderedBoard:
        frozen = frozen_leaderboard_of(phase)
        if frozen is not None:
            items: list = [LeaderboardEntry.from_json(item) for item in frozen.entries]
            scores = [json.dumps(item.scores, sort_keys=True) for item in items]
            frozen_at = frozen.frozen_at
        else:
            items = list(live_board(phase=phase).rows)
            scores = [row.scores_json for row in items]
            frozen_at = None
        board = Leaderboard(
            phase=phase,
            entries=[],
            frozen_at=frozen_at,
            ranking_hidden=False,
            viewer_team_id=None,
            viewer_is_organizer=False,
        )
        tied = _tied_flags(items, ranking_hidden=False)
        has_intervals = _has_intervals(items)
        # What every row shares, worked out once: asking for the language goes through a
        # context-local lookup that costs more than the rest of a cached row.
        common = _Shared(phase.pk, language, tuple(board.class_names), rowhtml.supported())
        rows = [
            _unranked_row(board, item, text, tied=flag, has_intervals=has_intervals, common=common)
            for item, text, flag in zip(items, scores, tied, strict=True)
        ]
        block, spans = _joined_pieces(rows, [item.rank for item in items])
        start, end = _table_ends(
            board, has_intervals=has_intervals, has_ties=any(tied), ranking_hidden=False
        )
        return _RenderedBoard(
            items, frozen_at, block, spans, tied, has_intervals, phase.pk, start, end
        )

    return board_memo(phase, "page-rows", build, extra=(language,))


def _entry(item: RankingRow | LeaderboardEntry) -> LeaderboardEntry:
    return item.entry() if isinstance(item, RankingRow) else item


def _own_row(board: Leaderboard, cached: _RenderedBoard, k: int) -> bytes:
    html = _render_rows(
        board,
        [_entry(cached.entries[k])],
        own=board.viewer_team_id,
        tied=[cached.tied[k]],
        has_intervals=cached.has_intervals,
    )[0]
    return str(html).encode()


def _spliced(board: Leaderboard, cached: _RenderedBoard, start: int, end: int, own: list[int]):
    """``block[start:end]`` with the rows ``own`` rendered again, highlighted."""
    block = memoryview(cached.block)
    parts: list = []
    position = start
    for k in own:
        row_start, row_end = cached.spans[k]
        parts += [block[position:row_start], _own_row(board, cached, k)]
        position = row_end
    parts.append(block[position:end])
    return b"".join(parts)


def _body_parts(
    board: Leaderboard, cached: _RenderedBoard, *, compress: bool
) -> list[tuple[bytes, bytes | None]]:
    """The table's body as (raw bytes, deflate segment or None) parts: the cached body with
    the viewer's own team's rows rendered again, highlighted -- a splice of a few rows into
    the shared bytes (and, for gzip, one chunk compressed anew), not a page's rendering."""
    own = cached.rows_of_team.get(board.viewer_team_id) if board.viewer_team_id else None
    if not compress:
        if not own:
            return [(cached.block, None)]
        return [(_spliced(board, cached, 0, len(cached.block), own), None)]
    parts = []
    own_set = set(own or ())
    for (start, end, numbers), segment in zip(cached.chunks, cached.deflated_chunks, strict=True):
        mine = [k for k in numbers if k in own_set]
        if mine:
            raw = _spliced(board, cached, start, end, mine)
            parts.append((raw, pagezip.deflated(raw)))
        else:
            parts.append((cached.block[start:end], segment))
    return parts


# Stands in for the table's body while the rest of the page is rendered (random: no
# team name or method can contain it); the body's bytes are put in its place.
_BODY = f"<!--rows-{uuid.uuid4().hex}-->"


def phase_leaderboard(request, phase_id: int):
    try:
        phase = phase_for_leaderboard(phase_id=phase_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    split = "private" if request.GET.get("split") == "private" else "public"
    rendered: list[_RenderedBoard] = []
    if split == "private":
        # The final (private-split) board is rare: rendered as it is, without the cache.
        board = _final_board(request, phase)
    else:

        def full_board() -> tuple[list, dt.datetime | None]:
            rendered.append(_rendered_board(phase))
            return rendered[0].entries, rendered[0].frozen_at

        board = leaderboard_for_viewer(phase=phase, user=request.user, full_board=full_board)
    columns = board.columns
    compress = bool(_ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")))
    if rendered:
        cached = rendered[0]
        tied = cached.tied
        has_intervals = cached.has_intervals
        body = [
            (cached.table_start, None),
            *_body_parts(board, cached, compress=compress),
            (cached.table_end, None),
        ]
    else:
        tied = _tied_flags(board.entries, ranking_hidden=board.ranking_hidden)
        has_intervals = _has_intervals(board.entries)
        raw = _joined(
            _render_rows(
                board,
                board.entries,
                own=board.viewer_team_id,
                tied=tied,
                has_intervals=has_intervals,
            )
        )[0]
        start, end = _table_ends(
            board,
            has_intervals=has_intervals,
            has_ties=any(tied),
            ranking_hidden=board.ranking_hidden,
        )
        body = [(start, None), (raw, pagezip.deflated(raw) if compress else None), (end, None)]
    chart = None
    if not board.ranking_hidden and split == "public":
        top = [(e.team_id, e.team) for e in board.entries if e.rank is not None][:CHART_TEAMS]
        if top:
            # The axis ends now (or at the phase's end): to the minute, so a minute's
            # requests share one chart.
            end = min(timezone.now().replace(second=0, microsecond=0), phase.ends_at)
            chart = board_memo(
                phase,
                "page-chart",
                lambda: best_score_over_time_svg(
                    histories=best_score_history(phase=phase, teams=top),
                    start=phase.starts_at,
                    end=end,
                    metric_label=columns.primary.label,
                ),
                extra=(end, tuple(top)),
            )
    html = render_to_string(
        "leaderboard/phase_leaderboard.html",
        {
            "phase": phase,
            "challenge": phase.challenge,
            "board": board,
            "columns": columns,
            "has_rows": bool(board.entries),
            "table": mark_safe(_BODY),  # noqa: S308 - a comment of our own
            "chart": chart,
            "chart_teams": CHART_TEAMS,
            "split": split if phase.labels_split else None,
            "final_board_visible": phase.labels_split
            and (phase.final_board_published_at is not None or board.viewer_is_organizer),
            "can_publish": phase.labels_split
            and board.viewer_is_organizer
            and phase.final_board_published_at is None
            and timezone.now() >= phase.ends_at,
        },
        request=request,
    )
    # The page around the table is rendered per request (the viewer's navigation, CSRF
    # token, messages); the table's body is the board version's bytes, put in as they are.
    head, found, tail = html.partition(_BODY)
    # The viewer's own parts (head, tail) are never compressed: see leaderboard.pagezip.
    parts = [(head.encode(), None), *(body if found else []), (tail.encode(), None)]
    if compress:
        response = HttpResponse(pagezip.gzipped(parts))
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(b"".join(raw for raw, _ in parts))
    patch_vary_headers(response, ["Accept-Encoding"])
    return response


def _final_board(request, phase) -> Leaderboard:
    try:
        final_board_visible(phase=phase, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.message) from None
    return Leaderboard(
        phase=phase,
        entries=final_board_entries(phase=phase),
        frozen_at=None,
        ranking_hidden=False,
        viewer_team_id=team_of(user=request.user, phase=phase),
        viewer_is_organizer=phase.challenge.is_organizer(request.user),
    )


@login_required
@require_POST
def publish_final_board(request, phase_id: int):
    try:
        phase = phase_for_leaderboard(phase_id=phase_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    try:
        final_board_publish(phase=phase, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("phase-leaderboard", phase_id=phase.pk)
    messages.success(request, "Published the final (private-split) board.")
    return redirect(reverse("phase-leaderboard", args=[phase.pk]) + "?split=private")
