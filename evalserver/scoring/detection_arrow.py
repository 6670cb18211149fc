"""The second fast path of the detection reader: Apache Arrow splits the CSV, we validate.

It reads what the compiled reader (:mod:`.detection_native`) gives up on, or every file
where that module could not be built. Most submissions are clean. For them, Arrow's
multi-threaded C++ CSV reader finds the fields and converts the five float columns as
it reads them (its parser rounds correctly, like Python's ``float``), several times
faster than the numpy tokenizer of
:mod:`.detection_csv`. The id-like columns (video_id, tube_id, frame, class) are read
as strings and checked against exactly the tokens the streaming reader accepts (exact
matches for ids and classes, 1-18 ASCII digits for integers), on two threads while the
floats are copied out.

What Arrow's float parser accepts beyond the streaming reader is refused around it:
spaces and tabs anywhere (it would trim them), ``nan`` and ``inf`` (not finite), and
fields longer than ``MAX_FIELD_CHARS`` (bounded by each line's length, found by a
newline scan that runs beside the reader).

This path never words an error. Whenever anything is not plainly valid (a row with
the wrong number of fields, a blank line before the end, a bare carriage return,
an unknown id, a field the parser refuses, a non-finite or out-of-range value, a
degenerate box) it returns ``None`` and the caller reads the same bytes with the
streaming reader, which then reports every problem with its line number. A file
is therefore accepted by this path only if the streaming reader accepts it too,
and its numbers are the same bits: both parsers round correctly.
"""

from __future__ import annotations

import contextlib
import ctypes
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .detection_csv import (
    _MAX_INT_DIGITS,
    COLUMNS,
    MAX_FIELD_CHARS,
    SubmissionRows,
    body_end,
    class_tokens,
    line_parts,
    numbered_rows,
)
from .detection_labels import DetectionLabels, per_labels

# Arrow parses a part of the file this many bytes at a time (a block stays in cache) ...
ARROW_BLOCK_BYTES = 1 << 20
# ... on this many threads, once the file is this big.
PARSE_THREADS = 2
_SPLIT_FROM_BYTES = 1 << 20
# From this size of CSV on, memory freed by Arrow is handed back as soon as possible.
_TRIM_FROM_BYTES = 64 << 20
# The newline scan that bounds the fields' lengths goes this many bytes at a time.
_SCAN_BYTES = 16 << 20
# Commas at least this often keep every field within MAX_FIELD_CHARS (8 bytes a word).
_COMMA_BLOCK = 32
assert 2 * (_COMMA_BLOCK - 1) <= MAX_FIELD_CHARS
assert _COMMA_BLOCK % 8 == 0
_COMMA_SCAN_BYTES = 2 << 20
_ID_COLUMNS = COLUMNS[:4]
_FLOAT_COLUMNS = COLUMNS[4:]


def _pool():
    """Arrow's allocations through malloc, as numpy's: what Arrow frees is then reused
    by the arrays built from it, instead of being kept by Arrow's own allocator (which
    costs a 3M-row file hundreds of MB more peak memory, and time)."""
    import pyarrow as pa

    return pa.system_memory_pool()


def arrow_compute(name: str, *args, options=None):
    """An Arrow compute function by name.

    ``pyarrow._compute`` is the compiled module behind ``pyarrow.compute``; importing the
    latter also builds a Python wrapper for each of its hundreds of functions, which
    costs more than reading a 300,000-row file. Only a few functions are needed here.
    """
    from pyarrow._compute import call_function

    return call_function(name, list(args), options, memory_pool=_pool())


def _return_freed_memory() -> None:
    """Hand memory freed by Arrow's reader threads back to the system.

    glibc keeps what a thread frees in that thread's arena, where the arrays numpy
    builds on the main thread never reuse it: a 3M-row file's columns would count twice
    in the peak. ``malloc_trim`` releases it; elsewhere than glibc there is no such call
    and nothing to do. Memory handed back costs page faults when taken again, so only
    big files (``_TRIM_FROM_BYTES``) do this.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# Arrays up to this size come from the heap rather than from mmap of their own ...
_MMAP_FROM_BYTES = 32 << 20
# ... and this much freed memory stays at the top of the heap for the next arrays.
_KEEP_FREED_BYTES = 64 << 20
_malloc_tuned = False


def reuse_freed_memory() -> None:
    """Let a process that scores keep the memory its arrays free, for the next ones.

    By default glibc gives each array above 128 KiB (raised as big ones are freed, up to
    32 MiB) pages of its own from mmap, and hands heap memory back as soon as 2x that is
    free at its top. Scoring makes dozens of arrays of a few MB, one after the other: every
    one of them then costs fresh pages, zeroed by the kernel and faulted in one by one (about
    a fifth of the CPU time of a warm 300k-row score). Fixed thresholds make them reuse
    what the previous ones freed, in this score and the next; at most ``_KEEP_FREED_BYTES``
    stays with the process between scores (more only where the heap is fragmented).
    Big files still hand memory back explicitly (``_return_freed_memory``).

    Threads started from now on share the existing arenas (one, in a process that has
    run no threads yet) instead of each getting one of its own: what Arrow allocates on
    the parsing threads and frees is then reused by the arrays numpy makes on this one
    (a fresh 300k-row score touches ~25 MB less, a 3M-row one ~40 MB less peak). The few
    big allocations of the threads hardly contend for the lock. Called once per process;
    elsewhere than glibc there is no such call and nothing to do.

    Process-wide, so not the library's to decide: the processes that are scorers call it
    at their start (a Celery worker's pool process, ``manage.py score``), never a web
    process, whose request threads would then all share one arena.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES)
        libc.mallopt(_M_ARENA_MAX, 1)
    _no_huge_pages_for_arrays()


def _no_huge_pages_for_arrays() -> None:
    """Small pages for numpy's arrays in this process.

    numpy asks the kernel for transparent huge pages for every big array (madvise), and
    with the kernel's usual ``defrag=madvise`` a first touch of such memory waits while
    the kernel assembles a 2 MB page: a fresh process scoring a 3M-row file spent ~300
    ms more in its reader's first writes that way (in one A/B: 763-800 ms against
    475-479 for the read), and a warm one gains nothing measurable from them. The switch
    is numpy's own (its docs: "Kernel support for hugepages"); where a numpy lacks it,
    nothing changes.
    """
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    switch = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if switch is not None:
        switch(False)


def _nothing() -> None:
    pass


def _offsets(chunk) -> np.ndarray:
    """The offsets of a string array's values in its data buffer (one more than values)."""
    return np.frombuffer(
        chunk.buffers()[1], dtype=np.int32, count=len(chunk) + 1, offset=4 * chunk.offset
    )


def _field_lengths(column) -> list[np.ndarray]:
    """The length in bytes of each value of a string column, chunk by chunk (read off the
    offsets: no compute call, no pass over the bytes)."""
    return [np.diff(_offsets(chunk)) for chunk in column.chunks]


def _lengths_within(lengths: list[np.ndarray], low: int, high: int) -> bool:
    return all(
        not len(part) or (int(part.min()) >= low and int(part.max()) <= high) for part in lengths
    )


def _all_digits(column) -> bool:
    """True if every byte of every value is an ASCII digit (0-9)."""
    for chunk in column.chunks:
        offsets = _offsets(chunk)
        start, stop = int(offsets[0]), int(offsets[-1])
        if stop > start:
            data = np.frombuffer(
                chunk.buffers()[2], dtype=np.uint8, count=stop - start, offset=start
            )
            # Bytes below '0' wrap around to 208 and more.
            if int((data - np.uint8(48)).max()) > 9:
                return False
    return True


def _to_numpy(column, dtype, lookup: np.ndarray | None = None, out=None) -> np.ndarray:
    """A chunked Arrow column as one numpy array (``out`` if given), each chunk copied
    once straight into place, or mapped through ``lookup`` (values by index) if given."""
    if out is None:
        out = np.empty(len(column), dtype=dtype)
    at = 0
    for chunk in column.chunks:
        part = chunk.to_numpy(zero_copy_only=False)
        if lookup is None:
            out[at : at + len(part)] = part
        else:
            np.take(lookup, part, out=out[at : at + len(part)])
        at += len(part)
    return out


def _lookup(column, keys, values: np.ndarray | None = None) -> np.ndarray | None:
    """Each token's value by exact match among ``keys`` (an Arrow binary array), or None
    if one is not there; without ``values``, its index among ``keys``."""
    from pyarrow._compute import SetLookupOptions

    index = arrow_compute("index_in", column, options=SetLookupOptions(keys))
    if index.null_count:
        return None
    return _to_numpy(index, np.int64 if values is None else values.dtype, values)


def _uint(column, lengths: list[np.ndarray]) -> np.ndarray | None:
    """Plain decimal integers of 1-18 ASCII digits, as the streaming reader's _parse_uint."""
    import pyarrow as pa
    from pyarrow._compute import CastOptions

    if not _lengths_within(lengths, 1, _MAX_INT_DIGITS) or not _all_digits(column):
        return None
    # Only digits, at most 18 of them: Arrow's integer parser reads them exactly.
    return _to_numpy(arrow_compute("cast", column, options=CastOptions.safe(pa.int64())), np.int64)


def _line_lengths(data: bytes, start: int, end: int) -> np.ndarray:
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


def _commas_everywhere(data: bytes, start: int, end: int) -> bool:
    """True if every ``_COMMA_BLOCK`` bytes of ``data[start:end]`` (from ``start``) hold a
    comma: no field can then be longer than ``2 * (_COMMA_BLOCK - 1)`` characters (it lies
    between two commas, or a comma and the start or end, so within two blocks less a
    comma each; the partial block at the end is shorter than one).

    A quarter of the cost of finding every newline; the blocks' comparisons go into a
    small buffer that stays in cache.
    """
    view = np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)
    whole = len(view) // _COMMA_BLOCK * _COMMA_BLOCK
    buffer = np.empty(min(whole, _COMMA_SCAN_BYTES), dtype=bool)
    for at in range(0, whole, _COMMA_SCAN_BYTES):
        stop = min(at + _COMMA_SCAN_BYTES, whole)
        is_comma = np.equal(view[at:stop], 44, out=buffer[: stop - at])
        # Each block's 32 flags as four 8-byte words: a block holds a comma if one is not 0.
        words = is_comma.view(np.uint64).reshape(-1, _COMMA_BLOCK // 8)
        found = words[:, 0] | words[:, 1]
        for k in range(2, _COMMA_BLOCK // 8):
            found |= words[:, k]
        if not found.all():
            return False
    return True


def _long_lines(data: bytes, start: int, end: int) -> np.ndarray | None:
    """Every line's length if some line is long enough to hold a float field longer
    than ``MAX_FIELD_CHARS``, else None (the usual case: commas come often enough)."""
    if _commas_everywhere(data, start, end):
        return None
    lengths = _line_lengths(data, start, end)
    return lengths if int(lengths.max()) > MAX_FIELD_CHARS + len(COLUMNS) - 1 else None


def _floats_fit(line_lengths: np.ndarray | None, id_lengths: list[list[np.ndarray]]) -> bool:
    """True if no float field can be longer than ``MAX_FIELD_CHARS``.

    The float columns are converted while Arrow reads them, so their fields' lengths
    are never seen; a line's length less its commas, its four id fields and one
    character for each of the other four floats bounds each of them instead.
    """
    if line_lengths is None:
        return True
    ids = np.zeros(len(line_lengths), dtype=np.int64)
    for lengths in id_lengths:
        ids += np.concatenate(lengths)
    bound = line_lengths - ids - (len(COLUMNS) - 1) - (len(_FLOAT_COLUMNS) - 1)
    return int(bound.max()) <= MAX_FIELD_CHARS


class _Tokens:
    """A phase's clip ids and class tokens as Arrow lookups, built once per labels."""

    def __init__(self, labels: DetectionLabels) -> None:
        import pyarrow as pa

        self.clips = pa.array(
            [c.encode("utf-8") for c in labels.clip_ids.tolist()], type=pa.binary()
        )
        # Each clip's number of frames, the bound of its rows' frames.
        self.clip_frames = labels.clip_dims[:, 0].astype(np.int64)
        tokens = class_tokens(labels)
        self.classes = pa.array(list(tokens), type=pa.binary())
        self.class_values = np.array(list(tokens.values()), dtype=np.int64)


_tokens = per_labels(_Tokens)


def _clip_column(video_id, labels: DetectionLabels, release) -> np.ndarray | None:
    """The clip of each row, by exact match of its video_id; None if one is unknown."""
    tokens = _tokens(labels)
    clip = _lookup(video_id, tokens.clips)
    del video_id
    release()
    return clip


def _class_column(cls, labels: DetectionLabels, release) -> np.ndarray | None:
    """The class of each row, by exact match of its name or id; None if one is unknown."""
    tokens = _tokens(labels)
    found = _lookup(cls, tokens.classes, tokens.class_values)
    del cls
    release()
    return found


def _int_columns(tube_id, frame, lengths: dict, release) -> tuple[np.ndarray, np.ndarray] | None:
    tube_ids = _uint(tube_id, lengths["tube_id"])
    del tube_id
    frames = _uint(frame, lengths["frame"])
    del frame
    release()
    return None if tube_ids is None or frames is None else (tube_ids, frames)


def _float_columns(columns: dict, release) -> tuple[np.ndarray, np.ndarray] | None:
    score = _to_numpy(columns.pop("score"), np.float64)
    release()
    if not np.isfinite(score).all() or ((score < 0) | (score > 1)).any():
        return None
    box = np.empty((4, len(score)), dtype=np.float64)
    for k, name in enumerate(_FLOAT_COLUMNS[1:]):
        _to_numpy(columns.pop(name), np.float64, out=box[k])
        release()
        if not np.isfinite(box[k]).all():
            return None
    if ((box[2] <= box[0]) | (box[3] <= box[1])).any():
        return None
    return score, box


def _columns_rows(
    columns: dict, lengths: dict, first_line: int, labels: DetectionLabels, *, big: bool
) -> SubmissionRows | None:
    """The rows of the columns Arrow read, or None if some field is not plainly valid.

    The clip ids and the integers are converted on two threads while this one converts
    the floats and the classes (Arrow's compute functions and numpy release the GIL).
    Each column is dropped once converted, so that Arrow's copy and numpy's do not all
    live at once.
    """
    release = _return_freed_memory if big else _nothing
    if not all(_lengths_within(lengths[name], 0, MAX_FIELD_CHARS) for name in _ID_COLUMNS):
        return None
    with ThreadPoolExecutor(max_workers=2) as pool:
        clips = pool.submit(_clip_column, columns.pop("video_id"), labels, release)
        ints = pool.submit(
            _int_columns, columns.pop("tube_id"), columns.pop("frame"), lengths, release
        )
        try:
            floats = _float_columns(columns, release)
            cls = None if floats is None else _class_column(columns.pop("class"), labels, release)
        finally:
            clip, numbers = clips.result(), ints.result()
    if clip is None or numbers is None or floats is None or cls is None:
        return None
    (tube_id, frame), (score, box) = numbers, floats
    if (frame >= _tokens(labels).clip_frames[clip]).any():
        return None
    return numbered_rows(
        first_line=first_line,
        clip=clip,
        tube_id=tube_id,
        frame=frame,
        cls=cls,
        score=score,
        box=box,
    )


def _parse(data: bytes, start: int, end: int):
    """Arrow's table of the lines of ``data[start:end]``, or None if it refuses them.

    Arrow's serial reader, a block of ``ARROW_BLOCK_BYTES`` at a time: the caller runs
    one on each part of the file. (Arrow's own threaded reader gives a 2-core machine
    less: its blocks are read ahead and converted as separate tasks, and the last of a
    few big blocks leaves a core idle.)
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        return pa_csv.read_csv(
            pa.py_buffer(memoryview(data)[start:end]),
            read_options=pa_csv.ReadOptions(
                column_names=list(COLUMNS), block_size=ARROW_BLOCK_BYTES, use_threads=False
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
                # Ids as strings: their bytes are checked as they are (lookups by exact
                # match, digits), and a non-ASCII byte never passes. Floats are converted
                # as they are read: Arrow's parser rounds correctly, like Python's
                # ``float``, and what it accepts beyond the streaming reader (nan, inf,
                # spaces around) is refused around it.
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
            memory_pool=_pool(),
        )
    except pa.ArrowInvalid:
        return None


def _parts(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """``data[start:end]`` in ``PARSE_THREADS`` parts of whole lines (one if it is small)."""
    return line_parts(data, start, end, n_parts=PARSE_THREADS, min_bytes=_SPLIT_FROM_BYTES)


def _plain_bytes(data: bytes, start: int) -> bool:
    """No NUL (the streaming reader refuses such lines, and the gathered tokens would
    lose them), no carriage return left, no space or tab (Arrow trims them around a
    number, the streaming reader refuses them)."""
    return not any(data.find(byte, start) >= 0 for byte in (b"\r", b"\x00", b" ", b"\t"))


def read_valid_rows(
    data: bytes, start: int, first_line: int, labels: DetectionLabels
) -> SubmissionRows | None:
    """The rows of a CSV body (``data`` from ``start``: the lines after the header) if it
    is plainly valid, else None.

    Trailing blank lines are allowed, as in the streaming reader; CRLF must already be
    turned into LF. The body is parsed in parts of whole lines, each by Arrow on a
    thread of its own, while this thread scans its bytes.
    """
    import pyarrow as pa

    end = body_end(data, start)
    if end == start:
        return SubmissionRows.concatenate([]) if _plain_bytes(data, start) else None
    parts = _parts(data, start, end)
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        tables = [pool.submit(_parse, data, a, b) for a, b in parts]
        try:
            plain = _plain_bytes(data, start)
            line_lengths = _long_lines(data, start, end) if plain else None
        finally:
            parsed = [table.result() for table in tables]
    if not plain or any(table is None for table in parsed):
        return None
    # A blank line right after a part's end starts the next part: Arrow refuses it there
    # as anywhere else (a row of one field).
    columns = {
        name: pa.chunked_array(
            [chunk for table in parsed for chunk in table.column(name).chunks],
            type=parsed[0].schema.field(name).type,
        )
        for name in COLUMNS
    }
    del parsed, tables
    lengths = {name: _field_lengths(columns[name]) for name in _ID_COLUMNS}
    if not _floats_fit(line_lengths, list(lengths.values())):
        return None
    return _columns_rows(columns, lengths, first_line, labels, big=end - start >= _TRIM_FROM_BYTES)
