"""A detection phase clicked through in headless Chromium: upload, scores, leaderboard."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from playwright.sync_api import expect

from submissions import queue
from submissions.models import Submission
from submissions.services import submission_create
from tests.browser.conftest import SCORING_TIMEOUT_MS, log_in
from tests.detection.conftest import frame_by_frame_csv, gzipped, make_detection_case

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def detection(challenge):
    challenge.title = "TinyActions Challenge 2022"
    challenge.save(update_fields=["title"])
    return make_detection_case(challenge, slug="detection")


def test_a_participant_uploads_a_detection_csv_and_sees_video_map_on_the_leaderboard(
    page, live_server, detection, alice_team, charlie_team, charlie, shot, csp_violations
):
    # Charlie's team already has a score: every box exact, but each its own tube.
    submission_create(
        user=charlie,
        phase=detection.phase,
        upload=SimpleUploadedFile("boxes.csv", frame_by_frame_csv(detection.records)),
    )
    queue.wait_for_in_process_scoring()
    assert Submission.objects.get().scores["frame_map"] == 1.0

    base = live_server.url
    log_in(page, base, "alice")
    page.goto(base + reverse("challenge-detail", args=[detection.phase.challenge.slug]))
    expect(
        page.get_by_text(re.compile(r"video-mAP@0\.5: the mean over the classes"))
    ).to_be_visible()
    shot(page, "detection-challenge-rules")

    page.get_by_role("link", name="Detection", exact=True).click()
    expect(page.get_by_text("video_id,tube_id,frame,class,score,x1,y1,x2,y2").first).to_be_visible()
    page.get_by_text("What the detection file looks like").click()
    expect(page.locator("[data-file-format] pre")).to_contain_text(
        f"{detection.records[0]['id']},0,0,"
    )
    page.get_by_label(re.compile("Prediction file")).set_input_files(
        {
            "name": "dets.csv.gz",
            "mimeType": "application/gzip",
            "buffer": gzipped(detection.noisy_csv()),
        }
    )
    page.get_by_label("Method name").fill("TubeNet")
    shot(page, "detection-upload-form")
    page.get_by_role("button", name="Upload and score").click()

    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    expect(page.locator("h1 [data-status]")).to_have_text("Finished", timeout=SCORING_TIMEOUT_MS)
    expected = detection.expected(detection.noisy_csv())
    scores = page.locator("[data-scores]")
    expect(scores).to_contain_text("video mAP (ranking)")
    expect(scores).to_contain_text(f"{expected['video_map']:.4f}")
    expect(scores).to_contain_text(f"{expected['frame_map']:.4f}")
    table = page.locator("table[data-per-class]")
    expect(table.locator("thead")).to_contain_text("frame AP")
    expect(table.locator("thead")).to_contain_text("video AP")
    expect(table.locator("tbody tr")).to_have_count(26)
    walking = expected["per_class"][14]
    expect(table.get_by_role("row", name=re.compile(r"^14 activity_walking"))).to_have_text(
        re.compile(
            rf"{walking['frame_ap']:.4f}\s*{walking['video_ap']:.4f}\s*{walking['support']}$"
        )
    )
    absent = next(c for c in expected["per_class"] if c["support"] == 0)
    expect(
        table.get_by_role("row", name=re.compile(rf"^{absent['class_id']} {absent['name']}"))
    ).to_have_text(re.compile(r"—\s*—\s*0$"))
    shot(page, "detection-submission-finished")

    page.get_by_role("link", name="See the leaderboard").click()
    expect(page.get_by_role("button", name="Video-mAP")).to_be_visible()
    expect(page.get_by_role("button", name="Frame-mAP")).to_be_visible()
    first = page.locator("table.leaderboard-table tbody tr").nth(0)
    second = page.locator("table.leaderboard-table tbody tr").nth(1)
    expect(first).to_contain_text("Alpha")
    expect(first.locator("td.primary-metric")).to_have_text(f"{expected['video_map']:.4f}")
    expect(second).to_contain_text("Charlie's")
    # The first secondary metric (frame mAP) follows the primary score and its interval;
    # the cells after the primary one carry no class (a smaller page).
    frame_map = second.locator("td.primary-metric ~ td:not(.interval)").nth(0)
    expect(frame_map).to_have_text("1.0000")
    shot(page, "detection-leaderboard")
    assert csp_violations == []
