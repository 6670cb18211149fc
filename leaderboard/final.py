"""Reads of the final ranking of a split phase (issue 13): the private-split board.

The rules (also in the README, "Final ranking"):

- A submission counts as on the running board (finished, scored, neither hidden nor
  disqualified, made between ``starts_at`` and ``ends_at``).
- A team's *final submissions*: when the phase sets ``max_final_submissions`` (default 2),
  the counting submissions the team marked ``selected``; a team that marked none gets its
  best ones by public-split score (ties: earlier, then lower id), up to the limit. With
  ``max_final_submissions`` null every counting submission is final.
- The final board ranks each team by its best final submission's private-split score
  (ties: earlier, then lower id); baselines are listed by their private score, unranked.
- Participants see it only once an organizer has published it, after ``ends_at``
  (``final_board_visible``); organizers always.

Only the winners' private score JSON and replicate vectors are read; the choice is made on
narrow columns.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass

from django.db.models import Q

from evalserver.challenges.models import Phase
from evalserver.errors import NotFound, PermissionDenied
from evalserver.scoring import bootstrap
from leaderboard.models import LeaderboardVersion
from leaderboard.selectors import LeaderboardEntry
from submissions.models import Submission, SubmissionEvaluation

NOT_PUBLISHED_DETAIL = (
    "The final (private-split) leaderboard of this phase is published by the organizers "
    "after the phase ends."
)
NO_SPLIT_DETAIL = "This phase's labels have no private split, so it has no private board."


@dataclass(frozen=True)
class _Candidate:
    id: int
    team_id: int
    public: float
    created_at: object
    selected: bool
    is_baseline: bool


def _counting(phase: Phase):
    return Submission.objects.filter(
        phase=phase,
        status=Submission.Status.FINISHED,
        primary_score__isnull=False,
        is_hidden=False,
        is_disqualified=False,
    ).filter(Q(is_baseline=True) | Q(created_at__gte=phase.starts_at, created_at__lt=phase.ends_at))


def _by_public(c: _Candidate):
    return (-c.public, c.created_at, c.id)


def final_submission_ids(*, phase: Phase, candidates: list[_Candidate]) -> set[int]:
    """The ids of every team's final submissions among ``candidates`` (no baselines)."""
    limit = phase.max_final_submissions
    per_team: dict[int, list[_Candidate]] = defaultdict(list)
    for c in candidates:
        if not c.is_baseline:
            per_team[c.team_id].append(c)
    final: set[int] = set()
    for team_candidates in per_team.values():
        if limit is None:
            final.update(c.id for c in team_candidates)
            continue
        chosen = [c for c in team_candidates if c.selected]
        if not chosen:
            chosen = sorted(team_candidates, key=_by_public)[:limit]
        final.update(c.id for c in chosen[:limit])
    return final


def team_final_submission_ids(*, phase: Phase, team_id: int) -> set[int]:
    """Which of one team's submissions count as final now (for its submission list)."""
    rows = _counting(phase).filter(team_id=team_id, is_baseline=False)
    candidates = [
        _Candidate(id=i, team_id=t, public=p, created_at=c, selected=s, is_baseline=False)
        for i, t, p, c, s in rows.values_list(
            "id", "team_id", "primary_score", "created_at", "selected"
        )
    ]
    return final_submission_ids(phase=phase, candidates=candidates)


_cache: OrderedDict[tuple, list[dict]] = OrderedDict()
_lock = threading.Lock()
_CACHE_SIZE = 64


def _cache_key(phase: Phase) -> tuple | None:
    if not Phase.leaderboard_version.is_cached(phase):
        return None
    try:
        token = phase.leaderboard_version.token
    except LeaderboardVersion.DoesNotExist:
        return None
    return (
        phase.pk,
        phase.created_at,
        token,
        phase.starts_at,
        phase.ends_at,
        phase.max_final_submissions,
    )


def final_board_entries(*, phase: Phase) -> list[LeaderboardEntry]:
    """The private-split ranking of a split phase, best first (see the module's rules).

    Kept per process under the phase's board version (a selection, like any change of a
    submission, makes a new version).
    """
    key = _cache_key(phase)
    if key is not None:
        with _lock:
            found = _cache.get(key)
            if found is not None:
                _cache.move_to_end(key)
                return [LeaderboardEntry.from_json(item) for item in found]
    entries = _build(phase)
    if key is not None:
        with _lock:
            _cache[key] = [entry.as_json() for entry in entries]
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return entries


def clear() -> None:
    with _lock:
        _cache.clear()


def _build(phase: Phase) -> list[LeaderboardEntry]:
    rows = list(
        _counting(phase).values_list(
            "id",
            "team_id",
            "primary_score",
            "created_at",
            "selected",
            "is_baseline",
            "evaluation__private_primary_score",
        )
    )
    candidates = [
        _Candidate(
            id=r[0], team_id=r[1], public=r[2], created_at=r[3], selected=r[4], is_baseline=r[5]
        )
        for r in rows
    ]
    private = {r[0]: r[6] for r in rows}
    counts: dict[int, int] = defaultdict(int)
    for c in candidates:
        if not c.is_baseline:
            counts[c.team_id] += 1
    final = final_submission_ids(phase=phase, candidates=candidates)

    def by_private(c: _Candidate):
        return (-private[c.id], c.created_at, c.id)

    best: dict[int, _Candidate] = {}
    baselines = []
    for c in candidates:
        if private[c.id] is None:
            continue  # scored before the split existed: nothing to rank it by
        if c.is_baseline:
            baselines.append(c)
        elif c.id in final and (
            c.team_id not in best or by_private(c) < by_private(best[c.team_id])
        ):
            best[c.team_id] = c
    shown = sorted([*best.values(), *baselines], key=by_private)
    details = {
        row["submission_id"]: row
        for row in SubmissionEvaluation.objects.filter(
            submission_id__in=[c.id for c in shown]
        ).values(
            "submission_id",
            "private_scores",
            "private_ci_low",
            "private_ci_high",
            "private_replicates",
            "submission__team__name",
            "submission__method_name",
        )
    }
    flags = bootstrap.separable_flags(
        [bootstrap.replicates_from_bytes(details[c.id]["private_replicates"]) for c in shown]
    )
    entries = []
    rank = 0
    for c, flag in zip(shown, flags, strict=True):
        detail = details[c.id]
        if not c.is_baseline:
            rank += 1
        entries.append(
            LeaderboardEntry(
                rank=None if c.is_baseline else rank,
                team_id=c.team_id,
                team=detail["submission__team__name"],
                submission_id=c.id,
                method_name=detail["submission__method_name"],
                scores=detail["private_scores"] or {},
                primary_score=private[c.id],
                submitted_at=c.created_at,
                is_baseline=c.is_baseline,
                submission_count=None if c.is_baseline else counts[c.team_id],
                ci_low=detail["private_ci_low"],
                ci_high=detail["private_ci_high"],
                separable_from_next=flag,
            )
        )
    return entries


def final_board_visible(*, phase: Phase, user) -> None:
    """Raise unless ``user`` may see the phase's private-split board now.

    404 when the phase has no split (there is nothing to see); 403 for a participant
    before publication, with the same message whatever the phase's scores are.
    """
    if not phase.labels_split:
        raise NotFound(NO_SPLIT_DETAIL)
    if phase.final_board_published_at is not None:
        return
    if phase.challenge.is_organizer(user):
        return
    raise PermissionDenied(NOT_PUBLISHED_DETAIL)
