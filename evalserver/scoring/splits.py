"""The hidden public/private split of a phase's clips (issue 13).

A label record may carry ``"split": "public"`` or ``"split": "private"``; a file gives
every record a split or none. A split phase scores each submission on every clip, and on
each split separately: the running board shows the public split, the final board the
private one. Participants never learn which clip is in which split, so a submission is
still validated against every clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

SPLITS: tuple[str, ...] = ("public", "private")
PUBLIC, PRIVATE = 0, 1


def read_splits(records: Sequence[Any], problems: list[str]) -> np.ndarray | None:
    """Each record's split code (0 public, 1 private), or None when no record has a split.

    Problems (a bad value, a record without a split in a file where others have one, a
    split with no clip) are appended to ``problems``, each naming its record (from 1).
    """
    objects = [(n, r) for n, r in enumerate(records, 1) if isinstance(r, dict)]
    with_split = [n for n, r in objects if "split" in r]
    if not with_split:
        return None
    first = with_split[0]
    codes = np.zeros(len(records), dtype=np.uint8)
    for n, record in objects:
        where = _where(n, record)
        if "split" not in record:
            problems.append(
                f"{where}: has no 'split', but record {first} has one; give every record "
                'a split ("public" or "private") or none'
            )
            continue
        value = record["split"]
        if value not in SPLITS:
            problems.append(f'{where}: \'split\' must be "public" or "private", not {value!r}')
            continue
        codes[n - 1] = SPLITS.index(value)
    if not problems:
        for code, name in enumerate(SPLITS):
            if not (codes == code).any():
                problems.append(
                    f"no record is in the {name} split; a split phase needs clips in both"
                )
    return codes


def _where(n: int, record: dict) -> str:
    cid = record.get("id")
    return f"record {n} (id {cid!r})" if isinstance(cid, str) else f"record {n}"


def split_seed(seed: int, name: str) -> list[int]:
    """The resampling seed of one split: the phase's seed and the split's number."""
    return [int(seed), SPLITS.index(name) + 1]
