"""Ids no database row can have (beyond 64 bits) are 404s with a JSON detail, not 500s."""

import pytest
from django.urls import reverse

from tests.clients import logged_in

pytestmark = pytest.mark.django_db

HUGE = 10**30


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", f"/api/v1/submissions/{HUGE}/"),
        ("get", f"/api/v1/phases/{HUGE}/submissions/"),
        ("post", f"/api/v1/phases/{HUGE}/submissions/"),
        ("get", f"/api/v1/phases/{HUGE}/leaderboard/"),
        ("get", f"/api/v1/teams/{HUGE}/"),
        ("post", f"/api/v1/teams/{HUGE}/join/"),
        ("post", f"/api/v1/teams/{HUGE}/leave/"),
    ],
)
def test_huge_ids_on_the_api_are_404(alice, alice_team, method, url):
    browser = logged_in(alice)
    response = getattr(browser, method)(url)
    assert response.status_code == 404
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("submission-detail", "get"),
        ("submission-status", "get"),
        ("submission-file", "get"),
        ("phase-detail", "get"),
        ("submission-list", "get"),
        ("phase-leaderboard", "get"),
    ],
)
def test_huge_ids_on_the_pages_are_404(alice, alice_team, name, method):
    response = getattr(logged_in(alice), method)(reverse(name, args=[HUGE]))
    assert response.status_code == 404


def test_removing_a_member_with_a_huge_id_is_404(alice, alice_team, challenge):
    browser = logged_in(alice)
    url = reverse("team-remove-member", args=[challenge.slug, HUGE])
    assert browser.post(url).status_code == 404
    assert browser.delete(f"/api/v1/teams/{alice_team.pk}/members/{HUGE}/").status_code == 404
