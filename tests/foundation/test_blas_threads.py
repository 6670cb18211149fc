"""Every process of ours runs numpy's BLAS on one thread (evalserver/__init__.py).

Its threads spin after each product and only took CPU from the other threads and processes
(a scoring task cost twice the CPU). Checked in a fresh interpreter, as a worker starts.
"""

import json
import os
import subprocess
import sys

import pytest

_PROBE = (
    "import evalserver, numpy, threadpoolctl, json;"
    "print(json.dumps([p['num_threads'] for p in threadpoolctl.threadpool_info()"
    " if p['user_api'] == 'blas']))"
)


def _blas_threads(env: dict) -> list[int]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_blas_runs_on_one_thread_in_a_fresh_process():
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    threads = _blas_threads(env)
    assert threads, "numpy's BLAS library was not found"
    assert set(threads) == {1}


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS caps its threads at the cores")
def test_an_operators_own_setting_wins():
    threads = _blas_threads({**os.environ, "OPENBLAS_NUM_THREADS": "2"})
    assert set(threads) == {2}
