"""Training and evaluation of the genre CNN (thesis 4.4), and the cached preprocessor embeddings.

The thesis trained its genre network on 1000 eight-second fragments of 9 genres "to accuracy
0.98" and reported no held-out figure.  Here the network is trained on random 8 s fragments of
the training artists' tracks, early-stopped on artist-disjoint validation tracks, and judged on
artist-disjoint test tracks: fragment accuracy, track accuracy (mean of the fragment
probabilities over a track's consecutive 8 s fragments, as the thesis scores tracks),
per-genre recall and the confusion matrix.

What the thesis' code says about training: the appendix (``recomendator.py``) only rebuilds the
first six layers and compiles them with ``optimizer='sgd'`` (plain SGD, Keras defaults: learning
rate 0.01, no momentum); the genre-training script itself is not in the appendix, so its
optimiser, batch size and epoch count are unknown (the recommender uses batch 16).  We default
to Adam (learning rate 1e-3, batch 32) with early stopping; ``optimizer="sgd"`` is available.

Entry points: :func:`train` (arrays in, model + history out), :func:`evaluate`,
:func:`train_default` (the whole recipe on a built corpus, saved under
``paths.models_dir()``), :func:`ensure_trained` (reuse a saved model only if its sidecar
records the same recipe), :func:`load_trained` and :func:`embeddings` (the preprocessor run
once per corpus, cached under ``paths.processed_dir()``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import models, paths
from .errors import DatasetError, ModelNotFoundError, ParameterError, check_int

DEFAULT_EPOCHS = 60
DEFAULT_PATIENCE = 10
DEFAULT_BATCH_SIZE = 32
# Random 8 s fragments drawn per training track.  The thesis used 1000 fragments in all.  Measured
# on the default corpus, corrected input, seed 0 (held-out fragment / track accuracy): 5 per
# track (~2,400 fragments) 0.757 / 0.809, 15 per track 0.889 / 0.932, 25 per track 0.917 / 0.981.
DEFAULT_PER_TRACK = 25
# Band/frame masking while training (mask_fragments).  With 25 per track, corrected input, over
# the artist splits of seeds 0, 1, 2: without 0.917 / 0.981, 0.864 / 0.926, 0.715 / 0.747; with
# 0.973 / 0.981, 0.879 / 0.957, 0.945 / 0.981.
DEFAULT_AUGMENT = True
SPLITS = ("train", "val", "test")


# --------------------------------------------------------------------------------------------
# labels and small helpers
# --------------------------------------------------------------------------------------------
def encode_labels(labels: Sequence[str], genres: Sequence[str]) -> np.ndarray:
    """Integer labels ``[shape=(n,)]`` of genre names, in the order of ``genres``.

    Raises
    ------
    ParameterError
        If a label is not one of ``genres`` (the message names it).
    """
    lookup = {g: i for i, g in enumerate(genres)}
    out = np.empty(len(labels), dtype=np.int64)
    for i, lab in enumerate(labels):
        if lab not in lookup:
            raise ParameterError(f"genre {lab!r} is not one of {tuple(genres)}")
        out[i] = lookup[lab]
    return out


def _one_hot(y: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[y]


def _check_labels(y: Any, n: int, n_genres: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ParameterError(f"{name} must be {n} integer labels, got shape {y.shape} dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_genres):
        raise ParameterError(f"{name} must lie in [0, {n_genres}), got [{y.min()}, {y.max()}]")
    return y.astype(np.int64)


def _check_positive_int(value: Any, name: str) -> int:
    return check_int(value, name, minimum=1)


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------
MASK_BANDS = 16  # SpecAugment-style masks (Park et al. 2019): at most this many mel bands ...
MASK_FRAMES = 8  # ... and this many 1/8 s frames per fragment, redrawn every epoch


def mask_fragments(X: np.ndarray, rng: np.random.Generator, *, max_bands: int = MASK_BANDS,
                   max_frames: int = MASK_FRAMES) -> np.ndarray:
    """A copy of ``X [shape=(n, 64, 128)]`` with one band and one time mask per fragment.

    Each fragment gets a run of 0..``max_bands`` adjacent mel bands (all frames) and a run of
    0..``max_frames`` adjacent frames (all bands) set to the fragment's own minimum (its
    silence level under either normalisation), at uniformly random positions.
    """
    X = np.array(X, dtype=np.float32, copy=True)
    n, t, m = X.shape
    fw = rng.integers(0, max_bands + 1, n)
    f0 = rng.integers(0, m - fw + 1)
    tw = rng.integers(0, max_frames + 1, n)
    t0 = rng.integers(0, t - tw + 1)
    bands, frames = np.arange(m), np.arange(t)
    fmask = (bands >= f0[:, None]) & (bands < (f0 + fw)[:, None])
    tmask = (frames >= t0[:, None]) & (frames < (t0 + tw)[:, None])
    floor = X.min(axis=(1, 2))
    return np.where(fmask[:, None, :] | tmask[:, :, None], floor[:, None, None], X)


def masked_batches(X: np.ndarray, Y: np.ndarray, batch_size: int, seed: int):
    """A ``keras.utils.PyDataset`` of shuffled, freshly masked batches (seeded per epoch and batch)."""
    import keras

    class _Masked(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.order = np.random.default_rng([seed, 0]).permutation(len(X))

        def __len__(self):
            return -(-len(X) // batch_size)

        def __getitem__(self, i):
            idx = np.sort(self.order[i * batch_size:(i + 1) * batch_size])
            return mask_fragments(X[idx], np.random.default_rng([seed, self.epoch, i])), Y[idx]

        def on_epoch_end(self):
            self.epoch += 1
            self.order = np.random.default_rng([seed, self.epoch]).permutation(len(X))

    return _Masked()


def train(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    *,
    n_genres: int = 9,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    patience: int = DEFAULT_PATIENCE,
    seed: int = 0,
    optimizer: str = "adam",
    learning_rate: float | None = None,
    init: str = "thesis",
    augment: bool = False,
    model=None,
    verbose: int = 0,
):
    """Train the genre CNN, early-stopped on the validation loss (best weights restored).

    Parameters
    ----------
    X_train : np.ndarray [shape=(n, 64, 128)]
        Training fragments (time x mel), finite.
    y_train : np.ndarray [shape=(n,)], int in [0, n_genres)
    X_val, y_val : optional validation fragments and labels (artist-disjoint in
        :func:`train_default`).  Without them there is no early stopping.
    n_genres : int >= 2
    epochs : int > 0
        Upper bound on epochs (early stopping usually ends sooner).
    batch_size : int > 0
    patience : int > 0
        Epochs without improvement of ``val_loss`` before stopping.
    seed : int >= 0
        Seeds Keras/JAX/numpy (``keras.utils.set_random_seed``), the initializers, dropout and
        shuffling: the same seed gives the same weights and history.
    optimizer, learning_rate, init : see :func:`melrec_lib.models.genre_cnn`.
    augment : bool
        Mask one random run of mel bands and one of frames in every training fragment, redrawn
        every epoch (:func:`mask_fragments`); validation data is never masked.
    model : keras.Model, optional
        A compiled model to train instead of a fresh ``genre_cnn``.
    verbose : int
        Keras' ``fit`` verbosity (0 quiet, 1 progress bar, 2 one line per epoch).

    Returns
    -------
    model : keras.Model
    history : pd.DataFrame
        One row per epoch run (``epoch`` 1-based, ``loss``, ``accuracy``, ``val_loss``,
        ``val_accuracy``); ``history.attrs["best_epoch"]`` is the restored epoch.
    """
    import keras

    X_train = models.validate_fragments(X_train, name="X_train")
    n_genres = int(n_genres)
    y_train = _check_labels(y_train, len(X_train), n_genres, "y_train")
    epochs = _check_positive_int(epochs, "epochs")
    batch_size = _check_positive_int(batch_size, "batch_size")
    patience = _check_positive_int(patience, "patience")
    has_val = X_val is not None
    if has_val:
        X_val = models.validate_fragments(X_val, name="X_val")
        y_val = _check_labels(y_val, len(X_val), n_genres, "y_val")
    keras.utils.set_random_seed(int(seed))
    if model is None:
        model = models.genre_cnn(n_genres, seed=int(seed), init=init, optimizer=optimizer,
                                 learning_rate=learning_rate)
    callbacks = []
    if has_val:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True))
    val = (X_val, _one_hot(y_val, n_genres)) if has_val else None
    if augment:
        data = masked_batches(X_train, _one_hot(y_train, n_genres), batch_size, int(seed))
        hist = model.fit(data, validation_data=val, epochs=epochs, callbacks=callbacks, verbose=verbose)
    else:
        hist = model.fit(X_train, _one_hot(y_train, n_genres), validation_data=val, epochs=epochs,
                         batch_size=batch_size, shuffle=True, callbacks=callbacks, verbose=verbose)
    history = pd.DataFrame(hist.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    if has_val:
        history.attrs["best_epoch"] = int(history["epoch"][history["val_loss"].idxmin()])
    else:
        history.attrs["best_epoch"] = int(len(history))
    return model, history


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------
@dataclass
class GenreEvaluation:
    """Held-out results of a genre classifier.

    Attributes
    ----------
    fragment_accuracy : float in [0, 1]
        Share of fragments whose most probable genre is right.
    track_accuracy : float in [0, 1]
        Share of tracks whose mean fragment probability picks the right genre.
    recall : pd.DataFrame
        Index genre; columns ``fragment_recall``, ``track_recall``, ``n_fragments``,
        ``n_tracks``.
    confusion : pd.DataFrame
        Track-level confusion matrix (rows true genre, columns predicted), counts.
    fragment_confusion : pd.DataFrame
        The same over fragments.
    tracks : pd.DataFrame
        One row per track: ``track_id, genre, predicted, p_true`` (mean probability of the
        true genre), ``n_fragments``.
    """

    fragment_accuracy: float
    track_accuracy: float
    recall: pd.DataFrame
    confusion: pd.DataFrame
    fragment_confusion: pd.DataFrame
    tracks: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (used in the model's sidecar)."""
        return {
            "fragment_accuracy": float(self.fragment_accuracy),
            "track_accuracy": float(self.track_accuracy),
            "recall": {g: {k: float(v) for k, v in row.items()} for g, row in self.recall.iterrows()},
            "confusion": self.confusion.astype(int).values.tolist(),
            "fragment_confusion": self.fragment_confusion.astype(int).values.tolist(),
        }


def predict_proba(model, X: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Genre probabilities ``[shape=(n, n_genres)]`` of fragments (inference mode)."""
    X = models.validate_fragments(X)
    return np.asarray(model.predict(X, batch_size=batch_size, verbose=0))


def track_probabilities(proba: np.ndarray, track_ids: Sequence) -> pd.DataFrame:
    """Mean fragment probability per track (the thesis' track score is a mean over fragments).

    Returns a DataFrame indexed by track id (in first-appearance order), one column per class.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or len(track_ids) != len(proba):
        raise ParameterError(f"need one track id per row of proba {proba.shape}, got {len(track_ids)}")
    df = pd.DataFrame(proba)
    df["track_id"] = np.asarray(track_ids)
    return df.groupby("track_id", sort=False).mean()


def evaluate(
    proba: np.ndarray,
    y: np.ndarray,
    track_ids: Sequence,
    genres: Sequence[str],
    *,
    track_proba: np.ndarray | None = None,
    track_proba_ids: Sequence | None = None,
) -> GenreEvaluation:
    """Fragment accuracy, track accuracy, per-genre recall and confusion matrices.

    Parameters
    ----------
    proba : np.ndarray [shape=(n, n_genres)]
        Fragment probabilities (e.g. of the random genre fragments of held-out tracks).
    y : np.ndarray [shape=(n,)], int
        True labels of those fragments.
    track_ids : sequence of length n
        The track of each fragment.
    genres : sequence of str
        Class names in label order.
    track_proba, track_proba_ids : optional
        Fragment probabilities used for the *track* decision (e.g. of every consecutive 8 s
        fragment of each track, as the thesis scores tracks) and their track ids; by default
        ``proba`` / ``track_ids``.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, recall_score

    genres = list(genres)
    labels = np.arange(len(genres))
    proba = np.asarray(proba)
    y = _check_labels(y, len(proba), len(genres), "y")
    if len(proba) == 0:
        raise ParameterError("cannot evaluate on zero fragments")
    pred = proba.argmax(axis=1)
    truth = pd.Series(y, index=pd.Index(np.asarray(track_ids))).groupby(level=0).first()
    if track_proba is None:
        track_proba, track_proba_ids = proba, track_ids
    tp = track_probabilities(track_proba, track_proba_ids)
    missing = set(tp.index) - set(truth.index)
    if missing:
        raise ParameterError(f"track_proba has tracks without labels: {sorted(missing)[:5]}")
    t_true = truth.loc[tp.index].to_numpy()
    t_prob = tp.to_numpy()
    t_pred = t_prob.argmax(axis=1)
    frag_rec = recall_score(y, pred, labels=labels, average=None, zero_division=0)
    track_rec = recall_score(t_true, t_pred, labels=labels, average=None, zero_division=0)
    recall = pd.DataFrame({
        "fragment_recall": frag_rec,
        "track_recall": track_rec,
        "n_fragments": np.bincount(y, minlength=len(genres)),
        "n_tracks": np.bincount(t_true, minlength=len(genres)),
    }, index=pd.Index(genres, name="genre"))
    cm = pd.DataFrame(confusion_matrix(t_true, t_pred, labels=labels),
                      index=pd.Index(genres, name="true"), columns=pd.Index(genres, name="predicted"))
    fcm = pd.DataFrame(confusion_matrix(y, pred, labels=labels),
                       index=pd.Index(genres, name="true"), columns=pd.Index(genres, name="predicted"))
    tracks = pd.DataFrame({
        "track_id": tp.index,
        "genre": [genres[i] for i in t_true],
        "predicted": [genres[i] for i in t_pred],
        "p_true": t_prob[np.arange(len(t_true)), t_true],
        "n_fragments": pd.Series(np.asarray(track_proba_ids)).value_counts().loc[tp.index].to_numpy(),
    })
    return GenreEvaluation(
        fragment_accuracy=float(accuracy_score(y, pred)),
        track_accuracy=float(accuracy_score(t_true, t_pred)),
        recall=recall, confusion=cm, fragment_confusion=fcm, tracks=tracks,
    )


# --------------------------------------------------------------------------------------------
# the whole recipe on a corpus
# --------------------------------------------------------------------------------------------
@dataclass
class TrainedGenreModel:
    """A trained genre CNN with what is needed to use it.

    Attributes
    ----------
    model : keras.Model
    config : SpectrogramConfig
        The spectrogram configuration its inputs must be made with.
    genres : tuple of str
        Class names in label order (the softmax' columns).
    path : Path or None
        The ``.keras`` file (None for an unsaved model).
    metrics : dict
        The JSON sidecar's contents (held-out metrics, history, split, settings).
    """

    model: Any
    config: Any
    genres: tuple[str, ...]
    path: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def config_name(self) -> str:
        return str(getattr(self.config, "name", self.config))

    def split(self, manifest: pd.DataFrame) -> pd.Series:
        """The train/val/test split the model was trained with (re-derived from its seed)."""
        from . import features

        return features.artist_split(manifest, seed=int(self.metrics.get("split_seed", 0)))

    def history(self) -> pd.DataFrame:
        """Training history (one row per epoch) from the sidecar."""
        return pd.DataFrame(self.metrics.get("history", {}))

    def evaluation_tables(self) -> dict[str, pd.DataFrame]:
        """The held-out ``recall`` and ``confusion`` tables from the sidecar as DataFrames."""
        test = self.metrics["test"]
        g = list(self.genres)
        return {
            "recall": pd.DataFrame(test["recall"]).T.loc[g].rename_axis("genre"),
            "confusion": pd.DataFrame(test["confusion"], index=pd.Index(g, name="true"),
                                      columns=pd.Index(g, name="predicted")),
            "fragment_confusion": pd.DataFrame(test["fragment_confusion"], index=pd.Index(g, name="true"),
                                               columns=pd.Index(g, name="predicted")),
        }


def _config_name(config: Any) -> str:
    if isinstance(config, str):
        return config
    name = getattr(config, "name", None)
    if not name:
        raise ParameterError(f"config must be a preset name or a named SpectrogramConfig, got {config!r}")
    return str(name)


def model_path(config: Any = "thesis", corpus_size: str = "default") -> Path:
    """``paths.models_dir()/genre-cnn-{config}-{corpus_size}.keras`` (the sidecar: ``.json``)."""
    return paths.models_dir() / f"genre-cnn-{_config_name(config)}-{corpus_size}.keras"


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _config_fields(cfg: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(cfg):
        return {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                for k, v in dataclasses.asdict(cfg).items()}
    return {"repr": repr(cfg)}


def _corpus_cache_name(corpus_size: str) -> str:
    """The fragment-cache name of a synthetic corpus: its folder name under ``raw/``."""
    from . import corpus

    return Path(corpus.corpus_root(corpus_size)).name


def train_default(
    corpus_size: str = "default",
    config: Any = "thesis",
    epochs: int | None = None,
    seed: int = 0,
    *,
    per_track: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    patience: int = DEFAULT_PATIENCE,
    optimizer: str = "adam",
    init: str | None = None,
    augment: bool | None = None,
    verbose: int | None = None,
    progress: bool = True,
) -> Path:
    """Train the genre CNN on a built corpus and save it with a JSON sidecar; returns the path.

    Recipe: ``corpus.load_manifest(corpus_size)`` -> artist-disjoint ``features.artist_split``
    (60/20/20, seeded by ``seed``) -> random 8 s genre fragments of every track
    (``features.genre_fragments``; ``per_track`` per track, :data:`DEFAULT_PER_TRACK` = 25 by
    default: about 12,000 training fragments on the default corpus, where the thesis had 1000 in
    all; 5 per track left the held-out accuracy well short, see the constant) -> :func:`train` on the train
    split, early-stopped on the validation split -> :func:`evaluate` on the test split
    (fragment accuracy on its random fragments; track accuracy from every consecutive 8 s
    fragment, ``features.scoring_fragments``) -> ``models.save`` to :func:`model_path` plus the
    ``.json`` sidecar (config fields and key, genres in label order, split seed, settings,
    history, validation and test metrics).

    Parameters
    ----------
    corpus_size : str
        A ``corpus.SIZES`` name ("default", "smoke").
    config : str or SpectrogramConfig
        Spectrogram preset ("thesis" or "corrected") or a named config.
    epochs : int > 0, optional
        Upper bound of epochs (default 60, early stopping after 10 without progress).
    seed : int >= 0
        Seeds the split, the fragment offsets and the training.
    per_track : int > 0, optional
        Random fragments per track (default :data:`DEFAULT_PER_TRACK`).
    augment : bool, optional
        Band/frame masking of the training fragments (default :data:`DEFAULT_AUGMENT`, on).
    init : {"thesis", "glorot"}, optional
        Convolution-kernel initialisation (see ``models.genre_cnn``).  Default: ``"glorot"``
        for inputs with the thesis' normalisation, ``"thesis"`` otherwise.  Measured on the
        default corpus (seed 0, 5 fragments per track, no masking; held-out fragment / track
        accuracy): thesis input + thesis init
        never leaves the uniform output (loss ln 9 = 2.197 for 19 epochs: 0.111 / 0.111),
        thesis input + glorot 0.543 / 0.630; corrected input + thesis init 0.757 / 0.809,
        corrected + glorot 0.678 / 0.753.  The thesis' [-1, 1] input sits mostly at -1 (mean
        -0.91, std 0.16), so with the thesis' tiny kernels the signal after the first block is
        a near-constant offset the ReLUs and dropout drown.
    verbose : int, optional
        Keras verbosity; default 2 (a line per epoch) when ``progress`` else 0.
    """
    from . import corpus, features, spectrogram

    cfg = spectrogram.get_config(config)
    name = _config_name(cfg if not isinstance(config, str) else config)
    manifest = corpus.load_manifest(corpus_size)
    recipe = _recipe(manifest, corpus_size, cfg, epochs=epochs, seed=seed, per_track=per_track,
                     batch_size=batch_size, patience=patience, optimizer=optimizer, init=init,
                     augment=augment)
    epochs, k, init = recipe["max_epochs"], recipe["per_track"], recipe["init"]
    verbose = (2 if progress else 0) if verbose is None else int(verbose)
    cache_name = _corpus_cache_name(corpus_size)
    genres = tuple(g for g in corpus.GENRES if g in set(manifest["genre"]))
    if len(genres) < 2:
        raise DatasetError(f"corpus {corpus_size!r} has fewer than 2 genres: {genres}")
    split = features.artist_split(manifest, seed=seed).reindex(manifest.index)
    ids = {w: manifest["track_id"].astype(str)[(split == w).to_numpy()].tolist() for w in SPLITS}
    frags = features.genre_fragments(manifest, cfg, per_track=k, seed=seed, corpus=cache_name,
                                     progress=progress)
    present = set(frags.index["track_id"].astype(str))
    data = {}
    for which in SPLITS:
        tracks = [t for t in ids[which] if t in present]
        if not tracks:
            raise DatasetError(f"corpus {corpus_size!r}: the {which} split has no fragments")
        part = frags.select(tracks)
        y = encode_labels(part.labels(manifest, "genre"), genres)
        data[which] = (np.asarray(part.X), y, part.index)
    model, history = train(
        data["train"][0], data["train"][1], data["val"][0], data["val"][1],
        n_genres=len(genres), epochs=epochs, batch_size=batch_size, patience=patience,
        seed=seed, optimizer=optimizer, init=init, augment=recipe["augment"], verbose=verbose,
    )
    results = {}
    test_manifest = manifest[(split == "test").to_numpy()]
    scoring = features.scoring_fragments(test_manifest, cfg, corpus=cache_name, progress=progress)
    for which in ("val", "test"):
        X, y, idx = data[which]
        kwargs = {}
        if which == "test":
            kwargs = {"track_proba": predict_proba(model, scoring.X),
                      "track_proba_ids": scoring.index["track_id"].to_numpy()}
        results[which] = evaluate(predict_proba(model, X), y, idx["track_id"].to_numpy(), genres, **kwargs)
    path = models.save(model, model_path(name, corpus_size))
    sidecar = {
        "config": name,
        "config_key": cfg.key() if hasattr(cfg, "key") else None,
        "config_fields": _config_fields(cfg),
        "corpus_size": corpus_size,
        "genres": list(genres),
        "seed": int(seed),
        "split_seed": int(seed),
        "split_fractions": [0.6, 0.2, 0.2],
        "corpus_cache": cache_name,
        "n_tracks": {w: len(ids[w]) for w in SPLITS},
        "n_fragments": {w: int(len(data[w][0])) for w in SPLITS},
        "n_test_scoring_fragments": int(len(scoring.X)),
        "per_track": int(k),
        "recipe": recipe,
        "settings": {"optimizer": optimizer, "init": init, "augment": recipe["augment"],
                     "batch_size": int(batch_size),
                     "max_epochs": int(epochs), "patience": int(patience)},
        "epochs_run": int(len(history)),
        "best_epoch": int(history.attrs["best_epoch"]),
        "history": {c: history[c].astype(float).tolist() for c in history.columns},
        "val": results["val"].to_dict(),
        "test": results["test"].to_dict(),
        "fragment_accuracy": results["test"].fragment_accuracy,
        "track_accuracy": results["test"].track_accuracy,
    }
    _sidecar(path).write_text(json.dumps(sidecar, indent=1), encoding="utf-8")
    return path


def _corpus_fingerprint(manifest: pd.DataFrame) -> str:
    """A hash of which tracks a corpus holds (ids, genres, artists and, if listed, spec hashes)."""
    cols = [c for c in ("track_id", "genre", "artist", "spec_hash") if c in manifest.columns]
    table = manifest[cols].astype(str).sort_values(cols[0])
    return _hash_bytes(table.to_csv(index=False).encode("utf-8"))


def _recipe(manifest: pd.DataFrame, corpus_size: str, cfg: Any, *, epochs: int | None, seed: int,
            per_track: int | None, batch_size: int, patience: int, optimizer: str,
            init: str | None, augment: bool | None = None) -> dict[str, Any]:
    """Everything that decides a trained model, defaults resolved (stored in the sidecar)."""
    if init is None:
        init = "glorot" if getattr(cfg, "normalization", None) == "thesis" else "thesis"
    return {
        "corpus_size": str(corpus_size),
        "corpus_fingerprint": _corpus_fingerprint(manifest),
        "config_key": cfg.key() if hasattr(cfg, "key") else repr(cfg),
        "seed": check_int(seed, "seed", minimum=0),
        "per_track": DEFAULT_PER_TRACK if per_track is None else _check_positive_int(per_track, "per_track"),
        "max_epochs": DEFAULT_EPOCHS if epochs is None else _check_positive_int(epochs, "epochs"),
        "patience": _check_positive_int(patience, "patience"),
        "batch_size": _check_positive_int(batch_size, "batch_size"),
        "optimizer": str(optimizer),
        "init": str(init),
        "augment": DEFAULT_AUGMENT if augment is None else bool(augment),
    }


def stale_reasons(config: Any = "thesis", corpus_size: str = "default", *, epochs: int | None = None,
                  seed: int = 0, per_track: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                  patience: int = DEFAULT_PATIENCE, optimizer: str = "adam",
                  init: str | None = None, augment: bool | None = None) -> list[str]:
    """Why the saved model for ``config``/``corpus_size`` is not what these settings would train.

    Empty if the saved model's sidecar records exactly this recipe (same corpus tracks,
    spectrogram configuration, seed, fragments per track, epochs, batch, patience, optimiser,
    initialisation and augmentation); otherwise one line per difference, or a line saying why it cannot be
    compared (no model, no sidecar, a sidecar from before recipes were recorded).
    """
    from . import corpus, spectrogram

    cfg = spectrogram.get_config(config)
    path = model_path(_config_name(cfg if not isinstance(config, str) else config), corpus_size)
    wanted = _recipe(corpus.load_manifest(corpus_size), corpus_size, cfg, epochs=epochs, seed=seed,
                     per_track=per_track, batch_size=batch_size, patience=patience,
                     optimizer=optimizer, init=init, augment=augment)
    if not path.is_file():
        return [f"no saved model at {path}"]
    if not _sidecar(path).is_file():
        return [f"no sidecar {_sidecar(path).name} beside the saved model"]
    saved = json.loads(_sidecar(path).read_text(encoding="utf-8")).get("recipe")
    if not isinstance(saved, dict):
        return ["the saved model's sidecar records no recipe (trained by an older melrec)"]
    return [f"{k}: saved {saved.get(k)!r}, wanted {v!r}" for k, v in wanted.items() if saved.get(k) != v]


def ensure_trained(corpus_size: str = "default", config: Any = "thesis", epochs: int | None = None,
                   seed: int = 0, *, per_track: int | None = None, retrain: bool = False,
                   progress: bool = True, **train_kwargs: Any) -> TrainedGenreModel:
    """The saved genre CNN if it was trained with exactly these settings, else train it now.

    Notebook 03 and reruns with other parameters go through here, so a model saved with
    another seed, fragment count or epoch limit (or on a rebuilt corpus) is never silently
    reused.  ``retrain=True`` trains whatever is saved.  Other keyword arguments go to
    :func:`train_default`; all but ``verbose`` take part in the comparison.
    """
    settings = {k: v for k, v in train_kwargs.items() if k != "verbose"}  # all but verbosity decide the model
    reasons = ["retrain requested"] if retrain else stale_reasons(
        config, corpus_size, epochs=epochs, seed=seed, per_track=per_track, **settings)
    if reasons:
        if progress:
            print(f"training genre CNN ({_config_name(config)}, {corpus_size}): " + "; ".join(reasons))
        train_default(corpus_size, config, epochs, seed, per_track=per_track, progress=progress, **train_kwargs)
    elif progress:
        print(f"reusing {model_path(_config_name(config), corpus_size)} (trained with these settings)")
    return load_trained(config, corpus_size)


def load_trained(config: Any = "thesis", corpus_size: str = "default") -> TrainedGenreModel:
    """The genre CNN saved by :func:`train_default` for ``config`` and ``corpus_size``.

    Raises
    ------
    ModelNotFoundError
        If it has not been trained; the message names the command that trains it.
    """
    name = _config_name(config)
    path = model_path(name, corpus_size)
    if not path.is_file():
        how = f"run `melrec train --corpus {corpus_size} --config {name}` or notebook 03"
        raise ModelNotFoundError(f"no trained genre CNN for config {name!r} on corpus {corpus_size!r} "
                                 f"at {path}: {how}")
    meta: dict[str, Any] = {}
    if _sidecar(path).is_file():
        meta = json.loads(_sidecar(path).read_text(encoding="utf-8"))
    from . import spectrogram

    cfg = spectrogram.get_config(config if not isinstance(config, str) else name)
    model = models.load(path)
    genres = tuple(meta.get("genres", ()))
    if not genres:
        from . import corpus

        genres = tuple(corpus.GENRES[: model.output.shape[-1]])
    return TrainedGenreModel(model=model, config=cfg, genres=genres, path=path, metrics=meta)


# --------------------------------------------------------------------------------------------
# embeddings (the frozen preprocessor, run once per corpus)
# --------------------------------------------------------------------------------------------
_PREPROCESSORS: dict[tuple[str, str], Any] = {}


def _hash_bytes(*chunks: bytes) -> str:
    h = hashlib.blake2b(digest_size=10)
    for c in chunks:
        h.update(c)
    return h.hexdigest()


def _model_key(trained: TrainedGenreModel) -> str:
    if trained.path is not None and Path(trained.path).is_file():
        return _hash_bytes(Path(trained.path).read_bytes())
    return _hash_bytes(*(np.ascontiguousarray(w).tobytes() for w in trained.model.get_weights()))


def get_preprocessor(trained: TrainedGenreModel, cut: str = "pool2"):
    """The frozen preprocessor of a trained model at ``cut`` (memoised per model file and cut)."""
    if cut not in models.CUTS:
        raise ParameterError(f"cut must be one of {models.CUTS}, got {cut!r}")
    key = (_model_key(trained), cut)
    if key not in _PREPROCESSORS:
        _PREPROCESSORS[key] = models.preprocessor(trained.model, cut)
    return _PREPROCESSORS[key]


def embeddings(
    fragments: Any,
    trained: TrainedGenreModel,
    cut: str = "pool2",
    *,
    batch_size: int = 256,
    cache: bool = True,
    progress: bool = True,
) -> np.ndarray:
    """Features of fragments from the frozen preprocessor, cached on disk.

    Parameters
    ----------
    fragments : features.Fragments or np.ndarray [shape=(n, 64, 128)]
        Fragments made with ``trained.config``.
    trained : TrainedGenreModel
        From :func:`load_trained` (or built in memory).
    cut : {"pool1", "pool2", "dense1024", "dense128"}
        Where the network is cut (``"pool2"``: the thesis' preprocessor, 1792 features).
    batch_size : int > 0
    cache : bool
        Read/write ``processed_dir()/embeddings/<model>-<cut>-<key>.npy``, keyed by the
        model file's content hash, the cut and the fragments' content hash.
    progress : bool
        A tqdm bar over batches.

    Returns
    -------
    np.ndarray [shape=(n, models.CUT_SIZES[cut]), dtype=float32]
    """
    from tqdm.auto import tqdm

    X = fragments.X if hasattr(fragments, "X") else fragments
    X = models.validate_fragments(X)
    batch_size = _check_positive_int(batch_size, "batch_size")
    if cut not in models.CUTS:
        raise ParameterError(f"cut must be one of {models.CUTS}, got {cut!r}")
    model_key = _model_key(trained)
    out_path = None
    if cache:
        key = _hash_bytes(model_key.encode(), cut.encode(), str(X.shape).encode(), X.tobytes())
        stem = Path(trained.path).stem if trained.path else "model"
        out_path = paths.processed_dir() / "embeddings" / f"{stem}-{cut}-{key}.npy"
        if out_path.is_file():
            E = np.load(out_path)
            if E.shape == (len(X), models.CUT_SIZES[cut]):
                return E
    pre = get_preprocessor(trained, cut)
    out = np.empty((len(X), models.CUT_SIZES[cut]), dtype=np.float32)
    starts = range(0, len(X), batch_size)
    for s in tqdm(starts, total=len(starts), desc=f"embeddings ({cut})", unit="batch",
                  disable=not progress, leave=False):
        batch = X[s:s + batch_size]
        n = len(batch)
        if n < batch_size and len(X) > batch_size:  # pad: one compiled shape for every batch
            batch = np.concatenate([batch, np.zeros((batch_size - n, *batch.shape[1:]), batch.dtype)])
        out[s:s + n] = np.asarray(pre.predict_on_batch(batch))[:n]
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_path.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, out)
        os.replace(tmp, out_path)
    return out


# --------------------------------------------------------------------------------------------
# the truncation study (notebook 04)
# --------------------------------------------------------------------------------------------
def time_per_fragment(trained: TrainedGenreModel, cut: str, X: np.ndarray, *, batch_size: int = 256,
                      repeats: int = 5) -> float:
    """Median seconds per fragment of the preprocessor at ``cut`` (one batch, compiled first)."""
    import time

    pre = get_preprocessor(trained, cut)
    batch = models.validate_fragments(X[:batch_size])
    pre.predict_on_batch(batch)  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.asarray(pre.predict_on_batch(batch))
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) / len(batch)


def probe_scores(
    E: np.ndarray,
    labels: Sequence,
    train_mask: np.ndarray,
    *,
    n_neighbors: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """How well features separate classes on held-out rows: k-NN and a linear probe.

    Both are fitted on ``E[train_mask]`` (standardised with the training rows' mean and
    deviation) and scored on the other rows.  k-NN: ``KNeighborsClassifier(n_neighbors)``,
    Euclidean; linear probe: multinomial ``LogisticRegression`` (L2, C=1).

    Returns ``{"knn_accuracy", "linear_accuracy", "chance"}`` (chance: the majority class'
    share among the held-out rows).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    E = np.asarray(E, dtype=np.float32)
    labels = np.asarray(labels)
    train_mask = np.asarray(train_mask, dtype=bool)
    if E.ndim != 2 or len(E) != len(labels) or len(train_mask) != len(E):
        raise ParameterError(f"E {E.shape}, labels ({len(labels)}) and train_mask ({len(train_mask)}) disagree")
    test_mask = ~train_mask
    if train_mask.sum() < n_neighbors or test_mask.sum() == 0:
        raise ParameterError(f"need >= {n_neighbors} training rows and >= 1 held-out row, got "
                             f"{int(train_mask.sum())} and {int(test_mask.sum())}")
    if len(set(labels[train_mask])) < 2:
        raise ParameterError("the training rows hold fewer than 2 classes")
    Xtr, ytr, Xte, yte = E[train_mask], labels[train_mask], E[test_mask], labels[test_mask]
    knn = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=n_neighbors)).fit(Xtr, ytr)
    lin = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, random_state=seed)).fit(Xtr, ytr)
    _, counts = np.unique(yte, return_counts=True)
    return {
        "knn_accuracy": float(np.mean(knn.predict(Xte) == yte)),
        "linear_accuracy": float(np.mean(lin.predict(Xte) == yte)),
        "chance": float(counts.max() / counts.sum()),
    }


def compare_cuts(
    fragments: Any,
    trained: TrainedGenreModel,
    manifest: pd.DataFrame,
    *,
    cuts: Sequence[str] = models.CUTS,
    split: pd.Series | None = None,
    targets: Sequence[str] = ("genre", "substyle"),
    n_neighbors: int = 5,
    seed: int = 0,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Compare preprocessor cuts: feature size, time per fragment, class separation.

    Every fragment is embedded once per cut (:func:`embeddings`, cached).  Probes
    (:func:`probe_scores`) are fitted on the fragments of the model's training and validation
    artists and scored on its test artists (``trained.split(manifest)`` unless ``split`` is
    given), so a cut is judged on artists neither the CNN nor the probe has seen.

    Returns
    -------
    table : pd.DataFrame
        Index cut; columns ``features``, ``ms_per_fragment`` and, per target ``t``,
        ``{t}_knn_accuracy``, ``{t}_linear_accuracy``, ``{t}_chance``.
    embedded : dict cut -> np.ndarray [shape=(n, features)]
    """
    X = fragments.X if hasattr(fragments, "X") else fragments
    ids = fragments.index["track_id"].astype(str).to_numpy()
    split = trained.split(manifest) if split is None else split
    split_of = pd.Series(np.asarray(split), index=manifest["track_id"].astype(str).to_numpy())
    frag_split = split_of.reindex(ids).to_numpy()
    if pd.isna(frag_split).any():
        raise DatasetError("some fragments' tracks are not in the manifest/split")
    train_mask = frag_split != "test"
    rows, embedded = [], {}
    for cut in cuts:
        E = embeddings(fragments, trained, cut, progress=progress)
        embedded[cut] = E
        row = {"cut": cut, "features": E.shape[1],
               "ms_per_fragment": 1000 * time_per_fragment(trained, cut, np.asarray(X[:256]))}
        for t in targets:
            labels = fragments.labels(manifest, t)
            for k, v in probe_scores(E, labels, train_mask, n_neighbors=n_neighbors, seed=seed).items():
                row[f"{t}_{k}"] = v
        rows.append(row)
    return pd.DataFrame(rows).set_index("cut"), embedded


def choose_cut(table: pd.DataFrame, *, max_features: int = 2048) -> str:
    """The cut a per-user recommender should use, read off a :func:`compare_cuts` table.

    Rule: among cuts with at most ``max_features`` features (the recommender's first dense
    layer grows with its input, and it is fitted on a few dozen tracks per user), the one
    with the best mean of the sub-style k-NN and linear-probe accuracies (the within-genre
    distinctions a listener's taste lives in; genre alone is too coarse); ties go to the
    smaller cut.  Raises ParameterError if no cut is small enough or the columns are missing.
    """
    need = {"features", "substyle_knn_accuracy", "substyle_linear_accuracy"}
    if not need <= set(table.columns):
        raise ParameterError(f"the table lacks columns {sorted(need - set(table.columns))}")
    small = table[table["features"] <= check_int(max_features, "max_features", minimum=1)]
    if small.empty:
        raise ParameterError(f"no cut has <= {max_features} features: {table['features'].to_dict()}")
    score = small[["substyle_knn_accuracy", "substyle_linear_accuracy"]].mean(axis=1)
    order = pd.DataFrame({"score": -score.round(6), "features": small["features"]})
    return str(order.sort_values(["score", "features"], kind="stable").index[0])


PROJECTIONS = ("pca", "tsne")


def project_2d(E: np.ndarray, *, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Standardised features projected to 2-D ``[shape=(n, 2)]`` (sklearn).

    ``method="pca"``: principal components (linear, fast, shows the main axes of variation);
    ``"tsne"``: t-SNE (perplexity min(30, (n - 1) / 3), PCA initialisation, seeded), which
    shows neighbourhoods -- what a similarity-based recommender sees -- but distorts distances
    between clusters; seconds per thousand fragments.
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    if method not in PROJECTIONS:
        raise ParameterError(f"method must be one of {PROJECTIONS}, got {method!r}")
    E = np.asarray(E, dtype=np.float32)
    if E.ndim != 2 or len(E) < 3 or not np.isfinite(E).all():
        raise ParameterError(f"need a finite (n >= 3, features) array, got shape {E.shape}")
    Z = StandardScaler().fit_transform(E)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(Z)
    from sklearn.manifold import TSNE

    Z = PCA(n_components=min(50, *Z.shape), random_state=seed).fit_transform(Z)
    return TSNE(n_components=2, perplexity=min(30.0, (len(Z) - 1) / 3), init="pca",
                random_state=seed).fit_transform(Z)
