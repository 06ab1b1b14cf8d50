"""One BLAS thread while a model runs.

A model run does many small matrix products (36 x 36 survival matrices on a few hundred
series at a time). OpenBLAS splits each across threads, which costs more than it gains
there and far more on a busy machine: measured on hainan-study under load, the battery
and end-of-life steps took 13 and 46 ms with two threads and 4 ms each with one.
Monte-Carlo runs are already parallel (a task per core), so their products want one
thread each too. The limit is process-wide (BLAS has no per-thread setting): it is set
when the first run starts and restored when the last one still running ends, so runs on
several threads of one process share it. threadpoolctl does the setting for whichever
BLAS numpy was built with.

A gap: OpenBLAS 0.3.31 ignores openblas_set_num_threads from a new thread once the main
thread has called it, so runs started on threads of their own (after one in the main
thread) may keep OpenBLAS's threads, and overlapping runs on two threads of a fresh
process sometimes leave it at one thread afterwards. The Monte-Carlo sweep avoids both
by holding the limit in the thread that starts its tasks (:func:`mfa.uncertainty._map`).
"""

from __future__ import annotations

import contextlib
import functools
import threading

_lock = threading.Lock()
_running = 0
_limiter = None


@functools.cache
def _controller():
    from threadpoolctl import ThreadpoolController  # ~10 ms: it inspects the loaded libraries

    return ThreadpoolController()


@contextlib.contextmanager
def one_thread():
    """BLAS limited to one thread inside, for this and every other thread of the process."""
    global _running, _limiter
    with _lock:
        if _running == 0:
            _limiter = _controller().limit(limits=1, user_api="blas")
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                _limiter.restore_original_limits()
                _limiter = None
