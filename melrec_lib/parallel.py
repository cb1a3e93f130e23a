"""One parallel loop with a progress bar: joblib worker processes under a tqdm bar.

Every loop over files in melrec (rendering, probing, fragment extraction, embedding) goes through
:func:`parallel_map`, so they share one worker policy and one progress display.
:func:`parallel_imap` is the same loop as a generator (results in order, as they arrive), and
either runs on a Dask cluster instead of local processes when given a scheduler address
(``scheduler=`` or the :data:`SCHEDULER_ENV` environment variable): joblib's ``dask`` backend
over a ``distributed.Client``.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Iterable, Iterator, Sequence

from melrec_lib.errors import check_int

#: Environment variable naming a Dask scheduler (``tcp://host:8786``) for :func:`parallel_imap`.
SCHEDULER_ENV = "MELREC_SCHEDULER"
#: Environment variable: ``text`` draws text progress bars on the terminal even inside a
#: Jupyter kernel (the notebook runner sets it: a headless run shows its progress where it was
#: started, and the executed notebook stays free of bar redraws and widgets).
PROGRESS_ENV = "MELREC_PROGRESS"
#: Environment variable: where a Jupyter kernel's worker processes write text progress bars
#: (``/proc/<pid>/fd/2`` of the notebook runner, or ``os.devnull``): a worker's own standard
#: error is the kernel's capture pipe, whose output would become cell output.
PROGRESS_FILE_ENV = "MELREC_PROGRESS_FILE"

_TERMINAL: Any = None
_TEXT_TQDM: Any = None


def progress_file():
    """Where text progress bars are written: the terminal this process was started from.

    Inside a Jupyter kernel, ``sys.stderr`` is ipykernel's stream, whose output becomes cell
    output, and file descriptor 2 is a pipe into it; the stream keeps a duplicate of the
    original descriptor (``fileno()``), the launcher's terminal.  Bars written there are seen
    by whoever runs the notebook (``python -m melrec_lib.notebook``) and never stored in it.
    The kernel's worker processes inherit descriptor 2, the pipe into the cell output: for
    them ``$MELREC_PROGRESS_FILE`` names the launcher's terminal (the notebook runner sets it:
    its own standard error where that is a terminal or a pipe, else ``os.devnull``, as a second
    writer at the end of a regular file would be overwritten by the first).  When ipykernel does
    not capture the descriptors (it leaves them alone under pytest), the process' own
    ``sys.__stderr__`` is that terminal.  Elsewhere: ``sys.stderr``.
    """
    import sys

    global _TERMINAL
    if _TERMINAL is not None:
        return _TERMINAL
    fd = getattr(sys.stderr, "_original_stdstream_copy", None)
    if fd is not None:
        _TERMINAL = os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace")
        return _TERMINAL
    if type(sys.stderr).__module__.startswith("ipykernel") and sys.__stderr__ is not None:
        return sys.__stderr__  # a kernel whose descriptors ipykernel left alone
    path = os.environ.get(PROGRESS_FILE_ENV, "").strip()
    if path:
        try:
            _TERMINAL = open(path, "a", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
            return _TERMINAL
        except OSError:
            pass
    return sys.stderr


def tqdm_class():
    """The progress bar class every loop uses: tqdm's ``auto`` flavour (a widget in JupyterLab,
    text elsewhere), or text bars on :func:`progress_file` when ``$MELREC_PROGRESS`` is ``text``."""
    global _TEXT_TQDM
    if os.environ.get(PROGRESS_ENV, "").strip().lower() != "text":
        from tqdm.auto import tqdm

        return tqdm
    if _TEXT_TQDM is None:
        from tqdm.std import tqdm

        class TerminalTqdm(tqdm):
            """tqdm's text bar, written to :func:`progress_file` unless told another ``file``."""

            def __init__(self, *args, **kwargs):
                kwargs.setdefault("file", progress_file())
                super().__init__(*args, **kwargs)

        _TEXT_TQDM = TerminalTqdm
    return _TEXT_TQDM


def return_freed_memory() -> bool:
    """Give the pages that freed heap memory still holds back to the system (glibc's
    ``malloc_trim(0)``); ``False`` where the C library has no such call.

    glibc keeps freed memory in its arenas: after a task that built large tables (a per-user
    network on 7,680-wide fragment embeddings allocates several hundred MB), a worker process
    keeps that much resident although nothing uses it.  joblib's loky executor reads such growth
    as a memory leak: past 300 MB above the worker's size after its first task, it stops the
    worker, starts another and warns ("A worker stopped while some jobs were given to the
    executor").  Each worker task of :func:`parallel_imap` ends with this call, so a worker's
    resident size returns to what it holds.
    """
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        import ctypes
        import ctypes.util

        try:
            _MALLOC_TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
            _MALLOC_TRIM = False
    if not _MALLOC_TRIM:
        return False
    _MALLOC_TRIM(0)
    return True


_MALLOC_TRIM: Any = None


def _resident_bytes() -> int | None:
    """This process' resident size from ``/proc/self/statm`` (None where there is none)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


#: A task that leaves this much more resident than it found gets a garbage collection too:
#: Keras models and JAX buffers of a finished fit sit in reference cycles until one runs.
#: (A collection costs about 0.15 s with Keras loaded, too much after every file of a loop.)
COLLECT_ABOVE = 64 * 2**20


class _Task:
    """``fn`` as a worker task: called, then the memory it freed given back to the system
    (:func:`return_freed_memory`; after a garbage collection when it left much behind)."""

    def __init__(self, fn: Callable[..., Any], star: bool):
        self.fn, self.star = fn, star

    def __call__(self, item):
        before = _resident_bytes()
        try:
            return self.fn(*item) if self.star else self.fn(item)
        finally:
            return_freed_memory()
            after = _resident_bytes()
            if before is not None and after is not None and after - before > COLLECT_ABOVE:
                import gc

                gc.collect()
                return_freed_memory()


def parallel_map(
    fn: Callable[..., Any],
    items: Sequence[Any],
    *,
    n_jobs: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    progress: bool = True,
    star: bool = False,
    weights: Sequence[int] | None = None,
    fresh_workers: bool = False,
    workers_for: str | None = None,
) -> list[Any]:
    """``[fn(item) for item in items]`` over joblib worker processes, in order, with a tqdm bar.

    Parameters
    ----------
    fn : picklable callable
    items : sequence
        Arguments, one per call (``fn(*item)`` with ``star=True``).
    n_jobs : int > 0 or None
        Worker processes; ``None`` = all cores, ``1`` (or fewer than two items) = this process.
    desc, unit : the progress bar's label and unit
    progress : bool
        Show the bar (:func:`tqdm_class`: a widget in JupyterLab, text elsewhere).
    star : bool
        Unpack each item as positional arguments.
    weights : sequence of int, optional
        How much each item advances the bar (default 1 each).
    fresh_workers : bool
        Run on worker processes of this call's own, stopped when it ends (see
        :func:`parallel_imap`).
    workers_for : str or None
        What the tasks load into a worker that keeps it (see :func:`parallel_imap`).

    Returns
    -------
    list
        The results in the order of ``items``.
    """
    tqdm = tqdm_class()

    steps = list(weights) if weights is not None else [1] * len(items)
    out = []
    with tqdm(total=sum(steps), desc=desc, unit=unit, disable=not progress) as bar:
        # local processes always (``scheduler="local"``): the caller did not ask for a cluster
        for result, step in zip(
            parallel_imap(
                fn,
                items,
                n_jobs=n_jobs,
                star=star,
                scheduler="local",
                fresh_workers=fresh_workers,
                workers_for=workers_for,
            ),
            steps,
        ):
            out.append(result)
            bar.update(step)
    return out


def scheduler_address(scheduler: Any = None) -> Any:
    """The Dask scheduler to use: ``scheduler`` itself, else ``$MELREC_SCHEDULER``, else ``None`` (local).

    ``scheduler`` may be an address string (``"tcp://10.0.0.5:8786"``), a
    ``distributed.LocalCluster`` or a ``distributed.Client``.  ``"local"`` or ``""`` means local
    processes even when the environment variable is set.
    """
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_ENV) or None
    if isinstance(scheduler, str) and scheduler.strip().lower() in ("", "local"):
        return None
    return scheduler


@contextlib.contextmanager
def _dask_backend(scheduler: Any) -> Iterator[Any]:
    """joblib's ``dask`` backend over a client of ``scheduler`` (closed afterwards if opened here)."""
    from joblib import parallel_config

    from melrec_lib.errors import ParameterError

    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - pinned in requirements.lock
        raise ParameterError(f"scheduler {scheduler!r} needs dask.distributed (pip install distributed)") from exc
    if isinstance(scheduler, Client):
        client, own = scheduler, False
    else:
        try:
            client, own = Client(scheduler, timeout="20s"), True
        except (OSError, TimeoutError, ValueError) as exc:
            raise ParameterError(f"cannot reach the Dask scheduler {scheduler!r}: {exc}") from exc
    try:
        with parallel_config(backend="dask", wait_for_workers_timeout=60):
            yield client
    finally:
        if own:
            client.close()


def parallel_imap(
    fn: Callable[..., Any],
    items: Sequence[Any],
    *,
    n_jobs: int | None = None,
    star: bool = False,
    scheduler: Any = None,
    ahead: int | Callable[[], int] | None = None,
    fresh_workers: bool = False,
    workers_for: str | None = None,
) -> Iterator[Any]:
    """``fn(item) for item in items`` as a generator, in order, on local processes or a Dask cluster.

    Parameters
    ----------
    fn : picklable callable
    items : sequence
    n_jobs : int > 0 or None
        Local worker processes (``None`` = all cores, ``1`` = this process); on a cluster, the
        most tasks in flight (``None``: as many as it has worker threads).
    star : bool
        Unpack each item as positional arguments.
    scheduler : str, distributed.Client, LocalCluster or None
        Where to run (see :func:`scheduler_address`); ``None`` and no ``$MELREC_SCHEDULER``:
        local processes.
    ahead : int > 0, callable or None
        Local processes: compute at most two windows of results ahead of the caller.  The
        items run in windows of ``ahead`` items (a callable: ``ahead()`` items, asked as each
        window starts, so a caller can size windows by what the results it took weigh), each
        a joblib generator of its own, and the next window starts when the caller takes the
        first result of the current one (so the workers never wait for the caller at a
        window's end).  ``None``: no bound -- joblib dispatches a new task whenever one
        finishes, so results a slower caller has not taken yet pile up in this process (all of
        them, for a long enough ``items``).
    fresh_workers : bool
        Local processes: stop joblib's reusable workers before this call and after it, so the
        call runs on workers of its own.  For tasks that fill per-process caches (compiled
        networks of new shapes): loky measures a worker's size after its first task and stops
        it, with a warning, once it grows 300 MB past that; a worker that first served another
        call would grow by this call's caches.  Fresh workers also give those caches back when
        the call ends.  Costs one worker start-up per call.
    workers_for : str or None
        Local processes: a name for what the tasks load into a worker and keep there (e.g.
        ``"networks"``: JAX, Keras and compiled networks, hundreds of MB).  loky takes a
        worker's size after its first task as the reference for its leak check, so a worker that
        first ran a light task (decoding a file) and then keeps networks is stopped as leaking,
        with a warning ("A worker stopped while some jobs were given to the executor").  A call
        that names what it loads runs on workers whose first task was of that name: unless the
        workers were started by a call of the same ``workers_for`` (calls without one in between
        change nothing: a worker's reference stays its first task's size), they are stopped
        first.  So the workers are restarted once, not at every such call.  (Workers that loky
        itself retires after a long idle time and restarts for an unnamed call escape this.)

    Yields
    ------
    The results in the order of ``items``, each as soon as it and those before it are done
    (callers can store results while later ones are computed).
    """
    from joblib import Parallel, delayed

    global _WORKERS_FOR
    items = list(items)
    target = scheduler_address(scheduler)
    if target is None and (n_jobs == 1 or len(items) < 2):
        for item in items:
            yield fn(*item) if star else fn(item)
        return
    if target is None and fresh_workers:
        _stop_local_workers()
        try:
            yield from parallel_imap(
                fn, items, n_jobs=n_jobs, star=star, scheduler="local", ahead=ahead, workers_for=workers_for
            )
        finally:
            _stop_local_workers()
        return
    if target is None and workers_for is not None and workers_for != _WORKERS_FOR:
        _stop_local_workers()
        _WORKERS_FOR = workers_for

    task = _Task(fn, star)

    def run(part):
        tasks = (delayed(task)(item) for item in part)
        return Parallel(n_jobs=-1 if n_jobs is None else n_jobs, return_as="generator")(tasks)

    if target is None and ahead is not None:
        size = ahead if callable(ahead) else (lambda: ahead)

        def window(start):
            stop = start + check_int(size(), "ahead", minimum=1)
            return run(items[start:stop]), min(stop, len(items))

        current, end = window(0)
        while current is not None:
            # two generators of two Parallel objects may share loky's workers at once (joblib's
            # generator mode runs one loop per Parallel object)
            following, end = window(end) if end < len(items) else (None, end)
            yield from current
            current = following
        return
    if hasattr(target, "scheduler_address") and not hasattr(target, "submit"):  # a LocalCluster
        target = target.scheduler_address
    with contextlib.nullcontext() if target is None else _dask_backend(target):
        yield from run(items)


#: ``workers_for`` of the call that started the local workers (:func:`parallel_imap`); ``None``:
#: no workers, or started by a call without one.
_WORKERS_FOR: str | None = None


def _stop_local_workers() -> None:
    """Stop joblib's reusable loky workers (the next local call starts new ones)."""
    from joblib.externals.loky import get_reusable_executor

    global _WORKERS_FOR
    get_reusable_executor(reuse=True).shutdown(wait=True)
    _WORKERS_FOR = None  # the next local call starts workers of its own kind


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
