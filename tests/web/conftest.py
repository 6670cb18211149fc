"""Fixtures for the page tests: logged-in browsers (Django's test client) and a phase
with hidden labels, scored in the request's own thread."""

import pytest
from django.test import Client

from tests.recognition_data import phase_with_labels, random_matrix

N_CLIPS = 60


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def alice_web(alice):
    return _logged_in(alice)


@pytest.fixture
def bob_web(bob):
    return _logged_in(bob)


@pytest.fixture
def charlie_web(charlie):
    return _logged_in(charlie)


@pytest.fixture
def organizer_web(organizer):
    return _logged_in(organizer)


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
