"""Who may take part (issue 15 item 5): registration open, by approval, or limited to
confirmed addresses at listed domains; through the API and the pages."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from evalserver.challenges.models import Challenge, EmailConfirmation
from evalserver.console.models import AuditEntry
from evalserver.teams.models import Team
from tests.recognition_data import answer_bytes, labelled_truth

pytestmark = pytest.mark.django_db


def _set(organizer_api, challenge, **body):
    return organizer_api.patch(
        f"/api/v1/organizer/challenges/{challenge.slug}/", body, format="json"
    )


def _upload(client, phase):
    return client.post(
        f"/api/v1/phases/{phase.pk}/submissions/",
        {"file": SimpleUploadedFile("a.txt", answer_bytes(labelled_truth()))},
        format="multipart",
    )


def test_approval_keeps_a_new_team_pending_until_an_organizer_approves_it(
    organizer_api, challenge, phase_labelled, alice, alice_api, alice_web, inprocess_sync
):
    response = _set(organizer_api, challenge, registration="approval", reason="invite only")
    assert response.status_code == 200, response.json()
    assert response.json()["registration"] == "approval"
    assert AuditEntry.objects.get(action="registration_updated").reason == "invite only"

    created = alice_api.post(
        f"/api/v1/challenges/{challenge.slug}/teams/", {"name": "Newcomers"}, format="json"
    )
    assert created.status_code == 201
    team = Team.objects.get(name="Newcomers")
    assert team.approved_at is None
    refused = _upload(alice_api, phase_labelled)
    assert refused.status_code == 403
    assert "approval" in refused.json()["detail"]
    page = alice_web.get(f"/challenges/{challenge.slug}/team/").content.decode()
    assert "Waiting for the organizers" in page

    approved = organizer_api.post(
        f"/api/v1/organizer/challenges/{challenge.slug}/teams/{team.pk}/approve/", {}, format="json"
    )
    assert approved.status_code == 200
    assert approved.json()["approved_at"] is not None
    with inprocess_sync():
        assert _upload(alice_api, phase_labelled).status_code == 201
    assert AuditEntry.objects.filter(action="team_approved").count() == 1


def test_teams_made_while_registration_was_open_stay_approved(organizer_api, challenge, alice):
    from evalserver.challenges.registration import team_is_pending
    from evalserver.teams.services import team_create

    early = team_create(user=alice, challenge=challenge, name="Early")
    assert early.approved_at is not None
    _set(organizer_api, challenge, registration="approval")
    early.refresh_from_db()
    assert not team_is_pending(team=early)


def test_domains_need_an_address_at_a_listed_domain_and_a_confirmed_one(
    organizer_api, challenge, alice, alice_api, alice_web, mailoutbox
):
    assert _set(organizer_api, challenge, registration="domains").status_code == 400
    bad = _set(organizer_api, challenge, registration="domains", allowed_email_domains=["not a"])
    assert bad.status_code == 400
    ok = _set(
        organizer_api,
        challenge,
        registration="domains",
        allowed_email_domains=["@Lab.Example.edu", "example.org"],
    )
    assert ok.json()["allowed_email_domains"] == ["lab.example.edu", "example.org"]
    url = f"/api/v1/challenges/{challenge.slug}/teams/"

    alice.email = "alice@elsewhere.com"
    alice.save()
    wrong = alice_api.post(url, {"name": "A"}, format="json")
    assert wrong.status_code == 403
    assert "@lab.example.edu" in wrong.json()["detail"]

    alice.email = "alice@example.org"
    alice.save()
    unconfirmed = alice_api.post(url, {"name": "A"}, format="json")
    assert unconfirmed.status_code == 403
    assert "Confirm your email" in unconfirmed.json()["detail"]
    page = alice_web.get(f"/challenges/{challenge.slug}/team/").content.decode()
    assert "Confirm your email" in page

    # The confirmation link comes by mail and confirms that address.
    alice_web.post("/account/confirm-email/")
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["alice@example.org"]
    link = re.search(r"https?://\S+/account/confirm-email/\S+/", mailoutbox[0].body).group(0)
    path = "/" + link.split("/", 3)[3]
    # Someone else's session cannot use it.
    from tests.clients import logged_in
    from tests.factories import UserFactory

    other = logged_in(UserFactory(username="eve"))
    other.get(path)
    assert not EmailConfirmation.objects.filter(user__username="eve").exists()
    assert "confirmed" in alice_web.get(path, follow=True).content.decode()
    assert EmailConfirmation.objects.get(user=alice).email == "alice@example.org"
    assert alice_api.post(url, {"name": "A"}, format="json").status_code == 201

    # A changed address is unconfirmed again; a tampered link does nothing.
    alice.email = "alice2@example.org"
    alice.save()
    from evalserver.challenges.registration import email_is_confirmed

    assert not email_is_confirmed(user=alice)
    alice_web.get(path[:-5] + "xxxx/")
    assert not email_is_confirmed(user=alice)


def test_registration_settings_from_the_console_page(organizer_web, challenge):
    page = organizer_web.get(f"/console/{challenge.slug}/")
    assert "Who may take part" in page.content.decode()
    bad = organizer_web.post(
        f"/console/{challenge.slug}/", {"registration": "domains", "allowed_email_domains": ""}
    )
    assert bad.status_code == 400
    assert "at least one email domain" in bad.content.decode()
    ok = organizer_web.post(
        f"/console/{challenge.slug}/",
        {"registration": "domains", "allowed_email_domains": "example.org, uni.example"},
    )
    assert ok.status_code == 302
    challenge.refresh_from_db()
    assert challenge.registration == Challenge.Registration.DOMAINS
    assert challenge.allowed_email_domains == ["example.org", "uni.example"]


def test_registration_calls_are_organizers_only(challenge, alice_api, alice_team, alice_web):
    assert (
        alice_api.patch(
            f"/api/v1/organizer/challenges/{challenge.slug}/",
            {"registration": "approval"},
            format="json",
        ).status_code
        == 404
    )
    assert (
        alice_api.post(
            f"/api/v1/organizer/challenges/{challenge.slug}/teams/{alice_team.pk}/approve/"
        ).status_code
        == 404
    )
    assert (
        alice_web.post(f"/console/{challenge.slug}/", {"registration": "approval"}).status_code
        == 404
    )
    challenge.refresh_from_db()
    assert challenge.registration == "open"
