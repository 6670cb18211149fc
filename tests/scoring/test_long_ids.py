"""Clip ids longer than 8 bytes are looked up by hash, then compared byte for byte."""

import numpy as np
import pytest

from evalserver.scoring import recognition
from evalserver.scoring.recognition import _IdIndex


@pytest.mark.parametrize("prefix", ["", "VIRAT_S_", "VIRAT_S_000000_000000_", "x" * 50])
def test_lookup_agrees_with_a_dictionary(prefix: str) -> None:
    rng = np.random.default_rng(3)
    ids = [f"{prefix}{i:05d}" for i in rng.permutation(3000)]
    index = _IdIndex(ids)
    row_of = {cid: row for row, cid in enumerate(ids)}
    queries = [*ids[::-1], f"{prefix}99999", f"{prefix}0000", prefix[:-1] + "00001", "0"]
    keys = np.array([q.encode() for q in queries])
    if keys.dtype.itemsize > index.width:
        keys = keys[[len(q.encode()) <= index.width for q in queries]]
    found = index.lookup(keys)
    assert found is not None
    assert index._hashed == (8 < len(ids[0].encode()) <= 64)
    rows, known = found
    for key, row, hit in zip(keys.tolist(), rows.tolist(), known.tolist(), strict=True):
        expected = row_of.get(key.decode())
        assert hit == (expected is not None), key
        if hit:
            assert row == expected


def test_long_ids_score_like_short_ones() -> None:
    rng = np.random.default_rng(8)
    truth = (rng.random((200, 26)) < 0.1).astype(np.uint8)
    pred = (rng.random((200, 26)) < 0.1).astype(np.uint8)
    results = []
    for prefix in ("", "VIRAT_S_000201_05_000000_"):
        ids = [f"{prefix}{i:05d}" for i in range(200)]
        labels = recognition.RecognitionLabels(
            class_names=tuple(f"c{k}" for k in range(26)), ids=np.array(ids), Y=truth
        )
        lines = [
            f"{cid} " + " ".join(map(str, row)) for cid, row in zip(ids, pred.tolist(), strict=True)
        ]
        results.append(recognition.score(labels, ("\n".join(lines[::-1]) + "\n").encode()))
    assert results[0] == results[1]
