"""Each of the scorer's alternative inner paths agrees with the plain-loop reference.

The fast scorer picks between exact methods by the shape of the data: a counting sort of
the rows by (tube, frame) or a comparison sort when tubes are spread thinly over long
clips; per-tube IoU sums through the whole file or through a few sorted rows; ranking by
counting sorts when scores repeat, else a comparison sort. Each case below is built to
take one of them, and must score exactly as ``reference_score`` does.
"""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalserver.scoring import detection
from evalserver.scoring import detection_metrics as metrics
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from evalserver.scoring.detection_csv import read_rows
from evalserver.scoring.errors import SubmissionInvalid

from .detection_helpers import (
    SMALL_CLASSES,
    clip,
    csv_bytes,
    gt_tube,
    labels_json,
    random_case,
    shifted,
    tube_rows,
)
from .test_detection_reference import assert_same, fast_score, reference_score

BOX = [10.0, 10.0, 30.0, 40.0]


def _plain_rank(classes: list[int], scores: list[float]) -> list[int]:
    """By class, score descending, then file order: the reference's sort key."""
    return sorted(range(len(scores)), key=lambda i: (classes[i], -scores[i], i))


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    data=st.lists(
        st.tuples(
            st.integers(0, 30),
            st.sampled_from([0.0, -0.0, 1.0, 0.5, 0.25, 0.1, 0.30000000000000004, 0.3, 5e-324]),
        ),
        max_size=300,
    )
)
def test_the_counting_sort_ranking_keeps_ties_in_file_order(data):
    classes = np.array([c for c, _ in data], dtype=np.int64)
    scores = np.array([s for _, s in data], dtype=np.float64)
    want = _plain_rank(classes.tolist(), scores.tolist())
    if len(data):
        assert metrics._rank_by_radix(classes, scores).tolist() == want
    assert metrics._rank(classes, scores).tolist() == want


@pytest.mark.parametrize("distinct", [3, 1000, None])
def test_ranking_a_large_file_takes_either_sort_and_agrees(distinct):
    rng = np.random.default_rng(distinct or 0)
    n = metrics._RADIX_MIN * 2
    scores = rng.random(n) if distinct is None else rng.integers(0, distinct, n) / distinct
    # Negative zeros tie with zeros.
    scores[rng.random(n) < 0.01] = -0.0
    classes = rng.integers(0, 26, n)
    assert metrics._few_distinct(scores) == (distinct is not None)
    order = np.argsort(-scores, kind="stable")
    want = order[np.argsort(classes[order], kind="stable")]
    assert (metrics._rank(classes, scores) == want).all()


def test_tubes_spread_thinly_over_long_clips_are_sorted_and_score_the_same():
    """A tube with a row at each end of a 5,000-frame clip: too sparse to count-sort."""
    rng = random.Random(3)
    walk = [BOX] * 4
    records = [
        clip(f"{c:05d}", [gt_tube("walk", 0, walk), gt_tube("run", 4990, walk)], frames=5000)
        for c in range(6)
    ]
    rows = []
    for record in records:
        video = record["id"]
        for tube_id in range(5):
            frames = [0, 1, 4993, rng.randrange(2, 4990)]
            for frame in frames:
                cls = "walk" if frame < 4 else "run"
                box = shifted(BOX, rng.choice([0, 2, 9])) if frame < 4990 else BOX
                rows.append((video, tube_id, frame, cls, rng.choice([0.5, 0.75]), *box))
    rng.shuffle(rows)
    data = csv_bytes(rows)
    labels = detection.load_labels(labels_json(records), list(SMALL_CLASSES))
    tubes = _grouped(labels, data)
    lengths = tubes.tube_fmax - tubes.tube_fmin + 1
    assert lengths.sum() > metrics._SLOTS_PER_ROW * tubes.n_rows + 1024
    assert_same(
        fast_score(records, SMALL_CLASSES, data), reference_score(records, SMALL_CLASSES, data)
    )


def test_a_duplicate_row_is_named_the_same_on_both_grouping_paths():
    long_clip = [clip("00001", [gt_tube("walk", 0, [BOX])], frames=5000)]
    dense = tube_rows("00001", 3, "walk", 0, [BOX] * 3, 0.5)
    sparse = [dense[0], ("00001", 3, 4999, "walk", 0.5, *BOX)]
    for rows in (dense, sparse):
        data = csv_bytes([*rows, rows[0]])
        with pytest.raises(SubmissionInvalid) as raised:
            detection.score(
                detection.load_labels(labels_json(long_clip), list(SMALL_CLASSES)), data
            )
        assert raised.value.errors == [
            f"line {len(rows) + 2}: another row for video 00001, tube_id 3, class walk, "
            "frame 0; the first is on line 2"
        ]


def test_a_crowded_clip_among_many_takes_the_few_rows_path_for_its_second_tube():
    """Only one clip has two ground-truth tubes of a class: its second pass is a few rows."""
    rng = random.Random(11)
    walk = [BOX] * 8
    records = [clip(f"{c:05d}", [gt_tube("walk", 2, walk)]) for c in range(30)]
    records[7]["tubes"].append(gt_tube("walk", 2, [shifted(BOX, 3)] * 8))
    rows = []
    for record in records:
        for tube_id in range(3):
            boxes = [shifted(BOX, rng.choice([0, 1, 3, 8])) for _ in range(8)]
            scores = [rng.choice([0.25, 0.5, rng.random()]) for _ in range(8)]
            rows += tube_rows(record["id"], tube_id, "walk", 2, boxes, scores)
    rng.shuffle(rows)
    data = csv_bytes(rows)
    labels = detection.load_labels(labels_json(records), list(SMALL_CLASSES))
    tubes = _grouped(labels, data)
    crowded_rows = np.count_nonzero(tubes.tube_clip[tubes.row_tube] == 7)
    assert crowded_rows * metrics._SPARSE_PASS < tubes.n_rows
    assert_same(
        fast_score(records, SMALL_CLASSES, data), reference_score(records, SMALL_CLASSES, data)
    )


def _grouped(labels: detection.DetectionLabels, data: bytes) -> metrics.PredictedTubes:
    rows, problems = read_rows(io.BytesIO(data), labels)
    tubes = metrics.group_tubes(rows, labels, problems)
    assert not problems
    return tubes


@pytest.mark.parametrize("seed", range(12))
def test_sparse_tube_ids_are_numbered_by_hashing_and_score_the_same(seed):
    """Tube ids far apart (a table of them would be huge) take Arrow's hash table."""
    case = random_case(seed, max_clips=6)
    rows = [(row[0], (row[1] + 1) * 10**15 + 7, *row[2:]) for row in case.rows]
    if rows:
        labels = detection.load_labels(labels_json(case.records), list(case.class_names))
        span = max(row[1] for row in rows) + 1
        assert labels.n_items * span > metrics._SLOTS_PER_ROW * len(rows) + (1 << 20)
    data = csv_bytes(rows)
    assert_same(
        fast_score(case.records, case.class_names, data),
        reference_score(case.records, case.class_names, data),
    )


def test_one_row_tubes_take_the_hash_table_for_their_classes():
    """Every row its own tube: a table of (clip, tube_id) pairs by class would be 26 times
    the file, so Arrow's hash table numbers them."""
    rng = random.Random(5)
    names = TINYVIRAT_V2_CLASSES
    records = [
        clip(f"{c:05d}", [gt_tube(names[c % 26], 2, [BOX] * 8)], frames=12) for c in range(20)
    ]
    n = 50_000
    rows = [
        (
            f"{rng.randrange(20):05d}",
            t,
            rng.randrange(12),
            rng.randrange(26),
            rng.choice([0.5, 0.25]),
            *shifted(BOX, rng.choice([0, 1, 4])),
        )
        for t in range(n)
    ]
    data = csv_bytes(rows)
    labels = detection.load_labels(labels_json(records), list(names))
    tubes = _grouped(labels, data)
    assert tubes.n_tubes == n
    # (clip, tube_id) pairs are counted in a table; (pair, class) would be too big for one.
    bound = metrics._SLOTS_PER_ROW * n + (1 << 20)
    assert labels.n_items * n <= bound < n * len(names)
    assert_same(fast_score(records, names, data), reference_score(records, names, data))


@pytest.mark.parametrize("seed", range(16))
def test_passes_split_between_two_threads_score_the_same(seed, monkeypatch):
    """Every pass of the matching split in halves on two threads (big files do so from
    ``_SPLIT_PASS_ROWS`` rows on): the same scores as the reference."""
    monkeypatch.setattr(metrics, "_SPLIT_PASS_ROWS", 2)
    case = random_case(seed, max_clips=6)
    data = csv_bytes(case.rows)
    assert_same(
        fast_score(case.records, case.class_names, data),
        reference_score(case.records, case.class_names, data),
    )


def test_box_iou_in_place_is_the_formula_bit_for_bit():
    """box_iou reuses its temporaries; the float operations are the formula's."""
    rng = np.random.default_rng(8)

    def formula(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2):
        iw = np.maximum(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0.0)
        ih = np.maximum(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0.0)
        inter = iw * ih
        return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)

    for shape_a, shape_b in (((0,), (0,)), ((1000,), (1000,)), ((5, 1), (1, 7))):
        a = np.round(rng.uniform(-5, 60, (4, *shape_a)), 1)
        b = rng.uniform(-5, 60, (4, *shape_b))
        a[2:] += rng.uniform(0.1, 30, (2, *shape_a))
        b[2:] += rng.uniform(0.1, 30, (2, *shape_b))
        before = (a.copy(), b.copy())
        assert metrics.box_iou(*a, *b).tobytes() == formula(*a, *b).tobytes()
        assert (a == before[0]).all()
        assert (b == before[1]).all()
