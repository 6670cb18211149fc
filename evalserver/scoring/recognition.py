"""Recognition track: multi-label clip classification scored by macro F1.

Ground truth is the TinyVIRAT-v2 JSON (a list of clip records with ``id`` and
``label``); a submission is ``answer.txt``: one line per clip, the clip id and then
one 0/1 value per class in class-id order.

Parsing tries up to three passes. Two fast ones work on the whole byte buffer with
numpy and only succeed when every line is right: a fixed-width pass for the layout
the official writer produces (every line the same length), and a tokenising pass
for any other accepted spacing. On any doubt the careful pass re-reads the file
line by line to say exactly what is wrong. All passes must agree on what is valid
(property tests hold them to that); a file the fast passes decline but the careful
one accepts (e.g. non-ASCII ids) is simply scored more slowly.

Submission rules. Accepted: a UTF-8 BOM, CRLF line ends, runs of spaces or tabs
between fields (and before or after them), blank lines at the end, lines in any
order. Each line holds a known clip id followed by exactly C values, each ``0`` or
``1``; each clip appears exactly once. Problems are reported with 1-based line
numbers, and ``column k`` means the k-th value after the id (so column k is class
id k-1).
"""

from __future__ import annotations

import enum
import functools
import gc
import io
import itertools
import json
import operator
import re
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, BinaryIO

import msgspec
import numpy as np

from .archive import read_submission_bytes
from .bootstrap import macro_f1_replicates, resample_counts
from .errors import LabelsInvalid, SubmissionInvalid, refuse_public_list
from .splits import PRIVATE, PUBLIC, SPLITS, read_splits, split_seed

TRACK = "classification"
DEFAULT_MAX_BYTES = 64 << 20
# Enough to see the pattern of a mistake without flooding a terminal or a web page.
MAX_PROBLEMS = 50
MISSING_EXAMPLES = 5
_LABELS_FORMAT = 1

_BOM = b"\xef\xbb\xbf"
# The careful pass splits fields exactly where the fast pass does: space, tab, CR.
_FIELD = re.compile(r"[^ \t\r]+")
_ZERO_ONE = frozenset(("0", "1"))
# A clip id must survive being written as one whitespace-free field of a text line.
_BAD_ID_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")

# Byte classes for the fast pass. Anything outside printable ASCII (class 0) sends
# the file to the careful pass, which knows how to describe it.
_INVALID, _SPACE, _NEWLINE, _TOKEN = 0, 1, 2, 3
_BYTE_CLASS = np.zeros(256, dtype=np.uint8)
_BYTE_CLASS[33:127] = _TOKEN
_BYTE_CLASS[[ord(" "), ord("\t"), ord("\r")]] = _SPACE
_BYTE_CLASS[ord("\n")] = _NEWLINE
# Lines are tokenised in slices of about this many bytes to bound temporary memory.
_FAST_CHUNK = 4 << 20
# Fixed-width lines are checked this many at a time, for the same reason.
_BLOCK_LINES = 1 << 15


# --------------------------------------------------------------------------------------
# Clip ids
# --------------------------------------------------------------------------------------


def _ascii_keys(ids: np.ndarray) -> np.ndarray | None:
    """The ids as an S-array when all are ASCII (numpy's U->S cast is slow), else None."""
    width = ids.dtype.itemsize // 4
    if len(ids) == 0 or width == 0:
        return np.zeros(len(ids), dtype="S1")
    codes = np.ascontiguousarray(ids).view(np.uint32).reshape(len(ids), width)
    if codes.max() > 127:
        return None
    return codes.astype(np.uint8).view(f"S{width}").reshape(-1)


def _pack(keys: np.ndarray) -> np.ndarray:
    """S-array of at most 8 bytes -> uint64 with the same equality and byte order."""
    n, width = len(keys), keys.dtype.itemsize
    buf = np.zeros((n, 8), dtype=np.uint8)
    buf[:, :width] = np.ascontiguousarray(keys).view(np.uint8).reshape(n, width)
    return buf.view(">u8").reshape(n).astype(np.uint64)


_HASH_MAX_BYTES = 64
# Odd multipliers for the 8-byte words of an id; any fixed odd values do.
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


def _hash_keys(keys: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each key of an S-array (at most 64 bytes); NUL padding adds nothing,
    so a key hashes the same whatever the array's width."""
    n, width = len(keys), keys.dtype.itemsize
    n_words = -(-width // 8)
    buf = np.zeros((n, n_words * 8), dtype=np.uint8)
    buf[:, :width] = np.ascontiguousarray(keys).view(np.uint8).reshape(n, width)
    words = buf.view("<u8")
    hashes = np.zeros(n, dtype=np.uint64)
    for k in range(n_words):
        hashes += words[:, k] * _HASH_MULTIPLIERS[k]
    # A final mix (xorshift-multiply) spreads the sum over all 64 bits.
    hashes ^= hashes >> np.uint64(31)
    hashes *= np.uint64(0xBF58476D1CE4E5B9)
    hashes ^= hashes >> np.uint64(29)
    return hashes


# Fibonacci hashing: the top bits of key * 2^64/phi pick a slot; spreads runs of
# consecutive keys (packed "00001", "00002", ...) over the whole table.
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)


class _HashTable:
    """Open addressing (linear probing) from distinct uint64 keys to their rows, built and
    probed with whole-array numpy steps: a lookup is one or two random reads per key,
    where a binary search over a sorted array is twenty, each a likely cache miss."""

    def __init__(self, keys: np.ndarray) -> None:
        n = len(keys)
        # At most a quarter to half full, so probe sequences (and build rounds) stay short.
        self._bits = max(3, int(4 * n - 1).bit_length())
        size = 1 << self._bits
        self._mask = size - 1
        # int32 rows: half the memory traffic of a random read, for any real label file.
        row_type = np.int32 if n < 2**31 else np.intp
        self._rows = np.full(size, -1, dtype=row_type)
        self._keys = np.zeros(size, dtype=np.uint64)
        # Set when two rows have the same key: the table is then unusable.
        self.clash = False
        pending = np.arange(n, dtype=row_type)
        slots = self._slots(keys)
        while len(pending):
            free = self._rows[slots] == -1
            taken = np.flatnonzero(~free)
            if taken.size and (self._keys[slots[taken]] == keys[pending[taken]]).any():
                self.clash = True
                return
            # Several keys may aim at the same free slot: one write lands, the others
            # see it and retry that slot next round (now taken: its key is compared, so
            # equal keys meet); keys that met a taken slot move on to the next one.
            free_slots, free_rows = slots[free], pending[free]
            self._rows[free_slots] = free_rows
            won = self._rows[free_slots] == free_rows
            self._keys[free_slots[won]] = keys[free_rows[won]]
            slots[taken] += 1
            slots &= self._mask
            again = ~free
            again[free] = ~won
            pending, slots = pending[again], slots[again]

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((keys * _FIBONACCI) >> np.uint64(64 - self._bits)).astype(np.intp)

    def rows(self, keys: np.ndarray) -> np.ndarray:
        """The row of each key, -1 for a key not in the table."""
        out = np.full(len(keys), -1, dtype=np.intp)
        pending = np.arange(len(keys))
        slots = self._slots(keys)
        while len(pending):
            occupant = self._rows[slots]
            hit = (self._keys[slots] == keys[pending]) & (occupant != -1)
            out[pending[hit]] = occupant[hit]
            # Probing stops at a hit or an empty slot (the key is absent).
            on = ~hit & (occupant != -1)
            pending, slots = pending[on], (slots[on] + 1) & self._mask
        return out


class _IdIndex:
    """Clip ids in a given order, with vectorised lookup of submitted ids."""

    def __init__(self, ids: Sequence[str] | np.ndarray, *, keys: np.ndarray | None = None) -> None:
        """``keys``, when given, are the ids already encoded as an S-array (UTF-8)."""
        self.ids = np.asarray(ids, dtype=np.str_).reshape(-1)
        if keys is None:
            keys = _ascii_keys(self.ids)
        if keys is None:
            keys = np.array([i.encode("utf-8") for i in self.ids.tolist()], dtype=np.bytes_)
        if len(keys) == 0:
            keys = np.zeros(0, dtype="S1")
        self.width = keys.dtype.itemsize
        self._keys = keys
        self._packed = self.width <= 8
        self._built = False

    def _build(self) -> None:
        """The lookup structure, built on first need: a submission in the labels' own order
        (the common case) and labels whose ids are in increasing order need none.

        Ids of up to 8 bytes (TinyVIRAT's are 5) are their own 64-bit key (NUL padding
        keeps equal ids equal and others apart). Longer ids (up to 64 bytes) are keyed by a
        64-bit hash, and a lookup then compares the bytes, which keeps it exact: as fast as
        short ids. Either way the keys go in a hash table, used only when no two known ids
        share a key; else (and for longer ids) a binary search over the sorted ids.
        """
        if self._built:
            return
        keys = self._keys
        self._hashed = False
        self._table: _HashTable | None = None
        self._duplicates = False
        if self.width <= _HASH_MAX_BYTES and len(keys):
            table = _HashTable(_pack(keys) if self._packed else _hash_keys(keys))
            if not table.clash:
                self._table = table
                self._hashed = not self._packed
        if self._table is None:
            # Equal ids sort next to each other.
            sortable = _pack(keys) if self._packed else keys
            self.order = np.argsort(sortable, kind="stable")
            self.sorted_keys = sortable[self.order]
            self._duplicates = bool((self.sorted_keys[1:] == self.sorted_keys[:-1]).any())
        self._built = True

    @cached_property
    def has_duplicates(self) -> bool:
        keys = self._keys
        # Strictly increasing ids (a numbered clip list) are distinct: no table needed.
        if (keys[1:] > keys[:-1]).all():
            return False
        self._build()
        return self._duplicates

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def row_of(self) -> dict[str, int]:
        return {cid: row for row, cid in enumerate(self.ids.tolist())}

    @cached_property
    def widths(self) -> frozenset[int]:
        return frozenset(len(i) for i in self.ids.tolist())

    def same_order(self, keys: np.ndarray) -> bool:
        """Whether ``keys`` are every id, in order: what writers that follow the clip
        list give, and looked up with no table at all."""
        return len(keys) == len(self._keys) and bool(np.array_equal(keys, self._keys))

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(row, known) per key (an S-array); None if some key is wider than any id.

        The row of an unknown key is meaningless (but a valid row)."""
        if len(self.ids) == 0 or keys.dtype.itemsize > self.width:
            return None
        if self.same_order(keys):
            return np.arange(len(keys)), np.ones(len(keys), dtype=bool)
        self._build()
        if self._table is not None:
            found = self._table.rows(_pack(keys) if self._packed else _hash_keys(keys))
            known = found >= 0
            rows = np.maximum(found, 0)
            if self._hashed:
                # The bytes decide; the hash only finds the candidate.
                known &= self._keys[rows] == keys
            return rows, known
        n = len(self.sorted_keys)
        if self._packed:
            keys = _pack(keys)
        pos = np.searchsorted(self.sorted_keys, keys)
        np.minimum(pos, n - 1, out=pos)
        return self.order[pos], self.sorted_keys[pos] == keys

    def unknown_hint(self, cid: str) -> str:
        """A nudge when an unknown id is a known one without its zero padding."""
        if cid.isdigit():
            for width in sorted(self.widths):
                padded = cid.zfill(width)
                if padded != cid and padded in self.row_of:
                    return f" (ids are zero-padded: did you mean {padded!r}?)"
        return ""


# --------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RecognitionLabels:
    """Hidden ground truth: ``Y[i, c]`` is 1 when clip ``ids[i]`` shows class ``c``."""

    class_names: tuple[str, ...]
    ids: np.ndarray
    Y: np.ndarray
    # Per clip: 0 public, 1 private (see .splits); None when the labels have no split.
    split: np.ndarray | None = None

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.class_names)
        ids = np.asarray(self.ids, dtype=np.str_).reshape(-1)
        if len(ids) == 0:
            ids = np.zeros(0, dtype="U1")
        y = np.asarray(self.Y)
        if y.ndim != 2 or y.shape != (len(ids), len(names)):
            raise ValueError(
                f"Y must have shape ({len(ids)}, {len(names)}) (clips x classes), got {y.shape}"
            )
        # Unsigned: one pass for the largest value, with no temporary matrices.
        if y.dtype.kind == "u":
            if y.max(initial=0) > 1:
                raise ValueError("Y must hold only 0 and 1")
        elif y.dtype != np.bool_ and not ((y == 0) | (y == 1)).all():
            raise ValueError("Y must hold only 0 and 1")
        y = np.ascontiguousarray(y, dtype=np.uint8)
        ids.setflags(write=False)
        y.setflags(write=False)
        if self.split is not None:
            split = np.ascontiguousarray(self.split, dtype=np.uint8).reshape(-1)
            if len(split) != len(ids) or split.max(initial=0) >= len(SPLITS):
                raise ValueError("split must hold one code per clip, 0 (public) or 1 (private)")
            split.setflags(write=False)
            object.__setattr__(self, "split", split)
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "Y", y)

    @property
    def n_items(self) -> int:
        return len(self.ids)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @cached_property
    def index(self) -> dict[str, int]:
        """Clip id -> row of ``Y``."""
        return self._id_index.row_of

    @cached_property
    def _id_index(self) -> _IdIndex:
        return _IdIndex(self.ids)

    def to_bytes(self) -> bytes:
        """A compact npz (bit-packed ``Y``) that :meth:`from_bytes` reads without pickle."""
        buf = io.BytesIO()
        # The split is an optional member: blobs stored before splits existed still read.
        extra = {} if self.split is None else {"split": self.split}
        np.savez_compressed(
            buf,
            format=np.array(_LABELS_FORMAT),
            class_names=np.array(self.class_names, dtype=np.str_),
            ids=self.ids,
            y_bits=np.packbits(self.Y, axis=1),
            **extra,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> RecognitionLabels:
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
                version = int(npz["format"])
                if version != _LABELS_FORMAT:
                    raise LabelsInvalid([f"stored labels have unknown format {version}"])
                names = tuple(npz["class_names"].tolist())
                ids = npz["ids"]
                y = np.unpackbits(npz["y_bits"], axis=1, count=len(names))
                split = npz["split"] if "split" in npz.files else None
            return cls(class_names=names, ids=ids, Y=y, split=split)
        except LabelsInvalid:
            raise
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            EOFError,
            zipfile.BadZipFile,
            zlib.error,
        ) as exc:
            raise LabelsInvalid([f"stored labels are corrupt: {exc}"]) from None


def _capped(problems: list[str], limit: int = MAX_PROBLEMS, *, more: int = 0) -> list[str]:
    """The first ``limit`` problems and the count of the rest (``more`` were never kept)."""
    rest = max(0, len(problems) - limit) + more
    if not rest:
        return problems
    return [*problems[:limit], f"... and {rest} more problems"]


class _Problems:
    """Keeps the first MAX_PROBLEMS messages and only counts the others.

    A wholly wrong million-line file must not build a million strings to show 50.
    """

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.dropped = 0

    def add(self, message: str) -> None:
        if len(self.kept) < MAX_PROBLEMS:
            self.kept.append(message)
        else:
            self.dropped += 1

    def __bool__(self) -> bool:
        return bool(self.kept)

    def as_list(self) -> list[str]:
        return _capped(self.kept, more=self.dropped)


def _json_records(data: bytes, what: str) -> list[Any]:
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise LabelsInvalid([f"{what} is not UTF-8 text: {exc}"]) from None
    except json.JSONDecodeError as exc:
        raise LabelsInvalid([f"{what} is not valid JSON: {exc}"]) from None
    if not isinstance(obj, list):
        raise LabelsInvalid(
            [f"{what} must be a JSON list of clip records, not {type(obj).__name__}"]
        )
    if not obj:
        raise LabelsInvalid([f"{what} holds no clip records"])
    return obj


def _record_ids(records: list[Any], problems: list[str]) -> list[str | None]:
    """Each record's id, or None where it is unusable (the problem is recorded)."""
    ids: list[str | None] = []
    seen: dict[str, int] = {}
    for n, rec in enumerate(records, 1):
        if not isinstance(rec, dict):
            problems.append(f"record {n}: must be a JSON object, not {type(rec).__name__}")
            ids.append(None)
            continue
        cid = rec.get("id")
        if cid is None:
            problems.append(f"record {n}: has no 'id'")
        elif not isinstance(cid, str):
            problems.append(f"record {n}: 'id' must be a string such as '00042', not {cid!r}")
        elif not cid or _BAD_ID_CHARS.search(cid):
            problems.append(f"record {n}: id {cid!r} is empty or contains whitespace")
        elif cid in seen:
            problems.append(
                f"record {n} (id {cid!r}): duplicate id, already used by record {seen[cid]}"
            )
        else:
            seen[cid] = n
            ids.append(cid)
            continue
        ids.append(None)
    return ids


class _Split(enum.Enum):
    """A record's split as msgspec reads it: one shared member, no string per record."""

    # In the order of .splits.SPLITS (a test holds them equal).
    PUBLIC = "public"
    PRIVATE = "private"


@functools.lru_cache(maxsize=8)
def _label_reader(names: tuple[str, ...]) -> tuple[msgspec.json.Decoder, np.ndarray, np.ndarray]:
    """A decoder of plain label files for one class list, and how to turn its labels into
    columns: (decoder, the members' addresses sorted, the column of each).

    Each class name is a member of an Enum, so msgspec hands back the one shared member for
    every occurrence of a name instead of building a new string per label (which was most
    of the decoding time and memory), and refuses an unknown name as it reads.
    """
    # Duplicated names: the last column wins, as in the careful reader's dict.
    column = {name: c for c, name in enumerate(names)}
    classes = enum.Enum("_Class", [(f"c{c}", name) for name, c in column.items()])
    fields: list[Any] = [
        ("id", str),
        ("label", tuple[classes, ...]),  # type: ignore[valid-type]
        # The public/private split (see .splits); absent in a file without one. Always
        # read: telling beforehand whether any record has one took two byte searches
        # (a key spelled "split", or \u-escaped) over the whole file, 125 ms at 1M clips
        # where the field and its scan cost 31 ms.
        ("split", _Split | msgspec.UnsetType, msgspec.UNSET),
    ]
    record = msgspec.defstruct("_PlainRecord", fields, gc=False)
    members = list(classes)
    # Members are singletons: their addresses (id()) name them exactly, and map through
    # numpy (np.searchsorted) with no Python call per label. Enum's own __hash__ is Python.
    addresses = np.array([id(m) for m in members], dtype=np.uintp)
    order = np.argsort(addresses)
    columns = np.array([column[m.value] for m in members], dtype=np.intp)
    return msgspec.json.Decoder(list[record]), addresses[order], columns[order]


def _member_codes(objects: Iterable[Any], count: int, addresses: np.ndarray) -> np.ndarray | None:
    """Position in ``addresses`` (sorted id()s) of each object; None if one is not there."""
    found = np.fromiter(map(id, objects), dtype=np.uintp, count=count)
    pos = np.searchsorted(addresses, found)
    np.minimum(pos, len(addresses) - 1, out=pos)
    if not (addresses[pos] == found).all():
        return None
    return pos


def _plain_labels(data: bytes, names: tuple[str, ...]) -> RecognitionLabels | None:
    """The labels of a file with no problem at all, read quickly; else None.

    msgspec decodes the file straight into (id, label, split) records, with the class
    names and splits checked as it reads, and whole-array operations stand in for the
    record-by-record checks of :func:`load_labels`, which build no message unless
    something is wrong. On any doubt (a record that is not an object, lacks a key or has
    a value of another type, an unknown class, a duplicate id, and anything msgspec reads
    differently from the standard library: it refuses NaN and lone surrogates) this
    returns None and the careful path re-reads the file with ``json``.
    """
    if not all(isinstance(n, str) for n in names):
        return None
    decoder, class_addresses, class_columns = _label_reader(names)
    # A million small objects would set off the cyclic garbage collector over and over
    # (several times the decoding itself); nothing built here can form a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        try:
            records = decoder.decode(
                memoryview(data)[len(_BOM) :] if data.startswith(_BOM) else data
            )
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        n = len(records)
        if not n:
            return None
        ids = list(map(operator.attrgetter("id"), records))
        labels = list(map(operator.attrgetter("label"), records))
        splits = list(map(operator.attrgetter("split"), records))
        split = _plain_split(splits)
        del splits
        # The records themselves are no longer needed: free them before building arrays.
        del records
        if split is False:
            return None
        lengths = np.fromiter(map(len, labels), dtype=np.intp, count=n)
        if not lengths.all():
            return None
        codes = _member_codes(
            itertools.chain.from_iterable(labels), int(lengths.sum()), class_addresses
        )
        del labels
        if codes is None:
            return None
        y = np.zeros((n, len(names)), dtype=np.uint8)
        y[np.repeat(np.arange(n), lengths), class_columns[codes]] = 1
        del codes, lengths
        keyed = _plain_ids(ids)
    finally:
        if collecting:
            gc.enable()
    if keyed is None:
        return None
    id_array, index = keyed
    if index.has_duplicates:
        return None
    labels_ = RecognitionLabels(class_names=names, ids=id_array, Y=y, split=split)
    # The index was built from these very ids; reuse it rather than build it again.
    labels_.__dict__["_id_index"] = index
    return labels_


# What a plain record's split can be; the careful path words anything else.
_SPLIT_VALUES = (_Split.PUBLIC, _Split.PRIVATE, msgspec.UNSET)
_split_addresses = np.array([id(v) for v in _SPLIT_VALUES], dtype=np.uintp)
_SPLIT_ADDRESSES = np.sort(_split_addresses)
# Code of each sorted address: 0 public, 1 private (as in .splits), 2 none.
_SPLIT_CODE = np.argsort(_split_addresses).astype(np.uint8)


def _plain_split(splits: list[Any]) -> np.ndarray | bool | None:
    """Split codes, None when no record has a split, False when the careful path must word it."""
    # list.count compares identity first: a C loop, for the common file with no split.
    if splits.count(msgspec.UNSET) == len(splits):
        return None
    pos = _member_codes(splits, len(splits), _SPLIT_ADDRESSES)
    if pos is None:
        return False
    codes = _SPLIT_CODE[pos]
    counts = np.bincount(codes, minlength=len(_SPLIT_VALUES))
    if counts[2] == len(splits):
        return None
    # Every record in a split and both splits used, else the careful path words it.
    if counts[2] or not counts[PUBLIC] or not counts[PRIVATE]:
        return False
    return codes


def _plain_ids(ids: list[str]) -> tuple[np.ndarray, _IdIndex] | None:
    """(ids as a U-array, their index), or None when some id is empty or has whitespace.

    Empties ``ids`` once read: a million strings are not kept beside their arrays.
    """
    n = len(ids)
    lengths = np.fromiter(map(len, ids), dtype=np.intp, count=n)
    if int(lengths.min()) == 0:
        return None
    joined = "".join(ids)
    if not joined.isascii():
        # Rare: checked string by string (whitespace and control characters are single
        # characters, so joining the ids creates no match that no single id has).
        if _BAD_ID_CHARS.search(joined):
            return None
        id_array = np.array(ids, dtype=np.str_)
        ids.clear()
        return id_array, _IdIndex(id_array)
    encoded = joined.encode("ascii")
    del joined
    raw = np.frombuffer(encoded, dtype=np.uint8)
    # ASCII ids are valid when every byte is printable and not a space (33-126).
    if int(raw.min()) < 33 or int(raw.max()) > 126:
        return None
    width = int(lengths.max())
    if int(lengths.min()) == width:
        # Ids of one width (the usual layout) are the joined bytes, reshaped: no copy per id.
        keys = raw.view(f"S{width}")
    else:
        keys = np.array(ids, dtype=f"S{width}")
    del raw, encoded, lengths
    ids.clear()
    # U-array from the bytes: each byte widened to a code point (ASCII is one to one).
    codes = np.empty((n, width), dtype=np.uint32)
    codes[:] = keys.view(np.uint8).reshape(n, width)
    id_array = codes.view(f"U{width}").reshape(n)
    return id_array, _IdIndex(id_array, keys=keys)


def load_labels(data: bytes, class_names: Sequence[str]) -> RecognitionLabels:
    """Read TinyVIRAT-v2 ground truth JSON; every problem is reported, by record.

    Records are numbered from 1 in file order; unknown keys are ignored.
    """
    names = tuple(class_names)
    plain = _plain_labels(data, names)
    if plain is not None:
        return plain
    column = {name: c for c, name in enumerate(names)}
    return _load_labels_carefully(data, names, column)


def _load_labels_carefully(
    data: bytes, names: tuple[str, ...], column: dict[str, int]
) -> RecognitionLabels:
    """:func:`load_labels` record by record, with the standard library's JSON reader."""
    records = _json_records(data, "the labels file")
    refuse_public_list(records)
    objects = [r for r in records if isinstance(r, dict)]
    if objects and not any("label" in r for r in objects) and any("tubes" in r for r in objects):
        # A detection file without per-clip labels: one message, not one per record.
        raise LabelsInvalid(
            [
                "this looks like a detection label file: records have 'tubes' but none has "
                "'label'; classification phases need a non-empty 'label' list of class "
                "names in every record"
            ]
        )
    problems: list[str] = []
    ids = _record_ids(records, problems)
    split = read_splits(records, problems)
    rows: list[int] = []
    cols: list[int] = []
    for n, (rec, cid) in enumerate(zip(records, ids, strict=True), 1):
        if not isinstance(rec, dict):
            continue
        where = f"record {n} (id {cid!r})" if cid is not None else f"record {n}"
        label = rec.get("label")
        if label is None:
            problems.append(f"{where}: has no 'label'")
            continue
        if not isinstance(label, list) or not label:
            problems.append(f"{where}: 'label' must be a non-empty list of class names")
            continue
        for name in label:
            c = column.get(name) if isinstance(name, str) else None
            if c is None:
                problems.append(f"{where}: unknown class {name!r}")
            else:
                rows.append(n - 1)
                cols.append(c)
    if problems:
        raise LabelsInvalid(_capped(problems))
    y = np.zeros((len(records), len(names)), dtype=np.uint8)
    y[rows, cols] = 1
    return RecognitionLabels(class_names=names, ids=np.array(ids, dtype=np.str_), Y=y, split=split)


def load_clip_ids(data: bytes) -> list[str]:
    """The clip ids of a public test file (records without ``label``), in file order."""
    records = _json_records(data, "the clip list")
    problems: list[str] = []
    ids = _record_ids(records, problems)
    if problems:
        raise LabelsInvalid(_capped(problems))
    return [cid for cid in ids if cid is not None]


# --------------------------------------------------------------------------------------
# Submission parsing
# --------------------------------------------------------------------------------------


def _content_end(a: np.ndarray) -> int:
    """Index just past the last byte that is not a space, tab, CR or LF."""
    end = len(a)
    step = 4096
    while end > 0:
        lo = max(0, end - step)
        cls = _BYTE_CLASS[a[lo:end]]
        hits = np.flatnonzero((cls != _SPACE) & (cls != _NEWLINE))
        if hits.size:
            return lo + int(hits[-1]) + 1
        end = lo
        step *= 2
    return 0


def _fast_chunk(
    c: np.ndarray, n_classes: int, max_id_width: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Keys (S-array) and values (L x C uint8) of the lines in ``c``, or None if in doubt.

    ``c`` holds whole lines with no trailing newline and no trailing blank lines.
    """
    cls = _BYTE_CLASS[c]
    if not cls.all():
        return None
    tok = (cls == _TOKEN).view(np.int8)
    edges = np.diff(tok, prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    del edges, tok
    newlines = np.flatnonzero(cls == _NEWLINE)
    del cls
    n_lines = len(newlines) + 1
    fields = n_classes + 1
    if len(starts) != n_lines * fields:
        return None
    # Every line must hold exactly C+1 fields; blank lines (0 fields) fail here too.
    line_starts = np.empty(n_lines, dtype=np.intp)
    line_starts[0] = 0
    line_starts[1:] = newlines + 1
    first = np.searchsorted(starts, line_starts)
    if not np.array_equal(first, np.arange(0, n_lines * fields, fields)):
        return None
    starts = starts.reshape(n_lines, fields)
    ends = ends.reshape(n_lines, fields)
    value_starts = starts[:, 1:]
    if not (ends[:, 1:] - value_starts == 1).all():
        return None
    values = c[value_starts]
    values -= ord("0")  # uint8 wraps, so anything but '0'/'1' ends up > 1
    if values.max(initial=0) > 1:
        return None
    id_starts = starts[:, 0]
    id_lens = ends[:, 0] - id_starts
    width = int(id_lens.max())
    if width > max_id_width:
        return None  # longer than any known id, so certainly unknown
    offsets = np.arange(width)
    gather = c[np.minimum(id_starts[:, None] + offsets, len(c) - 1)]
    if int(id_lens.min()) != width:
        gather[offsets >= id_lens[:, None]] = 0  # NUL padding is what S-arrays strip
    keys = np.ascontiguousarray(gather).view(f"S{width}").reshape(-1)
    return keys, values


def _fixed_width_lines(
    data: bytes, start: int, end: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Keys and values when the file has the layout the official writer produces.

    That is: ids of one width, one space (or tab) between fields, LF or CRLF. Then
    every line has the same length and the file is a (lines x bytes) matrix to
    check column by column.
    """
    first_nl = data.find(b"\n", start, start + end)
    if first_nl == -1:
        line_len, eol_len = end, 0
    else:
        line_len = first_nl - start + 1
        eol_len = 2 if first_nl > start and data[first_nl - 1] == ord("\r") else 1
    # The content stops before the last line's end of line (trailing blanks are cut).
    if (end + eol_len) % line_len:
        return None
    n_lines = (end + eol_len) // line_len
    a = np.frombuffer(data, dtype=np.uint8, count=end, offset=start)
    if n_lines > 1:
        if not (a[line_len - 1 :: line_len] == ord("\n")).all():
            return None
        if eol_len == 2 and not (a[line_len - 2 :: line_len] == ord("\r")).all():
            return None
    width = line_len - eol_len
    # Row i is line i without its end of line; strides make it a view, not a copy.
    lines = np.lib.stride_tricks.as_strided(
        a, shape=(n_lines, width), strides=(line_len, 1), writeable=False
    )
    id_width = width - 2 * n_classes
    if id_width < 1:
        return None
    values = np.empty((n_lines, n_classes), dtype=np.uint8)
    ids = np.empty((n_lines, id_width), dtype=np.uint8)
    # Block by block: the temporaries stay small (in cache, and reused rather than
    # fresh pages for every whole-file step).
    for lo in range(0, n_lines, _BLOCK_LINES):
        block = lines[lo : lo + _BLOCK_LINES]
        body = block[:, id_width:width]
        separators = body[:, 0::2]
        if not ((separators == ord(" ")) | (separators == ord("\t"))).all():
            return None
        out = values[lo : lo + _BLOCK_LINES]
        # uint8 wraps: anything but '0' or '1' ends up > 1.
        np.subtract(body[:, 1::2], np.uint8(ord("0")), out=out)
        if out.max(initial=0) > 1:
            return None
        id_bytes = block[:, :id_width]
        # Id bytes must be printable ASCII other than space (33-126), as in _BYTE_CLASS.
        if int(id_bytes.min()) < 33 or int(id_bytes.max()) > 126:
            return None
        ids[lo : lo + _BLOCK_LINES] = id_bytes
    return ids.view(f"S{id_width}").reshape(-1), values


def _fast_parse(
    data: bytes, start: int, index: _IdIndex, n_classes: int
) -> tuple[list[str], np.ndarray | None, np.ndarray] | None:
    """(problems, rows, values) when every line is well-formed, else None; rows is None
    when line i is clip i.

    Well-formed lines can still name unknown, repeated or too few clips (the
    official baseline's writer does); those problems are worded here directly, so
    such a file never needs the slow pass however long it is.
    """
    a = np.frombuffer(data, dtype=np.uint8, offset=start)
    end = _content_end(a)
    if end == 0 or len(index) == 0:
        return None
    parsed = _fixed_width_lines(data, start, end, n_classes)
    if parsed is None:
        parsed = _tokenised_lines(data, start, end, index.width, n_classes)
    if parsed is None:
        return None
    keys, values = parsed
    if index.same_order(keys):
        # Every clip once, in the labels' order: the values are aligned as they are.
        return [], None, values
    found = index.lookup(keys)
    if found is None:
        return None
    rows, known = found
    if len(keys) == len(index) and known.all():
        seen = np.zeros(len(index), dtype=bool)
        seen[rows] = True
        if seen.all():
            return [], rows, values
    return _id_problems(keys, rows, known, index), rows[:0], values[:0]


def _id_problems(
    keys: np.ndarray, rows: np.ndarray, known: np.ndarray, index: _IdIndex
) -> list[str]:
    """Unknown and repeated ids by line, then the missing ones: as the careful pass words them."""
    known_lines = np.flatnonzero(known)
    known_rows = rows[known_lines]
    given, first = np.unique(known_rows, return_index=True)
    first_line_of = np.full(len(index), -1, dtype=np.intp)
    first_line_of[given] = known_lines[first]
    repeated = np.zeros(len(keys), dtype=bool)
    repeated[known_lines] = first_line_of[known_rows] != known_lines
    flagged = np.flatnonzero(~known | repeated)

    problems = []
    for i in flagged[:MAX_PROBLEMS].tolist():
        cid = keys[i].decode("ascii")
        if known[i]:
            first_ln = int(first_line_of[rows[i]]) + 1
            problems.append(f"line {i + 1}: clip id {cid!r} already given on line {first_ln}")
        else:
            problems.append(f"line {i + 1}: unknown clip id {cid!r}{index.unknown_hint(cid)}")
    problems = _capped(problems, more=max(0, len(flagged) - MAX_PROBLEMS))
    if len(given) < len(index):
        seen = np.zeros(len(index), dtype=bool)
        seen[given] = True
        missing = np.flatnonzero(~seen)
        examples = index.ids[missing[:MISSING_EXAMPLES]].tolist()
        problems.append(_missing_message(len(missing), examples))
    return problems


def _tokenised_lines(
    data: bytes, start: int, end: int, max_id_width: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Keys and values for any spacing, tokenised slice by slice; None if in doubt."""
    a = np.frombuffer(data, dtype=np.uint8, count=end, offset=start)
    keys_parts: list[np.ndarray] = []
    value_parts: list[np.ndarray] = []
    pos = 0
    while pos < end:
        stop = end
        if end - pos > _FAST_CHUNK:
            nl = data.find(b"\n", start + pos + _FAST_CHUNK, start + end)
            if nl != -1:
                stop = nl - start
        part = _fast_chunk(a[pos:stop], n_classes, max_id_width)
        if part is None:
            return None
        keys_parts.append(part[0])
        value_parts.append(part[1])
        pos = stop + 1
    if len(keys_parts) == 1:
        return keys_parts[0], value_parts[0]
    return np.concatenate(keys_parts), np.concatenate(value_parts)


def _missing_message(count: int, examples: list[str]) -> str:
    shown = ", ".join(examples[:MISSING_EXAMPLES])
    if count == 1:
        return f"1 clip id missing: {shown}"
    if count <= MISSING_EXAMPLES:
        return f"{count} clip ids missing: {shown}"
    return f"{count} clip ids missing, e.g. {shown}"


def _binary_problem(data: bytes, start: int) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "the file is UTF-16 text; save it as UTF-8 or plain ASCII"
    nul = data.find(b"\x00", start)
    if nul != -1:
        line = data.count(b"\n", start, nul) + 1
        return (
            f"line {line}: NUL byte; this looks like a binary file, not a text answer file "
            "(upload answer.txt itself, or a zip holding it)"
        )
    return None


def _careful_parse(
    data: bytes, start: int, index: _IdIndex, n_classes: int
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every problem of the file, one line at a time; plus rows and values if none."""
    empty = (np.zeros(0, dtype=np.intp), np.zeros((0, n_classes), dtype=np.uint8))
    binary = _binary_problem(data, start)
    if binary is not None:
        return [binary], *empty
    lines = data[start:].split(b"\n")
    while lines and not lines[-1].strip(b" \t\r"):
        lines.pop()
    if not lines:
        return ["the file has no lines; expected one line per clip"], *empty

    problems = _Problems()
    first_line: dict[int, int] = {}
    good_rows: list[int] = []
    good_values: list[str] = []
    row_of = index.row_of
    for ln, raw in enumerate(lines, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.add(
                f"line {ln}: not valid UTF-8 text (byte 0x{raw[exc.start]:02x} "
                f"at position {exc.start + 1})"
            )
            continue
        fields = _FIELD.findall(text)
        if not fields:
            problems.add(f"line {ln}: blank line; blank lines are only allowed at the end")
            continue
        if len(fields) == 1 and ("," in text or ";" in text):
            problems.add(
                f"line {ln}: fields are separated by commas or semicolons; "
                "separate the id and the values with spaces"
            )
            continue
        cid, values = fields[0], fields[1:]
        row = row_of.get(cid)
        ok = True
        if row is None:
            problems.add(f"line {ln}: unknown clip id {cid!r}{index.unknown_hint(cid)}")
            ok = False
        elif row in first_line:
            problems.add(f"line {ln}: clip id {cid!r} already given on line {first_line[row]}")
            ok = False
        else:
            first_line[row] = ln
        if len(values) != n_classes:
            problems.add(
                f"line {ln}: expected {n_classes} values after the id, found {len(values)}"
            )
            continue
        if not _ZERO_ONE.issuperset(values):
            bad = [(k, v) for k, v in enumerate(values, 1) if v not in _ZERO_ONE]
            k, v = bad[0]
            more = f" (and {len(bad) - 1} more on this line)" if len(bad) > 1 else ""
            problems.add(f"line {ln}: value {v!r} in column {k} is not 0 or 1{more}")
            continue
        if ok and row is not None:
            good_rows.append(row)
            good_values.append("".join(values))

    found = problems.as_list()
    if len(first_line) < len(index):
        missing = [row for row in range(len(index)) if row not in first_line]
        examples = index.ids[missing[:MISSING_EXAMPLES]].tolist()
        # After the cap on purpose: the summary is never among the dropped.
        found.append(_missing_message(len(missing), examples))
    if found:
        return found, *empty
    values_arr = np.frombuffer("".join(good_values).encode("ascii"), dtype=np.uint8)
    values_arr = (values_arr - ord("0")).reshape(len(good_rows), n_classes)
    return [], np.array(good_rows, dtype=np.intp), values_arr


def _parse(data: bytes, index: _IdIndex, n_classes: int) -> tuple[list[str], np.ndarray]:
    """(problems, P) with P aligned to ``index`` rows; P is empty when there are problems."""
    start = len(_BOM) if data.startswith(_BOM) else 0
    parsed = _fast_parse(data, start, index, n_classes)
    if parsed is None:
        parsed = _careful_parse(data, start, index, n_classes)
    problems, rows, values = parsed
    if problems:
        return problems, values
    if rows is None:
        return [], values
    aligned = np.empty((len(index), n_classes), dtype=np.uint8)
    aligned[rows] = values
    return [], aligned


def validate(
    labels: RecognitionLabels, source: bytes | BinaryIO, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> np.ndarray:
    """The submission as a 0/1 matrix with the rows of ``labels.Y``; raises SubmissionInvalid."""
    data = read_submission_bytes(source, max_bytes=max_bytes)
    problems, predictions = _parse(data, labels._id_index, labels.n_classes)
    if problems:
        raise SubmissionInvalid(problems)
    return predictions


def check_format(
    source: bytes | BinaryIO,
    clip_ids: Sequence[str],
    n_classes: int,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[str]:
    """Problems of a submission checked against a clip list only (no labels); [] if fine."""
    try:
        data = read_submission_bytes(source, max_bytes=max_bytes)
    except SubmissionInvalid as exc:
        return exc.errors
    problems, _ = _parse(data, _IdIndex(clip_ids), n_classes)
    return problems


# --------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros(np.shape(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> dict:
    """The score dict for aligned matrices (clips x classes); nonzero means positive."""
    truth = np.asarray(y_true)
    pred = np.asarray(y_pred)
    if truth.ndim != 2 or truth.shape != pred.shape or truth.shape[1] != len(class_names):
        raise ValueError(
            f"expected two (clips x {len(class_names)}) matrices, "
            f"got {truth.shape} and {pred.shape}"
        )
    return _metrics(truth != 0, pred != 0, class_names)


# A uint8 sum of up to 255 zeros and ones cannot overflow.
_UINT8_TERMS = 255


def _row_sums(m: np.ndarray) -> np.ndarray:
    """Per-row count of a bool matrix, int64."""
    if m.shape[1] > _UINT8_TERMS:
        return m.sum(axis=1, dtype=np.int64)
    # einsum's uint8 loop is about twice as fast as sum() over short rows.
    return np.einsum("ij->i", m.view(np.uint8)).astype(np.int64)


def _column_sums(m: np.ndarray) -> np.ndarray:
    """Per-column count of a bool matrix, int64: in uint8 over blocks of 255 rows (exact,
    and several times faster than an int64 sum down the columns), then across blocks."""
    u = np.ascontiguousarray(m).view(np.uint8)
    if u.shape[1] == 0:
        return np.zeros(0, dtype=np.int64)
    whole = len(u) - len(u) % _UINT8_TERMS
    out = u[whole:].sum(axis=0, dtype=np.int64)
    if whole:
        blocks = u[:whole].reshape(-1, _UINT8_TERMS, u.shape[1])
        out += np.einsum("ijk->ik", blocks).sum(axis=0, dtype=np.int64)
    return out


def _metrics(truth: np.ndarray, pred: np.ndarray, class_names: Sequence[str]) -> dict:
    hits = truth & pred
    tp = _column_sums(hits)
    true_sum = _column_sums(truth)
    pred_sum = _column_sums(pred)

    precision = _ratio(tp, pred_sum)
    recall = _ratio(tp, true_sum)
    f1 = _ratio(2 * tp, true_sum + pred_sum)

    tp_all, true_all, pred_all = tp.sum(), true_sum.sum(), pred_sum.sum()
    micro_p = float(_ratio(tp_all, pred_all))
    micro_r = float(_ratio(tp_all, true_all))
    micro_f1 = float(_ratio(2 * tp_all, true_all + pred_all))

    # Per clip F1, averaged over clips (sklearn average="samples", zero_division=0).
    sample_f1 = _ratio(2 * _row_sums(hits), _row_sums(truth) + _row_sums(pred))
    n_items = int(truth.shape[0])
    return {
        "track": TRACK,
        "primary_metric": "macro_f1",
        "macro_f1": float(f1.mean()) if f1.size else 0.0,
        "macro_precision": float(precision.mean()) if precision.size else 0.0,
        "macro_recall": float(recall.mean()) if recall.size else 0.0,
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "micro_f1": micro_f1,
        "samples_f1": float(sample_f1.mean()) if n_items else 0.0,
        "n_items": n_items,
        "per_class": [
            {
                "class_id": c,
                "name": name,
                "precision": float(precision[c]),
                "recall": float(recall[c]),
                "f1": float(f1[c]),
                "support": int(true_sum[c]),
            }
            for c, name in enumerate(class_names)
        ],
    }


def score(
    labels: RecognitionLabels, source: bytes | BinaryIO, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict:
    """Validate ``answer.txt`` (plain, gzip or zipped) and score it against ``labels``."""
    return evaluate(labels, source, max_bytes=max_bytes)[0]


Scored = tuple[dict, np.ndarray | None]


def evaluate(
    labels: RecognitionLabels,
    source: bytes | BinaryIO,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    replicates: int = 0,
    seed: int = 0,
) -> tuple[dict, np.ndarray | None, dict[str, Scored] | None]:
    """Scores and macro F1 per resample (None unless ``replicates`` > 0), on every clip
    and, when the labels are split, on each split (resampled within the split)."""
    predictions = validate(labels, source, max_bytes=max_bytes)
    # Both matrices hold only 0 and 1 (checked on the way in), so a bool view is exact.
    truth, pred = labels.Y.view(np.bool_), predictions.view(np.bool_)
    scores, reps = _scored(truth, pred, labels.class_names, replicates=replicates, seed=seed)
    if labels.split is None:
        return scores, reps, None
    splits = {}
    for code, name in enumerate(SPLITS):
        rows = np.flatnonzero(labels.split == code)
        splits[name] = _scored(
            truth[rows],
            pred[rows],
            labels.class_names,
            replicates=replicates,
            seed=split_seed(seed, name),
        )
    return scores, reps, splits


def _scored(
    truth: np.ndarray,
    pred: np.ndarray,
    class_names: Sequence[str],
    *,
    replicates: int,
    seed: int | list[int],
) -> Scored:
    scores = _metrics(truth, pred, class_names)
    if replicates <= 0:
        return scores, None
    counts = resample_counts(len(truth), replicates=replicates, seed=seed)
    return scores, macro_f1_replicates(truth, pred, counts)
