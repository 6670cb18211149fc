"""Organizers of one challenge acting on another, through the services and the admin.

To use the admin an organizer needs ``is_staff`` and the Organizers group; staff alone
makes nobody an organizer. olga organizes challenge A (``challenge``); challenge B has
its own phase, team and submissions, which she must neither see nor change.
"""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from evalserver.challenges.models import Phase
from evalserver.challenges.organizers import (
    ORGANIZER_PERMISSIONS,
    ORGANIZERS_GROUP,
    organizers_group_ensure,
)
from evalserver.errors import PermissionDenied
from leaderboard.models import FrozenLeaderboard
from leaderboard.services import leaderboard_reveal
from submissions.models import Submission, SubmissionEvent
from submissions.services import submission_rerun, submission_set_flags
from tests.factories import (
    ChallengeFactory,
    PhaseFactory,
    SubmissionFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_a_staff_organizer_of_one_challenge_cannot_disqualify_in_another(
    phase_labelled, charlie_team
):
    submission = SubmissionFactory(
        phase=phase_labelled, team=charlie_team, status=Submission.Status.FINISHED
    )
    other = ChallengeFactory(slug="other-challenge")
    olga = UserFactory(username="olga-other", is_staff=True)
    other.organizers.add(olga)
    with pytest.raises(PermissionDenied):
        submission_set_flags(submission=submission, actor=olga, disqualified=True)
    submission.refresh_from_db()
    assert not submission.is_disqualified


def test_staff_alone_organizes_nothing_and_a_superuser_organizes_everything(challenge):
    staff = UserFactory(username="sam", is_staff=True)
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    assert not challenge.is_organizer(staff)
    assert challenge.is_organizer(root)
    challenge.organizers.add(staff)
    assert challenge.is_organizer(staff)


# --- The admin, over HTTP ---------------------------------------------------------------------


@pytest.fixture
def olga_admin(organizer):
    """olga (listed on challenge A) with what the admin needs: staff and the group."""
    organizer.is_staff = True
    organizer.save(update_fields=["is_staff"])
    organizer.groups.add(Group.objects.get(name=ORGANIZERS_GROUP))
    client = Client()
    client.force_login(organizer, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def mine(phase, charlie_team):
    return SubmissionFactory(
        phase=phase, team=charlie_team, status=Submission.Status.FINISHED, primary_score=0.5
    )


@pytest.fixture
def theirs(db):
    """Challenge B: a private phase with a team and a finished submission."""
    other = ChallengeFactory(slug="other-challenge", title="Other Challenge")
    phase = PhaseFactory(
        challenge=other,
        slug="b-dev",
        name="Bravo phase",
        leaderboard_visibility=Phase.Visibility.PRIVATE,
    )
    team = TeamFactory(challenge=other, name="Bravo team")
    return SubmissionFactory(
        phase=phase, team=team, status=Submission.Status.FINISHED, primary_score=0.9
    )


def _changelist(client, name: str) -> str:
    response = client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200
    return response.content.decode()


def test_migrate_made_the_organizers_group_with_its_permissions():
    group = Group.objects.get(name=ORGANIZERS_GROUP)
    held = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert held == set(ORGANIZER_PERMISSIONS)
    # Running it again adds nothing and keeps what an administrator added.
    organizers_group_ensure()
    assert group.permissions.count() == len(ORGANIZER_PERMISSIONS)


def test_an_organizer_lists_only_the_challenges_objects_they_organize(
    olga_admin, mine, theirs, challenge
):
    phases = _changelist(olga_admin, "challenges_phase")
    assert "tinyactions-test/dev" in phases
    assert "other-challenge" not in phases
    assert "Bravo phase" not in phases

    challenges = _changelist(olga_admin, "challenges_challenge")
    assert "TinyActions Test" in challenges
    assert "Other Challenge" not in challenges

    teams = _changelist(olga_admin, "teams_team")
    assert "Charlie&#x27;s" in teams
    assert "Bravo team" not in teams

    submissions = _changelist(olga_admin, "submissions_submission")
    assert reverse("admin:submissions_submission_change", args=[mine.pk]) in submissions
    assert reverse("admin:submissions_submission_change", args=[theirs.pk]) not in submissions
    # Nor does the phase filter name the other challenge's phases.
    assert "Bravo phase" not in submissions
    assert "other-challenge" not in submissions

    own = SubmissionEvent.objects.create(submission=mine, action="created", detail={})
    other = SubmissionEvent.objects.create(submission=theirs, action="created", detail={})
    events = _changelist(olga_admin, "submissions_submissionevent")
    assert reverse("admin:submissions_submissionevent_change", args=[own.pk]) in events
    assert reverse("admin:submissions_submissionevent_change", args=[other.pk]) not in events


def test_another_challenges_change_pages_are_not_found(olga_admin, mine, theirs):
    pages = {
        "challenges_challenge": (mine.phase.challenge_id, theirs.phase.challenge_id),
        "challenges_phase": (mine.phase_id, theirs.phase_id),
        "teams_team": (mine.team_id, theirs.team_id),
        "submissions_submission": (mine.pk, theirs.pk),
    }
    for name, (own, other) in pages.items():
        assert olga_admin.get(reverse(f"admin:{name}_change", args=[own])).status_code == 200
        assert olga_admin.get(reverse(f"admin:{name}_change", args=[other])).status_code == 404
        assert olga_admin.get(reverse(f"admin:{name}_history", args=[other])).status_code == 404
    # A changed phase posted anyway is refused the same way.
    response = olga_admin.post(
        reverse("admin:challenges_phase_change", args=[theirs.phase_id]), {"is_open": ""}
    )
    assert response.status_code == 404
    theirs.phase.refresh_from_db()
    assert theirs.phase.is_open


def test_submission_actions_skip_another_challenges_submissions(olga_admin, mine, theirs):
    response = olga_admin.post(
        reverse("admin:submissions_submission_changelist"),
        {"action": "disqualify", "_selected_action": [mine.pk, theirs.pk]},
        follow=True,
    )
    assert response.status_code == 200
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.is_disqualified
    assert not theirs.is_disqualified

    for action in ("rerun", "hide", "disqualify", "mark_baseline"):
        olga_admin.post(
            reverse("admin:submissions_submission_changelist"),
            {"action": action, "_selected_action": [theirs.pk]},
        )
    theirs.refresh_from_db()
    assert theirs.status == Submission.Status.FINISHED
    assert (theirs.is_hidden, theirs.is_disqualified, theirs.is_baseline) == (False, False, False)
    assert not theirs.events.exists()


def test_phase_actions_skip_another_challenges_phase(olga_admin, theirs):
    url = reverse("admin:challenges_phase_changelist")
    for action in ("reveal_leaderboard", "freeze_leaderboard"):
        olga_admin.post(url, {"action": action, "_selected_action": [theirs.phase_id]})
    exported = olga_admin.post(
        url, {"action": "export_leaderboard_csv", "_selected_action": [theirs.phase_id]}
    )
    assert exported["Content-Type"].startswith("text/html")
    assert b"Bravo team" not in exported.content
    theirs.phase.refresh_from_db()
    assert theirs.phase.leaderboard_revealed_at is None
    assert not FrozenLeaderboard.objects.exists()


def test_the_services_refuse_another_challenges_objects_too(organizer, theirs):
    with pytest.raises(PermissionDenied):
        submission_rerun(submission=theirs, actor=organizer)
    with pytest.raises(PermissionDenied):
        leaderboard_reveal(phase=theirs.phase, actor=organizer)


def test_choice_lists_offer_only_the_organizers_challenges_and_phases(
    olga_admin, mine, theirs, challenge
):
    for name in ("challenges_phase", "teams_team"):
        page = olga_admin.get(reverse(f"admin:{name}_add")).content.decode()
        assert f'<option value="{challenge.pk}"' in page
        assert f'<option value="{theirs.phase.challenge_id}"' not in page

    # A phase posted into the other challenge is refused as an invalid choice.
    response = olga_admin.post(
        reverse("admin:challenges_phase_add"),
        {
            "challenge": str(theirs.phase.challenge_id),
            "slug": "sneaky",
            "name": "Sneaky",
            "track": "classification",
            "starts_at_0": "2021-03-01",
            "starts_at_1": "00:00:00",
            "ends_at_0": "2021-06-12",
            "ends_at_1": "23:59:59",
            "max_upload_bytes": "1000",
            "leaderboard_visibility": "public",
            "detection_protocol": "voc",
            "order": "0",
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Phase.objects.filter(slug="sneaky").exists()


def test_an_organizer_cannot_list_more_organizers(olga_admin, challenge):
    page = olga_admin.get(reverse("admin:challenges_challenge_change", args=[challenge.pk]))
    assert page.status_code == 200
    assert 'name="organizers"' not in page.content.decode()


def test_staff_outside_the_group_cannot_open_the_lists(organizer, theirs):
    organizer.is_staff = True
    organizer.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(organizer, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(reverse("admin:submissions_submission_changelist"))
    assert response.status_code == 403


def test_a_superuser_still_sees_every_challenge(mine, theirs):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(root, backend="django.contrib.auth.backends.ModelBackend")
    page = _changelist(client, "submissions_submission")
    assert reverse("admin:submissions_submission_change", args=[theirs.pk]) in page
    assert reverse("admin:submissions_submission_change", args=[mine.pk]) in page


def test_the_challenge_admin_warns_about_organizers_who_cannot_use_it(challenge):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    newcomer = UserFactory(username="nina")
    client = Client()
    client.force_login(root, backend="django.contrib.auth.backends.ModelBackend")
    data = {
        "title": challenge.title,
        "slug": challenge.slug,
        "description": "",
        "max_team_size": "10",
        "is_published": "on",
        "organizers": [str(newcomer.pk)],
        "phases-TOTAL_FORMS": "0",
        "phases-INITIAL_FORMS": "0",
        "phases-MIN_NUM_FORMS": "0",
        "phases-MAX_NUM_FORMS": "1000",
    }
    response = client.post(
        reverse("admin:challenges_challenge_change", args=[challenge.pk]), data, follow=True
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Organizer nina of TinyActions Test cannot use the admin yet" in html
    assert "it is not staff; it is not in the &#x27;Organizers&#x27; group" in html
    assert challenge.organizers.filter(pk=newcomer.pk).exists()


# --- The pages --------------------------------------------------------------------------------


def test_a_staff_organizer_of_one_challenge_gets_404_on_anothers_pages(olga_admin, theirs):
    challenge = theirs.phase.challenge
    dashboard = olga_admin.get(reverse("challenge-dashboard", args=[challenge.slug]))
    assert dashboard.status_code == 404
    assert olga_admin.get(reverse("submission-detail", args=[theirs.pk])).status_code == 404
    board = olga_admin.get(f"/api/v1/phases/{theirs.phase_id}/leaderboard/")
    assert board.status_code in (200, 403)
    assert "Bravo team" not in board.content.decode()
