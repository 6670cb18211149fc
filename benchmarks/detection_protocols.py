"""How far each convention of the ``act`` protocol moves the demo sample's detection score.

Scores the demo challenge's ``detection_sample.csv`` against its hidden tubes (the files
``seed_demo`` writes, regenerated here into a temporary folder with the same fixed seed)
under ``voc``, under ``voc`` with one ACT convention switched on, and under ``act``; then
times both protocols on a TinyActions-sized submission (``--rows``, default 300,000).
Prints the README's table rows.

    .venv/bin/python benchmarks/detection_protocols.py [--rows 300000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.bench_detection import SEED, build_labels, build_submission  # noqa: E402
from evalserver.challenges import demo  # noqa: E402
from evalserver.scoring import detection  # noqa: E402
from evalserver.scoring import detection_act as act  # noqa: E402
from evalserver.scoring.archive import open_submission  # noqa: E402
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES  # noqa: E402
from evalserver.scoring.detection_csv import read_rows  # noqa: E402
from evalserver.scoring.detection_metrics import group_tubes  # noqa: E402


def maps(labels, tubes, conventions: frozenset[str]) -> tuple[float, float]:
    result = act.evaluate_act(labels, tubes, conventions)
    over_all = act.ALL_CLASSES in conventions
    return (
        detection._mean(result.frame_ap, over_all=over_all),
        detection._mean(result.video_ap, over_all=over_all),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=300_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        files = demo.generate_demo(Path(tmp))
        labels = detection.load_labels(files.detection.read_bytes(), TINYVIRAT_V2_CLASSES)
        data = files.detection_sample.read_bytes()
    with open_submission(data, max_bytes=1 << 30) as stream:
        rows, problems = read_rows(stream, labels)
    tubes = group_tubes(rows, labels, problems)
    assert not problems

    voc = maps(labels, tubes, frozenset())
    print(f"demo sample: {labels.n_items} clips, {tubes.n_tubes} tubes, {tubes.n_rows} rows")
    print(f"{'conventions':<28} {'frame_map':>10} {'video_map':>10} {'d frame':>8} {'d video':>8}")
    print(f"{'voc':<28} {voc[0]:>10.4f} {voc[1]:>10.4f}")
    for convention in act.CONVENTIONS:
        f, v = maps(labels, tubes, frozenset({convention}))
        name = "voc + " + convention
        print(f"{name:<28} {f:>10.4f} {v:>10.4f} {f - voc[0]:>+8.4f} {v - voc[1]:>+8.4f}")
    f, v = maps(labels, tubes, frozenset(act.CONVENTIONS))
    print(f"{'act (all five)':<28} {f:>10.4f} {v:>10.4f} {f - voc[0]:>+8.4f} {v - voc[1]:>+8.4f}")
    # The public entry point must give the same as the switches, all on.
    full = detection.score(labels, data, protocol="act")
    assert (full["frame_map"], full["video_map"]) == (f, v)

    # Speed: bench_detection's TinyActions-sized generator, both protocols, one process.
    rng = np.random.default_rng(SEED)
    records = build_labels(rng)
    csv = build_submission(rng, records, args.rows)
    big = detection.load_labels(json.dumps(records).encode(), TINYVIRAT_V2_CLASSES)
    seconds = {}
    for protocol in ("voc", "act"):
        start = time.perf_counter()
        detection.score(big, csv, protocol=protocol)
        seconds[protocol] = time.perf_counter() - start
        print(f"{protocol}: {args.rows} rows, {big.n_items} clips: {seconds[protocol]:.2f} s")
    print(f"act / voc time: {seconds['act'] / seconds['voc']:.2f}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
