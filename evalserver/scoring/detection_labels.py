"""Ground truth of the detection track: loading, validating and storing it columnar.

A label file is the recognition record list plus ``tubes`` per record (SPEC,
"Detection"). It is validated once, on upload, and kept as a handful of numpy
arrays so that scoring never touches Python objects per box.
"""

from __future__ import annotations

import io
import json
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .errors import LabelsInvalid, refuse_public_list
from .splits import SPLITS, read_splits

# Enough to fix a file in a few rounds without burying the reader.
MAX_REPORTED_PROBLEMS = 50
# Bumped whenever the stored npz layout changes, so stale blobs fail loudly.
_FORMAT_VERSION = 1
_ARRAYS = (
    "class_names",
    "clip_ids",
    "clip_dims",
    "tube_clip",
    "tube_class",
    "tube_start",
    "tube_end",
    "box_tube",
    "box_frame",
    "boxes",
)


def cap_problems(problems: Sequence[str], total: int | None = None) -> list[str]:
    """The first ``MAX_REPORTED_PROBLEMS`` messages plus a count of the rest."""
    total = len(problems) if total is None else total
    shown = list(problems[:MAX_REPORTED_PROBLEMS])
    if total > len(shown):
        shown.append(f"... and {total - len(shown)} more problems")
    return shown


@dataclass(frozen=True, eq=False)
class DetectionLabels:
    """Hidden ground truth of one detection phase, in columnar form.

    Tubes are in label-file order (record, then tube); boxes are grouped by tube,
    one per frame from ``start`` to ``end``, so tube ``t`` owns the boxes
    ``tube_box_start[t] : tube_box_start[t] + end - start + 1``. Label-file order is
    also the tie-break when a detection overlaps two ground-truth items equally.
    """

    class_names: tuple[str, ...]
    clip_ids: np.ndarray  # (clips,) str, label-file order
    clip_dims: np.ndarray  # (clips, 3) int64: frames, width, height
    tube_clip: np.ndarray  # (tubes,) int64 row into clip_ids
    tube_class: np.ndarray  # (tubes,) int64 class id
    tube_start: np.ndarray  # (tubes,) int64 first frame, inclusive
    tube_end: np.ndarray  # (tubes,) int64 last frame, inclusive
    box_tube: np.ndarray  # (boxes,) int64 owning tube
    box_frame: np.ndarray  # (boxes,) int64 frame index
    boxes: np.ndarray  # (boxes, 4) float64 x1, y1, x2, y2
    # (clips,) uint8: 0 public, 1 private (see .splits); None when the labels have no split.
    clip_split: np.ndarray | None = None

    @property
    def n_items(self) -> int:
        """Number of clips: what ``n_items`` in the score JSON counts."""
        return len(self.clip_ids)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def tube_box_start(self) -> np.ndarray:
        lengths = self.tube_end - self.tube_start + 1
        return np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)

    def to_bytes(self) -> bytes:
        """A compact npz blob (no pickles) for storing next to the phase."""
        buf = io.BytesIO()
        # Optional, so blobs stored before splits existed still read.
        extra = {} if self.clip_split is None else {"clip_split": self.clip_split}
        np.savez(
            buf,
            **extra,
            format_version=np.array(_FORMAT_VERSION),
            class_names=np.array(self.class_names, dtype=str),
            clip_ids=self.clip_ids,
            clip_dims=self.clip_dims,
            tube_clip=self.tube_clip,
            tube_class=self.tube_class,
            tube_start=self.tube_start,
            tube_end=self.tube_end,
            box_tube=self.box_tube,
            box_frame=self.box_frame,
            boxes=self.boxes,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> DetectionLabels:
        """Inverse of :meth:`to_bytes`; a damaged blob raises ``LabelsInvalid``."""
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
                version = int(npz["format_version"])
                arrays = {name: npz[name] for name in _ARRAYS}
                clip_split = npz["clip_split"] if "clip_split" in npz.files else None
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise LabelsInvalid([f"stored detection labels are unreadable: {exc}"]) from None
        if version != _FORMAT_VERSION:
            raise LabelsInvalid(
                [f"stored detection labels have format {version}, expected {_FORMAT_VERSION}"]
            )
        labels = cls(
            class_names=tuple(str(n) for n in arrays.pop("class_names")),
            clip_ids=arrays.pop("clip_ids").astype(str),
            **{k: v.astype(np.float64 if k == "boxes" else np.int64) for k, v in arrays.items()},
            clip_split=None if clip_split is None else clip_split.astype(np.uint8),
        )
        n_tubes = len(labels.tube_clip)
        n_boxes = int((labels.tube_end - labels.tube_start + 1).sum()) if n_tubes else 0
        consistent = (
            labels.clip_dims.shape == (labels.n_items, 3)
            and all(
                len(a) == n_tubes for a in (labels.tube_class, labels.tube_start, labels.tube_end)
            )
            and labels.boxes.shape == (n_boxes, 4)
            and len(labels.box_tube) == n_boxes
            and len(labels.box_frame) == n_boxes
            and (
                labels.clip_split is None
                or (
                    labels.clip_split.shape == (labels.n_items,)
                    and int(labels.clip_split.max(initial=0)) < len(SPLITS)
                )
            )
        )
        if not consistent:
            raise LabelsInvalid(["stored detection labels are inconsistent; re-import the phase"])
        return labels


def _describe(index: int, record: Any) -> str:
    clip_id = record.get("id") if isinstance(record, dict) else None
    return f"record {index} (id {clip_id!r})" if isinstance(clip_id, str) else f"record {index}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_boxes(
    where: str, raw: Any, start: int, n_frames: int, width: int, height: int
) -> tuple[np.ndarray | None, list[str]]:
    """Validate one tube's ``boxes``; return them as an (n, 4) float array or problems."""
    if not isinstance(raw, list):
        return None, [f"{where}: 'boxes' must be a list of [x1, y1, x2, y2]"]
    if len(raw) != n_frames:
        return None, [
            f"{where}: has {len(raw)} boxes but start..end spans {n_frames} frames "
            "(one box per frame is required)"
        ]
    try:
        boxes = np.asarray(raw)
    except ValueError:
        boxes = None
    # Strings and booleans would convert silently with dtype=float; refuse them instead.
    if boxes is None or boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.dtype.kind not in "iuf":
        return None, [f"{where}: every box must be a list of four numbers [x1, y1, x2, y2]"]
    boxes = boxes.astype(np.float64)
    x1, y1, x2, y2 = boxes.T
    problems = []
    bad_finite = ~np.isfinite(boxes).all(axis=1)
    degenerate = ~bad_finite & ((x2 <= x1) | (y2 <= y1))
    outside = ~bad_finite & ((x1 < 0) | (y1 < 0) | (x2 > width) | (y2 > height))
    for mask, what in (
        (bad_finite, "is not finite"),
        (degenerate, "is degenerate (needs x2 > x1 and y2 > y1)"),
        (outside, f"lies outside the {width}x{height} frame"),
    ):
        for i in np.flatnonzero(mask)[:3]:
            box = [float(v) if not float(v).is_integer() else int(v) for v in boxes[i]]
            problems.append(f"{where} frame {start + int(i)}: box {box} {what}")
        if mask.sum() > 3:
            problems.append(f"{where}: {int(mask.sum()) - 3} more boxes that {what}")
    return (None if problems else boxes), problems


def _refuse_without_tubes(records: list[Any]) -> None:
    """One message, not one per record, when the file has no tubes at all.

    That is a recognition file given to a detection phase (or a file of the wrong
    shape), and fifty identical "'tubes' must be a list" lines would hide it.
    """
    objects = [r for r in records if isinstance(r, dict)]
    if not objects or any("tubes" in r for r in objects):
        return
    need = (
        "detection phases need a 'tubes' list in every record, one tube per actor and "
        "action ({'label', 'start', 'end', 'boxes'}; empty for a clip with no action)"
    )
    # Records with neither 'label' nor 'tubes' were refused before as the public clip list.
    raise LabelsInvalid(
        [f"this looks like a recognition label file: no record has 'tubes'; {need}"]
    )


def load_labels(data: bytes, class_names: Sequence[str]) -> DetectionLabels:
    """Parse and validate a detection label file (JSON list of records with ``tubes``).

    Every record needs ``id`` (a string, unique), ``dim`` ``[frames, width, height]``
    and ``tubes`` (a list, possibly empty: a clip with no action). Each tube needs a
    known ``label`` name, ``start <= end`` inside ``[0, frames - 1]`` and exactly one
    ``[x1, y1, x2, y2]`` per frame with ``0 <= x1 < x2 <= width`` and
    ``0 <= y1 < y2 <= height``. Unknown keys are ignored. All problems are reported
    together (capped), each naming its record and tube (both counted from 1) and clip id;
    a file in which no record has ``tubes`` gets one message instead.
    """
    try:
        records = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelsInvalid([f"detection labels are not valid JSON: {exc}"]) from None
    if not isinstance(records, list):
        raise LabelsInvalid(["detection labels must be a JSON list of clip records"])
    refuse_public_list(records)
    _refuse_without_tubes(records)
    class_ids = {name: i for i, name in enumerate(class_names)}

    problems: list[str] = []
    # Aligned with the records; when any record is unusable the file is refused anyway.
    clip_split = read_splits(records, problems)
    clip_ids: list[str] = []
    dims: list[tuple[int, int, int]] = []
    seen: dict[str, int] = {}
    tube_clip: list[int] = []
    tube_class: list[int] = []
    tube_start: list[int] = []
    tube_end: list[int] = []
    tube_boxes: list[np.ndarray] = []

    # Records and tubes count from 1, as in the recognition messages; frames stay 0-based:
    # they are positions in the data ('start', 'end'), which the label file gives 0-based.
    for index, record in enumerate(records, 1):
        where = _describe(index, record)
        if not isinstance(record, dict):
            problems.append(f"{where}: must be a JSON object")
            continue
        clip_id = record.get("id")
        if not isinstance(clip_id, str) or not clip_id:
            problems.append(f"{where}: 'id' must be a non-empty string")
            continue
        if "\x00" in clip_id:
            # No submission line may hold a NUL; and numpy's strings drop trailing ones,
            # which would make "7" and "7\x00" one id.
            problems.append(f"{where}: 'id' must not contain a NUL character")
            continue
        if clip_id in seen:
            problems.append(f"{where}: duplicate clip id (first in record {seen[clip_id]})")
            continue
        seen[clip_id] = index
        dim = record.get("dim")
        if not (isinstance(dim, list) and len(dim) == 3 and all(_is_int(v) and v > 0 for v in dim)):
            problems.append(f"{where}: 'dim' must be [frames, width, height], positive integers")
            continue
        n_frames, width, height = dim
        tubes = record.get("tubes")
        if not isinstance(tubes, list):
            # A missing key most likely means a recognition file was given by mistake.
            problems.append(f"{where}: 'tubes' must be a list (empty for a clip with no action)")
            continue
        clip_row = len(clip_ids)
        clip_ids.append(clip_id)
        dims.append((n_frames, width, height))

        for t, tube in enumerate(tubes, 1):
            twhere = f"{where} tube {t}"
            if not isinstance(tube, dict):
                problems.append(f"{twhere}: must be a JSON object")
                continue
            label = tube.get("label")
            start, end = tube.get("start"), tube.get("end")
            tube_problems = []
            if not isinstance(label, str) or label not in class_ids:
                tube_problems.append(f"{twhere}: unknown label {label!r}")
            if not (_is_int(start) and _is_int(end)):
                tube_problems.append(f"{twhere}: 'start' and 'end' must be integer frame indices")
            elif end < start:
                tube_problems.append(f"{twhere}: end {end} is before start {start}")
            elif start < 0 or end > n_frames - 1:
                tube_problems.append(
                    f"{twhere}: frames {start}..{end} fall outside the clip (0..{n_frames - 1})"
                )
            if tube_problems:
                problems.extend(tube_problems)
                continue
            boxes, box_problems = _check_boxes(
                twhere, tube.get("boxes"), start, end - start + 1, width, height
            )
            if boxes is None:
                problems.extend(box_problems)
                continue
            tube_clip.append(clip_row)
            tube_class.append(class_ids[label])
            tube_start.append(start)
            tube_end.append(end)
            tube_boxes.append(boxes)

    if problems:
        raise LabelsInvalid(cap_problems(problems))

    starts = np.array(tube_start, dtype=np.int64)
    ends = np.array(tube_end, dtype=np.int64)
    lengths = ends - starts + 1
    n_boxes = int(lengths.sum())
    box_tube = np.repeat(np.arange(len(starts), dtype=np.int64), lengths)
    first_box = np.cumsum(lengths) - lengths
    box_frame = np.arange(n_boxes, dtype=np.int64) - np.repeat(first_box - starts, lengths)
    return DetectionLabels(
        class_names=tuple(class_names),
        clip_ids=np.array(clip_ids, dtype=str),
        clip_dims=np.array(dims, dtype=np.int64).reshape(-1, 3),
        tube_clip=np.array(tube_clip, dtype=np.int64),
        tube_class=np.array(tube_class, dtype=np.int64),
        tube_start=starts,
        tube_end=ends,
        box_tube=box_tube,
        box_frame=box_frame,
        boxes=(np.concatenate(tube_boxes) if tube_boxes else np.empty((0, 4), dtype=np.float64)),
        clip_split=clip_split,
    )


_Built = TypeVar("_Built")


def per_labels(build: Callable[[DetectionLabels], _Built]) -> Callable[[DetectionLabels], _Built]:
    """``build(labels)`` made once per labels object: labels are immutable and scored many
    times in a worker, and what is built from them dies with them."""
    made: weakref.WeakKeyDictionary[DetectionLabels, _Built] = weakref.WeakKeyDictionary()

    def get(labels: DetectionLabels) -> _Built:
        found = made.get(labels)
        if found is None:
            found = made[labels] = build(labels)
        return found

    return get
