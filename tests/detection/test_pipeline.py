"""Detection submissions through the submission service and the in-process scorer."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from evalserver import scoring
from evalserver.challenges.services import phase_set_labels
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from leaderboard.selectors import leaderboard_entries
from submissions.models import Submission
from submissions.services import submission_create, submission_rerun
from tests.detection.conftest import (
    HEADER,
    detection_labels_json,
    frame_by_frame_csv,
    gzipped,
    zipped,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

Status = Submission.Status


def _submit(user, phase, data: bytes, name: str = "dets.csv") -> Submission:
    submission = submission_create(user=user, phase=phase, upload=SimpleUploadedFile(name, data))
    submission.refresh_from_db()
    return submission


@pytest.mark.parametrize(
    ("name", "pack"),
    [("dets.csv", bytes), ("dets.csv.gz", gzipped), ("dets.zip", zipped)],
)
def test_a_detection_file_is_scored_like_the_library_does(
    inprocess_sync, detection, alice, alice_team, name, pack
):
    data = detection.noisy_csv()

    with inprocess_sync():
        submission = submission_create(
            user=alice, phase=detection.phase, upload=SimpleUploadedFile(name, pack(data))
        )

    submission.refresh_from_db()
    assert submission.status == Status.FINISHED, submission.errors
    expected = detection.expected(data)
    assert submission.scores == expected
    assert submission.primary_score == expected["video_map"]
    assert 0 < expected["video_map"] < 1
    assert submission.events.filter(action="finished").get().detail["primary_metric"] == (
        "video_map"
    )


def test_the_leaderboard_ranks_detection_by_video_map(
    inprocess_sync, detection, alice, alice_team, charlie, charlie_team
):
    # Charlie's boxes are all exact but every box is its own tube: frame-mAP 1, video-mAP low.
    exact_boxes = frame_by_frame_csv(detection.records)
    with inprocess_sync():
        _submit(charlie, detection.phase, exact_boxes)
        _submit(alice, detection.phase, detection.noisy_csv())

    alice_scores = Submission.objects.get(team=alice_team).scores
    charlie_scores = Submission.objects.get(team=charlie_team).scores
    assert charlie_scores["frame_map"] == 1.0
    assert charlie_scores["frame_map"] > alice_scores["frame_map"]
    assert charlie_scores["video_map"] < alice_scores["video_map"]

    entries, _ = leaderboard_entries(phase=detection.phase)
    assert [(e.rank, e.team) for e in entries] == [(1, "Alpha"), (2, "Charlie's")]
    assert [e.primary_score for e in entries] == [
        alice_scores["video_map"],
        charlie_scores["video_map"],
    ]


def test_a_bad_csv_fails_with_the_lines_at_fault(inprocess_sync, detection, alice, alice_team):
    lines = detection.noisy_csv().decode().splitlines()
    fields = lines[16].split(",")  # line 17 of the file
    fields[4] = "1.3"
    lines[16] = ",".join(fields)
    fields = lines[40].split(",")  # line 41
    fields[0] = "99999"
    lines[40] = ",".join(fields)
    data = ("\n".join(lines) + "\n").encode()

    with inprocess_sync():
        submission = _submit(alice, detection.phase, data)

    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert submission.scores is None
    assert submission.primary_score is None
    assert submission.errors == [
        "line 17: score 1.3 is outside [0, 1]",
        "line 41: unknown video_id '99999'",
    ]


def test_a_recognition_answer_on_a_detection_phase_is_refused(
    inprocess_sync, detection, alice, alice_team
):
    answer = b"00000 " + b"0 " * 25 + b"1\n"

    with inprocess_sync():
        submission = _submit(alice, detection.phase, answer, name="answer.txt")

    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert len(submission.errors) == 1
    assert submission.errors[0].startswith("line 1: ")
    assert HEADER in submission.errors[0], submission.errors


def test_a_csv_over_the_decompressed_cap_fails_with_a_clear_message(
    settings, inprocess_sync, detection, alice, alice_team
):
    settings.EVALSERVER_DETECTION_MAX_BYTES = 64 * 1024
    data = detection.noisy_csv()
    assert len(data) > 64 * 1024
    upload = gzipped(data)
    assert len(upload) < 64 * 1024  # the upload itself is small: the CSV inside is not

    with inprocess_sync():
        submission = _submit(alice, detection.phase, upload, name="dets.csv.gz")

    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert submission.errors == [
        "the gzip-compressed submission is larger than the limit of 64 KiB",
        "the limit counts the CSV after decompression (about 1,310 rows); leave out "
        "low-scoring boxes and upload again",
    ]


def test_only_a_size_refusal_gets_the_decompression_advice(
    inprocess_sync, detection, alice, alice_team
):
    # A line error that happens to quote the size refusal's words is not a size refusal:
    # the worker tells them apart by type.
    lines = detection.noisy_csv().decode().splitlines()
    fields = lines[1].split(",")
    fields[3] = "is larger than the limit of 1 MiB"
    lines[1] = ",".join(fields)
    data = ("\n".join(lines) + "\n").encode()

    with inprocess_sync():
        submission = _submit(alice, detection.phase, data)

    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert submission.errors == [
        "line 2: unknown class 'is larger than the limit of 1 MiB' (use a class name or id)"
    ]


def test_the_cap_applies_to_detection_only(settings, inprocess_sync, detection, alice, alice_team):
    data = detection.noisy_csv()
    settings.EVALSERVER_DETECTION_MAX_BYTES = len(data)

    with inprocess_sync():
        submission = _submit(alice, detection.phase, gzipped(data), name="dets.csv.gz")

    submission.refresh_from_db()
    assert submission.status == Status.FINISHED, submission.errors


def test_a_rerun_after_a_label_fix_scores_against_the_new_labels(
    inprocess_sync, detection, alice, alice_team
):
    organizer = UserFactory(username="olga")
    detection.phase.challenge.organizers.add(organizer)
    data = detection.noisy_csv()
    with inprocess_sync():
        submission = _submit(alice, detection.phase, data)
    first = Submission.objects.get(pk=submission.pk).scores

    # The organizers drop every clip's second and third actor.
    fixed = [dict(r, tubes=r["tubes"][:1]) for r in detection.records]
    fixed_json = detection_labels_json(fixed)
    phase_set_labels(phase=detection.phase, data=fixed_json, filename="det.json")
    with inprocess_sync():
        submission_rerun(submission=submission, actor=organizer)

    second = Submission.objects.get(pk=submission.pk).scores
    labels = scoring.load_labels("detection", fixed_json, TINYVIRAT_V2_CLASSES)
    assert second == scoring.score("detection", labels, data)
    assert second != first
