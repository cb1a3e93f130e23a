"""Notebook 08 (real music, two libraries) at smoke size: the rule on dev users, both libraries reported.

CI has no soundtracks: the smoke parameters run the same protocols with melrec-synth-smoke (its
artists as groups) in both roles, with notebook 03's smoke genre CNNs, musicnn and the peers on
the smoke tracks.
"""

from __future__ import annotations

import pandas as pd
import pytest

from melrec_lib.app import pipeline
from melrec_lib.recsys import benchmark, metrics, selection, users

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def nb08(notebook_run):
    return notebook_run("08")


def test_dev_users_choose_on_the_development_library_only(nb08):
    _, rec, figures = nb08
    results = pd.read_csv(figures / "nb08-results.csv")
    assert set(zip(results["library"], results["split"])) == {
        ("development", "dev"),
        ("development", "report"),
        ("confirmation", "report"),
    }
    assert set(results.loc[results["split"] == "dev", "seed"]) == set(rec["dev_seeds"])
    assert set(results.loc[results["split"] == "report", "seed"]) == set(rec["report_seeds"])
    assert not set(rec["dev_seeds"]) & set(rec["report_seeds"])
    assert set(results["protocol"]) == set(users.PROTOCOLS)
    assert results[list(metrics.METRICS)].apply(lambda c: c.between(0, 1).all()).all()
    for (lib, split), g in results.groupby(["library", "split"]):  # every method on every user
        assert set(g["method"]) == set(rec["methods"]), (lib, split)


def test_the_verdict_is_the_rule_applied_to_the_dev_rows(nb08):
    _, rec, figures = nb08
    results = pd.read_csv(figures / "nb08-results.csv")
    dev = results[results["split"] == "dev"]
    again = selection.select(dev, rec["candidates"], protocols=users.PROTOCOLS)
    assert rec["chosen"]["best"] == again.chosen
    assert [r["candidate"] for r in rec["verdict"]] == rec["candidates"][1:]
    table = pd.read_csv(figures / "nb08-verdict.csv")
    assert list(table["candidate"]) == rec["candidates"][1:] and set(table["chosen"]) == {again.chosen}
    pd.testing.assert_series_equal(table["similar: lo"], again.table["similar: lo"], check_exact=False)
    # what melrec recommend runs by default is recorded beside it (the lead's run sets them equal)
    assert rec["default"] == pipeline.resolve().method()


def test_every_named_pipeline_the_peers_and_the_candidates_are_methods(nb08):
    _, rec, _ = nb08
    for name, method in rec["pipelines"].items():
        assert method == pipeline.PIPELINES[name].method() and method in rec["methods"]
    assert rec["pipelines"]["thesis"] == "recommender-thesis@thesis/pool2"
    assert set(rec["candidates"]) <= set(rec["methods"])
    assert rec["peers"] and set(rec["peers"]) <= set(rec["methods"])  # installed in the test environment
    for m in rec["methods"]:
        if m != "random" and m not in rec["peers"]:
            benchmark.parse_method(m)


def test_summary_matches_results_and_records(nb08):
    _, rec, figures = nb08
    results = pd.read_csv(figures / "nb08-results.csv")
    summary = pd.read_csv(figures / "nb08-summary.csv")
    mean = results.groupby(["library", "split", "protocol", "method"])["roc_auc"].mean()
    for row in summary.itertuples():
        assert row.roc_auc == pytest.approx(mean[(row.library, row.split, row.protocol, row.method)])
        assert row.roc_auc_lo <= row.roc_auc + 1e-12 <= row.roc_auc_hi + 2e-12
        if row.library == "development":  # the keys of a one-library run keep their meaning
            assert rec["roc_auc"][f"{row.split}/{row.protocol}/{row.method}"] == pytest.approx(row.roc_auc)
        if row.split == "report":
            key = f"{row.library}/report/{row.protocol}/{row.method}"
            assert rec["roc_auc_by_library"][key] == pytest.approx(row.roc_auc)
    assert set(rec["n_users"]) == {f"{s}/{p}" for s in ("dev", "report") for p in users.PROTOCOLS}


def test_targets_are_differences_of_the_confirmation_numbers(nb08):
    _, rec, figures = nb08
    auc = rec["roc_auc_by_library"]
    chosen = rec["chosen"]["best"]
    t = pd.read_csv(figures / "nb08-targets.csv")
    for p in users.PROTOCOLS:
        simple = ["centroid@musicnn-msd/penultimate", "recommender-corrected-small@musicnn-msd/penultimate"]
        best = max(auc[f"confirmation/report/{p}/{m}"] for m in simple)
        row = t[(t["target"].str.startswith("1")) & (t["protocol"] == p)].iloc[0]
        assert row["value"] == pytest.approx(auc[f"confirmation/report/{p}/{chosen}"] - best)
        peer = max(auc[f"confirmation/report/{p}/{m}"] for m in rec["peers"])
        row = t[(t["target"].str.startswith("2")) & (t["protocol"] == p)].iloc[0]
        assert row["value"] == pytest.approx(auc[f"confirmation/report/{p}/{chosen}"] - peer)
    worst = min(v for k, v in rec["per_soundtrack_by_library"].items() if k.endswith("/" + chosen))
    assert t[t["target"].str.startswith("3")]["value"].iloc[0] == pytest.approx(worst)


def test_per_soundtrack_table_and_figures(nb08):
    _, rec, figures = nb08
    table = pd.read_csv(figures / "nb08-per-soundtrack.csv")
    assert set(table["library"]) == {"development", "confirmation"}
    assert rec["chosen"]["best"] in table.columns and rec["default"] in table.columns
    assert table.drop(columns=["library", "group"]).stack().between(0, 1).all()
    for name in ("nb08-real-music", "nb08-real-music-confirmation"):
        assert (figures / f"{name}.png").stat().st_size > 10_000


def test_the_ideas_after_the_verdict_are_paired_with_it_and_change_nothing(nb08):
    _, rec, figures = nb08
    chosen = rec["chosen"]["best"]
    explore = pd.read_csv(figures / "nb08-explore.csv")
    summary = pd.read_csv(figures / "nb08-summary.csv").set_index(["library", "split", "protocol", "method"])
    sets = {("development", "dev"), ("development", "report"), ("confirmation", "report")}
    assert set(zip(explore["library"], explore["split"])) == sets and set(explore["against"]) == {chosen}
    assert explore.groupby("method").size().eq(len(sets) * len(users.PROTOCOLS)).all()
    assert (explore["lo"] <= explore["difference"] + 1e-12).all() and (
        explore["difference"] <= explore["hi"] + 1e-12
    ).all()
    for r in explore.itertuples():  # the same users as the verdict's rows, and recorded
        assert r.n_users == summary.loc[(r.library, r.split, r.protocol, chosen), "n_users"]
        assert rec["explore"][f"{r.library}/{r.split}/{r.protocol}/{r.method}"] == pytest.approx(
            [r.difference, r.lo, r.hi]
        )
        benchmark.parse_method(r.method)
    assert not set(explore["method"]) & set(rec["methods"])  # not candidates, not in the rule's rows
    # the coherence choice: its two methods' means are the summary's, the choice lies between them
    # and the per-user oracle, and the threshold was chosen on the dev users only
    coherence = pd.read_csv(figures / "nb08-coherence.csv")
    centroid, network = "centroid@musicnn-msd/penultimate", "recommender-corrected-small@musicnn-msd/penultimate"
    names = {"dev": ("development", "dev"), "development / report": ("development", "report")}
    names["confirmation / report"] = ("confirmation", "report")
    assert set(coherence["users"]) == set(names)
    for r in coherence.to_dict("records"):
        lib, split = names[r["users"]]
        for m in (centroid, network):
            assert r[m] == pytest.approx(summary.loc[(lib, split, r["protocol"], m), "roc_auc"])
        assert min(r[centroid], r[network]) - 1e-12 <= r["choice"] <= r["oracle"] + 1e-12
        assert r["oracle"] >= max(r[centroid], r[network]) - 1e-12
    assert rec["coherence_threshold"] is None or isinstance(rec["coherence_threshold"], float)
