"""Notebook 08 (real music) at smoke size: both protocols, dev/report users, every source, files written.

CI has no soundtracks corpus: the smoke parameters run the same protocols on melrec-synth-smoke
(artists as groups) with notebook 03's smoke genre CNNs and musicnn on the smoke tracks.
"""

from __future__ import annotations

import pandas as pd
import pytest

from melrec_lib.recsys import benchmark, metrics, users

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def nb08(notebook_run):
    return notebook_run("08")


def test_results_split_into_dev_and_report_users(nb08):
    _, rec, figures = nb08
    results = pd.read_csv(figures / "nb08-results.csv")
    assert set(results["split"]) == {"dev", "report"}
    assert set(results.loc[results["split"] == "dev", "seed"]) == set(rec["dev_seeds"])
    assert set(results.loc[results["split"] == "report", "seed"]) == set(rec["report_seeds"])
    assert not set(rec["dev_seeds"]) & set(rec["report_seeds"])
    assert set(results["protocol"]) == set(users.PROTOCOLS)
    assert results[list(metrics.METRICS)].apply(lambda c: c.between(0, 1).all()).all()
    # candidates only on the development users, except the chosen ones
    report = set(results.loc[results["split"] == "report", "method"])
    chosen = set(rec["chosen"].values())
    assert chosen <= report and chosen <= set(rec["candidates"]) | {rec["default"]}
    assert all(m.startswith("recommender") for m in chosen)
    assert set(rec["methods"]) <= report
    # every track outside the playlist is a candidate (the library is the smoke corpus)
    assert (
        results["n_candidates"] + results["n_playlist"] == results["n_candidates"].add(results["n_playlist"]).max()
    ).all()


def test_both_inputs_cuts_and_musicnn_present(nb08):
    _, rec, _ = nb08
    for cfg in ("thesis", "corrected"):
        for kind in ("centroid", "logreg", "recommender-thesis", "recommender-corrected"):
            assert f"{kind}@{cfg}/pool2" in rec["methods"]
        assert f"recommender-corrected@{cfg}/dense128" in rec["methods"]
    for m in (
        "random",
        "centroid@mfcc",
        "centroid@musicnn-msd/penultimate",
        "centroid@musicnn-msd/taggram",
        "recommender-corrected@musicnn-msd/penultimate",
    ):
        assert m in rec["methods"]
    for m in rec["methods"] + rec["candidates"]:
        if m != "random":
            benchmark.parse_method(m)


def test_summary_matches_results_and_records(nb08):
    _, rec, figures = nb08
    results = pd.read_csv(figures / "nb08-results.csv")
    summary = pd.read_csv(figures / "nb08-summary.csv")
    mean = results.groupby(["split", "protocol", "method"])["roc_auc"].mean()
    for row in summary.itertuples():
        assert row.roc_auc == pytest.approx(mean[(row.split, row.protocol, row.method)])
        assert row.roc_auc_lo <= row.roc_auc + 1e-12 <= row.roc_auc_hi + 2e-12
        assert rec["roc_auc"][f"{row.split}/{row.protocol}/{row.method}"] == pytest.approx(row.roc_auc)
    assert set(rec["n_users"]) == {f"{s}/{p}" for s in ("dev", "report") for p in users.PROTOCOLS}
    # the targets are differences of recorded report means
    auc = {k.split("/", 2)[2]: v for k, v in rec["roc_auc"].items() if k.startswith("report/similar/")}
    t = rec["targets"][rec["default"]]
    assert t["a: gap to MFCC + 0.05"] == pytest.approx(auc[rec["default"]] - auc["centroid@mfcc"] - 0.05)
    assert t["d: gap to musicnn tags"] == pytest.approx(auc[rec["default"]] - auc["centroid@musicnn-msd/taggram"])


def test_per_soundtrack_table_and_figure(nb08):
    _, rec, figures = nb08
    table = pd.read_csv(figures / "nb08-per-soundtrack.csv", index_col=0)
    assert rec["default"] in table.columns and len(table) >= 1
    assert table.stack().between(0, 1).all()
    assert (figures / "nb08-real-music.png").stat().st_size > 10_000
