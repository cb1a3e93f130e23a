"""Trained genre CNNs on disk: the sidecar, saving, reuse only for the same recipe, loading.

A trained model is ``models_dir()/genre-cnn-<config>-<corpus>.keras`` (``<corpus>``: the
collection's name, :func:`melrec_lib.io.manifest.corpus_name`) with a JSON sidecar beside it
(``.json``) in one schema: the collection's name and fingerprint, the :class:`GenreRecipe`, the
genres in label order, split sizes, the training history and the validation and test metrics.

:func:`ensure` is what notebook 03 and ``melrec train`` call: it reuses a saved model only if
its sidecar records the same recipe on the same tracks (:func:`stale_reasons`, a dataclass
diff), and otherwise trains it (:func:`melrec_lib.nets.training.train_on`) and saves it (:func:`save`).
:func:`load` returns a saved model or names the command that trains it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from melrec_lib import paths
from melrec_lib.cache import atomic_file, digest
from melrec_lib.errors import DatasetError, ModelNotFoundError, ParameterError
from melrec_lib.io.manifest import corpus_name
from melrec_lib.nets import architecture
from melrec_lib.nets.recipe import GenreRecipe

__all__ = [
    "SIDECAR_SCHEMA",
    "TrainedGenreModel",
    "model_path",
    "save",
    "stale_reasons",
    "ensure",
    "ensure_all",
    "load",
    "fingerprint",
]

#: Version of the sidecar layout; a sidecar of another version is stale.
SIDECAR_SCHEMA = 2


@dataclass
class TrainedGenreModel:
    """A trained genre CNN with what is needed to use it.

    Attributes
    ----------
    model : keras.Model
    recipe : GenreRecipe
        How it was trained (its ``config`` names the spectrogram input it needs).
    genres : tuple of str
        Class names in label order (the softmax' columns).
    path : Path or None
        The ``.keras`` file (None for an unsaved model).
    metrics : dict
        The sidecar's contents (see the module docstring).
    """

    model: Any
    recipe: GenreRecipe
    genres: tuple[str, ...]
    path: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self):
        """The spectrogram configuration its input fragments must be made with."""
        return self.recipe.spectrogram

    @property
    def config_name(self) -> str:
        return self.recipe.config

    @property
    def fragment_accuracy(self) -> float:
        """Held-out (test artists') fragment accuracy."""
        return float(self.metrics["test"]["fragment_accuracy"])

    @property
    def track_accuracy(self) -> float:
        """Held-out track accuracy (mean of each track's consecutive fragments' probabilities)."""
        return float(self.metrics["test"]["track_accuracy"])

    def split(self, manifest: pd.DataFrame) -> pd.Series:
        """The train/val/test split the model was trained with (re-derived from its recipe)."""
        from melrec_lib.corpora.splits import artist_split
        from melrec_lib.nets.training import SPLIT_FRACTIONS

        return artist_split(manifest, fractions=SPLIT_FRACTIONS, seed=self.recipe.seed)

    def history(self) -> pd.DataFrame:
        """Training history (one row per epoch) from the sidecar."""
        return pd.DataFrame(self.metrics.get("history", {}))

    def evaluation_tables(self) -> dict[str, pd.DataFrame]:
        """The held-out ``recall`` and ``confusion`` tables from the sidecar as DataFrames."""
        test = self.metrics["test"]
        g = list(self.genres)

        def square(key: str) -> pd.DataFrame:
            return pd.DataFrame(test[key], index=pd.Index(g, name="true"), columns=pd.Index(g, name="predicted"))

        return {
            "recall": pd.DataFrame(test["recall"]).T.loc[g].rename_axis("genre"),
            "confusion": square("confusion"),
            "fragment_confusion": square("fragment_confusion"),
        }

    def key(self) -> str:
        """A content key of the network: the model file's bytes, or its weights when unsaved."""
        from melrec_lib.cache import array_digest

        if self.path is not None and Path(self.path).is_file():
            return digest(Path(self.path).read_bytes(), 20)
        return array_digest(*self.model.get_weights())


def _name(corpus: pd.DataFrame | str) -> str:
    if isinstance(corpus, str):
        return corpus
    if isinstance(corpus, pd.DataFrame):
        return corpus_name(corpus)
    raise ParameterError(f"corpus must be a manifest (DataFrame) or a collection name, not {type(corpus).__name__}")


def model_path(*, corpus: pd.DataFrame | str, config: str) -> Path:
    """``models_dir()/genre-cnn-<config>-<corpus name>.keras`` (the sidecar: ``.json``)."""
    return paths.models_dir() / f"genre-cnn-{config}-{_name(corpus)}.keras"


def _sidecar(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def fingerprint(manifest: pd.DataFrame) -> str:
    """A hash of which tracks a collection holds (ids, genres, artists and, if listed, spec hashes)."""
    cols = [c for c in ("track_id", "genre", "artist", "spec_hash") if c in manifest.columns]
    table = manifest[cols].astype(str).sort_values(cols[0])
    return digest(table.to_csv(index=False), 20)


def save(result, *, corpus: pd.DataFrame, recipe: GenreRecipe) -> Path:
    """Save a :class:`melrec_lib.nets.training.TrainingResult` and its sidecar; returns the ``.keras`` path.

    The sidecar is written after the model, atomically, so an interrupted save leaves a model
    without a sidecar, which :func:`stale_reasons` reports as stale (never a sidecar that lies).
    """
    path = model_path(corpus=corpus, config=recipe.config)
    sidecar = _sidecar(path)
    if sidecar.exists():
        sidecar.unlink()
    architecture.save(result.model, path)
    history = result.history
    record = {
        "schema": SIDECAR_SCHEMA,
        "corpus": corpus_name(corpus),
        "corpus_fingerprint": fingerprint(corpus),
        "recipe": recipe.to_dict(),
        "genres": list(result.genres),
        "n_tracks": result.n_tracks,
        "n_fragments": result.n_fragments,
        "n_test_scoring_fragments": result.n_test_scoring_fragments,
        "epochs_run": int(len(history)),
        "best_epoch": int(history.attrs["best_epoch"]),
        "history": {c: history[c].astype(float).tolist() for c in history.columns},
        "val": result.val.to_dict(),
        "test": result.test.to_dict(),
    }
    with atomic_file(sidecar) as tmp:
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return path


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(_sidecar(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def stale_reasons(*, corpus: pd.DataFrame, recipe: GenreRecipe) -> list[str]:
    """Why the saved model for this collection and recipe is not what the recipe would train.

    Empty if the saved model's sidecar records exactly this recipe on the same tracks;
    otherwise one line per difference, or a line saying why it cannot be compared (no model,
    no or unreadable sidecar, a sidecar of another schema).
    """
    path = model_path(corpus=corpus, config=recipe.config)
    if not path.is_file():
        return [f"no saved model at {path}"]
    meta = _read_sidecar(path)
    if meta is None:
        return [f"no readable sidecar {_sidecar(path).name} beside the saved model"]
    if meta.get("schema") != SIDECAR_SCHEMA:
        return [f"the sidecar has schema {meta.get('schema')!r}, this melrec writes {SIDECAR_SCHEMA}"]
    reasons = []
    if meta.get("corpus_fingerprint") != fingerprint(corpus):
        reasons.append("the collection's tracks changed since the model was trained")
    try:
        reasons += recipe.diff(GenreRecipe.from_dict(meta["recipe"]))
    except (KeyError, TypeError, ParameterError) as exc:
        reasons.append(f"the sidecar's recipe is unreadable ({exc})")
    return reasons


def ensure(
    *, corpus: pd.DataFrame, recipe: GenreRecipe = GenreRecipe(), retrain: bool = False, progress: bool = True
) -> TrainedGenreModel:
    """The saved genre CNN if it was trained on these tracks with this recipe, else train it now.

    ``retrain=True`` trains whatever is saved.  One line says which happened and why.
    """
    return ensure_all(corpus=corpus, recipes=[recipe], retrain=retrain, n_jobs=1, progress=progress)[0]


class _LabelledLines:
    """A text stream that writes ``[label] `` before every line it passes on to ``out``.

    Two trainings side by side print their epochs into one output; the label says whose
    line is whose (``[thesis] Epoch 3/60``).
    """

    def __init__(self, out, label: str):
        self.out, self.prefix, self.at_start = out, f"[{label}] ", True

    def write(self, text: str) -> int:
        for piece in text.splitlines(keepends=True):
            if self.at_start and piece.strip():
                self.out.write(self.prefix)
            self.out.write(piece)
            self.at_start = piece.endswith(("\n", "\r"))
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return False


def _train_and_save(manifest: pd.DataFrame, name: str, recipe: GenreRecipe, progress: bool, data_dir: str) -> Path:
    import contextlib
    import os
    import sys

    from melrec_lib.io.manifest import named
    from melrec_lib.nets import training

    # a worker process (possibly started earlier, with another environment) is told where the
    # data lives and the collection's name explicitly
    if str(paths.data_dir()) != data_dir:  # in a worker only: never change this process' environment
        os.environ["MELREC_DATA_DIR"] = data_dir
    named(manifest, name)
    with contextlib.redirect_stdout(_LabelledLines(sys.stdout, recipe.config)):
        result = training.train_on(manifest, recipe=recipe, progress=progress)
    return save(result, corpus=manifest, recipe=recipe)


def ensure_all(
    *,
    corpus: pd.DataFrame,
    recipes: list[GenreRecipe],
    retrain: bool = False,
    n_jobs: int | None = None,
    progress: bool = True,
) -> list[TrainedGenreModel]:
    """:func:`ensure` for several recipes on one collection, the stale ones trained side by side.

    Each stale recipe trains in a worker process of its own (at most ``n_jobs``, default: as
    many as there are stale recipes and cores); every model depends only on its recipe and the
    tracks, so the result is the one sequential training gives.  Workers print their epochs.
    """
    import os

    from melrec_lib.parallel import parallel_map

    if not isinstance(corpus, pd.DataFrame):
        raise ParameterError("ensure_all needs the collection itself (a manifest), not its name")
    if len({r.config for r in recipes}) != len(recipes):
        raise ParameterError("recipes must differ in config: each config names one saved model")
    todo = []
    for recipe in recipes:
        reasons = ["retrain requested"] if retrain else stale_reasons(corpus=corpus, recipe=recipe)
        if progress:
            where = model_path(corpus=corpus, config=recipe.config)
            print(
                f"training genre CNN ({recipe.config}, {corpus_name(corpus)}): " + "; ".join(reasons)
                if reasons
                else f"reusing {where} (trained with this recipe)",
                flush=True,
            )
        if reasons:
            todo.append(recipe)
    workers = min(len(todo), os.cpu_count() or 1) if n_jobs is None else n_jobs
    parallel_map(
        _train_and_save,
        [(corpus, corpus_name(corpus), r, progress, str(paths.data_dir())) for r in todo],
        star=True,
        n_jobs=max(workers, 1),
        progress=False,
        workers_for="networks",
    )
    return [load(corpus=corpus, config=r.config) for r in recipes]


def load(*, corpus: pd.DataFrame | str, config: str = "thesis", recipe: GenreRecipe | None = None) -> TrainedGenreModel:
    """The genre CNN saved for ``config`` on the collection ``corpus`` (a manifest or its name).

    ``recipe``: the recipe the caller's results assume (e.g. ``GenreRecipe(config=config)``);
    a saved model trained otherwise (an older default, other notebook parameters) is refused,
    with the differences, instead of being used silently.

    Raises
    ------
    ModelNotFoundError
        If it has not been trained; the message names the command that trains it.
    DatasetError
        If its sidecar is missing or unreadable (the model cannot be used without its recipe),
        or it was trained with another recipe than ``recipe``.
    """
    name = _name(corpus)
    path = model_path(corpus=name, config=config)
    if not path.is_file():
        raise ModelNotFoundError(
            f"no trained genre CNN for config {config!r} on {name!r} at {path}: "
            f"run `melrec train --corpus {name} --config {config}` or notebook 03"
        )
    meta = _read_sidecar(path)
    if meta is None or "recipe" not in meta:
        raise DatasetError(
            f"{_sidecar(path)}: missing or unreadable sidecar; retrain with "
            f"`melrec train --corpus {name} --config {config}`"
        )
    saved = GenreRecipe.from_dict(meta["recipe"])
    differences = recipe.diff(saved) if recipe is not None else []
    if differences:
        raise DatasetError(
            f"{path} was trained with another recipe ({'; '.join(differences)}): retrain it "
            f"with `melrec train --corpus {name} --config {config} --retrain` or notebook 03"
        )
    return TrainedGenreModel(
        model=architecture.load(path), recipe=saved, genres=tuple(meta["genres"]), path=path, metrics=meta
    )
