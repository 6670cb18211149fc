"""The public pages: challenges list, challenge page and phase page."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from tests.factories import ChallengeFactory, PhaseFactory
from tests.recognition_data import phase_with_labels, random_matrix

pytestmark = pytest.mark.django_db


def test_the_challenge_list_shows_published_challenges_and_their_phases(client, phase):
    ChallengeFactory(slug="secret", title="Hidden Challenge", is_published=False)
    response = client.get(reverse("challenge-list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "TinyActions Test" in html
    assert reverse("phase-detail", args=[phase.pk]) in html
    assert "Hidden Challenge" not in html


def test_the_challenge_list_runs_a_fixed_number_of_queries(
    client, challenge, django_assert_num_queries
):
    for i in range(5):
        PhaseFactory(challenge=challenge, slug=f"p{i}")
    ChallengeFactory(slug="other")
    with django_assert_num_queries(2):
        client.get(reverse("challenge-list"))


@time_machine.travel(dt.datetime(2021, 5, 1, 12, 0, tzinfo=dt.UTC), tick=False)
def test_the_challenge_page_shows_dates_in_utc_a_countdown_and_the_rules(client, challenge):
    # With hidden labels: a phase without any does not take uploads, so it has no countdown.
    open_phase = phase_with_labels(
        random_matrix(5, seed=0),
        challenge=challenge,
        slug="dev",
        name="Validation",
        starts_at=dt.datetime(2021, 3, 1, tzinfo=dt.UTC),
        ends_at=dt.datetime(2021, 6, 12, 23, 59, 59, tzinfo=dt.UTC),
        max_submissions_per_day=5,
        max_submissions_total=100,
    )
    PhaseFactory(
        challenge=challenge,
        slug="test",
        name="Test",
        starts_at=dt.datetime(2021, 6, 20, tzinfo=dt.UTC),
        ends_at=dt.datetime(2021, 7, 1, tzinfo=dt.UTC),
        max_submissions_per_day=None,
    )
    html = client.get(reverse("challenge-detail", args=[challenge.slug])).content.decode()
    assert "2021-06-12 23:59 UTC" in html
    # The countdown and the viewer's local time are computed in the browser from these.
    assert 'data-countdown="2021-06-12T23:59:59+00:00"' in html
    assert 'data-local-time="2021-03-01T00:00:00+00:00"' in html
    assert 'data-countdown="2021-06-20T00:00:00+00:00"' in html  # the upcoming phase opens
    assert "5 a day (UTC)" in html
    assert "100 in total" in html
    assert "no daily limit" in html
    assert "macro F1 over all 26 classes" in html
    assert reverse("phase-detail", args=[open_phase.pk]) in html


def test_an_unpublished_challenge_is_404_for_participants(client, alice_web):
    hidden = ChallengeFactory(slug="draft", is_published=False)
    phase = PhaseFactory(challenge=hidden)
    assert client.get(reverse("challenge-detail", args=["draft"])).status_code == 404
    assert alice_web.get(reverse("phase-detail", args=[phase.pk])).status_code == 404


def test_an_organizer_sees_the_dashboard_link_and_participants_do_not(
    alice_web, organizer_web, challenge
):
    url = reverse("challenge-detail", args=[challenge.slug])
    dashboard = reverse("challenge-dashboard", args=[challenge.slug])
    assert dashboard in organizer_web.get(url).content.decode()
    assert dashboard not in alice_web.get(url).content.decode()


def test_the_phase_page_asks_visitors_to_log_in(client, phase):
    html = client.get(reverse("phase-detail", args=[phase.pk])).content.decode()
    assert "Log in</a> to submit" in html
    assert 'type="file"' not in html


def test_the_phase_page_sends_a_user_without_team_to_the_team_page(charlie_web, phase):
    html = charlie_web.get(reverse("phase-detail", args=[phase.pk])).content.decode()
    assert reverse("team-page", args=[phase.challenge.slug]) in html
    assert 'type="file"' not in html


def test_the_phase_page_shows_the_upload_form_with_the_size_cap_and_quota(
    alice_web, alice_team, challenge
):
    phase = phase_with_labels(
        random_matrix(5, seed=0),
        challenge=challenge,
        max_upload_bytes=5 * 1024 * 1024,
        max_submissions_per_day=4,
        max_submissions_total=20,
    )
    html = alice_web.get(reverse("phase-detail", args=[phase.pk])).content.decode()
    assert 'type="file"' in html
    assert 'data-max-bytes="5242880"' in html
    assert 'enctype="multipart/form-data"' in html
    assert "<strong data-remaining-today>4</strong> of 4 left today" in html
    assert "<strong data-remaining-total>20</strong> of 20 left in total" in html


def test_a_closed_phase_shows_no_upload_form(alice_web, alice_team, challenge):
    phase = PhaseFactory(challenge=challenge, is_open=False)
    html = alice_web.get(reverse("phase-detail", args=[phase.pk])).content.decode()
    assert 'type="file"' not in html
    assert "does not take submissions now" in html


def test_a_phase_past_its_deadline_shows_no_upload_form(alice_web, alice_team, challenge):
    now = timezone.now()
    phase = PhaseFactory(
        challenge=challenge,
        starts_at=now - dt.timedelta(days=3),
        ends_at=now - dt.timedelta(days=1),
    )
    html = alice_web.get(reverse("phase-detail", args=[phase.pk])).content.decode()
    assert 'type="file"' not in html
    assert "This phase is closed" in html


def test_an_unknown_phase_is_404(client):
    assert client.get(reverse("phase-detail", args=[999999])).status_code == 404
