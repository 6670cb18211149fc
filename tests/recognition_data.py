"""Hidden recognition labels and answer files with known content, shared by the test suites."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import f1_score

from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES

N_CLASSES = len(TINYVIRAT_V2_CLASSES)
# The summary figures of a classification score, in CONTRACT section 1's order.
METRIC_KEYS = (
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "samples_f1",
)


def clip_ids(n: int, *, width: int = 5) -> list[str]:
    return [str(i).zfill(width) for i in range(n)]


def random_matrix(
    n: int, *, seed: int, density: float = 0.15, n_classes: int = N_CLASSES
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, n_classes)) < density).astype(np.uint8)
    # Every clip has at least one label, as in TinyVIRAT.
    y[np.arange(n), rng.integers(0, n_classes, n)] = 1
    return y


def labels_json(y: np.ndarray) -> bytes:
    records = [
        {
            "id": cid,
            "video_id": "VIRAT_S_000000",
            "dim": [96, 120, 120],
            "label": [TINYVIRAT_V2_CLASSES[c] for c in np.flatnonzero(row)],
        }
        for cid, row in zip(clip_ids(len(y)), y, strict=True)
    ]
    return json.dumps(records).encode()


def answer_lines(ids: Sequence[str], p: np.ndarray) -> list[str]:
    return [cid + " " + " ".join(str(int(v)) for v in row) for cid, row in zip(ids, p, strict=True)]


def answer_txt(ids: Sequence[str], p: np.ndarray, *, eol: str = "\n") -> bytes:
    return "".join(line + eol for line in answer_lines(ids, p)).encode()


def answer_bytes(p: np.ndarray) -> bytes:
    """answer.txt for the clips of ``clip_ids``, one line each in order."""
    return answer_txt(clip_ids(len(p)), p)


def answer_with_duplicate(p: np.ndarray, *, line: int) -> bytes:
    """The official baseline's bug: line ``line`` (1-based) repeats the previous clip's id,
    so one id appears twice and another is missing."""
    lines = answer_bytes(p).decode().splitlines()
    previous_id = lines[line - 2].split(" ", 1)[0]
    lines[line - 1] = previous_id + " " + lines[line - 1].split(" ", 1)[1]
    return ("\n".join(lines) + "\n").encode()


LABELLED_CLIPS = 5


def labelled_truth() -> np.ndarray:
    """The hidden labels of the ``phase_labelled`` fixture: ``LABELLED_CLIPS`` random clips."""
    return random_matrix(LABELLED_CLIPS, seed=0)


def phase_with_labels(truth: np.ndarray, **fields):
    """A recognition phase (``PhaseFactory(**fields)``) whose hidden labels are ``truth``."""
    from evalserver.challenges.services import phase_set_labels
    from tests.factories import PhaseFactory

    phase = PhaseFactory(**fields)
    phase_set_labels(phase=phase, data=labels_json(truth), filename="labels.json")
    phase.refresh_from_db()
    return phase


def expected_macro_f1(truth: np.ndarray, prediction: np.ndarray) -> float:
    """The reference value the server's scores are held to."""
    return float(f1_score(truth, prediction, average="macro", zero_division=0))
