"""Reads of the leaderboard: who ranks where, and who may see it.

The rules (also in the README, "Leaderboard rules"):

- A submission counts when it is finished, has a primary score, is neither hidden nor
  disqualified, and was made inside the phase's dates (``starts_at <= created_at <
  ends_at``). Queued, running, failed and cancelled submissions never count.
- Each team is ranked by its best counting submission: highest primary metric (macro F1 for
  recognition, video-mAP for detection); a tie goes to the earlier submission, then to the
  lower id. Ranks are distinct (1, 2, 3, ...) in that order, so two teams with equal scores
  are told apart by who got there first.
- Baseline submissions are shown, marked, and never ranked or counted as their team's best;
  every visible baseline is listed (whatever its date: it is a reference, not an entry).
- Public phases show the board to everyone. Private phases show it in full to organizers
  only until an organizer reveals it; before that every other signed-in user sees just their
  own team's entry, without a rank. A frozen phase serves the entries taken when it was
  frozen, under the same visibility rules.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection
from django.utils.dateparse import parse_datetime

from evalserver.challenges.models import Phase
from evalserver.errors import NotFound
from evalserver.teams.models import Team
from leaderboard import intervals
from leaderboard.models import FrozenLeaderboard
from submissions.models import Submission, SubmissionEvaluation


@dataclass(frozen=True)
class MetricColumn:
    key: str  # the key in the score JSON (CONTRACT section 1)
    label: str


@dataclass(frozen=True)
class TrackColumns:
    """Which numbers of the score JSON a track's leaderboard shows."""

    primary: MetricColumn
    secondary: tuple[MetricColumn, ...]
    per_class_key: str
    per_class_label: str


TRACK_COLUMNS: dict[str, TrackColumns] = {
    Phase.Track.CLASSIFICATION: TrackColumns(
        primary=MetricColumn("macro_f1", "Macro F1"),
        secondary=(
            MetricColumn("macro_precision", "Macro precision"),
            MetricColumn("macro_recall", "Macro recall"),
            MetricColumn("micro_f1", "Micro F1"),
        ),
        per_class_key="f1",
        per_class_label="F1",
    ),
    Phase.Track.DETECTION: TrackColumns(
        primary=MetricColumn("video_map", "Video-mAP"),
        secondary=(MetricColumn("frame_map", "Frame-mAP"),),
        per_class_key="video_ap",
        per_class_label="video AP",
    ),
}


def track_columns(phase: Phase) -> TrackColumns:
    return TRACK_COLUMNS[phase.track]


def per_class_values(scores: dict | None, key: str, n_classes: int) -> list[float | None]:
    """One value per class id, ``None`` where the score JSON has none (e.g. no ground truth)."""
    values: list[float | None] = [None] * n_classes
    for item in (scores or {}).get("per_class") or ():
        class_id = item.get("class_id")
        value = item.get(key)
        if isinstance(class_id, int) and 0 <= class_id < n_classes:
            values[class_id] = value if isinstance(value, int | float) else None
    return values


@dataclass
class LeaderboardEntry:
    rank: int | None
    team_id: int
    team: str
    submission_id: int
    method_name: str
    scores: dict
    primary_score: float
    submitted_at: dt.datetime
    is_baseline: bool
    submission_count: int | None
    # The 95% bootstrap interval of primary_score, and whether the difference to the next
    # entry's score has a 95% interval excluding 0 (leaderboard.intervals).
    ci_low: float | None = None
    ci_high: float | None = None
    separable_from_next: bool = False

    def metric(self, key: str) -> float | None:
        value = self.scores.get(key)
        return value if isinstance(value, int | float) else None

    def per_class(self, key: str, n_classes: int) -> list[float | None]:
        return per_class_values(self.scores, key, n_classes)

    def as_json(self) -> dict:
        return {
            "rank": self.rank,
            "team": self.team,
            "submission_id": self.submission_id,
            "scores": self.scores,
            "submitted_at": self.submitted_at.isoformat(),
            "team_id": self.team_id,
            "method_name": self.method_name,
            "primary_score": self.primary_score,
            "is_baseline": self.is_baseline,
            "submission_count": self.submission_count,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "separable_from_next": self.separable_from_next,
        }

    @classmethod
    def from_json(cls, data: dict) -> LeaderboardEntry:
        return cls(
            rank=data["rank"],
            team_id=data["team_id"],
            team=data["team"],
            submission_id=data["submission_id"],
            method_name=data.get("method_name", ""),
            scores=data["scores"],
            primary_score=data["primary_score"],
            submitted_at=parse_datetime(data["submitted_at"]),
            is_baseline=data["is_baseline"],
            submission_count=data.get("submission_count"),
            # Boards frozen before intervals existed have none.
            ci_low=data.get("ci_low"),
            ci_high=data.get("ci_high"),
            separable_from_next=bool(data.get("separable_from_next", False)),
        )


# One query over the phase. The first window picks each team's best counting submission and
# counts its counting submissions; the second ranks the teams' bests. Baselines sit in their
# own partition so they are never a team's best and never take a rank. The windows sort
# only narrow columns (an index of submissions_submission gives the first one its order): the
# score JSON (kilobytes a row) is joined in for the winners alone, so a phase of 20,000
# submissions sorts in memory. The winners are not sorted in SQL either, which would sort
# their score JSON too (on disk, at 1,000 teams): ``board_position`` orders them in Python.
# The score JSON comes back as text, for the API to splice into its answer as it is. Phase
# dates come from the joined phase row, so the query has no datetime parameters to adapt per
# database.
_RANKING_SQL = """
WITH counting AS (
    SELECT s.id, s.team_id, s.primary_score, s.created_at, s.is_baseline,
           ROW_NUMBER() OVER (
               PARTITION BY s.team_id, s.is_baseline
               ORDER BY s.primary_score DESC, s.created_at, s.id
           ) AS team_position,
           COUNT(*) OVER (PARTITION BY s.team_id, s.is_baseline) AS team_submission_count
    FROM {submission} s
    JOIN {phase} p ON p.id = s.phase_id
    WHERE s.phase_id = %s
      AND s.status = %s
      AND s.primary_score IS NOT NULL
      AND NOT s.is_hidden
      AND NOT s.is_disqualified
      AND (s.is_baseline OR (s.created_at >= p.starts_at AND s.created_at < p.ends_at))
      {team_filter}
),
ranked AS (
    SELECT c.id, c.team_id, c.primary_score, c.created_at, c.is_baseline,
           c.team_submission_count,
           CASE WHEN c.is_baseline THEN NULL
                ELSE ROW_NUMBER() OVER (
                    PARTITION BY c.is_baseline
                    ORDER BY c.primary_score DESC, c.created_at, c.id
                )
           END AS leaderboard_rank,
           ROW_NUMBER() OVER (
               ORDER BY c.primary_score DESC, c.created_at, c.id
           ) AS board_position
    FROM counting c
    WHERE c.is_baseline OR c.team_position = 1
)
SELECT r.id, r.team_id, r.primary_score, r.created_at, r.is_baseline,
       r.team_submission_count, r.leaderboard_rank, r.board_position, s.method_name,
       {scores_text} AS scores_json, t.name AS team_name, s.ci_low, s.ci_high,
       {replicates} AS replicates
FROM ranked r
JOIN {submission} s ON s.id = r.id
JOIN {team} t ON t.id = r.team_id
{evaluation_join}
"""


@dataclass(frozen=True)
class RankingRow:
    """A row of the live ranking, its score JSON still as the database's text."""

    rank: int | None
    team_id: int
    team: str
    submission_id: int
    method_name: str
    scores_json: str
    primary_score: float
    submitted_at: dt.datetime
    is_baseline: bool
    submission_count: int | None
    ci_low: float | None = None
    ci_high: float | None = None
    separable_from_next: bool = False

    def placed(self, *, rank: int | None, separable_from_next: bool) -> RankingRow:
        """This row with another rank and separability: ``dataclasses.replace`` for the two
        fields a patch of the live board changes, without its per-field introspection (a
        team's jump across a 1,000-team board re-places every row it passed: 4.4 us a row
        through ``replace``, 2.0 us here). Every field is named: a test compares the two."""
        return RankingRow(
            rank=rank,
            team_id=self.team_id,
            team=self.team,
            submission_id=self.submission_id,
            method_name=self.method_name,
            scores_json=self.scores_json,
            primary_score=self.primary_score,
            submitted_at=self.submitted_at,
            is_baseline=self.is_baseline,
            submission_count=self.submission_count,
            ci_low=self.ci_low,
            ci_high=self.ci_high,
            separable_from_next=separable_from_next,
        )

    def entry(self) -> LeaderboardEntry:
        return LeaderboardEntry(
            rank=self.rank,
            team_id=self.team_id,
            team=self.team,
            submission_id=self.submission_id,
            method_name=self.method_name,
            scores=json.loads(self.scores_json),
            primary_score=self.primary_score,
            submitted_at=self.submitted_at,
            is_baseline=self.is_baseline,
            submission_count=self.submission_count,
            ci_low=self.ci_low,
            ci_high=self.ci_high,
            separable_from_next=self.separable_from_next,
        )


def _ranking_query(phase: Phase, *, replicates: bool, team_ids: list[int] | None = None) -> list:
    """The ranking query's rows in board order; ``team_ids``: only these teams' rows (whose
    ``leaderboard_rank`` and ``board_position`` then rank them among themselves alone)."""
    quote = connection.ops.quote_name
    params: list = [phase.pk, Submission.Status.FINISHED]
    team_filter = ""
    if team_ids is not None:
        team_filter = f"AND s.team_id IN ({', '.join(['%s'] * len(team_ids))})"
        params += team_ids
    sql = _RANKING_SQL.format(
        submission=quote(Submission._meta.db_table),
        phase=quote(Phase._meta.db_table),
        team=quote(Team._meta.db_table),
        # jsonb on PostgreSQL; SQLite keeps JSON as text already.
        scores_text="s.scores::text" if connection.vendor == "postgresql" else "s.scores",
        replicates="e.replicates" if replicates else "NULL",
        evaluation_join=f"LEFT JOIN {quote(SubmissionEvaluation._meta.db_table)} e "
        "ON e.submission_id = r.id"
        if replicates
        else "",
        team_filter=team_filter,
    )
    # A raw model query, so the database's boolean and datetime values come back converted
    # the same way on PostgreSQL and SQLite. ``scores`` itself is not selected: never read
    # ``row.scores`` here, it would load it row by row.
    return sorted(Submission.objects.raw(sql, params), key=lambda row: row.board_position)


def _ranking_row(row, *, flag: bool) -> RankingRow:
    return RankingRow(
        rank=row.leaderboard_rank,
        team_id=row.team_id,
        team=row.team_name,
        submission_id=row.id,
        method_name=row.method_name,
        # A missing score JSON reads as an empty one, as it always has.
        scores_json=row.scores_json if row.scores_json not in (None, "null") else "{}",
        primary_score=row.primary_score,
        submitted_at=row.created_at,
        is_baseline=row.is_baseline,
        submission_count=None if row.is_baseline else row.team_submission_count,
        ci_low=row.ci_low,
        ci_high=row.ci_high,
        separable_from_next=flag,
    )


def leaderboard_ranking_rows(*, phase: Phase) -> list[RankingRow]:
    """The live ranking of a phase, best first, baselines placed by their score. One query.

    Each row carries its bootstrap interval and whether it is separable from the next row;
    the replicate vectors that decide the latter are read only when this process has not
    worked it out for the phase's current board version yet.
    """
    known_flags = intervals.cached_flags(phase)
    rows = _ranking_query(phase, replicates=known_flags is None)
    flags = intervals.board_flags(phase, [(row.id, row.replicates) for row in rows], known_flags)
    return [_ranking_row(row, flag=flag) for row, flag in zip(rows, flags, strict=True)]


def leaderboard_ranking_with_replicates(
    *, phase: Phase, team_ids: list[int] | None = None
) -> list[tuple[RankingRow, bytes | None]]:
    """The live ranking with each row's replicate vector (stored bytes, None if none). One
    query.

    With ``team_ids``, only those teams' rows (their best counting submission, with its
    count, and their baselines): their ``rank`` and ``separable_from_next`` are then about
    those rows alone, for leaderboard.live to place them on its board and set both anew.
    """
    if team_ids is not None and not team_ids:
        return []
    rows = _ranking_query(phase, replicates=True, team_ids=team_ids)
    flags = intervals.separable_flags([row.replicates for row in rows])
    return [
        (_ranking_row(row, flag=flag), bytes(row.replicates) if row.replicates else None)
        for row, flag in zip(rows, flags, strict=True)
    ]


def leaderboard_ranking(*, phase: Phase) -> list[LeaderboardEntry]:
    """The live ranking of a phase with each score JSON decoded. One query."""
    return [row.entry() for row in leaderboard_ranking_rows(phase=phase)]


def phase_for_leaderboard(*, phase_id: int, user, with_frozen_entries: bool = True) -> Phase:
    """The phase with what its leaderboard needs; unpublished challenges are 404 to outsiders.

    ``with_frozen_entries=False`` leaves a frozen board's entries (megabytes of JSON at 1,000
    teams) in the database until read, for a caller that usually serves them from its cache.
    """
    phases = Phase.objects.select_related("challenge", "frozen_leaderboard", "leaderboard_version")
    if not with_frozen_entries:
        phases = phases.defer("frozen_leaderboard__entries")
    # By its key, so unordered: ``.first()`` would add an ORDER BY to compile per request.
    phase = next(iter(phases.filter(pk=phase_id).order_by()[:1]), None)
    if phase is None:
        raise NotFound("No such phase.")
    if not phase.challenge.is_published and not phase.challenge.is_organizer(user):
        raise NotFound("No such phase.")
    return phase


def frozen_leaderboard_of(phase: Phase) -> FrozenLeaderboard | None:
    # ``phase_for_leaderboard`` loads it with the phase; this only reads the cache.
    try:
        return phase.frozen_leaderboard
    except FrozenLeaderboard.DoesNotExist:
        return None


def leaderboard_entries(*, phase: Phase) -> tuple[list[LeaderboardEntry], dt.datetime | None]:
    """The board as served: the frozen entries if the phase is frozen, else the live ranking."""
    frozen = frozen_leaderboard_of(phase)
    if frozen is not None:
        return [LeaderboardEntry.from_json(item) for item in frozen.entries], frozen.frozen_at
    return leaderboard_ranking(phase=phase), None


def team_of(*, user, phase: Phase) -> int | None:
    if not user.is_authenticated:
        return None
    return (
        Team.objects.filter(challenge_id=phase.challenge_id, memberships__user=user)
        .values_list("id", flat=True)
        .first()
    )


HIDDEN_RANKING_DETAIL = (
    "This phase's leaderboard is private until the organizers reveal it; "
    "you see only your own team's scores."
)


@dataclass
class Leaderboard:
    """A phase's leaderboard as one viewer may see it."""

    phase: Phase
    entries: list[LeaderboardEntry]
    frozen_at: dt.datetime | None
    # True when the phase is private and unrevealed and the viewer is no organizer: the
    # entries are then only the viewer's own team's, with no rank.
    ranking_hidden: bool
    viewer_team_id: int | None
    viewer_is_organizer: bool
    columns: TrackColumns = field(init=False)

    def __post_init__(self) -> None:
        self.columns = track_columns(self.phase)

    @property
    def class_names(self) -> list[str]:
        return list(self.phase.challenge.class_names)

    @property
    def detail(self) -> str | None:
        return HIDDEN_RANKING_DETAIL if self.ranking_hidden else None


def leaderboard_for_viewer(
    *,
    phase: Phase,
    user,
    full_board: Callable[[], tuple[list[LeaderboardEntry], dt.datetime | None]] | None = None,
) -> Leaderboard:
    """The board as ``user`` may see it.

    ``full_board``, if given, returns what :func:`leaderboard_entries` would (e.g. from a
    cache); it is only called for viewers who see the whole board, and its entries are not
    changed here.
    """
    is_organizer = phase.challenge.is_organizer(user)
    viewer_team_id = team_of(user=user, phase=phase)
    ranking_hidden = not phase.leaderboard_is_public and not is_organizer
    if ranking_hidden and viewer_team_id is None:
        # Nothing this viewer may see: skip the ranking query altogether.
        entries, frozen_at = [], _frozen_at(phase)
    elif not ranking_hidden and full_board is not None:
        entries, frozen_at = full_board()
    else:
        entries, frozen_at = leaderboard_entries(phase=phase)
    if ranking_hidden:
        entries = [entry for entry in entries if entry.team_id == viewer_team_id]
        for entry in entries:
            entry.rank = None
            # Whether the next team is close belongs to the hidden ranking too.
            entry.separable_from_next = False
    return Leaderboard(
        phase=phase,
        entries=entries,
        frozen_at=frozen_at,
        ranking_hidden=ranking_hidden,
        viewer_team_id=viewer_team_id,
        viewer_is_organizer=is_organizer,
    )


def _frozen_at(phase: Phase) -> dt.datetime | None:
    frozen = frozen_leaderboard_of(phase)
    return frozen.frozen_at if frozen is not None else None


@dataclass
class ScoreHistory:
    team_id: int
    team: str
    # (moment, best score so far) at every submission that raised the team's best.
    points: list[tuple[dt.datetime, float]]


def best_score_history(*, phase: Phase, teams: list[tuple[int, str]]) -> list[ScoreHistory]:
    """Each given team's best counting score over time, in the given order. One query."""
    if not teams:
        return []
    rows = (
        Submission.objects.filter(
            phase=phase,
            team_id__in=[team_id for team_id, _ in teams],
            status=Submission.Status.FINISHED,
            primary_score__isnull=False,
            is_hidden=False,
            is_disqualified=False,
            is_baseline=False,
            created_at__gte=phase.starts_at,
            created_at__lt=phase.ends_at,
        )
        .order_by("created_at", "id")
        .values_list("team_id", "created_at", "primary_score")
    )
    points: dict[int, list[tuple[dt.datetime, float]]] = {team_id: [] for team_id, _ in teams}
    for team_id, created_at, score in rows:
        series = points[team_id]
        if not series or score > series[-1][1]:
            series.append((created_at, score))
    return [
        ScoreHistory(team_id=team_id, team=name, points=points[team_id]) for team_id, name in teams
    ]
