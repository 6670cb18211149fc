"""The organizer console clicked through in headless Chromium at 1280 px: every page is
screenshotted (screenshots/console-*.png) and none is wider than the window."""

import pytest
from playwright.sync_api import expect

from evalserver.console.models import Rescore
from evalserver.teams.models import Membership
from submissions.models import Submission
from tests.browser.conftest import log_in
from tests.console.conftest import make_board
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.recognition_data import labels_json

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def board(challenge, alice, alice_team, charlie, charlie_team, inprocess_sync):
    """tests/console's board: Alpha, Charlie's and Delta, swapped by the label fix."""
    dave = UserFactory(username="dave")
    team = TeamFactory(challenge=challenge, name="Delta", created_by=dave)
    MembershipFactory(team=team, user=dave, role=Membership.Role.OWNER)
    return make_board(
        challenge, {"alice": alice, "charlie": charlie, "dave": dave}, sync=inprocess_sync
    )


def _fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    window = page.evaluate("window.innerWidth")
    assert width <= window, f"{page.url} is {width} px wide in a {window} px window"


def _visit(page, shot, name: str) -> None:
    _fits(page)
    shot(page, f"console-{name}", phone=False)


def test_an_organizer_runs_the_challenge_from_the_console(
    page,
    live_server,
    board,
    organizer,
    shot,
    csp_violations,
):
    base = live_server.url
    log_in(page, base, "olga")

    page.goto(base + "/console/")
    _visit(page, shot, "index")
    page.get_by_role("link", name=board.phase.challenge.title).click()
    expect(page.get_by_role("heading", name="Phases", exact=True)).to_be_visible()
    _visit(page, shot, "overview")

    # One click closes the phase, with an optional reason.
    page.get_by_label("Reason (optional)").first.fill("checking the labels")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Close now").click()
    expect(page.get_by_role("status").first).to_contain_text("is closed")
    page.get_by_role("button", name="Open now").click()
    expect(page.get_by_role("status").first).to_contain_text("is open")

    page.get_by_role("link", name="Final").click()
    _visit(page, shot, "phase")
    page.get_by_label("Hidden label file").set_input_files(
        {"name": "bad.json", "mimeType": "application/json", "buffer": b'[{"id": "1"}]'}
    )
    page.get_by_role("button", name="Check only").click()
    expect(page.locator("[data-labels-check=invalid]")).to_be_visible()
    _visit(page, shot, "phase-labels-invalid")
    page.get_by_label("Hidden label file").set_input_files(
        {"name": "fixed.json", "mimeType": "application/json", "buffer": labels_json(board.fixed)}
    )
    page.get_by_role("button", name="Preview re-score").click()
    expect(page.locator("[data-rescore-status=ready]")).to_be_visible(timeout=30_000)
    expect(page.locator("[data-rank-diff]")).to_contain_text("Charlie's")
    _visit(page, shot, "rescore-diff")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Apply: make it live").click()
    expect(page.locator("[data-rescore-status=applied]")).to_be_visible()
    assert Rescore.objects.get().status == "applied"

    page.get_by_role("link", name="Submissions", exact=True).click()
    _visit(page, shot, "submissions")
    dave_sub = board.submissions["dave"]
    page.get_by_label(f"Select submission {dave_sub.pk}").check()
    page.get_by_label("Action").select_option("disqualify")
    page.get_by_label("Reason").fill("shared an account with another team")
    page.get_by_role("button", name="Apply to selected").click()
    expect(page.get_by_role("status").first).to_contain_text("Disqualify: 1 of 1 done")
    assert Submission.objects.get(pk=dave_sub.pk).is_disqualified

    page.get_by_role("link", name=str(dave_sub.pk), exact=True).click()
    expect(page.locator("[data-events]")).to_contain_text("shared an account")
    _visit(page, shot, "submission")

    page.get_by_role("link", name="Teams", exact=True).click()
    _visit(page, shot, "teams")
    page.get_by_role("link", name="Announcements", exact=True).click()
    page.get_by_label("Title").fill("Labels corrected")
    page.get_by_label("Message").fill("We fixed **12** labels; the board was re-scored.")
    page.get_by_role("button", name="Post").click()
    expect(page.locator("[data-announcement] strong")).to_have_text("12")
    _visit(page, shot, "announcements")
    page.get_by_role("link", name="Audit trail", exact=True).click()
    _visit(page, shot, "audit")
    page.get_by_role("link", name="Dashboard", exact=True).click()
    expect(page.locator("[data-chart=uploads] svg")).to_be_visible()
    expect(page.locator("[data-chart=scoring-times] svg")).to_be_visible()
    _visit(page, shot, "dashboard")
    assert csp_violations == []


def test_the_team_sees_why_it_was_disqualified(
    browser,
    live_server,
    board,
    organizer,
    shot,
):
    from submissions.services import submission_set_flags

    submission = board.submissions["dave"]
    submission_set_flags(
        submission=submission, actor=organizer, disqualified=True, reason="two accounts"
    )
    context = browser.new_context()
    page = context.new_page()
    log_in(page, live_server.url, "dave")
    page.goto(f"{live_server.url}/submissions/{submission.pk}/")
    expect(page.locator("[data-organizer-notices]")).to_contain_text("Disqualified")
    expect(page.locator("[data-organizer-notices]")).to_contain_text("two accounts")
    _fits(page)
    shot(page, "submission-disqualified-team-view", phone=False)
    context.close()
