"""The leaderboard page of a phase."""

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from evalserver.errors import NotFound
from leaderboard.charts import best_score_over_time_svg
from leaderboard.selectors import (
    best_score_history,
    leaderboard_for_viewer,
    phase_for_leaderboard,
)

# How many teams the score-over-time chart draws; more lines are unreadable.
CHART_TEAMS = 5


def phase_leaderboard(request, phase_id: int):
    try:
        phase = phase_for_leaderboard(phase_id=phase_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    board = leaderboard_for_viewer(phase=phase, user=request.user)
    columns = board.columns
    n_classes = len(board.class_names)
    rows = [
        {
            "entry": entry,
            "primary": entry.metric(columns.primary.key),
            "secondary": [entry.metric(column.key) for column in columns.secondary],
            "per_class": entry.per_class(columns.per_class_key, n_classes),
            "is_own": entry.team_id == board.viewer_team_id,
            # Not told apart from the entry above by the bootstrap (see the note below
            # the table); only on a ranked board, where "above" means something.
            "tied_with_previous": (
                not board.ranking_hidden
                and k > 0
                and board.entries[k - 1].ci_low is not None
                and entry.ci_low is not None
                and not board.entries[k - 1].separable_from_next
            ),
        }
        for k, entry in enumerate(board.entries)
    ]
    chart = None
    if not board.ranking_hidden:
        top = [(e.team_id, e.team) for e in board.entries if e.rank is not None][:CHART_TEAMS]
        if top:
            chart = best_score_over_time_svg(
                histories=best_score_history(phase=phase, teams=top),
                start=phase.starts_at,
                end=min(timezone.now(), phase.ends_at),
                metric_label=columns.primary.label,
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
            "has_intervals": any(row["entry"].ci_low is not None for row in rows),
            "has_ties": any(row["tied_with_previous"] for row in rows),
            "chart_teams": CHART_TEAMS,
        },
    )
