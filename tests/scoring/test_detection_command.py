"""``python manage.py score --track detection`` (CONTRACT section 1) end to end."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from tests.scoring import score_command
from tests.scoring.detection_helpers import (
    HEADER,
    clip,
    csv_bytes,
    gt_tube,
    labels_json,
    shifted,
    tube_rows,
)

BOX = [10.0, 10.0, 30.0, 40.0]
RECORDS = [
    clip("00000", [gt_tube("activity_walking", 0, [BOX] * 5)]),
    clip(
        "00001", [gt_tube("Talking", 2, [BOX] * 3), gt_tube("Talking", 2, [shifted(BOX, 40)] * 3)]
    ),
    clip("00002", []),
]
ROWS = (
    tube_rows("00000", 0, "activity_walking", 0, [BOX] * 5, 0.9)
    + tube_rows("00001", 0, 8, 2, [BOX] * 3, 0.8)  # Talking by id: one of two tubes
    + tube_rows("00002", 0, "Misc", 0, [BOX] * 2, 0.7)  # no ground truth for Misc
)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    gt = tmp_path / "gt.json"
    dets = tmp_path / "dets.csv"
    gt.write_bytes(labels_json(RECORDS))
    dets.write_bytes(csv_bytes(ROWS))
    return gt, dets


def call(gt: Path, dets: Path, *extra: str) -> tuple[int, str, str]:
    return score_command.call("--track", "detection", "--labels", gt, "--submission", dets, *extra)


def check_scores(scores: dict) -> None:
    assert scores["track"] == "detection"
    assert scores["primary_metric"] == "video_map"
    assert scores["n_items"] == 3
    assert len(scores["per_class"]) == 26
    by_name = {e["name"]: e for e in scores["per_class"]}
    assert by_name["activity_walking"]["frame_ap"] == 1.0
    assert by_name["activity_walking"]["video_ap"] == 1.0
    # One of two Talking tubes found: recall 1/2 at precision 1, at both levels.
    assert by_name["Talking"]["frame_ap"] == 0.5
    assert by_name["Talking"]["video_ap"] == 0.5
    assert by_name["Talking"]["support"] == 2
    assert by_name["Misc"]["frame_ap"] is None
    assert by_name["Misc"]["video_ap"] is None
    assert scores["frame_map"] == scores["video_map"] == 0.75


def test_valid_submission_exits_0_with_the_score_json(files):
    code, out, err = call(*files)
    assert (code, err) == (0, "")
    check_scores(json.loads(out))


def test_gzipped_submission(files):
    gt, dets = files
    packed = dets.with_suffix(".csv.gz")
    packed.write_bytes(gzip.compress(dets.read_bytes()))
    code, out, _ = call(gt, packed)
    assert code == 0
    check_scores(json.loads(out))


def test_invalid_submission_exits_2_naming_lines(files):
    gt, dets = files
    lines = csv_bytes(ROWS).decode().splitlines()
    lines[3] = lines[3].replace(",0.9,", ",1.3,")
    lines.append("00009,0,0,Misc,0.5,1,1,2,2")
    dets.write_text("\n".join(lines) + "\n")
    code, out, err = call(gt, dets)
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        "line 4: score 1.3 is outside [0, 1]",
        f"line {len(lines)}: unknown video_id '00009'",
    ]


def test_a_bad_header_exits_2(files):
    gt, dets = files
    dets.write_text(HEADER.replace("score", "confidence") + "\n")
    code, out, err = call(gt, dets)
    assert (code, out) == (2, "")
    assert err.startswith("line 1: the header must be")


def test_invalid_detection_labels_exit_1(files):
    gt, dets = files
    gt.write_text(json.dumps([{"id": "00000", "dim": [5, 50, 50], "tubes": [{"label": "x"}]}]))
    code, out, err = call(gt, dets)
    assert (code, out) == (1, "")
    assert "record 1 (id '00000') tube 1: unknown label 'x'" in err


def run(*args: str | Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return score_command.run("--track", "detection", *args, tmp_path=tmp_path)


def test_as_a_user_runs_it(files, tmp_path):
    gt, dets = files
    done = run("--labels", gt, "--submission", dets, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    check_scores(json.loads(done.stdout))

    dets.write_bytes(dets.read_bytes() + b"00000,0,4,activity_walking,0.5,1,1,2,2\n")
    done = run("--labels", gt, "--submission", dets, tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"line {len(ROWS) + 2}: another row for video 00000, tube_id 0, class activity_walking, "
        "frame 4; the first is on line 6"
    ]
