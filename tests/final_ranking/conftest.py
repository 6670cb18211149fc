"""A recognition phase scored for real (in process), optionally with a hidden split.

``Board.upload(team_user, prediction)`` submits an answer file through the submission
service and scores it at once, so every number the tests look at comes from the worker's
code path: scores, bootstrap intervals, replicate vectors and split scores.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from evalserver.challenges.services import phase_set_labels
from submissions.models import Submission
from submissions.services import submission_create
from tests.factories import PhaseFactory
from tests.recognition_data import answer_bytes, labels_json, random_matrix

START = dt.datetime(2031, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2031, 6, 1, tzinfo=dt.UTC)
DURING = START + dt.timedelta(days=10)
AFTER = END + dt.timedelta(days=1)
N_CLIPS = 240


def split_labels(truth: np.ndarray, private: np.ndarray) -> bytes:
    records = json.loads(labels_json(truth))
    for record, is_private in zip(records, private, strict=True):
        record["split"] = "private" if is_private else "public"
    return json.dumps(records).encode()


class Board:
    def __init__(self, phase, truth: np.ndarray, private: np.ndarray | None, capture):
        self.phase = phase
        self.truth = truth
        self.private = private
        self._capture = capture

    def upload(self, user, prediction: np.ndarray, *, at: dt.datetime = DURING) -> Submission:
        with time_machine.travel(at, tick=False), self._capture():
            submission = submission_create(
                user=user,
                phase=self.phase,
                upload=SimpleUploadedFile("answer.txt", answer_bytes(prediction)),
            )
        submission.refresh_from_db()
        assert submission.status == Submission.Status.FINISHED, submission.errors
        return submission

    def noisy(self, *, wrong: float, seed: int) -> np.ndarray:
        """The truth with a fraction ``wrong`` of the clips replaced by noise."""
        rng = np.random.default_rng(seed)
        prediction = self.truth.copy()
        rows = rng.random(len(prediction)) < wrong
        prediction[rows] = random_matrix(int(rows.sum()), seed=seed, density=0.15)
        return prediction


def _board(challenge, inprocess_sync, *, split: bool, **fields) -> Board:
    truth = random_matrix(N_CLIPS, seed=5)
    private = None
    fields.setdefault("max_submissions_per_day", None)
    fields.setdefault("max_submissions_total", None)
    phase = PhaseFactory(
        challenge=challenge,
        slug="final" if split else "plain",
        name="Final",
        starts_at=START,
        ends_at=END,
        **fields,
    )
    if split:
        private = np.arange(N_CLIPS) % 3 == 0
        data = split_labels(truth, private)
    else:
        data = labels_json(truth)
    phase_set_labels(phase=phase, data=data, filename="labels.json")
    phase.refresh_from_db()
    return Board(phase, truth, private, inprocess_sync)


@pytest.fixture
def board(challenge, inprocess_sync) -> Board:
    return _board(challenge, inprocess_sync, split=False)


@pytest.fixture
def split_board(challenge, inprocess_sync) -> Board:
    return _board(challenge, inprocess_sync, split=True)


@pytest.fixture(autouse=True)
def _empty_board_cache():
    from leaderboard.encoded import clear_board_cache

    clear_board_cache()
    yield
    clear_board_cache()
