"""melrec_lib.recsys.metrics: ranking metrics, intervals and Figure 5.1's count against their references.

References: scipy's Mann-Whitney U (ROC-AUC = U / (n1 n0)), sklearn's ndcg_score, scipy's t
interval, and the definitions written out in Python.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from melrec_lib.errors import MelrecError, ParameterError
from melrec_lib.recsys import metrics as E


def _scores(rng, n=40, ties=False):
    v = rng.random(n)
    if ties:
        v = np.round(v, 1)
    return pd.Series(v, index=[f"t{i:03d}" for i in range(n)])


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("n_liked", [1, 5, 20])
def test_roc_auc_is_mann_whitney_u(rng, ties, n_liked):
    from scipy.stats import mannwhitneyu

    s = _scores(rng, ties=ties)
    liked = set(rng.choice(s.index, n_liked, replace=False))
    pos = s[s.index.isin(liked)].to_numpy()
    neg = s[~s.index.isin(liked)].to_numpy()
    u = mannwhitneyu(pos, neg).statistic
    assert E.roc_auc(s, liked) == pytest.approx(u / (len(pos) * len(neg)))


@pytest.mark.parametrize("k", [1, 3, 10, 40, 100])
def test_ndcg_matches_sklearn(rng, k):
    from sklearn.metrics import ndcg_score

    s = _scores(rng)  # no ties: sklearn averages over ties, we break them by track id
    liked = set(rng.choice(s.index, 7, replace=False))
    rel = s.index.isin(liked).astype(float)
    assert E.ndcg_at_k(s, liked, k) == pytest.approx(ndcg_score([rel], [s.to_numpy()], k=k))


@pytest.mark.parametrize("k", [1, 5, 10, 40])
def test_precision_at_k_by_definition(rng, k):
    s = _scores(rng, ties=True)
    liked = set(rng.choice(s.index, 9, replace=False))
    top = sorted(s.index, key=lambda t: (-s[t], t))[:k]
    assert E.precision_at_k(s, liked, k) == pytest.approx(sum(t in liked for t in top) / k)


def test_ties_are_broken_by_track_id():
    s = pd.Series([0.5, 0.5, 0.5], index=["c", "a", "b"])
    assert E.precision_at_k(s, {"a"}, 1) == 1.0
    assert E.precision_at_k(s, {"c"}, 1) == 0.0


def test_perfect_and_worst_rankings():
    s = pd.Series(np.arange(10, 0, -1) / 10, index=list("abcdefghij"))
    m = E.ranking_metrics(s, {"a", "b"}, k=10)
    assert m == {"roc_auc": 1.0, "precision@10": 0.2, "ndcg@10": 1.0}
    assert E.roc_auc(s, {"i", "j"}) == 0.0


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda s: E.roc_auc(s, set(s.index)), "liked and not-liked"),
        (lambda s: E.roc_auc(s, set()), "liked and not-liked"),
        (lambda s: E.ndcg_at_k(s, set(), 5), "at least one liked"),
        (lambda s: E.precision_at_k(s, {"t000"}, 0), "k must be"),
        (lambda s: E.roc_auc(pd.Series([np.nan, 1.0], index=["a", "b"]), {"a"}), "NaN"),
        (lambda s: E.roc_auc(s.to_numpy(), {"a"}), "pandas Series"),
        (lambda s: E.roc_auc(pd.Series(dtype=float), {"a"}), "empty"),
    ],
)
def test_metric_errors(rng, call, match):
    with pytest.raises(ParameterError, match=match):
        call(_scores(rng))


def test_bootstrap_interval_agrees_with_t_interval(rng):
    from scipy import stats

    v = rng.normal(0.7, 0.1, 200)
    mean, lo, hi = E.confidence_interval(v, seed=0)
    t_lo, t_hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert mean == pytest.approx(v.mean())
    assert lo == pytest.approx(t_lo, abs=0.004) and hi == pytest.approx(t_hi, abs=0.004)
    assert E.confidence_interval(v, seed=0) == (mean, lo, hi)  # seeded
    assert E.confidence_interval([0.3, 0.3]) == (0.3, 0.3, 0.3)
    with pytest.raises(ParameterError):
        E.confidence_interval([])
    with pytest.raises(ParameterError):
        E.confidence_interval([0.1, np.nan])


def test_within_percent_counts_like_figure_5_1():
    scores = np.array([0.6961, 0.65, 0.60, 0.30, 0.10, 0.0034])
    x = np.array([0, 5, 20, 60, 80, 100])
    got = E.within_percent(scores, 0.7207, x)
    expected = [sum(s >= 0.7207 * (1 - p / 100) for s in scores) for p in x]
    assert list(got) == expected
    assert got[-1] == len(scores) and np.all(np.diff(got) >= 0)


def test_within_percent_refuses_a_non_positive_maximum():
    with pytest.raises(MelrecError):
        E.within_percent([0.1], 0.0, [10])


def test_rank_sorts_by_score_then_track_id(rng):
    ids = [f"t{i:02d}" for i in rng.permutation(30)]
    scores = pd.Series(np.round(rng.random(30), 1), index=ids)  # many ties
    ranking = E.rank(scores)
    expected = sorted(ids, key=lambda t: (-scores[t], t))
    assert list(ranking["track_id"]) == expected
    assert list(ranking["rank"]) == list(range(1, 31))
    assert ranking["score"].is_monotonic_decreasing


def test_rank_errors():
    with pytest.raises(ParameterError, match="nothing to rank"):
        E.rank(pd.Series(dtype=float))
    with pytest.raises(ParameterError, match="NaN"):
        E.rank(pd.Series([0.1, np.nan], index=["a", "b"]))
