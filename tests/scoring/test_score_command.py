"""``python manage.py score`` (CONTRACT section 1): output, exit codes, messages.

Exit 0 with one JSON object on stdout; exit 2 with nothing on stdout for an invalid
submission; exit 1 for everything else. No test here may touch the database:
pytest-django refuses any query from a test without the ``django_db`` mark.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from evalserver.scoring import recognition
from tests.scoring.conftest import (
    CLASSES,
    answer_lines,
    answer_txt,
    clip_ids,
    gt_json,
    random_truth,
)
from tests.scoring.score_command import call, run

N = 60
IDS = clip_ids(N)
Y = random_truth(N, seed=11)
P = random_truth(N, seed=12)


@pytest.fixture
def case(write_case):
    """Default files: valid labels and a valid answer; tests overwrite what they need."""
    gt, answer = write_case(gt_json(IDS, Y), answer_txt(IDS, P))
    return gt, answer


def classification(gt: Path, answer: Path, *extra: str | Path) -> tuple[int, str, str]:
    return call("--track", "classification", "--labels", gt, "--submission", answer, *extra)


def expected() -> dict:
    return recognition.compute_metrics(Y, P, CLASSES)


def with_lines(answer: Path, lines: list[str]) -> Path:
    answer.write_text("\n".join(lines) + "\n")
    return answer


# --- valid input ---------------------------------------------------------------------


def test_valid_submission_prints_one_json_object_as_a_subprocess(case, tmp_path):
    gt, answer = case
    done = run(
        "--track", "classification", "--labels", gt, "--submission", answer, tmp_path=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout) == expected()


def test_valid_submission_in_process(case):
    code, out, err = classification(*case)
    assert (code, err) == (0, "")
    scores = json.loads(out)
    assert scores == expected()
    assert scores["track"] == "classification"
    assert scores["primary_metric"] == "macro_f1"
    assert scores["n_items"] == N
    assert len(scores["per_class"]) == 26


@pytest.mark.parametrize("kind", ["zip", "gzip"])
def test_compressed_submission(case, kind):
    gt, answer = case
    text = answer.read_bytes()
    if kind == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("answer.txt", text)
        data = buf.getvalue()
    else:
        data = gzip.compress(text)
    packed = answer.with_name("answer.zip" if kind == "zip" else "answer.txt.gz")
    packed.write_bytes(data)
    code, out, _ = classification(gt, packed)
    assert code == 0
    assert json.loads(out) == expected()


def test_custom_class_map(write_case, tmp_path):
    names = ["walk", "run", "sit"]
    y = np.array([[1, 0, 0], [0, 1, 1]], dtype=np.uint8)
    gt, answer = write_case(gt_json(["a", "b"], y, names), b"b 0 1 1\na 1 1 0\n")
    class_map = tmp_path / "class_map.json"
    class_map.write_text(json.dumps({"sit": 2, "walk": 0, "run": 1}))
    code, out, err = classification(gt, answer, "--class-map", class_map)
    assert (code, err) == (0, "")
    scores = json.loads(out)
    assert [c["name"] for c in scores["per_class"]] == names
    assert [c["f1"] for c in scores["per_class"]] == [1.0, pytest.approx(2 / 3), 1.0]


# --- invalid submissions: exit 2, nothing on stdout, the line named on stderr ----------


def _replace_value(lines: list[str], line_no: int, column: int, value: str) -> None:
    fields = lines[line_no - 1].split(" ")
    fields[column] = value
    lines[line_no - 1] = " ".join(fields)


def _bad_value(lines):
    _replace_value(lines, 42, 17, "2")
    return ["line 42: value '2' in column 17 is not 0 or 1"]


def _unknown_id(lines):
    lines[6] = "99999" + lines[6][5:]
    return ["line 7: unknown clip id '99999'", "1 clip id missing: 00006"]


def _short_line(lines):
    lines[8] = lines[8][:-2]
    return ["line 9: expected 26 values after the id, found 25"]


def _duplicate(lines):
    lines[11] = IDS[10] + lines[11][5:]
    return ["line 12: clip id '00010' already given on line 11", "1 clip id missing: 00011"]


def _blank_line(lines):
    lines.insert(5, "")
    return ["line 6: blank line; blank lines are only allowed at the end"]


def _missing(lines):
    del lines[40:43]
    return ["3 clip ids missing: 00040, 00041, 00042"]


@pytest.mark.parametrize(
    "breaker", [_bad_value, _unknown_id, _short_line, _duplicate, _blank_line, _missing]
)
def test_invalid_submission_exits_2_and_names_the_line(case, breaker):
    gt, answer = case
    lines = answer_lines(IDS, P)
    want = breaker(lines)
    code, out, err = classification(gt, with_lines(answer, lines))
    assert code == 2
    assert out == ""
    assert err.splitlines() == want


def test_undecodable_line(case):
    gt, answer = case
    data = answer.read_bytes().replace(b"00002 ", b"\xff\xfe002 ", 1)
    answer.write_bytes(data)
    code, out, err = classification(gt, answer)
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == "line 3: not valid UTF-8 text (byte 0xff at position 1)"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the submission is empty"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), "line 1: NUL byte"),
        (b"PK\x03\x04" + b"\x00garbage" * 20, "the zip archive is corrupt"),
        (b"\x1f\x8b\x08\x00broken", "the gzip file is corrupt"),
    ],
)
def test_unreadable_submissions_exit_2(case, data, message):
    gt, answer = case
    answer.write_bytes(data)
    code, out, err = classification(gt, answer)
    assert (code, out) == (2, "")
    assert err.startswith(message)


def test_zip_with_two_files_exits_2(case):
    gt, answer = case
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("answer.txt", answer.read_bytes())
        zf.writestr("readme.txt", "hello")
    packed = answer.with_name("both.zip")
    packed.write_bytes(buf.getvalue())
    code, out, err = classification(gt, packed)
    assert (code, out) == (2, "")
    assert "holds 2 files" in err


def test_problem_list_is_capped_with_the_count_of_the_rest(case):
    gt, answer = case
    lines = [line + " 1" for line in answer_lines(IDS, P)]
    code, out, err = classification(gt, with_lines(answer, lines))
    assert (code, out) == (2, "")
    printed = err.splitlines()
    assert len(printed) == recognition.MAX_PROBLEMS + 1
    assert printed[0] == "line 1: expected 26 values after the id, found 27"
    assert printed[-1] == f"... and {N - recognition.MAX_PROBLEMS} more problems"


def test_oversized_submission_exits_2(case):
    gt, answer = case
    code, out, err = classification(gt, answer, "--max-bytes", "100")
    assert (code, out) == (2, "")
    assert err.strip() == "the submission is larger than the limit of 100 bytes"


def test_invalid_submission_as_a_subprocess(case, tmp_path):
    gt, answer = case
    lines = answer_lines(IDS, P)
    _replace_value(lines, 42, 17, "2")
    with_lines(answer, lines)
    done = run(
        "--track", "classification", "--labels", gt, "--submission", answer, tmp_path=tmp_path
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == ["line 42: value '2' in column 17 is not 0 or 1"]


# --- everything else: exit 1 --------------------------------------------------------------


def test_missing_labels_file(case, tmp_path):
    _, answer = case
    code, out, err = classification(tmp_path / "nope.json", answer)
    assert (code, out) == (1, "")
    assert err.strip() == f"labels file not found: {tmp_path / 'nope.json'}"


def test_missing_submission_file(case, tmp_path):
    gt, _ = case
    code, out, err = classification(gt, tmp_path / "nope.txt")
    assert (code, out) == (1, "")
    assert err.strip() == f"submission not found: {tmp_path / 'nope.txt'}"


def test_submission_that_is_a_directory(case, tmp_path):
    gt, _ = case
    code, out, err = classification(gt, tmp_path)
    assert (code, out) == (1, "")
    assert "is a directory" in err


def test_invalid_labels_file_lists_its_problems(case):
    gt, answer = case
    records = json.loads(gt.read_text())
    records[3]["label"] = ["Dancing"]
    del records[5]["id"]
    gt.write_text(json.dumps(records))
    code, out, err = classification(gt, answer)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"the labels file {gt} is invalid:",
        "record 6: has no 'id'",
        "record 4 (id '00003'): unknown class 'Dancing'",
    ]


def test_labels_file_that_is_not_json(case):
    gt, answer = case
    gt.write_text("[{")
    code, _, err = classification(gt, answer)
    assert code == 1
    assert "the labels file is not valid JSON" in err


def test_invalid_class_map(case, tmp_path):
    gt, answer = case
    class_map = tmp_path / "class_map.json"
    class_map.write_text(json.dumps({"a": 0, "b": 0}))
    code, out, err = classification(gt, answer, "--class-map", class_map)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"the class map {class_map} is invalid:",
        "class 'b': id 0 is already used by 'a'",
    ]


def test_missing_class_map(case, tmp_path):
    gt, answer = case
    code, _, err = classification(gt, answer, "--class-map", tmp_path / "nope.json")
    assert code == 1
    assert "class map not found" in err


def test_labels_not_matching_the_class_map(case, tmp_path):
    gt, answer = case
    class_map = tmp_path / "class_map.json"
    class_map.write_text(json.dumps({"walk": 0, "run": 1}))
    code, _, err = classification(gt, answer, "--class-map", class_map)
    assert code == 1
    assert "unknown class" in err


def test_usage_error_exits_1_not_2(case, tmp_path):
    gt, answer = case
    done = run("--track", "segmentation", "--labels", gt, "--submission", answer, tmp_path=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "invalid choice: 'segmentation'" in done.stderr


def test_help_exits_0(tmp_path):
    done = run("--help", tmp_path=tmp_path)
    assert done.returncode == 0
    assert "--class-map" in done.stdout


# --- the other track goes through the same door ----------------------------------------------


def test_detection_track_is_dispatched(write_case):
    records = [
        {
            "id": "00007",
            "dim": [10, 120, 120],
            "label": ["activity_walking"],
            "tubes": [
                {
                    "label": "activity_walking",
                    "start": 4,
                    "end": 5,
                    "boxes": [[10, 12, 30, 60], [11, 12, 31, 60]],
                }
            ],
        }
    ]
    csv = (
        "video_id,tube_id,frame,class,score,x1,y1,x2,y2\n"
        "00007,0,4,activity_walking,0.9,10,12,30,60\n"
        "00007,0,5,activity_walking,0.9,11,12,31,60\n"
    )
    gt, dets = write_case(json.dumps(records).encode(), csv.encode(), answer_name="dets.csv")
    code, out, err = call("--track", "detection", "--labels", gt, "--submission", dets)
    assert (code, err) == (0, "")
    scores = json.loads(out)
    assert scores["track"] == "detection"
    assert scores["primary_metric"] == "video_map"
    assert scores["video_map"] == pytest.approx(1.0)
