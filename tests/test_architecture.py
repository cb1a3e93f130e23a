"""melrec_lib.nets.architecture: Table 4.1 layer for layer, Conv1D == literal Conv2D form, cuts, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from melrec_lib.errors import ModelNotFoundError, ParameterError
from melrec_lib.nets import architecture


@pytest.fixture(scope="module")
def cnn():
    # init="glorot" gives larger activations, so the equivalence test compares non-trivial numbers
    return architecture.genre_cnn(9, seed=3, init="glorot")


@pytest.fixture(scope="module")
def fragments():
    return np.random.default_rng(20261123).uniform(-1, 1, size=(6, 64, 128)).astype(np.float32)


def _table_4_1_params(n_genres=9):
    """Parameter count from the thesis' layer sizes (kernels x inputs + biases), not from Keras."""
    conv1 = 256 * (4 * 128) + 256
    conv2 = 128 * (256 * 2) + 128
    flat = 128 * ((((64 - 4 + 1) // 2) - 2 + 1) // 2)  # valid conv/pool arithmetic: 128 x 14
    return conv1 + conv2 + (flat * 1024 + 1024) + (1024 * 128 + 128) + (128 * n_genres + n_genres)


def test_parameter_count_and_shapes(cnn):
    assert _table_4_1_params() == architecture.N_PARAMS_9_GENRES == 2_165_385
    assert cnn.count_params() == 2_165_385
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in cnn.layers}
    assert shapes["conv1"] == (61, 256)
    assert shapes["pool1"] == (30, 256)
    assert shapes["conv2"] == (29, 128)
    assert shapes["pool2"] == (14, 128)
    assert shapes["flatten"] == (architecture.FLATTEN_SIZE,) == (1792,)
    assert shapes["genre"] == (9,)
    assert cnn.get_layer("conv1").kernel.shape == (4, 128, 256)
    assert cnn.get_layer("conv2").kernel.shape == (2, 256, 128)
    assert cnn.loss == "categorical_crossentropy"


@pytest.mark.parametrize("n_genres", [2, 13])
def test_other_genre_counts(n_genres):
    model = architecture.genre_cnn(n_genres, seed=0)
    assert model.output.shape[-1] == n_genres
    assert model.count_params() == _table_4_1_params(n_genres)


@pytest.mark.slow
def test_literal_conv2d_form_is_the_same_function(cnn, fragments):
    lit = architecture.genre_cnn_conv2d(9, seed=1)
    assert lit.count_params() == cnn.count_params()
    assert tuple(lit.get_layer("reshape").output.shape[1:]) == (256, 30, 1)  # Table 4.1's 1x256x30
    lit.set_weights(architecture.conv1d_to_conv2d_weights(cnn.get_weights()))
    for cut in ("pool1", "pool2", "dense128"):
        a = architecture.preprocessor(cnn, cut).predict(fragments, verbose=0)
        b = architecture.preprocessor(lit, cut).predict(fragments, verbose=0)
        assert np.abs(a).max() > 1e-3  # non-trivial activations
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(cnn.predict(fragments, verbose=0), lit.predict(fragments, verbose=0), atol=1e-5)


def test_conv1d_equals_numpy_reference(cnn, fragments):
    """conv1 + pool1 recomputed with numpy's sliding windows (a 4 x 128 kernel over time)."""
    k, b = (np.asarray(w) for w in cnn.get_layer("conv1").get_weights())
    win = np.lib.stride_tricks.sliding_window_view(fragments, 4, axis=1)  # (n, 61, 128, 4)
    conv = np.maximum(np.einsum("ntmk,kmf->ntf", win, k) + b, 0)
    pool = np.maximum(conv[:, 0:60:2], conv[:, 1:61:2])  # floor(61 / 2) = 30
    got = architecture.preprocessor(cnn, "pool1").predict(fragments, verbose=0)
    np.testing.assert_allclose(got, pool.reshape(len(fragments), -1), rtol=1e-4, atol=1e-5)


def test_finer_input_pools_to_the_same_grid():
    """frames=256 (1/32 s): conv1's 4-frame kernel, then max over 8 frames, by numpy; sizes by hand."""
    cnn = architecture.genre_cnn(9, seed=3, init="glorot", frames=256)
    X = np.random.default_rng(7).uniform(-1, 1, size=(3, 256, 128)).astype(np.float32)
    k, b = (np.asarray(w) for w in cnn.get_layer("conv1").get_weights())
    win = np.lib.stride_tricks.sliding_window_view(X, 4, axis=1)  # (n, 253, 128, 4)
    conv = np.maximum(np.einsum("ntmk,kmf->ntf", win, k) + b, 0)
    pool = conv[:, : 31 * 8].reshape(3, 31, 8, 256).max(axis=2)  # floor(253 / 8) = 31
    got = architecture.preprocessor(cnn, "pool1").predict(X, verbose=0)
    np.testing.assert_allclose(got, pool.reshape(3, -1), rtol=1e-4, atol=1e-5)
    assert cnn.get_layer("flatten").output.shape[1] == 128 * ((31 - 2 + 1) // 2)  # 1920
    assert cnn.count_params() == _table_4_1_params() + (1920 - 1792) * 1024
    for bad in (100, 32, 64.0):
        with pytest.raises(ParameterError, match="frames"):
            architecture.genre_cnn(9, frames=bad)
    with pytest.raises(ParameterError):
        architecture.validate_fragments(X)  # 256 frames where 64 are expected
    assert architecture.validate_fragments(X, frames=256).shape == X.shape


def test_thesis_init_matches_literal_conv2d_glorot():
    """init="thesis" draws Conv1D kernels with the bound Keras' Glorot gives the 4-D kernels."""
    import keras

    ours = architecture.genre_cnn(9, seed=0, init="thesis")
    lit = architecture.genre_cnn_conv2d(9, seed=0)
    for name, shape4 in (("conv1", (4, 128, 1, 256)), ("conv2", (256, 2, 1, 128))):
        ref = np.asarray(keras.initializers.GlorotUniform(seed=5)(shape4))  # Keras' own fans
        w_ours = np.asarray(ours.get_layer(name).kernel)
        w_lit = np.asarray(lit.get_layer(name).kernel)
        for w in (w_ours, w_lit):
            assert np.abs(w).max() <= np.abs(ref).max() * 1.001
            assert np.abs(w).max() >= np.abs(ref).max() * 0.99
        assert np.std(w_ours) == pytest.approx(np.std(ref), rel=0.02)
    glorot = architecture.genre_cnn(9, seed=0, init="glorot")
    # The fans differ between the forms: Keras' Glorot on the Conv1D shape is ~9x wider
    assert np.abs(glorot.get_layer("conv1").kernel).max() > 8 * np.abs(ours.get_layer("conv1").kernel).max()


def test_same_seed_same_network(fragments):
    a = architecture.genre_cnn(9, seed=7)
    b = architecture.genre_cnn(9, seed=7)
    c = architecture.genre_cnn(9, seed=8)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


@pytest.mark.parametrize("cut", architecture.CUTS)
def test_preprocessor_cuts(cnn, fragments, cut):
    pre = architecture.preprocessor(cnn, cut)
    out = pre.predict(fragments, verbose=0)
    assert out.shape == (len(fragments), architecture.CUT_SIZES[cut])
    assert {"pool1": 7680, "pool2": 1792, "dense1024": 1024, "dense128": 128}[cut] == out.shape[1]
    assert not pre.trainable and pre.trainable_weights == []
    assert cnn.trainable and len(cnn.trainable_weights) == 10  # the source model is untouched
    # the cut output is the layer's output of the full network (inference mode)
    import keras

    probe = keras.Model(cnn.inputs, cnn.get_layer(cut).output)
    np.testing.assert_allclose(out, probe.predict(fragments, verbose=0).reshape(len(fragments), -1), rtol=1e-6)


def test_theano_flatten_permutation():
    chw = np.arange(128 * 14).reshape(128, 1, 14)  # channels-first (c, 1, t) as the thesis flattened
    theirs = chw.ravel()
    ours = np.transpose(chw[:, 0, :], (1, 0)).ravel()  # (t, c) channels-last
    np.testing.assert_array_equal(theirs[architecture.theano_flatten_permutation()], ours)


def test_save_load_roundtrip(cnn, fragments, tmp_path):
    path = architecture.save(cnn, tmp_path / "sub" / "m.keras")
    assert path.is_file()
    back = architecture.load(path)
    np.testing.assert_array_equal(cnn.predict(fragments, verbose=0), back.predict(fragments, verbose=0))
    assert [l.name for l in back.layers] == [l.name for l in cnn.layers]


def test_errors(cnn, tmp_path):
    with pytest.raises(ParameterError, match="cut"):
        architecture.preprocessor(cnn, "conv3")
    with pytest.raises(ParameterError, match="n_genres"):
        architecture.genre_cnn(1)
    with pytest.raises(ParameterError, match="init"):
        architecture.genre_cnn(9, init="he")
    with pytest.raises(ParameterError, match="optimizer"):
        architecture.genre_cnn(9, optimizer="rmsprop-ish")
    with pytest.raises(ParameterError, match=r"\(n, 64, 128\)"):
        architecture.validate_fragments(np.zeros((3, 128, 64)))
    with pytest.raises(ParameterError, match="NaN"):
        architecture.validate_fragments(np.full((1, 64, 128), np.nan))
    with pytest.raises(ParameterError, match="empty"):
        architecture.validate_fragments(np.zeros((0, 64, 128)))
    assert architecture.validate_fragments(np.zeros((64, 128))).shape == (1, 64, 128)
    with pytest.raises(ModelNotFoundError, match="nothing.keras"):
        architecture.load(tmp_path / "nothing.keras")
    with pytest.raises(ParameterError, match=".h5"):
        architecture.save(cnn, tmp_path / "m.h5")
