"""The account and team services that both the pages and the API call."""

import threading

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from evalserver.accounts import services as accounts
from evalserver.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from evalserver.teams import selectors as team_selectors
from evalserver.teams import services as teams
from evalserver.teams.models import Membership, Team
from tests.factories import (
    ChallengeFactory,
    MembershipFactory,
    SubmissionFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


# --- accounts ----------------------------------------------------------------------------


def test_user_create_makes_an_account_that_can_log_in():
    user = accounts.user_create(
        username="dora", email="Dora@Example.ORG", password="a sturdy pw 91"
    )
    assert user.check_password("a sturdy pw 91")
    assert user.email == "Dora@example.org"


@pytest.mark.parametrize(
    ("field", "kwargs", "fragment"),
    [
        ("password", {"password": "short"}, "too short"),
        ("password", {"password": "12345678901"}, "entirely numeric"),
        ("password", {"password": "password123"}, "too common"),
        ("password", {"password": "dorathexplorer"}, "too similar"),
        ("username", {"username": "no spaces allowed"}, "valid username"),
        ("username", {"username": ""}, "required"),
        ("email", {"email": "not-an-address"}, "valid email"),
        ("email", {"email": ""}, "required"),
    ],
)
def test_user_create_refuses_bad_input_naming_the_field(field, kwargs, fragment):
    data = {"username": "dorathexplorer", "email": "dora@example.org", "password": "a sturdy pw 91"}
    data.update(kwargs)
    with pytest.raises(accounts.AccountInvalid) as info:
        accounts.user_create(**data)
    assert fragment in " ".join(info.value.field_errors[field])


def test_user_create_refuses_a_taken_username_or_email_ignoring_case(alice):
    with pytest.raises(accounts.AccountInvalid) as info:
        accounts.user_create(username="ALICE", email="ALICE@example.org", password="a sturdy pw 91")
    assert set(info.value.field_errors) == {"username", "email"}


def test_token_rotate_replaces_the_key(alice):
    old = accounts.token_get_or_create(user=alice).key
    new = accounts.token_rotate(user=alice).key
    assert new != old
    assert list(Token.objects.filter(user=alice).values_list("key", flat=True)) == [new]


# --- teams -------------------------------------------------------------------------------


def test_team_create_makes_the_creator_owner(challenge, charlie):
    team = teams.team_create(user=charlie, challenge=challenge, name="  The   Cs ")
    assert team.name == "The Cs"
    assert team_selectors.team_for_user(user=charlie, challenge=challenge) == team
    assert team_selectors.is_team_owner(user=charlie, team=team)


def test_team_create_refuses_a_second_team_and_a_taken_name(alice_team, alice, charlie, challenge):
    with pytest.raises(Conflict, match="already in a team"):
        teams.team_create(user=alice, challenge=challenge, name="Beta")
    with pytest.raises(Conflict, match="already exists"):
        teams.team_create(user=charlie, challenge=challenge, name="ALPHA")
    with pytest.raises(ValidationFailed, match="required"):
        teams.team_create(user=charlie, challenge=challenge, name="   ")


def test_team_join_with_the_right_code(alice_team, charlie):
    membership = teams.team_join(user=charlie, team=alice_team, invite_code=alice_team.invite_code)
    assert membership.role == Membership.Role.MEMBER
    assert membership.challenge_id == alice_team.challenge_id


def test_team_join_refusals(alice_team, charlie_team, charlie, bob, challenge):
    with pytest.raises(PermissionDenied, match="invite code"):
        teams.team_join(user=charlie, team=alice_team, invite_code="wrong")
    with pytest.raises(Conflict, match="already in a team"):
        teams.team_join(user=charlie, team=alice_team, invite_code=alice_team.invite_code)
    with pytest.raises(Conflict, match="already a member"):
        teams.team_join(user=bob, team=alice_team, invite_code=alice_team.invite_code)
    challenge.max_team_size = 2
    challenge.save(update_fields=["max_team_size"])
    newcomer = UserFactory()
    with pytest.raises(Conflict, match="full"):
        teams.team_join(user=newcomer, team=alice_team, invite_code=alice_team.invite_code)


def test_team_leave_hands_ownership_to_the_longest_member(alice_team, alice, bob):
    teams.team_leave(user=alice, team=alice_team)
    assert team_selectors.is_team_owner(user=bob, team=alice_team)
    assert [m.user for m in team_selectors.team_members(team=alice_team)] == [bob]


def test_the_last_member_leaving_deletes_a_team_without_submissions(charlie_team, charlie):
    teams.team_leave(user=charlie, team=charlie_team)
    assert not Team.objects.filter(pk=charlie_team.pk).exists()


def test_the_last_member_leaving_keeps_a_team_with_submissions(charlie_team, charlie, phase):
    SubmissionFactory(team=charlie_team, phase=phase, submitted_by=charlie)
    teams.team_leave(user=charlie, team=charlie_team)
    assert Team.objects.filter(pk=charlie_team.pk).exists()
    assert not team_selectors.team_members(team=charlie_team).exists()


def test_leaving_a_team_you_are_not_in_is_not_found(alice_team, charlie):
    with pytest.raises(NotFound):
        teams.team_leave(user=charlie, team=alice_team)


def test_only_the_owner_removes_members_and_regenerates_the_code(alice_team, alice, bob, charlie):
    with pytest.raises(PermissionDenied, match="owner"):
        teams.team_remove_member(actor=bob, team=alice_team, user=alice)
    with pytest.raises(PermissionDenied, match="owner"):
        teams.team_regenerate_invite(actor=bob, team=alice_team)
    with pytest.raises(NotFound):
        teams.team_regenerate_invite(actor=charlie, team=alice_team)
    with pytest.raises(NotFound, match="not a member"):
        teams.team_remove_member(actor=alice, team=alice_team, user=charlie)
    with pytest.raises(ValidationFailed, match="leave"):
        teams.team_remove_member(actor=alice, team=alice_team, user=alice)

    old = alice_team.invite_code
    new = teams.team_regenerate_invite(actor=alice, team=alice_team)
    assert new != old
    with pytest.raises(PermissionDenied):
        teams.team_join(user=charlie, team=alice_team, invite_code=old)

    teams.team_remove_member(actor=alice, team=alice_team, user=bob)
    assert not Membership.objects.filter(team=alice_team, user=bob).exists()


def _race(functions):
    errors: list[Exception] = []
    barrier = threading.Barrier(len(functions))

    def run(function):
        try:
            barrier.wait()
            function()
        except Exception as exc:  # the test inspects what each thread raised
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(f,)) for f in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_never_pass_the_team_size_cap():
    challenge = ChallengeFactory(max_team_size=3)
    team = TeamFactory(challenge=challenge)
    MembershipFactory(team=team, role=Membership.Role.OWNER)
    joiners = [UserFactory() for _ in range(6)]
    errors = _race(
        [
            lambda u=u: teams.team_join(user=u, team=team, invite_code=team.invite_code)
            for u in joiners
        ]
    )
    assert Membership.objects.filter(team=team).count() == 3
    assert len(errors) == 4
    assert all(isinstance(e, Conflict) and "full" in e.message for e in errors)


@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_of_two_teams_leave_the_user_in_one():
    challenge = ChallengeFactory()
    first, second = TeamFactory(challenge=challenge), TeamFactory(challenge=challenge)
    user = UserFactory()
    errors = _race(
        [
            lambda t=t: teams.team_join(user=user, team=t, invite_code=t.invite_code)
            for t in (first, second)
        ]
    )
    assert Membership.objects.filter(user=user, challenge=challenge).count() == 1
    assert len(errors) == 1
    assert isinstance(errors[0], Conflict)
