"""Fixtures for the page tests: a phase with hidden labels and quotas small enough to
reach. The logged-in browsers (alice_web, ...) are in tests/conftest.py."""

import pytest

from tests.recognition_data import phase_with_labels, random_matrix

N_CLIPS = 60


@pytest.fixture
def truth():
    return random_matrix(N_CLIPS, seed=7)


@pytest.fixture
def labelled_phase(challenge, truth):
    return phase_with_labels(
        truth,
        challenge=challenge,
        slug="test",
        name="Test",
        max_submissions_per_day=3,
        max_submissions_total=10,
    )
