"""Fixtures shared by every test: the personas and API clients.

alice owns a team, bob is her teammate, charlie is in another team of the same challenge.
"""

import pytest
from rest_framework.test import APIClient

from evalserver.teams.models import Membership
from tests.clients import logged_in
from tests.factories import (
    ChallengeFactory,
    MembershipFactory,
    PhaseFactory,
    TeamFactory,
    UserFactory,
)


@pytest.fixture(autouse=True)
def _private_data_dir(settings, tmp_path):
    # Every test stores uploads and labels in its own folder, never in the developer's var/.
    uploads = tmp_path / "uploads"
    labels = tmp_path / "labels"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(uploads), "base_url": None},
        },
        "labels": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(labels), "base_url": None},
        },
    }
    settings.UPLOAD_ROOT = uploads
    settings.LABELS_ROOT = labels


@pytest.fixture(autouse=True)
def _no_in_process_sweeper(settings):
    # A sweeper thread would score other tests' committed submissions behind their backs;
    # tests/hardening/test_sweeper.py starts it itself.
    settings.EVALSERVER_INPROCESS_SWEEP = False


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The real hasher costs ~0.4 s a user by design; tests create many users and test no hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def challenge(db):
    return ChallengeFactory(slug="tinyactions-test", title="TinyActions Test")


@pytest.fixture
def phase(challenge):
    return PhaseFactory(challenge=challenge, slug="dev", name="Validation")


@pytest.fixture
def phase_labelled(phase):
    """``phase`` with hidden labels (``labelled_truth()``): a phase without any refuses uploads."""
    from evalserver.challenges.services import phase_set_labels
    from tests.recognition_data import labelled_truth, labels_json

    phase_set_labels(phase=phase, data=labels_json(labelled_truth()), filename="l.json")
    phase.refresh_from_db()
    return phase


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def charlie(db):
    return UserFactory(username="charlie")


@pytest.fixture
def alice_team(challenge, alice, bob):
    team = TeamFactory(challenge=challenge, name="Alpha", created_by=alice)
    MembershipFactory(team=team, user=alice, role=Membership.Role.OWNER)
    MembershipFactory(team=team, user=bob, role=Membership.Role.MEMBER)
    return team


@pytest.fixture
def charlie_team(challenge, charlie):
    team = TeamFactory(challenge=challenge, name="Charlie's", created_by=charlie)
    MembershipFactory(team=team, user=charlie, role=Membership.Role.OWNER)
    return team


@pytest.fixture
def organizer(challenge):
    """olga organizes the challenge and is in no team."""
    user = UserFactory(username="olga")
    challenge.organizers.add(user)
    return user


@pytest.fixture
def inprocess_sync(settings, django_capture_on_commit_callbacks):
    """Score inside the on-commit hook, with no broker: a test sees the result at once.

    Returns a context manager: on-commit hooks registered inside it (the enqueue of an
    upload or a re-run) run when it exits, as they would when a request's commit lands.
    """
    settings.EVALSERVER_INPROCESS_TASKS = True
    settings.EVALSERVER_INPROCESS_SYNC = True
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def alice_api(alice):
    return _client_for(alice)


@pytest.fixture
def bob_api(bob):
    return _client_for(bob)


@pytest.fixture
def charlie_api(charlie):
    return _client_for(charlie)


@pytest.fixture
def organizer_api(organizer):
    return _client_for(organizer)


# Browsers (Django's test client) with the personas' sessions, for the page tests.


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
def organizer_web(organizer):
    return logged_in(organizer)


def pytest_collection_modifyitems(config, items):
    # Playwright's sync API leaves an asyncio loop on the main thread for the rest of the
    # session, after which Django's async_to_sync (django-health-check's /readyz, the
    # request-body limit) refuses to run there: the browser tests go last.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
