"""Choosing ``melrec recommend``'s default on development users, and checking it elsewhere (notebook 08).

**The rule** (:func:`select`, written down before any confirmation number is computed):

1. The candidates are a short list declared in advance, ordered from the simplest to the most
   complex (``candidates[0]`` is the starting choice).
2. They are compared **paired** over the *same* development users of the development library:
   for each user, the difference of the two methods' ROC-AUC; the mean difference gets a
   percentile-bootstrap interval (:func:`melrec_lib.recsys.metrics.confidence_interval`, seeded),
   separately in each protocol (``similar`` and ``diverse``).
3. Walking down the list, a candidate **replaces** the current choice only if, against it, the
   lower end of the interval of the paired difference is above 0 in at least one protocol (it
   wins by more than its interval) **and** the upper end is not below 0 in any protocol (it is
   not worse beyond its interval anywhere).  Otherwise the simpler current choice stays.
4. The choice after the last candidate is the verdict, kept whatever the confirmation library
   then says.

:func:`targets` then measures the chosen default against the benchmark's targets on the
report users of the confirmation library.  Both read tables of
:mod:`melrec_lib.recsys.benchmark` (per-user results, :func:`~melrec_lib.recsys.benchmark.summarize`,
:func:`~melrec_lib.recsys.benchmark.by_group`); neither trains or scores anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from melrec_lib.errors import ParameterError
from melrec_lib.recsys.benchmark import parse_method
from melrec_lib.recsys.metrics import confidence_interval

__all__ = [
    "Verdict",
    "paired_differences",
    "select",
    "centroid_of",
    "targets",
    "TARGET_COLUMNS",
]

#: The columns of :func:`targets`.
TARGET_COLUMNS = ("target", "protocol", "value", "needed", "met", "detail")


def paired_differences(
    results: pd.DataFrame, method: str, against: str, *, protocol: str, metric: str = "roc_auc"
) -> pd.Series:
    """``metric`` of ``method`` minus that of ``against``, per user of ``protocol``.

    Parameters
    ----------
    results : pd.DataFrame
        One row per (user, method): ``protocol, user, method, <metric>``
        (:func:`melrec_lib.recsys.benchmark.evaluate_methods`).
    method, against : str
    protocol, metric : str

    Returns
    -------
    pd.Series
        Indexed by user (sorted), the paired differences.

    Raises
    ------
    ParameterError
        A missing column, protocol or method, a user scored by only one of the two methods, or a
        (user, method) with more than one row.
    """
    for col in ("protocol", "user", "method", metric):
        if col not in results.columns:
            raise ParameterError(f"the results have no column {col!r}")
    rows = results[(results["protocol"] == protocol) & results["method"].isin([method, against])]
    if rows.duplicated(["user", "method"]).any():
        raise ParameterError(f"more than one {protocol} row of a (user, method) among {method!r}, {against!r}")
    table = rows.pivot(index="user", columns="method", values=metric).sort_index()
    for m in (method, against):
        if m not in table.columns:
            raise ParameterError(f"no {protocol} results of method {m!r}")
    unpaired = table.index[table[[method, against]].isna().any(axis=1)]
    if len(unpaired):
        raise ParameterError(
            f"user(s) {list(unpaired[:3])} have {protocol} results of only one of {method!r}, {against!r}"
        )
    return (table[method] - table[against]).rename(f"{method} - {against}")


@dataclass(frozen=True)
class Verdict:
    """What :func:`select` decided.

    Attributes
    ----------
    chosen : str
        The method the rule keeps.
    candidates : tuple of str
        The declared list, simplest first.
    table : pd.DataFrame
        One row per candidate after the first, in order: ``candidate``, ``against`` (the current
        choice it was compared with), per protocol ``<p>: n_users``, ``<p>: difference`` (mean
        paired difference, candidate minus current), ``<p>: lo``, ``<p>: hi`` (its interval),
        then ``wins in`` and ``loses in`` (protocols, comma-separated) and ``replaces`` (bool).
    level : float
        The intervals' confidence level.
    """

    chosen: str
    candidates: tuple[str, ...]
    table: pd.DataFrame
    level: float

    def steps(self) -> list[str]:
        """One sentence per comparison (for printing)."""
        out = []
        for r in self.table.to_dict("records"):
            how = "replaces it" if r["replaces"] else "does not replace it"
            out.append(
                f"{r['candidate']} vs {r['against']}: wins in [{r['wins in']}], loses in [{r['loses in']}] -> {how}"
            )
        return out


def select(
    results: pd.DataFrame,
    candidates: Sequence[str],
    *,
    protocols: Sequence[str] = ("similar", "diverse"),
    metric: str = "roc_auc",
    level: float = 0.95,
    seed: int = 0,
) -> Verdict:
    """Apply the rule of this module's docstring to per-user development results.

    Parameters
    ----------
    results : pd.DataFrame
        ``protocol, user, method, <metric>``: every candidate on the same users of every protocol
        (the development users only; the caller keeps the report users out).
    candidates : sequence of str
        Simplest first; at least one, no repeats.
    protocols : sequence of str
        Where a candidate must win in one and lose in none.
    metric : str
    level : float in (0, 1)
        Of the bootstrap interval of each mean paired difference.
    seed : int >= 0
        Seeds every bootstrap.

    Returns
    -------
    Verdict

    Raises
    ------
    ParameterError
        No candidates, repeated candidates, or what :func:`paired_differences` refuses.
    """
    candidates = tuple(candidates)
    if not candidates:
        raise ParameterError("select needs at least one candidate")
    if len(set(candidates)) != len(candidates):
        raise ParameterError(f"repeated candidates in {list(candidates)}")
    if not protocols:
        raise ParameterError("select needs at least one protocol")
    current = candidates[0]
    for p in protocols:  # the starting choice must be measured too
        if not ((results["protocol"] == p) & (results["method"] == current)).any():
            raise ParameterError(f"no {p} results of method {current!r}")
    rows = []
    for cand in candidates[1:]:
        row: dict = {"candidate": cand, "against": current}
        wins, loses = [], []
        for p in protocols:
            d = paired_differences(results, cand, current, protocol=p, metric=metric)
            mean, lo, hi = confidence_interval(d.to_numpy(), level=level, seed=seed)
            row.update({f"{p}: n_users": len(d), f"{p}: difference": mean, f"{p}: lo": lo, f"{p}: hi": hi})
            if lo > 0:
                wins.append(p)
            if hi < 0:
                loses.append(p)
        replaces = bool(wins) and not loses
        row.update({"wins in": ", ".join(wins), "loses in": ", ".join(loses), "replaces": replaces})
        rows.append(row)
        if replaces:
            current = cand
    cols = ["candidate", "against"]
    cols += [f"{p}: {c}" for p in protocols for c in ("n_users", "difference", "lo", "hi")]
    cols += ["wins in", "loses in", "replaces"]
    return Verdict(chosen=current, candidates=candidates, table=pd.DataFrame(rows, columns=cols), level=level)


def centroid_of(method: str) -> str:
    """The centroid method in the same features as ``method``.

    >>> centroid_of("recommender-corrected-small@corrected/pool2+mfcc")
    'centroid@corrected/pool2+mfcc'
    """
    return "centroid@" + parse_method(method)["source"]


def targets(
    summary: pd.DataFrame,
    per_group: pd.DataFrame,
    default: str,
    *,
    simple: Sequence[str],
    peers: Sequence[str],
    protocols: Sequence[str] = ("similar", "diverse"),
    peer_margin: float = 0.10,
    floor: float = 0.6,
    stretch: float = 0.95,
    stretch_protocol: str = "similar",
) -> pd.DataFrame:
    """The benchmark's targets for ``default``, as measured values next to what each needs.

    Parameters
    ----------
    summary : pd.DataFrame
        ``protocol, method, roc_auc`` (the confirmation library's report users).
    per_group : pd.DataFrame
        ``group, method, roc_auc`` (:func:`melrec_lib.recsys.benchmark.by_group`; groups of
        both libraries may be stacked, e.g. named ``<library>/<soundtrack>``).
    default : str
        The method measured.
    simple : sequence of str
        The simple methods in its own features (the centroid, the per-user network alone):
        target 1 is ``roc_auc[default] - max(roc_auc[simple]) >= 0`` in each protocol.
    peers : sequence of str
        Target 2 is ``roc_auc[default] - max(roc_auc[peers]) >= peer_margin`` in each protocol,
        over the peers present in the summary (NaN, ``met`` None, when none is).
    floor : target 3, the lowest per-group ROC-AUC of ``default`` is at least this.
    stretch, stretch_protocol : target 4, ``roc_auc[default]`` of that protocol is at least this.

    Returns
    -------
    pd.DataFrame
        :data:`TARGET_COLUMNS`; ``value`` is the measured difference or score, ``needed`` the
        least it must be, ``met`` whether it is, ``detail`` names the reference.

    Raises
    ------
    ParameterError
        ``default`` or a ``simple`` method missing from a protocol, or no group row of ``default``.
    """
    for col in ("protocol", "method", "roc_auc"):
        if col not in summary.columns:
            raise ParameterError(f"the summary has no column {col!r}")
    auc = summary.set_index(["protocol", "method"])["roc_auc"]
    rows = []

    def add(target, protocol, value, needed, detail):
        met = None if value is None or np.isnan(value) else bool(value >= needed - 1e-12)
        rows.append((target, protocol, value, needed, met, detail))

    for p in protocols:
        missing = [m for m in [default, *simple] if (p, m) not in auc.index]
        if missing:
            raise ParameterError(f"targets need {missing} in the {p} summary")
        best = max(simple, key=lambda m: auc[(p, m)])
        add("1: default - best simple method", p, auc[(p, default)] - auc[(p, best)], 0.0, best)
        present = [m for m in peers if (p, m) in auc.index]
        if present:
            peer = max(present, key=lambda m: auc[(p, m)])
            add("2: default - best peer", p, auc[(p, default)] - auc[(p, peer)], peer_margin, peer)
        else:
            add("2: default - best peer", p, float("nan"), peer_margin, "no peer measured")
    groups = per_group.loc[per_group["method"] == default].set_index("group")["roc_auc"]
    if groups.empty:
        raise ParameterError(f"no per-group rows of {default!r}")
    add("3: worst soundtrack", stretch_protocol, float(groups.min()), floor, str(groups.idxmin()))
    if (stretch_protocol, default) not in auc.index:
        raise ParameterError(f"targets need {default!r} in the {stretch_protocol} summary")
    add("4 (stretch): ROC-AUC", stretch_protocol, float(auc[(stretch_protocol, default)]), stretch, default)
    return pd.DataFrame(rows, columns=list(TARGET_COLUMNS))
