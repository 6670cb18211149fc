"""Streaming reader of a detection submission (CSV, one row per box of a predicted tube).

Submissions run to millions of rows, so the file is never held whole and never
turned into a Python object per row: it is read in blocks of complete lines, each
block is split into columns by locating its commas and newlines with numpy, and
each column is converted as one array. Only lines found to be wrong are ever
looked at one by one, to word their error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from .archive import content_size_hint
from .detection_labels import MAX_REPORTED_PROBLEMS, DetectionLabels, cap_problems
from .errors import SubmissionInvalid

HEADER = "video_id,tube_id,frame,class,score,x1,y1,x2,y2"
COLUMNS = tuple(HEADER.split(","))
_N_FIELDS = len(COLUMNS)
_BOM = b"\xef\xbb\xbf"

# Blocks of ~8 MiB (~180k rows) keep the per-block temporaries at tens of MB while
# numpy's per-call overhead stays negligible.
CHUNK_BYTES = 8 << 20
# No legitimate field comes near this; capping it bounds the per-block gather matrix.
MAX_FIELD_CHARS = 64
# Blocks parsed at once; the scoring target is a 2-core machine.
PARSE_THREADS = 2
# Files up to this size (~14M rows) are read whole and tried on the fast path of
# .detection_arrow first; bigger ones are streamed in blocks.
FAST_PATH_MAX_BYTES = 640 << 20
# A "line" longer than this means the upload is not this CSV at all.
MAX_LINE_BYTES = 1 << 20
# Tube ids are integers; 18 digits always fit int64.
_MAX_INT_DIGITS = 18

_DIGITS = np.zeros(256, dtype=bool)
_DIGITS[np.frombuffer(b"0123456789\x00", dtype=np.uint8)] = True
# Characters a plain decimal number can be made of; anything else (nan, inf, text)
# is refused without asking the float parser. The NUL is the gather padding.
_NUMERIC = np.zeros(256, dtype=bool)
_NUMERIC[np.frombuffer(b"0123456789+-.eE\x00", dtype=np.uint8)] = True


class _Problems:
    """Problems with line numbers, keeping only the earliest few messages but counting all."""

    def __init__(self) -> None:
        self._items: list[tuple[int, str]] = []
        self.total = 0
        # Blocks are parsed on several threads.
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return self.total > 0

    def add(self, lines: np.ndarray, describe: Callable[[int], str]) -> None:
        """Record one problem per entry of ``lines`` (ascending); ``describe(k)`` words the k-th.

        Only the first ``MAX_REPORTED_PROBLEMS`` of each call can be among the earliest
        overall, so later ones are counted without building their message.
        """
        n = len(lines)
        if not n:
            return
        items = [
            (int(lines[k]), f"line {int(lines[k])}: {describe(k)}")
            for k in range(min(n, MAX_REPORTED_PROBLEMS))
        ]
        with self._lock:
            self.total += n
            self._items.extend(items)
            if len(self._items) > 8 * MAX_REPORTED_PROBLEMS:
                self._items.sort(key=lambda item: item[0])
                del self._items[MAX_REPORTED_PROBLEMS:]

    def messages(self) -> list[str]:
        ordered = sorted(self._items, key=lambda item: item[0])
        return cap_problems([message for _, message in ordered], self.total)


# Odd multipliers for hashing a field's 8-byte words; any fixed odd values do.
_HASH_MULTIPLIERS = np.array(
    [
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0xD6E8FEB86659FD93,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
        0x94D049BB133111EB,
        0xBF58476D1CE4E5B9,
    ],
    dtype=np.uint64,
)
_WORD = 8
# Largest number a dense numeric key table may index (4 Mi entries, 32 MiB).
_DENSE_LIMIT = 1 << 22


def _hash_words(matrix: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of an (n, 8k) NUL-padded byte matrix.

    Zero words add nothing, so a token hashes the same whatever the matrix width.
    """
    words = matrix.view(np.uint64)
    hashes = np.zeros(len(matrix), dtype=np.uint64)
    for k in range(words.shape[1]):
        hashes += words[:, k] * _HASH_MULTIPLIERS[k]
    return hashes


class _TokenTable:
    """Exact lookup of field tokens among a fixed set of byte strings.

    Hashing the gathered field bytes and checking a candidate with one byte-string
    comparison is several times faster than ``searchsorted`` over byte strings; the
    comparison keeps it exact whatever the hash does with foreign tokens. When every
    key is a decimal number of one width (TinyActions clip ids "00000".."06096"), a
    token's digits index a dense array instead, faster still.
    """

    def __init__(self, keys: list[bytes], values: list[int]) -> None:
        # Keys longer than a field may be can never match; they are left out.
        usable = [(k, v) for k, v in zip(keys, values, strict=True) if len(k) <= MAX_FIELD_CHARS]
        matrix = np.zeros((len(usable), MAX_FIELD_CHARS), dtype=np.uint8)
        for row, (key, _) in enumerate(usable):
            matrix[row, : len(key)] = np.frombuffer(key, dtype=np.uint8)
        hashes = _hash_words(matrix)
        order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[order]
        self._keys = np.array([k for k, _ in usable], dtype=bytes)[order]
        self._values = np.array([v for _, v in usable], dtype=np.int64)[order]
        # Keys ending in NUL or sharing a hash would make the lookup ambiguous: fall back.
        self._by_hash = len(np.unique(hashes)) == len(hashes) and not any(
            k.endswith(b"\x00") for k, _ in usable
        )
        if not self._by_hash:
            order = np.argsort(self._keys, kind="stable")
            self._keys, self._values = self._keys[order], self._values[order]

        self._dense: np.ndarray | None = None
        width = len(usable[0][0]) if usable else 0
        if 0 < width <= _MAX_INT_DIGITS and all(k.isdigit() and len(k) == width for k, _ in usable):
            numbers = [int(k) for k, _ in usable]
            if max(numbers) < _DENSE_LIMIT:
                self._dense = np.full(max(numbers) + 1, -1, dtype=np.int64)
                self._dense[numbers] = [v for _, v in usable]
                self._width = width

    def find(
        self, matrix: np.ndarray, tokens: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(found, value) per row of a gathered field matrix, its bytes and lengths."""
        n = len(tokens)
        if not len(self._keys) or not n:
            return np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
        if self._dense is not None:
            number, valid = _parse_uint(matrix, lengths)
            valid &= (lengths == self._width) & (number < len(self._dense))
            value = self._dense[np.where(valid, number, 0)]
            found = valid & (value >= 0)
            return found, np.where(found, value, 0)
        if self._by_hash:
            hashes = _hash_words(matrix)
            pos = np.minimum(np.searchsorted(self._hashes, hashes), len(self._keys) - 1)
            found = (self._hashes[pos] == hashes) & (self._keys[pos] == tokens)
        else:
            pos = np.minimum(np.searchsorted(self._keys, tokens), len(self._keys) - 1)
            found = self._keys[pos] == tokens
        return found, np.where(found, self._values[pos], 0)


def class_tokens(labels: DetectionLabels) -> dict[bytes, int]:
    """The tokens a row may name its class by, and the class each names: its id in
    decimal, or its name (every reader takes exactly these)."""
    tokens = {str(i).encode(): i for i in range(labels.n_classes)}
    # A name wins over an id should a class map ever name a class "3".
    tokens.update({name.encode("utf-8"): i for i, name in enumerate(labels.class_names)})
    return tokens


class _Lookup:
    """What rows are checked against: the phase's clip ids, frame counts and class tokens."""

    def __init__(self, labels: DetectionLabels) -> None:
        self.clips = _TokenTable(
            [c.encode("utf-8") for c in labels.clip_ids], list(range(labels.n_items))
        )
        self.clip_frames = labels.clip_dims[:, 0].astype(np.int64)
        tokens = class_tokens(labels)
        self.classes = _TokenTable(list(tokens), list(tokens.values()))


@dataclass(frozen=True)
class SubmissionRows:
    """Valid rows of a submission in file order; ``line`` is each row's CSV line number."""

    clip: np.ndarray  # row into DetectionLabels.clip_ids
    tube_id: np.ndarray
    frame: np.ndarray
    cls: np.ndarray  # class id
    line: np.ndarray
    score: np.ndarray
    box: np.ndarray  # (4, n) float64 rows x1, y1, x2, y2: contiguous columns gather fastest

    def __len__(self) -> int:
        return len(self.line)

    @classmethod
    def concatenate(cls, parts: list[SubmissionRows]) -> SubmissionRows:
        if not parts:
            ints = np.empty(0, dtype=np.int64)
            return cls(ints, ints, ints, ints, ints, np.empty(0), np.empty((4, 0)))
        return cls(
            *(
                np.concatenate([getattr(p, f.name) for p in parts], axis=-1)
                for f in dataclasses.fields(cls)
            )
        )


def body_end(data: bytes, start: int) -> int:
    """Where the body ``data[start:]`` ends once its trailing newlines (blank lines at the
    end, which every reader allows) are left off; found 64 KiB at a time from the end, so
    a file padded with millions of them costs no Python loop over each."""
    end = len(data)
    if end == start or data[end - 1] != 10:
        return end
    view = np.frombuffer(data, dtype=np.uint8)
    while end > start:
        block = max(start, end - (1 << 16))
        other = np.flatnonzero(view[block:end] != 10)
        if len(other):
            return block + int(other[-1]) + 1
        end = block
    return start


def line_parts(
    data: bytes, start: int, end: int, *, n_parts: int, min_bytes: int
) -> list[tuple[int, int]]:
    """``data[start:end]`` in ``n_parts`` parts of whole lines, one per parsing thread
    (one part if it is smaller than ``min_bytes``); every part but the last ends in its
    last line's newline."""
    bounds = [start]
    if end - start >= min_bytes:
        for k in range(1, n_parts):
            newline = data.find(b"\n", start + (end - start) * k // n_parts, end)
            if newline < 0:
                break
            if newline + 1 > bounds[-1]:
                bounds.append(newline + 1)
    bounds.append(end)
    return list(itertools.pairwise(bounds))


def numbered_rows(
    *,
    first_line: int,
    clip: np.ndarray,
    tube_id: np.ndarray,
    frame: np.ndarray,
    cls: np.ndarray,
    score: np.ndarray,
    box: np.ndarray,
) -> SubmissionRows:
    """Rows of consecutive lines from ``first_line``: a fast path's whole body."""
    line = np.arange(first_line, first_line + len(clip), dtype=np.int64)
    return SubmissionRows(clip, tube_id, frame, cls, line, score, box)


@dataclass(frozen=True)
class _Block:
    """The valid rows of one block, plus what the caller needs about blank lines."""

    rows: SubmissionRows
    blank_lines: np.ndarray
    last_content_line: int  # 0 when the block holds only blank lines


def _text(token: bytes) -> str:
    return token.decode("utf-8", "replace")


# _LOW_BYTES[k] keeps the first k bytes (in memory order) of a little-endian word.
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(_WORD)] + [2**64 - 1], dtype="<u8")


def _words_at_every_offset(padded: bytes) -> np.ndarray:
    """Overlapping little-endian 64-bit words: element i holds bytes i..i+7."""
    return np.ndarray(shape=(len(padded) - _WORD + 1,), dtype="<u8", buffer=padded, strides=(1,))


def _gather(words: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Field bytes as an (n, width) uint8 matrix, NUL-padded on the right.

    The width is a multiple of 8 so rows can also be read as 64-bit words. Picking
    whole words at each field start and masking off what lies beyond the field is
    a few times faster than copying byte windows. ``words`` comes from
    :func:`_words_at_every_offset` over a buffer with enough NULs at its end.
    """
    lengths = end - start
    longest = int(lengths.max()) if len(lengths) else 0
    n_words = max(-(-longest // _WORD), 1)
    out = np.empty((len(start), n_words), dtype="<u8")
    for j in range(n_words):
        left = np.clip(lengths - j * _WORD, 0, _WORD)
        np.bitwise_and(words[start + j * _WORD], _LOW_BYTES[left], out=out[:, j])
    return out.view(np.uint8)


def _as_tokens(matrix: np.ndarray) -> np.ndarray:
    """An (n, width) uint8 matrix as n fixed-width byte strings (trailing NULs drop off)."""
    return np.ascontiguousarray(matrix).view(f"S{matrix.shape[1]}").ravel()


def _parse_uint(matrix: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative decimal integers; returns (values, valid)."""
    sized = (lengths >= 1) & (lengths <= _MAX_INT_DIGITS)
    # Checking the whole block at once is cheap; per-row checks only when it fails.
    all_digits = bool(sized.all()) and bool(_DIGITS[matrix].all())
    valid = sized if all_digits else sized & _DIGITS[matrix].all(axis=1)
    values = np.zeros(len(matrix), dtype=np.int64)
    longest = int(lengths.max()) if len(lengths) else 0
    for k in range(min(longest, _MAX_INT_DIGITS)):
        # Horner's rule, only over each field's own digits.
        digit = matrix[:, k].astype(np.int64) - 48
        values = np.where(k < lengths, values * 10 + digit, values)
    return np.where(valid, values, 0), valid


_POW10 = 10.0 ** np.arange(23)


def _parse_float_slowly(matrix: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """numpy's own string-to-float conversion, token by token if it fails (NaN if invalid).

    Tokens made of digits, signs, dots and exponent marks only are read the same by
    numpy and by Python's ``float``, which is the faster one-at-a-time.
    """
    values = np.full(len(matrix), np.nan)
    plausible = np.flatnonzero(_NUMERIC[matrix].all(axis=1) & (lengths >= 1))
    tokens = _as_tokens(matrix[plausible])
    try:
        values[plausible] = tokens.astype(np.float64)
    except ValueError:
        # Some token is malformed ("1.2.3", "--1"): find which, one at a time.
        for k, token in zip(plausible.tolist(), tokens.tolist(), strict=True):
            with contextlib.suppress(ValueError):
                values[k] = float(token)
    return values


def _parse_float(matrix: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Finite decimal numbers; returns (values, valid).

    Plain decimals of at most 15 digits ("-12.5") are computed as an exact integer
    mantissa divided by an exact power of ten: IEEE division rounds that correctly,
    so the result is bit-identical to a float parser's (Clinger's fast path) at about
    half the cost of numpy's string conversion. Anything else (exponents, long
    mantissas, junk) goes through numpy's conversion.
    """
    n = len(matrix)
    mantissa = np.zeros(n, dtype=np.int64)
    n_digits = np.zeros(n, dtype=np.int64)
    scale = np.zeros(n, dtype=np.int64)
    seen_dot = np.zeros(n, dtype=bool)
    other = np.zeros(n, dtype=bool)
    first = matrix[:, 0] if n else np.zeros(0, dtype=np.uint8)
    negative = first == 45
    signed = negative | (first == 43)
    for k in range(int(lengths.max()) if n else 0):
        char = matrix[:, k]
        digit = char - np.uint8(48)
        is_digit = digit < 10
        mantissa = np.where(is_digit, mantissa * 10 + digit, mantissa)
        n_digits += is_digit
        scale += is_digit & seen_dot
        is_dot = char == 46
        unexpected = ~is_digit & (k < lengths)
        unexpected &= ~is_dot | seen_dot
        if k == 0:
            unexpected &= ~signed
        other |= unexpected
        seen_dot |= is_dot
    fast = ~other & (n_digits >= 1) & (n_digits <= 15) & (scale <= 22)
    values = mantissa / _POW10[np.minimum(scale, 22)]
    np.negative(values, out=values, where=negative)
    slow = np.flatnonzero(~fast)
    if len(slow):
        values[slow] = _parse_float_slowly(matrix[slow], lengths[slow])
    return values, np.isfinite(values)


def _split_lines(
    arr: np.ndarray, first_line: int, has_nul: bool, problems: _Problems
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Locate fields: (lines, comma positions (n, 8), line starts, line ends, blanks, last).

    Lines without exactly eight commas are reported and left out.
    """
    is_delimiter = arr == 44
    is_delimiter |= arr == 10
    delimiters = np.flatnonzero(is_delimiter)
    kinds = arr[delimiters]
    per_line = _N_FIELDS  # eight commas and a newline
    if not has_nul and len(delimiters) % per_line == 0 and len(delimiters):
        grid = delimiters.reshape(-1, per_line)
        # With the count right, newlines at every ninth place leave exactly eight
        # commas to each line (and no blank lines).
        if (kinds[per_line - 1 :: per_line] == 10).all():
            newlines = grid[:, -1]
            starts = np.empty(len(grid), dtype=np.int64)
            starts[0] = 0
            starts[1:] = newlines[:-1] + 1
            lines = np.arange(first_line, first_line + len(grid), dtype=np.int64)
            return lines, grid[:, :-1], starts, newlines, lines[:0], int(lines[-1])

    newlines = delimiters[kinds == 10]
    commas = delimiters[kinds == 44]
    n_lines = len(newlines)
    starts = np.empty(n_lines, dtype=np.int64)
    starts[:1] = 0
    starts[1:] = newlines[:-1] + 1
    lines = np.arange(first_line, first_line + n_lines, dtype=np.int64)
    blank = starts == newlines
    nonblank_lines = lines[~blank]
    last = int(nonblank_lines[-1]) if len(nonblank_lines) else 0

    # NUL bytes would vanish from fixed-width byte strings, so such lines are refused.
    with_nul = np.zeros(n_lines, dtype=bool)
    if has_nul:
        with_nul[np.searchsorted(newlines, np.flatnonzero(arr == 0))] = True
    problems.add(lines[with_nul], lambda _k: "contains a NUL byte; is this a text file?")
    comma_line = np.searchsorted(newlines, commas)
    n_commas = np.bincount(comma_line, minlength=n_lines)
    good = (n_commas == _N_FIELDS - 1) & ~with_nul
    bad = np.flatnonzero(~good & ~blank & ~with_nul)
    problems.add(
        lines[bad],
        lambda k: (
            f"expected {_N_FIELDS} comma-separated fields ({HEADER}), found {n_commas[bad[k]] + 1}"
        ),
    )
    grid = commas[good[comma_line]].reshape(-1, _N_FIELDS - 1)
    return lines[good], grid, starts[good], newlines[good], lines[blank], last


def _parse_block(block: bytes, first_line: int, lookup: _Lookup, problems: _Problems) -> _Block:
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n")
    # NULs appended so that ``_gather`` can read whole words at any field.
    padded = block + bytes(MAX_FIELD_CHARS + _WORD)
    arr = np.frombuffer(padded, dtype=np.uint8)
    words = _words_at_every_offset(padded)
    n_bytes = len(block)
    lines, grid, line_start, line_end, blank_lines, last = _split_lines(
        arr[:n_bytes], first_line, b"\x00" in block, problems
    )
    n = len(lines)
    field_start = [line_start, *(grid[:, k] + 1 for k in range(_N_FIELDS - 1))]
    field_end = [*(grid[:, k] for k in range(_N_FIELDS - 1)), line_end]
    ok = np.ones(n, dtype=bool)

    too_long = np.zeros(n, dtype=bool)
    long_column = np.zeros(n, dtype=np.int64)
    for col in range(_N_FIELDS - 1, -1, -1):
        over = field_end[col] - field_start[col] > MAX_FIELD_CHARS
        too_long |= over
        long_column[over] = col
        field_end[col] = np.minimum(field_end[col], field_start[col] + MAX_FIELD_CHARS)
    bad = np.flatnonzero(too_long)
    problems.add(
        lines[bad],
        lambda k: f"{COLUMNS[long_column[bad[k]]]} is longer than {MAX_FIELD_CHARS} characters",
    )
    ok &= ~too_long

    def report(mask: np.ndarray, describe: Callable[[int], str]) -> None:
        """Report rows in ``mask`` that had no earlier problem; ``describe`` takes a row."""
        nonlocal ok
        rows = np.flatnonzero(mask & ok)
        problems.add(lines[rows], lambda k: describe(int(rows[k])))
        ok &= ~mask

    lengths = [e - s for s, e in zip(field_start, field_end, strict=True)]
    matrices = [_gather(words, field_start[c], field_end[c]) for c in range(_N_FIELDS)]
    tokens = [_as_tokens(m) for m in matrices]

    clip_found, clip = lookup.clips.find(matrices[0], tokens[0], lengths[0])
    report(~clip_found, lambda r: f"unknown video_id {_text(tokens[0][r])!r}")
    tube_id, tube_ok = _parse_uint(matrices[1], lengths[1])
    report(
        ~tube_ok,
        lambda r: f"tube_id {_text(tokens[1][r])!r} is not a non-negative integer of 1-18 digits",
    )
    frame, frame_ok = _parse_uint(matrices[2], lengths[2])
    report(~frame_ok, lambda r: f"frame {_text(tokens[2][r])!r} is not a non-negative integer")
    n_frames = lookup.clip_frames[clip] if len(lookup.clip_frames) else np.zeros(n, np.int64)
    report(
        frame >= n_frames,
        lambda r: (
            f"frame {frame[r]} is outside video {_text(tokens[0][r])} (frames 0..{n_frames[r] - 1})"
        ),
    )
    cls_found, cls = lookup.classes.find(matrices[3], tokens[3], lengths[3])
    report(
        ~cls_found,
        lambda r: f"unknown class {_text(tokens[3][r])!r} (use a class name or id)",
    )
    score, score_ok = _parse_float(matrices[4], lengths[4])
    report(~score_ok, lambda r: f"score {_text(tokens[4][r])!r} is not a finite number")
    report((score < 0) | (score > 1), lambda r: f"score {_text(tokens[4][r])} is outside [0, 1]")
    box = np.empty((4, n), dtype=np.float64)
    for k, col in enumerate(range(5, 9)):
        box[k], valid = _parse_float(matrices[col], lengths[col])
        report(
            ~valid,
            lambda r, col=col: f"{COLUMNS[col]} {_text(tokens[col][r])!r} is not a finite number",
        )
    report(
        (box[2] <= box[0]) | (box[3] <= box[1]),
        lambda r: (
            f"degenerate box ({', '.join(_text(tokens[c][r]) for c in range(5, 9))}): "
            "needs x2 > x1 and y2 > y1"
        ),
    )

    keep = np.flatnonzero(ok)
    rows = SubmissionRows(
        clip=clip[keep],
        tube_id=tube_id[keep],
        frame=frame[keep],
        cls=cls[keep],
        line=lines[keep],
        score=score[keep],
        box=box[:, keep],
    )
    return _Block(rows=rows, blank_lines=blank_lines, last_content_line=last)


class _LineTooLong(Exception):
    pass


def _blocks(stream: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    """Successive runs of whole lines, each ending in a newline."""
    rest = b""
    while True:
        data = stream.read(chunk_bytes)
        if not data:
            if rest:
                yield rest + b"\n"
            return
        buf = rest + data if rest else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > MAX_LINE_BYTES:
                raise _LineTooLong
            rest = buf
            continue
        yield buf[: cut + 1]
        # Raised after the yield, so the caller has counted the lines before it.
        rest = buf[cut + 1 :]
        if len(rest) > MAX_LINE_BYTES:
            raise _LineTooLong


def _check_header(line: bytes) -> None:
    header = line.removeprefix(_BOM).rstrip(b"\r")
    if header != HEADER.encode():
        shown = header[:200].decode("utf-8", "replace")
        raise SubmissionInvalid([f"line 1: the header must be {HEADER!r}, found {shown!r}"])


class _Prefixed(io.RawIOBase):
    """``head`` followed by the rest of ``stream``: what was read ahead, put back."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        if self._head.nbytes:
            n = self._head.nbytes if size is None or size < 0 else min(size, self._head.nbytes)
            out = bytes(self._head[:n])
            self._head = self._head[n:]
            return out
        return self._stream.read(size)


def _read_checked_whole(stream: BinaryIO) -> bytes | None:
    """A plain upload of a size the fast path takes, its header checked first, read at once
    into one bytes object (one copy from the file: read in blocks and joined, a 3M-row
    file's 139 MB were copied three times over, 210-230 ms instead of ~90). None, nothing
    read, when the size is not known beforehand (a compressed upload) or too big, or the
    header's line is longer than what the stream holds buffered."""
    size = content_size_hint(stream)
    if size is None or size > FAST_PATH_MAX_BYTES:
        return None
    head = stream.peek(1)  # type: ignore[attr-defined]
    cut = head.find(b"\n")
    if cut < 0:
        return None
    _check_header(head[:cut])
    # One byte more than its size: a file that grew meanwhile is read on in blocks.
    return stream.read(size + 1)


def read_rows(
    stream: BinaryIO, labels: DetectionLabels, *, chunk_bytes: int | None = None
) -> tuple[SubmissionRows, _Problems]:
    """Parse every row, validating each against the phase; problems are returned, not raised.

    A file of at most ``FAST_PATH_MAX_BYTES`` is first tried whole on the fast path
    (:mod:`.detection_arrow`), which takes it only if it is plainly valid; otherwise, and
    when ``chunk_bytes`` is given, the streaming reader below reads it and words every
    problem.
    """
    if chunk_bytes is not None:
        return _read_streaming(stream, _Lookup(labels), chunk_bytes)
    # The header is checked before the rest is read, as the streaming reader does, so a
    # wrong header is reported before any later read error (size cap, corrupt gzip): a
    # plain upload of known size is then read at once, any other in blocks.
    first = _read_checked_whole(stream)
    if first is not None:
        cut = first.find(b"\n")
    else:
        first = stream.read(CHUNK_BYTES)
        cut = first.find(b"\n")
        if cut < 0:
            return _read_streaming(_Prefixed(first, stream), _Lookup(labels), CHUNK_BYTES)
        _check_header(first[:cut])
    pieces = [first]
    size = len(first)
    while size <= FAST_PATH_MAX_BYTES:
        data = stream.read(CHUNK_BYTES)
        if not data:
            break
        pieces.append(data)
        size += len(data)
    else:
        return _read_streaming(_Prefixed(b"".join(pieces), stream), _Lookup(labels), CHUNK_BYTES)
    whole = b"".join(pieces) if len(pieces) > 1 else first
    del pieces, first
    from .detection_arrow import read_valid_rows
    from .detection_native import read_plain_rows

    body, start = whole, cut + 1
    # The compiled reader takes plain files (a carriage return anywhere makes it give up,
    # so it is tried before the body is searched for one); Arrow's what it gives up on.
    rows = read_plain_rows(body, start, 2, labels)
    if rows is None and whole.find(b"\r", start) >= 0:
        body, start = whole[start:].replace(b"\r\n", b"\n"), 0
        rows = read_plain_rows(body, start, 2, labels)
    if rows is None:
        rows = read_valid_rows(body, start, 2, labels)
    if rows is not None:
        return rows, _Problems()
    return _read_streaming(io.BytesIO(whole), _Lookup(labels), CHUNK_BYTES)


def _read_streaming(
    stream: BinaryIO, lookup: _Lookup, chunk_bytes: int
) -> tuple[SubmissionRows, _Problems]:
    """Parse every row in blocks, validating each; problems are returned, not raised.

    The stream is read ``chunk_bytes`` (default ``CHUNK_BYTES``) at a time. Blocks are
    parsed on ``PARSE_THREADS`` threads (numpy releases the GIL for most of the work)
    while the next one is read, with at most one block waiting per thread so memory
    stays bounded. Blank lines are tolerated only at the end of the file.
    """
    problems = _Problems()
    parts: list[SubmissionRows] = []
    pending_blank = np.empty(0, dtype=np.int64)

    def collect(parsed: _Block) -> None:
        # In file order, so blank lines can be told trailing or not.
        nonlocal pending_blank
        blank = np.concatenate((pending_blank, parsed.blank_lines))
        if parsed.last_content_line:
            inner = blank[blank < parsed.last_content_line]
            problems.add(inner, lambda _k: "blank line (only allowed at the end of the file)")
            blank = blank[blank > parsed.last_content_line]
        pending_blank = blank
        parts.append(parsed.rows)

    next_line = 1
    header_seen = False
    too_long = False
    with ThreadPoolExecutor(max_workers=PARSE_THREADS) as pool:
        in_flight: deque[Future[_Block]] = deque()
        try:
            for raw in _blocks(stream, chunk_bytes):
                block = raw
                if not header_seen:
                    cut = block.index(b"\n")
                    _check_header(block[:cut])
                    header_seen = True
                    block = block[cut + 1 :]
                    next_line = 2
                    if not block:
                        continue
                in_flight.append(pool.submit(_parse_block, block, next_line, lookup, problems))
                next_line += block.count(b"\n")
                if len(in_flight) > PARSE_THREADS:
                    collect(in_flight.popleft().result())
        except _LineTooLong:
            too_long = True
        except BaseException:
            # The pool's exit still waits for blocks already being parsed.
            for future in in_flight:
                future.cancel()
            raise
        while in_flight:
            collect(in_flight.popleft().result())
    if too_long:
        problems.add(
            np.array([next_line]),
            lambda _k: f"a line is longer than {MAX_LINE_BYTES} bytes; is this the CSV?",
        )
        raise SubmissionInvalid(problems.messages())
    if not header_seen:
        raise SubmissionInvalid([f"line 1: the file is empty; the header must be {HEADER!r}"])
    return SubmissionRows.concatenate(parts), problems
