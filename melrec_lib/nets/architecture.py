"""The genre CNN of thesis Table 4.1, and the frozen "preprocessor" cut out of it (thesis 4.4).

Two builds of the same network:

* :func:`genre_cnn` — the working form.  Convolutions run over *time* only, with the 128 mel
  bands (first block) and then the 256 kernel responses (second block) as channels
  (``Conv1D``).  A 4 x 128 kernel that spans every mel band *is* a 1-D convolution over time
  with 128 input channels, and the thesis' ``Reshape`` (which turns the 256 responses into a
  "frequency" axis, Figure 4.1) followed by a 256 x 2 kernel spanning all of them is again a
  1-D convolution over time with 256 input channels.  Same function, far cheaper gradients on
  JAX/CPU (see ``bench/train_speed.py``).
* :func:`genre_cnn_conv2d` — the literal Table 4.1 form (``Conv2D`` + ``Permute`` +
  ``Conv2D``), kept to prove the equivalence (``tests/test_architecture.py`` copies weights across
  with :func:`conv1d_to_conv2d_weights` and compares outputs) and for the speed benchmark.

Layer by layer (batch axis omitted; Conv1D form)::

    input      (64, 128)     8 s fragment: 64 frames x 128 mel bands
    conv1      (61, 256)     256 kernels 4 x 128, relu, valid          131,328 params
    pool1      (30, 256)     max-pool 2 over time (61 -> 30, floor)
    (reshape)                the thesis' 256 x 30 "feature spectrogram" is pool1 transposed
    dropout1   (30, 256)     0.25
    conv2      (29, 128)     128 kernels 256 x 2, relu, valid           65,664 params
    pool2      (14, 128)     max-pool 2 over time (29 -> 14, floor)
    flatten    (1792,)       the thesis says 1920 = 128 x 15 (see below)
    dropout2   (1792,)       0.25
    dense1024  (1024,)       relu                                     1,836,032 params
    dropout3   (1024,)       0.5
    dense128   (128,)        relu                                       131,200 params
    dropout4   (128,)        0.5
    genre      (9,)          softmax, categorical cross-entropy           1,161 params
                                                              total 2,165,385 params

**1792, not 1920.**  The text (4.4) says the second pooling yields 128 x 1 x 15 and the
flatten 1 x 1920.  Pooling 29 time steps by 2 with Keras' (and Theano's) default
``padding="valid"``/``ignore_border=True`` gives floor(29 / 2) = 14, so 128 x 14 = 1792;
15 would need the last, unpaired step kept (``ceil``, Theano's ``ignore_border=False``).  The
thesis' own code builds the recommender's input from the layer's *actual* output shape
(``createRecomendator`` reads ``output_shape``), so whatever its number was, the code is
consistent; we use valid pooling and 1792.  The total of 2,165,385 parameters follows.

**Initialisation.**  The thesis uses ``init='glorot_uniform'`` on Keras-1 ``Convolution2D``
kernels, whose fans are ``fan_in = in_channels x kh x kw`` and ``fan_out = filters x kh x kw``
(the same rule Keras 3 applies to a ``Conv2D`` kernel).  For the literal form that is
``fan_in + fan_out = 512 + 131,072`` (conv1, kernel 4 x 128 x 1 x 256) and ``512 + 65,536``
(conv2, kernel 256 x 2 x 1 x 128): tiny weights, limits 0.0068 and 0.0095.  The ``Conv1D``
kernels of the same functions have other shapes (4 x 128 x 256 and 2 x 256 x 128), so Keras'
Glorot would give them ``512 + 1,024`` and ``512 + 256``: limits 0.0625 and 0.088, about 9x
larger.  The fans are therefore *not* equal for either convolution.  ``init="thesis"`` (the
default) draws the Conv1D kernels from exactly the distribution the literal form (and the
thesis) uses, so both builds and the thesis start from the same distribution;
``init="glorot"`` is Keras' Glorot on the Conv1D shapes (a more usual scale).  Dense layers
are Glorot-uniform in both (their fans do not depend on the form), biases zero.

**Flatten order.**  Channels-last, both builds flatten ``(time, channel)`` to
``time * 128 + channel``; so weights copy across without permuting the first dense layer.  The
thesis (Theano, channels-first: 128 x 1 x 14) flattened to ``channel * 14 + time``: loading
the author's weight files would need the rows of ``dense1024`` permuted accordingly (see
:func:`theano_flatten_permutation`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from melrec_lib.errors import ModelNotFoundError, ParameterError, check_array, check_int

if TYPE_CHECKING:
    import pandas as pd

FRAGMENT_FRAMES = 64
N_MELS = 128
INPUT_SHAPE = (FRAGMENT_FRAMES, N_MELS)
N_KERNELS1 = 256
N_KERNELS2 = 128
FLATTEN_SIZE = 1792
THESIS_FLATTEN_SIZE = 1920
N_PARAMS_9_GENRES = 2_165_385
CUTS = ("pool1", "pool2", "dense1024", "dense128")
CUT_SIZES = {"pool1": 30 * 256, "pool2": FLATTEN_SIZE, "dense1024": 1024, "dense128": 128}
#: The thesis' preprocessor: layers 1-6, both convolutional blocks (the default cut everywhere).
DEFAULT_CUT = "pool2"
INITS = ("thesis", "glorot")
OPTIMIZERS = ("adam", "sgd")

# Fans of the literal (Conv2D, Keras-1) kernels and of the Conv1D kernels of the same functions.
_FANS = {
    "conv1": {"conv2d": (4 * 128 * 1, 4 * 128 * 256), "conv1d": (4 * 128, 4 * 256)},
    "conv2": {"conv2d": (256 * 2 * 1, 256 * 2 * 128), "conv1d": (2 * 256, 2 * 128)},
}


def _keras():
    import keras

    import melrec_lib  # noqa: F401  (sets KERAS_BACKEND=jax before keras is imported)

    return keras


def _conv_initializer(layer: str, init: str, seed: int):
    """Initializer of a Conv1D kernel: Glorot on the literal Conv2D fans (``thesis``) or its own."""
    keras = _keras()
    if init == "glorot":
        return keras.initializers.GlorotUniform(seed=seed)
    # VarianceScaling(mode="fan_avg", uniform) has limit sqrt(3 * scale / ((fi + fo) / 2));
    # rescale so that, on the Conv1D fans, it equals Glorot's limit on the Conv2D fans.
    fi1, fo1 = _FANS[layer]["conv1d"]
    fi2, fo2 = _FANS[layer]["conv2d"]
    return keras.initializers.VarianceScaling(
        scale=(fi1 + fo1) / (fi2 + fo2), mode="fan_avg", distribution="uniform", seed=seed
    )


def _optimizer(optimizer: Any, learning_rate: float | None):
    keras = _keras()
    if isinstance(optimizer, str):
        if optimizer == "adam":
            return keras.optimizers.Adam(learning_rate=learning_rate or 1e-3)
        if optimizer == "sgd":  # what the thesis' code compiles with (Keras defaults, lr 0.01)
            return keras.optimizers.SGD(learning_rate=learning_rate or 0.01)
        raise ParameterError(f"optimizer must be one of {OPTIMIZERS} or a keras optimizer, got {optimizer!r}")
    return optimizer


def _head(x, n_genres: int, seed: int):
    """Layers 7-13 of Table 4.1 (flatten, dropout, dense 1024/128/n relu/relu/softmax)."""
    keras = _keras()
    L = keras.layers
    glorot = keras.initializers.GlorotUniform
    x = L.Flatten(name="flatten")(x)
    x = L.Dropout(0.25, seed=seed + 11, name="dropout2")(x)
    x = L.Dense(1024, activation="relu", kernel_initializer=glorot(seed=seed + 3), name="dense1024")(x)
    x = L.Dropout(0.5, seed=seed + 12, name="dropout3")(x)
    x = L.Dense(128, activation="relu", kernel_initializer=glorot(seed=seed + 4), name="dense128")(x)
    x = L.Dropout(0.5, seed=seed + 13, name="dropout4")(x)
    return L.Dense(n_genres, activation="softmax", kernel_initializer=glorot(seed=seed + 5), name="genre")(x)


def _compile(model, optimizer, learning_rate):
    model.compile(
        optimizer=_optimizer(optimizer, learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def genre_cnn(
    n_genres: int = 9,
    *,
    seed: int = 0,
    init: str = "thesis",
    optimizer: Any = "adam",
    learning_rate: float | None = None,
    frames: int = FRAGMENT_FRAMES,
):
    """The genre CNN of thesis Table 4.1, built with ``Conv1D`` over time (compiled).

    Parameters
    ----------
    n_genres : int >= 2
        Size of the softmax output (9 in the thesis and in ``corpus.GENRES``).
    seed : int >= 0
        Seeds every initializer and dropout layer: the same seed gives the same network.
    init : {"thesis", "glorot"}
        Scale of the convolution kernels: ``"thesis"`` draws them like the thesis'
        ``Convolution2D`` Glorot (fans of the 4-D kernels, see the module docstring);
        ``"glorot"`` is Keras' Glorot on the Conv1D kernels (about 9x larger).
    optimizer : {"adam", "sgd"} or keras optimizer
        ``"sgd"`` is what the thesis' code compiles with (plain SGD, learning rate 0.01).
    learning_rate : float > 0, optional
        Overrides the optimizer's default learning rate (Adam 1e-3, SGD 1e-2).
    frames : int, a multiple of 64
        Input frames per 8 s fragment: 64 (Table 4.1's frames of 1/8 s).  A finer input (256
        frames of 1/32 s, :mod:`melrec_lib.nets.distill`'s ``"fine"``) keeps ``conv1``'s
        kernel of 4 frames and pools ``2 x frames / 64`` of them in ``pool1``, so every layer
        after it sees Table 4.1's grid of 1/4 s (``flatten`` 15 x 128 = 1920 instead of 1792).

    Returns
    -------
    model : keras.Model
        Input ``[shape=(batch, frames, 128)]`` (time x mel), output ``[shape=(batch, n_genres)]``
        genre probabilities; layers named ``conv1, pool1, dropout1, conv2, pool2, flatten,
        dropout2, dense1024, dropout3, dense128, dropout4, genre`` (cuts: :data:`CUTS`).
        2,165,385 parameters for 9 genres.

    Examples
    --------
    >>> model = genre_cnn(9, seed=0)
    >>> model.count_params()
    2165385
    """
    n_genres = check_int(n_genres, "n_genres", minimum=2)
    seed = check_int(seed, "seed")
    if init not in INITS:
        raise ParameterError(f"init must be one of {INITS}, got {init!r}")
    frames = check_int(frames, "frames", minimum=FRAGMENT_FRAMES)
    if frames % FRAGMENT_FRAMES:
        raise ParameterError(f"frames must be a multiple of {FRAGMENT_FRAMES}, got {frames}")
    keras = _keras()
    L = keras.layers
    inp = keras.Input(shape=(frames, N_MELS), name="fragment")
    x = L.Conv1D(
        N_KERNELS1,
        4,
        activation="relu",
        padding="valid",
        kernel_initializer=_conv_initializer("conv1", init, seed + 1),
        name="conv1",
    )(inp)
    x = L.MaxPooling1D(2 * frames // FRAGMENT_FRAMES, name="pool1")(x)
    x = L.Dropout(0.25, seed=seed + 10, name="dropout1")(x)
    x = L.Conv1D(
        N_KERNELS2,
        2,
        activation="relu",
        padding="valid",
        kernel_initializer=_conv_initializer("conv2", init, seed + 2),
        name="conv2",
    )(x)
    x = L.MaxPooling1D(2, name="pool2")(x)
    out = _head(x, n_genres, seed)
    model = keras.Model(inp, out, name="genre_cnn")
    return _compile(model, optimizer, learning_rate)


def genre_cnn_conv2d(
    n_genres: int = 9,
    *,
    seed: int = 0,
    optimizer: Any = "adam",
    learning_rate: float | None = None,
):
    """The literal Table 4.1 form: ``Conv2D`` + ``Permute`` (the thesis' reshape) + ``Conv2D``.

    Channels-last: input ``(64, 128)`` -> Reshape ``(64, 128, 1)`` -> ``conv1`` Conv2D 256
    (4, 128) -> ``(61, 1, 256)`` -> ``pool1`` MaxPool (2, 1) -> ``(30, 1, 256)`` ->
    ``reshape`` Permute((3, 1, 2)) -> ``(256, 30, 1)`` (the thesis reshaped its channels-first
    ``(256, 30, 1)`` buffer to ``(1, 256, 30)``: in channels-last that is a transpose, not a
    reshape) -> dropout -> ``conv2`` Conv2D 128 (256, 2) -> ``(1, 29, 128)`` -> ``pool2``
    MaxPool (1, 2) -> ``(1, 14, 128)`` -> the same dense head as :func:`genre_cnn`.

    Kernels use Keras' Glorot on their 4-D shapes, which is the thesis' initialisation.  Same
    parameters and, with weights copied by :func:`conv1d_to_conv2d_weights`, the same outputs
    as :func:`genre_cnn`; it trains far slower on JAX/CPU (``bench/train_speed.py``).
    """
    n_genres = check_int(n_genres, "n_genres", minimum=2)
    seed = check_int(seed, "seed")
    keras = _keras()
    L = keras.layers
    glorot = keras.initializers.GlorotUniform
    inp = keras.Input(shape=INPUT_SHAPE, name="fragment")
    x = L.Reshape((*INPUT_SHAPE, 1), name="add_channel")(inp)
    x = L.Conv2D(
        N_KERNELS1,
        (4, N_MELS),
        activation="relu",
        padding="valid",
        kernel_initializer=glorot(seed=seed + 1),
        name="conv1",
    )(x)
    x = L.MaxPooling2D((2, 1), name="pool1")(x)
    x = L.Permute((3, 1, 2), name="reshape")(x)
    x = L.Dropout(0.25, seed=seed + 10, name="dropout1")(x)
    x = L.Conv2D(
        N_KERNELS2,
        (N_KERNELS1, 2),
        activation="relu",
        padding="valid",
        kernel_initializer=glorot(seed=seed + 2),
        name="conv2",
    )(x)
    x = L.MaxPooling2D((1, 2), name="pool2")(x)
    out = _head(x, n_genres, seed)
    model = keras.Model(inp, out, name="genre_cnn_conv2d")
    return _compile(model, optimizer, learning_rate)


def conv1d_to_conv2d_weights(weights: list[np.ndarray]) -> list[np.ndarray]:
    """Convert :func:`genre_cnn` weights (``model.get_weights()``) to :func:`genre_cnn_conv2d`'s.

    conv1: ``(4, 128, 256)`` -> ``(4, 128, 1, 256)`` (a new in-channel axis); conv2:
    ``(2, 256, 128)`` (time, response, filter) -> ``(256, 2, 1, 128)`` (response, time, 1,
    filter); biases and the dense head unchanged (both flatten ``time * 128 + channel``).
    """
    if len(weights) != 10:
        raise ParameterError(f"expected the 10 weight arrays of genre_cnn, got {len(weights)}")
    w = [np.asarray(a) for a in weights]
    if w[0].shape != (4, N_MELS, N_KERNELS1) or w[2].shape != (2, N_KERNELS1, N_KERNELS2):
        raise ParameterError(f"not genre_cnn conv kernels: shapes {w[0].shape} and {w[2].shape}")
    k1 = w[0][:, :, None, :]
    k2 = np.transpose(w[2], (1, 0, 2))[:, :, None, :]
    return [k1, w[1], k2, *w[3:]]


def theano_flatten_permutation(n_time: int = 14, n_channels: int = N_KERNELS2) -> np.ndarray:
    """Row permutation from the thesis' channels-first flatten to ours.

    The thesis' Theano model flattened ``(channels, 1, time)`` as ``c * n_time + t``; ours
    flattens ``(time, channels)`` as ``t * n_channels + c``.  Returns ``perm`` such that
    ``ours = theirs[perm]`` for the rows of the first dense kernel.
    """
    t, c = np.meshgrid(np.arange(n_time), np.arange(n_channels), indexing="ij")
    return (c * n_time + t).ravel()


def validate_fragments(X: Any, *, name: str = "fragments", frames: int = FRAGMENT_FRAMES) -> np.ndarray:
    """Check a batch of fragments and return it as float32 ``[shape=(n, frames, 128)]``.

    Raises
    ------
    ParameterError
        If ``X`` is not numeric, not 3-D with trailing shape ``(frames, 128)`` (a single
        fragment ``(frames, 128)`` is accepted and given a batch axis), empty, or not finite.
    """
    return check_array(X, name, trailing=(frames, N_MELS))


def preprocessor(model, cut: str = DEFAULT_CUT):
    """A frozen copy of ``model`` from the fragment to the output of layer ``cut``, flattened.

    The thesis keeps layers 1-6 (both convolutional blocks), i.e. ``cut="pool2"``: 1792
    features.  The other cuts serve the truncation study (notebook 04): ``"pool1"`` (after the
    first block, 30 x 256 = 7680), ``"dense1024"`` and ``"dense128"`` (after the ReLU of those
    dense layers; dropout is inactive at inference).

    Parameters
    ----------
    model : keras.Model
        A :func:`genre_cnn` or :func:`genre_cnn_conv2d` model (trained or not).
    cut : {"pool1", "pool2", "dense1024", "dense128"}

    Returns
    -------
    keras.Model
        ``trainable=False``, input ``[shape=(batch, 64, 128)]``, output
        ``[shape=(batch, CUT_SIZES[cut])]``.  Its weights are copies: freezing it leaves
        ``model`` trainable.
    """
    if cut not in CUTS:
        raise ParameterError(f"cut must be one of {CUTS}, got {cut!r}")
    keras = _keras()
    try:
        model.get_layer(cut)
    except (ValueError, AttributeError) as exc:
        raise ParameterError(f"model {getattr(model, 'name', model)!r} has no layer {cut!r}") from exc
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    out = clone.get_layer(cut).output
    if len(out.shape) > 2:
        out = keras.layers.Flatten(name=f"{cut}_flat")(out)
    pre = keras.Model(clone.inputs, out, name=f"preprocessor_{cut}")
    pre.trainable = False
    return pre


def save(model, path: str | os.PathLike) -> Path:
    """Save a model as a ``.keras`` file (architecture, weights, optimizer state); returns the path."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ParameterError(f"model files end in .keras, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def load(path: str | os.PathLike, *, compile: bool = True):
    """Load a model saved by :func:`save`.

    Raises
    ------
    ModelNotFoundError
        If ``path`` does not exist.
    ParameterError
        If it is not a ``.keras`` file.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ParameterError(f"model files end in .keras, got {str(path)!r}")
    if not path.is_file():
        raise ModelNotFoundError(f"no model file at {path}")
    return _keras().saving.load_model(path, compile=compile)


# Table 4.1 as the thesis states it (channels-first shapes, from the text of 4.4); parameters
# are what those shapes imply (the thesis gives no counts): 1920 inputs to dense1024.
THESIS_TABLE_4_1 = (
    # (our layer, thesis layer number, thesis type, thesis output shape, implied parameters)
    ("conv1", 1, "Convolution 256 x (4x128), relu", "256x61x1", 256 * 4 * 128 + 256),
    ("pool1", 2, "MaxPooling 2x1", "256x30x1", 0),
    ("reshape", 3, "Reshape", "1x256x30", 0),
    ("dropout1", 4, "Dropout 0.25", "1x256x30", 0),
    ("conv2", 5, "Convolution 128 x (256x2), relu", "128x1x29", 128 * 256 * 2 + 128),
    ("pool2", 6, "MaxPooling 1x2", "128x1x15", 0),
    ("flatten", 7, "Flatten", "1920", 0),
    ("dropout2", 8, "Dropout 0.25", "1920", 0),
    ("dense1024", 9, "Dense 1024, relu", "1024", THESIS_FLATTEN_SIZE * 1024 + 1024),
    ("dropout3", 10, "Dropout 0.5", "1024", 0),
    ("dense128", 11, "Dense 128, relu", "128", 1024 * 128 + 128),
    ("dropout4", 12, "Dropout 0.5", "128", 0),
    ("genre", 13, "Dense 9, softmax; categorical cross-entropy", "9", 128 * 9 + 9),
)


def summary_table(model) -> pd.DataFrame:
    """Layer table of a genre CNN beside thesis Table 4.1.

    Shapes and parameter counts are read from ``model`` itself; the thesis' columns are its
    stated output shapes and the parameter counts they imply.  A ``reshape`` layer absent from
    the model (the Conv1D form needs none) is listed with an empty shape and a note.

    Returns
    -------
    pd.DataFrame
        Columns ``layer, type, output shape, parameters, thesis #, thesis layer, thesis shape,
        thesis parameters``; a last row ``total``.
    """
    import pandas as pd

    names = {layer.name: layer for layer in model.layers}
    rows = []
    for name, num, ttype, tshape, tparams in THESIS_TABLE_4_1:
        layer = names.get(name)
        if layer is None:
            shape, kind, params = "(implicit: pool1 transposed)", "-", 0
        else:
            shape = "x".join(str(d) for d in layer.output.shape[1:])
            kind, params = type(layer).__name__, layer.count_params()
        rows.append(
            {
                "layer": name,
                "type": kind,
                "output shape": shape,
                "parameters": params,
                "thesis #": num,
                "thesis layer": ttype,
                "thesis shape": tshape,
                "thesis parameters": tparams,
            }
        )
    total = {
        "layer": "total",
        "type": "",
        "output shape": "",
        "parameters": model.count_params(),
        "thesis #": "",
        "thesis layer": "",
        "thesis shape": "",
        "thesis parameters": sum(r[4] for r in THESIS_TABLE_4_1),
    }
    return pd.DataFrame(rows + [total])
