"""Reads of submissions for the people allowed to see them.

A team sees its own submissions; the challenge's organizers see all of them. Anybody
else gets NotFound, never "forbidden": we don't confirm that another team's id exists.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from evalserver.accounts.models import User
from evalserver.challenges.models import Phase
from evalserver.errors import NotFound
from evalserver.teams.models import Membership
from submissions.models import Submission
from submissions.services import submission_plain_max_bytes

_NOT_FOUND = "No such submission."


def _base() -> QuerySet[Submission]:
    return Submission.objects.select_related("team", "phase", "phase__challenge", "submitted_by")


def submission_list_for_user(*, user: User, phase: Phase) -> QuerySet[Submission]:
    """The phase's submissions the user may see, newest first: their team's, or all of
    them for the challenge's organizers. Empty for a user without a team."""
    submissions = _base().filter(phase=phase).order_by("-created_at", "-id")
    if phase.challenge.is_organizer(user):
        return submissions
    # A join, not a subquery: a user is in at most one team per challenge (a database
    # constraint), so no row repeats, and Django's aliasing of a subquery cost more than
    # the query itself on the API's hottest list.
    return submissions.filter(team__memberships__user=user)


def submission_get_for_user(*, user: User, submission_id: int) -> Submission:
    try:
        submission = _base().get(pk=submission_id)
    except (Submission.DoesNotExist, ValueError, TypeError):
        raise NotFound(_NOT_FOUND) from None
    challenge = submission.phase.challenge
    # An unpublished challenge is its organizers' alone (they list its submissions on the
    # pages, so they must be able to open them); a team of it sees nothing until it is out.
    is_member = (
        challenge.is_published
        and Membership.objects.filter(user=user, team_id=submission.team_id).exists()
    )
    if not is_member and not challenge.is_organizer(user):
        raise NotFound(_NOT_FOUND)
    return submission


@dataclass(frozen=True)
class UploadCaps:
    """The file size limits of a phase, as every page states them."""

    # The largest upload: the phase's limit, or the server's request cap if smaller.
    upload_bytes: int
    # The most the scorer reads from one file, counted uncompressed (inside a .gz or .zip).
    decompressed_bytes: int

    @property
    def decompressed_is_tighter(self) -> bool:
        return self.decompressed_bytes < self.upload_bytes


def submission_upload_caps(*, phase: Phase) -> UploadCaps:
    """The one source of the limits the phase rules, the upload form and its help state."""
    return UploadCaps(
        upload_bytes=min(phase.max_upload_bytes, settings.EVALSERVER_MAX_UPLOAD_BYTES),
        decompressed_bytes=submission_plain_max_bytes(phase=phase),
    )


# The organizer actions a team is told about on its submission page, with their reason.
TEAM_VISIBLE_ACTIONS = {"rerun", "cancelled", "flags", "rescored"}


@dataclass(frozen=True)
class TeamNotice:
    created_at: dt.datetime
    what: str
    reason: str


def _flag_words(changes: dict) -> list[str]:
    words = []
    for field_name, (_, new) in changes.items():
        words.append(
            {
                ("is_disqualified", True): "disqualified",
                ("is_disqualified", False): "disqualification lifted",
                ("is_hidden", True): "hidden from the leaderboard",
                ("is_hidden", False): "shown on the leaderboard again",
                ("is_baseline", True): "marked as a baseline",
                ("is_baseline", False): "no longer a baseline",
            }.get((field_name, bool(new)), field_name)
        )
    return words


def submission_team_notices(*, submission: Submission) -> list[TeamNotice]:
    """What the organizers did to a team's submission and why, for the team's own page."""
    notices = []
    for event in submission.events.filter(action__in=TEAM_VISIBLE_ACTIONS).order_by(
        "created_at", "id"
    ):
        detail = event.detail or {}
        if event.action == "flags":
            what = "; ".join(_flag_words(detail.get("changes") or {})).capitalize()
        elif event.action == "rerun":
            what = "Re-run by the organizers"
        elif event.action == "cancelled":
            what = "Cancelled by the organizers"
        else:
            what = "Re-scored against corrected labels"
        if what:
            notices.append(TeamNotice(event.created_at, what, detail.get("reason", "")))
    return notices
