"""Reads of submissions for the people allowed to see them.

A team sees its own submissions; the challenge's organizers see all of them. Anybody
else gets NotFound, never "forbidden": we don't confirm that another team's id exists.
"""

from __future__ import annotations

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
