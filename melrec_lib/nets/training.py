"""Training and judging the genre CNN (thesis 4.4): masking, the training loop, classifier metrics.

The thesis trained its genre network on 1000 eight-second fragments of 9 genres "to accuracy
0.98" and reported no held-out figure.  Here the network is trained on random 8 s fragments of
the training artists' tracks, early-stopped on artist-disjoint validation tracks, and judged on
artist-disjoint test tracks: fragment accuracy, track accuracy (mean of the fragment
probabilities over a track's consecutive 8 s fragments, as the thesis scores tracks),
per-genre recall and the confusion matrix.

What the thesis' code says about training: the appendix (``recomendator.py``) only rebuilds the
first six layers and compiles them with ``optimizer='sgd'`` (plain SGD, Keras defaults: learning
rate 0.01, no momentum); the genre-training script itself is not in the appendix, so its
optimiser, batch size and epoch count are unknown (the recommender uses batch 16).  The
repository's recipe (:class:`melrec_lib.nets.recipe.GenreRecipe`) defaults to Adam (learning rate
1e-3, batch 32) with early stopping; ``optimizer="sgd"`` is available.

Entry points: :func:`train` (arrays in, model + history out), :func:`evaluate_classifier`
(held-out metrics), :func:`train_on` (a recipe on any manifest: melrec-synth, GTZAN, a folder).
Saving, reusing and loading trained models is :mod:`melrec_lib.nets.saved`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from melrec_lib.corpora.splits import SPLITS, artist_split
from melrec_lib.errors import DatasetError, ParameterError, check_int
from melrec_lib.nets import architecture
from melrec_lib.nets.recipe import GenreRecipe

#: The artist split every genre CNN is trained with: train / val / test shares of each genre's artists.
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)


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


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------
MASK_BANDS = 16  # SpecAugment-style masks (Park et al. 2019): at most this many mel bands ...
MASK_FRAMES = 8  # ... and this many 1/8 s frames per fragment, redrawn every epoch


def mask_fragments(
    X: np.ndarray, rng: np.random.Generator, *, max_bands: int = MASK_BANDS, max_frames: int = MASK_FRAMES
) -> np.ndarray:
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


def masked_batches(X: np.ndarray, Y, batch_size: int, seed: int, *, mask: bool = True, max_frames: int = MASK_FRAMES):
    """A ``keras.utils.PyDataset`` of shuffled, freshly masked batches (seeded per epoch and batch).

    ``Y`` is one target array or a dict of them (a network with several outputs); ``mask=False``
    gives the shuffled batches unmasked; ``max_frames`` is :func:`mask_fragments`' (an input
    of finer frames masks more of them for the same seconds).
    """
    import keras

    def targets(idx):
        return {k: v[idx] for k, v in Y.items()} if isinstance(Y, dict) else Y[idx]

    class _Masked(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.order = np.random.default_rng([seed, 0]).permutation(len(X))

        def __len__(self):
            return -(-len(X) // batch_size)

        def __getitem__(self, i):
            idx = np.sort(self.order[i * batch_size : (i + 1) * batch_size])
            Xb = np.asarray(X[idx])
            if mask:
                Xb = mask_fragments(Xb, np.random.default_rng([seed, self.epoch, i]), max_frames=max_frames)
            return Xb, targets(idx)

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
    recipe: GenreRecipe = GenreRecipe(),
    n_genres: int = 9,
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
        :func:`train_on`).  Without them there is no early stopping.
    recipe : GenreRecipe
        What to train with: ``epochs`` (an upper bound: early stopping usually ends sooner),
        ``batch_size``, ``patience`` (epochs without improvement of ``val_loss`` before stopping),
        ``seed`` (seeds Keras/JAX/numpy, the initializers, dropout and shuffling: the same seed
        gives the same weights and history), ``optimizer``, ``learning_rate`` and ``init`` (see
        :func:`melrec_lib.nets.architecture.genre_cnn`) and ``augment`` (mask one random run of
        mel bands and one of frames in every training fragment, redrawn every epoch,
        :func:`mask_fragments`; validation data is never masked).  Its ``config`` and
        ``per_track`` say how the fragments were made; they are not read here.
    n_genres : int >= 2
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

    X_train = architecture.validate_fragments(X_train, name="X_train")
    n_genres = int(n_genres)
    y_train = _check_labels(y_train, len(X_train), n_genres, "y_train")
    if not isinstance(recipe, GenreRecipe):
        raise ParameterError(f"recipe must be a GenreRecipe, got {type(recipe).__name__}")
    epochs, batch_size, patience, seed = recipe.epochs, recipe.batch_size, recipe.patience, recipe.seed
    has_val = X_val is not None
    if has_val:
        X_val = architecture.validate_fragments(X_val, name="X_val")
        y_val = _check_labels(y_val, len(X_val), n_genres, "y_val")
    keras.utils.set_random_seed(int(seed))
    if model is None:
        model = architecture.genre_cnn(
            n_genres, seed=int(seed), init=recipe.init, optimizer=recipe.optimizer, learning_rate=recipe.learning_rate
        )
    callbacks = []
    if has_val:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        )
    val = (X_val, _one_hot(y_val, n_genres)) if has_val else None
    if recipe.augment:
        data = masked_batches(X_train, _one_hot(y_train, n_genres), batch_size, int(seed))
        hist = model.fit(data, validation_data=val, epochs=epochs, callbacks=callbacks, verbose=verbose)
    else:
        hist = model.fit(
            X_train,
            _one_hot(y_train, n_genres),
            validation_data=val,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            callbacks=callbacks,
            verbose=verbose,
        )
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
    X = architecture.validate_fragments(X)
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


def evaluate_classifier(
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
    recall = pd.DataFrame(
        {
            "fragment_recall": frag_rec,
            "track_recall": track_rec,
            "n_fragments": np.bincount(y, minlength=len(genres)),
            "n_tracks": np.bincount(t_true, minlength=len(genres)),
        },
        index=pd.Index(genres, name="genre"),
    )
    cm = pd.DataFrame(
        confusion_matrix(t_true, t_pred, labels=labels),
        index=pd.Index(genres, name="true"),
        columns=pd.Index(genres, name="predicted"),
    )
    fcm = pd.DataFrame(
        confusion_matrix(y, pred, labels=labels),
        index=pd.Index(genres, name="true"),
        columns=pd.Index(genres, name="predicted"),
    )
    tracks = pd.DataFrame(
        {
            "track_id": tp.index,
            "genre": [genres[i] for i in t_true],
            "predicted": [genres[i] for i in t_pred],
            "p_true": t_prob[np.arange(len(t_true)), t_true],
            "n_fragments": pd.Series(np.asarray(track_proba_ids)).value_counts().loc[tp.index].to_numpy(),
        }
    )
    return GenreEvaluation(
        fragment_accuracy=float(accuracy_score(y, pred)),
        track_accuracy=float(accuracy_score(t_true, t_pred)),
        recall=recall,
        confusion=cm,
        fragment_confusion=fcm,
        tracks=tracks,
    )


# --------------------------------------------------------------------------------------------
# a recipe on a manifest
# --------------------------------------------------------------------------------------------
@dataclass
class TrainingResult:
    """What :func:`train_on` produced: the network, its history and its held-out judgement.

    Attributes
    ----------
    model : keras.Model
    history : pd.DataFrame
        One row per epoch (see :func:`train`).
    genres : tuple of str
        Class names in label order (the softmax' columns).
    n_tracks, n_fragments : dict split -> int
    n_test_scoring_fragments : int
        Consecutive 8 s fragments of the test tracks (the track decision).
    val, test : GenreEvaluation
    """

    model: Any
    history: pd.DataFrame
    genres: tuple[str, ...]
    n_tracks: dict[str, int]
    n_fragments: dict[str, int]
    n_test_scoring_fragments: int
    val: GenreEvaluation
    test: GenreEvaluation


def genres_of(manifest: pd.DataFrame) -> tuple[str, ...]:
    """The genres of a manifest in order of first appearance (the label order of its CNN)."""
    return tuple(dict.fromkeys(str(g) for g in manifest["genre"]))


def _prepare(manifest: pd.DataFrame, recipe: GenreRecipe, progress: bool):
    """The checked manifest, its genres, the artist split and each split's fragments and labels."""
    from melrec_lib.dsp import fragment_cache
    from melrec_lib.io.manifest import check

    manifest = check(manifest, need=("track_id", "path", "genre"))
    genres = genres_of(manifest)
    if len(genres) < 2:
        raise DatasetError(f"the collection has fewer than 2 genres: {genres}")
    split = artist_split(manifest, fractions=SPLIT_FRACTIONS, seed=recipe.seed).reindex(manifest.index)
    ids = {w: manifest["track_id"][(split == w).to_numpy()].tolist() for w in SPLITS}
    frags = fragment_cache.genre_fragments(
        manifest, recipe.spectrogram, per_track=recipe.per_track, seed=recipe.seed, progress=progress
    )
    present = set(frags.index["track_id"].astype(str))
    data = {}
    for which in SPLITS:
        tracks = [t for t in ids[which] if t in present]
        if not tracks:
            raise DatasetError(f"the {which} split has no fragments")
        part = frags.select(tracks)
        data[which] = (np.asarray(part.X), encode_labels(part.labels(manifest, "genre"), genres), part.index)
    return manifest, genres, split, ids, data


def learning_rate_probe(
    manifest: pd.DataFrame,
    *,
    recipe: GenreRecipe,
    rates: Sequence[float],
    epochs: int = 3,
    every: int = 5,
    progress: bool = True,
) -> pd.DataFrame:
    """A few epochs of the recipe at each learning rate, on every ``every``-th training fragment.

    Shows whether an input collapses to the uniform output (loss ln n_genres, chance accuracy)
    at a rate: what decided the recipe's rate for the thesis' input.  Each rate starts from the
    same initial weights (the recipe's seed); no early stopping.

    Returns
    -------
    pd.DataFrame
        ``learning_rate, epoch, loss, val_loss, val_accuracy`` per rate and epoch.
    """
    _, genres, _, _, data = _prepare(manifest, recipe, progress)
    every = check_int(every, "every", minimum=1)
    X, y, _ = data["train"]
    Xv, yv, _ = data["val"]
    rows = []
    for rate in rates:
        at_rate = recipe.replace(learning_rate=float(rate), epochs=epochs, patience=epochs)
        _, history = train(X[::every], y[::every], Xv, yv, recipe=at_rate, n_genres=len(genres))
        rows.append(history[["epoch", "loss", "val_loss", "val_accuracy"]].assign(learning_rate=float(rate)))
    return pd.concat(rows, ignore_index=True)[["learning_rate", "epoch", "loss", "val_loss", "val_accuracy"]]


def train_on(
    manifest: pd.DataFrame, *, recipe: GenreRecipe = GenreRecipe(), progress: bool = True, verbose: int | None = None
) -> TrainingResult:
    """Train the genre CNN on any collection with a recipe, and judge it on unseen artists.

    ``manifest`` -> artist-disjoint :func:`melrec_lib.corpora.splits.artist_split` (60/20/20, seeded
    by ``recipe.seed``) -> ``recipe.per_track`` random 8 s fragments of every track
    (``fragment_cache.genre_fragments``) -> :func:`train` on the train split, early-stopped on the
    validation split -> :func:`evaluate_classifier` on the test split (fragment accuracy on
    its random fragments; track accuracy from every consecutive 8 s fragment,
    ``fragment_cache.scoring_fragments``).

    Parameters
    ----------
    manifest : pd.DataFrame
        ``track_id, path, genre`` and ``artist`` (a track without an artist is its own).
    recipe : GenreRecipe
    progress : bool
        Progress bars while cutting fragments; one line per epoch while training.
    verbose : int, optional
        Keras verbosity (default 2, a line per epoch, when ``progress`` else 0).

    Raises
    ------
    DatasetError
        if the manifest has fewer than 2 genres or a split has no fragments.
    """
    from melrec_lib.dsp import fragment_cache

    manifest, genres, split, ids, data = _prepare(manifest, recipe, progress)
    cfg = recipe.spectrogram
    verbose = (2 if progress else 0) if verbose is None else int(verbose)
    if progress:
        print(
            f"training the genre CNN ({recipe.config} input): {len(data['train'][0])} fragments of "
            f"{len(ids['train'])} tracks, at most {recipe.epochs} epochs",
            flush=True,
        )
    model, history = train(
        data["train"][0],
        data["train"][1],
        data["val"][0],
        data["val"][1],
        recipe=recipe,
        n_genres=len(genres),
        verbose=verbose,
    )
    scoring = fragment_cache.scoring_fragments(manifest[(split == "test").to_numpy()], cfg, progress=progress)
    results = {}
    for which in ("val", "test"):
        X, y, idx = data[which]
        kwargs = {}
        if which == "test":
            kwargs = {
                "track_proba": predict_proba(model, scoring.X),
                "track_proba_ids": scoring.index["track_id"].to_numpy(),
            }
        results[which] = evaluate_classifier(predict_proba(model, X), y, idx["track_id"].to_numpy(), genres, **kwargs)
    return TrainingResult(
        model=model,
        history=history,
        genres=genres,
        n_tracks={w: len(ids[w]) for w in SPLITS},
        n_fragments={w: int(len(data[w][0])) for w in SPLITS},
        n_test_scoring_fragments=int(len(scoring.X)),
        val=results["val"],
        test=results["test"],
    )
