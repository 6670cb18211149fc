"""The team page: create, join by invite code, leave, remove, new invite code."""

import re

import pytest
from django.urls import reverse

from evalserver.teams.models import Membership, Team
from tests.factories import ChallengeFactory, MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def _url(name, challenge, *args):
    return reverse(name, args=[challenge.slug, *args])


def _field_error(html: str, name: str) -> str:
    match = re.search(rf'data-error-for="{name}"[^>]*>(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


def test_the_team_page_needs_a_login(client, challenge):
    response = client.get(_url("team-page", challenge))
    assert response.status_code == 302


def test_a_user_without_team_sees_create_and_join_forms(charlie_web, challenge):
    html = charlie_web.get(_url("team-page", challenge)).content.decode()
    assert 'name="create-name"' in html
    assert 'name="join-invite_code"' in html


def test_creating_a_team_makes_me_its_owner(charlie_web, charlie, challenge):
    response = charlie_web.post(_url("team-create", challenge), {"create-name": "Gamma"})
    assert response.status_code == 302
    membership = Membership.objects.get(user=charlie)
    assert membership.team.name == "Gamma"
    assert membership.role == Membership.Role.OWNER
    html = charlie_web.get(_url("team-page", challenge)).content.decode()
    assert membership.team.invite_code in html


def test_a_taken_team_name_is_refused_next_to_the_field(charlie_web, alice_team, challenge):
    response = charlie_web.post(_url("team-create", challenge), {"create-name": "alpha"})
    assert response.status_code == 400
    assert "already exists" in _field_error(response.content.decode(), "create-name")


def test_joining_with_the_invite_code(charlie_web, charlie, alice_team, challenge):
    response = charlie_web.post(
        _url("team-join", challenge), {"join-invite_code": f"  {alice_team.invite_code} "}
    )
    assert response.status_code == 302
    assert Membership.objects.get(user=charlie).team == alice_team


def test_a_wrong_invite_code_is_refused_next_to_the_field(charlie_web, alice_team, challenge):
    response = charlie_web.post(
        _url("team-join", challenge), {"join-invite_code": "nope"}, follow=True
    )
    # The browser ends on the team page (a GET): a reload does not post the code again.
    assert response.redirect_chain == [(_url("team-page", challenge) + "?code=nope", 302)]
    assert response.request["REQUEST_METHOD"] == "GET"
    html = response.content.decode()
    assert "not valid" in _field_error(html, "join-invite_code")
    assert 'value="nope"' in html
    assert not Membership.objects.filter(team=alice_team, user__username="charlie").exists()
    # The message is shown once.
    again = charlie_web.get(_url("team-page", challenge)).content.decode()
    assert "not valid" not in again


def test_an_invite_code_of_another_challenge_is_refused(charlie_web, challenge):
    elsewhere = TeamFactory(challenge=ChallengeFactory(slug="other"))
    response = charlie_web.post(
        _url("team-join", challenge), {"join-invite_code": elsewhere.invite_code}, follow=True
    )
    assert "not valid" in _field_error(response.content.decode(), "join-invite_code")


def test_a_full_team_refuses_a_new_member(charlie_web, alice_team, challenge):
    challenge.max_team_size = 2
    challenge.save(update_fields=["max_team_size"])
    response = charlie_web.post(
        _url("team-join", challenge), {"join-invite_code": alice_team.invite_code}, follow=True
    )
    assert "team is full" in _field_error(response.content.decode(), "join-invite_code")


def test_the_invite_link_fills_the_code_in(charlie_web, alice_team, challenge):
    html = charlie_web.get(
        _url("team-page", challenge) + f"?code={alice_team.invite_code}"
    ).content.decode()
    assert f'value="{alice_team.invite_code}"' in html


def test_a_member_leaves(bob_web, bob, alice_team, challenge):
    response = bob_web.post(_url("team-leave", challenge))
    assert response.status_code == 302
    assert not Membership.objects.filter(user=bob).exists()


def test_leaving_without_a_team_is_404(charlie_web, challenge):
    assert charlie_web.post(_url("team-leave", challenge)).status_code == 404


def test_the_owner_removes_a_member(alice_web, bob, alice_team, challenge):
    alice_web.post(_url("team-remove-member", challenge, bob.pk))
    assert not Membership.objects.filter(user=bob).exists()


def test_a_member_cannot_remove_the_owner(bob_web, alice, alice_team, challenge):
    response = bob_web.post(_url("team-remove-member", challenge, alice.pk), follow=True)
    assert "Only the team owner" in response.content.decode()
    assert Membership.objects.filter(user=alice).exists()


def test_an_owner_cannot_remove_someone_of_another_team(
    alice_web, alice_team, charlie, charlie_team, challenge
):
    response = alice_web.post(_url("team-remove-member", challenge, charlie.pk), follow=True)
    assert "not a member of this team" in response.content.decode()
    assert Membership.objects.filter(user=charlie, team=charlie_team).exists()


def test_the_owner_makes_a_new_invite_code(alice_web, bob_web, alice_team, challenge):
    old = alice_team.invite_code
    alice_web.post(_url("team-regenerate-invite", challenge))
    alice_team.refresh_from_db()
    assert alice_team.invite_code != old
    bob_web.post(_url("team-regenerate-invite", challenge))
    assert Team.objects.get(pk=alice_team.pk).invite_code == alice_team.invite_code


def test_team_actions_only_accept_post(alice_web, alice_team, challenge):
    assert alice_web.get(_url("team-leave", challenge)).status_code == 405


def test_the_members_table_names_everybody(alice_web, alice_team, challenge):
    MembershipFactory(team=alice_team, user=UserFactory(username="dora"))
    html = alice_web.get(_url("team-page", challenge)).content.decode()
    for name in ("alice", "bob", "dora"):
        assert f"<td>{name}" in html
