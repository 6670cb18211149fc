"""The fast detection scorer against a straightforward reference written from SPEC.

``reference_score`` follows SPEC "Detection" sentence by sentence with plain Python
loops, the csv module and no numpy, sharing no code with the implementation. The
fast scorer must agree with it exactly (the same floats) on hand-made and randomised
cases.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalserver.scoring import detection
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from tests.scoring.detection_helpers import (
    SMALL_CLASSES,
    clip,
    csv_bytes,
    gt_tube,
    labels_json,
    random_case,
    shifted,
    tube_rows,
)

THRESHOLD = 0.5


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Box IoU with continuous coordinates: area = (x2 - x1) * (y2 - y1)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    iw = max(iw, 0.0)
    ih = min(a[3], b[3]) - max(a[1], b[1])
    ih = max(ih, 0.0)
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def voc_ap(tp: list[bool], n_gt: int) -> float:
    """All-point interpolated AP, VOC 2010+."""
    recall, precision = [], []
    n_tp = n_fp = 0
    for hit in tp:
        if hit:
            n_tp += 1
        else:
            n_fp += 1
        recall.append(n_tp / n_gt)
        precision.append(n_tp / (n_tp + n_fp))
    mrec = [0.0, *recall, 1.0]
    mpre = [0.0, *precision, 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    ap = 0.0
    for i in range(1, len(mrec)):
        if mrec[i] != mrec[i - 1]:
            ap += (mrec[i] - mrec[i - 1]) * mpre[i]
    return ap


def voc_match(detections: list, candidates, overlap) -> list[bool]:
    """PASCAL VOC: best item among all candidates; TP if >= 0.5 and not yet matched."""
    matched = set()
    flags = []
    for det in detections:
        best, best_item = -1.0, None
        for item_id, item in candidates(det):
            o = overlap(det, item)
            if o > best:
                best, best_item = o, item_id
        if best_item is not None and best >= THRESHOLD and best_item not in matched:
            matched.add(best_item)
            flags.append(True)
        else:
            flags.append(False)
    return flags


def reference_score(records: list[dict], class_names: Sequence[str], data: bytes) -> dict:
    """frame-mAP and video-mAP at 0.5 of a valid submission, written from SPEC."""
    # A class is named or given by id; a name wins should a class be called "3".
    class_id = {str(i): i for i in range(len(class_names))}
    class_id.update({name: i for i, name in enumerate(class_names)})
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig")))
    header = next(reader)
    assert header == detection.HEADER.split(",")
    rows = []
    for index, fields in enumerate(reader):
        if not fields:
            continue
        video, tube_id, frame, cls, score, x1, y1, x2, y2 = fields
        rows.append(
            {
                "index": index,
                "video": video,
                "tube": int(tube_id),
                "frame": int(frame),
                "cls": class_id[cls],
                "score": float(score),
                "box": (float(x1), float(y1), float(x2), float(y2)),
            }
        )

    # Ground truth, every box and tube with an id in label-file order.
    gt_boxes = defaultdict(list)  # (video, frame, class) -> [(box id, box)]
    gt_tubes = defaultdict(list)  # (video, class) -> [(tube id, tube)]
    n_boxes = [0] * len(class_names)
    n_tubes = [0] * len(class_names)
    box_id = tube_id = 0
    for record in records:
        for tube in record["tubes"]:
            c = class_id[tube["label"]]
            n_tubes[c] += 1
            gt_tubes[(record["id"], c)].append((tube_id, tube))
            tube_id += 1
            for offset, box in enumerate(tube["boxes"]):
                gt_boxes[(record["id"], tube["start"] + offset, c)].append((box_id, box))
                n_boxes[c] += 1
                box_id += 1

    # Predicted tubes: rows sharing (video_id, tube_id, class).
    grouped = defaultdict(list)
    for row in rows:
        grouped[(row["video"], row["tube"], row["cls"])].append(row)
    pred_tubes = []
    for (video, _, c), members in grouped.items():
        total = 0.0
        for r in members:  # in file order
            total += r["score"]
        members.sort(key=lambda r: r["frame"])
        pred_tubes.append(
            {
                "video": video,
                "cls": c,
                "score": total / len(members),
                "first": min(r["index"] for r in members),
                "min": members[0]["frame"],
                "max": members[-1]["frame"],
                "boxes": {r["frame"]: r["box"] for r in members},
            }
        )

    def st_iou(pred: dict, gt: dict) -> float:
        pred_frames = set(range(pred["min"], pred["max"] + 1))
        gt_frames = set(range(gt["start"], gt["end"] + 1))
        both = pred_frames & gt_frames
        either = pred_frames | gt_frames
        if not both:
            return 0.0
        temporal = len(both) / len(either)
        total = 0.0
        for f in sorted(both):
            if f in pred["boxes"]:
                total += iou(pred["boxes"][f], gt["boxes"][f - gt["start"]])
            else:
                total += 0.0
        return temporal * (total / len(both))

    per_class = []
    for c, name in enumerate(class_names):
        dets = sorted((r for r in rows if r["cls"] == c), key=lambda r: (-r["score"], r["index"]))
        frame_tp = voc_match(
            dets,
            lambda d, c=c: gt_boxes.get((d["video"], d["frame"], c), []),
            lambda d, box: iou(d["box"], box),
        )
        tubes = sorted(
            (t for t in pred_tubes if t["cls"] == c), key=lambda t: (-t["score"], t["first"])
        )
        video_tp = voc_match(tubes, lambda t, c=c: gt_tubes.get((t["video"], c), []), st_iou)
        per_class.append(
            {
                "class_id": c,
                "name": name,
                "frame_ap": voc_ap(frame_tp, n_boxes[c]) if n_boxes[c] else None,
                "video_ap": voc_ap(video_tp, n_tubes[c]) if n_tubes[c] else None,
                "support": n_tubes[c],
            }
        )

    def mean(key: str) -> float:
        values = [p[key] for p in per_class if p[key] is not None]
        return sum(values) / len(values) if values else 0.0

    return {"frame_map": mean("frame_ap"), "video_map": mean("video_ap"), "per_class": per_class}


def fast_score(records: list[dict], class_names: Sequence[str], data: bytes) -> dict:
    labels = detection.load_labels(labels_json(records), class_names)
    return detection.score(detection.DetectionLabels.from_bytes(labels.to_bytes()), data)


def assert_same(fast: dict, ref: dict) -> None:
    """Equal bit for bit: the fast scorer adds the same terms in the same order."""
    assert fast["frame_map"] == ref["frame_map"]
    assert fast["video_map"] == ref["video_map"]
    assert len(fast["per_class"]) == len(ref["per_class"])
    for got, want in zip(fast["per_class"], ref["per_class"], strict=True):
        assert (got["class_id"], got["name"], got["support"]) == (
            want["class_id"],
            want["name"],
            want["support"],
        )
        for key in ("frame_ap", "video_ap"):
            if want[key] is None:
                assert got[key] is None, (want["name"], key)
            else:
                assert got[key] == want[key], (want["name"], key)


# --- the reference itself is checked on hand-computed values ------------------------------


def test_reference_iou_and_ap_by_hand():
    assert iou([0, 0, 10, 10], [0, 0, 10, 20]) == 0.5
    assert iou([0, 0, 10, 10], [3.3, 0, 13.3, 10]) == pytest.approx(6.7 / 13.3)
    assert iou([0, 0, 10, 10], [10, 0, 20, 10]) == 0.0
    assert voc_ap([True, False, True], 2) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert voc_ap([False, True], 1) == pytest.approx(0.5)
    assert voc_ap([], 3) == 0.0


# --- agreement ---------------------------------------------------------------------------

BOX = [10.0, 10.0, 30.0, 40.0]


def _hand_cases() -> dict[str, tuple[list[dict], list]]:
    walk = [BOX] * 5
    return {
        "perfect": (
            [clip("00001", [gt_tube("walk", 2, walk)])],
            tube_rows("00001", 0, "walk", 2, walk, 0.9),
        ),
        "two same-class tubes, duplicates and a false tube": (
            [
                clip(
                    "00001",
                    [gt_tube("walk", 0, walk), gt_tube("walk", 1, [shifted(BOX, 3)] * 5)],
                )
            ],
            tube_rows("00001", 0, "walk", 0, walk, 0.9)
            + tube_rows("00001", 1, "walk", 0, walk, 0.8)
            + tube_rows("00001", 2, 0, 1, [shifted(BOX, 3)] * 5, 0.7)
            + tube_rows("00001", 3, "run", 0, walk, 0.95),
        ),
        "equal overlaps go to the first ground truth in the file": (
            # [1, 0, 11, 10] overlaps both 9/11: the first wins and the second detection,
            # the twin itself, is then matched to the twin.
            [
                clip(
                    "00003",
                    [
                        gt_tube("run", 0, [[0, 0, 10, 10]] * 3),
                        gt_tube("run", 0, [[2, 0, 12, 10]] * 3),
                    ],
                )
            ],
            tube_rows("00003", 0, "run", 0, [[1, 0, 11, 10]] * 3, 0.9)
            + tube_rows("00003", 1, "run", 0, [[2, 0, 12, 10]] * 3, 0.8),
        ),
        "gaps and span mismatch": (
            [clip("00002", [gt_tube("wave", 3, walk)])],
            tube_rows("00002", 5, "wave", 1, [BOX] * 9, [0.5, 0.25, 0.5, 0.75, 1, 0, 0.5, 0.5, 1])[
                ::2
            ],
        ),
    }


@pytest.mark.parametrize("name", list(_hand_cases()))
def test_fast_equals_reference_on_hand_cases(name):
    records, rows = _hand_cases()[name]
    data = csv_bytes(rows)
    assert_same(
        fast_score(records, SMALL_CLASSES, data), reference_score(records, SMALL_CLASSES, data)
    )


@pytest.mark.parametrize("seed", range(150))
def test_fast_equals_reference_on_random_cases(seed):
    case = random_case(seed)
    data = case.csv()
    ref = reference_score(case.records, case.class_names, data)
    assert_same(fast_score(case.records, case.class_names, data), ref)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    max_clips=st.integers(1, 12),
    eol=st.sampled_from(["\n", "\r\n"]),
)
def test_fast_equals_reference_property(seed, max_clips, eol):
    case = random_case(seed, max_clips=max_clips)
    data = case.csv(eol=eol)
    ref = reference_score(case.records, case.class_names, data)
    assert_same(fast_score(case.records, case.class_names, data), ref)


def test_fast_equals_reference_with_the_26_classes_and_many_clips():
    rng = random.Random(7)
    records, rows = [], []
    for seed in range(40):
        case = random_case(seed, class_names=TINYVIRAT_V2_CLASSES)
        for record in case.records:
            # Clip ids must be unique across the merged cases.
            new_id = f"{len(records):05d}"
            records.append({**record, "id": new_id})
            rows.extend((new_id, *row[1:]) for row in case.rows if row[0] == record["id"])
    rng.shuffle(rows)
    data = csv_bytes(rows)
    ref = reference_score(records, TINYVIRAT_V2_CLASSES, data)
    fast = fast_score(records, TINYVIRAT_V2_CLASSES, data)
    assert_same(fast, ref)
    # The random cases must actually exercise matching, not score all zeros.
    assert 0.05 < fast["video_map"] < 0.95
    assert 0.05 < fast["frame_map"] < 0.95


def test_random_cases_cover_the_interesting_situations():
    """Guard against a generator that quietly stops producing the hard cases."""
    ties = same_class_pairs = true_positives = false_positives = 0
    for seed in range(150):
        case = random_case(seed)
        scores = [row[4] for row in case.rows]
        ties += len(scores) - len(set(scores))
        for record in case.records:
            labels = [t["label"] for t in record["tubes"]]
            same_class_pairs += len(labels) - len(set(labels))
        ref = reference_score(case.records, case.class_names, case.csv())
        for entry in ref["per_class"]:
            if entry["video_ap"] is not None:
                true_positives += entry["video_ap"] > 0
                false_positives += entry["video_ap"] < 1
    assert ties > 100
    assert same_class_pairs > 30
    assert true_positives > 30
    assert false_positives > 30
