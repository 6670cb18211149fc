"""Detection track: label loading, the CSV reader and hand-computed frame/video-mAP.

Every expected AP below is worked out by hand in the comment next to it, with
VOC matching and all-point interpolation as SPEC "Detection" defines them.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import random
import zipfile

import numpy as np
import pytest

from evalserver import scoring
from evalserver.scoring import detection, detection_csv
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from evalserver.scoring.errors import LabelsInvalid, SubmissionInvalid
from tests.scoring.detection_helpers import (
    HEADER,
    SMALL_CLASSES,
    clip,
    csv_bytes,
    gt_tube,
    labels_json,
    shifted,
    tube_rows,
)

BOX = [10.0, 10.0, 30.0, 40.0]
FAR = shifted(BOX, 50)  # no overlap with BOX
UNIT = [0.0, 0.0, 10.0, 10.0]


def load(records: list[dict], classes=SMALL_CLASSES) -> detection.DetectionLabels:
    return detection.load_labels(labels_json(records), classes)


def score(records: list[dict], rows, classes=SMALL_CLASSES, **csv_kwargs) -> dict:
    data = rows if isinstance(rows, bytes) else csv_bytes(rows, **csv_kwargs)
    return detection.score(load(records, classes), data)


def problems(records: list[dict], data: bytes, classes=SMALL_CLASSES) -> list[str]:
    with pytest.raises(SubmissionInvalid) as info:
        detection.score(load(records, classes), data)
    return info.value.errors


def ap(result: dict, name: str) -> tuple[float | None, float | None]:
    entry = next(e for e in result["per_class"] if e["name"] == name)
    return entry["frame_ap"], entry["video_ap"]


def one_walk_clip(boxes=None, start: int = 0) -> list[dict]:
    return [clip("00001", [gt_tube("walk", start, boxes or [BOX] * 5)])]


# --- the score JSON ----------------------------------------------------------------------


def test_perfect_submission_scores_one_and_has_the_contract_shape():
    records = [
        clip("00001", [gt_tube("walk", 2, [BOX] * 5)]),
        clip("00002", [gt_tube("run", 0, [BOX] * 3), gt_tube("walk", 1, [FAR] * 4)]),
        clip("00004", []),
    ]
    rows = (
        tube_rows("00001", 0, "walk", 2, [BOX] * 5, 0.9)
        + tube_rows("00002", 0, "run", 0, [BOX] * 3, 0.8)
        + tube_rows("00002", 1, "walk", 1, [FAR] * 4, 0.7)
    )
    result = score(records, rows)
    assert set(result) == {
        "track",
        "primary_metric",
        "protocol",
        "frame_map",
        "video_map",
        "n_items",
        "per_class",
    }
    assert result["track"] == "detection"
    assert result["primary_metric"] == "video_map"
    assert result["frame_map"] == result["video_map"] == 1.0
    assert result["n_items"] == 3
    assert result["per_class"] == [
        {
            "class_id": 0,
            "name": "walk",
            "frame_ap": 1.0,
            "video_ap": 1.0,
            "support": 2,
            "n_gt_boxes": 9,
        },
        {
            "class_id": 1,
            "name": "run",
            "frame_ap": 1.0,
            "video_ap": 1.0,
            "support": 1,
            "n_gt_boxes": 3,
        },
        {
            "class_id": 2,
            "name": "wave",
            "frame_ap": None,
            "video_ap": None,
            "support": 0,
            "n_gt_boxes": 0,
        },
        {
            "class_id": 3,
            "name": "idle",
            "frame_ap": None,
            "video_ap": None,
            "support": 0,
            "n_gt_boxes": 0,
        },
    ]
    # Plain Python types only: the worker stores it and the command prints it.
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert all(type(e["frame_ap"]) is float for e in result["per_class"][:2])
    assert all(type(e["support"]) is int for e in result["per_class"])


def test_classes_without_ground_truth_are_null_and_left_out_of_the_means():
    records = [
        clip("00001", [gt_tube("walk", 0, [BOX] * 2), gt_tube("run", 0, [BOX] * 2)]),
    ]
    # walk: perfect (1.0). run: only a far-away tube (0.0). wave: no ground truth, so its
    # detections cannot count: the means are (1 + 0) / 2.
    rows = (
        tube_rows("00001", 0, "walk", 0, [BOX] * 2, 0.9)
        + tube_rows("00001", 1, "run", 0, [FAR] * 2, 0.9)
        + tube_rows("00001", 2, "wave", 0, [BOX] * 2, 0.9)
    )
    result = score(records, rows)
    assert ap(result, "walk") == (1.0, 1.0)
    assert ap(result, "run") == (0.0, 0.0)
    assert ap(result, "wave") == (None, None)
    assert result["frame_map"] == result["video_map"] == 0.5


def test_no_ground_truth_at_all_scores_zero():
    result = score([clip("00001", []), clip("00002", [])], tube_rows("00001", 0, 1, 0, [BOX], 1.0))
    assert result["frame_map"] == result["video_map"] == 0.0
    assert all(e["frame_ap"] is None and e["video_ap"] is None for e in result["per_class"])
    assert result["n_items"] == 2


def test_a_header_only_submission_is_valid_and_scores_zero():
    result = score(one_walk_clip(), [])
    assert ap(result, "walk") == (0.0, 0.0)
    assert result["frame_map"] == result["video_map"] == 0.0


def test_the_dispatcher_reaches_the_detection_track():
    labels = scoring.load_labels("detection", labels_json(one_walk_clip()), SMALL_CLASSES)
    stored = scoring.labels_from_bytes("detection", labels.to_bytes())
    data = csv_bytes(tube_rows("00001", 0, "walk", 0, [BOX] * 5, 0.5))
    assert scoring.score("detection", stored, data)["video_map"] == 1.0


# --- IoU and matching, by hand -------------------------------------------------------------


@pytest.mark.parametrize(
    ("box", "hit"),
    [
        # [0,0,10,20] against [0,0,10,10]: 100 / 200 = 0.5 exactly, which counts.
        ([0.0, 0.0, 10.0, 20.0], True),
        # Shifted right by s: (10 - s) / (10 + s); 0.5 at s = 10/3.
        (shifted(UNIT, 3.3), True),  # 6.7 / 13.3 = 0.5038
        (shifted(UNIT, 3.4), False),  # 6.6 / 13.4 = 0.4925
        (shifted(UNIT, 0, 3.3), True),
        (shifted(UNIT, 0, 3.4), False),
        ([10.0, 0.0, 20.0, 10.0], False),  # touching edges: IoU 0
        # Continuous areas: 100 / 210 misses; the "+1 pixel" convention would give
        # 121 / 242 = 0.5, a hit.
        ([0.0, 0.0, 10.0, 21.0], False),
    ],
)
def test_iou_threshold_at_one_half(box, hit):
    # Four frames, every predicted box the same: frame-AP and video-AP both 1 or 0.
    records = one_walk_clip([UNIT] * 4)
    result = score(records, tube_rows("00001", 0, "walk", 0, [box] * 4, 0.5))
    expected = 1.0 if hit else 0.0
    assert ap(result, "walk") == (expected, expected)


def test_duplicates_are_false_positives():
    records = [clip("00001", [gt_tube("walk", 0, [BOX] * 5), gt_tube("walk", 0, [FAR] * 5)])]
    rows = (
        tube_rows("00001", 0, "walk", 0, [BOX] * 5, 0.9)
        + tube_rows("00001", 1, "walk", 0, [BOX] * 5, 0.8)  # the same tube again
        + tube_rows("00001", 2, "walk", 0, [FAR] * 5, 0.7)
    )
    result = score(records, rows)
    # Tubes ranked TP, FP, TP over 2: recall .5 at precision 1, then 1.0 at 2/3.
    # Rows: 5 TP, 5 FP, 5 TP over 10 boxes: recall .5 at 1, then .6..1 at
    # precision 6/11..10/15, whose right-monotone envelope is 10/15 = 2/3.
    assert ap(result, "walk") == (
        pytest.approx(0.5 + 0.5 * 2 / 3),
        pytest.approx(0.5 + 0.5 * 2 / 3),
    )


def test_a_missed_tube_halves_recall():
    records = [clip("00001", [gt_tube("walk", 0, [BOX] * 5), gt_tube("walk", 0, [FAR] * 5)])]
    result = score(records, tube_rows("00001", 0, "walk", 0, [BOX] * 5, 0.9))
    assert ap(result, "walk") == (0.5, 0.5)


@pytest.mark.parametrize(("false_score", "expected"), [(0.95, 0.5), (0.5, 1.0)])
def test_a_false_tube_costs_only_when_ranked_above_the_true_one(false_score, expected):
    rows = tube_rows("00001", 0, "walk", 0, [BOX] * 5, 0.9) + tube_rows(
        "00001", 1, "walk", 0, [FAR] * 5, false_score
    )
    # Ranked FP then TP: precision 1/2 at recall 1 (tubes), and 1/6..5/10 -> 1/2 (rows).
    assert ap(score(one_walk_clip(), rows), "walk") == (expected, expected)


def test_a_wrong_class_or_wrong_clip_is_a_false_positive():
    records = [clip("00001", [gt_tube("walk", 0, [BOX])]), clip("00002", [])]
    rows = [
        ("00001", 0, 0, "run", 0.9, *BOX),  # right place, wrong class
        ("00002", 0, 0, "walk", 0.8, *BOX),  # right box, wrong clip
        ("00001", 1, 0, "walk", 0.7, *BOX),
    ]
    result = score(records, rows)
    # walk: FP then TP over 1 -> 0.5; run has no ground truth.
    assert ap(result, "walk") == (0.5, 0.5)
    assert ap(result, "run") == (None, None)


@pytest.mark.parametrize(("true_first", "expected"), [(True, 1.0), (False, 0.5)])
def test_equal_scores_keep_file_order(true_first, expected):
    true_row = ("00001", 0, 0, "walk", 0.5, *BOX)
    false_row = ("00001", 1, 0, "walk", 0.5, *FAR)
    rows = [true_row, false_row] if true_first else [false_row, true_row]
    assert ap(score(one_walk_clip([BOX]), rows), "walk") == (expected, expected)


@pytest.mark.parametrize(("true_first", "expected"), [(True, 1.0), (False, 0.5)])
def test_a_tube_ranks_by_its_first_row_in_the_file(true_first, expected):
    # Both tubes average 0.5. The false tube's first row is on line 2 when it goes
    # first, but most of its rows come after the true tube's.
    true_rows = tube_rows("00001", 0, "walk", 0, [BOX] * 3, 0.5)
    false_rows = tube_rows("00001", 7, "walk", 0, [FAR] * 3, [0.25, 0.75, 0.5])
    if true_first:
        rows = [true_rows[0], *false_rows, *true_rows[1:]]
    else:
        rows = [false_rows[0], *true_rows, *false_rows[1:]]
    result = score(one_walk_clip([BOX] * 3), rows)
    assert ap(result, "walk")[1] == expected


def test_the_tube_score_is_the_mean_of_its_rows():
    records = one_walk_clip([BOX] * 2)
    rows = tube_rows("00001", 0, "walk", 0, [BOX] * 2, [1.0, 0.0]) + tube_rows(
        "00001", 1, "walk", 0, [FAR] * 2, [0.6, 0.6]
    )
    result = score(records, rows)
    # Tubes: the false one averages 0.6 > 0.5, so FP then TP: 0.5 (a max rule gives 1).
    # Rows: TP (1.0), FP, FP, TP (0.0) over 2 boxes: recall .5 at 1, 1.0 at 2/4 -> 0.75.
    assert ap(result, "walk") == (0.75, 0.5)


def test_voc_does_not_fall_back_to_the_second_best_ground_truth():
    # Two ground-truth boxes of the class on the frame: A = [0,0,10,10], B = [2,0,12,10].
    records = [clip("00001", [gt_tube("run", 0, [UNIT]), gt_tube("run", 0, [shifted(UNIT, 2)])])]
    rows = [
        ("00001", 0, 0, "run", 0.9, *UNIT),  # A exactly: TP, A matched
        # IoU 9.5/10.5 with A (taken) and 8.5/11.5 = 0.74 with B (free): still a FP,
        # because VOC only looks at the best overlap. Greedy fallback would give AP 1.
        ("00001", 1, 0, "run", 0.8, 0.5, 0.0, 10.5, 10.0),
    ]
    # TP, FP over 2 ground-truth items: 0.5 at both levels.
    assert ap(score(records, rows), "run") == (0.5, 0.5)


def test_equal_overlaps_go_to_the_first_ground_truth_in_the_file():
    records = [clip("00001", [gt_tube("run", 0, [UNIT]), gt_tube("run", 0, [shifted(UNIT, 2)])])]
    rows = [
        # [1,0,11,10] overlaps A and B both 90/110: A, the first, takes it.
        ("00001", 0, 0, "run", 0.9, *shifted(UNIT, 1)),
        ("00001", 1, 0, "run", 0.8, *shifted(UNIT, 2)),  # B exactly: still free, TP
    ]
    assert ap(score(records, rows), "run") == (1.0, 1.0)


@pytest.mark.parametrize(
    ("frames", "hit"),
    [
        # Ground truth covers frames 0..3 with BOX; predicted boxes equal BOX.
        (range(8), True),  # 4 in both / 8 in either = 0.5, mean IoU 1 -> 0.5 counts
        (range(9), False),  # 4 / 9
        ([1, 2, 4], False),  # span 1..4: 3/5 * mean(1, 1, 0 for the gap at 3) = 0.4
        ([0, 1, 3], True),  # span 0..3: 4/4 * mean(1, 1, 0, 1) = 0.75
        ([0, 3], True),  # span 0..3: 4/4 * mean(1, 0, 0, 1) = 0.5, which counts
        ([5, 6], False),  # no common frame: 0
    ],
)
def test_spatio_temporal_iou(frames, hit):
    rows = [("00001", 0, f, "walk", 0.5, *BOX) for f in frames]
    result = score(one_walk_clip([BOX] * 4), rows)
    assert ap(result, "walk")[1] == (1.0 if hit else 0.0)


def test_class_by_name_or_by_id_is_the_same():
    rows_by_name = tube_rows("00001", 0, "walk", 0, [BOX] * 5, 0.9)
    rows_by_id = tube_rows("00001", 0, 0, 0, [BOX] * 5, 0.9)
    mixed = rows_by_name[:2] + rows_by_id[2:]
    results = [score(one_walk_clip(), r) for r in (rows_by_name, rows_by_id, mixed)]
    assert results[0] == results[1] == results[2]
    assert results[2]["video_map"] == 1.0  # one tube, not two


def test_the_same_tube_id_under_two_classes_is_two_tubes():
    rows = tube_rows("00001", 0, "walk", 0, [BOX] * 5, 0.9) + tube_rows(
        "00001", 0, "run", 0, [BOX] * 5, 0.9
    )
    result = score(one_walk_clip(), rows)
    assert ap(result, "walk") == (1.0, 1.0)


# --- CSV format -----------------------------------------------------------------------------


def test_bom_crlf_and_trailing_blank_lines_are_accepted():
    rows = tube_rows("00001", 0, "walk", 0, [BOX] * 5, 0.9)
    plain = score(one_walk_clip(), rows)
    data = csv_bytes(rows, eol="\r\n", bom=True) + b"\r\n\r\n\n"
    assert score(one_walk_clip(), data) == plain
    no_final_newline = csv_bytes(rows).rstrip(b"\n")
    assert score(one_walk_clip(), no_final_newline) == plain


@pytest.mark.parametrize("kind", ["gzip", "zip"])
def test_compressed_submissions(kind):
    data = csv_bytes(tube_rows("00001", 0, "walk", 0, [BOX] * 5, 0.9))
    if kind == "gzip":
        packed = gzip.compress(data)
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("dets.csv", data)
        packed = buf.getvalue()
    assert score(one_walk_clip(), packed) == score(one_walk_clip(), data)


def test_archive_protections_apply():
    data = csv_bytes(tube_rows("00001", 0, "walk", 0, [BOX] * 5, 0.9))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.csv", data)
        zf.writestr("b.csv", data)
    assert "exactly one" in problems(one_walk_clip(), buf.getvalue())[0]
    with pytest.raises(SubmissionInvalid, match="larger than the limit"):
        detection.score(load(one_walk_clip()), data, max_bytes=len(data) - 1)


class RecordingStream(io.BytesIO):
    """A seekable upload that remembers how much each read asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int | None] = []

    def read(self, size: int | None = -1) -> bytes:
        self.sizes.append(size)
        return super().read(size)

    def readinto(self, buffer) -> int:
        self.sizes.append(len(buffer))
        return super().readinto(buffer)


def _many_rows() -> tuple[list[dict], bytes]:
    records = [clip("00001", [gt_tube("walk", 0, [BOX] * 20)])]
    rows = [("00001", t, f, "walk", 0.5, *BOX) for t in range(500) for f in range(20)]
    return records, csv_bytes(rows)  # 10,000 rows, ~350 KB


def test_the_reader_asks_for_one_chunk_at_a_time(monkeypatch):
    monkeypatch.setattr(detection_csv, "CHUNK_BYTES", 4096)
    records, data = _many_rows()
    stream = RecordingStream(data)
    rows, found = detection_csv.read_rows(stream, load(records))
    assert not found
    assert len(rows) == 10_000
    assert stream.sizes == [4096] * (len(data) // 4096 + 2)


def test_scoring_never_reads_an_upload_too_big_for_the_fast_path_at_once(monkeypatch):
    monkeypatch.setattr(detection_csv, "CHUNK_BYTES", 4096)
    records, data = _many_rows()
    monkeypatch.setattr(detection_csv, "FAST_PATH_MAX_BYTES", len(data) // 4)
    stream = RecordingStream(data)
    result = detection.score(load(records), stream)
    assert result["video_map"] == 1.0
    assert len(stream.sizes) > 3
    # open_submission's 64 KiB buffer sits between the reader and the upload.
    assert all(size is not None and 0 < size <= 1 << 16 for size in stream.sizes)


def test_a_plain_upload_on_the_fast_path_is_read_into_one_buffer_of_its_size(monkeypatch):
    monkeypatch.setattr(detection_csv, "CHUNK_BYTES", 4096)
    records, data = _many_rows()
    stream = RecordingStream(data)
    result = detection.score(load(records), stream)
    assert result["video_map"] == 1.0
    # Magic bytes, open_submission's first 64 KiB (the header is checked on them), then
    # the rest in place in one read of whole 64 KiB blocks (the buffered reader's), its
    # last partial block through the buffer.
    big = [size for size in stream.sizes if size is None or size > 1 << 16]
    assert len(big) == 1, stream.sizes
    assert len(data) - 2 * (1 << 16) < big[0] < len(data), stream.sizes


def test_block_boundaries_change_nothing(monkeypatch):
    records = [clip("00001", [gt_tube("walk", 0, [BOX] * 20), gt_tube("run", 3, [FAR] * 9)])]
    rows = [
        ("00001", t, f, "walk" if t % 2 else 1, 0.1 * (t % 7) + 0.01 * f, *shifted(BOX, t / 3))
        for t in range(12)
        for f in range(0, 20, 1 + t % 3)
    ]
    good = csv_bytes(rows, eol="\r\n")
    bad_lines = [
        *rows[:30],
        ("00001", 0, 99, "walk", 0.5, *BOX),
        *rows[30:],
        ("00009", *rows[0][1:]),
    ]
    bad = csv_bytes(bad_lines, eol="\r\n")
    expected_score = score(records, good)
    expected_problems = problems(records, bad)
    assert expected_problems == [
        "line 32: frame 99 is outside video 00001 (frames 0..19)",
        f"line {len(bad_lines) + 1}: unknown video_id '00009'",
    ]
    for chunk in (7, 64, 100, 1000):
        for threads in (1, 2, 3):
            monkeypatch.setattr(detection_csv, "CHUNK_BYTES", chunk)
            monkeypatch.setattr(detection_csv, "PARSE_THREADS", threads)
            assert score(records, good) == expected_score
            assert problems(records, bad) == expected_problems


@pytest.mark.parametrize("hash_collisions", [False, True])
def test_clip_ids_of_any_shape(monkeypatch, hash_collisions):
    if hash_collisions:
        # Every token hashing alike forces the byte-string fallback of the lookup.
        monkeypatch.setattr(detection_csv, "_HASH_MULTIPLIERS", np.zeros(8, dtype=np.uint64))
    ids = ["7", "00007", "VIRAT_S_040003_04_000758_001118/00001", "clip-\u00e9", "a" * 64]
    records = [clip(i, [gt_tube("walk", 0, [BOX])]) for i in ids]
    rows = [(i, 0, 0, "walk", 0.5, *BOX) for i in ids]
    result = score(records, rows)
    assert ap(result, "walk") == (1.0, 1.0)
    # "7" and "00007" are different clips; a near miss is unknown, not matched.
    data = csv_bytes([*rows, ("007", 1, 0, "walk", 0.5, *BOX), ("a" * 63, 1, 0, "walk", 0.5, *BOX)])
    assert problems(records, data) == [
        "line 7: unknown video_id '007'",
        f"line 8: unknown video_id '{'a' * 63}'",
    ]


# --- invalid submissions ----------------------------------------------------------------------

GOOD_ROW = "00001,0,0,walk,0.5,10,10,30,40"


@pytest.mark.parametrize(
    "header",
    [
        "video_id,tube_id,frame,class,score,x1,y1,x2",
        "video_id,tube_id,frame,score,class,x1,y1,x2,y2",
        "video_id, tube_id, frame, class, score, x1, y1, x2, y2",
        GOOD_ROW,
        "",
    ],
)
def test_a_bad_header_is_reported_on_line_1(header):
    errors = problems(one_walk_clip(), f"{header}\n{GOOD_ROW}\n".encode())
    assert len(errors) == 1
    assert errors[0].startswith("line 1: the header must be 'video_id,tube_id,frame,class,")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("00002,0,0,walk,0.5,10,10,30,40", "unknown video_id '00002'"),
        ("1,0,0,walk,0.5,10,10,30,40", "unknown video_id '1'"),
        ("00001,0,0,jump,0.5,10,10,30,40", "unknown class 'jump' (use a class name or id)"),
        ("00001,0,0,4,0.5,10,10,30,40", "unknown class '4'"),
        ("00001,0,0,Walk,0.5,10,10,30,40", "unknown class 'Walk'"),
        ("00001,0,20,walk,0.5,10,10,30,40", "frame 20 is outside video 00001 (frames 0..19)"),
        ("00001,0,-1,walk,0.5,10,10,30,40", "frame '-1' is not a non-negative integer"),
        ("00001,0,1.0,walk,0.5,10,10,30,40", "frame '1.0' is not a non-negative integer"),
        ("00001,a,0,walk,0.5,10,10,30,40", "tube_id 'a' is not a non-negative integer"),
        ("00001," + "9" * 19 + ",0,walk,0.5,10,10,30,40", "integer of 1-18 digits"),
        ("00001,,0,walk,0.5,10,10,30,40", "tube_id '' is not a non-negative integer"),
        ("00001,0,0,walk,1.3,10,10,30,40", "score 1.3 is outside [0, 1]"),
        ("00001,0,0,walk,-0.1,10,10,30,40", "score -0.1 is outside [0, 1]"),
        ("00001,0,0,walk,high,10,10,30,40", "score 'high' is not a finite number"),
        ("00001,0,0,walk,nan,10,10,30,40", "score 'nan' is not a finite number"),
        ("00001,0,0,walk,0.5,10,10,10,40", "degenerate box (10, 10, 10, 40): needs x2 > x1"),
        ("00001,0,0,walk,0.5,10,40,30,10", "degenerate box (10, 40, 30, 10)"),
        ("00001,0,0,walk,0.5,inf,10,30,40", "x1 'inf' is not a finite number"),
        ("00001,0,0,walk,0.5,10,10,1e999,40", "x2 '1e999' is not a finite number"),
        ("00001,0,0,walk,0.5,10,10,30,", "y2 '' is not a finite number"),
        ("00001,0,0,walk,0.5,10,1.2.3,30,40", "y1 '1.2.3' is not a finite number"),
        ("00001,0,0,walk,0.5,10,10,30,40,1", "expected 9 comma-separated fields"),
        ("00001,0,0,walk,0.5,10,10,30", "found 8"),
        ("00001;0;0;walk;0.5;10;10;30;40", "found 1"),
        ('"00001",0,0,walk,0.5,10,10,30,40', "unknown video_id '\"00001\"'"),
        ("00001,0,0,walk,0.5,10,10,30,40\x00", "contains a NUL byte"),
        ("00001,0,0," + "w" * 70 + ",0.5,10,10,30,40", "class is longer than 64 characters"),
        ("", "blank line (only allowed at the end of the file)"),
    ],
)
def test_each_problem_names_its_line(row, message):
    records = one_walk_clip([BOX] * 20)
    data = "\n".join([HEADER, GOOD_ROW.replace(",0,0,", ",1,0,"), row, GOOD_ROW, ""]).encode()
    errors = problems(records, data)
    assert len(errors) == 1, errors
    assert errors[0].startswith("line 3: ")
    assert message in errors[0]


def test_huge_tube_ids_are_fine():
    big = 10**18 - 1
    rows = tube_rows("00001", big, "walk", 0, [BOX] * 5, 0.9) + tube_rows(
        "00001", 0, "walk", 0, [FAR] * 5, 0.8
    )
    assert ap(score(one_walk_clip(), rows), "walk") == (1.0, 1.0)
    errors = problems(one_walk_clip(), csv_bytes([*rows, rows[0]]))
    assert errors == [
        f"line 12: another row for video 00001, tube_id {big}, class walk, frame 0; "
        "the first is on line 2"
    ]


def test_many_malformed_numbers_are_all_counted():
    rows = [("00001", t, 0, "walk", "0.5.1", *BOX) for t in range(3000)]
    errors = problems(one_walk_clip(), csv_bytes(rows))
    assert errors[0] == "line 2: score '0.5.1' is not a finite number"
    assert errors[-1] == "... and 2950 more problems"


def test_numbers_parse_bit_for_bit_like_numpy():
    """The reader's own decimal parsing must give exactly numpy's (and float()'s) doubles."""
    rng = random.Random(3)
    tokens = []
    for _ in range(5000):
        kind = rng.random()
        if kind < 0.3:
            tokens.append(f"{rng.gauss(0, 1000):.{rng.randint(0, 9)}f}")
        elif kind < 0.5:
            tokens.append(repr(rng.gauss(0, 1) * 10.0 ** rng.randint(-30, 30)))
        elif kind < 0.6:
            tokens.append(str(rng.randint(-(10**17), 10**17)))
        elif kind < 0.7:
            tokens.append(f"{rng.random():.{rng.randint(1, 17)}g}")
        else:
            tokens.append(
                rng.choice(
                    [
                        "1.2.3",
                        "--1",
                        "-",
                        "+",
                        ".",
                        "5.",
                        "-.5",
                        "+3.25",
                        "1e5",
                        "1E-3",
                        "nan",
                        "inf",
                        "abc",
                        "00012.500",
                        "0.1234567890123456789",
                        "123456789012345678",
                        "1e400",
                        "0x10",
                        "",
                        "1_0",
                        " 1",
                    ]
                )
            )
    buf = ",".join(tokens).encode()
    cut = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == ord(","))
    start, end = np.concatenate(([0], cut + 1)), np.concatenate((cut, [len(buf)]))
    words = detection_csv._words_at_every_offset(buf + bytes(80))
    values, valid = detection_csv._parse_float(
        detection_csv._gather(words, start, end), end - start
    )
    for token, value, ok in zip(tokens, values.tolist(), valid.tolist(), strict=True):
        plain = token.strip("+-.0123456789eE") == "" and token != ""
        try:
            expected = float(np.array([token.encode()]).astype(np.float64)[0])
        except ValueError:
            expected = None
        if plain and expected is not None and math.isfinite(expected):
            assert ok, token
            assert value == expected, token
        else:
            assert not ok, token


def test_valid_number_spellings_are_accepted():
    records = one_walk_clip([[0.0, 0.0, 10.0, 10.0]])
    data = "\n".join([HEADER, "00001,0,0,walk,5e-1,+0.0,-0,1.0e1,10."]).encode()
    assert ap(score(records, data), "walk") == (1.0, 1.0)


def test_two_rows_for_the_same_tube_and_frame_name_both_lines():
    rows = [
        ("00001", 3, 0, "walk", 0.5, *BOX),
        ("00001", 3, 1, "walk", 0.5, *BOX),
        ("00001", 3, 0, "run", 0.5, *BOX),  # another class: another tube, fine
        ("00001", 3, 0, 0, 0.4, *BOX),  # "walk" by id: the same tube and frame
        ("00001", 3, 1, "walk", 0.5, *FAR),
        ("00001", 3, 0, "walk", 0.3, *BOX),  # a third time
    ]
    errors = problems(one_walk_clip(), csv_bytes(rows))
    assert errors == [
        "line 5: another row for video 00001, tube_id 3, class walk, frame 0; "
        "the first is on line 2",
        "line 6: another row for video 00001, tube_id 3, class walk, frame 1; "
        "the first is on line 3",
        "line 7: another row for video 00001, tube_id 3, class walk, frame 0; "
        "the first is on line 2",
    ]


def test_problems_are_sorted_by_line_and_capped_with_a_count():
    rows = [("00001", 0, f % 5, "walk", 0.5, *BOX) for f in range(5)]
    rows += [("00001", 1, 0, "walk", 2.0, *BOX)] * 70  # score out of range
    rows += [("00009", 2, 0, "walk", 0.5, *BOX)] * 60  # unknown clip
    errors = problems(one_walk_clip(), csv_bytes(rows))
    assert len(errors) == 51
    assert errors[0] == "line 7: score 2.0 is outside [0, 1]"
    assert errors[49].startswith("line 56: ")
    assert errors[-1] == "... and 80 more problems"


def test_a_huge_line_is_refused(monkeypatch):
    monkeypatch.setattr(detection_csv, "MAX_LINE_BYTES", 1000)
    data = (HEADER + "\n" + GOOD_ROW + "\n" + "x" * 5000).encode()
    errors = problems(one_walk_clip(), data)
    assert errors == ["line 3: a line is longer than 1000 bytes; is this the CSV?"]


# --- ground truth -----------------------------------------------------------------------------


def test_labels_load_into_columns_and_round_trip():
    records = [
        clip("00007", [gt_tube("walk", 4, [[10, 12, 30, 60], [11, 12, 31, 60], [12, 13, 32, 61]])]),
        clip("00003", []),
        clip("00001", [gt_tube("run", 0, [BOX]), gt_tube("walk", 18, [BOX, FAR])]),
    ]
    labels = load(records)
    assert labels.n_items == 3
    assert labels.class_names == SMALL_CLASSES
    assert labels.clip_ids.tolist() == ["00007", "00003", "00001"]
    assert labels.clip_dims.tolist() == [[20, 100, 100]] * 3
    assert labels.tube_clip.tolist() == [0, 2, 2]
    assert labels.tube_class.tolist() == [0, 1, 0]
    assert labels.tube_start.tolist() == [4, 0, 18]
    assert labels.tube_end.tolist() == [6, 0, 19]
    assert labels.box_tube.tolist() == [0, 0, 0, 1, 2, 2]
    assert labels.box_frame.tolist() == [4, 5, 6, 0, 18, 19]
    assert labels.boxes[:3].tolist() == [[10, 12, 30, 60], [11, 12, 31, 60], [12, 13, 32, 61]]
    assert labels.boxes.dtype == np.float64

    again = detection.DetectionLabels.from_bytes(labels.to_bytes())
    assert again.class_names == labels.class_names
    for name in ("clip_ids", "clip_dims", "tube_clip", "tube_class", "tube_start", "tube_end"):
        assert np.array_equal(getattr(again, name), getattr(labels, name)), name
    for name in ("box_tube", "box_frame", "boxes"):
        assert np.array_equal(getattr(again, name), getattr(labels, name)), name


def test_stored_labels_that_are_damaged_are_refused():
    with pytest.raises(LabelsInvalid, match="unreadable"):
        detection.DetectionLabels.from_bytes(b"not an npz file")


def test_boxes_may_touch_the_frame_edges():
    labels = load([clip("00001", [gt_tube("walk", 0, [[0, 0, 100, 100]])], size=100)])
    assert labels.boxes.tolist() == [[0, 0, 100, 100]]


def _bad(**changes) -> list[dict]:
    tube = {**gt_tube("walk", 2, [BOX] * 3), **changes}
    return [clip("00001", [gt_tube("run", 0, [BOX]), tube], frames=10)]


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (_bad(label="jump"), "record 1 (id '00001') tube 2: unknown label 'jump'"),
        (_bad(end=1), "record 1 (id '00001') tube 2: end 1 is before start 2"),
        (_bad(end=5), "tube 2: has 3 boxes but start..end spans 4 frames"),
        (_bad(start=8, end=10), "tube 2: frames 8..10 fall outside the clip (0..9)"),
        (_bad(start=-1, end=1), "tube 2: frames -1..1 fall outside the clip (0..9)"),
        (_bad(start="2"), "tube 2: 'start' and 'end' must be integer frame indices"),
        (
            _bad(boxes=[BOX, [90, 10, 101, 40], BOX]),
            "tube 2 frame 3: box [90, 10, 101, 40] lies outside the 100x100 frame",
        ),
        (_bad(boxes=[BOX, BOX, [-1, 0, 5, 5]]), "tube 2 frame 4: box [-1, 0, 5, 5] lies outside"),
        (
            _bad(boxes=[BOX, [10, 10, 10, 40], BOX]),
            "tube 2 frame 3: box [10, 10, 10, 40] is degenerate (needs x2 > x1 and y2 > y1)",
        ),
        (_bad(boxes=[BOX, [10, 40, 30, 10], BOX]), "tube 2 frame 3: box [10, 40, 30, 10] is degen"),
        (_bad(boxes=[BOX, [10, 10, 30], BOX]), "tube 2: every box must be a list of four numbers"),
        (_bad(boxes=[BOX, ["10", 10, 30, 40], BOX]), "tube 2: every box must be a list of four"),
        (_bad(boxes="none"), "tube 2: 'boxes' must be a list"),
        ([clip("00001", []), clip("00001", [])], "record 2 (id '00001'): duplicate clip id"),
        # numpy's strings would drop the NUL and make the two one id.
        (
            [clip("7", []), clip("7\x00", [])],
            "record 2 (id '7\\x00'): 'id' must not contain a NUL character",
        ),
        (
            [clip("00000", []), {"id": "00001", "dim": [10, 100, 100]}],
            "record 2 (id '00001'): 'tubes' must be a list",
        ),
        (
            [{"id": "00001", "dim": [10, 100, 100], "label": ["walk"]}],
            "this looks like a recognition label file: no record has 'tubes'",
        ),
        ([{"id": "00001", "dim": [10, 100, 100]}], "this file has no labels: it looks like"),
        ([{"id": "00001", "dim": [10, 100], "tubes": []}], "'dim' must be [frames, width, height]"),
        ([{"id": 1, "dim": [10, 100, 100], "tubes": []}], "record 1: 'id' must be a non-empty"),
        (["00001"], "record 1: must be a JSON object"),
    ],
)
def test_every_label_problem_is_named(records, message):
    with pytest.raises(LabelsInvalid) as info:
        load(records)
    assert any(message in e for e in info.value.errors), info.value.errors


def test_all_label_problems_are_reported_together():
    records = [
        clip("00001", [gt_tube("jump", 0, [BOX])]),
        clip("00002", [gt_tube("walk", 0, [BOX]), gt_tube("walk", 5, [[0, 0, 200, 10]])]),
        clip("00001", []),
    ]
    with pytest.raises(LabelsInvalid) as info:
        load(records)
    assert info.value.errors == [
        "record 1 (id '00001') tube 1: unknown label 'jump'",
        "record 2 (id '00002') tube 2 frame 5: box [0, 0, 200, 10] lies outside the 100x100 frame",
        "record 3 (id '00001'): duplicate clip id (first in record 1)",
    ]


@pytest.mark.parametrize(
    ("data", "message"), [(b"{", "not valid JSON"), (b'{"id": "1"}', "must be a JSON list")]
)
def test_label_files_that_are_not_a_list_of_records(data, message):
    with pytest.raises(LabelsInvalid, match=message):
        detection.load_labels(data, TINYVIRAT_V2_CLASSES)


def test_real_class_names_and_the_spec_example():
    record = {
        "id": "00007",
        "dim": [96, 120, 120],
        "tubes": [
            {
                "label": "activity_walking",
                "start": 4,
                "end": 6,
                "boxes": [[10, 12, 30, 60], [11, 12, 31, 60], [12, 13, 32, 61]],
            }
        ],
    }
    labels = detection.load_labels(json.dumps([record]).encode(), TINYVIRAT_V2_CLASSES)
    data = f"{HEADER}\n00007,0,4,activity_walking,0.91,10.5,12,30,61\n".encode()
    result = detection.score(labels, data)
    walking = result["per_class"][14]
    assert walking["name"] == "activity_walking"
    assert walking["support"] == 1
    # One row for three ground-truth boxes, IoU 936 / 979.5 = 0.96: recall 1/3 at precision 1.
    assert walking["frame_ap"] == pytest.approx(1 / 3)
    # The tube spans frame 4 only: 1/3 temporal IoU * 0.96 -> a false positive.
    assert walking["video_ap"] == 0.0
    assert result["n_items"] == 1
    assert len(result["per_class"]) == 26
