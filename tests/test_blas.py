"""One BLAS thread while model runs are running, the process's own setting otherwise."""

import threading

import numpy as np  # noqa: F401  (loads the BLAS threadpoolctl inspects)
from threadpoolctl import threadpool_info

from mfa import blas


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_a_limit_held_by_the_starting_thread_holds_in_the_task_threads():
    """What the Monte-Carlo sweep does (mfa.uncertainty._map): the thread that starts the
    tasks holds the limit, after a run of its own; runs on new threads nest in it and see one
    BLAS thread (their own setting would not take: OpenBLAS 0.3.31 ignores
    openblas_set_num_threads from a new thread once the main thread has called it); the
    process's setting is back afterwards."""
    with blas.one_thread():  # a deterministic run in this thread before the sweep
        pass
    before = _blas_threads()
    seen = []

    def task():
        with blas.one_thread():
            seen.append(_blas_threads())

    with blas.one_thread():
        threads = [threading.Thread(target=task) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert seen == [{1}, {1}]
    assert _blas_threads() == before
