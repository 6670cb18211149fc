"""The leaderboard page of a phase."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from evalserver.errors import DomainError, NotFound, PermissionDenied
from leaderboard.charts import best_score_over_time_svg
from leaderboard.final import final_board_entries, final_board_visible
from leaderboard.selectors import (
    Leaderboard,
    best_score_history,
    leaderboard_for_viewer,
    phase_for_leaderboard,
    team_of,
)
from leaderboard.services import final_board_publish

# How many teams the score-over-time chart draws; more lines are unreadable.
CHART_TEAMS = 5


def phase_leaderboard(request, phase_id: int):
    try:
        phase = phase_for_leaderboard(phase_id=phase_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    split = "private" if request.GET.get("split") == "private" else "public"
    if split == "private":
        board = _final_board(request, phase)
    else:
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
    if not board.ranking_hidden and split == "public":
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
            "split": split if phase.labels_split else None,
            "final_board_visible": phase.labels_split
            and (phase.final_board_published_at is not None or board.viewer_is_organizer),
            "can_publish": phase.labels_split
            and board.viewer_is_organizer
            and phase.final_board_published_at is None
            and timezone.now() >= phase.ends_at,
        },
    )


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
