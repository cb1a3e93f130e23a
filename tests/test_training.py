"""melrec_lib.nets.training: seeded training with early stopping and masking, held-out classifier metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from melrec_lib.errors import ParameterError
from melrec_lib.nets import training
from melrec_lib.nets.recipe import GenreRecipe


def _toy_fragments(rng, n_per_class=24, n_classes=3):
    """Fragments whose class is a bright band of mel rows (plus noise): learnable in 1-2 epochs."""
    X = rng.uniform(-1, -0.6, size=(n_per_class * n_classes, 64, 128)).astype(np.float32)
    y = np.repeat(np.arange(n_classes), n_per_class)
    for i, c in enumerate(y):
        X[i, :, 20 + 30 * c : 36 + 30 * c] += 1.2
    perm = rng.permutation(len(y))
    return X[perm], y[perm]


def _recipe(**fields) -> GenreRecipe:
    """A toy recipe: Glorot weights, Adam at Keras' rate, no masking unless asked."""
    return GenreRecipe(**{"init": "glorot", "learning_rate": 1e-3, "augment": False, **fields})


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(20261123)
    Xt, yt = _toy_fragments(rng)
    Xv, yv = _toy_fragments(rng, n_per_class=8)
    return Xt, yt, Xv, yv


@pytest.fixture(scope="module")
def trained_toy(toy):
    Xt, yt, Xv, yv = toy
    return training.train(Xt, yt, Xv, yv, recipe=_recipe(epochs=4, batch_size=16, patience=2, seed=0), n_genres=3)


@pytest.mark.slow
def test_train_learns_and_reports_history(trained_toy, toy):
    model, history = trained_toy
    _, _, Xv, yv = toy
    assert list(history.columns[:1]) == ["epoch"] and {"loss", "val_loss", "val_accuracy"} <= set(history)
    assert 1 <= len(history) <= 4
    best = history.attrs["best_epoch"]
    assert history["val_loss"].min() == history.loc[history["epoch"] == best, "val_loss"].item()
    acc = (training.predict_proba(model, Xv).argmax(1) == yv).mean()
    assert acc > 0.9  # three separable classes: chance is 1/3


@pytest.mark.slow
def test_train_is_deterministic(trained_toy, toy):
    Xt, yt, Xv, yv = toy
    model, history = trained_toy
    again, history2 = training.train(
        Xt, yt, Xv, yv, recipe=_recipe(epochs=4, batch_size=16, patience=2, seed=0), n_genres=3
    )
    pd.testing.assert_frame_equal(history, history2)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_early_stopping_restores_best_weights(toy):
    """Noise labels: val loss rises quickly; the returned model is the one of the best epoch."""
    Xt, _, Xv, _ = toy
    rng = np.random.default_rng(1)
    yt, yv = rng.integers(0, 3, len(Xt)), rng.integers(0, 3, len(Xv))
    model, history = training.train(
        Xt, yt, Xv, yv, recipe=_recipe(epochs=8, batch_size=16, patience=1, seed=2, learning_rate=3e-3), n_genres=3
    )
    best = history.attrs["best_epoch"]
    assert len(history) == min(8, best + 1)  # stopped one epoch after the best
    ev = model.evaluate(Xv, np.eye(3)[yv], verbose=0, return_dict=True)
    assert ev["loss"] == pytest.approx(history["val_loss"].min(), rel=1e-4)


def test_evaluate_uses_mean_probability_per_track():
    genres = ["rock", "jazz"]
    # track a (rock): fragments vote jazz 2:1, but the mean probability says rock (thesis: mean)
    proba = np.array(
        [
            [0.45, 0.55],
            [0.45, 0.55],
            [0.99, 0.01],  # a, true rock
            [0.2, 0.8],
            [0.6, 0.4],
        ]
    )  # b, true jazz
    y = np.array([0, 0, 0, 1, 1])
    ids = ["a", "a", "a", "b", "b"]
    ev = training.evaluate_classifier(proba, y, ids, genres)
    assert ev.fragment_accuracy == pytest.approx(2 / 5)  # hand count: frags 3 and 4 right
    assert ev.track_accuracy == 1.0  # mean a = (0.63, 0.37) -> rock; b = (0.4, 0.6) -> jazz
    assert ev.recall.loc["rock", "fragment_recall"] == pytest.approx(1 / 3)
    assert ev.recall.loc["jazz", "fragment_recall"] == pytest.approx(1 / 2)
    assert ev.recall["n_tracks"].tolist() == [1, 1]
    assert ev.confusion.to_numpy().tolist() == [[1, 0], [0, 1]]
    assert ev.fragment_confusion.to_numpy().tolist() == [[1, 2], [1, 1]]
    np.testing.assert_allclose(ev.tracks.set_index("track_id").loc["a", "p_true"], (0.45 + 0.45 + 0.99) / 3)
    # track decision from other fragments (the consecutive scoring fragments)
    ev2 = training.evaluate_classifier(
        proba, y, ids, genres, track_proba=np.array([[0.1, 0.9], [0.3, 0.7]]), track_proba_ids=["a", "b"]
    )
    assert ev2.track_accuracy == 0.5 and ev2.fragment_accuracy == ev.fragment_accuracy
    json.dumps(ev.to_dict())  # sidecar-ready


def test_evaluate_matches_sklearn_on_random_predictions(rng):
    from sklearn.metrics import balanced_accuracy_score

    proba = rng.dirichlet(np.ones(4), size=200)
    y = rng.integers(0, 4, 200)
    ev = training.evaluate_classifier(proba, y, np.arange(200), list("abcd"))
    assert ev.fragment_accuracy == pytest.approx(np.mean(proba.argmax(1) == y))
    # balanced accuracy is the mean per-class recall
    assert ev.recall["fragment_recall"].mean() == pytest.approx(balanced_accuracy_score(y, proba.argmax(1)))
    assert ev.confusion.to_numpy().sum() == 200


@pytest.mark.slow
def test_errors(trained_toy, toy):
    Xt, yt, _, _ = toy
    with pytest.raises(ParameterError, match=r"\(n, 64, 128\)"):
        training.train(Xt[:, :32], yt, recipe=_recipe(epochs=1), n_genres=3)
    with pytest.raises(ParameterError, match="y_train"):
        training.train(Xt, yt + 5, recipe=_recipe(epochs=1), n_genres=3)
    with pytest.raises(ParameterError, match="epochs"):
        training.train(Xt, yt, recipe=_recipe(epochs=0), n_genres=3)
    with pytest.raises(ParameterError, match="GenreRecipe"):
        training.train(Xt, yt, recipe={"epochs": 1}, n_genres=3)
    with pytest.raises(ParameterError, match="'blues'"):
        training.encode_labels(["rock", "blues"], ["rock", "jazz"])


@pytest.mark.parametrize("value", [-2.9, -1.0, -0.37, 0.0, 0.004, 0.5, 1.0, 1.3, 3.9])
def test_thesis_kernel_colour_matches_pil(value):
    """drawKernels' colour: PIL's ImageColor.getrgb('hsl(int(270 + 90 v), 100%, 50%)')."""
    from PIL import ImageColor

    from melrec_lib.plots import genre as gplots

    ref = np.array(ImageColor.getrgb(f"hsl({int(270 + value * 90)}, 100%, 50%)")) / 255
    np.testing.assert_allclose(gplots.thesis_colours(np.array([value]))[0], ref, atol=1 / 255 + 1e-9)


def test_thesis_colour_below_minus_three_wraps():
    """PIL refuses a negative hue (the thesis' drawKernels would crash for w + b < -3); we wrap."""
    from PIL import ImageColor

    from melrec_lib.plots import genre as gplots

    with pytest.raises(ValueError):
        ImageColor.getrgb("hsl(-108, 100%, 50%)")
    ref = np.array(ImageColor.getrgb("hsl(252, 100%, 50%)")) / 255  # -108 + 360
    np.testing.assert_allclose(gplots.thesis_colours(np.array([-4.2]))[0], ref, atol=1 / 255 + 1e-9)


@pytest.mark.slow
def test_kernel_images_follow_the_thesis_layout(trained_toy):
    """Kernel k of conv1 as drawn: rows = 128 mel bands, columns = 4 frames (x[0][k][0][i][j])."""
    from melrec_lib.plots import genre as gplots

    model, _ = trained_toy
    k, b = gplots.conv1_kernels(model)
    w = np.asarray(model.get_layer("conv1").kernel)  # (time, mel, kernel)
    assert k.shape == (256, 128, 4) and b.shape == (256,)
    assert k[7, 100, 2] == w[2, 100, 7]
    k2, _ = gplots.conv2_kernels(model)
    w2 = np.asarray(model.get_layer("conv2").kernel)  # (time, response, kernel)
    assert k2.shape == (128, 256, 2) and k2[5, 200, 1] == w2[1, 200, 5]
    mosaic = gplots.kernel_mosaic(k[:3], per_row=2)
    assert mosaic.shape == (2 * 129, 2 * 5)
    np.testing.assert_array_equal(mosaic[129:257, 0:4], k[2])
    assert np.isnan(mosaic[:, 4]).all()  # the one-pixel gap drawKernels leaves after each kernel


def test_mask_fragments_masks_one_band_run_and_one_frame_run(rng):
    X = rng.uniform(0.1, 1.0, size=(50, 64, 128)).astype(np.float32)
    X[:, 0, 0] = 0.0  # each fragment's minimum (its "silence"), kept out of every mask's effect
    M = training.mask_fragments(X, np.random.default_rng(7))
    np.testing.assert_array_equal(M, training.mask_fragments(X, np.random.default_rng(7)))  # seeded
    assert not np.shares_memory(M, X) and X[:, 1:, 1:].min() > 0.05  # input untouched
    masked = (M != X) | ((M == 0.0) & (X == 0.0))
    widths_b, widths_f = [], []
    for k in range(len(X)):
        assert (M[k][masked[k]] == 0.0).all()  # masked cells take the fragment's minimum
        bands = np.flatnonzero(masked[k].all(axis=0))  # mel bands masked in every frame
        frames = np.flatnonzero(masked[k].all(axis=1))
        frames = frames if len(frames) < 64 else np.array([], int)
        for run, top in ((bands, 16), (frames, 8)):
            if len(run) and len(run) < {16: 128, 8: 64}[top]:
                assert len(run) <= top and (np.diff(run) == 1).all()  # one adjacent run
        expect = np.zeros((64, 128), bool)
        expect[:, bands] = True
        expect[frames, :] = True
        np.testing.assert_array_equal(
            masked[k] | (np.arange(64)[:, None] == 0) & (np.arange(128) == 0),
            expect | (np.arange(64)[:, None] == 0) & (np.arange(128) == 0),
        )
        widths_b.append(len(bands))
        widths_f.append(len(frames))
    assert max(widths_b) > 8 and max(widths_f) > 4  # the widths really vary up to their bounds


@pytest.mark.slow
def test_augmented_training_is_seeded(toy):
    Xt, yt, Xv, yv = toy
    runs = [
        training.train(Xt, yt, Xv, yv, recipe=_recipe(epochs=2, batch_size=16, seed=4, augment=True), n_genres=3)[1]
        for _ in range(2)
    ]
    pd.testing.assert_frame_equal(runs[0], runs[1])
    plain = training.train(Xt, yt, Xv, yv, recipe=_recipe(epochs=2, batch_size=16, seed=4), n_genres=3)[1]
    assert not np.allclose(plain["loss"], runs[0]["loss"])  # the masks changed what it saw
