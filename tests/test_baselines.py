"""melrec_lib.baselines: the methods score as their references do, and rank a clustered taste well.

References: sklearn's cosine_similarity, librosa's MFCC, a clustered toy collection.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from melrec_lib import baselines as E
from melrec_lib import metrics, users
from melrec_lib.errors import AudioError, DatasetError, ParameterError

from toy_collection import toy_data as _toy_data
from toy_collection import toy_manifest as _toy_manifest


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
    people = users.simulate_users(m, protocol="similar", n_users=4, seed=0)
    methods = ["random", "mfcc-centroid", "embedding-centroid", "logreg", "recommender-corrected"]
    res = E.evaluate_methods(people, data, methods=methods, epochs=15, progress=False)
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
    got = E.mfcc_statistics(m, n_mfcc=13, progress=False)
    y, sr = librosa.load(rows[1]["path"], sr=22050)
    M = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13)
    np.testing.assert_allclose(got.loc["t1"].to_numpy(), np.r_[M.mean(1), M.std(1)], rtol=1e-5, atol=1e-4)
    assert got.shape == (2, 26)
    again = E.mfcc_statistics(m, n_mfcc=13, progress=False)  # from the cache
    pd.testing.assert_frame_equal(again, got, check_exact=False, rtol=1e-6)
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="bad.wav"):
        E.mfcc_statistics(pd.DataFrame([{"track_id": "b", "path": str(tmp_path / "bad.wav")}]),
                          progress=False)
    with pytest.raises(AudioError, match="gone.wav"):
        E.mfcc_statistics(pd.DataFrame([{"track_id": "g", "path": str(tmp_path / "gone.wav")}]),
                          progress=False)


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
