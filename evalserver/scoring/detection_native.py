"""Detection scoring's compiled fast paths: the reader of a plain CSV, one pass over its
bytes (below), and the scorer's hot loops (``group``, ``rank``, ``box_pass``,
``first_claims``), each beside the numpy code that runs where it does not apply.

Most submissions are clean, and most of a clean file's numbers are short decimals
("0.734", "112.5"). For those, ``_detection_csv.c`` splits, converts and checks every
field in one pass with the GIL released, on two threads (one part of the file each),
straight into the arrays the scorer uses: about a third of the time of Arrow's reader
and its column conversions (:mod:`.detection_arrow`), which stays as the second fast
path for what this one gives up on (exponents, "+", ".5", long mantissas...).

It accepts a strict subset of what the streaming reader accepts, with the same bits:
the same checks, and floats by the streaming reader's own fast path (an exact integer
mantissa divided by an exact power of ten, which IEEE division rounds correctly). On
anything else it returns None without wording an error. The module is compiled at
install (``pyproject.toml``); where it could not be (no C compiler), this path is
skipped and the Arrow one reads every file.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from .detection_csv import SubmissionRows, body_end, class_tokens, line_parts, numbered_rows
from .detection_labels import DetectionLabels, per_labels

try:
    from . import _detection_csv
except ImportError:  # built without a C compiler: the Arrow path reads every file
    _detection_csv = None

# Two parts (one per core of the 2-core machines we are sized for) once a file is this big.
PARSE_THREADS = 2
_SPLIT_FROM_BYTES = 1 << 20
# The shortest plain row and its newline: "a,0,0,0,0,0,0,1,1\n" (one-byte clip id and class).
_SHORTEST_LINE = 18


def available() -> bool:
    """True if the compiled module was built (it is wherever a C compiler was at install)."""
    return _detection_csv is not None


def _blob(tokens: list[bytes]) -> tuple[bytes, np.ndarray]:
    """Tokens as one byte string and the offsets of each (one more than tokens)."""
    offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in tokens], out=offsets[1:])
    return b"".join(tokens), offsets


class _Tables:
    """A phase's clip ids and class tokens, laid out for the compiled lookups."""

    def __init__(self, labels: DetectionLabels) -> None:
        self.clip_blob, self.clip_offsets = _blob(
            [c.encode("utf-8") for c in labels.clip_ids.tolist()]
        )
        self.clip_frames = np.ascontiguousarray(labels.clip_dims[:, 0], dtype=np.int64)
        tokens = class_tokens(labels)
        self.class_blob, self.class_offsets = _blob(list(tokens))
        self.class_values = np.array(list(tokens.values()), dtype=np.int64)


_tables = per_labels(_Tables)


def read_plain_rows(
    data: bytes, start: int, first_line: int, labels: DetectionLabels
) -> SubmissionRows | None:
    """The rows of a CSV body (``data`` from ``start``: the lines after the header) if
    every line is of the plain form the compiled reader takes, else None.

    Trailing blank lines are allowed, as in the streaming reader; CRLF must already be
    turned into LF.
    """
    if _detection_csv is None:
        return None
    end = body_end(data, start)
    if end == start:
        return None  # nothing to gain: the Arrow path answers an empty body
    parts = line_parts(data, start, end, n_parts=PARSE_THREADS, min_bytes=_SPLIT_FROM_BYTES)
    tables = _tables(labels)

    def each(work) -> list:
        """``work`` on every part: the first on this thread, the others on the pool's."""
        later = [pool.submit(work, k) for k in range(1, len(parts))]
        return [work(0), *(f.result() for f in later)]

    with ThreadPoolExecutor(max_workers=max(1, len(parts) - 1)) as pool:
        # Every part but the last ends in its last line's newline.
        counts = each(lambda k: _detection_csv.count_lines(data, *parts[k]))
        counts[-1] += 1
        n = sum(counts)
        if n > (end - start + 1) // _SHORTEST_LINE:
            # More lines than plain rows could fill (a file of short lines): not worth
            # arrays sized by them; the next reader words what is wrong.
            return None
        ints = [np.empty(n, dtype=np.int64) for _ in range(4)]
        score = np.empty(n, dtype=np.float64)
        box = np.empty((4, n), dtype=np.float64)
        firsts = np.cumsum([0, *counts[:-1]]).tolist()

        def parse(k: int) -> int:
            a, b = parts[k]
            return _detection_csv.parse(
                data, a, b,
                tables.clip_blob, tables.clip_offsets, tables.clip_frames,
                tables.class_blob, tables.class_offsets, tables.class_values,
                *ints, score, box, firsts[k], firsts[k] + counts[k],
            )  # fmt: skip

        parsed = each(parse)
    if parsed != counts:
        return None
    clip, tube_id, frame, cls = ints
    return numbered_rows(
        first_line=first_line,
        clip=clip,
        tube_id=tube_id,
        frame=frame,
        cls=cls,
        score=score,
        box=box,
    )


def _plain(array: np.ndarray, dtype: type) -> bool:
    return array.dtype == dtype and array.flags.c_contiguous


def box_pass(
    rows: np.ndarray,
    row_tube: np.ndarray,
    row_frame: np.ndarray,
    j_start: np.ndarray,
    j_end: np.ndarray,
    j_base: np.ndarray,
    boxes: np.ndarray,
    row_box: np.ndarray,
    row_best: np.ndarray,
    row_target: np.ndarray,
) -> tuple[np.ndarray, np.ndarray] | None:
    """One pass of the box matching (``detection_metrics._box_pass``) in one compiled loop
    instead of a dozen whole-array gathers: (the rows that met a box, their IoUs), with
    ``row_best``/``row_target`` updated in place; None where the module is missing or an
    array is not laid out as it reads it (the numpy pass then runs)."""
    if _detection_csv is None:
        return None
    ints = (rows, row_tube, row_frame, j_start, j_end, j_base, row_target)
    floats = (boxes, row_box, row_best)
    if not all(_plain(a, np.int64) for a in ints) or not all(_plain(a, np.float64) for a in floats):
        return None
    hit = np.empty(len(rows), dtype=np.int64)
    iou = np.empty(len(rows), dtype=np.float64)
    n = _detection_csv.box_pass(
        rows, row_tube, row_frame, j_start, j_end, j_base, boxes, row_box,
        row_best, row_target, hit, iou,
    )  # fmt: skip
    return hit[:n], iou[:n]


class Grouped(NamedTuple):
    """What ``group`` gives: per row its tube; per tube its clip, class, frame span, first
    file row, number of rows and score sum; the rows by (tube, frame)."""

    row_tube: np.ndarray
    tube_clip: np.ndarray
    tube_class: np.ndarray
    fmin: np.ndarray
    fmax: np.ndarray
    first: np.ndarray
    n_rows: np.ndarray
    score_sum: np.ndarray
    order: np.ndarray


def group(
    rows: SubmissionRows,
    tube_id: np.ndarray,
    *,
    n_clips: int,
    n_classes: int,
    span: int,
    max_table: int,
    max_slots: int,
) -> Grouped | None:
    """``detection_metrics.group_tubes``'s counting path in one compiled function (the
    numbering tables, spans, first rows, sums and the (tube, frame) order), or None where
    that path does not apply (tables over ``max_table`` slots, spans over ``max_slots``,
    two rows for one (tube, frame)) or the module is missing: numpy's path then runs."""
    if _detection_csv is None:
        return None
    inputs = (rows.clip, tube_id, rows.cls, rows.frame)
    if not all(_plain(a, np.int64) for a in inputs) or not _plain(rows.score, np.float64):
        return None
    n = len(rows)
    out = [np.empty(n, dtype=np.int64) for _ in range(7)]
    score_sum = np.empty(n, dtype=np.float64)
    order = np.empty(n, dtype=np.int64)
    n_tubes = _detection_csv.group(
        *inputs, rows.score, n_clips, n_classes, span, max_table, max_slots,
        *out, score_sum, order,
    )  # fmt: skip
    if n_tubes < 0:
        return None
    row_tube, *per_tube = out
    return Grouped(row_tube, *(a[:n_tubes] for a in per_tube), score_sum[:n_tubes], order)


def rank(
    classes: np.ndarray, scores: np.ndarray, *, n_classes: int, max_keys: int
) -> np.ndarray | None:
    """The items by class, score descending, then their own order, by a compiled counting
    sort over (class, rank of the score among the distinct scores); None where the module
    is missing, the key would take more than ``max_keys`` values (many distinct scores)
    or an array is not laid out as it reads it: numpy sorts then."""
    if _detection_csv is None or not _plain(classes, np.int64) or not _plain(scores, np.float64):
        return None
    out = np.empty(len(scores), dtype=np.int64)
    if _detection_csv.rank(classes, scores, n_classes, max_keys, out) < 0:
        return None
    return out


def first_claims(
    ranked: np.ndarray, best: np.ndarray, target: np.ndarray, *, threshold: float, n_targets: int
) -> np.ndarray | None:
    """True where the ranked item (``ranked``: indexes into ``best``/``target``) reaches
    ``threshold`` and is the first in rank order to claim its target (of ``n_targets``),
    in one compiled loop; None where the module is missing or an array is not laid out as
    it reads it (``detection_metrics._first_claims`` then)."""
    if _detection_csv is None:
        return None
    if not (_plain(ranked, np.int64) and _plain(best, np.float64) and _plain(target, np.int64)):
        return None
    tp = np.empty(len(ranked), dtype=bool)
    _detection_csv.claims(ranked, best, target, threshold, n_targets, tp)
    return tp
