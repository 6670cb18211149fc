"""Benchmark: ``manage.py score`` as a whole process (issue 12: start-up, JSON labels, long ids).

    .venv/bin/python -m benchmarks.bench_score_command [--sizes 6097 1000000] [--runs 3]

For each size it writes a TinyVIRAT-style ground-truth JSON (the file organizers
have, not the stored npz) and a noisy answer.txt, then runs the command in fresh
processes exactly as a user would and reports the median wall time and the peak
memory of the process (from ``wait4``). It does so twice: with 5-character ids (the
TinyActions layout) and with 12-character ids, which must be no slower. Every run
must print the same scores as the library called in process.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def write_case(n: int, folder: Path, *, id_prefix: str) -> tuple[Path, Path]:
    # Imported here: the measuring runner (--measure) stays a small process.
    import numpy as np

    from benchmarks.bench_recognition import CLASSES, answer_bytes, synthetic_set

    ids, y, p = synthetic_set(n)
    ids = np.char.add(id_prefix, ids) if id_prefix else ids
    names = np.array(CLASSES)
    records = [
        {"id": cid, "label": names[row.astype(bool)].tolist(), "dim": [120, 80, 80]}
        for cid, row in zip(ids.tolist(), y, strict=True)
    ]
    labels, answer = folder / f"labels_{n}_{len(id_prefix)}.json", folder / f"answer_{n}.txt"
    labels.write_text(json.dumps(records))
    answer.write_bytes(answer_bytes(ids, p))
    return labels, answer


def run_once(labels: Path, answer: Path) -> tuple[float, float, str]:
    """(seconds, peak MiB, stdout) of one ``manage.py score`` process.

    Started from a small runner process: a child's peak RSS counts what it shared with its
    parent before exec, and this benchmark's own process holds a million-clip data set.
    """
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(labels), str(answer)],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds, peak, stdout = json.loads(out.stdout)
    return seconds, peak, stdout


def measure(labels: Path, answer: Path) -> tuple[float, float, str]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "score",
                "--track",
                "classification",
                "--labels",
                str(labels),
                "--submission",
                str(answer),
            ],
            stdout=out,
            stderr=err,
            cwd=ROOT,
        )
        # wait4 gives this child's own peak memory (ru_maxrss, KiB).
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    peak = usage.ru_maxrss / 1024
    if proc.returncode != 0:
        raise SystemExit(f"score failed ({proc.returncode}): {stderr.decode()[:2000]}")
    return seconds, peak, stdout.decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[6_097, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), Path(args.measure[1]))))
        return 0
    from benchmarks.bench_recognition import CLASSES
    from evalserver.scoring import recognition

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load} (other work slows the wall times)")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(args.sizes):
            for prefix in ("", "VIRAT_S_"):
                labels, answer = write_case(n, Path(tmp), id_prefix=prefix)
                runs = [run_once(labels, answer) for _ in range(args.runs)]
                seconds = statistics.median(r[0] for r in runs)
                peak = max(r[1] for r in runs)
                expected = recognition.score(
                    recognition.load_labels(labels.read_bytes(), CLASSES), answer.read_bytes()
                )
                for _, _, out in runs:
                    if json.loads(out) != json.loads(json.dumps(expected)):
                        print("the command's scores differ from the library's")
                        return 1
                width = 5 + len(prefix) if n <= 100_000 else len(str(n - 1)) + len(prefix)
                each = ", ".join(f"{r[0]:.2f}" for r in runs)
                print(
                    f"{n:>9,} clips, {width:>2}-character ids: median {seconds:.2f} s "
                    f"({each}), peak RSS {peak:.0f} MiB, macro F1 {expected['macro_f1']:.4f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
