"""Reads of the organizer console: label-fix previews and their rank diff."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from evalserver.challenges.models import Phase
from evalserver.console.models import Rescore, RescoreResult
from evalserver.errors import NotFound
from leaderboard.selectors import leaderboard_ranking
from submissions.models import Submission

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
