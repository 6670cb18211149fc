"""The detection track through the REST API: upload, follow, leaderboard (CONTRACT 3)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.detection.conftest import frame_by_frame_csv, gzipped

pytestmark = pytest.mark.django_db


def _post(client, phase, data: bytes, name: str):
    return client.post(
        f"/api/v1/phases/{phase.pk}/submissions/",
        {"file": SimpleUploadedFile(name, data), "method_name": "TubeNet"},
        format="multipart",
    )


@pytest.mark.parametrize(("name", "pack"), [("dets.csv", bytes), ("dets.csv.gz", gzipped)])
def test_post_a_detection_csv_then_get_its_scores(
    inprocess_sync, detection, alice_team, alice_api, name, pack
):
    data = detection.noisy_csv()

    with inprocess_sync():
        created = _post(alice_api, detection.phase, pack(data), name)

    assert created.status_code == 201, created.json()
    assert created.json()["status"] == "queued"
    response = alice_api.get(f"/api/v1/submissions/{created.json()['id']}/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "finished"
    assert body["errors"] == []
    assert body["original_filename"] == name
    expected = detection.expected(data)
    assert body["scores"] == expected
    assert body["primary_score"] == expected["video_map"]
    assert body["scores"]["primary_metric"] == "video_map"
    per_class = body["scores"]["per_class"]
    assert [c["class_id"] for c in per_class] == list(range(26))
    assert {"frame_ap", "video_ap", "support"} <= per_class[0].keys()


def test_a_bad_detection_csv_comes_back_failed_with_line_errors(
    inprocess_sync, detection, alice_team, alice_api
):
    data = detection.noisy_csv().replace(b"\n00000,0,", b"\n00000,zero,", 1)

    with inprocess_sync():
        created = _post(alice_api, detection.phase, data, "dets.csv")

    body = alice_api.get(f"/api/v1/submissions/{created.json()['id']}/").json()
    assert body["status"] == "failed"
    assert body["scores"] is None
    assert len(body["errors"]) == 1
    assert body["errors"][0].startswith("line 2: ")
    assert "tube_id" in body["errors"][0]


def test_the_leaderboard_api_ranks_detection_by_video_map(
    inprocess_sync, detection, alice_team, alice_api, charlie_team, charlie_api, api
):
    with inprocess_sync():
        # Exact boxes, one tube per frame: the best frame-mAP, a poor video-mAP.
        charlie = _post(
            charlie_api, detection.phase, frame_by_frame_csv(detection.records), "a.csv"
        )
        alice = _post(alice_api, detection.phase, gzipped(detection.noisy_csv()), "b.csv.gz")

    response = api.get(f"/api/v1/phases/{detection.phase.pk}/leaderboard/")

    assert response.status_code == 200
    body = response.json()
    assert body["primary_metric"] == "video_map"
    first, second = body["entries"]
    assert (first["rank"], first["team"], first["submission_id"]) == (
        1,
        "Alpha",
        alice.json()["id"],
    )
    assert (second["rank"], second["team"], second["submission_id"]) == (
        2,
        "Charlie's",
        charlie.json()["id"],
    )
    assert first["scores"]["video_map"] > second["scores"]["video_map"]
    assert first["scores"]["frame_map"] < second["scores"]["frame_map"] == 1.0
    assert first["primary_score"] == first["scores"]["video_map"]
    assert (
        first["scores"]
        == alice_api.get(f"/api/v1/submissions/{first['submission_id']}/").json()["scores"]
    )


def test_the_challenge_list_shows_the_detection_track(detection, api):
    body = api.get("/api/v1/challenges/").json()
    challenges = body["results"] if isinstance(body, dict) else body
    phases = {p["slug"]: p for c in challenges for p in c["phases"]}
    assert phases["det"]["track"] == "detection"
    assert phases["det"]["id"] == detection.phase.pk
