"""The fast path of the detection reader: Apache Arrow splits the CSV, we validate.

Most submissions are clean. For them, Arrow's multi-threaded C++ CSV reader finds the
fields and its string-to-double cast (correctly rounded, like Python's ``float``)
converts the five float columns, several times faster than the numpy tokenizer of
:mod:`.detection_csv`. The id-like columns (video_id, tube_id, frame, class) go
through the very same numpy lookups and integer parser as the streaming reader, so
they accept exactly the same tokens.

This path never words an error. Whenever anything is not plainly valid (a row with
the wrong number of fields, a blank line before the end, a bare carriage return,
an unknown id, a field the cast refuses, a non-finite or out-of-range value, a
degenerate box) it returns ``None`` and the caller reads the same bytes with the
streaming reader, which then reports every problem with its line number. A file
is therefore accepted by this path only if the streaming reader accepts it too,
and its numbers are the same bits: both parsers round correctly.
"""

from __future__ import annotations

import numpy as np

from .detection_csv import _MAX_INT_DIGITS, COLUMNS, MAX_FIELD_CHARS, SubmissionRows
from .detection_labels import DetectionLabels

# Arrow parses blocks of this size on its own threads.
ARROW_BLOCK_BYTES = 4 << 20
# The newline scan that bounds the fields' lengths goes this many bytes at a time.
_SCAN_BYTES = 16 << 20
_ID_COLUMNS = COLUMNS[:4]
_FLOAT_COLUMNS = COLUMNS[4:]


def arrow_compute(name: str, *args, options=None):
    """An Arrow compute function by name.

    ``pyarrow._compute`` is the compiled module behind ``pyarrow.compute``; importing the
    latter also builds a Python wrapper for each of its hundreds of functions, which
    costs more than reading a 300,000-row file. Only a few functions are needed here.
    """
    from pyarrow._compute import call_function

    return call_function(name, list(args), options)


def _min_max(values) -> tuple[int | None, int | None]:
    bounds = arrow_compute("min_max", values).as_py()
    return bounds["min"], bounds["max"]


def _lengths_within(column, low: int, high: int) -> bool:
    least, most = _min_max(arrow_compute("binary_length", column))
    return least is None or (least >= low and most <= high)


def _lookup(column, keys: list[bytes], values: np.ndarray) -> np.ndarray | None:
    """Each token's value by exact match among ``keys``, or None if one is not there."""
    import pyarrow as pa
    from pyarrow._compute import SetLookupOptions

    index = arrow_compute(
        "index_in", column, options=SetLookupOptions(pa.array(keys, type=pa.binary()))
    )
    if index.null_count:
        return None
    return values[index.to_numpy()]


def _uint(column) -> np.ndarray | None:
    """Plain decimal integers of 1-18 ASCII digits, as the streaming reader's _parse_uint."""
    import pyarrow as pa
    from pyarrow._compute import CastOptions

    if not _lengths_within(column, 1, _MAX_INT_DIGITS):
        return None
    if not arrow_compute("all", arrow_compute("ascii_is_decimal", column)).as_py():
        return None
    return arrow_compute("cast", column, options=CastOptions.safe(pa.int64())).to_numpy()


def _longest_line(data: bytes, start: int, end: int) -> np.ndarray:
    """The length of every line of ``data[start:end]`` (which ends in a line's last byte)."""
    lengths = []
    previous = start - 1  # the newline before the first line
    for block in range(start, end, _SCAN_BYTES):
        stop = min(block + _SCAN_BYTES, end)
        view = np.frombuffer(data, dtype=np.uint8, count=stop - block, offset=block)
        newlines = np.flatnonzero(view == 10) + block
        if len(newlines):
            lengths.append(np.diff(newlines, prepend=previous) - 1)
            previous = int(newlines[-1])
    lengths.append(np.array([end - previous - 1]))
    return np.concatenate(lengths)


def _floats_fit(data: bytes, start: int, end: int, id_columns: list) -> bool:
    """True if no float field can be longer than ``MAX_FIELD_CHARS``.

    The float columns are converted while Arrow reads them, so their fields' lengths
    are never seen; a line's length less its commas, its four id fields and one
    character for each of the other four floats bounds each of them instead.
    """
    line = _longest_line(data, start, end)
    if len(line) and int(line.max()) <= MAX_FIELD_CHARS + len(COLUMNS) - 1:
        return True
    ids = np.zeros(len(line), dtype=np.int64)
    for column in id_columns:
        ids += arrow_compute("binary_length", column).to_numpy()
    bound = line - ids - (len(COLUMNS) - 1) - (len(_FLOAT_COLUMNS) - 1)
    return not len(bound) or int(bound.max()) <= MAX_FIELD_CHARS


def _columns_rows(table, first_line: int, labels: DetectionLabels) -> SubmissionRows | None:
    n = table.num_rows
    columns = [table.column(name) for name in _ID_COLUMNS]
    if not all(_lengths_within(c, 0, MAX_FIELD_CHARS) for c in columns):
        return None
    clip_keys = [c.encode("utf-8") for c in labels.clip_ids.tolist()]
    clip = _lookup(columns[0], clip_keys, np.arange(len(clip_keys), dtype=np.int64))
    if clip is None:
        return None
    tube_id = _uint(columns[1])
    frame = _uint(columns[2])
    if tube_id is None or frame is None:
        return None
    if (frame >= labels.clip_dims[:, 0].astype(np.int64)[clip]).any():
        return None
    # The tokens of the streaming reader: ids, and names (a name wins over an equal id).
    tokens = {str(i).encode(): i for i in range(labels.n_classes)}
    tokens.update({name.encode("utf-8"): i for i, name in enumerate(labels.class_names)})
    cls = _lookup(columns[3], list(tokens), np.array(list(tokens.values()), dtype=np.int64))
    if cls is None:
        return None

    floats = np.empty((5, n), dtype=np.float64)
    for k, name in enumerate(_FLOAT_COLUMNS):
        floats[k] = table.column(name).to_numpy()
    if not np.isfinite(floats).all():
        return None
    score, box = floats[0], floats[1:]
    if ((score < 0) | (score > 1)).any():
        return None
    if ((box[2] <= box[0]) | (box[3] <= box[1])).any():
        return None
    return SubmissionRows(
        clip=clip,
        tube_id=tube_id,
        frame=frame,
        cls=cls,
        line=np.arange(first_line, first_line + n, dtype=np.int64),
        score=score,
        box=np.ascontiguousarray(box),
    )


def read_valid_rows(
    data: bytes, start: int, first_line: int, labels: DetectionLabels
) -> SubmissionRows | None:
    """The rows of a CSV body (``data`` from ``start``: the lines after the header) if it
    is plainly valid, else None.

    Trailing blank lines are allowed, as in the streaming reader; CRLF must already be
    turned into LF.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    # NUL bytes: the streaming reader refuses such lines, and the gathered tokens
    # would lose them. Spaces and tabs: Arrow trims them around a number, the
    # streaming reader refuses them.
    if any(data.find(byte, start) >= 0 for byte in (b"\r", b"\x00", b" ", b"\t")):
        return None
    end = len(data)
    while end > start and data[end - 1] == 10:
        end -= 1
    if end == start:
        return SubmissionRows.concatenate([])
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(memoryview(data)[start:end]),
            read_options=pa_csv.ReadOptions(
                column_names=list(COLUMNS), block_size=ARROW_BLOCK_BYTES, use_threads=True
            ),
            # No quoting, no escapes, no skipped lines: a byte means what it means in
            # the streaming reader, which splits on every comma and newline.
            parse_options=pa_csv.ParseOptions(
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
            ),
            convert_options=pa_csv.ConvertOptions(
                # Ids as strings: the compute functions used on them (lookups, casts,
                # is_decimal) read bytes as they are, and a non-ASCII byte never passes
                # them. Floats are converted as they are read: Arrow's parser rounds
                # correctly, like Python's ``float``, and what it accepts beyond the
                # streaming reader (nan, inf, spaces around) is refused around it.
                column_types={
                    **dict.fromkeys(_ID_COLUMNS, pa.string()),
                    **dict.fromkeys(_FLOAT_COLUMNS, pa.float64()),
                },
                null_values=[],
                true_values=[],
                false_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    if not _floats_fit(data, start, end, [table.column(name) for name in _ID_COLUMNS]):
        return None
    return _columns_rows(table, first_line, labels)
