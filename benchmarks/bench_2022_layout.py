"""Benchmark: reading a 2,000-clip TinyActions 2022 layout zip (<clip_id>/pred.pkl files).

Builds a synthetic phase (``--clips`` clips of 40..200 frames, fixed seed) and a zip
with, per clip, a few classes of a few tubes each (``--tubes`` per class), then times in
one process: the safe reader alone (unzip + restricted unpickling + checks + rows), the
same pickles through plain ``pickle.loads`` for the ratio (on our own trusted data:
never do this with uploads), the whole ``score`` of the zip, and the CSV conversion's
score for comparison. Prints the figures and the load average.

    .venv/bin/python benchmarks/bench_2022_layout.py [--clips 2000] [--tubes 5]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evalserver.scoring import detection  # noqa: E402
from evalserver.scoring import detection_2022 as layout  # noqa: E402
from evalserver.scoring.archive import iter_zip_members  # noqa: E402
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES  # noqa: E402

SEED = 2022


def build(rng: np.random.Generator, n_clips: int, tubes: int) -> tuple[list[dict], bytes]:
    records, members = [], {}
    for i in range(n_clips):
        n, w, h = int(rng.integers(40, 201)), 120, 120
        x, y = rng.uniform(0, 60, 2)
        box = [x, y, x + 30, y + 40]
        label_id = int(rng.integers(0, 26)) + 1
        label = TINYVIRAT_V2_CLASSES[label_id - 1]
        start = int(rng.integers(0, n // 2))
        end = int(rng.integers(start, n))
        records.append(
            {
                "id": f"{i:05d}",
                "dim": [n, w, h],
                "tubes": [
                    {"label": label, "start": start, "end": end, "boxes": [box] * (end - start + 1)}
                ],
            }
        )
        arrays = {}
        others = [c for c in rng.choice(26, size=3, replace=False) + 1 if c != label_id]
        for cid in [label_id, *others[:2]]:
            arr = np.full((tubes, 4 * n + 1), -1.0)
            for t in range(tubes):
                # The first tube of the true class follows the true span: a likely hit.
                s = start if (t == 0 and cid == label_id) else int(rng.integers(0, n))
                e = end if (t == 0 and cid == label_id) else int(rng.integers(s, n))
                jitter = rng.normal(0, 2, (e - s + 1, 4)) + box
                arr[t, 4 * s : 4 * e + 4] = (jitter / [w, h, w, h]).ravel()
                arr[t, -1] = rng.random()
            arrays[int(cid)] = arr
        members[f"{i:05d}/pred.pkl"] = pickle.dumps(arrays, protocol=4)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return records, buf.getvalue()


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--tubes", type=int, default=5, help="tubes per predicted class")
    args = parser.parse_args()

    rng = np.random.default_rng(SEED)
    records, data = build(rng, args.clips, args.tubes)
    labels = detection.load_labels(json.dumps(records).encode(), TINYVIRAT_V2_CLASSES)
    members = list(
        iter_zip_members(data, max_bytes=1 << 34, max_member_bytes=1 << 30, max_members=10**6)
    )
    raw = sum(len(d) for _, d in members)
    print(
        f"zip: {args.clips} clips, {len(data) / 2**20:.1f} MiB ({raw / 2**20:.1f} MiB of "
        f"pickles), 3 classes x {args.tubes} tubes per clip"
    )

    _, unzip = timed(
        lambda: list(
            iter_zip_members(data, max_bytes=1 << 34, max_member_bytes=1 << 30, max_members=10**6)
        )
    )
    _, trusted = timed(lambda: [pickle.loads(d) for _, d in members])  # noqa: S301 - our own data
    _, safe = timed(lambda: [layout.load_pickle(d) for _, d in members])
    read, reader = timed(lambda: layout.read_zip(data, labels, max_bytes=1 << 34))
    print(f"unzip only:                   {unzip:.2f} s")
    print(f"pickle.loads (trusted data):  {trusted:.2f} s")
    print(f"SafeUnpickler (load_pickle):  {safe:.2f} s  ({safe / trusted:.1f}x pickle.loads)")
    print(f"read_zip (all checks, rows):  {reader:.2f} s  -> {len(read.rows)} rows")
    for protocol in ("voc", "act"):
        scores, seconds = timed(lambda p=protocol: detection.score(labels, data, protocol=p))
        video_map = scores["video_map"]
        print(f"score {protocol} (zip):            {seconds:.2f} s  video_map {video_map:.4f}")
    csv = io.StringIO()
    layout.write_csv(read.rows, labels, csv)
    csv_bytes = csv.getvalue().encode()
    scores, seconds = timed(lambda: detection.score(labels, csv_bytes))
    print(
        f"score voc (its CSV, {len(csv_bytes) / 2**20:.0f} MiB):  {seconds:.2f} s  "
        f"video_map {scores['video_map']:.4f}"
    )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
