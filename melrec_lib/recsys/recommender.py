"""The thesis' per-user recommender network and its ``Recomendator.fit`` training loop (thesis 4.5).

A user's recommender is a small dense network trained on *cached preprocessor embeddings*
(never on fragments: the frozen genre-CNN preprocessor never runs inside the epoch loop):

    flatten -> dense 1024 sigmoid -> dropout 0.5 -> dense 128 sigmoid -> dropout 0.5
            -> dense 1 sigmoid;  MSE, plain SGD (Keras defaults, learning rate 0.01),
            batch 16, Glorot-uniform initialisation.

Training follows the author's ``Recomendator.fit`` (appendix B of the thesis) exactly: the
positives (fragments of the user's playlist) are fixed with label 1; every epoch draws, with
replacement, as many negatives as there are positives from the negative pool, labels them,
shuffles positives and negatives together and makes one pass over them in batches of 16.

Two modes (:data:`CONFIGS`):

``"thesis"``
    The faithful one: negatives are labelled **-1**, a value a sigmoid output can never reach.
    Under MSE the best constant output for inputs that are liked with probability ``p`` is
    ``argmin_c p (c-1)^2 + (1-p) (c+1)^2 = 2p - 1``, clipped to ``[0, 1]`` by the sigmoid: every
    fragment that is not clearly liked is pushed to 0 and the gradient on negatives never
    vanishes until the unit saturates.  Scores therefore collapse towards 0 (the thesis'
    0.001-0.01 scores) and the mean score of the training positives stays well below 1
    (the thesis' "maximum score", 0.72 and 0.51).
``"corrected"``
    Negatives labelled 0, binary cross-entropy and Adam (learning rate 1e-3): the output is an
    estimate of P(liked), as eq. (23) of the thesis intends.

Speed: the whole schedule (every epoch's negative draw and shuffle) is drawn up front with a
seeded NumPy generator (:func:`training_schedule`) and executed by one jitted JAX loop
(``lax.scan`` over the batches, Keras' own ``stateless_call`` and optimiser ``stateless_apply``
inside), instead of one ``model.fit`` call per epoch.  :func:`fit_reference` is that naive
loop, kept as the reference the tests and ``bench/recommender_speed.py`` compare against.

A track's score is the mean of its consecutive 8 s fragments' scores (:func:`track_scores`);
:func:`rank` sorts by score, ties broken by track id.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from melrec_lib.errors import ParameterError, check_array, check_int

LOSSES = ("mse", "bce")
OPTIMIZERS = ("sgd", "adam")

#: Epochs of the two thesis experiments (5.1 and 5.2).
EXPERIMENT1_EPOCHS = 20
EXPERIMENT2_EPOCHS = 500


@dataclass(frozen=True)
class RecommenderConfig:
    """Everything that defines how a user's recommender is built and trained.

    Attributes
    ----------
    name : str
        ``"thesis"``, ``"corrected"`` or a custom label.
    negative_label : float
        Target of the negatives: -1 in the thesis (unreachable for a sigmoid), 0 corrected.
    loss : {"mse", "bce"}
        Mean squared error (thesis) or binary cross-entropy.
    optimizer : {"sgd", "adam"}
        Plain SGD without momentum (Keras defaults, thesis) or Adam.
    learning_rate : float > 0
        0.01 is Keras' SGD default (the thesis used the default); 0.001 is Adam's.
    batch_size : int > 0
        16 in the thesis.
    dropout : float in [0, 1)
        0.5 after each hidden layer in the thesis.
    hidden : tuple of int > 0
        Hidden layer widths, ``(1024, 128)`` in the thesis.
    negatives_per_positive : int > 0
        Negatives drawn per epoch for each positive (1 in the thesis).
    """

    name: str = "thesis"
    negative_label: float = -1.0
    loss: str = "mse"
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    batch_size: int = 16
    dropout: float = 0.5
    hidden: tuple[int, ...] = (1024, 128)
    negatives_per_positive: int = 1

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ParameterError(f"loss must be one of {LOSSES}, not {self.loss!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ParameterError(f"optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ParameterError(f"learning_rate must be > 0, not {self.learning_rate!r}")
        if not (isinstance(self.batch_size, (int, np.integer)) and self.batch_size > 0):
            raise ParameterError(f"batch_size must be a positive integer, not {self.batch_size!r}")
        if not (0.0 <= self.dropout < 1.0):
            raise ParameterError(f"dropout must lie in [0, 1), not {self.dropout!r}")
        if not self.hidden or any(not (isinstance(h, (int, np.integer)) and h > 0) for h in self.hidden):
            raise ParameterError(f"hidden must be positive integer widths, not {self.hidden!r}")
        if not (isinstance(self.negatives_per_positive, (int, np.integer)) and self.negatives_per_positive > 0):
            raise ParameterError(
                f"negatives_per_positive must be a positive integer, not {self.negatives_per_positive!r}"
            )
        if self.loss == "bce" and not (0.0 <= self.negative_label <= 1.0):
            raise ParameterError(
                f"binary cross-entropy needs labels in [0, 1], not negative_label={self.negative_label}"
            )

    def replace(self, **changes: Any) -> "RecommenderConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


CONFIGS: dict[str, RecommenderConfig] = {
    "thesis": RecommenderConfig(),
    "corrected": RecommenderConfig(
        name="corrected", negative_label=0.0, loss="bce", optimizer="adam", learning_rate=1e-3
    ),
    # regularised variants of the corrected mode for small playlists (notebook 08 compares them
    # on its development users): one hidden layer of 128 units instead of 1024 + 128, and/or
    # four negatives per positive per epoch (more of a large library seen per epoch)
    "corrected-small": RecommenderConfig(
        name="corrected-small",
        negative_label=0.0,
        loss="bce",
        optimizer="adam",
        learning_rate=1e-3,
        hidden=(128,),
    ),
    "corrected-neg4": RecommenderConfig(
        name="corrected-neg4",
        negative_label=0.0,
        loss="bce",
        optimizer="adam",
        learning_rate=1e-3,
        negatives_per_positive=4,
    ),
    "corrected-small-neg4": RecommenderConfig(
        name="corrected-small-neg4",
        negative_label=0.0,
        loss="bce",
        optimizer="adam",
        learning_rate=1e-3,
        hidden=(128,),
        negatives_per_positive=4,
    ),
}


def get_config(config: str | RecommenderConfig = "thesis") -> RecommenderConfig:
    """The :class:`RecommenderConfig` named ``config`` (a :data:`CONFIGS` name), or ``config`` itself."""
    if isinstance(config, RecommenderConfig):
        return config
    try:
        return CONFIGS[config]
    except (KeyError, TypeError):
        raise ParameterError(f"unknown recommender mode {config!r}; choose one of {tuple(CONFIGS)}") from None


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------
def build_network(input_shape: Sequence[int], *, config: str | RecommenderConfig = "thesis", seed: int = 0):
    """The thesis' recommender network (``createRecomendator``) as a Keras model.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one embedding, e.g. ``(1792,)`` or ``(14, 128)`` (it is flattened first).
    config : str or RecommenderConfig
        Hidden widths and dropout come from here.
    seed : int >= 0
        Seeds the Glorot-uniform initialisers and the dropout masks.

    Returns
    -------
    keras.Model
        ``Flatten -> Dense(1024, sigmoid) -> Dropout(0.5) -> Dense(128, sigmoid) -> Dropout(0.5)
        -> Dense(1, sigmoid)``, not compiled.
    """
    import keras

    cfg = get_config(config)
    seed = check_int(seed, "seed")
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s <= 0 for s in shape):
        raise ParameterError(f"input_shape must be positive sizes, not {input_shape!r}")
    layers: list = [keras.Input(shape), keras.layers.Flatten(name="flatten")]
    for i, width in enumerate(cfg.hidden):
        layers.append(
            keras.layers.Dense(
                int(width),
                activation="sigmoid",
                name=f"dense{width}",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 7919 + 2 * i),
            )
        )
        if cfg.dropout > 0:
            layers.append(keras.layers.Dropout(cfg.dropout, seed=seed * 7919 + 2 * i + 1, name=f"dropout{i + 1}"))
    layers.append(
        keras.layers.Dense(
            1,
            activation="sigmoid",
            name="score",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 7919 + 2 * len(cfg.hidden)),
        )
    )
    return keras.Sequential(layers, name=f"recommender_{cfg.name}")


def _keras_optimizer(cfg: RecommenderConfig):
    import keras

    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=cfg.learning_rate)
    return keras.optimizers.Adam(learning_rate=cfg.learning_rate)


def _keras_loss(cfg: RecommenderConfig):
    import keras

    return keras.losses.MeanSquaredError() if cfg.loss == "mse" else keras.losses.BinaryCrossentropy()


# --------------------------------------------------------------------------------------------
# The schedule of Recomendator.fit
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """Every batch of a training run, drawn up front.

    Rows index the table ``concat(positives, negative_pool)``: ``0 .. n_positive - 1`` are
    positives, ``n_positive ..`` the pool.

    Attributes
    ----------
    rows : np.ndarray [shape=(n_steps, batch_size), int32]
        Row of each sample of each batch (0 where ``mask`` is 0).
    mask : np.ndarray [shape=(n_steps, batch_size), float32]
        1 for a real sample, 0 for the padding of an epoch's last, partial batch.
    epoch : np.ndarray [shape=(n_steps,), int32]
        The epoch each batch belongs to.
    n_positive, n_pool : int
    """

    rows: np.ndarray
    mask: np.ndarray
    epoch: np.ndarray
    n_positive: int
    n_pool: int

    @property
    def epochs(self) -> int:
        return int(self.epoch[-1]) + 1 if len(self.epoch) else 0

    def epoch_rows(self, e: int) -> np.ndarray:
        """The rows of epoch ``e`` in training order (what one ``model.fit`` pass would see)."""
        sel = self.epoch == e
        return self.rows[sel][self.mask[sel] > 0]


def training_schedule(
    *,
    n_positive: int,
    n_pool: int,
    epochs: int,
    batch_size: int = 16,
    negatives_per_positive: int = 1,
    seed: int = 0,
) -> Schedule:
    """Draw the batches of ``Recomendator.fit``: a fresh negative draw and shuffle every epoch.

    Per epoch: ``negatives_per_positive * n_positive`` negatives are drawn uniformly *with
    replacement* from the pool (the thesis shuffles the pool and draws ``randint`` indexes,
    which is the same distribution), appended to all positives, the lot shuffled, and cut into
    consecutive batches of ``batch_size`` (the last one partial) - one pass per draw.

    Parameters
    ----------
    n_positive : int > 0
    n_pool : int > 0
    epochs : int > 0
    batch_size : int > 0
    negatives_per_positive : int > 0
    seed : int >= 0
        Same seed, same schedule.

    Returns
    -------
    Schedule
    """
    for name, value in (
        ("n_positive", n_positive),
        ("n_pool", n_pool),
        ("batch_size", batch_size),
        ("negatives_per_positive", negatives_per_positive),
    ):
        check_int(value, name, minimum=1)
    epochs = check_int(epochs, "epochs", minimum=1)
    rng = np.random.default_rng(check_int(seed, "seed"))
    n_neg = negatives_per_positive * n_positive
    per_epoch = n_positive + n_neg
    steps = -(-per_epoch // batch_size)
    rows = np.zeros((epochs, steps * batch_size), np.int32)
    positives = np.arange(n_positive, dtype=np.int32)
    for e in range(epochs):
        negatives = n_positive + rng.integers(0, n_pool, n_neg, dtype=np.int32)
        rows[e, :per_epoch] = rng.permutation(np.concatenate([positives, negatives]))
    mask = np.zeros((epochs, steps * batch_size), np.float32)
    mask[:, :per_epoch] = 1.0
    return Schedule(
        rows=rows.reshape(epochs * steps, batch_size),
        mask=mask.reshape(epochs * steps, batch_size),
        epoch=np.repeat(np.arange(epochs, dtype=np.int32), steps),
        n_positive=int(n_positive),
        n_pool=int(n_pool),
    )


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------
@dataclass
class Recommender:
    """A trained per-user recommender.

    Attributes
    ----------
    model : keras.Model
        The network with its trained weights.
    config : RecommenderConfig
    history : np.ndarray [shape=(epochs,)]
        Mean training loss of each epoch (batch losses weighted by batch size, as Keras'
        ``History`` reports it).
    schedule : Schedule
        The batches it was trained on.
    seed : int
    """

    model: Any
    config: RecommenderConfig
    history: np.ndarray
    schedule: Schedule
    seed: int
    _forward: Any = dataclasses.field(default=None, repr=False)

    def predict(self, X: Any, *, batch_size: int = 2048) -> np.ndarray:
        """Scores in (0, 1) of embeddings ``X`` [shape=(n, ...)] (dropout off), shape (n,)."""
        X = check_array(X, "embeddings")
        expected = tuple(self.model.input_shape[1:])
        if X.shape[1:] != expected:
            raise ParameterError(f"embeddings have shape {X.shape[1:]} per fragment, the model expects {expected}")
        if self._forward is None:
            self._forward = _make_forward(self.model)
        return self._forward(X, batch_size)

    def score_tracks(self, X: Any, track_ids: Sequence, **kw: Any) -> pd.Series:
        """Track scores: mean of each track's fragment scores (see :func:`track_scores`)."""
        return track_scores(self.predict(X, **kw), track_ids)


_FORWARDS: dict = {}


def _make_forward(model):
    """A dropout-free forward pass of ``model`` over padded batches (one compile per shape)."""
    import jax
    import jax.numpy as jnp

    key = (
        model.name,
        tuple(model.input_shape[1:]),
        tuple(layer.name for layer in model.layers),
        tuple(tuple(w.shape) for w in model.weights),
    )
    if key not in _FORWARDS:

        @jax.jit
        def fwd(tv, ntv, x):
            out, _ = model.stateless_call(tv, ntv, x, training=False)
            return out[:, 0]

        _FORWARDS[key] = fwd
    fwd = _FORWARDS[key]
    tv = [jnp.asarray(v.value) for v in model.trainable_variables]
    ntv = [jnp.asarray(v.value) for v in model.non_trainable_variables]

    def run(X: np.ndarray, batch_size: int) -> np.ndarray:
        n = len(X)
        bs = min(_pow2(batch_size), _pow2(max(n, 64)))
        out = np.empty(n, np.float32)
        for start in range(0, n, bs):
            chunk = X[start : start + bs]
            m = len(chunk)
            if m < bs:
                chunk = np.concatenate([chunk, np.zeros((bs - m,) + chunk.shape[1:], np.float32)])
            out[start : start + m] = np.asarray(fwd(tv, ntv, jnp.asarray(chunk)))[:m]
        return out

    return run


def _pow2(n: int) -> int:
    """Smallest power of two >= n."""
    return 1 << max(int(n) - 1, 0).bit_length()


#: Batches per compiled call of the training loop: a schedule runs in chunks of this many
#: batches and the remainder in power-of-two runs, so a few compiled loops serve every length.
CHUNK_STEPS = 256

_TRAINERS: dict = {}


def _trainer(model, cfg: RecommenderConfig):
    """The jitted ``lax.scan`` over a run of batches (compiled once per number of batches)."""
    import jax
    import jax.numpy as jnp
    import keras

    optimizer = _keras_optimizer(cfg)
    optimizer.build(model.trainable_variables)
    loss_obj = _keras_loss(cfg)
    per_sample = keras.losses.mean_squared_error if cfg.loss == "mse" else keras.losses.binary_crossentropy
    del loss_obj

    def batch_loss(tv, ntv, x, y, w):
        out, ntv = model.stateless_call(tv, ntv, x, training=True)
        losses = per_sample(y[:, None], out)  # (batch,), Keras' own per-sample loss
        return jnp.sum(losses * w) / jnp.maximum(jnp.sum(w), 1.0), ntv

    grad_fn = jax.value_and_grad(batch_loss, has_aux=True)

    def run(tv, ntv, ov, X, Y, rows, mask):
        def step(carry, inputs):
            tv, ntv, ov = carry
            r, w = inputs
            (loss, ntv), grads = grad_fn(tv, ntv, X[r], Y[r], w)
            tv, ov = optimizer.stateless_apply(ov, grads, tv)
            return (tv, ntv, ov), loss

        (tv, ntv, ov), losses = jax.lax.scan(step, (tv, ntv, ov), (rows, mask))
        return tv, ntv, ov, losses

    return optimizer, jax.jit(run)


def _table(
    positives: np.ndarray,
    pool: np.ndarray,
    cfg: RecommenderConfig,
    rows: int | None = None,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Positives then pool (float32) and their labels, zero rows after them up to ``rows`` (one
    allocation: the pool is the large part of a fit's memory).  ``labels`` (checked by
    :func:`_check_labels`) replace the config's 1 and ``negative_label``."""
    n_pos, n = len(positives), len(positives) + len(pool)
    rows = n if rows is None else rows
    X = np.zeros((rows,) + positives.shape[1:], np.float32)
    X[:n_pos], X[n_pos:n] = positives, pool
    Y = np.zeros(rows, np.float32)
    if labels is None:
        Y[:n_pos], Y[n_pos:n] = 1.0, cfg.negative_label
    else:
        Y[:n] = labels
    return X, Y


def _check_labels(labels: Any, n: int, cfg: RecommenderConfig) -> np.ndarray | None:
    """``labels`` as float32 of length ``n`` (positives then pool), finite, in [0, 1] under BCE."""
    if labels is None:
        return None
    Y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if len(Y) != n:
        raise ParameterError(f"labels: {len(Y)} values for {n} rows (positives then the negative pool)")
    if not np.all(np.isfinite(Y)):
        raise ParameterError("labels contain NaN or infinite values")
    if cfg.loss == "bce" and (Y.min() < 0.0 or Y.max() > 1.0):
        raise ParameterError(f"binary cross-entropy needs labels in [0, 1], not [{Y.min():g}, {Y.max():g}]")
    return Y.astype(np.float32)


def _check_pair(positives: Any, negatives: Any) -> tuple[np.ndarray, np.ndarray]:
    P = check_array(positives, "positives")
    N = check_array(negatives, "negative pool")
    if P.shape[1:] != N.shape[1:]:
        raise ParameterError(f"positives {P.shape[1:]} and negatives {N.shape[1:]} differ in feature shape")
    return P, N


def _prepare(positives, negatives, epochs, config, seed):
    """Validated inputs, the epoch schedule and the initial network: shared by fit and fit_reference."""
    cfg = get_config(config)
    seed = check_int(seed, "seed")
    epochs = check_int(epochs, "epochs", minimum=1)
    P, N = _check_pair(positives, negatives)
    schedule = training_schedule(
        n_positive=len(P),
        n_pool=len(N),
        epochs=epochs,
        batch_size=cfg.batch_size,
        negatives_per_positive=cfg.negatives_per_positive,
        seed=seed,
    )
    model = build_network(P.shape[1:], config=cfg, seed=seed)
    return cfg, seed, epochs, P, N, schedule, model


def fit(
    positives: Any,
    negatives: Any,
    *,
    epochs: int,
    mode: str | RecommenderConfig = "thesis",
    seed: int = 0,
    progress: bool = False,
    labels: Any = None,
) -> Recommender:
    """Train a user's recommender the way ``Recomendator.fit`` does, in one jitted loop.

    Parameters
    ----------
    positives : np.ndarray [shape=(n_pos, ...)]
        Preprocessor embeddings of the liked fragments (label 1, all used every epoch).
    negatives : np.ndarray [shape=(n_pool, ...)]
        Embeddings of the negative pool (``n_pos`` drawn with replacement every epoch).
    epochs : int > 0
        Number of draws, one pass each (20 in experiment 1, 500 in experiment 2).
    mode : str or RecommenderConfig
        The training: a :data:`CONFIGS` name (``"thesis"``, ``"corrected"``, ...) or a config.
    seed : int >= 0
        Seeds the initial weights, every draw and shuffle, and the dropout masks.
    progress : bool
        Print one line when done (the loop itself is a single compiled call).
    labels : np.ndarray [shape=(n_pos + n_pool,)], optional
        Soft targets of the positives then the pool, instead of 1 and the config's
        ``negative_label`` (in [0, 1] under binary cross-entropy): e.g.
        :func:`centroid_labels`, a network regularised towards the playlist's centroid.

    Returns
    -------
    Recommender

    Raises
    ------
    ParameterError
        on empty or non-finite input, mismatched feature shapes, bad epochs/seed.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> rec = fit(rng.normal(1, 1, (63, 32)), rng.normal(-1, 1, (500, 32)), epochs=20,
    ...           mode="corrected", seed=0)
    >>> rec.predict(rng.normal(1, 1, (4, 32))).shape
    (4,)
    """
    import jax.numpy as jnp

    cfg, seed, epochs, P, N, schedule, model = _prepare(positives, negatives, epochs, mode, seed)
    Y0 = _check_labels(labels, len(P) + len(N), cfg)
    X, Y = _table(P, N, cfg, rows=_pow2(max(len(P) + len(N), 64)), labels=Y0)
    n_steps = len(schedule.rows)
    # full chunks of CHUNK_STEPS batches, then the rest in power-of-two runs: at most
    # log2(CHUNK_STEPS) + 1 compiled lengths serve every schedule, and no step is padding
    runs = [CHUNK_STEPS] * (n_steps // CHUNK_STEPS)
    rest = n_steps % CHUNK_STEPS
    runs += [1 << b for b in range(rest.bit_length() - 1, -1, -1) if rest >> b & 1]

    key = (cfg, tuple(P.shape[1:]))
    if key not in _TRAINERS:
        # the traced function closes over a model of this shape: keep one per (config, shape)
        proto = build_network(P.shape[1:], config=cfg, seed=0)
        _TRAINERS[key] = (proto, *_trainer(proto, cfg))
    proto, optimizer, run = _TRAINERS[key]
    tv = [jnp.asarray(v.value) for v in model.trainable_variables]
    ntv = [jnp.asarray(v.value) for v in model.non_trainable_variables]
    ov = [jnp.asarray(v.value) for v in optimizer.variables]  # never mutated: the initial state
    Xd, Yd = jnp.asarray(X), jnp.asarray(Y)
    chunks, start = [], 0
    for length in runs:
        sl = slice(start, start + length)
        tv, ntv, ov, part = run(tv, ntv, ov, Xd, Yd, jnp.asarray(schedule.rows[sl]), jnp.asarray(schedule.mask[sl]))
        chunks.append(part)
        start += length
    losses = np.concatenate([np.asarray(c) for c in chunks])
    for var, value in zip(model.trainable_variables, tv):
        var.assign(value)
    for var, value in zip(model.non_trainable_variables, ntv):
        var.assign(value)
    losses = np.asarray(losses)[: len(schedule.rows)]
    n = schedule.mask.sum(axis=1)  # epoch loss = sample-weighted mean of batch losses, as Keras reports
    history = (
        pd.Series(losses * n).groupby(schedule.epoch).sum() / pd.Series(n).groupby(schedule.epoch).sum()
    ).to_numpy(np.float32)
    if progress:
        print(f"recommender ({cfg.name}): {epochs} epochs, {len(schedule.rows)} batches, final loss {history[-1]:.4f}")
    return Recommender(model=model, config=cfg, history=history, schedule=schedule, seed=seed)


def fit_reference(
    positives: Any,
    negatives: Any,
    *,
    epochs: int,
    mode: str | RecommenderConfig = "thesis",
    seed: int = 0,
) -> Recommender:
    """The naive loop of the thesis: one ``model.fit(..., epochs=1)`` call per draw.

    Same network, same initial weights, same :func:`training_schedule` as :func:`fit`; only the
    execution differs (one Keras ``fit`` call, with its per-call overhead, per epoch).  It is
    the reference :func:`fit` is tested and benchmarked against.  With ``dropout=0`` both give
    the same weights (up to float rounding); with dropout the masks differ.
    """
    cfg, seed, epochs, P, N, schedule, model = _prepare(positives, negatives, epochs, mode, seed)
    model.compile(loss=_keras_loss(cfg), optimizer=_keras_optimizer(cfg))
    X, Y = _table(P, N, cfg)
    history = []
    for e in range(epochs):
        r = schedule.epoch_rows(e)
        h = model.fit(X[r], Y[r], epochs=1, batch_size=cfg.batch_size, shuffle=False, verbose=0)
        history.append(h.history["loss"][-1])
    return Recommender(model=model, config=cfg, history=np.asarray(history, np.float32), schedule=schedule, seed=seed)


# --------------------------------------------------------------------------------------------
# Scores and ranking
# --------------------------------------------------------------------------------------------
def centroid_labels(is_positive: Any, centroid_rank: Any, weight: float) -> np.ndarray:
    """Soft targets that pull a network towards the playlist centroid's ranking.

    ``(1 - weight) * hard + weight * centroid_rank``, where ``hard`` is 1 for a positive and 0
    for a negative, and ``centroid_rank`` the row's track's rank under the centroid's cosine,
    scaled to ``(0, 1]`` (:func:`melrec_lib.recsys.scoring.rank_average` of one scorer).  A
    negative the centroid finds close to the playlist is then not pushed all the way to 0: the
    network learns the centroid's ordering where its data say nothing else (issue 23's
    "a network regularised towards the centroid"; notebook 08's ``-c<percent>`` methods).

    Parameters
    ----------
    is_positive : array of bool [shape=(n,)]
    centroid_rank : array of float in [0, 1] [shape=(n,)]
    weight : float in [0, 1]
        0: the hard labels of the corrected mode; 1: the centroid's ranks alone.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32]

    Examples
    --------
    >>> centroid_labels([True, False], [1.0, 0.5], 0.5).tolist()
    [1.0, 0.25]
    """
    pos = np.asarray(is_positive, dtype=bool).reshape(-1)
    r = np.asarray(centroid_rank, dtype=np.float64).reshape(-1)
    if len(pos) != len(r):
        raise ParameterError(f"{len(pos)} rows but {len(r)} centroid ranks")
    if not np.all(np.isfinite(r)) or (len(r) and (r.min() < 0.0 or r.max() > 1.0)):
        raise ParameterError("centroid ranks must be finite and in [0, 1]")
    if not (np.isfinite(weight) and 0.0 <= weight <= 1.0):
        raise ParameterError(f"centroid weight must lie in [0, 1], not {weight!r}")
    return ((1.0 - weight) * pos + weight * r).astype(np.float32)


def ensemble_seeds(seed: int, n: int) -> list[int]:
    """The seeds of ``n`` networks whose track scores are averaged: ``seed``, then ``seed * 1009 + i``.

    The first is ``seed`` itself, so an ensemble of one is the plain network of that seed.

    >>> ensemble_seeds(0, 3), ensemble_seeds(5, 2)
    ([0, 1, 2], [5, 5046])
    """
    seed = check_int(seed, "seed")
    return [seed if i == 0 else seed * 1009 + i for i in range(check_int(n, "networks", minimum=1))]


def track_scores(fragment_scores: Any, track_ids: Sequence) -> pd.Series:
    """A track's score = the mean of its fragments' scores (``getRecomendationValue``).

    Parameters
    ----------
    fragment_scores : np.ndarray [shape=(n,)]
    track_ids : sequence [length n]
        The track of each fragment.

    Returns
    -------
    pd.Series
        Indexed by track id (sorted), named ``"score"``.
    """
    s = np.asarray(fragment_scores, dtype=np.float64).reshape(-1)
    ids = np.asarray(track_ids)
    if len(ids) != len(s):
        raise ParameterError(f"{len(s)} fragment scores but {len(ids)} track ids")
    if len(s) == 0:
        raise ParameterError("no fragment scores to average")
    if not np.all(np.isfinite(s)):
        raise ParameterError("fragment scores contain NaN or infinite values")
    return pd.Series(s, name="score").groupby(ids, sort=True).mean().rename("score")
