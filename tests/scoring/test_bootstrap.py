"""Bootstrap intervals against a plain-loop reference given the same resample indices.

The reference resamples the clips (row by row for recognition; by writing the resampled
label file and CSV for detection, every copy of a clip under its own id) and scores the
resample from scratch: scikit-learn's ``f1_score`` for macro F1, the detection scorer
itself (held to a sentence-by-sentence reference in test_detection_reference.py) for
video-mAP. The vectorised replicates must equal it to 1e-12.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from evalserver import scoring
from evalserver.scoring import bootstrap, detection, recognition
from tests.scoring.conftest import CLASSES, answer_txt, clip_ids, gt_json, random_truth
from tests.scoring.detection_helpers import SMALL_CLASSES, csv_bytes, labels_json, random_case

TOL = 1e-12


def reference_macro_f1(truth: np.ndarray, pred: np.ndarray, indices: np.ndarray) -> np.ndarray:
    return np.array(
        [
            f1_score(truth[idx], pred[idx], average="macro", zero_division=0)
            if truth.shape[1] > 1
            # One class: scikit-learn sees a binary problem; its class 1 is our class.
            else f1_score(truth[idx, 0], pred[idx, 0], labels=[1], average="macro", zero_division=0)
            for idx in indices
        ]
    )


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    n_classes=st.integers(1, 6),
    replicates=st.integers(1, 25),
    seed=st.integers(0, 2**63 - 1),
    density=st.floats(0.0, 1.0),
)
def test_macro_f1_replicates_equal_sklearn_on_the_same_resamples(
    n, n_classes, replicates, seed, density
):
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, n_classes)) < density).astype(np.uint8)
    pred = (rng.random((n, n_classes)) < density).astype(np.uint8)
    indices = bootstrap.resample_indices(n, replicates=replicates, seed=seed)
    counts = bootstrap.counts_from_indices(indices, n)
    fast = bootstrap.macro_f1_replicates(truth, pred, counts)
    np.testing.assert_allclose(fast, reference_macro_f1(truth, pred, indices), rtol=0, atol=TOL)


def test_the_scoring_entry_point_returns_the_replicates_of_the_phase_seed():
    ids = clip_ids(300)
    truth = random_truth(300, seed=3)
    pred = random_truth(300, seed=4)
    labels = recognition.load_labels(gt_json(ids, truth), CLASSES)
    seed = bootstrap.phase_seed("tinyactions/test")
    result = scoring.evaluate(
        "classification", labels, answer_txt(ids, pred), replicates=200, seed=seed
    )
    assert result.scores == scoring.score("classification", labels, answer_txt(ids, pred))
    indices = bootstrap.resample_indices(300, replicates=200, seed=seed)
    np.testing.assert_allclose(
        result.replicates, reference_macro_f1(truth, pred, indices), rtol=0, atol=TOL
    )
    low, high = bootstrap.percentile_interval(result.replicates)
    assert low <= result.scores["macro_f1"] <= high
    assert scoring.evaluate("classification", labels, answer_txt(ids, pred)).replicates is None


def test_the_phase_seed_is_stable_and_tells_phases_apart():
    # Fixed forever: stored replicate vectors of every phase depend on it.
    assert bootstrap.phase_seed("tinyactions-2021/test") == bootstrap.phase_seed(
        "tinyactions-2021/test"
    )
    assert bootstrap.phase_seed("a/b") != bootstrap.phase_seed("a/c")
    assert bootstrap.phase_seed("a/b") == int.from_bytes(
        __import__("hashlib").sha256(b"a/b").digest()[:8], "big"
    )
    first = bootstrap.resample_indices(50, replicates=3, seed=7)
    np.testing.assert_array_equal(first, bootstrap.resample_indices(50, replicates=3, seed=7))


def _recognition_replicates(truth, pred, replicates=1000, seed=11):
    counts = bootstrap.resample_counts(len(truth), replicates=replicates, seed=seed)
    return bootstrap.macro_f1_replicates(truth, pred, counts)


def test_identical_submissions_are_never_separable():
    truth = random_truth(500, seed=1)
    pred = random_truth(500, seed=2)
    a = _recognition_replicates(truth, pred)
    b = _recognition_replicates(truth, pred.copy())
    assert not bootstrap.separable(a, b)
    assert bootstrap.separable_flags([a, b]) == [False, False]


def test_a_far_better_submission_is_always_separable():
    truth = random_truth(500, seed=1)
    noise = random_truth(500, seed=2)
    good = truth.copy()
    good[:25] = noise[:25]  # 95% of the clips exactly right
    for seed in range(5):
        strong = _recognition_replicates(truth, good, seed=seed)
        weak = _recognition_replicates(truth, noise, seed=seed)
        assert bootstrap.separable(strong, weak)
        assert bootstrap.separable(weak, strong)
        assert bootstrap.separable_flags([strong, weak]) == [True, False]


def test_interval_and_stored_form():
    values = np.arange(1001, dtype=np.float64) / 1000
    assert bootstrap.percentile_interval(values) == pytest.approx((0.025, 0.975))
    blob = bootstrap.replicates_to_bytes(values)
    assert len(blob) == 8 * 1001
    np.testing.assert_array_equal(bootstrap.replicates_from_bytes(blob), values)
    assert bootstrap.replicates_from_bytes(b"") is None
    assert bootstrap.replicates_from_bytes(b"abc") is None
    assert bootstrap.interval_fields(None) == {"ci_low": None, "ci_high": None}


# --- detection ------------------------------------------------------------------------


def _resampled_case(records, rows, idx):
    """The label file and CSV of one resample: copy k of a clip is ``<id>_<k>``.

    Rows are written in the original file order, the copies of each row together, so a
    detection's copies are adjacent in file order as in the ranking the bootstrap uses.
    """
    copies: dict[str, list[str]] = {}
    new_records = []
    for k, i in enumerate(idx):
        record = dict(records[i])
        new_id = f"{record['id']}_{k}"
        copies.setdefault(records[i]["id"], []).append(new_id)
        record["id"] = new_id
        new_records.append(record)
    new_rows = [(new_id, *row[1:]) for row in rows for new_id in copies.get(row[0], [])]
    return labels_json(new_records), csv_bytes(new_rows)


def _detection_reference(records, rows, indices):
    values = []
    for idx in indices:
        labels_bytes, csv = _resampled_case(records, rows, idx)
        labels = detection.load_labels(labels_bytes, list(SMALL_CLASSES))
        values.append(detection.score(labels, csv)["video_map"])
    return np.array(values)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), replicates=st.integers(1, 8))
def test_video_map_replicates_equal_rescoring_each_resample(seed, replicates):
    case = random_case(seed, max_clips=5)
    labels = detection.load_labels(case.labels(), list(SMALL_CLASSES))
    scores, fast, _ = detection.evaluate(labels, case.csv(), replicates=replicates, seed=seed)
    assert scores == detection.score(labels, case.csv())
    indices = bootstrap.resample_indices(labels.n_items, replicates=replicates, seed=seed)
    reference = _detection_reference(case.records, case.rows, indices)
    np.testing.assert_allclose(fast, reference, rtol=0, atol=TOL)


def test_video_map_bootstrap_on_a_larger_case():
    rng = random.Random(5)
    case = random_case(17, max_clips=12)
    while len(case.records) < 8:
        case = random_case(rng.randrange(10_000), max_clips=12)
    labels = detection.load_labels(case.labels(), list(SMALL_CLASSES))
    scores, fast, _ = detection.evaluate(labels, case.csv(), replicates=30, seed=99)
    indices = bootstrap.resample_indices(labels.n_items, replicates=30, seed=99)
    reference = _detection_reference(case.records, case.rows, indices)
    np.testing.assert_allclose(fast, reference, rtol=0, atol=TOL)
    assert json.dumps(scores)  # the score JSON stays plain JSON


# --- hidden splits ----------------------------------------------------------------------


def _with_splits(labels_bytes: bytes, splits: list[str | None]) -> bytes:
    records = json.loads(labels_bytes)
    for record, split in zip(records, splits, strict=True):
        if split is not None:
            record["split"] = split
    return json.dumps(records).encode()


def test_split_labels_all_or_none_and_the_mixed_record_is_named():
    ids = clip_ids(4)
    data = gt_json(ids, random_truth(4, seed=1))
    with pytest.raises(scoring.LabelsInvalid) as exc:
        recognition.load_labels(_with_splits(data, ["public", None, "private", "public"]), CLASSES)
    assert exc.value.errors == [
        f"record 2 (id {ids[1]!r}): has no 'split', but record 1 has one; give every record "
        'a split ("public" or "private") or none'
    ]
    with pytest.raises(scoring.LabelsInvalid) as exc:
        recognition.load_labels(
            _with_splits(data, ["public", "test", "private", "public"]), CLASSES
        )
    assert exc.value.errors == [
        f"record 2 (id {ids[1]!r}): 'split' must be \"public\" or \"private\", not 'test'"
    ]
    with pytest.raises(scoring.LabelsInvalid) as exc:
        recognition.load_labels(_with_splits(data, ["public"] * 4), CLASSES)
    assert exc.value.errors == [
        "no record is in the private split; a split phase needs clips in both"
    ]
    plain = recognition.load_labels(data, CLASSES)
    assert plain.split is None
    assert recognition.RecognitionLabels.from_bytes(plain.to_bytes()).split is None
    split = recognition.load_labels(
        _with_splits(data, ["public", "private", "private", "public"]), CLASSES
    )
    assert split.split.tolist() == [0, 1, 1, 0]
    assert recognition.RecognitionLabels.from_bytes(split.to_bytes()).split.tolist() == [
        0,
        1,
        1,
        0,
    ]


def test_detection_split_labels_are_checked_and_stored():
    case = random_case(3, max_clips=5)
    while len(case.records) < 2:
        case = random_case(case.records.__len__() + 100, max_clips=5)
    names = [None] * len(case.records)
    names[0] = "public"
    with pytest.raises(scoring.LabelsInvalid) as exc:
        detection.load_labels(_with_splits(case.labels(), names), list(SMALL_CLASSES))
    assert exc.value.errors[0].startswith("record 2 (id ")
    assert "has no 'split', but record 1 has one" in exc.value.errors[0]
    names = ["public"] + ["private"] * (len(case.records) - 1)
    labels = detection.load_labels(_with_splits(case.labels(), names), list(SMALL_CLASSES))
    stored = detection.DetectionLabels.from_bytes(labels.to_bytes())
    assert stored.clip_split.tolist() == [0] + [1] * (len(case.records) - 1)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 40), seed=st.integers(0, 2**32), replicates=st.integers(1, 10))
def test_recognition_split_scores_equal_scoring_the_split_alone(n, seed, replicates):
    rng = np.random.default_rng(seed)
    ids = clip_ids(n)
    truth = random_truth(n, seed=seed % 1000)
    pred = random_truth(n, seed=seed % 1000 + 1)
    codes = rng.integers(0, 2, size=n)
    codes[0], codes[1] = 0, 1
    names = ["public" if c == 0 else "private" for c in codes]
    labels = recognition.load_labels(_with_splits(gt_json(ids, truth), names), CLASSES)
    result = scoring.evaluate(
        "classification", labels, answer_txt(ids, pred), replicates=replicates, seed=seed
    )
    assert result.scores == scoring.score("classification", labels, answer_txt(ids, pred))
    for code, name in enumerate(("public", "private")):
        rows = np.flatnonzero(codes == code)
        sub_ids = [ids[i] for i in rows]
        alone = recognition.load_labels(gt_json(sub_ids, truth[rows]), CLASSES)
        split_scores, split_reps = result.splits[name]
        assert split_scores == recognition.score(alone, answer_txt(sub_ids, pred[rows]))
        indices = bootstrap.resample_indices(
            len(rows), replicates=replicates, seed=[seed, code + 1]
        )
        expected = reference_macro_f1(truth[rows], pred[rows], indices)
        np.testing.assert_allclose(split_reps, expected, rtol=0, atol=TOL)


def _close(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _close(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _close(x, y)
    elif isinstance(a, float) and b is not None:
        assert a == pytest.approx(b, abs=TOL, rel=0)
    else:
        assert a == b


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), replicates=st.integers(1, 6))
def test_detection_split_scores_equal_scoring_the_split_alone(seed, replicates):
    rng = random.Random(seed)
    case = random_case(seed, max_clips=6)
    if len(case.records) < 2:
        return
    codes = [rng.randint(0, 1) for _ in case.records]
    codes[0], codes[-1] = 0, 1
    names = ["public" if c == 0 else "private" for c in codes]
    labels = detection.load_labels(_with_splits(case.labels(), names), list(SMALL_CLASSES))
    scores, _, splits = detection.evaluate(labels, case.csv(), replicates=replicates, seed=seed)
    assert scores == detection.score(labels, case.csv())
    for code, name in enumerate(("public", "private")):
        records = [r for r, c in zip(case.records, codes, strict=True) if c == code]
        keep = {r["id"] for r in records}
        rows = [row for row in case.rows if row[0] in keep]
        alone = detection.load_labels(labels_json(records), list(SMALL_CLASSES))
        split_scores, split_reps = splits[name]
        _close(split_scores, detection.score(alone, csv_bytes(rows)))
        indices = bootstrap.resample_indices(
            len(records), replicates=replicates, seed=[seed, code + 1]
        )
        np.testing.assert_allclose(
            split_reps, _detection_reference(records, rows, indices), rtol=0, atol=TOL
        )


def test_the_board_flags_equal_the_pairwise_test():
    rng = np.random.default_rng(0)
    # Neighbours 2m, 2m+1 share a mean (not separable); 2m+1, 2m+2 are far apart.
    vectors = [rng.normal(0.9 - 0.02 * (k // 2), 0.003, 1000) for k in range(40)]
    vectors[7] = None
    vectors[20] = vectors[19].copy()
    vectors[30] = rng.normal(0.4, 0.01, 500)  # another length: never compared
    expected = [
        a is not None and b is not None and len(a) == len(b) and bootstrap.separable(a, b)
        for a, b in zip(vectors, [*vectors[1:], None], strict=True)
    ]
    flags = bootstrap.separable_flags(vectors)
    assert flags == expected
    assert flags[19] is False
    assert flags[-1] is False
    assert any(flags)
    assert not all(flags[:-1])


def test_the_act_protocol_gets_no_interval_and_refuses_split_labels():
    case = random_case(21, max_clips=5)
    while len(case.records) < 2:
        case = random_case(len(case.records) + 300, max_clips=5)
    labels = detection.load_labels(case.labels(), list(SMALL_CLASSES))
    scores, reps, splits = detection.evaluate(
        labels, case.csv(), protocol="act", replicates=20, seed=1
    )
    assert scores == detection.score(labels, case.csv(), protocol="act")
    assert reps is None
    assert splits is None
    names = ["public"] + ["private"] * (len(case.records) - 1)
    split = detection.load_labels(_with_splits(case.labels(), names), list(SMALL_CLASSES))
    with pytest.raises(ValueError, match="act detection protocol does not support"):
        detection.evaluate(split, case.csv(), protocol="act")
