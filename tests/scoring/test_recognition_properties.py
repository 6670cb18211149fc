"""Property tests: metrics equal scikit-learn's, and the fast and careful parsers agree."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import f1_score, precision_recall_fscore_support, precision_score, recall_score

from evalserver.scoring import recognition
from evalserver.scoring.errors import SubmissionInvalid
from evalserver.scoring.recognition import RecognitionLabels, compute_metrics, validate
from tests.recognition_data import METRIC_KEYS

TOL = 1e-12


@st.composite
def truth_and_prediction(draw, *, min_classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 30))
    c = draw(st.integers(min_classes, 8))
    # Skewed densities reach the edges: empty classes, empty clips, all-ones.
    p_true = draw(st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]))
    p_pred = draw(st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    y = (rng.random((n, c)) < p_true).astype(np.uint8)
    p = (rng.random((n, c)) < p_pred).astype(np.uint8)
    if draw(st.booleans()):
        p = y.copy()  # a perfect submission
        flips = draw(st.integers(0, 3))
        for _ in range(flips):
            i, j = rng.integers(0, n), rng.integers(0, c)
            p[i, j] ^= 1
    return y, p


def sklearn_scores(y: np.ndarray, p: np.ndarray) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prec, rec, f1, support = precision_recall_fscore_support(
            y, p, average=None, zero_division=0
        )
        return {
            "precision": prec,
            "recall": rec,
            "f1": f1,
            "support": support,
            "macro_f1": f1_score(y, p, average="macro", zero_division=0),
            "macro_precision": precision_score(y, p, average="macro", zero_division=0),
            "macro_recall": recall_score(y, p, average="macro", zero_division=0),
            "micro_precision": precision_score(y, p, average="micro", zero_division=0),
            "micro_recall": recall_score(y, p, average="micro", zero_division=0),
            "micro_f1": f1_score(y, p, average="micro", zero_division=0),
            "samples_f1": f1_score(y, p, average="samples", zero_division=0),
        }


def assert_matches_sklearn(y: np.ndarray, p: np.ndarray) -> None:
    names = [f"c{i}" for i in range(y.shape[1])]
    ours = compute_metrics(y, p, names)
    ref = sklearn_scores(y, p)
    for key in METRIC_KEYS:
        assert ours[key] == pytest.approx(ref[key], abs=TOL, rel=0), key
    per_class = ours["per_class"]
    for metric in ("precision", "recall", "f1"):
        got = np.array([c[metric] for c in per_class])
        np.testing.assert_allclose(got, ref[metric], atol=TOL, rtol=0, err_msg=metric)
    assert [c["support"] for c in per_class] == ref["support"].tolist()
    assert ours["n_items"] == y.shape[0]


@settings(max_examples=300, deadline=None)
@given(truth_and_prediction())
@example((np.zeros((4, 3), np.uint8), np.zeros((4, 3), np.uint8))).via("all zero, no truth")
@example((np.eye(3, dtype=np.uint8), np.zeros((3, 3), np.uint8))).via("no predictions")
@example((np.eye(3, dtype=np.uint8), np.eye(3, dtype=np.uint8))).via("perfect")
@example((np.zeros((3, 3), np.uint8), np.ones((3, 3), np.uint8))).via("predictions, no truth")
@example(
    (np.array([[1, 0, 0], [1, 0, 0]], np.uint8), np.array([[1, 0, 1], [0, 0, 0]], np.uint8))
).via("classes without positives")
def test_metrics_equal_sklearn(yp):
    assert_matches_sklearn(*yp)


@settings(max_examples=50, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 10), st.just(1)), elements=st.integers(0, 1)))
def test_single_class_per_class_metrics_equal_sklearn(y):
    # One class: sklearn treats the data as binary, so compare the per-class numbers only.
    p = 1 - y
    p[0] = y[0]
    ours = compute_metrics(y, p, ["only"])["per_class"][0]
    prec, rec, f1, _ = precision_recall_fscore_support(
        y[:, 0], p[:, 0], average="binary", zero_division=0
    )
    assert ours["precision"] == pytest.approx(prec, abs=TOL)
    assert ours["recall"] == pytest.approx(rec, abs=TOL)
    assert ours["f1"] == pytest.approx(f1, abs=TOL)
    assert ours["support"] == int(y.sum())


# --- parsing: layouts, and agreement between the fast and the careful pass ---------------


_ID_ALPHABET = st.sampled_from("0123456789abcXYZ-_.")
_IDS = st.lists(st.text(_ID_ALPHABET, min_size=1, max_size=8), min_size=1, max_size=12, unique=True)


def _aligned(data: bytes, labels: RecognitionLabels) -> tuple[list[str], np.ndarray | None]:
    """What the careful pass alone makes of ``data``."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    index = labels._id_index
    problems, rows, values = recognition._careful_parse(data, start, index, labels.n_classes)
    if problems:
        return problems, None
    out = np.empty((labels.n_items, labels.n_classes), dtype=np.uint8)
    out[rows] = values
    return [], out


@settings(max_examples=200, deadline=None)
@given(
    ids=_IDS,
    n_classes=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    gaps=st.lists(st.sampled_from([" ", "\t", "  ", " \t ", "\t\t"]), min_size=1, max_size=3),
    eol=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    trailing=st.sampled_from(["", "\n", "\n\n", " \n\t\n", "\r\n"]),
    edge_space=st.sampled_from(["", " ", "\t"]),
)
def test_any_tolerated_layout_gives_the_same_matrix(
    ids, n_classes, seed, gaps, eol, bom, trailing, edge_space
):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, (len(ids), n_classes), dtype=np.uint8)
    p = rng.integers(0, 2, (len(ids), n_classes), dtype=np.uint8)
    labels = RecognitionLabels(class_names=[f"c{i}" for i in range(n_classes)], ids=ids, Y=y)
    order = rng.permutation(len(ids))
    lines = []
    for k, i in enumerate(order):
        fields = [ids[i], *(str(v) for v in p[i])]
        line = fields[0]
        for j, field in enumerate(fields[1:]):
            line += gaps[(k + j) % len(gaps)] + field
        lines.append(edge_space + line + edge_space)
    data = ("\ufeff" if bom else "") + eol.join(lines) + trailing
    raw = data.encode()
    assert np.array_equal(validate(labels, raw), p)
    problems, careful = _aligned(raw, labels)
    assert problems == []
    assert np.array_equal(careful, p)


_TOKENS = ["0", "1", "0", "1", "2", "01", "x"]


@st.composite
def messy_answers(draw) -> tuple[RecognitionLabels, bytes]:
    """Files near a valid one: wrong values and counts, repeats, blanks, odd bytes."""
    ids = draw(st.lists(st.sampled_from(["a", "bb", "007", "7", "c-1"]), min_size=1, unique=True))
    n_classes = draw(st.integers(1, 3))
    y = np.zeros((len(ids), n_classes), dtype=np.uint8)
    labels = RecognitionLabels(class_names=[f"c{i}" for i in range(n_classes)], ids=ids, Y=y)
    line_ids = list(draw(st.permutations(ids)))
    mutation = draw(st.sampled_from(["none", "none", "drop", "repeat", "unknown"]))
    if mutation == "drop":
        line_ids.pop(draw(st.integers(0, len(line_ids) - 1)))
    elif mutation == "repeat":
        line_ids.insert(draw(st.integers(0, len(line_ids))), draw(st.sampled_from(ids)))
    elif mutation == "unknown":
        line_ids[draw(st.integers(0, len(line_ids) - 1))] = draw(st.sampled_from(["zz", "07", ""]))
    lines = []
    for cid in line_ids:
        broken = draw(st.integers(0, 5)) == 0
        count = n_classes + (draw(st.sampled_from([0, -1, 1])) if broken else 0)
        tokens = _TOKENS if broken else ["0", "1"]
        values = draw(st.lists(st.sampled_from(tokens), min_size=count, max_size=count))
        sep = draw(st.sampled_from([" ", " ", "\t", "  ", "\r"]))
        lines.append(sep.join([cid, *values]) if cid else sep.join(values))
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["", " ", "\t\r", "\x0c", "é", "\x00"])))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    tail = draw(st.sampled_from(["", "\n", "\n\n", " "]))
    return labels, (eol.join(lines) + tail).encode()


@settings(max_examples=500, deadline=None)
@given(messy_answers())
def test_fast_and_careful_passes_agree(case):
    labels, data = case
    problems, careful = _aligned(data, labels)
    fast = recognition._fast_parse(data, 0, labels._id_index, labels.n_classes)
    if fast is not None:
        fast_problems, rows, values = fast
        # Files with only id problems are worded by the fast pass: word for word the same.
        assert fast_problems == problems
        if not problems:
            got = np.empty_like(careful)
            if rows is None:  # line i is clip i
                got[:] = values
            else:
                got[rows] = values
            assert np.array_equal(got, careful)
    elif not problems:
        # The fast pass may only decline plain-ASCII files that are really wrong.
        assert not data.isascii() or b"\x0c" in data, "fast pass declined a valid file"
    # Whatever the path, score() agrees with the careful pass.
    if problems:
        with pytest.raises(SubmissionInvalid) as info:
            validate(labels, data)
        # An empty upload is refused one step earlier, when it is opened.
        assert info.value.errors == (problems if data else ["the submission is empty"])
    else:
        assert np.array_equal(validate(labels, data), careful)
