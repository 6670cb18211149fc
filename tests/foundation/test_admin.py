"""The organizers' admin: lists render, the open switch is editable from the phase list."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from evalserver.challenges.models import Phase
from evalserver.teams.models import Membership
from tests.factories import PhaseFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def organizer(db):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    return user


@pytest.fixture
def admin_client(client, organizer):
    client.force_login(organizer)
    return client


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:challenges_challenge_changelist",
        "admin:challenges_phase_changelist",
        "admin:teams_team_changelist",
        "admin:accounts_user_changelist",
        "admin:challenges_challenge_add",
        "admin:challenges_phase_add",
        "admin:teams_team_add",
    ],
)
def test_admin_pages_render_for_a_superuser(admin_client, phase, alice_team, url_name):
    response = admin_client.get(reverse(url_name))
    assert response.status_code == 200


def test_change_pages_show_the_inlines(admin_client, phase, alice_team):
    page = admin_client.get(reverse("admin:challenges_challenge_change", args=[phase.challenge.pk]))
    assert page.status_code == 200
    assert b'name="phases-0-slug"' in page.content
    page = admin_client.get(reverse("admin:teams_team_change", args=[alice_team.pk]))
    assert page.status_code == 200
    assert b'name="memberships-0-user"' in page.content


def test_admin_pages_are_for_staff_only(client, alice):
    client.force_login(alice)
    response = client.get(reverse("admin:challenges_phase_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_is_open_is_editable_in_the_phase_list(admin_client, phase):
    other = PhaseFactory(challenge=phase.challenge, slug="test", is_open=True)
    url = reverse("admin:challenges_phase_changelist")
    page = admin_client.get(url)
    assert b'name="form-0-is_open"' in page.content

    ordered = list(Phase.objects.order_by("challenge", "order", "starts_at", "id"))
    data = {
        "form-TOTAL_FORMS": str(len(ordered)),
        "form-INITIAL_FORMS": str(len(ordered)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for i, p in enumerate(ordered):
        data[f"form-{i}-id"] = str(p.pk)
        if p.pk == other.pk:
            data[f"form-{i}-is_open"] = "on"
    response = admin_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    phase.refresh_from_db()
    other.refresh_from_db()
    assert phase.is_open is False
    assert other.is_open is True


def test_labels_can_be_replaced_from_the_phase_page(admin_client, phase):
    url = reverse("admin:challenges_phase_change", args=[phase.pk])
    form = _phase_form(phase)
    labels = json.dumps([{"id": "00000", "label": ["Pull"]}]).encode()
    form["replace_labels"] = SimpleUploadedFile("tiny_val_v2.json", labels)

    response = admin_client.post(url, form)

    assert response.status_code == 302
    phase.refresh_from_db()
    assert phase.n_items == 1
    assert phase.labels_sha256


def test_bad_labels_are_refused_on_the_phase_page(admin_client, phase):
    url = reverse("admin:challenges_phase_change", args=[phase.pk])
    form = _phase_form(phase)
    form["replace_labels"] = SimpleUploadedFile(
        "bad.json", json.dumps([{"id": "00000", "label": ["Dancing"]}]).encode()
    )

    response = admin_client.post(url, form)

    assert response.status_code == 200
    assert "unknown class &#x27;Dancing&#x27;" in response.content.decode()
    phase.refresh_from_db()
    assert phase.labels_sha256 == ""


def _phase_form(phase) -> dict:
    return {
        "challenge": str(phase.challenge.pk),
        "slug": phase.slug,
        "name": phase.name,
        "description": "",
        "track": phase.track,
        "starts_at_0": phase.starts_at.strftime("%Y-%m-%d"),
        "starts_at_1": phase.starts_at.strftime("%H:%M:%S"),
        "ends_at_0": phase.ends_at.strftime("%Y-%m-%d"),
        "ends_at_1": phase.ends_at.strftime("%H:%M:%S"),
        "is_open": "on",
        "max_submissions_per_day": "5",
        "max_submissions_total": "100",
        "max_upload_bytes": str(phase.max_upload_bytes),
        "leaderboard_visibility": "public",
        "detection_protocol": "voc",
        "order": "0",
    }


def _team_form(team, users) -> dict:
    data = {
        "name": team.name,
        "memberships-TOTAL_FORMS": str(len(users)),
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for i, user in enumerate(users):
        data[f"memberships-{i}-user"] = str(user.pk)
        data[f"memberships-{i}-role"] = "member"
        data[f"memberships-{i}-joined_at_0"] = "2024-01-01"
        data[f"memberships-{i}-joined_at_1"] = "00:00:00"
    return data


def test_members_added_in_the_admin_get_the_team_challenge(admin_client, challenge):
    team = TeamFactory(challenge=challenge, name="Gamma")
    newcomer = UserFactory(username="dora")
    url = reverse("admin:teams_team_change", args=[team.pk])

    response = admin_client.post(url, _team_form(team, [newcomer]))

    assert response.status_code == 302
    membership = Membership.objects.get(user=newcomer)
    assert membership.team == team
    assert membership.challenge == challenge


def test_a_user_in_another_team_is_refused_with_a_message(admin_client, alice_team, alice):
    team = TeamFactory(challenge=alice_team.challenge, name="Gamma")
    url = reverse("admin:teams_team_change", args=[team.pk])

    response = admin_client.post(url, _team_form(team, [alice]))

    assert response.status_code == 200
    assert "is already in team Alpha of this challenge" in response.content.decode()
    assert not Membership.objects.filter(team=team).exists()


def test_an_organizer_can_create_a_team_with_members(admin_client, challenge, organizer):
    newcomer = UserFactory(username="erin")
    data = _team_form(TeamFactory.build(name="Delta"), [newcomer])
    data["challenge"] = str(challenge.pk)

    response = admin_client.post(reverse("admin:teams_team_add"), data)

    assert response.status_code == 302
    membership = Membership.objects.get(user=newcomer)
    assert membership.team.name == "Delta"
    assert membership.team.created_by == organizer
    assert membership.challenge == challenge
