"""recsys.selection: notebook 08's selection rule and its targets, on hand-made per-user tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from melrec_lib.errors import ParameterError
from melrec_lib.recsys import selection

SIMPLE = "centroid@musicnn-msd/penultimate"
NET = "recommender-corrected-small@musicnn-msd/penultimate"
FUSION = "fusion-corrected-small@musicnn-msd/penultimate"
N = 24  # development users per protocol


def _results(per_method: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """``protocol, user, method, roc_auc`` from ``{method: {protocol: per-user values}}``."""
    rows = []
    for method, by_protocol in per_method.items():
        for protocol, values in by_protocol.items():
            for i, v in enumerate(values):
                rows.append({"protocol": protocol, "user": f"{protocol}-u{i:02d}", "method": method, "roc_auc": v})
    return pd.DataFrame(rows)


@pytest.fixture
def base():
    rng = np.random.default_rng(7)
    return {p: rng.uniform(0.6, 0.9, N) for p in ("similar", "diverse")}


def _noise(scale: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, scale, N)


def test_an_advantage_within_noise_keeps_the_simpler_method(base):
    # +0.01 on average with a spread of 0.1 per user: the interval straddles 0 in both protocols
    noisy = {p: v + 0.01 + _noise(0.1, i) for i, (p, v) in enumerate(base.items())}
    verdict = selection.select(_results({SIMPLE: base, NET: noisy}), [SIMPLE, NET])
    assert verdict.chosen == SIMPLE
    row = verdict.table.iloc[0]
    assert row["candidate"] == NET and row["against"] == SIMPLE and not row["replaces"]
    for p in ("similar", "diverse"):
        assert row[f"{p}: lo"] < 0 < row[f"{p}: hi"]


def test_a_clear_win_in_one_protocol_without_a_loss_in_the_other_replaces(base):
    better = {
        "similar": base["similar"] + 0.05 + _noise(0.01, 1),  # wins well beyond its interval
        "diverse": base["diverse"] + _noise(0.05, 2),  # no clear difference
    }
    verdict = selection.select(_results({SIMPLE: base, NET: better}), [SIMPLE, NET])
    assert verdict.chosen == NET
    row = verdict.table.iloc[0]
    assert row["replaces"] and row["wins in"] == "similar" and row["loses in"] == ""


def test_a_win_in_one_protocol_and_a_clear_loss_in_the_other_does_not_replace(base):
    mixed = {"similar": base["similar"] + 0.05 + _noise(0.01, 3), "diverse": base["diverse"] - 0.05 + _noise(0.01, 4)}
    verdict = selection.select(_results({SIMPLE: base, NET: mixed}), [SIMPLE, NET])
    assert verdict.chosen == SIMPLE
    row = verdict.table.iloc[0]
    assert row["wins in"] == "similar" and row["loses in"] == "diverse" and not row["replaces"]


def test_later_candidates_are_compared_with_the_current_choice(base):
    net = {p: v + 0.05 + _noise(0.01, i) for i, (p, v) in enumerate(base.items())}  # beats SIMPLE
    # the fusion beats SIMPLE clearly but is NET's equal within noise: NET stays
    fusion = {p: v + _noise(0.05, 10 + i) for i, (p, v) in enumerate(net.items())}
    verdict = selection.select(_results({SIMPLE: base, NET: net, FUSION: fusion}), [SIMPLE, NET, FUSION])
    assert verdict.chosen == NET
    assert list(verdict.table["against"]) == [SIMPLE, NET]
    assert list(verdict.table["replaces"]) == [True, False]
    assert len(verdict.steps()) == 2 and "does not replace" in verdict.steps()[1]


def test_the_table_is_the_paired_mean_and_scipys_bootstrap_interval(base):
    other = {p: v + _noise(0.05, 20 + i) for i, (p, v) in enumerate(base.items())}
    results = _results({SIMPLE: base, NET: other}).sample(frac=1.0, random_state=0)  # order must not matter
    verdict = selection.select(results, [SIMPLE, NET], level=0.9, seed=3)
    for p in ("similar", "diverse"):
        d = other[p] - base[p]  # the pairs, by hand
        ci = stats.bootstrap(
            (d,), np.mean, confidence_level=0.9, n_resamples=2000, method="percentile", rng=np.random.default_rng(3)
        ).confidence_interval
        row = verdict.table.iloc[0]
        assert row[f"{p}: n_users"] == N
        assert row[f"{p}: difference"] == pytest.approx(d.mean())
        assert (row[f"{p}: lo"], row[f"{p}: hi"]) == pytest.approx((ci.low, ci.high))


def test_one_candidate_is_its_own_verdict(base):
    verdict = selection.select(_results({SIMPLE: base}), [SIMPLE])
    assert verdict.chosen == SIMPLE and verdict.table.empty


def test_select_refuses_unpaired_or_missing_results(base):
    results = _results({SIMPLE: base, NET: base})
    with pytest.raises(ParameterError, match="only one of"):
        selection.select(results.drop(index=results.index[-1]), [SIMPLE, NET])
    with pytest.raises(ParameterError, match="no similar results"):
        selection.select(results, [SIMPLE, FUSION])
    with pytest.raises(ParameterError, match="no similar results"):
        selection.select(results, [FUSION, SIMPLE])
    with pytest.raises(ParameterError, match="repeated"):
        selection.select(results, [SIMPLE, SIMPLE])
    with pytest.raises(ParameterError, match="at least one"):
        selection.select(results, [])
    with pytest.raises(ParameterError, match="more than one"):
        selection.select(pd.concat([results, results]), [SIMPLE, NET])


def test_centroid_of_names_the_same_features():
    assert selection.centroid_of(FUSION) == SIMPLE
    assert (
        selection.centroid_of("recommender-corrected@corrected/dense1024+mfcc") == "centroid@corrected/dense1024+mfcc"
    )


def _summary(rows):
    return pd.DataFrame(rows, columns=["protocol", "method", "roc_auc"])


def test_targets_are_differences_of_the_summary():
    summary = _summary(
        [
            ("similar", FUSION, 0.93),
            ("similar", SIMPLE, 0.94),
            ("similar", NET, 0.90),
            ("similar", "bliss-mean", 0.80),
            ("similar", "musly-mean", 0.81),
            ("diverse", FUSION, 0.85),
            ("diverse", SIMPLE, 0.80),
            ("diverse", NET, 0.84),
            ("diverse", "bliss-mean", 0.70),
        ]
    )
    per_group = pd.DataFrame(
        [("dev/a", FUSION, 0.9), ("conf/b", FUSION, 0.55), ("conf/b", SIMPLE, 0.2)],
        columns=["group", "method", "roc_auc"],
    )
    t = selection.targets(
        summary, per_group, FUSION, simple=[SIMPLE, NET], peers=["bliss-mean", "musly-mean", "bliss-centroid"]
    )
    assert list(t.columns) == list(selection.TARGET_COLUMNS)
    got = {(r.target[0], r.protocol): r for r in t.itertuples()}
    assert got[("1", "similar")].value == pytest.approx(0.93 - 0.94) and got[("1", "similar")].met is False
    assert got[("1", "similar")].detail == SIMPLE
    assert got[("1", "diverse")].value == pytest.approx(0.85 - 0.84) and got[("1", "diverse")].detail == NET
    assert got[("2", "similar")].value == pytest.approx(0.93 - 0.81) and got[("2", "similar")].met is True
    assert got[("2", "diverse")].value == pytest.approx(0.85 - 0.70)
    assert got[("3", "similar")].value == pytest.approx(0.55) and got[("3", "similar")].detail == "conf/b"
    assert got[("3", "similar")].met is False
    assert got[("4", "similar")].value == pytest.approx(0.93) and got[("4", "similar")].met is False


def test_targets_without_peers_say_so_and_refuse_missing_methods():
    summary = _summary([(p, m, 0.9) for p in ("similar", "diverse") for m in (FUSION, SIMPLE)])
    per_group = pd.DataFrame([("a", FUSION, 0.9)], columns=["group", "method", "roc_auc"])
    t = selection.targets(summary, per_group, FUSION, simple=[SIMPLE], peers=["bliss-mean"])
    peer_rows = t[t["target"].str.startswith("2")]
    assert peer_rows["value"].isna().all() and peer_rows["met"].isna().all()
    with pytest.raises(ParameterError, match="targets need"):
        selection.targets(summary, per_group, FUSION, simple=[NET], peers=[])
    with pytest.raises(ParameterError, match="no per-group rows"):
        selection.targets(summary, per_group, SIMPLE, simple=[SIMPLE], peers=[])


def test_paired_table_is_paired_differences_with_their_intervals(base):
    other = {p: v + _noise(0.05, 30 + i) for i, (p, v) in enumerate(base.items())}
    results = _results({NET: base, FUSION: other})
    got = selection.paired_table(results, [FUSION], NET, level=0.9, seed=3).set_index("protocol")
    for p in ("similar", "diverse"):
        d = other[p] - base[p]
        ci = stats.bootstrap(
            (d,), np.mean, confidence_level=0.9, n_resamples=2000, method="percentile", rng=np.random.default_rng(3)
        ).confidence_interval
        assert got.loc[p, "n_users"] == N and got.loc[p, "against"] == NET
        assert got.loc[p, "difference"] == pytest.approx(d.mean())
        assert (got.loc[p, "lo"], got.loc[p, "hi"]) == pytest.approx((ci.low, ci.high))


def test_playlist_coherence_is_the_mean_cosine_to_the_centroid():
    from sklearn.metrics.pairwise import cosine_similarity

    rng = np.random.default_rng(1)
    F = pd.DataFrame(rng.normal(size=(6, 5)), index=[f"t{i}" for i in range(6)])
    playlist = ["t0", "t3", "t4"]
    c = F.loc[playlist].mean().to_numpy()[None, :]
    assert selection.playlist_coherence(F, playlist) == pytest.approx(cosine_similarity(F.loc[playlist], c).mean())
    same = pd.DataFrame([[1.0, 2.0], [2.0, 4.0]], index=["a", "b"])
    assert selection.playlist_coherence(same, ["a", "b"]) == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="missing"):
        selection.playlist_coherence(F, ["t0", "nope"])
    with pytest.raises(ParameterError, match="needs tracks"):
        selection.playlist_coherence(F, [])


def _coherence_rows(seed: int, n: int = 40) -> pd.DataFrame:
    """Coherent playlists (coherence >= 0.5) favour the centroid by 0.05, spread ones the network."""
    rng = np.random.default_rng(seed)
    coh = rng.uniform(0.0, 1.0, n)
    simple = rng.uniform(0.6, 0.9, n)
    complex_ = simple + np.where(coh >= 0.5, -0.05, 0.05)
    protocol = np.where(np.arange(n) % 2 == 0, "similar", "diverse")
    return pd.DataFrame(
        {
            "user": [f"u{i}" for i in range(n)],
            "protocol": protocol,
            "coherence": coh,
            "simple": simple,
            "complex": complex_,
        }
    )


def test_coherence_choice_finds_the_threshold_on_dev_and_only_measures_the_rest():
    dev, other = _coherence_rows(0), _coherence_rows(1)
    threshold, table = selection.coherence_choice(dev, {"report": other}, simple="c", complex="n")
    below = dev["coherence"][dev["coherence"] < 0.5].max()
    above = dev["coherence"][dev["coherence"] >= 0.5].min()
    assert threshold == above and threshold > below  # the separating dev value
    t = table.set_index(["users", "protocol"])
    for name, rows in (("dev", dev), ("report", other)):
        for p, g in rows.groupby("protocol"):
            chosen = np.where(g["coherence"] >= threshold, g["simple"], g["complex"])
            assert t.loc[(name, p), "choice"] == pytest.approx(chosen.mean())
            assert t.loc[(name, p), "oracle"] == pytest.approx(np.maximum(g["simple"], g["complex"]).mean())
            assert t.loc[(name, p), "c"] == pytest.approx(g["simple"].mean())
            assert t.loc[(name, p), "share simple"] == pytest.approx(np.mean(g["coherence"] >= threshold))
            rho = stats.spearmanr(g["coherence"], g["complex"] - g["simple"]).statistic
            assert t.loc[(name, p), "spearman_coherence_gain"] == pytest.approx(rho)
            assert rho < 0
    # a network that always wins: the threshold runs it for every playlist
    always = dev.assign(complex=dev["simple"] + 0.01)
    threshold, table = selection.coherence_choice(always, {}, simple="c", complex="n")
    assert threshold == np.inf and (table["share simple"] == 0).all()
    with pytest.raises(ParameterError, match="no development users"):
        selection.coherence_choice(dev.iloc[:0], {}, simple="c", complex="n")
    with pytest.raises(ParameterError, match="need columns"):
        selection.coherence_choice(dev.drop(columns="coherence"), {}, simple="c", complex="n")


def test_coherence_rows_pair_the_two_methods_per_user():
    from melrec_lib.recsys import users

    lib = pd.DataFrame({"track_id": [f"t{i}" for i in range(8)], "artist": list("aaaabbbb")})
    people = users.library_users(lib, protocol="similar", seed=0)
    F = pd.DataFrame(np.random.default_rng(2).normal(size=(8, 3)), index=lib["track_id"])
    res = _results({SIMPLE: {"similar": np.array([0.6, 0.7])}, NET: {"similar": np.array([0.8, 0.5])}})
    res["user"] = res["user"].map({"similar-u00": people[0].name, "similar-u01": people[1].name})
    got = selection.coherence_rows(res, people, F, simple=SIMPLE, complex=NET).set_index("user")
    for u, s, c in zip(people, (0.6, 0.7), (0.8, 0.5)):
        assert (got.loc[u.name, "simple"], got.loc[u.name, "complex"]) == pytest.approx((s, c))
        assert got.loc[u.name, "coherence"] == pytest.approx(selection.playlist_coherence(F, u.playlist))
    with pytest.raises(ParameterError, match="no results of method"):
        selection.coherence_rows(res, people, F, simple=SIMPLE, complex=FUSION)
    with pytest.raises(ParameterError, match="unknown users"):
        selection.coherence_rows(res.assign(user="x"), people, F, simple=SIMPLE, complex=NET)
