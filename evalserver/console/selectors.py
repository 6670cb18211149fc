"""Reads of the organizer console: label-fix previews and their rank diff."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import Lower

from evalserver.challenges.models import Challenge, ChallengeBan, Phase
from evalserver.challenges.organizers import challenges_organized_by
from evalserver.console.models import Rescore, RescoreResult
from evalserver.errors import NotFound, ValidationFailed
from evalserver.teams.models import Membership, Team
from leaderboard.selectors import leaderboard_ranking
from submissions.models import Submission, SubmissionEvent

DEFAULT_TOP_N = 10


def rescore_get_for_organizer(*, rescore_id: int, user) -> Rescore:
    """The preview, for an organizer of its challenge (or a superuser); 404 for anyone else."""
    rescore = Rescore.objects.select_related("phase__challenge").filter(pk=rescore_id).first()
    if rescore is None or not rescore.phase.challenge.is_organizer(user):
        raise NotFound("No such rescore.")
    return rescore


def rescore_list(*, phase: Phase) -> list[Rescore]:
    return list(Rescore.objects.filter(phase=phase).select_related("created_by", "closed_by"))


def rescore_progress(*, rescore: Rescore) -> tuple[int, int]:
    """(scored, total) submissions of the preview."""
    done = RescoreResult.objects.filter(rescore=rescore).count()
    return done, max(rescore.total, done)


@dataclass
class DiffRow:
    team_id: int
    team: str
    old_rank: int | None
    new_rank: int | None
    old_score: float | None
    new_score: float | None
    old_submission_id: int | None
    new_submission_id: int | None

    @property
    def moved(self) -> int | None:
        """Places gained (positive) or lost (negative); None when it entered or left."""
        if self.old_rank is None or self.new_rank is None:
            return None
        return self.old_rank - self.new_rank

    @property
    def change(self) -> str:
        if self.old_rank is None:
            return "entered"
        if self.new_rank is None:
            return "left"
        moved = self.moved
        return "up" if moved > 0 else "down" if moved < 0 else "same"

    def as_json(self) -> dict:
        return {
            "team": self.team,
            "team_id": self.team_id,
            "old_rank": self.old_rank,
            "new_rank": self.new_rank,
            "old_score": self.old_score,
            "new_score": self.new_score,
            "old_submission_id": self.old_submission_id,
            "new_submission_id": self.new_submission_id,
            "moved": self.moved,
            "change": self.change,
        }


@dataclass
class RankDiff:
    rows: list[DiffRow]
    top_n: int
    # Submissions the preview has not scored: finished after its last pass (scored against the
    # new labels at apply), or queued or running now (scored by the workers against the new
    # labels once applied). Their old scores stand in for them in ``new_rank``.
    pending_submission_ids: list[int] = field(default_factory=list)
    # Finished submissions whose files do not fit the new labels: they fail when applied.
    failing_submission_ids: list[int] = field(default_factory=list)

    @property
    def moved(self) -> list[DiffRow]:
        return [row for row in self.rows if row.change != "same"]

    @property
    def entered_top(self) -> list[DiffRow]:
        return [
            row
            for row in self.rows
            if row.new_rank is not None
            and row.new_rank <= self.top_n
            and (row.old_rank is None or row.old_rank > self.top_n)
        ]

    @property
    def left_top(self) -> list[DiffRow]:
        return [
            row
            for row in self.rows
            if row.old_rank is not None
            and row.old_rank <= self.top_n
            and (row.new_rank is None or row.new_rank > self.top_n)
        ]

    def as_json(self) -> dict:
        return {
            "teams": [row.as_json() for row in self.rows],
            "top_n": self.top_n,
            "moved": [row.team for row in self.moved],
            "entered_top": [row.team for row in self.entered_top],
            "left_top": [row.team for row in self.left_top],
            "pending_submission_ids": self.pending_submission_ids,
            "failing_submission_ids": self.failing_submission_ids,
        }


def _counts(row: dict, phase: Phase) -> bool:
    # The leaderboard's rule (leaderboard.selectors): inside the phase's dates, not a baseline.
    created: dt.datetime = row["created_at"]
    return phase.starts_at <= created < phase.ends_at


def rescore_diff(*, rescore: Rescore, top_n: int = DEFAULT_TOP_N) -> RankDiff:
    """Every ranked team's old and new rank and score, old being the live board's.

    The new ranking follows the live board's rules (best counting submission per team,
    earlier submission first on a tie), with each submission's score from the preview.
    """
    phase = rescore.phase
    old = {
        entry.team_id: entry
        for entry in leaderboard_ranking(phase=phase)
        if not entry.is_baseline and entry.rank is not None
    }
    results = {
        sid: (primary, errors)
        for sid, primary, errors in RescoreResult.objects.filter(rescore=rescore).values_list(
            "submission_id", "primary_score", "errors"
        )
    }
    candidates = Submission.objects.filter(
        phase=phase,
        status=Submission.Status.FINISHED,
        is_hidden=False,
        is_disqualified=False,
        is_baseline=False,
    ).values("id", "team_id", "team__name", "created_at", "primary_score")
    pending: list[int] = []
    failing: list[int] = []
    best: dict[int, tuple[float, dt.datetime, int, str]] = {}
    for row in candidates:
        if not _counts(row, phase):
            continue
        if row["id"] in results:
            score, errors = results[row["id"]]
            if errors:
                failing.append(row["id"])
                continue
        else:
            pending.append(row["id"])
            score = row["primary_score"]
        if score is None:
            continue
        key = (-score, row["created_at"], row["id"])
        current = best.get(row["team_id"])
        if current is None or key < (-current[0], current[1], current[2]):
            best[row["team_id"]] = (score, row["created_at"], row["id"], row["team__name"])
    ordered = sorted(best.items(), key=lambda item: (-item[1][0], item[1][1], item[1][2]))
    new_rank = {team_id: rank for rank, (team_id, _) in enumerate(ordered, start=1)}
    pending += list(
        Submission.objects.filter(
            phase=phase, status__in=[Submission.Status.QUEUED, Submission.Status.RUNNING]
        ).values_list("id", flat=True)
    )
    rows = []
    for team_id in set(old) | set(best):
        entry = old.get(team_id)
        new = best.get(team_id)
        rows.append(
            DiffRow(
                team_id=team_id,
                team=entry.team if entry else new[3],
                old_rank=entry.rank if entry else None,
                new_rank=new_rank.get(team_id),
                old_score=entry.primary_score if entry else None,
                new_score=new[0] if new else None,
                old_submission_id=entry.submission_id if entry else None,
                new_submission_id=new[2] if new else None,
            )
        )
    big = 1 << 30
    rows.sort(key=lambda r: (r.new_rank or big, r.old_rank or big, r.team))
    return RankDiff(
        rows=rows,
        top_n=top_n,
        pending_submission_ids=sorted(pending),
        failing_submission_ids=sorted(failing),
    )


# --- Challenges, submissions, teams ------------------------------------------------------------


def organizer_challenges(*, user) -> QuerySet[Challenge]:
    return challenges_organized_by(user=user).order_by("-created_at", "slug")


def organizer_challenge(*, slug: str, user) -> Challenge:
    """The challenge, for its organizers (and superusers); 404 for anyone else."""
    challenge = Challenge.objects.filter(slug=slug).first()
    if challenge is None or not challenge.is_organizer(user):
        raise NotFound("No such challenge.")
    return challenge


def organizer_phase(*, phase_id, user) -> Phase:
    try:
        phase = Phase.objects.select_related("challenge").filter(pk=int(phase_id)).first()
    except (TypeError, ValueError):
        phase = None
    if phase is None or not phase.challenge.is_organizer(user):
        raise NotFound("No such phase.")
    return phase


FLAGS = ("hidden", "disqualified", "baseline", "banned")


@dataclass(frozen=True)
class SubmissionFilters:
    phase_id: int | None = None
    status: str = ""
    team: str = ""  # a team id, or part of a team name
    flag: str = ""
    since: dt.date | None = None
    until: dt.date | None = None  # inclusive

    @classmethod
    def parse(cls, params) -> SubmissionFilters:
        """From query parameters; raises ValidationFailed naming the bad one."""
        problems: dict[str, list[str]] = {}

        def whole(name: str) -> int | None:
            raw = (params.get(name) or "").strip()
            if not raw:
                return None
            if not raw.isdigit():
                problems[name] = ["Must be a whole number."]
                return None
            return int(raw)

        def day(name: str) -> dt.date | None:
            raw = (params.get(name) or "").strip()
            if not raw:
                return None
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                problems[name] = ["Must be a date, YYYY-MM-DD."]
                return None

        status = (params.get("status") or "").strip()
        if status and status not in Submission.Status.values:
            problems["status"] = [f"One of {', '.join(Submission.Status.values)}."]
        flag = (params.get("flag") or "").strip()
        if flag and flag not in FLAGS:
            problems["flag"] = [f"One of {', '.join(FLAGS)}."]
        filters = cls(
            phase_id=whole("phase"),
            status=status if "status" not in problems else "",
            team=(params.get("team") or "").strip()[:100],
            flag=flag if "flag" not in problems else "",
            since=day("since"),
            until=day("until"),
        )
        if problems:
            error = ValidationFailed(
                "Some filters are invalid: " + ", ".join(sorted(problems)) + "."
            )
            error.field_errors = problems
            raise error
        return filters


def console_submissions(*, challenge: Challenge, filters: SubmissionFilters) -> QuerySet:
    """The challenge's submissions an organizer filters, newest first."""
    rows = (
        Submission.objects.filter(phase__challenge=challenge)
        .select_related("team", "phase", "submitted_by")
        .defer("scores")
        .order_by("-created_at", "-id")
    )
    if filters.phase_id is not None:
        rows = rows.filter(phase_id=filters.phase_id)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.team:
        if filters.team.isdigit():
            rows = rows.filter(team_id=int(filters.team))
        else:
            rows = rows.filter(team__name__icontains=filters.team)
    if filters.flag == "hidden":
        rows = rows.filter(is_hidden=True)
    elif filters.flag == "disqualified":
        rows = rows.filter(is_disqualified=True)
    elif filters.flag == "baseline":
        rows = rows.filter(is_baseline=True)
    elif filters.flag == "banned":
        rows = rows.filter(team_id__in=banned_team_ids(challenge=challenge))
    if filters.since:
        rows = rows.filter(created_at__gte=_day_start(filters.since))
    if filters.until:
        rows = rows.filter(created_at__lt=_day_start(filters.until + dt.timedelta(days=1)))
    return rows


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def banned_team_ids(*, challenge: Challenge) -> set[int]:
    """Teams a user still banned was in when banned: their submissions stay, flagged."""
    return set(_banned_by_team(challenge=challenge))


def _banned_by_team(*, challenge: Challenge) -> dict[int, list[str]]:
    from evalserver.console.models import AuditEntry

    bans = {
        ban.user_id: ban.user.get_username()
        for ban in ChallengeBan.objects.filter(challenge=challenge).select_related("user")
    }
    teams: dict[int, list[str]] = {}
    for detail in AuditEntry.objects.filter(challenge=challenge, action="user_banned").values_list(
        "detail", flat=True
    ):
        team_id, user_id = detail.get("team_id"), detail.get("user_id")
        if team_id and user_id in bans:
            teams.setdefault(team_id, []).append(bans[user_id])
    return teams


def submission_for_organizer(*, submission_id, user) -> Submission:
    try:
        submission = (
            Submission.objects.select_related("team", "phase__challenge", "submitted_by")
            .filter(pk=int(submission_id))
            .first()
        )
    except (TypeError, ValueError):
        submission = None
    if submission is None or not submission.phase.challenge.is_organizer(user):
        raise NotFound("No such submission.")
    return submission


def submission_audit(*, submission: Submission) -> list[SubmissionEvent]:
    return list(submission.events.select_related("actor").order_by("created_at", "id"))


@dataclass
class TeamRow:
    team: Team
    members: list[Membership]
    submissions: int
    finished: int
    last_activity: dt.datetime | None
    banned_users: list[str]


def console_teams(*, challenge: Challenge) -> list[TeamRow]:
    """Every team with its members, submission counts and last activity. Three queries."""
    teams = list(
        Team.objects.filter(challenge=challenge)
        .annotate(
            n_submissions=Count("submissions"),
            n_finished=Count(
                "submissions", filter=Q(submissions__status=Submission.Status.FINISHED)
            ),
            last_submission=Max("submissions__created_at"),
        )
        .order_by(Lower("name"))
    )
    members: dict[int, list[Membership]] = {}
    for membership in (
        Membership.objects.filter(challenge=challenge)
        .select_related("user")
        .order_by("joined_at", "id")
    ):
        members.setdefault(membership.team_id, []).append(membership)
    banned = _banned_by_team(challenge=challenge)
    rows = []
    for team in teams:
        joined = [m.joined_at for m in members.get(team.pk, [])]
        moments = [m for m in [team.last_submission, *joined] if m is not None]
        rows.append(
            TeamRow(
                team=team,
                members=members.get(team.pk, []),
                submissions=team.n_submissions,
                finished=team.n_finished,
                last_activity=max(moments) if moments else None,
                banned_users=sorted(set(banned.get(team.pk, []))),
            )
        )
    return rows


def challenge_bans(*, challenge: Challenge) -> list[ChallengeBan]:
    return list(
        ChallengeBan.objects.filter(challenge=challenge).select_related("user", "created_by")
    )


def audit_entries(*, challenge: Challenge, limit: int = 200) -> list:
    from evalserver.console.models import AuditEntry

    return list(
        AuditEntry.objects.filter(challenge=challenge).select_related("actor", "phase")[:limit]
    )


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    # Team and user names are chosen by participants: a leading formula character is
    # defused with an apostrophe, as in leaderboard.exports.
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def write_teams_csv(*, challenge: Challenge, out) -> int:
    writer = csv.writer(out)
    writer.writerow(
        [
            "team_id",
            "team",
            "members",
            "emails",
            "submissions",
            "finished",
            "last_activity",
            "banned",
        ]
    )
    rows = console_teams(challenge=challenge)
    for row in rows:
        writer.writerow(
            [
                row.team.pk,
                _cell(row.team.name),
                _cell(" ".join(m.user.get_username() for m in row.members)),
                _cell(" ".join(m.user.email for m in row.members if m.user.email)),
                row.submissions,
                row.finished,
                row.last_activity.isoformat() if row.last_activity else "",
                _cell(" ".join(row.banned_users)),
            ]
        )
    return len(rows)


def phase_counts(*, challenge: Challenge) -> list[tuple[Phase, dict[str, int]]]:
    """Each phase with its submissions per status. Two queries."""
    counts: dict[int, dict[str, int]] = {}
    for phase_id, status, n in (
        Submission.objects.filter(phase__challenge=challenge)
        .values_list("phase_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts.setdefault(phase_id, {})[status] = n
    return [
        (phase, {s: counts.get(phase.pk, {}).get(s, 0) for s in Submission.Status.values})
        for phase in challenge.phases.all()
    ]
