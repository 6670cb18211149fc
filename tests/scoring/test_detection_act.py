"""The ``act`` detection protocol against a plain-loop reference written from its rules.

``act_reference`` reads the CSV with the csv module and follows the five conventions
of the ACT evaluation code (README, "Detection protocols") with plain Python loops and
no numpy, sharing no code with the implementation: +1 pixel areas, greedy matching
with fallback to the next best unmatched item, trapezoidal AP from (0, 1), 3D NMS at
0.3 before video-AP, and the mean over every class. The fast scorer must agree with it
to 1e-9 on hand-made cases and on generated ones with ties, duplicates, gaps, crowded
same-class scenes and classes without ground truth; ``voc`` must still agree with its
own reference on the same cases.
"""

from __future__ import annotations

import csv
import io
import itertools
import random
from collections import defaultdict
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalserver import scoring
from evalserver.scoring import detection
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from tests.scoring.detection_helpers import (
    SMALL_CLASSES,
    RandomCase,
    clip,
    csv_bytes,
    gt_tube,
    labels_json,
    random_case,
    shifted,
    tube_rows,
)
from tests.scoring.test_detection_reference import reference_score

THRESHOLD = 0.5
NMS = 0.3


def iou_inclusive(a: Sequence[float], b: Sequence[float]) -> float:
    """Pixels counted inclusively: a box from x1 to x2 is x2 - x1 + 1 wide."""
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if w < 0:
        w = 0.0
    if h < 0:
        h = 0.0
    inter = w * h
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return inter / (area_a + area_b - inter)


def trapezoid_ap(tp: list[bool], n_gt: int) -> float:
    """Trapezoids under the raw precision/recall points, the first being (0, 1)."""
    if n_gt == 0:
        return 0.0
    points = [(0.0, 1.0)]
    hits = 0
    for seen, hit in enumerate(tp, 1):
        if hit:
            hits += 1
        points.append((hits / n_gt, hits / seen))
    area = 0.0
    for (r0, p0), (r1, p1) in itertools.pairwise(points):
        area += (r1 - r0) * (p1 + p0) / 2
    return area


def greedy_with_fallback(detections: list, items_of, overlap, stats=None) -> list[bool]:
    """Each detection takes the best item not yet taken (ties: first), if >= 0.5."""
    taken = set()
    flags = []
    for det in detections:
        best, best_id = -1.0, None
        best_of_all = -1.0, None
        for item_id, item in items_of(det):
            o = overlap(det, item)
            if o > best_of_all[0]:
                best_of_all = o, item_id
            if item_id in taken:
                continue
            if o > best:
                best, best_id = o, item_id
        if best_id is not None and best >= THRESHOLD:
            taken.add(best_id)
            flags.append(True)
            if stats is not None and best_of_all[1] != best_id:
                stats["fallback"] += 1
        else:
            flags.append(False)
    return flags


def tube_overlap(boxes_a: dict, span_a: tuple, boxes_b: dict, span_b: tuple) -> float:
    """Temporal IoU of the spans times the mean box IoU over the common frames.

    A frame of the common span where either tube has no box counts as IoU 0.
    """
    lo, hi = max(span_a[0], span_b[0]), min(span_a[1], span_b[1])
    if hi < lo:
        return 0.0
    common = hi - lo + 1
    either = max(span_a[1], span_b[1]) - min(span_a[0], span_b[0]) + 1
    total = 0.0
    for f in range(lo, hi + 1):
        if f in boxes_a and f in boxes_b:
            total += iou_inclusive(boxes_a[f], boxes_b[f])
    return (total / common) * (common / either)


def act_reference(records: list[dict], class_names: Sequence[str], data: bytes, stats=None) -> dict:
    class_id = {str(i): i for i in range(len(class_names))}
    class_id.update({name: i for i, name in enumerate(class_names)})
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig")))
    next(reader)
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

    gt_boxes = defaultdict(list)
    gt_tubes = defaultdict(list)
    n_boxes = [0] * len(class_names)
    n_tubes = [0] * len(class_names)
    box_id = tube_id = 0
    for record in records:
        for tube in record["tubes"]:
            c = class_id[tube["label"]]
            n_tubes[c] += 1
            boxes = {tube["start"] + k: b for k, b in enumerate(tube["boxes"])}
            gt_tubes[(record["id"], c)].append(
                (tube_id, {"boxes": boxes, "span": (tube["start"], tube["end"])})
            )
            tube_id += 1
            for offset, box in enumerate(tube["boxes"]):
                gt_boxes[(record["id"], tube["start"] + offset, c)].append((box_id, box))
                n_boxes[c] += 1
                box_id += 1

    grouped = defaultdict(list)
    for row in rows:
        grouped[(row["video"], row["tube"], row["cls"])].append(row)
    pred = []
    for (video, _, c), members in grouped.items():
        total = 0.0
        for r in members:
            total += r["score"]
        frames = [r["frame"] for r in members]
        pred.append(
            {
                "video": video,
                "cls": c,
                "score": total / len(members),
                "first": min(r["index"] for r in members),
                "span": (min(frames), max(frames)),
                "boxes": {r["frame"]: r["box"] for r in members},
            }
        )

    # 3D NMS per clip and class, best first; a tube survives unless a kept one overlaps > 0.3.
    survivors = []
    by_group = defaultdict(list)
    for t in pred:
        by_group[(t["video"], t["cls"])].append(t)
    for members in by_group.values():
        members.sort(key=lambda t: (-t["score"], t["first"]))
        kept = []
        for t in members:
            if all(tube_overlap(t["boxes"], t["span"], k["boxes"], k["span"]) <= NMS for k in kept):
                kept.append(t)
            elif stats is not None:
                stats["suppressed"] += 1
        survivors.extend(kept)

    per_class = []
    for c, name in enumerate(class_names):
        dets = sorted((r for r in rows if r["cls"] == c), key=lambda r: (-r["score"], r["index"]))
        frame_tp = greedy_with_fallback(
            dets,
            lambda d, c=c: gt_boxes.get((d["video"], d["frame"], c), []),
            lambda d, box: iou_inclusive(d["box"], box),
            stats,
        )
        tubes = sorted(
            (t for t in survivors if t["cls"] == c), key=lambda t: (-t["score"], t["first"])
        )
        video_tp = greedy_with_fallback(
            tubes,
            lambda t, c=c: gt_tubes.get((t["video"], c), []),
            lambda t, g: tube_overlap(t["boxes"], t["span"], g["boxes"], g["span"]),
            stats,
        )
        per_class.append(
            {
                "class_id": c,
                "name": name,
                "frame_ap": trapezoid_ap(frame_tp, n_boxes[c]) if n_boxes[c] else None,
                "video_ap": trapezoid_ap(video_tp, n_tubes[c]) if n_tubes[c] else None,
                "support": n_tubes[c],
            }
        )

    def mean(key: str) -> float:
        return sum(p[key] or 0.0 for p in per_class) / len(per_class)

    return {"frame_map": mean("frame_ap"), "video_map": mean("video_ap"), "per_class": per_class}


def fast_score(records, class_names, data: bytes, protocol: str) -> dict:
    labels = detection.load_labels(labels_json(records), class_names)
    labels = detection.DetectionLabels.from_bytes(labels.to_bytes())
    return scoring.score("detection", labels, data, protocol=protocol)


def assert_same(fast: dict, ref: dict) -> None:
    assert fast["frame_map"] == pytest.approx(ref["frame_map"], abs=1e-9)
    assert fast["video_map"] == pytest.approx(ref["video_map"], abs=1e-9)
    for got, want in zip(fast["per_class"], ref["per_class"], strict=True):
        assert (got["class_id"], got["support"]) == (want["class_id"], want["support"])
        for key in ("frame_ap", "video_ap"):
            if want[key] is None:
                assert got[key] is None, (want["name"], key)
            else:
                assert got[key] == pytest.approx(want[key], abs=1e-9), (want["name"], key)


def check_both(records, class_names, data: bytes) -> tuple[dict, dict]:
    act = fast_score(records, class_names, data, "act")
    assert act["protocol"] == "act"
    assert_same(act, act_reference(records, class_names, data))
    voc = fast_score(records, class_names, data, "voc")
    assert voc["protocol"] == "voc"
    assert_same(voc, reference_score(records, class_names, data))
    return act, voc


# --- the reference itself, by hand --------------------------------------------------------


def test_reference_pieces_by_hand():
    # 11x11 and 11x21 pixels, inclusive: 121 / 231.
    assert iou_inclusive([0, 0, 10, 10], [0, 0, 10, 20]) == pytest.approx(121 / 231)
    # Touching edges share a column of pixels under the +1 convention.
    assert iou_inclusive([0, 0, 10, 10], [10, 0, 20, 10]) == pytest.approx(11 / 231)
    # (0,1) -> (0.5,1) -> (0.5,0.5) -> (1,2/3): 0.5 + 0 + 0.5 * (0.5 + 2/3) / 2.
    assert trapezoid_ap([True, False, True], 2) == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)
    assert trapezoid_ap([], 3) == 0.0
    assert trapezoid_ap([True], 0) == 0.0
    # Fallback: the second detection's best item is taken, so it takes the next best.
    flags = greedy_with_fallback(
        ["a", "b"], lambda d: [(0, "x"), (1, "y")], lambda d, i: {"x": 0.9, "y": 0.6}[i]
    )
    assert flags == [True, True]


BOX = [10.0, 10.0, 30.0, 40.0]


def _hand_cases() -> dict[str, tuple[list[dict], list]]:
    walk = [BOX] * 5
    return {
        "perfect": (
            [clip("00001", [gt_tube("walk", 2, walk)])],
            tube_rows("00001", 0, "walk", 2, walk, 0.9),
        ),
        "fallback to the second ground truth": (
            # The second tube's boxes overlap both twins equally; the first tube takes
            # twin 1's boxes, so under act the second's fall back to twin 2's (under voc
            # they are false positives). Video-AP: NMS drops the second tube under act.
            [
                clip(
                    "00003",
                    [
                        gt_tube("run", 0, [[0, 0, 10, 10]] * 3),
                        gt_tube("run", 0, [[2, 0, 12, 10]] * 3),
                    ],
                )
            ],
            tube_rows("00003", 0, "run", 0, [[0, 0, 10, 10]] * 3, 0.9)
            + tube_rows("00003", 1, "run", 0, [[1, 0, 11, 10]] * 3, 0.8),
        ),
        "nms removes a near duplicate tube": (
            [clip("00001", [gt_tube("walk", 0, walk), gt_tube("walk", 0, [[50, 50, 70, 80]] * 5)])],
            tube_rows("00001", 0, "walk", 0, walk, 0.9)
            + tube_rows("00001", 1, "walk", 0, [shifted(BOX, 1)] * 5, 0.8)
            + tube_rows("00001", 2, "walk", 0, [[50, 50, 70, 80]] * 5, 0.7),
        ),
        "gaps": (
            [clip("00002", [gt_tube("wave", 3, walk)])],
            tube_rows("00002", 5, "wave", 1, [BOX] * 9, 0.5)[::2],
        ),
        "no detections at all": ([clip("00002", [gt_tube("wave", 3, walk)])], []),
    }


@pytest.mark.parametrize("name", list(_hand_cases()))
def test_act_equals_reference_on_hand_cases(name):
    records, rows = _hand_cases()[name]
    check_both(records, SMALL_CLASSES, csv_bytes(rows))


def test_fallback_and_nms_change_the_score_as_documented():
    records, rows = _hand_cases()["fallback to the second ground truth"]
    act, voc = check_both(records, SMALL_CLASSES, csv_bytes(rows))
    run = SMALL_CLASSES.index("run")
    assert voc["per_class"][run]["frame_ap"] == pytest.approx(0.5)
    assert act["per_class"][run]["frame_ap"] == pytest.approx(1.0)
    # Only "run" has ground truth: act divides by the four classes, voc by one.
    assert act["frame_map"] == pytest.approx(1.0 / len(SMALL_CLASSES))
    assert voc["frame_map"] == pytest.approx(0.5)

    records, rows = _hand_cases()["nms removes a near duplicate tube"]
    act, voc = check_both(records, SMALL_CLASSES, csv_bytes(rows))
    walk = SMALL_CLASSES.index("walk")
    # voc: TP, FP, TP -> 1 * 0.5 + 2/3 * 0.5; act: the duplicate is gone -> 1.0.
    assert voc["per_class"][walk]["video_ap"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert act["per_class"][walk]["video_ap"] == pytest.approx(1.0)


def test_a_class_without_ground_truth_counts_zero_and_never_crashes():
    # Detections of "idle", a class no clip has: AP None per class, 0 in the act mean.
    records = [clip("00001", [gt_tube("walk", 0, [BOX] * 3)])]
    rows = tube_rows("00001", 0, "walk", 0, [BOX] * 3, 0.9) + tube_rows(
        "00001", 1, "idle", 0, [BOX] * 3, 0.95
    )
    act, voc = check_both(records, SMALL_CLASSES, csv_bytes(rows))
    assert voc["video_map"] == pytest.approx(1.0)
    assert act["video_map"] == pytest.approx(1.0 / len(SMALL_CLASSES))
    assert act["per_class"][SMALL_CLASSES.index("idle")]["video_ap"] is None
    # No ground truth at all.
    empty = [clip("00001", [])]
    act, _ = check_both(empty, SMALL_CLASSES, csv_bytes(rows))
    assert act["video_map"] == 0.0
    assert act["frame_map"] == 0.0


def crowded_case(seed: int) -> RandomCase:
    """Many tubes of one class side by side: fallback and NMS decide most detections."""
    rng = random.Random(seed)
    records, rows = [], []
    for c in range(rng.randint(1, 3)):
        video = f"{c:05d}"
        frames = rng.randint(4, 10)
        label = rng.choice(SMALL_CLASSES[:2])
        tubes = []
        x = 0.0
        for _ in range(rng.randint(2, 6)):
            x += rng.choice((1.0, 2.0, 3.0, 8.0))
            start = rng.randint(0, 2)
            end = rng.randint(start, frames - 1)
            tubes.append(gt_tube(label, start, [[x, 5.0, x + 10.0, 25.0]] * (end - start + 1)))
        records.append({"id": video, "dim": [frames, 100, 60], "tubes": tubes})
        for t in range(rng.randint(1, 10)):
            source = rng.choice(tubes)
            dx = rng.choice((0.0, 0.5, 1.0, 2.0, -1.0, 4.0))
            start = max(source["start"] + rng.randint(-1, 1), 0)
            end = min(max(source["end"] + rng.randint(-1, 1), start), frames - 1)
            score = rng.choice((0.5, 0.75, 0.9)) if rng.random() < 0.6 else rng.random()
            for f in range(start, end + 1):
                if f > start and rng.random() < 0.2:
                    continue  # a gap
                b = source["boxes"][0]
                rows.append((video, t, f, label, score, b[0] + dx, b[1], b[2] + dx, b[3]))
    rng.shuffle(rows)
    return RandomCase(class_names=SMALL_CLASSES, records=records, rows=rows)


@pytest.mark.parametrize("seed", range(60))
def test_act_equals_reference_on_random_cases(seed):
    case = random_case(seed)
    check_both(case.records, case.class_names, case.csv())


@pytest.mark.parametrize("seed", range(60))
def test_act_equals_reference_on_crowded_scenes(seed):
    case = crowded_case(seed)
    check_both(case.records, case.class_names, case.csv())


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), max_clips=st.integers(1, 10), crowded=st.booleans())
def test_act_equals_reference_property(seed, max_clips, crowded):
    case = crowded_case(seed) if crowded else random_case(seed, max_clips=max_clips)
    check_both(case.records, case.class_names, case.csv())


def test_generated_cases_exercise_fallback_and_nms():
    """Guard against generators that never reach the rules act changes."""
    stats = {"fallback": 0, "suppressed": 0}
    differ = 0
    for seed in range(60):
        for case in (crowded_case(seed), random_case(seed)):
            act = act_reference(case.records, case.class_names, case.csv(), stats)
            voc = reference_score(case.records, case.class_names, case.csv())
            differ += act["video_map"] != voc["video_map"]
    assert stats["fallback"] > 30
    assert stats["suppressed"] > 30
    assert differ > 30


def test_act_on_the_26_classes_and_many_clips():
    records, rows = [], []
    for seed in range(30):
        case = random_case(seed, class_names=TINYVIRAT_V2_CLASSES)
        for record in case.records:
            new_id = f"{len(records):05d}"
            records.append({**record, "id": new_id})
            rows.extend((new_id, *row[1:]) for row in case.rows if row[0] == record["id"])
    act, _ = check_both(records, TINYVIRAT_V2_CLASSES, csv_bytes(rows))
    assert 0.01 < act["video_map"] < 0.95


def test_unknown_protocol_is_refused():
    records, rows = _hand_cases()["perfect"]
    with pytest.raises(ValueError, match="unknown detection protocol 'coco'"):
        fast_score(records, SMALL_CLASSES, csv_bytes(rows), "coco")
    labels = scoring.load_labels("classification", b'[{"id": "1", "label": ["walk"]}]', ["walk"])
    with pytest.raises(ValueError, match="detection track only"):
        scoring.score("classification", labels, b"1 1\n", protocol="act")


@pytest.mark.parametrize("seed", range(40))
def test_with_no_act_convention_the_act_code_is_voc(seed):
    """The switches the README's table measures: all off must give voc's exact numbers."""
    from evalserver.scoring.archive import open_submission
    from evalserver.scoring.detection_act import evaluate_act
    from evalserver.scoring.detection_csv import read_rows
    from evalserver.scoring.detection_metrics import evaluate, group_tubes

    case = crowded_case(seed) if seed % 2 else random_case(seed)
    labels = detection.load_labels(case.labels(), case.class_names)
    with open_submission(case.csv(), max_bytes=1 << 20) as stream:
        rows, problems = read_rows(stream, labels)
    tubes = group_tubes(rows, labels, problems)
    none = evaluate_act(labels, tubes, frozenset())
    voc = evaluate(labels, tubes)
    assert none.frame_ap == voc.frame_ap
    assert none.video_ap == voc.video_ap
    with pytest.raises(ValueError, match="unknown conventions: coco"):
        evaluate_act(labels, tubes, {"coco"})


def test_act_and_voc_on_the_demo_sample(tmp_path):
    """The demo challenge's detection phase and sample file, under both protocols."""
    import json

    from evalserver.challenges import demo

    files = demo.generate_demo(tmp_path)
    records = json.loads(files.detection.read_text())
    data = files.detection_sample.read_bytes()
    act, voc = check_both(records, TINYVIRAT_V2_CLASSES, data)
    # Both references agree with the scorer; the protocols genuinely differ (the README's
    # table, from benchmarks/detection_protocols.py, says by how much).
    assert 0.3 < act["video_map"] < voc["video_map"] < 0.9
    assert 0.3 < act["frame_map"] < voc["frame_map"] < 0.9
