"""Template tags of the leaderboard, for other apps' pages.

``{% load leaderboard_tags %}{% per_class_chart submission %}`` draws a finished
submission's per-class F1 (video AP for detection) against the current leader's.
"""

from django import template
from django.contrib.auth.models import AnonymousUser
from django.utils.html import format_html

from leaderboard.charts import per_class_svg
from leaderboard.encoded import leaderboard_leader
from leaderboard.selectors import leaderboard_for_viewer, per_class_values, track_columns
from submissions.models import Submission

register = template.Library()


@register.simple_tag(takes_context=True)
def per_class_chart(context, submission: Submission) -> str:
    """An SVG figure, or nothing when the submission has no scores yet.

    The leader's bars appear only to viewers who may see the full leaderboard, so a private
    phase leaks nobody's scores; the leader is rank 1 of the board as served (the frozen
    one if the phase is frozen).
    """
    if submission.status != Submission.Status.FINISHED or not submission.scores:
        return ""
    request = context.get("request")
    user = getattr(request, "user", None) or AnonymousUser()
    phase = submission.phase
    columns = track_columns(phase)
    class_names = list(phase.challenge.class_names)
    leader = None
    if phase.leaderboard_is_public or phase.challenge.is_organizer(user):
        leader = leaderboard_leader(phase=phase)
    own_values = per_class_values(submission.scores, columns.per_class_key, len(class_names))
    leader_label = f"Leader: {leader.team}" if leader else "Leader"
    compared_with = "the leader's"
    if leader and leader.submission_id == submission.pk:
        # Against itself the bars would say nothing: the runner-up is the useful comparison.
        leader = _ranked(phase=phase, user=user, rank=2)
        leader_label = f"Runner-up: {leader.team}" if leader else "Runner-up"
        compared_with = "the runner-up's (this submission leads)"
    svg = per_class_svg(
        class_names=class_names,
        values=own_values,
        leader_values=leader.per_class(columns.per_class_key, len(class_names)) if leader else None,
        metric_label=columns.per_class_label,
        own_label=f"Submission {submission.pk}",
        leader_label=leader_label,
    )
    if leader is not None:
        caption = "Per-class {} of this submission against " + compared_with + "."
    elif compared_with != "the leader's":
        caption = "Per-class {} of this submission, which leads; no other team is ranked yet."
    elif phase.leaderboard_is_public:
        caption = "Per-class {} of this submission; no team is ranked yet."
    else:
        caption = (
            "Per-class {} of this submission; the leader is shown once the leaderboard is revealed."
        )
    return format_html(
        '<figure class="per-class-chart">{}<figcaption>{}</figcaption></figure>',
        svg,
        caption.format(columns.per_class_label),
    )


def _ranked(*, phase, user, rank: int):
    board = leaderboard_for_viewer(phase=phase, user=user)
    return next((e for e in board.entries if e.rank == rank), None)


@register.simple_tag(takes_context=True)
def team_standing(context, submission: Submission) -> dict | None:
    """The submission's team on the board as this viewer may see it: its rank, the number of
    ranked teams, the leader and the gap to it (or the lead over the runner-up).

    None when the viewer may not see the ranking (a private phase before its reveal) or the
    team is not ranked.
    """
    request = context.get("request")
    user = getattr(request, "user", None) or AnonymousUser()
    board = leaderboard_for_viewer(phase=submission.phase, user=user)
    if board.ranking_hidden:
        return None
    ranked = [e for e in board.entries if e.rank is not None]
    own = next((e for e in ranked if e.team_id == submission.team_id), None)
    if own is None or not ranked:
        return None
    leader = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else None
    return {
        "rank": own.rank,
        "ranked": len(ranked),
        "is_leader": own.rank == 1,
        "leader": leader,
        "gap": (leader.primary_score or 0) - (own.primary_score or 0),
        "lead": (own.primary_score or 0) - (runner_up.primary_score or 0) if runner_up else None,
        "runner_up": runner_up,
        "counting_submission_id": own.submission_id,
        "frozen": board.frozen_at is not None,
    }


@register.simple_tag
def withheld_submissions(phase) -> int:
    """Finished submissions of ``phase`` kept off its board (hidden or disqualified): what an
    empty board says instead of "No finished submissions yet"."""
    from django.db.models import Q

    return Submission.objects.filter(
        Q(is_hidden=True) | Q(is_disqualified=True),
        phase=phase,
        status=Submission.Status.FINISHED,
    ).count()
