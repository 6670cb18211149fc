"""The leaderboard page of a phase.

At 1,000 teams nearly all of a page's time went into rendering 1,001 rows of 30 cells. The
rows of the full board are rendered once per board version and process (with the phase's
ranking they come from) and kept beside the API's encoded board, under the same key, so a
changed board is never served; a viewer's own team's rows are rendered again, highlighted.
The chart is kept the same way, per minute of its time axis.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from django.http import Http404
from django.shortcuts import render
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

from evalserver.errors import NotFound
from leaderboard.charts import best_score_over_time_svg
from leaderboard.encoded import board_memo
from leaderboard.selectors import (
    Leaderboard,
    LeaderboardEntry,
    RankingRow,
    best_score_history,
    frozen_leaderboard_of,
    leaderboard_for_viewer,
    leaderboard_ranking_rows,
    phase_for_leaderboard,
)

# How many teams the score-over-time chart draws; more lines are unreadable.
CHART_TEAMS = 5
ROW_TEMPLATE = "leaderboard/_board_row.html"


def _row(board: Leaderboard, entry: LeaderboardEntry, *, is_own: bool) -> dict:
    columns = board.columns
    return {
        "entry": entry,
        "primary": entry.metric(columns.primary.key),
        "secondary": [entry.metric(column.key) for column in columns.secondary],
        "per_class": entry.per_class(columns.per_class_key, len(board.class_names)),
        "is_own": is_own,
    }


def _render_rows(board: Leaderboard, entries: list[LeaderboardEntry], *, own: int | None):
    template = get_template(ROW_TEMPLATE)
    return [
        template.render({"row": _row(board, entry, is_own=entry.team_id == own)})
        for entry in entries
    ]


# A rank moves whenever a team above changes places, the rest of a row only when its own
# submission, team or scores do. Rows are rendered with this stand-in for the rank (random:
# no team name or method can contain it) and kept by their content, so after a change only
# the changed rows are rendered again and every other row just gets its new rank.
_RANK = f"rank-{uuid.uuid4().hex}"
ROW_CACHE_ENTRIES = 20_000
_row_cache: OrderedDict[tuple, str] = OrderedDict()
_row_lock = threading.Lock()


def _unranked_row(board: Leaderboard, item: RankingRow | LeaderboardEntry, scores: str) -> str:
    key = (
        board.phase.pk,
        translation.get_language(),
        tuple(board.class_names),
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
    )
    with _row_lock:
        html = _row_cache.get(key)
        if html is not None:
            _row_cache.move_to_end(key)
            return html
    entry = item.entry() if isinstance(item, RankingRow) else copy.copy(item)
    if entry.rank is not None:
        entry.rank = _RANK  # type: ignore[assignment]
    html = str(_render_rows(board, [entry], own=None)[0])
    with _row_lock:
        _row_cache[key] = html
        while len(_row_cache) > ROW_CACHE_ENTRIES:
            _row_cache.popitem(last=False)
    return html


@dataclass(frozen=True)
class _RenderedBoard:
    """The full board of one version: its entries and each one's row, not highlighted.

    ``entries`` are the ranking's rows (score JSON still text) or a frozen board's entries:
    what the page needs of them is the team, its rank and, for the viewer's own, the rest.
    """

    entries: list
    frozen_at: dt.datetime | None
    rows: list[SafeString]


def _rendered_board(phase) -> _RenderedBoard:
    def build() -> _RenderedBoard:
        frozen = frozen_leaderboard_of(phase)
        if frozen is not None:
            items: list = [LeaderboardEntry.from_json(item) for item in frozen.entries]
            scores = [json.dumps(item.scores, sort_keys=True) for item in items]
            frozen_at = frozen.frozen_at
        else:
            items = leaderboard_ranking_rows(phase=phase)
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
        rows = [
            mark_safe(  # noqa: S308 - our own template's output, only the rank put in
                _unranked_row(board, item, text).replace(_RANK, str(item.rank))
            )
            for item, text in zip(items, scores, strict=True)
        ]
        return _RenderedBoard(items, frozen_at, rows)

    return board_memo(phase, "page-rows", build, extra=(translation.get_language(),))


def _entry(item: RankingRow | LeaderboardEntry) -> LeaderboardEntry:
    return item.entry() if isinstance(item, RankingRow) else item


def phase_leaderboard(request, phase_id: int):
    try:
        phase = phase_for_leaderboard(phase_id=phase_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    rendered: list[_RenderedBoard] = []

    def full_board() -> tuple[list, dt.datetime | None]:
        rendered.append(_rendered_board(phase))
        return rendered[0].entries, rendered[0].frozen_at

    board = leaderboard_for_viewer(phase=phase, user=request.user, full_board=full_board)
    columns = board.columns
    if rendered:
        own = board.viewer_team_id
        cached = rendered[0]
        rows = [
            _render_rows(board, [_entry(entry)], own=own)[0] if entry.team_id == own else html
            for entry, html in zip(cached.entries, cached.rows, strict=True)
        ]
    else:
        rows = _render_rows(board, board.entries, own=board.viewer_team_id)
    chart = None
    if not board.ranking_hidden:
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
    return render(
        request,
        "leaderboard/phase_leaderboard.html",
        {
            "phase": phase,
            "challenge": phase.challenge,
            "board": board,
            "columns": columns,
            "rows": rows,
            "chart": chart,
            "chart_teams": CHART_TEAMS,
        },
    )
