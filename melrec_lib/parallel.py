"""One parallel loop with a progress bar: joblib worker processes under a tqdm bar.

Every loop over files in melrec (rendering, probing, fragment extraction, embedding) goes through
:func:`parallel_map`, so they share one worker policy and one progress display.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence


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
        Show the bar (tqdm's ``auto`` flavour: a widget in JupyterLab, text elsewhere).
    star : bool
        Unpack each item as positional arguments.
    weights : sequence of int, optional
        How much each item advances the bar (default 1 each).

    Returns
    -------
    list
        The results in the order of ``items``.
    """
    from tqdm.auto import tqdm

    call = (lambda it: fn(*it)) if star else fn
    steps = list(weights) if weights is not None else [1] * len(items)
    bar = tqdm(total=sum(steps), desc=desc, unit=unit, disable=not progress)
    try:
        if n_jobs == 1 or len(items) < 2:
            out = []
            for item, step in zip(items, steps):
                out.append(call(item))
                bar.update(step)
            return out
        from joblib import Parallel, delayed

        jobs = Parallel(n_jobs=-1 if n_jobs is None else n_jobs, return_as="generator")(
            (delayed(fn)(*item) if star else delayed(fn)(item)) for item in items)
        out = []
        for result, step in zip(jobs, steps):
            out.append(result)
            bar.update(step)
        return out
    finally:
        bar.close()


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for i in range(0, len(items), size):
        yield items[i:i + size]
