"""A TinyActions 2022 layout zip uploaded to a detection phase, through the worker."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from evalserver import scoring
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from submissions.models import Submission
from submissions.services import submission_create
from tests.scoring.test_detection_2022 import Reduce, zip_of

pytestmark = pytest.mark.django_db


def _submit(user, phase, data: bytes) -> Submission:
    submission = submission_create(
        user=user, phase=phase, upload=SimpleUploadedFile("preds.zip", data)
    )
    return submission


def perfect_2022_zip(records: list[dict]) -> bytes:
    """Every true tube exactly, in the 2022 layout (normalised boxes, -1 elsewhere)."""
    members = {}
    for record in records:
        n, w, h = record["dim"]
        arrays: dict[int, list[np.ndarray]] = {}
        for t in record["tubes"]:
            row = np.full(4 * n + 1, -1.0)
            for k, box in enumerate(t["boxes"]):
                f = t["start"] + k
                row[4 * f : 4 * f + 4] = [box[0] / w, box[1] / h, box[2] / w, box[3] / h]
            row[-1] = 0.9
            arrays.setdefault(TINYVIRAT_V2_CLASSES.index(t["label"]) + 1, []).append(row)
        members[f"{record['id']}/pred.pkl"] = pickle.dumps(
            {k: np.stack(v) for k, v in arrays.items()}
        )
    return zip_of(members)


@pytest.mark.parametrize("protocol", ["voc", "act"])
def test_a_2022_zip_is_scored_like_the_library_does(
    inprocess_sync, detection, alice, alice_team, protocol
):
    phase = detection.phase
    phase.detection_protocol = protocol
    phase.save()
    upload = perfect_2022_zip(detection.records[:20])
    with inprocess_sync():
        submission = _submit(alice, phase, upload)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FINISHED, submission.errors
    expected = scoring.score("detection", detection.labels, upload, protocol=protocol)
    assert submission.scores == expected
    assert 0 < expected["video_map"] < 1


def test_a_hostile_zip_fails_naming_the_file_and_runs_nothing(
    inprocess_sync, detection, alice, alice_team, tmp_path
):
    marker = tmp_path / "executed"
    evil = pickle.dumps(Reduce(os.system, f"touch {marker}"))
    with inprocess_sync():
        submission = _submit(alice, detection.phase, zip_of({"00001/pred.pkl": evil}))
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FAILED
    assert submission.errors == [
        "00001/pred.pkl: refused, never unpickled: it asks for posix.system; only dicts of "
        "numpy arrays are read"
    ]
    assert not marker.exists()


def test_the_submission_page_shows_the_protocol_and_the_warning(
    inprocess_sync, detection, alice, alice_team
):
    from django.test import Client
    from django.urls import reverse

    record = detection.records[0]
    n = record["dim"][0]
    flat = np.full((1, 4 * n + 1), -1.0)
    flat[0, :4] = [0.5, 0.5, 0.5, 0.6]  # zero width: dropped
    flat[0, 4:8] = [0.1, 0.1, 0.3, 0.3]
    flat[0, -1] = 0.5
    upload = zip_of({f"{record['id']}/pred.pkl": pickle.dumps({1: flat})})
    phase = detection.phase
    phase.detection_protocol = "act"
    phase.save()
    with inprocess_sync():
        submission = _submit(alice, phase, upload)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FINISHED, submission.errors
    client = Client()
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    html = client.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert '<dt>protocol</dt><dd class="mono">act</dd>' in html
    assert "1 degenerate boxes (x2 &lt;= x1 or y2 &lt;= y1 once in pixels) were left out" in html
    rules = client.get(reverse("phase-detail", args=[phase.pk])).content.decode()
    assert "video-mAP@0.5 under the ACT conventions: the mean over every class" in rules
    assert "TinyActions 2022 .zip of &lt;clip_id&gt;/pred.pkl files" in rules
