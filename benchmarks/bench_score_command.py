"""Benchmark: ``manage.py score`` as a whole process (issue 12: start-up, JSON labels, long ids).

    .venv/bin/python -m benchmarks.bench_score_command [--sizes 6097 1000000] [--runs 3]

For each size it writes a TinyVIRAT-style ground-truth JSON (the file organizers
have, not the stored npz) and a noisy answer.txt, then runs the command in fresh
processes exactly as a user would and reports the median wall time, the median CPU
time (user + system: steadier than the wall time on a loaded machine) and the peak
memory of the process (from ``wait4``). It does so with short ids (the TinyActions
layout) and with ids 8 characters longer, which must be no slower, and once more with
the long ids' answer lines shuffled (a writer that does not follow the clip list); the
three cases' runs by turns.
Every run must print the same scores as the library called in process.

Targets (issue 12): 1,000,000 clips < 2 s and < 500 MB (476 MiB) peak; 6,097 clips
< 0.3 s; long ids no slower than short ones.
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


def write_case(
    n: int, folder: Path, *, id_prefix: str, shuffled: bool = False
) -> tuple[Path, Path]:
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
    case = f"{n}_{len(id_prefix)}{'_shuffled' if shuffled else ''}"
    labels, answer = folder / f"labels_{n}_{len(id_prefix)}.json", folder / f"answer_{case}.txt"
    labels.write_text(json.dumps(records))
    if shuffled:
        order = np.random.default_rng(n).permutation(n)
        ids, p = ids[order], p[order]
    answer.write_bytes(answer_bytes(ids, p))
    return labels, answer


def run_once(labels: Path, answer: Path) -> tuple[float, float, float, str]:
    """(seconds, CPU seconds, peak MiB, stdout) of one ``manage.py score`` process.

    Started from a small runner process: a child's peak RSS counts what it shared with its
    parent before exec, and this benchmark's own process holds a million-clip data set.
    """
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(labels), str(answer)],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds, cpu, peak, stdout = json.loads(out.stdout)
    return seconds, cpu, peak, stdout


def _score_argv(labels: Path, answer: Path) -> list[str]:
    """The command a user types, in a fresh interpreter."""
    return [
        sys.executable,
        str(ROOT / "manage.py"),
        "score",
        "--track",
        "classification",
        "--labels",
        str(labels),
        "--submission",
        str(answer),
    ]


def measure(labels: Path, answer: Path) -> tuple[float, float, float, str]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            _score_argv(labels, answer),
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
    return seconds, usage.ru_utime + usage.ru_stime, peak, stdout.decode()


def warm_up(folder: Path) -> None:
    """One unmeasured run that may write the project's bytecode caches (``__pycache__``).

    A user's second run finds them; a shell with PYTHONDONTWRITEBYTECODE set (as some
    sandboxes have) would otherwise compile the project's modules on every start, some
    50 ms of a 6,097-clip run. Installed packages have theirs from pip.
    """
    labels, answer = write_case(20, folder, id_prefix="")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        _score_argv(labels, answer),
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


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
    cases = [("", False), ("VIRAT_S_", False), ("VIRAT_S_", True)]
    with tempfile.TemporaryDirectory() as tmp:
        warm_up(Path(tmp))
        for n in sorted(args.sizes):
            medians: dict[tuple[str, bool], float] = {}
            files = {
                case: write_case(n, Path(tmp), id_prefix=case[0], shuffled=case[1])
                for case in cases
            }
            # The cases by turns, so that whatever the machine does meanwhile it does to
            # all of them (run in blocks, a drift of the machine's speed showed as a 9%
            # difference between short and long ids that interleaved runs did not have).
            timed: dict[tuple[str, bool], list] = {case: [] for case in cases}
            for _ in range(args.runs):
                for case in cases:
                    timed[case].append(run_once(*files[case]))
            for prefix, shuffled in cases:
                labels, answer = files[prefix, shuffled]
                runs = timed[prefix, shuffled]
                seconds = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[1] for r in runs)
                peak = max(r[2] for r in runs)
                medians[prefix, shuffled] = seconds
                expected = recognition.score(
                    recognition.load_labels(labels.read_bytes(), CLASSES), answer.read_bytes()
                )
                for *_, out in runs:
                    if json.loads(out) != json.loads(json.dumps(expected)):
                        print("the command's scores differ from the library's")
                        return 1
                width = 5 + len(prefix) if n <= 100_000 else len(str(n - 1)) + len(prefix)
                each = ", ".join(f"{r[0]:.2f}" for r in runs)
                order = "lines shuffled" if shuffled else "lines in order"
                print(
                    f"{n:>9,} clips, {width:>2}-character ids, {order}: median {seconds:.2f} s "
                    f"({each}), CPU {cpu:.2f} s, peak RSS {peak:.0f} MiB, "
                    f"macro F1 {expected['macro_f1']:.4f}"
                )
            ratio = medians["VIRAT_S_", False] / medians["", False]
            print(f"{n:>9,} clips: long ids / short ids, wall time ratio {ratio:.2f}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end {load}")
    print(
        "targets: 1,000,000 clips < 2 s and < 476 MiB (500 MB); 6,097 clips < 0.3 s; "
        "long ids no slower than short ones"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
