"""melrec_lib.recsys.recommender: the thesis network, the Recomendator.fit schedule, scores and ranking.

References: Keras itself (``model.fit`` one call per epoch, the thesis' loop, must give the same
weights as the jitted loop), the thesis' architecture and training rules (appendix B), the
analytic MSE optimum 2p - 1 for labels {1, -1}, and plain Python/NumPy re-computations.
"""

from __future__ import annotations

import numpy as np
import pytest

from melrec_lib.errors import ParameterError
from melrec_lib.recsys import recommender as R

SMALL = {"hidden": (32, 8)}


def _data(rng, n_pos=37, n_neg=300, d=24, shift=0.7):
    P = rng.normal(shift, 1, (n_pos, d)).astype(np.float32)
    N = rng.normal(-shift, 1, (n_neg, d)).astype(np.float32)
    return P, N


# ---------------------------------------------------------------------------- the network
@pytest.mark.parametrize("input_shape", [(1792,), (14, 128)])
def test_network_is_the_thesis_recomendator(input_shape):
    import keras

    model = R.build_network(input_shape, config="thesis", seed=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", "Dense", "Dropout", "Dense", "Dropout", "Dense"]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [1024, 128, 1]
    assert all(d.activation is keras.activations.sigmoid for d in dense)
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.5, 0.5]
    d = int(np.prod(input_shape))
    assert model.count_params() == d * 1024 + 1024 + 1024 * 128 + 128 + 128 + 1
    # Glorot uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)); std l / sqrt(3); zero biases
    W = dense[0].get_weights()[0]
    limit = np.sqrt(6.0 / (d + 1024))
    assert np.abs(W).max() <= limit
    assert W.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)
    assert not np.any(dense[0].get_weights()[1])


def test_modes_match_the_thesis_and_the_correction():
    t, c = R.get_config("thesis"), R.get_config("corrected")
    assert (t.negative_label, t.loss, t.optimizer, t.learning_rate, t.batch_size, t.dropout, t.hidden) == (
        -1.0,
        "mse",
        "sgd",
        0.01,
        16,
        0.5,
        (1024, 128),
    )
    assert (c.negative_label, c.loss, c.optimizer) == (0.0, "bce", "adam")


# ---------------------------------------------------------------------------- the schedule
@pytest.mark.parametrize("n_pos,n_pool,batch", [(63, 500, 16), (125, 40, 16), (10, 3, 4), (16, 1, 16)])
def test_schedule_is_recomendator_fit(n_pos, n_pool, batch):
    epochs = 6
    s = R.training_schedule(n_positive=n_pos, n_pool=n_pool, epochs=epochs, batch_size=batch, seed=5)
    steps = -(-2 * n_pos // batch)
    assert s.rows.shape == (epochs * steps, batch) and s.epochs == epochs
    draws = []
    for e in range(epochs):
        rows = s.epoch_rows(e)
        assert len(rows) == 2 * n_pos  # one pass over positives + an equal number of negatives
        pos, neg = rows[rows < n_pos], rows[rows >= n_pos]
        assert sorted(pos) == list(range(n_pos))  # every positive exactly once
        assert len(neg) == n_pos and neg.max() < n_pos + n_pool
        draws.append(np.sort(neg))
        # only the epoch's last batch is partial
        m = s.mask[s.epoch == e]
        assert (m[:-1] == 1).all() and m[-1].sum() == 2 * n_pos - (steps - 1) * batch
        # shuffled: positives are not all first
        assert not (rows[:n_pos] < n_pos).all() or n_pos < 4
    if n_pool > 1:
        assert any(not np.array_equal(draws[0], d) for d in draws[1:])  # fresh draw per epoch


def test_schedule_draws_negatives_with_replacement_uniformly():
    s = R.training_schedule(n_positive=50, n_pool=5, epochs=400, seed=0)
    neg = np.concatenate([s.epoch_rows(e) for e in range(400)]) - 50
    neg = neg[neg >= 0]
    counts = np.bincount(neg, minlength=5)
    from scipy import stats

    assert stats.chisquare(counts).pvalue > 1e-3  # uniform over the pool
    # with replacement: 50 draws from 5 pool items must repeat
    e0 = s.epoch_rows(0)
    assert len(np.unique(e0[e0 >= 50])) <= 5


def test_schedule_is_seeded():
    a = R.training_schedule(n_positive=20, n_pool=100, epochs=3, seed=1)
    b = R.training_schedule(n_positive=20, n_pool=100, epochs=3, seed=1)
    c = R.training_schedule(n_positive=20, n_pool=100, epochs=3, seed=2)
    assert np.array_equal(a.rows, b.rows) and not np.array_equal(a.rows, c.rows)


# ---------------------------------------------------------------------------- fitting
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["thesis", "corrected"])
def test_jitted_loop_equals_keras_fit_per_epoch(rng, mode):
    """Without dropout the one-call jitted loop must reproduce the thesis' model.fit loop."""
    P, N = _data(rng)
    cfg = R.get_config(mode).replace(dropout=0.0, **SMALL)
    fast = R.fit(P, N, epochs=5, mode=cfg, seed=3)
    ref = R.fit_reference(P, N, epochs=5, mode=cfg, seed=3)
    for a, b in zip(fast.model.get_weights(), ref.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fast.history, ref.history, rtol=1e-4)
    X = rng.normal(size=(50, P.shape[1])).astype(np.float32)
    np.testing.assert_allclose(fast.predict(X), ref.model.predict(X, verbose=0)[:, 0], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_fit_is_seeded_and_uses_dropout(rng):
    P, N = _data(rng)
    cfg = R.get_config("corrected").replace(**SMALL)
    a = R.fit(P, N, epochs=3, mode=cfg, seed=7)
    b = R.fit(P, N, epochs=3, mode=cfg, seed=7)
    c = R.fit(P, N, epochs=3, mode=cfg, seed=8)
    for x, y in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(x, y)
    assert any(not np.allclose(x, y) for x, y in zip(a.model.get_weights(), c.model.get_weights()))
    # dropout is active in training: without it the weights differ from the same seed's
    d = R.fit(P, N, epochs=3, mode=cfg.replace(dropout=0.0), seed=7)
    assert any(not np.allclose(x, y) for x, y in zip(a.model.get_weights(), d.model.get_weights()))


@pytest.mark.slow
def test_soft_labels_replace_the_hard_ones(rng):
    """``labels``: the hard labels given explicitly train the very same network; soft labels
    under binary cross-entropy are learned as probabilities (BCE's minimiser for target y is y)."""
    P, N = _data(rng)
    cfg = R.get_config("corrected").replace(**SMALL)
    hard = np.r_[np.ones(len(P)), np.zeros(len(N))]
    a = R.fit(P, N, epochs=3, mode=cfg, seed=5)
    b = R.fit(P, N, epochs=3, mode=cfg, seed=5, labels=hard)
    for x, y in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(x, y)
    same = rng.normal(size=(64, 8)).astype(np.float32)  # positives and negatives alike, all labelled 0.3
    soft = R.fit(same, same, epochs=60, mode=cfg.replace(dropout=0.0), seed=0, labels=np.full(128, 0.3))
    assert soft.predict(rng.normal(size=(200, 8)).astype(np.float32)).mean() == pytest.approx(0.3, abs=0.05)


def test_bad_labels_are_refused(rng):
    P, N = _data(rng)
    cfg = R.get_config("corrected").replace(**SMALL)
    n = len(P) + len(N)
    for labels, match in [
        (np.zeros(n - 1), "values for"),
        (np.r_[np.nan, np.zeros(n - 1)], "NaN"),
        (np.r_[1.5, np.zeros(n - 1)], r"in \[0, 1\]"),
    ]:
        with pytest.raises(ParameterError, match=match):
            R.fit(P, N, epochs=1, mode=cfg, labels=labels)


def test_centroid_labels():
    pos, rank = np.array([True, True, False, False]), np.array([1.0, 0.75, 0.5, 0.25])
    np.testing.assert_array_equal(R.centroid_labels(pos, rank, 0.0), [1, 1, 0, 0])
    np.testing.assert_array_equal(R.centroid_labels(pos, rank, 1.0), rank)
    np.testing.assert_allclose(R.centroid_labels(pos, rank, 0.2), [1.0, 0.95, 0.1, 0.05])
    for args, match in [
        ((pos, rank[:3], 0.5), "ranks"),
        ((pos, rank * 2, 0.5), "in \\[0, 1\\]"),
        ((pos, rank, 1.5), "weight"),
    ]:
        with pytest.raises(ParameterError, match=match):
            R.centroid_labels(*args)


@pytest.mark.slow
def test_corrected_mode_learns_a_separable_taste(rng):
    P, N = _data(rng, shift=1.0)
    rec = R.fit(P, N, epochs=30, mode=R.get_config("corrected").replace(**SMALL), seed=0)
    Tp, Tn = _data(rng, n_pos=100, n_neg=100, shift=1.0)
    from sklearn.metrics import roc_auc_score

    s = rec.predict(np.concatenate([Tp, Tn]))
    assert roc_auc_score(np.r_[np.ones(100), np.zeros(100)], s) > 0.95
    assert rec.history[-1] < rec.history[0]


@pytest.mark.slow
def test_faithful_labels_collapse_scores_towards_zero(rng):
    """Labels {1, -1} under MSE: the optimum for inputs liked with probability p is 2p - 1,
    clipped to [0, 1] by the sigmoid.  With indistinguishable positives and negatives (p = 0.5)
    the thesis mode drives every score towards 0, the corrected mode towards 0.5."""
    P = rng.normal(size=(64, 16)).astype(np.float32)
    N = rng.normal(size=(400, 16)).astype(np.float32)
    T = rng.normal(size=(200, 16)).astype(np.float32)
    thesis = R.fit(P, N, epochs=100, mode=R.get_config("thesis").replace(hidden=(64, 16)), seed=1)
    corrected = R.fit(P, N, epochs=100, mode=R.get_config("corrected").replace(hidden=(64, 16)), seed=1)
    assert thesis.predict(T).mean() < 0.1
    assert corrected.predict(T).mean() == pytest.approx(0.5, abs=0.06)
    # outputs c equal for both classes: MSE = ((1 - c)^2 + (1 + c)^2) / 2 = 1 + c^2 > 1; never converges
    assert thesis.history[-1] > 0.95


@pytest.mark.slow
def test_fit_on_thesis_size_embeddings(rng):
    P = rng.normal(size=(20, 1792)).astype(np.float32)
    N = rng.normal(size=(60, 1792)).astype(np.float32)
    rec = R.fit(P, N, epochs=2, seed=0)
    s = rec.predict(N)
    assert s.shape == (60,) and np.all((s > 0) & (s < 1))
    assert len(rec.history) == 2


# ---------------------------------------------------------------------------- scores and ranking
def test_track_score_is_the_mean_of_its_fragments(rng):
    scores = rng.random(40)
    ids = rng.choice(["a", "b", "c", "d"], 40)
    got = R.track_scores(scores, ids)
    for t in "abcd":
        assert got[t] == pytest.approx(np.mean([s for s, i in zip(scores, ids) if i == t]))
    assert list(got.index) == sorted(set(ids))


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "P,N,match",
    [
        (np.zeros((0, 8)), np.zeros((5, 8)), "positives is empty"),
        (np.zeros((5, 8)), np.zeros((0, 8)), "negative pool is empty"),
        (np.full((5, 8), np.nan), np.zeros((5, 8)), "NaN"),
        (np.zeros((5, 8)), np.zeros((5, 9)), "differ in feature shape"),
        (np.zeros(5), np.zeros((5, 1)), "shape"),
    ],
)
def test_bad_embeddings_raise(P, N, match):
    with pytest.raises(ParameterError, match=match):
        R.fit(P, N, epochs=1)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"epochs": 1, "seed": -1}, "seed"),
        ({"epochs": 1, "mode": "nope"}, "unknown recommender mode"),
    ],
)
def test_bad_parameters_raise(rng, kwargs, match):
    P, N = _data(rng, n_pos=4, n_neg=8)
    with pytest.raises(ParameterError, match=match):
        R.fit(P, N, **kwargs)


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"loss": "hinge"}, "loss"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"hidden": ()}, "hidden"),
        ({"loss": "bce", "negative_label": -1.0}, "binary cross-entropy"),
    ],
)
def test_bad_config_raises(changes, match):
    with pytest.raises(ParameterError, match=match):
        R.get_config("thesis").replace(**changes)


@pytest.mark.slow
def test_predict_and_track_score_errors(rng):
    P, N = _data(rng, n_pos=4, n_neg=8)
    rec = R.fit(P, N, epochs=1, mode=R.get_config("corrected").replace(**SMALL))
    with pytest.raises(ParameterError, match="expects"):
        rec.predict(np.zeros((3, P.shape[1] + 1)))
    with pytest.raises(ParameterError, match="track ids"):
        R.track_scores(np.zeros(3), ["a", "b"])


def test_regularised_corrected_variants_differ_from_corrected_only_where_named():
    from melrec_lib.recsys import recommender as R

    base = R.CONFIGS["corrected"]
    assert R.CONFIGS["corrected-small"] == base.replace(name="corrected-small", hidden=(128,))
    assert R.CONFIGS["corrected-neg4"] == base.replace(name="corrected-neg4", negatives_per_positive=4)
    assert R.CONFIGS["corrected-small-neg4"] == base.replace(
        name="corrected-small-neg4", hidden=(128,), negatives_per_positive=4
    )
    assert R.CONFIGS["thesis"] == R.RecommenderConfig() and R.get_config("corrected-small").hidden == (128,)
    net = R.build_network((16,), config="corrected-small", seed=0)
    assert [layer.name for layer in net.layers] == ["flatten", "dense128", "dropout1", "score"]
