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
report users of the confirmation library.  :func:`coherence_choice` measures a per-playlist
choice between two methods by how coherent the playlist is.  All read tables of
:mod:`melrec_lib.recsys.benchmark` (per-user results, :func:`~melrec_lib.recsys.benchmark.summarize`,
:func:`~melrec_lib.recsys.benchmark.by_group`); none of them trains or scores anything.
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
    "paired_table",
    "playlist_coherence",
    "coherence_rows",
    "coherence_choice",
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


def _paired_interval(
    results: pd.DataFrame, method: str, against: str, *, protocol: str, metric: str, level: float, seed: int
) -> tuple[int, float, float, float]:
    """``(n_users, mean, lo, hi)`` of :func:`paired_differences` and its seeded bootstrap interval."""
    d = paired_differences(results, method, against, protocol=protocol, metric=metric)
    mean, lo, hi = confidence_interval(d.to_numpy(), level=level, seed=seed)
    return len(d), mean, lo, hi


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
            n, mean, lo, hi = _paired_interval(
                results, cand, current, protocol=p, metric=metric, level=level, seed=seed
            )
            row.update({f"{p}: n_users": n, f"{p}: difference": mean, f"{p}: lo": lo, f"{p}: hi": hi})
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


def paired_table(
    results: pd.DataFrame,
    methods: Sequence[str],
    against: str,
    *,
    protocols: Sequence[str] = ("similar", "diverse"),
    metric: str = "roc_auc",
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Each method minus ``against``, paired over users, with its bootstrap interval, per protocol.

    Returns
    -------
    pd.DataFrame
        ``method, against, protocol, n_users, difference, lo, hi`` (:func:`paired_differences`,
        :func:`melrec_lib.recsys.metrics.confidence_interval` at ``level``, seeded): the numbers
        :func:`select` compares, for methods that are not candidates.
    """
    columns = ["method", "against", "protocol", "n_users", "difference", "lo", "hi"]
    rows = [
        (m, against, p, *_paired_interval(results, m, against, protocol=p, metric=metric, level=level, seed=seed))
        for m in methods
        for p in protocols
    ]
    return pd.DataFrame(rows, columns=columns)


def playlist_coherence(features: pd.DataFrame, playlist: Sequence[str]) -> float:
    """How alike a playlist's tracks are: the mean cosine of each to the playlist's centroid.

    1 when every track has the same direction; near 0 for unrelated tracks of standardised
    features (:meth:`melrec_lib.recsys.benchmark.EvalData.track_features`).

    Raises
    ------
    ParameterError
        An empty playlist or a track without features.
    """
    playlist = list(playlist)
    missing = [t for t in playlist if t not in features.index]
    if not playlist or missing:
        raise ParameterError(f"playlist coherence needs tracks with features (missing: {missing[:3]})")
    P = features.loc[playlist].to_numpy(np.float64)
    c = P.mean(axis=0)
    norms = np.linalg.norm(P, axis=1) * np.linalg.norm(c)
    return float(np.mean((P @ c) / np.where(norms > 0, norms, 1.0)))


def coherence_rows(
    results: pd.DataFrame, users: Sequence, features: pd.DataFrame, *, simple: str, complex: str
) -> pd.DataFrame:
    """Per user: the playlist's coherence (:func:`playlist_coherence` on ``features``) and the
    ROC-AUC of ``simple`` and ``complex``, the input of :func:`coherence_choice`.

    Returns
    -------
    pd.DataFrame
        ``user, protocol, coherence, simple, complex``, one row per user scored by both methods.

    Raises
    ------
    ParameterError
        A method without results, or results of a user not in ``users``.
    """
    by_name = {u.name: u for u in users}
    rows = results[results["method"].isin([simple, complex])]
    table = rows.pivot_table(index=["user", "protocol"], columns="method", values="roc_auc", aggfunc="first")
    for m in (simple, complex):
        if m not in table.columns:
            raise ParameterError(f"no results of method {m!r}")
    table = table.dropna().reset_index()
    unknown = sorted(set(table["user"]) - set(by_name))
    if unknown:
        raise ParameterError(f"results of unknown users, e.g. {unknown[0]!r}")
    return pd.DataFrame(
        {
            "user": table["user"],
            "protocol": table["protocol"],
            "coherence": [playlist_coherence(features, by_name[u].playlist) for u in table["user"]],
            "simple": table[simple].to_numpy(),
            "complex": table[complex].to_numpy(),
        }
    )


def coherence_choice(
    dev: pd.DataFrame,
    report: "dict[str, pd.DataFrame]",
    *,
    simple: str,
    complex: str,
) -> tuple[float, pd.DataFrame]:
    """A per-playlist choice: ``simple`` for a coherent playlist, ``complex`` for a spread one.

    The threshold is chosen on ``dev`` only, over both protocols together (a user's protocol is
    unknown to ``melrec recommend``): of every dev user's coherence (and one above them all,
    which always runs ``complex``), the one whose choice has the best mean ROC-AUC; ties go to
    the threshold that runs ``complex`` for more playlists.  The same threshold is then applied
    to each table.

    Parameters
    ----------
    dev : pd.DataFrame
        Per-user rows (:func:`coherence_rows`): ``user, protocol, coherence`` and the ROC-AUC of
        the two methods in columns named ``simple`` and ``complex``.
    report : dict of str to pd.DataFrame
        More such tables, by name (e.g. the report users of each library), only measured.
    simple, complex : str
        The two methods' names (for the table).

    Returns
    -------
    threshold : float
        ``simple`` runs where the playlist's coherence is at least this (``inf``: never).
    table : pd.DataFrame
        Per table (``"dev"``, then each of ``report``'s names: column ``users``) and protocol:
        ``n_users``, the mean ROC-AUC of ``simple``, of ``complex``, of the choice, of the
        per-user best of the two (``oracle``, the most any per-playlist choice could reach), the
        share of playlists given ``simple`` (``share simple``), and ``spearman_coherence_gain``,
        the Spearman correlation of coherence with ``complex - simple`` (negative: the network
        gains less on coherent playlists).

    Raises
    ------
    ParameterError
        A table without the needed columns, or an empty ``dev``.
    """
    from scipy.stats import spearmanr

    need = {"user", "protocol", "coherence", "simple", "complex"}
    tables = {"dev": dev, **report}
    for name, t in tables.items():
        if not need <= set(t.columns):
            raise ParameterError(f"{name} rows need columns {sorted(need)}, have {sorted(t.columns)}")
    if dev.empty:
        raise ParameterError("no development users to choose the coherence threshold on")
    coh = dev["coherence"].to_numpy(np.float64)
    options = np.append(np.sort(np.unique(coh)), np.inf)

    def choose(t: pd.DataFrame, threshold: float) -> np.ndarray:
        return np.where(t["coherence"].to_numpy() >= threshold, t["simple"].to_numpy(), t["complex"].to_numpy())

    means = np.array([choose(dev, o).mean() for o in options])
    best = np.flatnonzero(means >= means.max() - 1e-12)
    threshold = float(options[best[-1]])  # the highest of the best: complex for the most playlists
    rows = []
    for name, t in tables.items():
        for protocol, g in t.groupby("protocol", sort=False):
            diff = g["complex"] - g["simple"]
            varies = len(g) > 2 and diff.nunique() > 1 and g["coherence"].nunique() > 1
            rho = spearmanr(g["coherence"], diff).statistic if varies else np.nan
            rows.append(
                {
                    "users": name,
                    "protocol": protocol,
                    "n_users": len(g),
                    simple: g["simple"].mean(),
                    complex: g["complex"].mean(),
                    "choice": choose(g, threshold).mean(),
                    "oracle": np.maximum(g["simple"], g["complex"]).mean(),
                    "share simple": float(np.mean(g["coherence"].to_numpy() >= threshold)),
                    "spearman_coherence_gain": float(rho),
                }
            )
    return threshold, pd.DataFrame(rows)
