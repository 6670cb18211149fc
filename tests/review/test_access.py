"""Who sees what: other teams' submissions, files and teams are 404 everywhere; a member
removed from a team loses access at once; organizers of one challenge are strangers to
another; a private phase leaks no other team's scores through any door."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from evalserver.teams.services import team_remove_member
from submissions.models import Submission
from submissions.services import submission_create
from tests.clients import logged_in
from tests.factories import (
    ChallengeFactory,
    MembershipFactory,
    PhaseFactory,
    TeamFactory,
    UserFactory,
)
from tests.recognition_data import LABELLED_CLIPS, answer_bytes, random_matrix

pytestmark = pytest.mark.django_db


def _submit(user, phase, seed: int = 5) -> Submission:
    answer = answer_bytes(random_matrix(LABELLED_CLIPS, seed=seed))
    upload = SimpleUploadedFile("answer.txt", answer)
    return submission_create(user=user, phase=phase, upload=upload, method_name="m")


def _doors(submission_id: int) -> list[str]:
    return [
        f"/api/v1/submissions/{submission_id}/",
        reverse("submission-detail", args=[submission_id]),
        reverse("submission-status", args=[submission_id]),
        reverse("submission-file", args=[submission_id]),
    ]


@pytest.fixture
def scored(
    alice,
    alice_team,
    charlie,
    charlie_team,
    phase_labelled,
    inprocess_sync,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        # Seeds whose scores differ: with five clips, two answers can tie, and a page
        # showing charlie's own score would then seem to show alice's.
        mine = _submit(alice, phase_labelled, seed=3)
        theirs = _submit(charlie, phase_labelled, seed=2)
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == theirs.status == "finished"
    return mine, theirs


def test_other_teams_submission_is_404_through_every_door(scored, charlie):
    mine, _ = scored
    browser = logged_in(charlie)
    for url in _doors(mine.pk):
        assert browser.get(url).status_code == 404, url


def test_a_removed_member_loses_access_at_once(scored, alice, bob, alice_team):
    mine, _ = scored
    browser = logged_in(bob)
    for url in _doors(mine.pk):
        assert browser.get(url).status_code == 200, url
    team_remove_member(actor=alice, team=alice_team, user=bob)
    for url in _doors(mine.pk):
        assert browser.get(url).status_code == 404, url
    assert browser.get(f"/api/v1/teams/{alice_team.pk}/").status_code == 404
    listing = browser.get(f"/api/v1/phases/{mine.phase_id}/submissions/").json()
    assert listing["results"] == []


def test_other_teams_team_is_404_and_its_invite_code_stays_secret(alice_team, charlie):
    browser = logged_in(charlie)
    response = browser.get(f"/api/v1/teams/{alice_team.pk}/")
    assert response.status_code == 404
    assert alice_team.invite_code not in response.content.decode()
    assert browser.post(f"/api/v1/teams/{alice_team.pk}/invite/").status_code == 404
    assert browser.post(f"/api/v1/teams/{alice_team.pk}/leave/").status_code == 404


def test_organizer_of_another_challenge_is_a_stranger(scored, phase_labelled, challenge):
    mine, _ = scored
    other = ChallengeFactory(slug="other-challenge")
    olga = UserFactory(username="olga-other")
    other.organizers.add(olga)
    browser = logged_in(olga)
    for url in _doors(mine.pk):
        assert browser.get(url).status_code == 404, url
    assert browser.get(reverse("challenge-dashboard", args=[challenge.slug])).status_code == 404
    listing = browser.get(f"/api/v1/phases/{phase_labelled.pk}/submissions/").json()
    assert listing["results"] == []


@pytest.fixture
def private_scored(scored, phase_labelled):
    phase_labelled.leaderboard_visibility = "private"
    phase_labelled.save()
    return scored


def test_private_phase_shows_no_other_teams_scores(private_scored, phase_labelled, charlie):
    mine, theirs = private_scored
    browser = logged_in(charlie)
    api = browser.get(f"/api/v1/phases/{phase_labelled.pk}/leaderboard/").json()
    assert api["ranking_hidden"] is True
    assert [entry["submission_id"] for entry in api["entries"]] == [theirs.pk]
    assert api["entries"][0]["rank"] is None
    page = browser.get(reverse("phase-leaderboard", args=[phase_labelled.pk])).content.decode()
    assert "Alpha" not in page
    assert f"{mine.primary_score:.4f}" not in page
    # The per-class chart on charlie's own submission draws no leader.
    detail = browser.get(reverse("submission-detail", args=[theirs.pk])).content.decode()
    assert "Alpha" not in detail
    assert "Leader:" not in detail


def test_private_phase_shows_nothing_to_strangers(private_scored, phase_labelled):
    anonymous = logged_in(UserFactory(username="stranger"))
    api = anonymous.get(f"/api/v1/phases/{phase_labelled.pk}/leaderboard/").json()
    assert api["entries"] == []
    from rest_framework.test import APIClient

    nobody = APIClient().get(f"/api/v1/phases/{phase_labelled.pk}/leaderboard/")
    assert nobody.status_code == 200
    assert nobody.json()["entries"] == []


def test_private_phase_of_another_challenge_is_hidden_from_its_organizer(
    private_scored, phase_labelled
):
    other = ChallengeFactory(slug="other-challenge")
    olga = UserFactory(username="olga-other")
    other.organizers.add(olga)
    browser = logged_in(olga)
    api = browser.get(f"/api/v1/phases/{phase_labelled.pk}/leaderboard/").json()
    assert api["entries"] == []
    page = browser.get(reverse("phase-leaderboard", args=[phase_labelled.pk])).content.decode()
    assert "Alpha" not in page
    assert "Charlie" not in page


def test_organizer_sees_the_private_board(private_scored, phase_labelled, organizer):
    browser = logged_in(organizer)
    api = browser.get(f"/api/v1/phases/{phase_labelled.pk}/leaderboard/").json()
    assert api["ranking_hidden"] is False
    assert len(api["entries"]) == 2


def test_a_member_of_two_challenges_sees_only_the_teams_of_each(alice, alice_team, scored):
    other = ChallengeFactory(slug="second")
    other_phase = PhaseFactory(challenge=other)
    team = TeamFactory(challenge=other, name="Elsewhere")
    MembershipFactory(team=team, user=UserFactory(username="eve"))
    browser = logged_in(alice)
    listing = browser.get(f"/api/v1/phases/{other_phase.pk}/submissions/").json()
    assert listing["results"] == []
