"""The participant's and the organizer's journeys, clicked through in headless Chromium."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from submissions.models import Submission
from tests.browser.conftest import PASSWORD, SCORING_TIMEOUT_MS, log_in
from tests.factories import UserFactory
from tests.recognition_data import (
    answer_bytes,
    answer_with_duplicate,
    phase_with_labels,
    random_matrix,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def truth():
    return random_matrix(80, seed=11)


@pytest.fixture
def demo_phase(challenge, truth):
    challenge.title = "TinyActions Challenge 2021"
    challenge.description = "Recognize tiny actions in low-resolution surveillance video."
    challenge.save(update_fields=["title", "description"])
    return phase_with_labels(truth, challenge=challenge, slug="dev", name="Validation")


def _choose_file(page, name: str, content: bytes) -> None:
    page.get_by_label(re.compile("Prediction file")).set_input_files(
        {"name": name, "mimeType": "text/plain", "buffer": content}
    )


def test_sign_up_create_a_team_upload_watch_it_finish_and_see_the_leaderboard(
    page, live_server, demo_phase, truth, shot, csp_violations
):
    base = live_server.url
    page.goto(base + "/")
    expect(page.get_by_role("heading", name="Challenges")).to_be_visible()
    shot(page, "challenge-list")

    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Email").fill("dana@example.org")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password again").fill("short")
    page.get_by_role("button", name="Create account").click()
    # The weak password is refused next to its field.
    expect(page.locator("#id_password1_error")).to_contain_text("too short")
    shot(page, "signup-errors")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Welcome, dana")).to_be_visible()

    page.get_by_role("link", name="TinyActions Challenge 2021").click()
    expect(page.locator("[data-countdown]").first).to_contain_text("left")
    expect(page.locator("[data-local-time]").first).to_contain_text("your time")
    shot(page, "challenge-detail")

    page.get_by_role("link", name="Create or join a team").click()
    page.get_by_label("Team name").fill("Tiny Tigers")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("heading", name="Team Tiny Tigers")).to_be_visible()
    shot(page, "team")

    page.goto(base + reverse("phase-detail", args=[demo_phase.pk]))
    expect(page.locator("[data-remaining-today]")).to_have_text("5")
    _choose_file(page, "answer.txt", answer_bytes(truth))
    page.get_by_label("Method name").fill("Oracle")
    shot(page, "phase-upload-form")
    page.get_by_role("button", name="Upload and score").click()

    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    expect(page.locator("h1 [data-status]")).to_have_text("Finished", timeout=SCORING_TIMEOUT_MS)
    expect(page.locator("[data-scores]")).to_contain_text("1.0000")
    expect(page.locator("table[data-per-class] tbody tr")).to_have_count(26)
    shot(page, "submission-finished")

    page.get_by_role("link", name="See the leaderboard").click()
    expect(page.get_by_role("row", name=re.compile(r"^1 Tiny Tigers"))).to_be_visible()
    shot(page, "leaderboard")

    page.goto(base + reverse("phase-detail", args=[demo_phase.pk]))
    expect(page.locator("[data-remaining-today]")).to_have_text("4")
    expect(page.locator("[data-status]").first).to_have_text("Finished")
    shot(page, "phase-with-submissions")

    page.get_by_role("link", name="API token").click()
    page.get_by_role("button", name="Create a token").click()
    expect(page.get_by_text("Show my token")).to_be_visible()
    shot(page, "api-token", phone=False)
    assert csp_violations == []


def test_a_teammate_joins_by_invite_code(
    browser, live_server, demo_phase, alice_team, alice, shot, csp_violations
):
    base = live_server.url
    UserFactory(username="erin")
    owner = browser.new_context()
    owner_page = owner.new_page()
    log_in(owner_page, base, "alice")
    owner_page.goto(base + reverse("team-page", args=[demo_phase.challenge.slug]))
    code = owner_page.get_by_label("Invite code").input_value()
    assert code == alice_team.invite_code

    newcomer = browser.new_context()
    page = newcomer.new_page()
    log_in(page, base, "erin")
    page.goto(base + reverse("challenge-detail", args=[demo_phase.challenge.slug]))
    page.get_by_role("link", name="Create or join a team").click()
    shot(page, "team-create-or-join")
    page.get_by_label("Invite code").fill("not-the-code")
    page.get_by_role("button", name="Join team").click()
    expect(page.locator("#id_join-invite_code_error")).to_contain_text("not valid")
    page.get_by_label("Invite code").fill(code)
    page.get_by_role("button", name="Join team").click()
    expect(page.get_by_text("You joined Alpha")).to_be_visible()
    expect(page.get_by_role("cell", name="alice", exact=True)).to_be_visible()

    owner_page.reload()
    expect(owner_page.get_by_role("cell", name="erin", exact=True)).to_be_visible()
    shot(owner_page, "team-owner-view")
    owner.close()
    newcomer.close()


def test_a_bad_file_shows_its_line_errors(
    page, live_server, demo_phase, alice_team, truth, shot, csp_violations
):
    base = live_server.url
    log_in(page, base, "alice")
    page.goto(base + reverse("phase-detail", args=[demo_phase.pk]))
    _choose_file(page, "answer.txt", answer_with_duplicate(truth, line=17))
    page.get_by_role("button", name="Upload and score").click()
    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    expect(page.locator("h1 [data-status]")).to_have_text("Failed", timeout=SCORING_TIMEOUT_MS)
    expect(page.locator("[data-file-errors]")).to_contain_text("line 17")
    shot(page, "submission-failed")
    assert Submission.objects.get().status == Submission.Status.FAILED
    assert csp_violations == []


def test_an_oversized_file_is_refused_before_it_is_sent(page, live_server, alice_team, alice, shot):
    phase = phase_with_labels(
        random_matrix(5, seed=0), challenge=alice_team.challenge, max_upload_bytes=1024
    )
    log_in(page, live_server.url, "alice")
    page.goto(live_server.url + reverse("phase-detail", args=[phase.pk]))
    _choose_file(page, "answer.txt", b"0" * 4096)
    expect(page.locator("[data-error-for='file']")).to_contain_text("at most 1.0 KB")
    page.get_by_role("button", name="Upload and score").click()
    expect(page.locator("[data-error-for='file']")).to_contain_text("at most 1.0 KB")
    assert not Submission.objects.exists()
    shot(page, "phase-file-too-large")


def test_an_organizer_closes_the_phase_in_admin_and_the_upload_form_refuses(
    browser, live_server, demo_phase, alice_team, truth, shot, csp_violations
):
    base = live_server.url
    olga = UserFactory(username="olga", is_staff=True, is_superuser=True)
    demo_phase.challenge.organizers.add(olga)

    participant = browser.new_context()
    page = participant.new_page()
    log_in(page, base, "alice")
    page.goto(base + reverse("phase-detail", args=[demo_phase.pk]))
    expect(page.get_by_role("button", name="Upload and score")).to_be_visible()

    organizer = browser.new_context()
    admin = organizer.new_page()
    log_in(admin, base, "olga")
    admin.goto(base + reverse("challenge-dashboard", args=[demo_phase.challenge.slug]))
    shot(admin, "organizer-dashboard")
    admin.get_by_role("link", name="open or close in admin").click()
    admin.get_by_label("Is open").uncheck()
    shot(admin, "admin-phase-close", phone=False)
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator(".messagelist")).to_contain_text("was changed successfully")

    # The participant's page was loaded while the phase was open: the server refuses.
    _choose_file(page, "answer.txt", answer_bytes(truth))
    page.get_by_role("button", name="Upload and score").click()
    expect(page.locator("[data-error-for='__all__']")).to_contain_text(
        "closed to submissions by the organizers"
    )
    shot(page, "phase-closed-refusal")
    page.reload()
    expect(page.get_by_text("does not take submissions now")).to_be_visible()
    expect(page.get_by_role("button", name="Upload and score")).to_have_count(0)
    assert not Submission.objects.exists()
    assert csp_violations == []
    participant.close()
    organizer.close()


def test_password_reset_pages(page, live_server, alice, mailoutbox, shot):
    base = live_server.url
    page.goto(base + reverse("login"))
    shot(page, "login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(alice.email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    link = re.search(r"https?://\S+/reset/\S+/", mailoutbox[0].body).group(0)
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("another horse battery")
    page.get_by_label("New password confirmation").fill("another horse battery")
    shot(page, "password-reset-confirm")
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
