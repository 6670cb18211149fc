"""Team endpoints: create, join, detail, leave, remove a member, regenerate the code."""

import pytest

from evalserver.teams.models import Membership, Team
from tests.factories import ChallengeFactory, UserFactory

pytestmark = pytest.mark.django_db


def _create(client, slug, name):
    return client.post(f"/api/v1/challenges/{slug}/teams/", {"name": name}, format="json")


def _join(client, team, code):
    return client.post(f"/api/v1/teams/{team.pk}/join/", {"invite_code": code}, format="json")


def test_create_a_team_makes_the_caller_its_owner(challenge, charlie_api, charlie):
    response = _create(charlie_api, challenge.slug, "Gamma")
    assert response.status_code == 201
    body = response.json()
    team = Team.objects.get(pk=body["id"])
    assert body == {"id": team.pk, "name": "Gamma", "invite_code": team.invite_code}
    assert Membership.objects.get(team=team, user=charlie).role == "owner"


def test_create_a_second_team_in_the_same_challenge_is_a_conflict(alice_team, alice_api):
    response = _create(alice_api, alice_team.challenge.slug, "Beta")
    assert response.status_code == 409
    assert "already in a team" in response.json()["detail"]


def test_a_team_name_is_unique_per_challenge_ignoring_case(alice_team, charlie_api):
    response = _create(charlie_api, alice_team.challenge.slug, "aLpHa")
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]


def test_create_in_an_unknown_or_unpublished_challenge_is_404(charlie_api):
    assert _create(charlie_api, "nope", "Gamma").status_code == 404
    hidden = ChallengeFactory(is_published=False)
    response = _create(charlie_api, hidden.slug, "Gamma")
    assert response.status_code == 404
    assert response.json()["detail"]


def test_create_without_a_name_is_400(challenge, charlie_api):
    response = charlie_api.post(f"/api/v1/challenges/{challenge.slug}/teams/", {}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    assert _create(charlie_api, challenge.slug, "   ").status_code == 400


def test_join_with_the_invite_code(alice_team, alice):
    dora = UserFactory(username="dora")
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(dora)
    response = _join(client, alice_team, alice_team.invite_code)
    assert response.status_code == 200
    assert [m["username"] for m in response.json()["members"]] == ["alice", "bob", "dora"]
    assert response.json()["members"][0]["role"] == "owner"


def test_join_with_a_wrong_invite_code_is_403(alice_team, charlie_api):
    response = _join(charlie_api, alice_team, "not-the-code")
    assert response.status_code == 403
    assert "invite code" in response.json()["detail"]


def test_joining_a_second_team_in_the_same_challenge_is_a_conflict(
    alice_team, charlie_team, charlie_api
):
    response = _join(charlie_api, alice_team, alice_team.invite_code)
    assert response.status_code == 409
    assert "already in a team" in response.json()["detail"]
    assert Membership.objects.filter(user__username="charlie").count() == 1


def test_joining_a_full_team_is_a_conflict(alice_team, charlie_api, challenge):
    challenge.max_team_size = 2
    challenge.save(update_fields=["max_team_size"])
    response = _join(charlie_api, alice_team, alice_team.invite_code)
    assert response.status_code == 409
    assert "full" in response.json()["detail"]


def test_joining_an_unknown_team_is_404(charlie_api):
    response = charlie_api.post("/api/v1/teams/999999/join/", {"invite_code": "x"}, format="json")
    assert response.status_code == 404


def test_team_detail_is_for_members_only(alice_team, bob_api, charlie_api):
    response = bob_api.get(f"/api/v1/teams/{alice_team.pk}/")
    assert response.status_code == 200
    assert response.json()["invite_code"] == alice_team.invite_code
    assert response.json()["challenge"] == alice_team.challenge.slug
    assert charlie_api.get(f"/api/v1/teams/{alice_team.pk}/").status_code == 404


def test_my_teams_lists_the_callers_teams_with_role(alice_team, alice_api, bob_api, charlie_team):
    assert alice_api.get("/api/v1/teams/").json()["results"] == [
        {
            "id": alice_team.pk,
            "name": "Alpha",
            "challenge": alice_team.challenge.slug,
            "role": "owner",
        }
    ]
    assert bob_api.get("/api/v1/teams/").json()["results"][0]["role"] == "member"


def test_leave(alice_team, bob_api, bob, charlie_api):
    assert charlie_api.post(f"/api/v1/teams/{alice_team.pk}/leave/").status_code == 404
    assert bob_api.post(f"/api/v1/teams/{alice_team.pk}/leave/").status_code == 204
    assert not Membership.objects.filter(team=alice_team, user=bob).exists()


def test_owner_removes_a_member(alice_team, alice_api, bob_api, charlie_api, alice, bob):
    url = f"/api/v1/teams/{alice_team.pk}/members/{alice.pk}/"
    response = bob_api.delete(url)
    assert response.status_code == 403
    assert "owner" in response.json()["detail"]
    assert charlie_api.delete(url).status_code == 404

    assert alice_api.delete(f"/api/v1/teams/{alice_team.pk}/members/{bob.pk}/").status_code == 204
    assert not Membership.objects.filter(team=alice_team, user=bob).exists()
    assert alice_api.delete(f"/api/v1/teams/{alice_team.pk}/members/{bob.pk}/").status_code == 404
    assert alice_api.delete(f"/api/v1/teams/{alice_team.pk}/members/999999/").status_code == 404
    response = alice_api.delete(url)
    assert response.status_code == 400
    assert "leave" in response.json()["detail"]


def test_owner_regenerates_the_invite_code(alice_team, alice_api, bob_api, charlie_api):
    url = f"/api/v1/teams/{alice_team.pk}/invite-code/"
    old = alice_team.invite_code
    assert bob_api.post(url).status_code == 403
    assert charlie_api.post(url).status_code == 404
    response = alice_api.post(url)
    assert response.status_code == 200
    new = response.json()["invite_code"]
    assert new != old
    alice_team.refresh_from_db()
    assert alice_team.invite_code == new


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/challenges/tinyactions-test/teams/"),
        ("get", "/api/v1/teams/"),
        ("get", "/api/v1/teams/1/"),
        ("post", "/api/v1/teams/1/join/"),
        ("post", "/api/v1/teams/1/leave/"),
        ("delete", "/api/v1/teams/1/members/1/"),
        ("post", "/api/v1/teams/1/invite-code/"),
    ],
)
def test_team_endpoints_need_authentication(api, challenge, method, path):
    response = getattr(api, method)(path)
    assert response.status_code == 401
    assert "credentials" in response.json()["detail"]
