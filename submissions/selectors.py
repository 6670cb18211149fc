"""Reads of submissions for the people allowed to see them.

A team sees its own submissions; the challenge's organizers see all of them. Anybody
else gets NotFound, never "forbidden": we don't confirm that another team's id exists.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from evalserver.accounts.models import User
from evalserver.challenges.models import Challenge, Phase
from evalserver.errors import NotFound
from evalserver.teams.models import Membership, Team
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


# The API's list of a phase's submissions, its hottest read (issue 12: 16 clients polling at
# once). Two statements in plain SQL, compiled once: the phase and whether the user organizes
# its challenge, then the page with, for a team, its count (a window over the team's few
# rows); organizers, who page through every team's, get a separate COUNT(*) instead. The
# ORM's compiling and model building cost more than the queries. Portable SQL: PostgreSQL,
# and SQLite for the embedded default. Scores and errors come as their JSON text, decoded
# by the API serializer (submissions.serializers.submission_list_item).

# The columns of a page's rows, in the order of _PAGE_SELECT.
PAGE_COLUMNS = (
    "id",
    "status",
    "scores_json",
    "errors_json",
    "primary_score",
    "ci_low",
    "ci_high",
    "selected",
    "phase_id",
    "team_name",
    "submitted_by_username",
    "method_name",
    "description",
    "original_filename",
    "file_size",
    "created_at",
    "started_at",
    "finished_at",
    "is_baseline",
)


_ACCESS_SQL = (
    "SELECT c.slug, EXISTS (SELECT 1 FROM {organizers} o"
    " WHERE o.challenge_id = c.id AND o.user_id = %s), t.id, t.name"
    " FROM {phase} p JOIN {challenge} c ON c.id = p.challenge_id"
    " LEFT JOIN {membership} m ON m.challenge_id = c.id AND m.user_id = %s"
    " LEFT JOIN {team} t ON t.id = m.team_id"
    " WHERE p.id = %s AND c.is_published = %s"
)
# The page's ids first, then their rows: the JSON is turned into text for the page's rows
# only, and the sort moves ids, not kilobytes of text.
_PAGE_SQL = (
    "SELECT s.id, s.status, CAST(s.scores AS TEXT), CAST(s.errors AS TEXT), s.primary_score,"
    " s.ci_low, s.ci_high, s.selected, s.phase_id, {team_name}, u.username, s.method_name,"
    " s.description, s.original_filename, s.file_size, s.created_at, s.started_at,"
    " s.finished_at, s.is_baseline{count}"
    " FROM (SELECT i.id{window} FROM {submission} i WHERE i.phase_id = %s{team_filter}"
    " ORDER BY i.created_at DESC, i.id DESC LIMIT %s OFFSET %s) k"
    " JOIN {submission} s ON s.id = k.id{team_join}"
    " LEFT JOIN {user} u ON u.id = s.submitted_by_id"
    " ORDER BY s.created_at DESC, s.id DESC"
)
_COUNT_SQL = "SELECT COUNT(*) FROM {submission} s WHERE s.phase_id = %s"
# No page starts further than this: a larger OFFSET would overflow the database's integer.
_MAX_OFFSET = 2**62


@functools.cache
def _sql() -> dict[str, str]:
    quote = connection.ops.quote_name
    tables = {
        "submission": quote(Submission._meta.db_table),
        "team": quote(Team._meta.db_table),
        "user": quote(User._meta.db_table),
        "membership": quote(Membership._meta.db_table),
        "phase": quote(Phase._meta.db_table),
        "challenge": quote(Challenge._meta.db_table),
        "organizers": quote(Challenge.organizers.through._meta.db_table),
    }
    return {
        "access": _ACCESS_SQL.format(**tables),
        # A team's rows, with their count: a window over its few rows (no second query).
        # Its name is the one submission_list_access read (a constant of the query).
        "team_page": _PAGE_SQL.format(
            team_name="%s",
            count=", k.n",
            window=", COUNT(*) OVER () AS n",
            team_filter=" AND i.team_id = %s",
            team_join="",
            **tables,
        ),
        "all_page": _PAGE_SQL.format(
            team_name="t.name",
            count="",
            window="",
            team_filter="",
            team_join=f" JOIN {tables['team']} t ON t.id = s.team_id",
            **tables,
        ),
        "all_count": _COUNT_SQL.format(**tables),
    }


@dataclass(frozen=True)
class ListAccess:
    """What submission_list_access found: the phase's challenge and the user's view of it."""

    challenge_slug: str
    # Organizers (and superusers) see every team's submissions; anybody else their team's.
    is_organizer: bool
    # The user's team in the phase's challenge (at most one: a database constraint).
    team_id: int | None
    team_name: str | None


def submission_list_access(*, user: User, phase_id: int) -> ListAccess:
    """The phase's challenge, whether the user organizes it and the user's team there, in
    one query. NotFound for a phase that does not exist or is not published, as phase_get.

    The team is the user's membership in the phase's challenge: submissions are made by a
    member's team in the phase's challenge (submission_create), so its rows are exactly
    those of submission_list_for_user's join on all the user's memberships.
    """
    found = None
    if phase_id < 2**63:  # larger ids name no row (and overflow SQLite's integers)
        with connection.cursor() as cursor:
            cursor.execute(_sql()["access"], [user.pk, user.pk, phase_id, True])
            found = cursor.fetchone()
    if found is None:
        raise NotFound(f"No phase {phase_id!r}.")
    slug, is_organizer, team_id, team_name = found
    return ListAccess(slug, bool(is_organizer) or user.is_superuser, team_id, team_name)


@dataclass(frozen=True)
class SubmissionPage:
    """One page of the submissions a user may see (submission_page_for_user)."""

    # How many the user may see in all; None when the page is past the last one.
    count: int | None
    # One dict per submission, keyed by PAGE_COLUMNS, newest first.
    rows: list[dict]


def submission_page_for_user(
    *, user: User, phase_id: int, access: ListAccess, page: int, page_size: int
) -> SubmissionPage:
    """Page ``page`` (from 1) of what submission_list_for_user lists, in one query for a
    team (two for organizers, none without a team). A page past the last one has no rows
    and count None; page 1 of an empty list has count 0."""
    offset = (page - 1) * page_size
    if offset >= _MAX_OFFSET or (access.team_id is None and not access.is_organizer):
        return SubmissionPage(0 if page == 1 else None, [])
    with connection.cursor() as cursor:
        if access.is_organizer:
            cursor.execute(_sql()["all_count"], [phase_id])
            count = cursor.fetchone()[0]
            if offset >= count and page > 1:
                return SubmissionPage(None, [])
            cursor.execute(_sql()["all_page"], [phase_id, page_size, offset])
            fetched = cursor.fetchall()
        else:
            cursor.execute(
                _sql()["team_page"], [access.team_name, phase_id, access.team_id, page_size, offset]
            )
            fetched = cursor.fetchall()
            # No row: an empty list on page 1, else a page past the last one.
            count = fetched[0][-1] if fetched else (0 if page == 1 else None)
    return SubmissionPage(count, [dict(zip(PAGE_COLUMNS, row, strict=False)) for row in fetched])


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
