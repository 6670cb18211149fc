"""A new participant goes from the challenge page to a first valid submission using only
what the pages offer (issue 14): the downloads, the format help, Check only, the starting
kit. The demo is the real one (seed_demo), with its history on every board."""

import json
import random
import re
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from evalserver.challenges.models import Phase
from submissions.models import Submission
from tests.browser.conftest import SCORING_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    call_command("seed_demo", "--force", stdout=StringIO())
    return Phase.objects.get(slug="test")


def _log_in_as_erin(page, base):
    page.goto(base + reverse("login"))
    page.get_by_label("Username").fill("erin")
    page.get_by_label("Password").fill("erin-demo-2021")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def _download(page, name: str, folder):
    with page.expect_download() as info:
        page.locator(f'[data-download="{name}"]').first.click()
    path = folder / name
    info.value.save_as(path)
    return path


def test_from_the_challenge_page_to_a_first_valid_submission(
    page, live_server, demo, tmp_path, shot, csp_violations
):
    base = live_server.url
    _log_in_as_erin(page, base)
    page.goto(base + reverse("challenge-detail", args=[demo.challenge.slug]))
    expect(page.get_by_role("heading", name="Downloads")).to_be_visible()
    # The starting kit is for participants: erin is in no team yet.
    expect(page.locator('[data-download="make_answer.py"]')).to_have_count(0)
    expect(page.get_by_text("join or create a team").first).to_be_visible()
    shot(page, "onboarding-challenge-downloads")
    clips = _download(page, "tiny_test_v2_public.json", tmp_path)
    class_map = _download(page, "class_map.json", tmp_path)
    assert len(json.loads(clips.read_text())) == demo.n_items
    assert len(json.loads(class_map.read_text())) == 26

    page.get_by_role("link", name="join or create a team").first.click()
    page.get_by_label("Team name").fill("Erin's Lab")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("heading", name="Team Erin's Lab")).to_be_visible()

    page.goto(base + reverse("challenge-detail", args=[demo.challenge.slug]))
    kit = _download(page, "make_answer.py", tmp_path)

    # Erin's model: probabilities for most clips (it skipped a few, as models do).
    ids = [r["id"] for r in json.loads(clips.read_text())]
    rng = random.Random(5)
    probs = {cid: [round(rng.random(), 3) for _ in range(26)] for cid in ids[5:]}
    (tmp_path / "probs.json").write_text(json.dumps(probs))

    page.get_by_role("link", name="Test", exact=True).click()
    page.get_by_text("What answer.txt looks like").click()
    expect(page.locator("[data-file-format] pre")).to_contain_text("00000 ")
    expect(page.locator("[data-mistakes]")).to_contain_text("already given on line")
    shot(page, "onboarding-format-help")

    # A first try with commas: Check only says what is wrong and uses no submission.
    bad = ",".join(["00000", *["0"] * 26]) + "\n"
    page.get_by_label(re.compile("Prediction file")).set_input_files(
        {"name": "answer.txt", "mimeType": "text/plain", "buffer": bad.encode()}
    )
    page.get_by_role("button", name="Check only").click()
    expect(page.locator("[data-check-invalid]")).to_be_visible()
    expect(page.locator("[data-check-result]")).to_contain_text("separated by commas")
    shot(page, "onboarding-check-only-invalid")
    assert not Submission.objects.filter(team__name="Erin's Lab").exists()

    answer = tmp_path / "answer.txt"
    done = subprocess.run(
        [sys.executable, str(kit), "--clips", str(clips), "--probs", str(tmp_path / "probs.json"),
         "-o", str(answer)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page.get_by_label(re.compile("Prediction file")).set_input_files(str(answer))
    page.get_by_role("button", name="Check only").click()
    expect(page.locator("[data-check-valid]")).to_contain_text(f"{demo.n_items} clips")
    shot(page, "onboarding-check-only-valid")
    assert not Submission.objects.filter(team__name="Erin's Lab").exists()

    page.get_by_label("Method name").fill("Random probabilities")
    page.get_by_role("button", name="Upload and score").click()
    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    expect(page.locator("h1 [data-status]")).to_have_text("Finished", timeout=SCORING_TIMEOUT_MS)
    expect(page.locator("[data-standing]")).to_contain_text("behind the leader")
    shot(page, "onboarding-first-submission")

    page.get_by_role("link", name="See the leaderboard").click()
    expect(page.get_by_role("row", name=re.compile("Erin's Lab"))).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(10)
    shot(page, "onboarding-leaderboard")
    assert csp_violations == []
