"""GET /api/v1/challenges/: public, paginated, phases with is_open."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.factories import ChallengeFactory, PhaseFactory

pytestmark = pytest.mark.django_db


def test_challenges_are_public_and_carry_their_phases(api, phase, challenge):
    response = api.get("/api/v1/challenges/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [item] = body["results"]
    assert item["slug"] == challenge.slug
    assert item["n_classes"] == 26
    [listed] = item["phases"]
    assert {k: listed[k] for k in ("id", "slug", "name", "track", "is_open")} == {
        "id": phase.pk,
        "slug": "dev",
        "name": "Validation",
        "track": "classification",
        "is_open": True,
    }
    assert dt.datetime.fromisoformat(listed["starts_at"]) == phase.starts_at
    assert dt.datetime.fromisoformat(listed["ends_at"]) == phase.ends_at


def test_is_open_needs_the_switch_and_the_dates(api, challenge):
    now = timezone.now()
    PhaseFactory(challenge=challenge, slug="switched-off", is_open=False)
    PhaseFactory(
        challenge=challenge,
        slug="future",
        starts_at=now + dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=2),
    )
    PhaseFactory(
        challenge=challenge,
        slug="past",
        starts_at=now - dt.timedelta(days=2),
        ends_at=now - dt.timedelta(days=1),
    )
    PhaseFactory(challenge=challenge, slug="open")
    phases = api.get("/api/v1/challenges/").json()["results"][0]["phases"]
    assert {p["slug"]: p["is_open"] for p in phases} == {
        "switched-off": False,
        "future": False,
        "past": False,
        "open": True,
    }


def test_unpublished_challenges_are_not_listed(api, challenge):
    ChallengeFactory(slug="secret", is_published=False)
    assert [c["slug"] for c in api.get("/api/v1/challenges/").json()["results"]] == [challenge.slug]


def test_the_list_costs_a_fixed_number_of_queries(api, django_assert_num_queries):
    for n in range(5):
        challenge = ChallengeFactory(slug=f"c{n}")
        for m in range(3):
            PhaseFactory(challenge=challenge, slug=f"p{m}")
    # count, challenges, their downloads, their phases, the phases' downloads; plus 12 for
    # the anon and user throttles' counters, which live in the database cache (6 each).
    with django_assert_num_queries(5 + 12):
        response = api.get("/api/v1/challenges/")
    assert len(response.json()["results"]) == 5
