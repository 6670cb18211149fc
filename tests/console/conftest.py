"""A phase with three ranked teams whose ranking a label fix turns around, and the people
the console's scoping is tested with: another challenge's organizer (otto), a participant
(alice) and an anonymous visitor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from evalserver.teams.models import Membership
from submissions.models import Submission
from submissions.services import submission_create
from tests.clients import logged_in
from tests.factories import ChallengeFactory, MembershipFactory, TeamFactory, UserFactory

# The real-worker fixtures of the pipeline suite, for the preview's worker-death test.
from tests.pipeline.conftest import labelled_phase  # noqa: F401
from tests.processes import celery_processes, redis_server, start_worker  # noqa: F401
from tests.recognition_data import answer_bytes, labels_json, phase_with_labels, random_matrix

N = 60


def fixed_truth(truth: np.ndarray) -> np.ndarray:
    """The corrected labels: a tenth of the clips relabelled."""
    fixed = truth.copy()
    fixed[::10] = random_matrix(len(fixed[::10]), seed=99)
    return fixed


@dataclass
class Board:
    phase: object
    truth: np.ndarray
    fixed: np.ndarray
    predictions: dict[str, np.ndarray]
    submissions: dict[str, Submission]

    @property
    def fixed_labels(self) -> bytes:
        return labels_json(self.fixed)

    def upload(self, user, prediction: np.ndarray) -> Submission:
        return submission_create(
            user=user,
            phase=self.phase,
            upload=SimpleUploadedFile("answer.txt", answer_bytes(prediction)),
        )


@pytest.fixture
def dave(db):
    return UserFactory(username="dave")


@pytest.fixture
def dave_team(challenge, dave):
    team = TeamFactory(challenge=challenge, name="Delta", created_by=dave)
    MembershipFactory(team=team, user=dave, role=Membership.Role.OWNER)
    return team


def make_board(challenge, users: dict[str, object], *, sync) -> Board:
    truth = random_matrix(N, seed=7)
    fixed = fixed_truth(truth)
    phase = phase_with_labels(
        truth, challenge=challenge, slug="final", name="Final", max_submissions_per_day=None
    )
    # Alpha is perfect on the old labels, Charlie's on the new ones: the fix swaps them.
    predictions = {
        "alice": truth,
        "charlie": fixed,
        "dave": random_matrix(N, seed=3, density=0.3),
    }
    board = Board(phase, truth, fixed, predictions, {})
    with sync():
        for name, prediction in predictions.items():
            board.submissions[name] = board.upload(users[name], prediction)
    for submission in board.submissions.values():
        submission.refresh_from_db()
        assert submission.status == Submission.Status.FINISHED, submission.errors
    return board


@pytest.fixture
def board(challenge, alice, alice_team, charlie, charlie_team, dave, dave_team, inprocess_sync):
    return make_board(
        challenge, {"alice": alice, "charlie": charlie, "dave": dave}, sync=inprocess_sync
    )


@pytest.fixture
def otto(db):
    """otto organizes another challenge only."""
    user = UserFactory(username="otto")
    ChallengeFactory(slug="other-challenge").organizers.add(user)
    return user


@pytest.fixture
def otto_api(otto):
    client = APIClient()
    client.force_authenticate(user=otto)
    return client


@pytest.fixture
def otto_web(otto):
    return logged_in(otto)
