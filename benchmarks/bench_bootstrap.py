"""Benchmark: what the bootstrap (B = 1,000) adds to scoring a 6,097-clip recognition file.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks.bench_bootstrap

Times, in one process on one core (BLAS threads pinned to 1 via the variables above, set
here too if absent), the median of several runs of: scoring alone; scoring with the
bootstrap the first time for a phase (the count matrix is drawn); scoring with it again
(the worker keeps the phase's count matrix); and a plain-loop reference (resample, call
scikit-learn) scaled from a few replicates. The issue's target: the bootstrap adds at most
100 ms to scoring. Prints the load average next to the figures (the machine is shared).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.bench_recognition import answer_bytes, fresh_labels, synthetic_set  # noqa: E402
from evalserver.scoring import bootstrap, recognition  # noqa: E402


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6_097)
    parser.add_argument("--replicates", type=int, default=bootstrap.DEFAULT_REPLICATES)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    n, b = args.clips, args.replicates

    ids, y, p = synthetic_set(n)
    labels = fresh_labels(ids, y)
    data = answer_bytes(ids, p)
    seed = bootstrap.phase_seed("bench/bootstrap")

    plain = _median(lambda: recognition.score(labels, data), args.repeat)

    def cold() -> None:
        bootstrap._counts_cache.clear()
        recognition.evaluate(labels, data, replicates=b, seed=seed)

    with_cold = _median(cold, args.repeat)
    recognition.evaluate(labels, data, replicates=b, seed=seed)
    with_warm = _median(
        lambda: recognition.evaluate(labels, data, replicates=b, seed=seed), args.repeat
    )
    counts = bootstrap.resample_counts(n, replicates=b, seed=seed)
    truth, pred = labels.Y, recognition.validate(labels, data)
    replicates_only = _median(
        lambda: bootstrap.macro_f1_replicates(truth, pred, counts), args.repeat
    )

    from sklearn.metrics import f1_score

    indices = bootstrap.resample_indices(n, replicates=b, seed=seed)
    few = 20
    start = time.perf_counter()
    reference = np.array(
        [f1_score(truth[i], pred[i], average="macro", zero_division=0) for i in indices[:few]]
    )
    per_replicate = (time.perf_counter() - start) / few
    fast = bootstrap.macro_f1_replicates(truth, pred, counts)[:few]
    diff = float(np.abs(fast - reference).max())

    load = os.getloadavg()
    print(f"clips {n}, replicates {b}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"score alone                        {plain * 1e3:8.1f} ms")
    print(
        f"score + bootstrap, first of phase  {with_cold * 1e3:8.1f} ms  "
        f"(+{(with_cold - plain) * 1e3:.1f} ms)"
    )
    print(
        f"score + bootstrap, counts kept     {with_warm * 1e3:8.1f} ms  "
        f"(+{(with_warm - plain) * 1e3:.1f} ms; target <= +100 ms)"
    )
    print(f"replicate vector alone             {replicates_only * 1e3:8.1f} ms")
    print(
        f"plain-loop sklearn reference       {per_replicate * b * 1e3:8.1f} ms "
        f"(extrapolated from {few} replicates; max |difference| {diff:.1e})"
    )
    low, high = bootstrap.percentile_interval(fast)
    print(f"95% interval of macro F1 (first {few} replicates) [{low:.4f}, {high:.4f}]")


if __name__ == "__main__":
    main()
