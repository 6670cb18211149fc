"""Fixtures of the adversarial review: browsers, an organizer, a labelled phase scored in
the request's own thread."""

import pytest
from django.test import Client

from evalserver.challenges.services import phase_set_labels
from tests.factories import PhaseFactory, UserFactory
from tests.recognition_data import labels_json, random_matrix

N_CLIPS = 40


def logged_in(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def alice_web(alice):
    return logged_in(alice)


@pytest.fixture
def bob_web(bob):
    return logged_in(bob)


@pytest.fixture
def charlie_web(charlie):
    return logged_in(charlie)


@pytest.fixture
def organizer(challenge):
    user = UserFactory(username="olga")
    challenge.organizers.add(user)
    return user


@pytest.fixture
def truth():
    return random_matrix(N_CLIPS, seed=11)


@pytest.fixture
def labelled_phase(challenge, truth):
    phase = PhaseFactory(challenge=challenge, slug="test", name="Test")
    phase_set_labels(phase=phase, data=labels_json(truth), filename="labels.json")
    phase.refresh_from_db()
    return phase


@pytest.fixture
def inprocess_sync(settings):
    """No broker, and scoring inside the on-commit hook."""
    settings.EVALSERVER_INPROCESS_TASKS = True
    settings.EVALSERVER_INPROCESS_SYNC = True
