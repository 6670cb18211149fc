"""The pages of a detection phase: rules, the upload form's file format, the scores."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from submissions.models import Submission
from tests.detection.conftest import HEADER
from tests.factories import PhaseFactory

pytestmark = pytest.mark.django_db


class _Table(HTMLParser):
    """The cells of the ``data-per-class`` table's body, row by row, as text."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_table = self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and "data-per-class" in dict(attrs):
            self._in_table = True
        elif self._in_table and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append([])
        elif self._in_body and tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._in_table = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _per_class_rows(html: str) -> list[list[str]]:
    table = _Table()
    table.feed(html)
    return table.rows


def _web(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_the_upload_form_of_a_detection_phase_says_what_file_it_takes(
    detection, alice, alice_team, settings
):
    settings.EVALSERVER_DETECTION_MAX_BYTES = 512 * 1024 * 1024

    html = _web(alice).get(reverse("phase-detail", args=[detection.phase.pk])).content.decode()

    assert f"A detection CSV with the header {HEADER}: .csv, .csv.gz, or the only file" in html
    # The example uses the phase's own first clip, and each mistake shows its real message.
    first = str(detection.records[0]["id"])
    assert f'<pre class="mono" data-example>{HEADER}\n{first},0,0,' in html
    assert "<code>.csv</code>, gzipped (<code>.csv.gz</code>)" in html
    assert "at most 512.0\xa0MB once decompressed" in html
    assert "line 1: the header must be" in html
    assert "answer.txt" not in html


def test_the_upload_form_of_a_recognition_phase_asks_for_answer_txt(
    phase_labelled, alice, alice_team
):
    # With labels: a phase without any shows no upload form.
    html = _web(alice).get(reverse("phase-detail", args=[phase_labelled.pk])).content.decode()

    assert "answer.txt as plain text, .gz or inside a .zip." in html
    assert HEADER not in html
    assert "What answer.txt looks like" in html
    assert "What the detection file looks like" not in html


def test_the_rules_name_video_map_at_0_5_for_detection_phases(client, detection, challenge):
    PhaseFactory(challenge=challenge, slug="dev", name="Validation")

    html = client.get(reverse("challenge-detail", args=[challenge.slug])).content.decode()

    assert html.count("Ranking: each team's best finished submission, by") == 2
    assert "by\n    video-mAP@0.5: the mean over the classes with ground truth" in html
    assert "macro F1 over all 26 classes" in html
    phase_html = client.get(reverse("phase-detail", args=[detection.phase.pk])).content.decode()
    assert "video-mAP@0.5" in phase_html
    assert "Detection (localisation)" in phase_html


def test_the_submission_page_shows_frame_and_video_ap_per_class(
    inprocess_sync, detection, alice, alice_team
):
    data = detection.noisy_csv()
    client = _web(alice)
    with inprocess_sync():
        response = client.post(
            reverse("phase-detail", args=[detection.phase.pk]),
            {"file": SimpleUploadedFile("dets.csv", data)},
        )
    submission = Submission.objects.get()
    assert response["Location"] == reverse("submission-detail", args=[submission.pk])

    html = client.get(response["Location"]).content.decode()

    expected = detection.expected(data)
    assert f"{expected['video_map']:.4f}" in html
    assert f"{expected['frame_map']:.4f}" in html
    assert "video mAP (ranking)" in html
    assert (
        '<th scope="col" class="num">frame AP</th><th scope="col" class="num">video AP</th>' in html
    )
    rows = _per_class_rows(html)
    assert len(rows) == 26
    for row, scores in zip(rows, expected["per_class"], strict=True):
        shown = [
            "—" if scores[key] is None else f"{scores[key]:.4f}" for key in ("frame_ap", "video_ap")
        ]
        assert row == [str(scores["class_id"]), scores["name"], *shown, str(scores["support"])]
    # Classes with no ground truth in this small set: no AP, shown as a dash.
    no_truth = [row for row in rows if row[4] == "0"]
    assert no_truth
    assert all(row[2:4] == ["—", "—"] for row in no_truth)
