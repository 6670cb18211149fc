import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from evalserver.teams.models import Membership
from tests.factories import MembershipFactory, PhaseFactory, TeamFactory

pytestmark = pytest.mark.django_db


def test_database_is_postgresql():
    from django.db import connection

    assert connection.vendor == "postgresql"


def test_a_user_is_in_at_most_one_team_per_challenge(alice_team, alice, challenge):
    other = TeamFactory(challenge=challenge, name="Other")
    with pytest.raises(IntegrityError), transaction.atomic():
        MembershipFactory(team=other, user=alice)


def test_a_user_may_join_teams_of_different_challenges(alice_team, alice):
    elsewhere = TeamFactory(name="Elsewhere")
    membership = MembershipFactory(team=elsewhere, user=alice)
    assert Membership.objects.filter(user=alice).count() == 2
    assert membership.challenge == elsewhere.challenge


def test_team_names_are_unique_per_challenge_ignoring_case(alice_team, challenge):
    with pytest.raises(IntegrityError), transaction.atomic():
        TeamFactory(challenge=challenge, name="ALPHA")


def test_the_same_team_name_may_be_used_in_another_challenge(alice_team):
    assert TeamFactory(name="Alpha").name == "Alpha"


def test_phase_slugs_are_unique_per_challenge(phase, challenge):
    with pytest.raises(IntegrityError), transaction.atomic():
        PhaseFactory(challenge=challenge, slug=phase.slug)


def test_a_phase_must_end_after_it_starts(challenge):
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        PhaseFactory(challenge=challenge, starts_at=now, ends_at=now - dt.timedelta(seconds=1))


def test_phase_is_open_only_inside_its_dates_and_when_switched_open(phase):
    inside = phase.starts_at + dt.timedelta(seconds=1)
    assert phase.is_open_at(inside)
    assert not phase.is_open_at(phase.starts_at - dt.timedelta(seconds=1))
    assert not phase.is_open_at(phase.ends_at)
    phase.is_open = False
    assert not phase.is_open_at(inside)
