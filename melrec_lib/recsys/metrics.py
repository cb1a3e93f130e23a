"""Rankings and their metrics and intervals: ``rank``, ROC-AUC, precision@k, nDCG@k, bootstrap means, Figure 5.1's count.

Binary relevance: a candidate is liked or not.  Rankings break score ties by track id
(:func:`rank`), so every metric is a function of the scores alone.
:func:`confidence_interval` gives a mean and a percentile-bootstrap interval over users
(``scipy.stats.bootstrap``); :func:`within_percent` is the thesis' Figure 5.1 count.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from melrec_lib.errors import ParameterError, check_int

__all__ = [
    "METRICS",
    "rank",
    "roc_auc",
    "precision_at_k",
    "ndcg_at_k",
    "ranking_metrics",
    "confidence_interval",
    "within_percent",
]

#: The metrics every evaluation reports, in this order.
METRICS = ("roc_auc", "precision@10", "ndcg@10")


def rank(scores: pd.Series | dict) -> pd.DataFrame:
    """Rank tracks by score, highest first; equal scores in ascending track-id order.

    Parameters
    ----------
    scores : pd.Series or dict
        Score per track id.

    Returns
    -------
    pd.DataFrame
        Columns ``track_id, score, rank`` (rank 1 = best), one row per track.
    """
    s = pd.Series(scores, dtype=np.float64) if isinstance(scores, dict) else scores.astype(np.float64)
    if len(s) == 0:
        raise ParameterError("nothing to rank: no scores")
    if s.isna().any():
        raise ParameterError(f"score of track {s.index[s.isna()][0]!r} is NaN")
    df = pd.DataFrame({"track_id": s.index.to_numpy(), "score": s.to_numpy()})
    df = df.sort_values("track_id", kind="stable").sort_values("score", ascending=False, kind="stable")
    df["rank"] = np.arange(1, len(df) + 1)
    return df.reset_index(drop=True)


def _ranked_relevance(scores: pd.Series, liked: Iterable) -> np.ndarray:
    """Relevance (0/1) of the tracks in ranking order (score desc, ties by track id)."""
    ranking = rank(scores)
    liked = set(liked)
    return ranking["track_id"].isin(liked).to_numpy().astype(np.float64)


def _check_scores(scores: Any) -> pd.Series:
    if isinstance(scores, dict):
        scores = pd.Series(scores, dtype=np.float64)
    if not isinstance(scores, pd.Series):
        raise ParameterError(f"scores must be a pandas Series indexed by track id, not {type(scores).__name__}")
    if len(scores) == 0:
        raise ParameterError("scores is empty: nothing was ranked")
    if scores.index.has_duplicates:
        raise ParameterError(f"scores repeat track id {scores.index[scores.index.duplicated()][0]!r}")
    if not np.all(np.isfinite(scores.to_numpy(np.float64))):
        raise ParameterError("scores contain NaN or infinite values")
    return scores.astype(np.float64)


def roc_auc(scores: pd.Series, liked: Iterable) -> float:
    """Area under the ROC curve of ``scores`` separating ``liked`` tracks from the rest.

    Parameters
    ----------
    scores : pd.Series
        Score per candidate track (index = track id).
    liked : iterable of track ids
        The relevant candidates; ids not in ``scores`` are ignored.

    Returns
    -------
    float in [0, 1]
        ``sklearn.metrics.roc_auc_score`` (ties count one half); 0.5 = chance.

    Raises
    ------
    ParameterError
        if the candidates are all liked or all not liked (AUC undefined).
    """
    from sklearn.metrics import roc_auc_score

    s = _check_scores(scores)
    y = s.index.isin(set(liked))
    if y.all() or not y.any():
        raise ParameterError(f"ROC-AUC needs liked and not-liked candidates; got {int(y.sum())} liked of {len(y)}")
    return float(roc_auc_score(y, s.to_numpy()))


def precision_at_k(scores: pd.Series, liked: Iterable, k: int = 10) -> float:
    """Share of liked tracks among the top ``k`` of the ranking (``k`` capped at the candidates)."""
    rel = _ranked_relevance(_check_scores(scores), liked)
    k = min(check_int(k, "k", minimum=1), len(rel))
    return float(rel[:k].sum() / k)


def ndcg_at_k(scores: pd.Series, liked: Iterable, k: int = 10) -> float:
    """Normalised discounted cumulative gain of the top ``k`` with binary relevance.

    ``DCG@k = sum_{i<k} rel_i / log2(i + 2)``, divided by the DCG of an ideal ranking.

    Raises
    ------
    ParameterError
        if no candidate is liked (nDCG undefined).
    """
    rel = _ranked_relevance(_check_scores(scores), liked)
    k = min(check_int(k, "k", minimum=1), len(rel))
    n_rel = int(rel.sum())
    if n_rel == 0:
        raise ParameterError("nDCG needs at least one liked candidate")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = discounts[: min(n_rel, k)].sum()
    return float((rel[:k] * discounts).sum() / ideal)


def ranking_metrics(scores: pd.Series, liked: Iterable, *, k: int = 10) -> dict[str, float]:
    """``{"roc_auc", "precision@k", "ndcg@k"}`` of one ranking."""
    liked = set(liked)
    return {
        "roc_auc": roc_auc(scores, liked),
        f"precision@{k}": precision_at_k(scores, liked, k),
        f"ndcg@{k}": ndcg_at_k(scores, liked, k),
    }


def confidence_interval(
    values: Any, *, level: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval of ``values`` (``scipy.stats.bootstrap``).

    Parameters
    ----------
    values : array [shape=(n,)], finite, n >= 1
    level : float in (0, 1)
    n_resamples : int > 0
    seed : int >= 0

    Returns
    -------
    (mean, low, high)
        For a single value, or identical values, the interval is that value.
    """
    from scipy import stats

    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(v) == 0:
        raise ParameterError("confidence_interval needs at least one value")
    if not np.all(np.isfinite(v)):
        raise ParameterError("confidence_interval: values contain NaN or infinity")
    if not 0 < level < 1:
        raise ParameterError(f"level must lie in (0, 1), not {level!r}")
    mean = float(v.mean())
    if len(v) == 1 or np.ptp(v) == 0:
        return mean, mean, mean
    res = stats.bootstrap(
        (v,),
        np.mean,
        confidence_level=level,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def within_percent(scores: Any, maximum: float, percents: Any) -> np.ndarray:
    """Figure 5.1: how many scores lie within ``x`` % of ``maximum``, for each ``x``.

    A score ``s`` is within x % when ``s >= maximum * (1 - x / 100)`` (scores above the
    maximum count at every x).

    Parameters
    ----------
    scores : array [shape=(n,)]
    maximum : float > 0
        The thesis' "maximum score": the mean score of the training positives.
    percents : array [shape=(m,)], values in [0, 100]

    Returns
    -------
    np.ndarray [shape=(m,), int]
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    x = np.asarray(percents, dtype=np.float64).reshape(-1)
    if not (np.isfinite(maximum) and maximum > 0):
        raise ParameterError(f"maximum must be a positive score, not {maximum!r}")
    if np.any((x < 0) | (x > 100)) or not np.all(np.isfinite(x)):
        raise ParameterError("percents must lie in [0, 100]")
    thresholds = maximum * (1.0 - x / 100.0)
    return (s[None, :] >= thresholds[:, None] - 1e-12).sum(axis=1)
