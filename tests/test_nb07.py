"""Notebook 07 (fair evaluation) at smoke size: every method on every user, table and figure written."""

from __future__ import annotations

import pandas as pd
import pytest

from melrec_lib.recsys import benchmark, metrics, users

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def nb07(notebook_run):
    return notebook_run("07")


def test_results_table(nb07):
    _, rec, figures = nb07
    results = pd.read_csv(figures / "nb07-results.csv")
    summary = pd.read_csv(figures / "nb07-summary.csv")
    assert set(results["protocol"]) == set(users.PROTOCOLS)
    assert list(dict.fromkeys(results["method"])) == rec["methods"]
    # every base method ranked every user's candidates; the extra cut points a subset of them
    who = results.groupby("method")["user"].agg(set)
    base = [m for m in rec["methods"] if m in benchmark.BASE_METHODS]
    assert all(who[m] == who[base[0]] for m in base)
    assert all(who[m] <= who[base[0]] for m in rec["methods"])
    assert results[list(metrics.METRICS)].apply(lambda c: c.between(0, 1).all()).all()
    # the summary is the mean over users, with the mean inside its interval
    mean = results.groupby(["protocol", "method"])["roc_auc"].mean()
    for row in summary.itertuples():
        assert row.roc_auc == pytest.approx(mean[(row.protocol, row.method)])
        assert row.roc_auc_lo <= row.roc_auc + 1e-12 and row.roc_auc <= row.roc_auc_hi + 1e-12
    assert rec["roc_auc"][f"similar/{rec['methods'][0]}"] == pytest.approx(
        summary.set_index(["protocol", "method"]).loc[("similar", rec["methods"][0]), "roc_auc"]
    )


def test_baselines_and_cuts_present(nb07):
    _, rec, _ = nb07
    for method in (
        "random",
        "mfcc-centroid",
        "embedding-centroid",
        "logreg",
        "recommender-thesis",
        "recommender-corrected",
    ):
        assert method in rec["methods"]
    assert any(m.startswith("recommender-corrected-") for m in rec["methods"])  # a second cut point
    assert set(rec["n_users"]) == set(users.PROTOCOLS)


def test_figure_written(nb07):
    _, _, figures = nb07
    assert (figures / "nb07-evaluation.png").stat().st_size > 10_000


def test_other_inputs_and_musicnn_are_extra_methods(nb07):
    """The corrected input and musicnn are added beside the default method set, not instead of it."""
    _, rec, _ = nb07
    assert rec["methods"][: len(benchmark.BASE_METHODS)] == list(benchmark.BASE_METHODS)
    for m in (
        "centroid@corrected/pool2",
        "logreg@corrected/pool2",
        "recommender-thesis@corrected/pool2",
        "recommender-corrected@corrected/pool2",
        "recommender-corrected@corrected/dense128",
        "centroid@musicnn-msd/penultimate",
        "centroid@musicnn-msd/taggram",
        "recommender-corrected@musicnn-msd/penultimate",
    ):
        assert m in rec["methods"], m
        assert f"similar/{m}" in rec["roc_auc"]
