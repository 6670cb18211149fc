"""Hidden recognition labels and answer files with known content, shared by the test suites."""

from __future__ import annotations

import json

import numpy as np
from sklearn.metrics import f1_score

from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES

N_CLASSES = len(TINYVIRAT_V2_CLASSES)


def clip_ids(n: int) -> list[str]:
    return [str(i).zfill(5) for i in range(n)]


def random_matrix(n: int, *, seed: int, density: float = 0.15) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, N_CLASSES)) < density).astype(np.uint8)
    # Every clip has at least one label, as in TinyVIRAT.
    y[np.arange(n), rng.integers(0, N_CLASSES, n)] = 1
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


def answer_bytes(p: np.ndarray) -> bytes:
    lines = [
        cid + " " + " ".join(str(int(v)) for v in row)
        for cid, row in zip(clip_ids(len(p)), p, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def answer_with_duplicate(p: np.ndarray, *, line: int) -> bytes:
    """The official baseline's bug: line ``line`` (1-based) repeats the previous clip's id,
    so one id appears twice and another is missing."""
    lines = answer_bytes(p).decode().splitlines()
    previous_id = lines[line - 2].split(" ", 1)[0]
    lines[line - 1] = previous_id + " " + lines[line - 1].split(" ", 1)[1]
    return ("\n".join(lines) + "\n").encode()


def expected_macro_f1(truth: np.ndarray, prediction: np.ndarray) -> float:
    """The reference value the server's scores are held to."""
    return float(f1_score(truth, prediction, average="macro", zero_division=0))
