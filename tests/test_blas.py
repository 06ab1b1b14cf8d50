"""One BLAS thread while model runs are running, the process's own setting otherwise."""

import threading

import numpy as np  # noqa: F401  (loads the BLAS threadpoolctl inspects)
from threadpoolctl import threadpool_info

from mfa import blas


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_limit_inside_and_restored_after_overlapping_runs():
    # The process's own setting (OpenBLAS: one thread a core). Not forced with an outer
    # threadpool_limits: OpenBLAS 0.3.31 then ignores a limit set from another thread.
    before = _blas_threads()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with blas.one_thread():
            first_in.set()
            second_in.wait(10)
            seen["first"] = _blas_threads()
        first_out.set()

    def second():
        first_in.wait(10)
        with blas.one_thread():
            second_in.set()
            first_out.wait(10)  # the first run has ended while this one still runs
            seen["second, after the first ended"] = _blas_threads()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen == {"first": {1}, "second, after the first ended": {1}}
    assert _blas_threads() == before
