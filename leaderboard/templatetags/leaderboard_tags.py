"""Template tags of the leaderboard, for other apps' pages.

``{% load leaderboard_tags %}{% per_class_chart submission %}`` draws a finished
submission's per-class F1 (video AP for detection) against the current leader's.
"""

from django import template
from django.contrib.auth.models import AnonymousUser
from django.utils.html import format_html

from leaderboard.charts import per_class_svg
from leaderboard.encoded import leaderboard_leader
from leaderboard.selectors import per_class_values, track_columns
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
    if leader and leader.submission_id == submission.pk:
        leader_label = "Leader (this submission)"
    svg = per_class_svg(
        class_names=class_names,
        values=own_values,
        leader_values=leader.per_class(columns.per_class_key, len(class_names)) if leader else None,
        metric_label=columns.per_class_label,
        own_label=f"Submission {submission.pk}",
        leader_label=leader_label,
    )
    if leader is not None:
        caption = "Per-class {} of this submission against the leader's."
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
