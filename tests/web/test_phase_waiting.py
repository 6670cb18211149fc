"""A phase open by its switch and dates but without hidden labels refuses uploads: the
pages say so and offer no upload form, while the API's ``is_open`` keeps CONTRACT's meaning."""

import pytest
from django.urls import reverse

from tests.factories import PhaseFactory

pytestmark = pytest.mark.django_db

WAITING = "Not accepting uploads yet: the organizers have not loaded the hidden labels."


def _phase_page(client, phase) -> str:
    response = client.get(reverse("phase-detail", args=[phase.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_phase_page_of_a_phase_without_labels_says_so_and_has_no_upload_form(
    alice_web, alice_team, phase
):
    html = _phase_page(alice_web, phase)

    assert '<span class="badge waiting">not accepting uploads yet</span>' in html
    assert WAITING in html
    assert "data-upload" not in html
    assert "Upload and score" not in html
    assert "Time left" not in html


def test_the_phase_page_offers_the_form_once_the_labels_are_loaded(
    alice_web, alice_team, phase_labelled
):
    html = _phase_page(alice_web, phase_labelled)

    assert '<span class="badge open">open</span>' in html
    assert WAITING not in html
    assert "data-upload" in html


def test_the_challenge_page_and_list_tell_a_waiting_phase_from_an_open_one(
    client, challenge, phase_labelled, api
):
    waiting = PhaseFactory(challenge=challenge, slug="final", name="Final")

    detail = client.get(reverse("challenge-detail", args=[challenge.slug])).content.decode()
    waiting_card = detail.split(f'id="phase-{waiting.pk}"', 1)[1]
    open_card = detail.split(f'id="phase-{phase_labelled.pk}"', 1)[1].split("</section>")[0]
    assert "not accepting uploads yet</span>" in waiting_card
    assert WAITING in waiting_card
    assert '<span class="badge open">open</span>' in open_card
    assert WAITING not in open_card

    listing = client.get(reverse("challenge-list")).content.decode()
    assert listing.count("not accepting uploads yet</span>") == 1
    assert listing.count('<span class="badge open">open</span>') == 1

    # The API keeps CONTRACT's is_open (switch and dates) for both.
    phases = {
        p["slug"]: p["is_open"]
        for p in api.get("/api/v1/challenges/").json()["results"][0]["phases"]
    }
    assert phases == {"dev": True, "final": True}
