"""Fixtures for the submission pipeline: labelled phases, answer files, and real workers.

Worker tests (marked ``pipeline``) start their own ``redis-server`` on a free port and
real ``celery -A evalserver worker`` processes pointed at the test database, so they
need ``@pytest.mark.django_db(transaction=True)``: a worker only sees committed rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from submissions.models import Submission
from tests.processes import (  # noqa: F401 (fixtures, and helpers the tests import from here)
    celery_processes,
    redis_server,
    start_worker,
    wait_until,
)
from tests.recognition_data import answer_bytes, phase_with_labels, random_matrix

N_CLIPS = 200


class LabelledPhase:
    """A phase with hidden labels and a way to make answer files with known scores."""

    def __init__(self, phase, truth: np.ndarray):
        self.phase = phase
        self.truth = truth
        self._seed = 100

    def prediction(self) -> np.ndarray:
        self._seed += 1
        return random_matrix(len(self.truth), seed=self._seed, density=0.15)

    def upload(self, prediction: np.ndarray | None = None, name: str = "answer.txt"):
        prediction = self.prediction() if prediction is None else prediction
        return SimpleUploadedFile(name, answer_bytes(prediction)), prediction


@pytest.fixture
def labelled_phase(challenge) -> LabelledPhase:
    truth = random_matrix(N_CLIPS, seed=7)
    phase = phase_with_labels(
        truth,
        challenge=challenge,
        slug="test",
        name="Test",
        max_submissions_per_day=5,
        max_submissions_total=100,
    )
    return LabelledPhase(phase, truth)


# --- Real Redis and real workers (tests/processes.py) ---------------------------------------


def wait_for_status(submission: Submission, statuses: set[str], *, timeout: float = 60):
    def done():
        submission.refresh_from_db()
        return submission.status in statuses

    wait_until(done, timeout=timeout, what=f"submission {submission.pk} to reach {statuses}")
    return submission
