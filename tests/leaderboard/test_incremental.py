"""A team's change re-places its entry in the cached board (leaderboard.live, issue 12).

The patched board must equal a board ranked anew, to the byte: the same entries in the
same order, ranks, intervals and ``separable_from_next``. Random sequences of finishes
(scored for real, and made directly with chosen scores, dates and replicate vectors so
that ties and inseparable neighbours occur), hides, disqualifications, baselines, re-runs,
deletions, renames and whole-board changes are applied through the services, and after
each step the process's board is compared with one ranked from scratch.
"""

from __future__ import annotations

import gzip
import random
import threading

import numpy as np
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from evalserver.challenges.models import Phase
from evalserver.challenges.services import phase_set_labels
from evalserver.scoring import bootstrap
from leaderboard import encoded, intervals, live
from leaderboard.models import TEAM_CHANGES_KEPT, LeaderboardVersion
from leaderboard.selectors import leaderboard_ranking_rows
from leaderboard.services import leaderboard_changed
from submissions.models import Submission, SubmissionEvaluation
from submissions.services import submission_rerun, submission_score, submission_set_flags
from tests.factories import SubmissionFactory, TeamFactory
from tests.leaderboard.conftest import at, scored
from tests.recognition_data import answer_bytes, labels_json, random_matrix

N_CLIPS = 60


@pytest.fixture(autouse=True)
def _small_gzip_chunks(monkeypatch):
    # Several chunks even on a board of a few teams, so that reused and fresh ones mix.
    monkeypatch.setattr(encoded, "GZIP_CHUNK_ENTRIES", 2)


def fresh(phase) -> Phase:
    # As a request loads it.
    return Phase.objects.select_related(
        "challenge", "frozen_leaderboard", "leaderboard_version"
    ).get(pk=phase.pk)


def rebuilt(phase) -> tuple[list, bytes]:
    """The board ranked and encoded from scratch, touching no cache."""
    token = phase.leaderboard_version.token if hasattr(phase, "leaderboard_version") else None
    board = live.ranked_anew(phase, token)
    return list(board.rows), encoded.encode_live_rows(phase, board.rows).body


def assert_same_as_rebuilt(phase) -> str:
    """Compare the process's board with one ranked anew; say how it was made."""
    phase = fresh(phase)
    with CaptureQueriesContext(connection) as queries:
        board = live.live_board(phase=phase)
    rows, body = rebuilt(phase)
    assert list(board.rows) == rows
    # The page's and CSV's ranking, flags worked out by the whole-board path.
    intervals.clear()
    assert [row for row in leaderboard_ranking_rows(phase=phase)] == rows
    served = encoded.encoded_board(phase=phase)
    assert served.body == body
    # Compressed in chunks, those the previous board shares kept (see the fixture below).
    assert gzip.decompress(served.body_gzip) == body
    if not queries.captured_queries:
        return "hit"
    assert len(queries.captured_queries) == 1
    return "patched" if "team_id IN" in queries.captured_queries[0]["sql"] else "ranked"


def _vector(rng, score: float) -> bytes | None:
    if rng.random() < 0.15:
        return None  # scored before intervals existed
    return bootstrap.replicates_to_bytes(rng.normal(score, 0.01, bootstrap.DEFAULT_REPLICATES))


class Steps:
    def __init__(self, phase, teams, organizer, seed: int):
        self.phase = phase
        self.teams = teams
        self.organizer = organizer
        self.rng = random.Random(seed)
        self.nrng = np.random.default_rng(seed)
        self.truth = random_matrix(N_CLIPS, seed=seed)

    def finished(self) -> list[Submission]:
        return list(
            Submission.objects.filter(phase=self.phase, status=Submission.Status.FINISHED).order_by(
                "pk"
            )
        )

    def finish_scored(self) -> None:
        """Upload-like: queued with an answer file, scored by the worker's code."""
        prediction = self.truth.copy()
        wrong = self.nrng.random(N_CLIPS) < self.rng.choice([0.1, 0.3, 0.5])
        prediction[wrong] = random_matrix(int(wrong.sum()), seed=self.rng.randrange(1000))
        queued = SubmissionFactory(
            phase=self.phase,
            team=self.rng.choice(self.teams),
            submitted_by=None,
            created_at=at(self.rng.choice([1, 2, 3])),
            file__data=answer_bytes(prediction),
        )
        assert submission_score(submission_id=queued.pk) == "finished"

    def finish_made(self) -> None:
        """Scores, dates and vectors chosen so that ties and close neighbours occur."""
        score = self.rng.choice([0.2, 0.4, 0.4, 0.5, 0.5, 0.5, 0.6, 0.8])
        blob = _vector(self.nrng, score + self.rng.choice([0.0, 0.005]))
        with transaction.atomic():
            made = scored(
                self.phase,
                self.rng.choice(self.teams),
                score,
                at=at(self.rng.choice([1, 1, 2, 4])),
                is_baseline=self.rng.random() < 0.08,
            )
            if blob is not None:
                SubmissionEvaluation.objects.create(submission=made, replicates=blob)

    def flag(self) -> None:
        candidates = list(Submission.objects.filter(phase=self.phase).order_by("pk"))
        if not candidates:
            return
        target = self.rng.choice(candidates)
        field = self.rng.choice(["hidden", "disqualified", "baseline"])
        current = getattr(target, f"is_{field}")
        submission_set_flags(submission=target, actor=self.organizer, **{field: not current})

    def rerun(self) -> None:
        candidates = self.finished()
        if candidates:
            submission_rerun(submission=self.rng.choice(candidates), actor=self.organizer)

    def delete(self) -> None:
        candidates = self.finished()
        if candidates:
            self.rng.choice(candidates).delete()

    def rename(self) -> None:
        team = self.rng.choice(self.teams)
        team.name = f"{team.name[:20]}-{self.rng.randrange(100)}"
        team.save(update_fields=["name"])

    def whole(self) -> None:
        leaderboard_changed(phase_ids=[self.phase.pk])

    def random_step(self) -> str:
        step = self.rng.choices(
            ["finish_scored", "finish_made", "flag", "rerun", "delete", "rename", "whole"],
            weights=[2, 8, 5, 1, 1, 1, 0.5],
        )[0]
        getattr(self, step)()
        return step


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_changes_patch_the_board_as_a_new_ranking_would(phase, challenge, organizer, seed):
    phase_set_labels(phase=phase, data=labels_json(random_matrix(N_CLIPS, seed=seed)), filename="l")
    teams = [TeamFactory(challenge=challenge, name=f"Team {k}") for k in range(7)]
    steps = Steps(fresh(phase), teams, organizer, seed)
    for _ in range(8):
        steps.finish_made()
    steps.finish_scored()
    how = [assert_same_as_rebuilt(phase)]
    for _ in range(60):
        steps.random_step()
        # Sometimes several changes pile up before the board is read again.
        if steps.rng.random() < 0.7:
            how.append(assert_same_as_rebuilt(phase))
    how.append(assert_same_as_rebuilt(phase))
    # The point of it: most reads after a change re-placed a team, not the board.
    assert how.count("patched") > 2 * how.count("ranked"), how


@pytest.mark.django_db
def test_a_patch_reads_one_team_and_recomputes_only_changed_neighbours(phase, challenge):
    teams = [TeamFactory(challenge=challenge, name=f"Team {k}") for k in range(5)]
    rng = np.random.default_rng(4)
    made = {}
    for k, team in enumerate(teams):
        made[k] = scored(phase, team, 0.5 + 0.1 * k, at=at(1))
        SubmissionEvaluation.objects.create(
            submission=made[k],
            replicates=bootstrap.replicates_to_bytes(
                rng.normal(0.5 + 0.1 * k, 0.01, bootstrap.DEFAULT_REPLICATES)
            ),
        )
    before = live.live_board(phase=fresh(phase))
    assert [row.rank for row in before.rows] == [1, 2, 3, 4, 5]
    assert [row.separable_from_next for row in before.rows] == [True] * 4 + [False]
    # Team 0 (last) jumps to the middle, next to team 2 and inseparable from it.
    better = scored(phase, teams[0], 0.7, at=at(2))
    SubmissionEvaluation.objects.create(
        submission=better,
        replicates=bootstrap.replicates_to_bytes(
            rng.normal(0.7, 0.01, bootstrap.DEFAULT_REPLICATES) * 0 + 0.7
        ),
    )
    version = LeaderboardVersion.objects.get(phase=phase)
    assert version.team_changes[-1] == [version.token.hex, teams[0].pk]
    assert assert_same_as_rebuilt(phase) == "patched"
    after = live.live_board(phase=fresh(phase))
    assert [(row.team_id, row.rank) for row in after.rows] == [
        (teams[4].pk, 1),
        (teams[3].pk, 2),
        (teams[2].pk, 3),
        (teams[0].pk, 4),
        (teams[1].pk, 5),
    ]
    assert after.rows[0] is before.rows[0]  # untouched entries are the same objects


@pytest.mark.django_db
def test_a_board_older_than_the_log_is_ranked_anew(phase, alice_team, charlie_team):
    scored(phase, charlie_team, 0.3, at=at(1))
    assert assert_same_as_rebuilt(phase) == "ranked"
    for k in range(TEAM_CHANGES_KEPT + 1):
        scored(phase, alice_team, 0.01 * k, at=at(1))
    log = LeaderboardVersion.objects.get(phase=phase).team_changes
    assert len(log) == TEAM_CHANGES_KEPT
    assert assert_same_as_rebuilt(phase) == "ranked"
    scored(phase, charlie_team, 0.9, at=at(2))
    assert assert_same_as_rebuilt(phase) == "patched"
    # A change of the whole board starts the log afresh: older boards cannot be patched.
    leaderboard_changed(phase_ids=[phase.pk])
    version = LeaderboardVersion.objects.get(phase=phase)
    assert version.team_changes == [[version.token.hex, None]]
    assert assert_same_as_rebuilt(phase) == "ranked"


@pytest.mark.django_db(transaction=True)
def test_two_teams_changed_at_once_are_both_on_the_board(phase, alice_team, charlie_team):
    """Two workers finishing two teams' submissions at the same moment: the second waits
    for the first's lock on the version row and appends after it; nothing is lost."""
    scored(phase, alice_team, 0.2, at=at(1))
    scored(phase, charlie_team, 0.3, at=at(1))
    assert assert_same_as_rebuilt(phase) == "ranked"
    first_locked = threading.Event()
    errors = []

    def finish(team, score: float, *, hold: bool) -> None:
        try:
            with transaction.atomic():
                made = SubmissionFactory(
                    phase=phase,
                    team=team,
                    submitted_by=None,
                    created_at=at(2),
                    status=Submission.Status.RUNNING,
                )
                Submission.objects.filter(pk=made.pk).update(
                    status=Submission.Status.FINISHED, primary_score=score, scores={}
                )
                if not hold:
                    first_locked.wait(10)
                leaderboard_changed(phase_ids=[phase.pk], team_id=team.pk)
                if hold:
                    first_locked.set()
                    # Keep the version row locked while the other worker tries to append.
                    threading.Event().wait(0.5)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [
        threading.Thread(target=finish, args=(alice_team, 0.9), kwargs={"hold": True}),
        threading.Thread(target=finish, args=(charlie_team, 0.8), kwargs={"hold": False}),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert not errors
    log = LeaderboardVersion.objects.get(phase=phase).team_changes
    assert [team for _, team in log[-2:]] == [alice_team.pk, charlie_team.pk]
    assert assert_same_as_rebuilt(phase) == "patched"
    board = live.live_board(phase=fresh(phase))
    assert [(row.team_id, row.primary_score) for row in board.rows] == [
        (alice_team.pk, 0.9),
        (charlie_team.pk, 0.8),
    ]
