"""Benchmark of the detection scorer at full size (issue 12 targets: >= 50x the reference at
300,000 rows; 3M rows in < 2 s and < 1 GB).

Builds a synthetic TinyActions-sized test set (6,097 clips, fixed seed) and a
3,000,000-row submission in a temporary folder, then times parse + score of the
fast implementation in fresh subprocesses (median of ``--runs``; peak RSS of each
child from ``resource``), and the straightforward reference of the tests on a
sampled-down subset (whole clips, median of ``--reference-runs``) for a rows-per-second
ratio, by turns: fast child, reference child, fast child... each a fresh process that
holds only its own inputs, and a ratio per pair. The sample is also scored by the fast
implementation and every score must equal the reference's bit for bit.

Each child scores once fresh (imports, first calls and never-touched memory included:
what ``manage.py score`` pays) and then ``--warm-runs`` more times in the same process
(what a worker that has scored before pays, and how the reference is timed); both
ratios are printed.

    .venv/bin/python benchmarks/bench_detection.py [--rows 3000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import peak_rss_kib  # noqa: E402
from evalserver.scoring import detection  # noqa: E402
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES  # noqa: E402

N_CLIPS = 6_097
SEED = 20_220_608


def build_labels(rng: np.random.Generator) -> list[dict]:
    """6,097 clips of 40..200 frames, 0-3 ground-truth tubes each, in small frames."""
    records = []
    n_classes = len(TINYVIRAT_V2_CLASSES)
    for i in range(N_CLIPS):
        frames = int(rng.integers(40, 201))
        width, height = int(rng.integers(64, 257)), int(rng.integers(64, 257))
        tubes = []
        for _ in range(int(rng.integers(0, 4))):
            start = int(rng.integers(0, frames // 2))
            end = int(rng.integers(start, frames))
            n = end - start + 1
            w = rng.uniform(8, width / 2)
            h = rng.uniform(8, height / 2)
            x = rng.uniform(0, width - w)
            y = rng.uniform(0, height - h)
            # A slow random walk, kept inside the frame.
            dx = np.clip(x + np.cumsum(rng.normal(0, 0.5, n)), 0, width - w)
            dy = np.clip(y + np.cumsum(rng.normal(0, 0.5, n)), 0, height - h)
            boxes = np.round(np.stack([dx, dy, dx + w, dy + h], axis=1), 2).tolist()
            label = TINYVIRAT_V2_CLASSES[int(rng.integers(0, n_classes))]
            tubes.append({"label": label, "start": start, "end": end, "boxes": boxes})
        records.append({"id": f"{i:05d}", "dim": [frames, width, height], "tubes": tubes})
    return records


def build_submission(
    rng: np.random.Generator, records: list[dict], n_rows: int, *, shuffle: bool = True
) -> bytes:
    """n_rows rows: jittered copies of ground-truth tubes plus false tubes.

    Shuffled, every row is far from the rest of its tube (the worst case for the
    reader's sort); unshuffled, rows come tube by tube as detectors write them.
    """
    n_classes = len(TINYVIRAT_V2_CLASSES)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("vid", "tid", "f", "c", "s", "box")}
    # A little extra, cut to exactly n_rows after shuffling.
    per_clip = 1.02 * n_rows / len(records)
    for i, rec in enumerate(records):
        frames, width, height = rec["dim"]
        budget = int(rng.poisson(per_clip))
        tid = 0
        candidates = []
        for tube in rec["tubes"]:
            for _ in range(int(rng.integers(1, 4))):
                candidates.append(("gt", tube))
        while budget > 0:
            if candidates:
                _, tube = candidates.pop()
                start = max(0, tube["start"] + int(rng.integers(-5, 6)))
                end = min(frames - 1, max(start, tube["end"] + int(rng.integers(-5, 6))))
                base = np.array(tube["boxes"])
                idx = np.clip(np.arange(start, end + 1) - tube["start"], 0, len(base) - 1)
                boxes = base[idx] + rng.normal(0, 2.0, (len(idx), 4))
                cls = TINYVIRAT_V2_CLASSES.index(tube["label"])
                if rng.random() < 0.2:
                    cls = int(rng.integers(0, n_classes))
            else:
                start = int(rng.integers(0, frames))
                end = int(min(frames - 1, start + rng.integers(0, 120)))
                n = end - start + 1
                w, h = rng.uniform(8, width / 2), rng.uniform(8, height / 2)
                x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
                boxes = np.tile([x, y, x + w, y + h], (n, 1)) + rng.normal(0, 1.0, (n, 4))
                cls = int(rng.integers(0, n_classes))
            frames_idx = np.arange(start, end + 1)
            # Detectors drop frames now and then.
            keep = rng.random(len(frames_idx)) > 0.05
            keep[0] = True
            frames_idx, boxes = frames_idx[keep][:budget], boxes[keep][:budget]
            boxes[:, 2] = np.maximum(boxes[:, 2], boxes[:, 0] + 1)
            boxes[:, 3] = np.maximum(boxes[:, 3], boxes[:, 1] + 1)
            n = len(frames_idx)
            columns["vid"].append(np.full(n, i))
            columns["tid"].append(np.full(n, tid))
            columns["f"].append(frames_idx)
            columns["c"].append(np.full(n, cls))
            columns["s"].append(np.round(np.clip(rng.beta(2, 2) + rng.normal(0, 0.05, n), 0, 1), 3))
            columns["box"].append(np.round(boxes, 1))
            tid += 1
            budget -= n
    vid, tid_, f, c, s = (np.concatenate(columns[k]) for k in ("vid", "tid", "f", "c", "s"))
    box = np.concatenate(columns["box"])
    order = rng.permutation(len(vid)) if shuffle else np.arange(len(vid))
    order = order[: min(n_rows, len(vid))]
    names = TINYVIRAT_V2_CLASSES
    # Half the rows name the class, half give its id: both are accepted.
    lines = [
        f"{v:05d},{t},{fr},{names[cl] if k % 2 else cl},{sc:g},{b[0]:g},{b[1]:g},{b[2]:g},{b[3]:g}"
        for k, (v, t, fr, cl, sc, b) in enumerate(
            zip(
                vid[order].tolist(),
                tid_[order].tolist(),
                f[order].tolist(),
                c[order].tolist(),
                s[order].tolist(),
                box[order].tolist(),
                strict=True,
            )
        )
    ]
    return ("\n".join([detection.HEADER, *lines]) + "\n").encode()


def child(labels_path: str, submission_path: str, warm_runs: int) -> None:
    """Score once in this fresh process (imports, first calls and fresh memory included,
    as ``manage.py score`` sees it), then ``warm_runs`` more times in the same process
    (as a worker that has scored before, and as the reference is timed)."""
    # As a scoring process (a Celery worker's, manage.py score) is set up at its start.
    from evalserver.scoring.detection_arrow import reuse_freed_memory

    reuse_freed_memory()
    labels = detection.DetectionLabels.from_bytes(Path(labels_path).read_bytes())
    start, cpu = time.perf_counter(), time.process_time()
    with open(submission_path, "rb") as fh:
        result = detection.score(labels, fh)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = peak_rss_kib() / 1024
    warm = []
    for _ in range(warm_runs):
        start = time.perf_counter()
        with open(submission_path, "rb") as fh:
            detection.score(labels, fh)
        warm.append(time.perf_counter() - start)
    print(
        json.dumps(
            {"seconds": seconds, "cpu": cpu, "peak_mib": peak, "warm": warm, "result": result}
        )
    )


def reference_child(records_path: str, submission_path: str, runs: int) -> None:
    """Time the reference ``runs`` times in this fresh process, which holds nothing but its
    inputs: in the parent, the synthetic labels' millions of Python objects make every
    full garbage collection the reference's dicts set off slow, and its speed then moved
    between 45k and 90k rows/s from run to run."""
    from tests.scoring.test_detection_reference import reference_score

    records = json.loads(Path(records_path).read_bytes())
    data = Path(submission_path).read_bytes()
    times = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = reference_score(records, TINYVIRAT_V2_CLASSES, data)
        times.append(time.perf_counter() - start)
    print(json.dumps({"times": times, "result": result}))


def _run_self(*args: str) -> dict:
    """This script in a fresh process with ``args``; the JSON it prints."""
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def run_reference_child(records_path: Path, submission_path: Path, runs: int) -> dict:
    return _run_self(
        "--reference-child", str(records_path), str(submission_path), "--reference-runs", str(runs)
    )


def run_child(labels_path: Path, submission_path: Path, warm_runs: int) -> dict:
    return _run_self(
        "--child", str(labels_path), str(submission_path), "--warm-runs", str(warm_runs)
    )


def sample(records: list[dict], csv: bytes, n_clips: int) -> tuple[list[dict], bytes]:
    keep = {rec["id"] for rec in records[:n_clips]}
    lines = csv.split(b"\n")
    rows = [ln for ln in lines[1:] if ln and ln[: ln.index(b",")].decode() in keep]
    return records[:n_clips], b"\n".join([lines[0], *rows]) + b"\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sample-clips", type=int, default=300)
    parser.add_argument(
        "--grouped", action="store_true", help="rows tube by tube instead of shuffled"
    )
    parser.add_argument(
        "--warm-runs", type=int, default=2, help="more runs in each child after the first"
    )
    parser.add_argument(
        "--reference-runs",
        type=int,
        default=3,
        help="runs of the reference in each of its processes (median)",
    )
    parser.add_argument("--child", nargs=2, metavar=("LABELS", "SUBMISSION"))
    parser.add_argument("--reference-child", nargs=2, metavar=("RECORDS", "SUBMISSION"))
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.warm_runs)
        return
    if args.reference_child:
        reference_child(*args.reference_child, args.reference_runs)
        return

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load} (other work slows the wall times)")
    rng = np.random.default_rng(SEED)
    t0 = time.perf_counter()
    records = build_labels(rng)
    csv = build_submission(rng, records, args.rows, shuffle=not args.grouped)
    print(f"synthetic data built in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        gt_json = json.dumps(records).encode()
        t0 = time.perf_counter()
        labels = detection.load_labels(gt_json, TINYVIRAT_V2_CLASSES)
        load_seconds = time.perf_counter() - t0
        labels_path, submission_path = Path(tmp, "labels.npz"), Path(tmp, "dets.csv")
        labels_path.write_bytes(labels.to_bytes())
        submission_path.write_bytes(csv)
        n_rows = csv.count(b"\n") - 1
        print(
            f"labels: {labels.n_items} clips, {len(labels.tube_clip)} tubes, "
            f"{len(labels.box_tube)} boxes, {len(gt_json) / 2**20:.0f} MiB JSON, "
            f"load_labels {load_seconds:.2f} s"
        )
        order = "grouped by tube" if args.grouped else "shuffled"
        print(f"submission: {n_rows} rows ({order}), {len(csv) / 2**20:.0f} MiB")

        small_records, small_csv = sample(records, csv, args.sample_clips)
        small_rows = small_csv.count(b"\n") - 1
        records_path, small_path = Path(tmp, "sample.json"), Path(tmp, "sample.csv")
        records_path.write_text(json.dumps(small_records))
        small_path.write_bytes(small_csv)
        # Fast and reference by turns, each in a fresh process of its own: whatever the
        # machine does meanwhile, it does to both; a ratio is taken per pair.
        runs, references = [], []
        for _ in range(args.runs):
            runs.append(run_child(labels_path, submission_path, args.warm_runs))
            references.append(run_reference_child(records_path, small_path, args.reference_runs))
        seconds = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        peak = max(r["peak_mib"] for r in runs)
        warm = [w for r in runs for w in r["warm"]]
        warm_seconds = statistics.median(warm) if warm else None
        result = runs[0]["result"]
        each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        print(
            f"fast, fresh process: parse+score median {seconds:.3f} s wall ({cpu:.3f} s CPU) "
            f"over {args.runs} runs ({each}), peak RSS {peak:.0f} MiB, "
            f"{n_rows / seconds / 1e6:.2f} M rows/s; "
            f"video_map {result['video_map']:.4f}, frame_map {result['frame_map']:.4f}"
        )
        if warm_seconds is not None:
            print(
                f"fast, warm process (it has scored before): median {warm_seconds:.3f} s wall "
                f"over {len(warm)} runs, {n_rows / warm_seconds / 1e6:.2f} M rows/s"
            )

        ref_each = [statistics.median(r["times"]) for r in references]
        ref_seconds = statistics.median(ref_each)
        ref = references[0]["result"]
        small_labels = detection.load_labels(
            json.dumps(small_records).encode(), TINYVIRAT_V2_CLASSES
        )
        t0 = time.perf_counter()
        fast = detection.score(small_labels, small_csv)
        fast_small_seconds = time.perf_counter() - t0
        # Bit for bit: the fast scorer adds the same floats in the same order (the
        # reference's floats came through JSON, which keeps every bit of a double).
        differ = [
            (entry["name"], key)
            for a, entry in zip(ref["per_class"], fast["per_class"], strict=True)
            for key in ("frame_ap", "video_ap")
            if a[key] != entry[key]
        ] + [key for key in ("frame_map", "video_map") if ref[key] != fast[key]]
        ref_rate = small_rows / ref_seconds
        print(
            f"reference on {args.sample_clips} clips ({small_rows} rows), in fresh processes: "
            f"median {ref_seconds:.3f} s ({', '.join(f'{x:.3f}' for x in ref_each)}: "
            f"median of {args.reference_runs} runs each), {ref_rate:,.0f} rows/s "
            f"(fast on the same sample: {fast_small_seconds:.3f} s); "
            f"scores differing from the reference: {len(differ)}"
        )

        def ratios(fast_seconds: list[float]) -> str:
            pairs = [
                (n_rows / f) / (small_rows / r) for f, r in zip(fast_seconds, ref_each, strict=True)
            ]
            return f"median {statistics.median(pairs):.0f}x, by pair " + ", ".join(
                f"{p:.0f}x" for p in pairs
            )

        print(
            "ratio, fresh process (fast rows/s at full size / reference rows/s, run by run): "
            + ratios([r["seconds"] for r in runs])
        )
        if warm_seconds is not None:
            print(
                "ratio, warm process (fast rows/s at full size / reference rows/s, run by run): "
                + ratios([statistics.median(r["warm"]) for r in runs])
            )
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"load average at the end: {load}")
        if differ:
            raise SystemExit(
                f"the fast scorer disagrees with the reference on the sample: {differ}"
            )


if __name__ == "__main__":
    main()
