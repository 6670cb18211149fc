"""An unpublished challenge: its organizers can open every page of it (to try it out before
publishing, or to look after it while it is withdrawn); everybody else, its own teams
included, gets 404s."""

import pytest
from django.urls import reverse

from submissions.models import Submission
from tests.clients import logged_in
from tests.factories import SubmissionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def withdrawn(challenge, phase_labelled, charlie_team):
    submission = SubmissionFactory(
        phase=phase_labelled, team=charlie_team, status=Submission.Status.QUEUED
    )
    challenge.is_published = False
    challenge.save(update_fields=["is_published"])
    return submission


def _pages(submission):
    return [
        reverse("submission-detail", args=[submission.pk]),
        reverse("submission-status", args=[submission.pk]),
        reverse("submission-file", args=[submission.pk]),
        f"/api/v1/submissions/{submission.pk}/",
    ]


def test_its_organizers_open_the_submissions_they_are_listed(withdrawn, organizer):
    browser = logged_in(organizer)
    listing = browser.get(reverse("submission-list", args=[withdrawn.phase_id]))
    assert listing.status_code == 200
    assert reverse("submission-detail", args=[withdrawn.pk]) in listing.content.decode()
    for url in _pages(withdrawn):
        assert browser.get(url).status_code == 200, url


def test_its_teams_and_strangers_get_404(withdrawn, charlie, alice, alice_team):
    for user in (charlie, alice):
        browser = logged_in(user)
        for url in _pages(withdrawn):
            assert browser.get(url).status_code == 404, (user, url)
