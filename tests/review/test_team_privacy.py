"""A team owner's remove-member call must not turn user ids into usernames: usernames are
shown only to teammates, so a stranger's id answers like an unknown one."""

import pytest
from django.urls import reverse

from tests.clients import logged_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_removing_a_stranger_by_id_does_not_name_them(alice, alice_team, challenge):
    stranger = UserFactory(username="secret-sue")
    browser = logged_in(alice)
    known = browser.delete(f"/api/v1/teams/{alice_team.pk}/members/{stranger.pk}/")
    unknown = browser.delete(f"/api/v1/teams/{alice_team.pk}/members/999999/")
    assert known.status_code == unknown.status_code == 404
    assert "secret-sue" not in known.content.decode()

    page = browser.post(
        reverse("team-remove-member", args=[challenge.slug, stranger.pk]), follow=True
    )
    assert "secret-sue" not in page.content.decode()


def test_removing_a_teammate_still_names_them(alice, bob, alice_team, challenge):
    browser = logged_in(alice)
    page = browser.post(reverse("team-remove-member", args=[challenge.slug, bob.pk]), follow=True)
    assert "bob is no longer in Alpha" in page.content.decode()
