"""BLAS thread control: the same sums in any process and any thread.

:func:`one_blas_thread` runs numpy's BLAS on one thread for a block (the mel products of
:mod:`~melrec_lib.dsp.spectrum`, musicnn's front end, the fragment builders, the MFCC
statistics), whichever thread enters it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading

_BLAS_LOCK = threading.Lock()
_BLAS_HOLD: dict = {"depth": 0, "previous": None}


def _reset_blas_hold() -> None:  # a forked child starts with no holder (the lock may have been held)
    global _BLAS_LOCK
    _BLAS_LOCK = threading.Lock()
    _BLAS_HOLD.update(depth=0, previous=None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_blas_hold)


@contextlib.contextmanager
def one_blas_thread():
    """A context in which numpy's BLAS runs on one thread: the same sums in any process and any
    thread (a worker of :func:`melrec_lib.parallel.parallel_map` has one BLAS thread), and no
    second OpenBLAS thread spinning on a busy core.

    The thread count is BLAS', process-wide: threads that use this context concurrently (a Dask
    worker's threads, each making a file's fragments) share one hold, set by the first to enter
    and lifted by the last to leave, so no thread's product runs on restored BLAS threads while
    another's limit ends.  OpenBLAS is set with ``openblas_set_num_threads_local``: its
    ``openblas_set_num_threads`` (threadpoolctl's) is ignored when called from a thread other
    than the one that started its thread pool, which left such a thread's products on two
    threads (other last bits than a worker process')."""
    with _BLAS_LOCK:
        # every thread sets it (the call is documented as per-thread in some OpenBLAS builds and
        # acts process-wide in this one); the first one's previous counts are restored
        previous = [set_threads(1) for set_threads in _blas_setters()]
        if _BLAS_HOLD["depth"] == 0:
            _BLAS_HOLD["previous"] = previous
        _BLAS_HOLD["depth"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_HOLD["depth"] -= 1
            if _BLAS_HOLD["depth"] == 0:
                for set_threads, n in zip(_blas_setters(), _BLAS_HOLD["previous"]):
                    set_threads(n)
                _BLAS_HOLD["previous"] = None


@functools.lru_cache(maxsize=1)
def _blas_setters() -> tuple:
    """For each BLAS library numpy uses, a function ``n -> previous thread count`` that takes
    effect from any thread."""
    import ctypes

    setters = []
    for lib in _blas_controller().lib_controllers:
        local = (
            getattr(getattr(lib, "dynlib", None), "openblas_set_num_threads_local", None)
            if lib.internal_api == "openblas"
            else None
        )
        if local is not None:
            local.restype, local.argtypes = ctypes.c_int, [ctypes.c_int]
            setters.append(local)
        else:

            def set_threads(n, lib=lib):
                previous = lib.get_num_threads()
                lib.set_num_threads(n)
                return previous

            setters.append(set_threads)
    return tuple(setters)


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """The BLAS libraries numpy uses, found once (a fresh ``threadpool_limits`` scans every
    loaded library on each call; limiting a cached controller is cheap)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")
