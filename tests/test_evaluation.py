"""melrec_lib.evaluation: ranking metrics, intervals, simulated users, baselines.

References: scipy's Mann-Whitney U (ROC-AUC = U / (n1 n0)), sklearn's ndcg_score and
cosine_similarity, scipy's t interval, librosa's MFCC, and the definitions written out in Python.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from melrec_lib import evaluation as E
from melrec_lib.errors import AudioError, DatasetError, ParameterError


def _scores(rng, n=40, ties=False):
    v = rng.random(n)
    if ties:
        v = np.round(v, 1)
    return pd.Series(v, index=[f"t{i:03d}" for i in range(n)])


# ---------------------------------------------------------------------------- metrics
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


@pytest.mark.parametrize("call,match", [
    (lambda s: E.roc_auc(s, set(s.index)), "liked and not-liked"),
    (lambda s: E.roc_auc(s, set()), "liked and not-liked"),
    (lambda s: E.ndcg_at_k(s, set(), 5), "at least one liked"),
    (lambda s: E.precision_at_k(s, {"t000"}, 0), "k must be"),
    (lambda s: E.roc_auc(pd.Series([np.nan, 1.0], index=["a", "b"]), {"a"}), "NaN"),
    (lambda s: E.roc_auc(s.to_numpy(), {"a"}), "pandas Series"),
    (lambda s: E.roc_auc(pd.Series(dtype=float), {"a"}), "empty"),
])
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


# ---------------------------------------------------------------------------- a toy collection
def _toy_manifest(n_genres=4, n_artists=4, n_tracks=5):
    rows = []
    for g in range(n_genres):
        for sub in ("x", "y"):
            for a in range(n_artists):
                for t in range(n_tracks):
                    rows.append({"track_id": f"g{g}{sub}a{a}t{t}", "path": "", "genre": f"g{g}",
                                 "substyle": sub, "artist": f"g{g}{sub}-artist{a}"})
    return pd.DataFrame(rows)


def _toy_data(manifest, rng, noise=1.5, d=24, per_track=3):
    centers = {k: rng.normal(0, 1, d) for k in set(zip(manifest["genre"], manifest["substyle"]))}
    X, T = [], []
    for r in manifest.itertuples():
        for _ in range(per_track):
            X.append(centers[(r.genre, r.substyle)] + rng.normal(0, noise, d))
            T.append(r.track_id)
    emb = E.Embedded(X=np.asarray(X, np.float32), track=np.asarray(T), cut="pool2")
    mfcc = pd.DataFrame(np.asarray([centers[(r.genre, r.substyle)][:6] + rng.normal(0, 1, 6)
                                    for r in manifest.itertuples()]), index=manifest["track_id"])
    return E.EvalData(embeddings={"pool2": emb}, mfcc=mfcc)


@pytest.mark.parametrize("protocol", E.PROTOCOLS)
def test_simulated_users_are_artist_disjoint(protocol):
    m = _toy_manifest()
    users = E.simulate_users(m, protocol=protocol, n_users=12, seed=3)
    assert len(users) == 12
    meta = m.set_index("track_id")
    for u in users:
        roles = [set(u.playlist), set(u.heldout), set(u.pool), set(u.negatives)]
        assert sum(map(len, roles)) == len(set().union(*roles))  # no track in two roles
        art = {name: set(meta.loc[list(r), "artist"]) for name, r in zip("phpn", roles)}
        assert not set(meta.loc[list(u.playlist), "artist"]) & set(meta.loc[list(u.heldout), "artist"])
        assert not set(meta.loc[list(u.pool), "artist"]) & set(meta.loc[list(u.negatives), "artist"])
        liked = {tuple(x) for x in meta.loc[list(u.playlist) + list(u.heldout), ["genre", "substyle"]].to_numpy()}
        assert liked == set(u.groups)
        not_liked = {tuple(x) for x in meta.loc[list(u.pool) + list(u.negatives), ["genre", "substyle"]].to_numpy()}
        assert not (not_liked & set(u.groups))
        assert len(u.playlist) <= (21 if protocol == "similar" else 25)
        if protocol == "diverse":
            assert len(u.groups) == 3 and len({g for g, _ in u.groups}) >= 2
        del art
    again = E.simulate_users(m, protocol=protocol, n_users=12, seed=3)
    assert again == users
    assert E.simulate_users(m, protocol=protocol, n_users=12, seed=4) != users


def test_similar_protocol_cycles_through_sub_styles():
    m = _toy_manifest()
    users = E.simulate_users(m, protocol="similar", n_users=8, seed=0)
    assert len({u.groups for u in users}) == 8  # 4 genres x 2 sub-styles, each once


def test_simulate_users_errors():
    m = _toy_manifest(n_artists=1)
    with pytest.raises(DatasetError, match="two artists"):
        E.simulate_users(m, protocol="similar", n_users=2)
    with pytest.raises(ParameterError, match="protocol"):
        E.simulate_users(_toy_manifest(), protocol="odd", n_users=2)
    with pytest.raises(ParameterError, match="n_users"):
        E.simulate_users(_toy_manifest(), protocol="similar", n_users=0)
    with pytest.raises(DatasetError, match="lacks column"):
        E.simulate_users(_toy_manifest().drop(columns="artist"), protocol="similar", n_users=1)


def test_centroid_scores_are_cosine_similarities(rng):
    from sklearn.metrics.pairwise import cosine_similarity

    F = pd.DataFrame(rng.normal(size=(10, 5)), index=[f"t{i}" for i in range(10)])
    got = E.centroid_scores(F, ["t0", "t1", "t2"], ["t5", "t6", "t7"])
    ref = cosine_similarity(F.loc[["t5", "t6", "t7"]], F.loc[["t0", "t1", "t2"]].mean().to_numpy()[None])[:, 0]
    np.testing.assert_allclose(got.to_numpy(), ref)
    with pytest.raises(DatasetError, match="no features"):
        E.centroid_scores(F, ["nope"], ["t1"])


def test_evaluation_ranks_methods_sensibly(rng):
    """On a collection where sub-styles are clusters, every content method beats random."""
    m = _toy_manifest()
    data = _toy_data(m, rng)
    users = E.simulate_users(m, protocol="similar", n_users=4, seed=0)
    methods = ["random", "mfcc-centroid", "embedding-centroid", "logreg", "recommender-corrected"]
    res = E.evaluate(users, data, methods=methods, epochs=15, progress=False)
    assert len(res) == 4 * len(methods)
    assert set(res.columns) >= {"protocol", "user", "method", *E.METRICS}
    summ = E.summarize(res).set_index("method")
    assert list(summ.index) == methods
    for method in methods[1:]:
        assert summ.loc[method, "roc_auc"] > 0.85, method
    assert 0.2 < summ.loc["random", "roc_auc"] < 0.8
    assert (summ["roc_auc_lo"] <= summ["roc_auc"]).all() and (summ["roc_auc"] <= summ["roc_auc_hi"]).all()
    with pytest.raises(ParameterError, match="unknown method"):
        E.score_user("magic", users[0], data, epochs=1)
    with pytest.raises(ParameterError, match="no embeddings for cut"):
        E.score_user("recommender-corrected-dense128", users[0], data, epochs=1)


def test_first_users_per_protocol_and_seed():
    users = E.simulate_all(_toy_manifest(), n_users=4, seeds=[0, 1])
    assert len(users) == 2 * 2 * 4
    sub = E.first_users(users, 2)
    assert len(sub) == 8 and all(u in users for u in sub)
    assert sorted((u.protocol, u.seed) for u in sub) == sorted([(p, s) for p in E.PROTOCOLS for s in (0, 1)] * 2)
    with pytest.raises(ParameterError):
        E.first_users(users, 0)


def test_method_names():
    assert E.method_names(("pool1", "pool2", "dense128"))[-2:] == [
        "recommender-corrected-pool1", "recommender-corrected-dense128"]


# ---------------------------------------------------------------------------- MFCC statistics
def test_mfcc_statistics_match_librosa(tmp_path, rng):
    import librosa
    import soundfile as sf

    rows = []
    for i in range(2):
        y = (0.3 * np.sin(2 * np.pi * (220 + 110 * i) * np.arange(22050 * 2) / 22050)
             + 0.01 * rng.normal(size=22050 * 2)).astype(np.float32)
        p = tmp_path / f"t{i}.wav"
        sf.write(p, y, 22050)
        rows.append({"track_id": f"t{i}", "path": str(p)})
    m = pd.DataFrame(rows)
    got = E.mfcc_statistics(m, corpus="unit", n_mfcc=13, progress=False)
    y, sr = librosa.load(rows[1]["path"], sr=22050)
    M = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13)
    np.testing.assert_allclose(got.loc["t1"].to_numpy(), np.r_[M.mean(1), M.std(1)], rtol=1e-5, atol=1e-4)
    assert got.shape == (2, 26)
    again = E.mfcc_statistics(m, corpus="unit", n_mfcc=13, progress=False)  # from the cache
    pd.testing.assert_frame_equal(again, got, check_exact=False, rtol=1e-6)
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="bad.wav"):
        E.mfcc_statistics(pd.DataFrame([{"track_id": "b", "path": str(tmp_path / "bad.wav")}]),
                          corpus="unit", progress=False)
    with pytest.raises(AudioError, match="gone.wav"):
        E.mfcc_statistics(pd.DataFrame([{"track_id": "g", "path": str(tmp_path / "gone.wav")}]),
                          corpus="unit", progress=False)


def test_evaluation_figure_labels_users_per_method():
    """Methods run for fewer users (the cut-point rows) say so on their own label, not the legend's."""
    import matplotlib

    matplotlib.use("Agg")
    from melrec_lib.plots import recsys as rplots

    rows = []
    for protocol in ("similar", "diverse"):
        for method, n in (("random", 30), ("recommender-corrected-pool1", 10)):
            rows.append({"protocol": protocol, "method": method, "n_users": n,
                         **{f"roc_auc{s}": v for s, v in (("", 0.6), ("_lo", 0.5), ("_hi", 0.7))}})
    fig = rplots.evaluation_figure(pd.DataFrame(rows), metrics=("roc_auc",))
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == ["random (n = 30)",
                                                                  "recommender-corrected-pool1 (n = 10)"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["protocol: similar", "protocol: diverse"]
