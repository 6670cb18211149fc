"""Builders for detection fixtures: label JSON, submission CSVs and random cases."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

HEADER = "video_id,tube_id,frame,class,score,x1,y1,x2,y2"
# A small class map makes same-class tubes in one clip (the hard matching cases) common.
SMALL_CLASSES = ("walk", "run", "wave", "idle")

Box = Sequence[float]


def gt_tube(label: str, start: int, boxes: Sequence[Box]) -> dict:
    """A ground-truth tube covering frames start..start+len(boxes)-1."""
    return {
        "label": label,
        "start": start,
        "end": start + len(boxes) - 1,
        "boxes": [list(b) for b in boxes],
    }


def clip(clip_id: str, tubes: Sequence[dict], *, frames: int = 20, size: int = 100) -> dict:
    """A detection record, with the extra keys real files carry."""
    return {
        "id": clip_id,
        "video_id": "VIRAT_S_000001",
        "path": f"VIRAT_S_000001/{clip_id}.mp4",
        "dim": [frames, size, size],
        "label": sorted({t["label"] for t in tubes}),
        "tubes": list(tubes),
    }


def labels_json(records: Sequence[dict]) -> bytes:
    return json.dumps(list(records), indent=1).encode()


def fmt(value: float | int | str) -> str:
    """Floats as repr, which round-trips exactly; anything else as str."""
    return repr(value) if isinstance(value, float) else str(value)


Row = tuple[str, int, int, str | int, float, float, float, float, float]


def tube_rows(
    video: str,
    tube_id: int,
    cls: str | int,
    start: int,
    boxes: Sequence[Box],
    score: float | Sequence[float],
) -> list[Row]:
    """Rows of a predicted tube on consecutive frames from ``start``."""
    scores = [score] * len(boxes) if isinstance(score, int | float) else list(score)
    return [
        (video, tube_id, start + i, cls, s, *box)  # type: ignore[misc]
        for i, (box, s) in enumerate(zip(boxes, scores, strict=True))
    ]


def csv_bytes(
    rows: Iterable[Sequence[object]], *, header: str = HEADER, eol: str = "\n", bom: bool = False
) -> bytes:
    lines = [header, *(",".join(fmt(v) for v in row) for row in rows)]  # type: ignore[arg-type]
    text = eol.join(lines) + eol
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def shifted(box: Box, dx: float = 0.0, dy: float = 0.0) -> list[float]:
    x1, y1, x2, y2 = box
    return [x1 + dx, y1 + dy, x2 + dx, y2 + dy]


# --- random cases ---------------------------------------------------------------------


@dataclass
class RandomCase:
    class_names: tuple[str, ...]
    records: list[dict]
    rows: list[Row] = field(default_factory=list)

    def labels(self) -> bytes:
        return labels_json(self.records)

    def csv(self, **kwargs: object) -> bytes:
        return csv_bytes(self.rows, **kwargs)  # type: ignore[arg-type]


def _random_track(rng: random.Random, n: int, width: int, height: int) -> list[list[float]]:
    """A box drifting inside a width x height frame for n frames."""
    w = rng.uniform(4, width / 2)
    h = rng.uniform(4, height / 2)
    x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
    boxes = []
    for _ in range(n):
        x = min(max(x + rng.uniform(-1.5, 1.5), 0.0), width - w)
        y = min(max(y + rng.uniform(-1.5, 1.5), 0.0), height - h)
        boxes.append([round(x, 2), round(y, 2), round(x + w, 2), round(y + h, 2)])
    return boxes


def _jitter(rng: random.Random, box: Box, amount: float | str) -> list[float]:
    """A noisy copy of ``box``: its IoU with the original lands on both sides of 0.5.

    ``"half"`` doubles the height: IoU exactly 0.5 for integer boxes (>= counts).
    ``"nudge"`` moves it 1 px right: midway between a tube and its twin 2 px away,
    an exact tie that must go to the first in the label file.
    """
    x1, y1, x2, y2 = box
    if amount == "half":
        return [x1, y1, x2, y2 + (y2 - y1)]
    if amount == "nudge":
        return [x1 + 1, y1, x2 + 1, y2]
    assert isinstance(amount, float)
    w, h = x2 - x1, y2 - y1
    nx1 = x1 + rng.uniform(-amount, amount) * w
    ny1 = y1 + rng.uniform(-amount, amount) * h
    nx2 = max(x2 + rng.uniform(-amount, amount) * w, nx1 + 0.5)
    ny2 = max(y2 + rng.uniform(-amount, amount) * h, ny1 + 0.5)
    return [round(nx1, 3), round(ny1, 3), round(nx2, 3), round(ny2, 3)]


def _score(rng: random.Random) -> float:
    # Half the time from a coarse grid, so score ties (file order decides) are frequent.
    return rng.choice((0.25, 0.5, 0.75, 1.0, 0.0)) if rng.random() < 0.5 else rng.random()


def random_case(seed: int, *, max_clips: int = 4, class_names: Sequence[str] = SMALL_CLASSES):
    """Ground truth and a messy submission exercising every matching rule.

    Clips hold several tubes of one class (candidate ties, VOC "best is taken"),
    predictions are noisy copies of ground truth with shifted spans, dropped frames,
    wrong classes and duplicates, plus pure false tubes, scores with many ties and
    rows shuffled so that file order matters.
    """
    rng = random.Random(seed)
    names = tuple(class_names)
    records = []
    for c in range(rng.randint(1, max_clips)):
        frames = rng.randint(3, 16)
        width, height = rng.randint(20, 80), rng.randint(20, 80)
        tubes = []
        for _ in range(rng.randint(0, 4)):
            start = rng.randint(0, frames - 1)
            end = rng.randint(start, frames - 1)
            if tubes and rng.random() < 0.15:
                # An exact duplicate: equal overlaps must go to the first in the file.
                tubes.append(dict(tubes[-1]))
                continue
            if tubes and rng.random() < 0.2:
                # A twin 2 px to the right (or left), of the same class and span.
                twin = tubes[-1]
                dx = 2 if all(b[2] + 2 <= width for b in twin["boxes"]) else -2
                if all(b[0] + dx >= 0 for b in twin["boxes"]):
                    boxes = [shifted(b, dx) for b in twin["boxes"]]
                    tubes.append(gt_tube(twin["label"], twin["start"], boxes))
                    continue
            boxes = _random_track(rng, end - start + 1, width, height)
            if rng.random() < 0.4:
                # Whole pixels make exact IoU values (0.5, ties) possible.
                boxes = [[float(round(v)) for v in b] for b in boxes]
                boxes = [b if b[2] > b[0] and b[3] > b[1] else [0, 0, 1, 1] for b in boxes]
            tubes.append(gt_tube(rng.choice(names), start, boxes))
        records.append({"id": f"{c * 7 + 3:05d}", "dim": [frames, width, height], "tubes": tubes})

    rows: list[Row] = []
    for record in records:
        frames, width, height = record["dim"]
        video = record["id"]
        n_pred = rng.randint(0, 6)
        for tube_id in range(n_pred):
            cls: str | int = rng.choice(names)
            if record["tubes"] and rng.random() < 0.75:
                source = rng.choice(record["tubes"])
                if rng.random() < 0.85:
                    cls = source["label"]
                shift = rng.randint(-2, 2)
                start = min(max(source["start"] + shift, 0), frames - 1)
                end = min(max(source["end"] + rng.randint(-2, 2), start), frames - 1)
                amount = rng.choice((0.0, 0.05, 0.15, 0.3, "half", "nudge"))
                boxes = []
                for f in range(start, end + 1):
                    k = min(max(f - source["start"], 0), len(source["boxes"]) - 1)
                    boxes.append(_jitter(rng, source["boxes"][k], amount))
            else:
                start = rng.randint(0, frames - 1)
                end = rng.randint(start, frames - 1)
                boxes = _random_track(rng, end - start + 1, width, height)
            if rng.random() < 0.5:
                cls = names.index(cls) if isinstance(cls, str) else cls
            tube_score = _score(rng)
            per_row = rng.random() < 0.5
            for i, box in enumerate(boxes):
                if i and rng.random() < 0.15:
                    continue  # a dropped frame: a gap inside the predicted span
                s = _score(rng) if per_row else tube_score
                rows.append((video, tube_id, start + i, cls, s, *box))  # type: ignore[arg-type]
            if rng.random() < 0.1:
                # A duplicate tube under another id.
                dup_id = n_pred + tube_id
                copies = [(video, dup_id, *row[2:]) for row in rows if row[:2] == (video, tube_id)]
                rows.extend(copies)  # type: ignore[arg-type]
    if rng.random() < 0.7:
        rng.shuffle(rows)
    return RandomCase(class_names=names, records=records, rows=rows)
