"""melrec_lib.nets.cuts: the cut rule, probes and projections against numpy, sklearn and their definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from melrec_lib.errors import ParameterError
from melrec_lib.nets import cuts


def _cut_table(rows):
    return pd.DataFrame(
        rows, columns=["cut", "features", "substyle_knn_accuracy", "substyle_linear_accuracy"]
    ).set_index("cut")


def test_choose_cut_rule():
    table = _cut_table(
        [
            ("pool1", 7680, 0.9, 0.9),
            ("pool2", 1792, 0.5, 0.6),
            ("dense1024", 1024, 0.6, 0.5),
            ("dense128", 128, 0.4, 0.4),
        ]
    )
    # pool1 is best but too wide; pool2 and dense1024 tie at 0.55 -> the smaller one
    assert cuts.choose_cut(table) == "dense1024"
    assert cuts.choose_cut(table, max_features=8000) == "pool1"
    assert cuts.choose_cut(table.drop(index="dense1024")) == "pool2"
    with pytest.raises(ParameterError, match="no cut has <= 100 features"):
        cuts.choose_cut(table, max_features=100)
    with pytest.raises(ParameterError, match="substyle_linear_accuracy"):
        cuts.choose_cut(table.drop(columns="substyle_linear_accuracy"))


def test_project_2d_pca_equals_svd_and_tsne_keeps_clusters(rng):
    centres = rng.normal(0, 8, size=(3, 20))
    E = np.concatenate([c + rng.normal(0, 1, size=(30, 20)) for c in centres]).astype(np.float32)
    Z = (E - E.mean(0)) / E.std(0)
    _, _, vt = np.linalg.svd(Z - Z.mean(0), full_matrices=False)
    ref = Z @ vt[:2].T
    P = cuts.project_2d(E)
    np.testing.assert_allclose(np.abs(P), np.abs(ref), rtol=1e-3, atol=1e-3)  # PCA signs are arbitrary
    T = cuts.project_2d(E, method="tsne", seed=3)
    np.testing.assert_array_equal(T, cuts.project_2d(E, method="tsne", seed=3))
    y = np.repeat(np.arange(3), 30)
    d = np.linalg.norm(T[:, None] - T[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert np.mean(y[d.argmin(1)] == y) > 0.95  # each point's nearest neighbour is from its cluster
    with pytest.raises(ParameterError, match="umap"):
        cuts.project_2d(E, method="umap")
    with pytest.raises(ParameterError, match="finite"):
        cuts.project_2d(np.full((5, 3), np.nan))


def test_probe_scores_separable_and_random(rng):
    y = np.repeat(np.arange(4), 40)
    E = np.eye(4)[y] * 5 + rng.normal(0, 0.3, size=(160, 4))
    train = rng.random(160) < 0.6
    s = cuts.probe_scores(E, y, train, n_neighbors=3)
    assert s["knn_accuracy"] == 1.0 and s["linear_accuracy"] == 1.0
    _, counts = np.unique(y[~train], return_counts=True)
    assert s["chance"] == counts.max() / counts.sum()
    noise = cuts.probe_scores(rng.normal(size=(160, 4)), y, train, n_neighbors=3)
    assert noise["knn_accuracy"] < 0.5 and noise["linear_accuracy"] < 0.5
    with pytest.raises(ParameterError, match="disagree"):
        cuts.probe_scores(E[:10], y, train)


def test_time_cuts_compiles_every_cut_then_times_them_in_turn(monkeypatch):
    # a shared machine's slow spell must fall on every cut alike: each round times each cut once,
    # each round starting at the next cut; the median of the rounds over the batch's fragments
    calls = []

    class Fake:
        def __init__(self, cut):
            self.cut = cut

        def predict_on_batch(self, batch):
            calls.append(self.cut)
            return batch[:, :1, :1]

    clock = iter(np.arange(0.0, 1000.0, 0.5))
    monkeypatch.setattr(cuts, "get_preprocessor", lambda trained, cut: Fake(cut))
    monkeypatch.setattr("time.perf_counter", lambda: next(clock))
    X = np.zeros((10, 64, 128), np.float32)
    got = cuts.time_cuts(None, ["a", "b", "c"], X, batch_size=4, rounds=4)
    assert calls[:3] == ["a", "b", "c"]  # compiled first, untimed
    assert calls[3:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c"]
    assert got == {"a": 0.5 / 4, "b": 0.5 / 4, "c": 0.5 / 4}
    with pytest.raises(ParameterError, match="rounds"):
        cuts.time_cuts(None, ["a"], X, rounds=0)
