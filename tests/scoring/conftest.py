"""Builders for tiny recognition fixtures: ground-truth JSON and answer.txt files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from tests.recognition_data import answer_lines, answer_txt, clip_ids, random_matrix

CLASSES = TINYVIRAT_V2_CLASSES
# The scoring tests import every builder from here; four live in tests/recognition_data.py.
__all__ = [
    "CLASSES",
    "answer_lines",
    "answer_txt",
    "clip_ids",
    "gt_json",
    "gt_records",
    "random_truth",
]


def random_truth(n: int, n_classes: int = len(CLASSES), *, seed: int = 0) -> np.ndarray:
    """A multi-label truth matrix where every clip has at least one label."""
    return random_matrix(n, seed=seed, density=0.1, n_classes=n_classes)


def gt_records(
    ids: Sequence[str], y: np.ndarray, class_names: Sequence[str] = CLASSES
) -> list[dict]:
    """TinyVIRAT-v2 style records, extra keys included as in the real files."""
    return [
        {
            "id": cid,
            "video_id": f"VIRAT_S_0000{i % 7}",
            "path": f"VIRAT_S_0000{i % 7}/{cid}.mp4",
            "dim": [96, 120, 120],
            "label": [class_names[c] for c in np.flatnonzero(row)],
        }
        for i, (cid, row) in enumerate(zip(ids, y, strict=True))
    ]


def gt_json(ids: Sequence[str], y: np.ndarray, class_names: Sequence[str] = CLASSES) -> bytes:
    return json.dumps(gt_records(ids, y, class_names), indent=1).encode()


@pytest.fixture
def write_case(tmp_path: Path):
    """Write a GT JSON and an answer.txt into tmp_path; returns their paths."""

    def write(
        labels: bytes, answer: bytes, *, answer_name: str = "answer.txt"
    ) -> tuple[Path, Path]:
        gt_path = tmp_path / "gt.json"
        answer_path = tmp_path / answer_name
        gt_path.write_bytes(labels)
        answer_path.write_bytes(answer)
        return gt_path, answer_path

    return write
