"""The TinyActions 2022 detection layout: a zip of ``<clip_id>/pred.pkl`` files, read safely.

Each ``pred.pkl`` maps a 1-based class id to an array of shape (n_tubes, 4T + 1), T the
clip's frame count: per frame a normalised ``[x1, y1, x2, y2]`` (all four -1 where the
tube has no box on that frame), the last column the tube's score. The clip's ``dim``
(``[frames, width, height]``) turns the boxes into pixels. The result is the same
in-memory structure the CSV reader produces (:class:`.detection_csv.SubmissionRows`),
so both layouts are scored by the same code; rows come clip by clip (archive order),
class by class (ascending id), tube by tube, frame by frame, which is also the order
``tinyactions convert-2022`` writes them in, so a zip and its CSV score identically.

**Pickles are never loaded with** ``pickle.load``. :class:`SafeUnpickler` admits only
the globals this layout needs, each replaced by a guarded stand-in:

- ``collections.defaultdict`` (its factory ``list``/``dict``/... only as an inert
  marker, never called) and plain dicts;
- numpy's array reconstruction (``numpy.core``/``numpy._core`` ``multiarray._reconstruct``,
  ``numeric._frombuffer``, ``multiarray.scalar``), ``numpy.ndarray`` as an inert marker and
  ``numpy.dtype`` for plain numeric types only;
- ``_codecs.encode(text, 'latin1')`` and ``bytes()``, with which protocol 2 writes bytes.

Everything else (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ``pickle.loads``,
``numpy.load``...) is refused with an error naming the file, before it is called. An
array's shape and dtype are checked against its raw data and the byte cap *before*
numpy allocates it; the raw data was itself read under the member's byte cap, so memory
stays within a small multiple of the cap whatever the pickle declares.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

import numpy as np

from .archive import iter_zip_members, zip_member_names
from .detection_csv import SubmissionRows
from .detection_labels import MAX_REPORTED_PROBLEMS, cap_problems
from .errors import SubmissionInvalid

PRED_FILE = "pred.pkl"
# One clip's predictions: 26 classes x a few hundred tubes x (4 x 200 + 1) float64 is
# ~40 MB; anything far beyond is not a prediction file.
MAX_PICKLE_BYTES = 64 << 20
# A real pred.pkl needs a few dozen operations per array (26 classes: about a thousand).
MAX_OPCODES = 100_000
# TinyActions test sets have 6,097 clips; a little headroom for other challenges.
MAX_CLIPS = 50_000
# Numeric dtypes an array of boxes and scores may have.
_DTYPES = frozenset(
    ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"]
    + [p + c for p in "<>=|" for c in ("f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2")]
    + [p + c for p in "<>=|" for c in ("u4", "u8", "b1")]
)


class UnsafePickle(Exception):
    """The pickle asks for something outside the layout; never executed."""


class _Inert:
    """What a refused-to-call global stands for: an argument marker, never callable."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_NDARRAY = _Inert("numpy.ndarray")
_FACTORIES = {
    name: _Inert(name) for name in ("list", "dict", "int", "float", "set", "tuple", "object")
}


def _check_dtype(dtype: Any) -> np.dtype:
    if not isinstance(dtype, np.dtype):
        raise UnsafePickle(f"an array's dtype is {type(dtype).__name__}, not a numpy dtype")
    if dtype.kind not in "fiub" or dtype.fields is not None or dtype.hasobject:
        raise UnsafePickle(f"an array of dtype {dtype} (only plain numbers are read)")
    if dtype.itemsize > 8 or dtype.subdtype is not None:
        raise UnsafePickle(f"an array of dtype {dtype} (only plain numbers are read)")
    return dtype


def _check_shape(shape: Any) -> tuple[int, ...]:
    if not isinstance(shape, tuple) or len(shape) > 2:
        raise UnsafePickle(f"an array of shape {shape!r} (expected (tubes, 4T + 1))")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise UnsafePickle(f"an array of shape {shape!r} (expected (tubes, 4T + 1))")
    return shape


class SafeUnpickler(pickle.Unpickler):
    """An unpickler for dicts of numeric numpy arrays, and nothing else.

    ``max_bytes`` caps the raw array data of the whole file, checked from each array's
    declared shape and dtype before numpy allocates anything.
    """

    def __init__(self, file: BinaryIO, *, max_bytes: int) -> None:
        super().__init__(file)
        self._budget = max_bytes
        unpickler = self

        class GuardedArray(np.ndarray):
            """A 0-size placeholder whose ``__setstate__`` checks before numpy allocates."""

            def __setstate__(self, state: Any) -> None:  # type: ignore[override]
                if not isinstance(state, tuple) or len(state) not in (4, 5):
                    raise UnsafePickle("an array with an unexpected state")
                shape, dtype, rawdata = state[-4], state[-3], state[-1]
                _check_shape(shape)
                _check_dtype(dtype)
                if not isinstance(rawdata, bytes | bytearray):
                    raise UnsafePickle("an array without raw numeric data")
                nbytes = math.prod(shape) * dtype.itemsize
                if nbytes != len(rawdata):
                    raise UnsafePickle(
                        f"an array declaring shape {shape} of {dtype} ({nbytes} bytes) "
                        f"with {len(rawdata)} bytes of data"
                    )
                unpickler._spend(nbytes)
                super().__setstate__(state)

        self._guarded = GuardedArray
        reconstruct, frombuffer, scalar = self._reconstruct, self._frombuffer, self._scalar
        self._allowed: dict[tuple[str, str], Any] = {
            ("collections", "defaultdict"): self._defaultdict,
            ("numpy", "ndarray"): _NDARRAY,
            ("numpy", "dtype"): self._dtype,
            ("_codecs", "encode"): self._encode,
            ("builtins", "bytes"): self._bytes,
            ("__builtin__", "bytes"): self._bytes,
        }
        for core in ("numpy.core", "numpy._core"):
            self._allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
            self._allowed[(f"{core}.multiarray", "scalar")] = scalar
            self._allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
        for module in ("builtins", "__builtin__"):
            for name, marker in _FACTORIES.items():
                self._allowed[(module, name)] = marker

    # -- the allowed globals' stand-ins --------------------------------------------------

    def _spend(self, nbytes: int) -> None:
        if nbytes > self._budget:
            raise UnsafePickle("its arrays hold more data than the limit for one file")
        self._budget -= nbytes

    def _defaultdict(self, factory: Any = None, *rest: Any) -> dict:
        if rest or not (factory is None or isinstance(factory, _Inert)):
            raise UnsafePickle("a defaultdict with an unexpected factory")
        return {}

    def _dtype(self, spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
        if not isinstance(spec, str) or spec not in _DTYPES:
            raise UnsafePickle(f"a dtype {spec!r} (only plain numbers are read)")
        return np.dtype(spec)

    def _encode(self, text: Any, encoding: Any = "utf-8") -> bytes:
        if not isinstance(text, str) or encoding != "latin1":
            raise UnsafePickle("a call to _codecs.encode other than protocol 2's bytes")
        return text.encode("latin1")

    def _bytes(self, *args: Any) -> bytes:
        if args:
            raise UnsafePickle("a call to bytes() with arguments")
        return b""

    def _reconstruct(self, subtype: Any, shape: Any, dtype_code: Any) -> np.ndarray:
        # numpy pickles every array as _reconstruct(ndarray, (0,), b'b') + __setstate__.
        if subtype is not _NDARRAY or shape != (0,) or dtype_code not in (b"b", "b"):
            raise UnsafePickle("an array reconstruction with unexpected arguments")
        return np.ndarray.__new__(self._guarded, (0,), "b")

    def _frombuffer(self, buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        _check_shape(shape)
        _check_dtype(dtype)
        if not isinstance(buf, bytes | bytearray) or order not in ("C", "F"):
            raise UnsafePickle("an array from an unexpected buffer")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes != len(buf):
            raise UnsafePickle(
                f"an array declaring shape {shape} of {dtype} ({nbytes} bytes) "
                f"with {len(buf)} bytes of data"
            )
        self._spend(nbytes)
        return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).copy()

    def _scalar(self, dtype: Any, data: Any = None) -> Any:
        _check_dtype(dtype)
        if not isinstance(data, bytes) or len(data) != dtype.itemsize:
            raise UnsafePickle("a numpy scalar with unexpected data")
        return np.frombuffer(data, dtype=dtype)[0]

    # -- the pickle machinery ----------------------------------------------------------------

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickle(f"it asks for {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickle("it uses persistent ids")


def load_pickle(data: bytes, *, max_bytes: int = MAX_PICKLE_BYTES) -> Any:
    """Unpickle ``data`` with :class:`SafeUnpickler`; raises ``UnsafePickle`` or ``ValueError``.

    Arrays come back as plain ``np.ndarray``.
    """
    if len(data) > max_bytes:
        raise UnsafePickle(f"it is larger than the limit of {max_bytes} bytes")
    _count_opcodes(data, MAX_OPCODES)
    try:
        obj = SafeUnpickler(io.BytesIO(data), max_bytes=max_bytes).load()
    except UnsafePickle:
        raise
    except RecursionError:
        raise ValueError("it nests too deeply") from None
    except (pickle.UnpicklingError, EOFError) as exc:
        raise ValueError(f"it is not a complete pickle ({exc or 'truncated'})") from None
    except (TypeError, ValueError, AttributeError, IndexError, KeyError, OverflowError) as exc:
        raise ValueError(f"it is not a valid pickle ({type(exc).__name__}: {exc})") from None
    except MemoryError:
        raise ValueError("it needs more memory than it may use") from None
    return _plain(obj)


def _plain(obj: Any) -> Any:
    """Arrays at the top or one level down as plain ndarrays (nothing deeper is valid)."""
    if isinstance(obj, np.ndarray):
        return obj.view(np.ndarray)
    if isinstance(obj, dict):
        return {k: v.view(np.ndarray) if isinstance(v, np.ndarray) else v for k, v in obj.items()}
    return obj


def _count_opcodes(data: bytes, limit: int) -> None:
    """Refuse a pickle of more than ``limit`` opcodes, or a malformed one, before loading.

    Objects built from one-byte opcodes (an empty dict is 64 bytes of memory for one byte
    of pickle) could otherwise turn the byte cap into tens of times as much memory; a
    real prediction file needs a few dozen opcodes per array. Nothing is executed here.
    """
    try:
        for n, _ in enumerate(pickletools.genops(data), 1):
            if n > limit:
                raise UnsafePickle(f"it has more than {limit} pickle operations")
    except UnsafePickle:
        raise
    except Exception as exc:  # genops raises ValueError, and others on garbage
        raise ValueError(f"it is not a complete pickle ({exc or 'truncated'})") from None


# --- from pickles to rows -------------------------------------------------------------------


class ClipTable(Protocol):
    """What the reader needs of the phase: DetectionLabels, or a public clip list."""

    class_names: tuple[str, ...]
    clip_ids: np.ndarray
    clip_dims: np.ndarray


@dataclass(frozen=True)
class PublicClips:
    """Clip ids and dims of a public test list (no labels): enough to read a 2022 zip."""

    class_names: tuple[str, ...]
    clip_ids: np.ndarray
    clip_dims: np.ndarray


@dataclass
class ReadResult:
    rows: SubmissionRows
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Dropped:
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, n: int, where: Iterable[str]) -> None:
        self.count += n
        for w in where:
            if len(self.examples) >= 5:
                break
            self.examples.append(w)


def looks_like_2022(source: bytes | BinaryIO) -> bool:
    """Whether ``source`` is a zip holding pickles (the 2022 layout, maybe misnamed)."""
    names = zip_member_names(source)
    return bool(names) and any(n.lower().endswith(".pkl") for n in names)


def _clip_of(name: str) -> str | None:
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    if len(parts) < 2 or parts[-1] != PRED_FILE:
        return None
    return parts[-2]


def _class_id(key: Any) -> int | None:
    if isinstance(key, bool | np.bool_):
        return None
    if isinstance(key, int | np.integer):
        return int(key)
    return None


def read_zip(
    source: bytes | BinaryIO,
    clips: ClipTable,
    *,
    max_bytes: int,
    max_pickle_bytes: int = MAX_PICKLE_BYTES,
) -> ReadResult:
    """Read a 2022-layout zip into rows; raise ``SubmissionInvalid`` listing the problems.

    Every problem names its file or clip: a refused pickle, a clip id absent from the
    phase, a wrong T, a class id outside the class map, a non-finite value or a score
    outside [0, 1]. Degenerate boxes (x2 <= x1 or y2 <= y1 once in pixels) are left out
    and counted in a warning; a tube left with no box is left out with them.
    """
    row_of = {str(c): i for i, c in enumerate(clips.clip_ids)}
    dims = np.asarray(clips.clip_dims, dtype=np.int64).reshape(-1, 3)
    n_classes = len(clips.class_names)
    problems: list[str] = []
    n_problems = 0
    seen: dict[str, str] = {}
    parts: list[SubmissionRows] = []
    dropped = _Dropped()
    tube_counter = 0

    def problem(message: str) -> None:
        nonlocal n_problems
        n_problems += 1
        if len(problems) < MAX_REPORTED_PROBLEMS:
            problems.append(message)

    for name, data in iter_zip_members(
        source, max_bytes=max_bytes, max_member_bytes=max_pickle_bytes, max_members=MAX_CLIPS
    ):
        clip_id = _clip_of(name)
        if clip_id is None:
            problem(
                f"{name}: the 2022 layout holds only <clip_id>/{PRED_FILE} files "
                "(or upload one CSV instead)"
            )
            continue
        if clip_id in seen:
            problem(f"{name}: clip {clip_id} already came from {seen[clip_id]}")
            continue
        seen[clip_id] = name
        try:
            obj = load_pickle(data, max_bytes=max_pickle_bytes)
        except UnsafePickle as exc:
            problem(f"{name}: refused, never unpickled: {exc}; only dicts of numpy arrays are read")
            continue
        except ValueError as exc:
            problem(f"{name}: cannot be read: {exc}")
            continue
        row = row_of.get(clip_id)
        if row is None:
            problem(f"{name}: clip {clip_id!r} is not in this phase's clip list")
            continue
        if not isinstance(obj, dict):
            problem(
                f"{name} (clip {clip_id}): holds a {type(obj).__name__}, expected a dict "
                "from class id to an array of tubes"
            )
            continue
        n_frames, width, height = (int(v) for v in dims[row])
        expected = 4 * n_frames + 1
        for key in sorted(obj, key=lambda k: (_class_id(k) is None, _class_id(k) or 0, str(k))):
            where = f"{name} (clip {clip_id})"
            cid = _class_id(key)
            if cid is None or not 1 <= cid <= n_classes:
                problem(
                    f"{where}: class id {key!r} is outside the class map "
                    f"(1-based ids 1..{n_classes})"
                )
                continue
            arr = obj[key]
            label = clips.class_names[cid - 1]
            where = f"{where} class {cid} ({label})"
            if not isinstance(arr, np.ndarray) or arr.ndim != 2:
                shape = getattr(arr, "shape", type(arr).__name__)
                problem(f"{where}: expected an array of shape (tubes, {expected}), got {shape}")
                continue
            if arr.shape[1] != expected:
                t = (arr.shape[1] - 1) / 4
                shown = int(t) if t == int(t) else f"{t:g}"
                problem(
                    f"{where}: {arr.shape[1]} columns means T = {shown} frames, but the clip "
                    f"has {n_frames} (expected 4 x {n_frames} + 1 = {expected} columns)"
                )
                continue
            if not arr.shape[0]:
                continue
            values = arr.astype(np.float64)
            if not np.isfinite(values).all():
                tube = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0]) + 1
                problem(f"{where} tube {tube}: holds a value that is not a finite number")
                continue
            scores = values[:, -1]
            bad = np.flatnonzero((scores < 0) | (scores > 1))
            if len(bad):
                problem(
                    f"{where} tube {int(bad[0]) + 1}: score {scores[bad[0]]:g} is outside [0, 1]"
                )
                continue
            part, n_dropped, examples = _rows(
                values, row, cid - 1, width, height, tube_counter, where
            )
            tube_counter += len(values)
            dropped.add(n_dropped, examples)
            parts.append(part)
    if n_problems:
        raise SubmissionInvalid(cap_problems(problems, n_problems))
    if not seen:
        raise SubmissionInvalid([f"the zip archive holds no <clip_id>/{PRED_FILE} file"])
    warnings = []
    if dropped.count:
        warnings.append(
            f"{dropped.count} degenerate boxes (x2 <= x1 or y2 <= y1 once in pixels) were "
            f"left out, e.g. {'; '.join(dropped.examples)}"
        )
    return ReadResult(rows=SubmissionRows.concatenate(parts), warnings=warnings)


def _rows(
    values: np.ndarray,
    clip_row: int,
    cls: int,
    width: int,
    height: int,
    first_tube: int,
    where: str,
) -> tuple[SubmissionRows, int, list[str]]:
    """One (clip, class) array as rows: present frames only, boxes in pixels."""
    n_tubes = len(values)
    n_frames = (values.shape[1] - 1) // 4
    boxes = values[:, :-1].reshape(n_tubes, n_frames, 4)
    present = ~(boxes == -1.0).all(axis=2)
    scale = np.array([width, height, width, height], dtype=np.float64)
    pixels = boxes * scale
    degenerate = present & ((pixels[..., 2] <= pixels[..., 0]) | (pixels[..., 3] <= pixels[..., 1]))
    tube, frame = np.nonzero(present & ~degenerate)
    bad_tube, bad_frame = np.nonzero(degenerate)
    examples = [
        f"{where} tube {t + 1} frame {f}"
        for t, f in zip(bad_tube[:5].tolist(), bad_frame[:5].tolist(), strict=True)
    ]
    n = len(tube)
    rows = SubmissionRows(
        clip=np.full(n, clip_row, dtype=np.int64),
        tube_id=tube.astype(np.int64),
        frame=frame.astype(np.int64),
        cls=np.full(n, cls, dtype=np.int64),
        # No CSV line: the tube's position in the upload (counted from 1) stands in.
        line=(first_tube + tube + 1).astype(np.int64),
        score=values[tube, -1],
        box=np.ascontiguousarray(pixels[tube, frame].T),
    )
    return rows, len(bad_tube), examples


def public_clips(records: Sequence[Any], class_names: Sequence[str]) -> PublicClips:
    """The clip table of a public list (records with ``id`` and ``dim``); ValueError if bad."""
    ids, dims, problems = [], [], []
    for n, record in enumerate(records, 1):
        clip_id = record.get("id") if isinstance(record, dict) else None
        dim = record.get("dim") if isinstance(record, dict) else None
        ok_dim = (
            isinstance(dim, list)
            and len(dim) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in dim)
        )
        if not isinstance(clip_id, str) or not ok_dim:
            problems.append(f"record {n}: needs a string 'id' and 'dim' [frames, width, height]")
            continue
        ids.append(clip_id)
        dims.append(dim)
    if problems:
        raise ValueError("; ".join(cap_problems(problems)))
    return PublicClips(
        class_names=tuple(class_names),
        clip_ids=np.array(ids, dtype=str),
        clip_dims=np.array(dims, dtype=np.int64).reshape(-1, 3),
    )


def write_csv(rows: SubmissionRows, clips: ClipTable, out: io.TextIOBase | Any) -> int:
    """Write rows as the detection CSV (SPEC), in their order; returns the row count.

    Floats are written with ``repr``, which reads back to the same number, so the CSV
    scores exactly like the zip it came from.
    """
    from .detection_csv import HEADER

    out.write(HEADER + "\n")
    ids = [str(c) for c in clips.clip_ids]
    names = clips.class_names
    box = rows.box
    lines = []
    for k in range(len(rows)):
        lines.append(
            f"{ids[rows.clip[k]]},{rows.tube_id[k]},{rows.frame[k]},{names[rows.cls[k]]},"
            f"{float(rows.score[k])!r},{float(box[0, k])!r},{float(box[1, k])!r},"
            f"{float(box[2, k])!r},{float(box[3, k])!r}\n"
        )
        if len(lines) >= 10_000:
            out.write("".join(lines))
            lines.clear()
    out.write("".join(lines))
    return len(rows)
