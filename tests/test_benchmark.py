"""melrec_lib.recsys.benchmark: the methods score as their references do, and rank a clustered taste well.

References: sklearn's cosine_similarity, librosa's MFCC, a clustered toy collection.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from toy_collection import toy_data as _toy_data
from toy_collection import toy_manifest as _toy_manifest

from melrec_lib.errors import AudioError, DatasetError, ParameterError
from melrec_lib.recsys import benchmark as E
from melrec_lib.recsys import metrics, users


def test_centroid_scores_are_cosine_similarities(rng):
    from sklearn.metrics.pairwise import cosine_similarity

    F = pd.DataFrame(rng.normal(size=(10, 5)), index=[f"t{i}" for i in range(10)])
    got = E.centroid_scores(F, ["t0", "t1", "t2"], ["t5", "t6", "t7"])
    ref = cosine_similarity(F.loc[["t5", "t6", "t7"]], F.loc[["t0", "t1", "t2"]].mean().to_numpy()[None])[:, 0]
    np.testing.assert_allclose(got.to_numpy(), ref)
    with pytest.raises(DatasetError, match="no features"):
        E.centroid_scores(F, ["nope"], ["t1"])


@pytest.mark.slow
def test_evaluation_ranks_methods_sensibly(rng):
    """On a collection where sub-styles are clusters, every content method beats random."""
    m = _toy_manifest()
    data = _toy_data(m, rng)
    people = users.simulate_users(m, protocol="similar", n_users=4, seed=0)
    methods = ["random", "mfcc-centroid", "embedding-centroid", "logreg", "recommender-corrected"]
    res = E.evaluate_methods(people, data, methods=methods, epochs=6, progress=False)
    assert len(res) == 4 * len(methods)
    assert set(res.columns) >= {"protocol", "user", "method", *metrics.METRICS}
    summ = E.summarize(res).set_index("method")
    assert list(summ.index) == methods
    for method in methods[1:]:
        assert summ.loc[method, "roc_auc"] > 0.85, method
    assert 0.2 < summ.loc["random", "roc_auc"] < 0.8
    assert (summ["roc_auc_lo"] <= summ["roc_auc"]).all() and (summ["roc_auc"] <= summ["roc_auc_hi"]).all()
    with pytest.raises(ParameterError, match="unknown method"):
        E.score_user("magic", people[0], data, epochs=1)
    with pytest.raises(ParameterError, match="no embeddings for cut"):
        E.score_user("recommender-corrected-dense128", people[0], data, epochs=1)


def test_method_names():
    assert E.method_names(("pool1", "pool2", "dense128"))[-2:] == [
        "recommender-corrected-pool1",
        "recommender-corrected-dense128",
    ]


# ---------------------------------------------------------------------------- MFCC statistics
@pytest.mark.slow
def test_mfcc_statistics_match_librosa(tmp_path, rng):
    import librosa
    import soundfile as sf

    rows = []
    for i in range(2):
        y = (
            0.3 * np.sin(2 * np.pi * (220 + 110 * i) * np.arange(22050 * 2) / 22050) + 0.01 * rng.normal(size=22050 * 2)
        ).astype(np.float32)
        p = tmp_path / f"t{i}.wav"
        sf.write(p, y, 22050)
        rows.append({"track_id": f"t{i}", "path": str(p)})
    m = pd.DataFrame(rows)
    got = E.mfcc_statistics(m, n_mfcc=13, progress=False)
    y, sr = librosa.load(rows[1]["path"], sr=22050)
    M = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13)
    np.testing.assert_allclose(got.loc["t1"].to_numpy(), np.r_[M.mean(1), M.std(1)], rtol=1e-5, atol=1e-4)
    assert got.shape == (2, 26)
    again = E.mfcc_statistics(m, n_mfcc=13, progress=False)  # from the cache
    pd.testing.assert_frame_equal(again, got, check_exact=False, rtol=1e-6)
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="bad.wav"):
        E.mfcc_statistics(pd.DataFrame([{"track_id": "b", "path": str(tmp_path / "bad.wav")}]), progress=False)
    with pytest.raises(AudioError, match="gone.wav"):
        E.mfcc_statistics(pd.DataFrame([{"track_id": "g", "path": str(tmp_path / "gone.wav")}]), progress=False)


def test_evaluation_figure_labels_users_per_method():
    """Methods run for fewer users (the cut-point rows) say so on their own label, not the legend's."""
    import matplotlib

    matplotlib.use("Agg")
    from melrec_lib.plots import recsys as rplots

    rows = []
    for protocol in ("similar", "diverse"):
        for method, n in (("random", 30), ("recommender-corrected-pool1", 10)):
            rows.append(
                {
                    "protocol": protocol,
                    "method": method,
                    "n_users": n,
                    **{f"roc_auc{s}": v for s, v in (("", 0.6), ("_lo", 0.5), ("_hi", 0.7))},
                }
            )
    fig = rplots.evaluation_figure(pd.DataFrame(rows), metrics=("roc_auc",))
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == [
        "random (n = 30)",
        "recommender-corrected-pool1 (n = 10)",
    ]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["protocol: similar", "protocol: diverse"]
    # three panels side by side: their axis labels name the metric and do not run into each other
    metrics = ("roc_auc", "precision@10", "ndcg@10")
    for r in rows:
        r.update({f"{m}{s}": v for m in metrics[1:] for s, v in (("", 0.3), ("_lo", 0.2), ("_hi", 0.4))})
    long = "recommender-corrected-small-avg3@musicnn-msd/penultimate+mfcc"  # long names squeeze the panels
    rows += [{**r, "method": long} for r in rows if r["method"] == "random"]
    fig = rplots.evaluation_figure(pd.DataFrame(rows), metrics=metrics, title="t")
    fig.canvas.draw()
    boxes = [a.xaxis.label.get_window_extent() for a in fig.axes]
    assert [a.get_xlabel() for a in fig.axes] == ["ROC-AUC", "precision@10", "nDCG@10"]
    assert "95 % bootstrap interval" in fig._suptitle.get_text()
    assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:]))


@pytest.mark.slow
def test_users_scored_in_workers_equal_scored_here(rng):
    """evaluate_methods spreads users over worker processes; every number is the one computed here."""
    m = _toy_manifest()
    data = _toy_data(m, rng)
    people = users.simulate_users(m, protocol="diverse", n_users=3, seed=1)
    methods = ["random", "logreg", "recommender-thesis", "recommender-corrected"]
    here = E.evaluate_methods(people, data, methods=methods, epochs=4, n_jobs=1, progress=False)
    there = E.evaluate_methods(people, data, methods=methods, epochs=4, n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(here, there, check_exact=True)
    assert list(here["user"]) == [u.name for u in people for _ in methods]


# ---------------------------------------------------------------------------- feature sources
def _two_sources(rng):
    m = _toy_manifest()
    data = _toy_data(m, rng)
    base = data.embeddings["pool2"]
    other = E.Embedded(X=rng.normal(size=(len(base.X), 7)).astype(np.float32), track=base.track, cut="b/x")
    return m, E.EvalData(embeddings={"a/pool2": base, "b/x": other}, mfcc=data.mfcc), data


def test_parse_method():
    assert E.parse_method("centroid@a/b") == {"kind": "centroid", "source": "a/b"}
    assert E.parse_method("logreg@musicnn-msd/taggram")["source"] == "musicnn-msd/taggram"
    spec = E.parse_method("recommender-corrected-small-e40-avg3@z:a+mfcc")
    assert spec == {
        "kind": "recommender",
        "source": "z:a+mfcc",
        "config": "corrected-small",
        "epochs": 40,
        "avg": 3,
        "centroid": 0.0,
    }
    assert E.parse_method("recommender-thesis@x") == {
        "kind": "recommender",
        "source": "x",
        "config": "thesis",
        "epochs": None,
        "avg": 1,
        "centroid": 0.0,
    }
    soft = E.parse_method("recommender-corrected-small-c25-e40-avg3@mean:a")
    assert (soft["config"], soft["centroid"], soft["epochs"], soft["avg"], soft["source"]) == (
        "corrected-small",
        0.25,
        40,
        3,
        "mean:a",
    )
    for bad, match in [
        ("centroid", "expected"),
        ("centroid@", "empty"),
        ("centroid@a+", "empty"),
        ("magic@a", "unknown method"),
        ("recommender-nope@a", "unknown recommender config"),
        ("recommender-corrected-e0@a", ">= 1"),
        ("recommender-corrected-c101@a", "0 to 100"),
        ("recommender-thesis-c50@a", "binary cross-entropy"),
        ("a@b@c", "expected"),
    ]:
        with pytest.raises(ParameterError, match=match):
            E.parse_method(bad)
    assert E.source_method_names(["s"], kinds=("centroid", "logreg")) == ["centroid@s", "logreg@s"]


@pytest.mark.slow
def test_source_methods_equal_the_cut_methods_on_the_same_embeddings(rng):
    """``<method>@<source>`` on a renamed source = notebook 07's method on the default cut."""
    m, two, data = _two_sources(rng)
    u = users.simulate_users(m, protocol="similar", n_users=1, seed=0)[0]
    for old, new in [
        ("embedding-centroid", "centroid@a/pool2"),
        ("logreg", "logreg@a/pool2"),
        ("recommender-corrected", "recommender-corrected@a/pool2"),
        ("recommender-thesis", "recommender-thesis@a/pool2"),
        ("mfcc-centroid", "centroid@mfcc"),
    ]:
        pd.testing.assert_series_equal(
            E.score_user(old, u, data, epochs=3, seed=2), E.score_user(new, u, two, epochs=3, seed=2), obj=new
        )
    # -e<n> overrides the evaluation's epochs; -avg<n> is the mean of n seeds' scores
    pd.testing.assert_series_equal(
        E.score_user("recommender-corrected-e3@a/pool2", u, two, epochs=9, seed=2),
        E.score_user("recommender-corrected@a/pool2", u, two, epochs=3, seed=2),
    )
    avg = E.score_user("recommender-corrected-small-avg2@a/pool2", u, two, epochs=2, seed=1)
    runs = [
        E.recommender_scores(
            two.embeddings["a/pool2"],
            u.playlist,
            u.pool,
            u.candidates,
            mode=E.recommender.CONFIGS["corrected-small"],
            epochs=2,
            seed=s,
        )
        for s in (1, 1009 + 1)
    ]
    np.testing.assert_allclose(avg.to_numpy(), ((runs[0] + runs[1]) / 2).to_numpy())
    with pytest.raises(ParameterError, match="no fragment embeddings"):
        E.score_user("logreg@nope", u, two, epochs=1)
    with pytest.raises(ParameterError, match="no feature source"):
        E.score_user("centroid@nope", u, two, epochs=1)


@pytest.mark.slow
def test_fused_sources(rng):
    m, two, _ = _two_sources(rng)
    # centroid fusion: standardised tables over tracks, each divided by sqrt(width), concatenated
    fused = two.track_features("mfcc+b/x")
    a, b = two.track_features("mfcc"), two.track_features("b/x")
    np.testing.assert_allclose(
        fused.to_numpy(),
        np.hstack([a.loc[fused.index] / np.sqrt(a.shape[1]), b.loc[fused.index] / np.sqrt(b.shape[1])]),
    )
    np.testing.assert_allclose(
        fused.std(axis=0, ddof=1).to_numpy() ** 2 * np.r_[[a.shape[1]] * a.shape[1], [b.shape[1]] * b.shape[1]], 1.0
    )
    # fragment fusion: every standardised fragment of a, then the standardised track features of b
    u = users.simulate_users(m, protocol="similar", n_users=1, seed=0)[0]
    E.score_user("logreg@a/pool2+mfcc", u, two, epochs=1)
    frag = two.__dict__["_frag_a/pool2+mfcc"]
    X = two.embeddings["a/pool2"].X.astype(np.float64)
    np.testing.assert_allclose(frag.X[:, : X.shape[1]], (X - X.mean(0)) / X.std(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(frag.X[:, X.shape[1] :], a.loc[frag.track].to_numpy(), rtol=1e-5)
    E.score_user("recommender-corrected@z:a/pool2", u, two, epochs=1)
    assert two.__dict__["_frag_z:a/pool2"].X.shape == X.shape


@pytest.mark.slow
def test_mean_source_trains_on_one_row_per_track(rng):
    """``mean:<source>``: the network of ``<source>`` on the pandas group means of its fragments."""
    m, two, _ = _two_sources(rng)
    u = users.simulate_users(m, protocol="similar", n_users=1, seed=0)[0]
    got = E.score_user("recommender-corrected-small@mean:b/x", u, two, epochs=3, seed=4)
    emb = two.embeddings["b/x"]
    means = pd.DataFrame(emb.X).groupby(emb.track).mean()  # by hand
    by_hand = E.Embedded(X=means.to_numpy(np.float32), track=means.index.to_numpy().astype(str), cut="m")
    want = E.recommender_scores(
        by_hand, u.playlist, u.pool, u.candidates, mode=E.recommender.CONFIGS["corrected-small"], epochs=3, seed=4
    )
    pd.testing.assert_series_equal(got, want)
    assert len(two.__dict__["_frag_mean:b/x"].X) == len(set(emb.track))


def test_centroid_weight_trains_on_the_centroids_ranks(rng, monkeypatch):
    """``-c<percent>``: the labels of every playlist and pool row are ``(1 - w) * hard + w * rank``,
    the rank of the row's track under the cosine to the playlist's mean of the standardised
    track means, scaled to (0, 1] (computed here with scipy)."""
    from scipy.stats import rankdata

    m, two, _ = _two_sources(rng)
    u = users.simulate_users(m, protocol="similar", n_users=1, seed=0)[0]
    seen = {}
    real_fit = E.recommender.fit

    def spy(P, N, **kw):
        seen.update(kw, n_pos=len(P), n_neg=len(N))
        return real_fit(P, N, **kw)

    monkeypatch.setattr(E.recommender, "fit", spy)
    E.score_user("recommender-corrected-small-c40-e2@b/x", u, two, epochs=9, seed=0)
    emb = two.embeddings["b/x"]
    T = pd.DataFrame(emb.X, dtype=np.float64).groupby(emb.track).mean()
    T = (T - T.mean()) / T.std(ddof=1)
    tracks = list(dict.fromkeys(list(u.playlist) + list(u.pool)))
    c = T.loc[list(u.playlist)].mean().to_numpy()
    V = T.loc[tracks].to_numpy()
    cos = V @ c / (np.linalg.norm(V, axis=1) * np.linalg.norm(c))
    rank = pd.Series(rankdata(cos) / len(cos), index=tracks)
    rows = np.concatenate([emb.take(u.playlist)[1], emb.take(u.pool)[1]])
    hard = (np.arange(len(rows)) < seen["n_pos"]).astype(float)
    np.testing.assert_allclose(seen["labels"], 0.6 * hard + 0.4 * rank.loc[rows].to_numpy(), rtol=1e-6)
    assert seen["epochs"] == 2 and seen["n_pos"] + seen["n_neg"] == len(rows)
    E.score_user("recommender-corrected-small@b/x", u, two, epochs=2, seed=0)
    assert seen["labels"] is None  # no -c: the config's hard labels


def test_group_users_lists_what_a_groups_mean_rests_on():
    lib = pd.DataFrame({"track_id": [f"t{i}" for i in range(9)], "artist": list("aaabbbccc")})
    people = users.library_users(lib, protocol="similar", seed=0)
    res = pd.DataFrame(
        [{"user": u.name, "method": m, "roc_auc": i / 10 + j} for i, u in enumerate(people) for j, m in enumerate("xy")]
    )
    mine = [u for u in people if "b" in u.groups]
    got = E.group_users(res, people, "b", ["y", "x"])
    assert list(got["user"]) == [u.name for u in mine]
    assert list(got["held out"]) == [", ".join(u.heldout) for u in mine]
    assert list(got["playlist"]) == [len(u.playlist) for u in mine]
    i = [u.name for u in people].index(mine[0].name)
    assert (got["x"].iloc[0], got["y"].iloc[0]) == pytest.approx((i / 10, i / 10 + 1))
    with pytest.raises(ParameterError, match="no user likes"):
        E.group_users(res, people, "zzz", ["x"])
    with pytest.raises(ParameterError, match="no roc_auc of 'w'"):
        E.group_users(res, people, "b", ["w"])


def test_by_group_means_over_users_of_each_group(rng):
    lib = pd.DataFrame({"track_id": [f"t{i}" for i in range(12)], "artist": list("aaaabbbbcccc")})
    people = users.library_users(lib, protocol="similar", seed=0)
    res = pd.DataFrame([{"user": u.name, "method": "m", "roc_auc": i / 10} for i, u in enumerate(people)] * 2)
    got = E.by_group(res, people).set_index("group")
    for i, u in enumerate(people):
        assert got.loc[u.groups[0], "roc_auc"] == pytest.approx(i / 10)
        assert got.loc[u.groups[0], "n_users"] == 2
    with pytest.raises(ParameterError, match="unknown users"):
        E.by_group(res.assign(user="x"), people)
    with pytest.raises(ParameterError, match="no metric"):
        E.by_group(res, people, metric="nope")


@pytest.mark.slow
def test_library_users_evaluate_end_to_end(rng):
    """The soundtrack protocol on the toy collection: every content method beats chance."""
    m, two, _ = _two_sources(rng)
    people = users.library_users(m, protocol="similar", seed=0, n_users=3, by="substyle")
    res = E.evaluate_methods(
        people,
        two,
        methods=["centroid@a/pool2", "recommender-corrected-small@a/pool2+mfcc"],
        epochs=5,
        progress=False,
        n_jobs=1,
    )
    assert (res["n_candidates"] == len(m) - res["n_playlist"]).all()
    assert res.groupby("method")["roc_auc"].mean().min() > 0.6


def test_fusion_is_the_rank_average_of_its_centroid_and_network(rng):
    """``fusion-<config>@<source>``: the centroid's and the network's ranks (pandas' pct ranks) averaged."""
    assert E.parse_method("fusion-corrected-small-avg2@a/pool2+mfcc") == {
        "kind": "fusion",
        "source": "a/pool2+mfcc",
        "config": "corrected-small",
        "epochs": None,
        "avg": 2,
        "centroid": 0.0,
    }
    assert E.fusion_parts("fusion-corrected-e3@x") == ("centroid@x", "recommender-corrected-e3@x")
    with pytest.raises(ParameterError, match="not a fusion"):
        E.fusion_parts("recommender-corrected@x")
    m, two, _ = _two_sources(rng)
    u = users.simulate_users(m, protocol="similar", n_users=1, seed=0)[0]
    memo: dict = {}
    got = E.score_user("fusion-corrected@a/pool2", u, two, epochs=2, seed=1, memo=memo)
    cen = E.score_user("centroid@a/pool2", u, two, epochs=2, seed=1)
    net = E.score_user("recommender-corrected@a/pool2", u, two, epochs=2, seed=1)
    want = (cen.rank(method="average", pct=True) + net.rank(method="average", pct=True)) / 2
    assert list(got.index) == list(u.candidates)
    np.testing.assert_allclose(got.to_numpy(), want.loc[got.index].to_numpy())  # pandas aligns by track
    # the network it trained is the one scored alone, kept for the user's other methods
    pd.testing.assert_series_equal(memo[("recommender-corrected@a/pool2", 1)], net)


def test_large_fragment_tables_are_scored_on_workers_of_their_own():
    from melrec_lib.nets.embeddings import Embedded

    def data(rows: int, width: int) -> E.EvalData:
        X = np.zeros((rows, width), np.float32)
        return E.EvalData(embeddings={"a": Embedded(X=X, track=np.array(["t"] * rows), cut="a")})

    small, large = data(6000, 1024), data(6000, 7680)  # 25 MB; 184 MB, notebook 07's pool1
    assert not E.needs_fresh_workers(small) and E.needs_fresh_workers(large)


def test_centroid_only_evaluations_do_not_start_the_networks_workers(rng, monkeypatch):
    """Workers started for cheap centroids (loky measures their size after the first task) must
    not be reused for networks: they would grow by Keras and its compilations, past loky's
    300 MB, and be stopped with a warning (notebook 09's layer choice, then its report users)."""
    from melrec_lib import parallel

    seen = []
    real = parallel.parallel_map
    monkeypatch.setattr(parallel, "parallel_map", lambda *a, **kw: seen.append(kw["workers_for"]) or real(*a, **kw))
    m, two, _ = _two_sources(rng)
    people = users.simulate_users(m, protocol="similar", n_users=1, seed=0)
    for methods in (["centroid@a/pool2", "knn@b/x", "random"], ["centroid@a/pool2", "fusion-corrected@b/x"]):
        E.evaluate_methods(people, two, methods=methods, epochs=1, progress=False, n_jobs=1)
    assert seen == ["scores", "networks"]
    assert E.workers_kind(["recommender-thesis", "logreg"]) == "networks"
