"""The genre-CNN preprocessor that ships inside the package: export it, check it, load it.

``melrec recommend`` works right after ``pip install``: a genre CNN trained by ``make reproduce``
with the default recipe is stored here, cut at its preprocessor layer, as two files:

* ``genre-cnn-<config>-<cut>.npz`` — the weights of every layer up to the cut (no optimizer
  state, no classifier head beyond the cut), stored as ``float16`` (``<layer>/<i>`` arrays);
* ``genre-cnn-<config>-<cut>.json`` — the sidecar: :data:`SCHEMA`, the
  :class:`~melrec_lib.nets.recipe.GenreRecipe` (``to_dict()``), the cut, the number of genres, the
  training collection's name and fingerprint, and a **reference**: the float32 network's
  embedding of one fixed synthetic fragment (:func:`reference_fragment`) with the float16
  copy's relative error on it.

:func:`export_preprocessor` writes both from a trained model (``tools/export_shipped_weights.py``
runs it on the final model); :func:`load` rebuilds the network from code
(:func:`melrec_lib.nets.architecture.genre_cnn`), sets the stored weights (cast back to float32) and cuts
it at any layer up to the stored cut; :func:`check` re-embeds the reference fragment;
:func:`stale_reasons` compares the shipped recipe with the code's default recipe.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from melrec_lib.cache import array_digest, atomic_file
from melrec_lib.errors import ModelNotFoundError, ParameterError

__all__ = [
    "SCHEMA",
    "FOLDER",
    "REFERENCE_RTOL",
    "ShippedPreprocessor",
    "reference_fragment",
    "file_stem",
    "export_preprocessor",
    "available",
    "find",
    "load",
    "check",
    "stale_reasons",
]

#: Layout version of the sidecar.
SCHEMA = 1
#: Where shipped weights live (inside the installed package).
FOLDER = Path(__file__).resolve().parent
#: Largest relative error (L2 norm of the difference over the norm) of the float16 copy's
#: embedding of the reference fragment against the float32 network's.
REFERENCE_RTOL = 1e-2
_DTYPES = ("float16", "float32")


@dataclass
class ShippedPreprocessor:
    """A preprocessor rebuilt from exported weights.

    Attributes
    ----------
    model : keras.Model
        Input ``(batch, 64, 128)``, output ``(batch, architecture.CUT_SIZES[cut])``, frozen.
    cut : str
        The layer it ends at.
    meta : dict
        The sidecar (see the module docstring).
    path : Path
        The ``.npz`` weights file.
    """

    model: Any
    cut: str
    meta: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def recipe(self):
        from melrec_lib.nets.recipe import GenreRecipe

        return GenreRecipe.from_dict(self.meta["recipe"])

    @property
    def config(self):
        """The spectrogram configuration its input fragments must be made with."""
        return self.recipe.spectrogram

    def key(self) -> str:
        """A content key: the weights file's bytes and the cut."""
        from melrec_lib.cache import digest

        return digest(Path(self.path).read_bytes(), 16) + f"-{self.cut}" if self.path else f"unsaved-{self.cut}"


def reference_fragment(config: Any) -> np.ndarray:
    """One fixed 8 s fragment [shape=(1, 64, 128), float32] of synthetic audio, made with ``config``.

    A deterministic signal (a few harmonic tones with a slow glide and seeded noise, 8.5 s at the
    configuration's sample rate) through :func:`melrec_lib.dsp.fragments.fragments` on one BLAS
    thread, so every machine computes the same input.
    """
    from melrec_lib.dsp import blas, fragments

    cfg = fragments.get_config(config)
    sr = int(cfg.sr)
    t = np.arange(int(8.5 * sr)) / sr
    f0 = 220.0 * (1.0 + 0.25 * t / t[-1])
    y = sum(0.2 / k * np.sin(2 * np.pi * k * np.cumsum(f0) / sr) for k in (1, 2, 3, 5))
    y = y + 0.01 * np.random.default_rng(20261201).standard_normal(t.size)
    with blas.one_blas_thread():
        X = fragments.fragments(y.astype(np.float32), sr, [0.0], cfg)
    return np.asarray(X, np.float32)


def file_stem(config: str, cut: str) -> str:
    """``genre-cnn-<config>-<cut>``: the name of a shipped preprocessor's two files."""
    return f"genre-cnn-{config}-{cut}"


def _layers_up_to(model, cut: str) -> list:
    names = [layer.name for layer in model.layers]
    if cut not in names:
        raise ParameterError(f"model {model.name!r} has no layer {cut!r}")
    return [layer for layer in model.layers[: names.index(cut) + 1] if layer.get_weights()]


def _embed(pre, X: np.ndarray) -> np.ndarray:
    return np.asarray(pre.predict_on_batch(X), np.float32)


def _relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def export_preprocessor(
    trained: Any,
    *,
    cut: str,
    dtype: str = "float16",
    folder: str | os.PathLike | None = None,
) -> Path:
    """Write a trained genre CNN's layers up to ``cut`` and its sidecar (see the module docstring).

    Parameters
    ----------
    trained : melrec_lib.nets.saved.TrainedGenreModel
        The model to ship (its recipe, genres and sidecar metrics are recorded).
    cut : {"pool1", "pool2", "dense1024", "dense128"}
        The last layer stored; :func:`load` can cut at this layer or any earlier one.
    dtype : {"float16", "float32"}
        Storage type of the weights.
    folder : path-like, optional
        Where to write (default :data:`FOLDER`, inside the package).

    Returns
    -------
    Path
        The ``.npz`` file (the ``.json`` sidecar is beside it).
    """
    from melrec_lib.nets import architecture

    if cut not in architecture.CUTS:
        raise ParameterError(f"cut must be one of {architecture.CUTS}, got {cut!r}")
    if dtype not in _DTYPES:
        raise ParameterError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    folder = Path(folder) if folder is not None else FOLDER
    stem = file_stem(trained.recipe.config, cut)
    arrays = {
        f"{layer.name}/{i}": np.asarray(w).astype(dtype)
        for layer in _layers_up_to(trained.model, cut)
        for i, w in enumerate(layer.get_weights())
    }
    X = reference_fragment(trained.recipe.config)
    reference = _embed(architecture.preprocessor(trained.model, cut), X)[0]
    npz = folder / f"{stem}.npz"
    with atomic_file(npz) as tmp:
        np.savez_compressed(tmp, **arrays)
    copy = _embed(
        _build(npz, {"recipe": trained.recipe.to_dict(), "n_genres": len(trained.genres), "cut": cut}, cut).model, X
    )[0]
    metrics = trained.metrics or {}
    meta = {
        "schema": SCHEMA,
        "recipe": trained.recipe.to_dict(),
        "cut": cut,
        "dtype": dtype,
        "genres": list(trained.genres),
        "n_genres": len(trained.genres),
        "corpus": metrics.get("corpus"),
        "corpus_fingerprint": metrics.get("corpus_fingerprint"),
        "test_track_accuracy": (metrics.get("test") or {}).get("track_accuracy"),
        "weights_digest": array_digest(*[arrays[k] for k in sorted(arrays)]),
        "reference": {
            "fragment_digest": array_digest(X),
            "embedding": [float(v) for v in reference],
            "float16_relative_error": _relative_error(copy, reference),
        },
    }
    with atomic_file(npz.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return npz


def available(folder: str | os.PathLike | None = None) -> list[dict]:
    """The sidecars of every preprocessor shipped in ``folder`` (default :data:`FOLDER`)."""
    folder = Path(folder) if folder is not None else FOLDER
    out = []
    for sidecar in sorted(folder.glob("genre-cnn-*.json")):
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("schema") == SCHEMA and sidecar.with_suffix(".npz").is_file():
            out.append({**meta, "path": str(sidecar.with_suffix(".npz"))})
    return out


def find(*, config: str, cut: str, folder: str | os.PathLike | None = None) -> dict | None:
    """The sidecar of a shipped preprocessor for ``config`` that reaches ``cut``, or ``None``."""
    from melrec_lib.nets import architecture

    if cut not in architecture.CUTS:
        raise ParameterError(f"cut must be one of {architecture.CUTS}, got {cut!r}")
    for meta in available(folder):
        if meta["recipe"].get("config") == config and architecture.CUTS.index(cut) <= architecture.CUTS.index(
            meta["cut"]
        ):
            return meta
    return None


def stale_reasons(meta: dict) -> list[str]:
    """How the shipped recipe differs from the code's default recipe for its input (empty: same).

    The shipped network must be what ``GenreRecipe(config=<its config>)`` trains; a change of a
    default in :class:`~melrec_lib.nets.recipe.GenreRecipe` (or of the spectrogram configuration's
    content) shows up here, one line per field.
    """
    from melrec_lib.nets.recipe import GenreRecipe

    shipped = GenreRecipe.from_dict(meta["recipe"])
    wanted = GenreRecipe(config=shipped.config)
    reasons = wanted.diff(shipped)
    if meta["recipe"].get("config_key") != wanted.spectrogram.key():
        reasons.append(f"config_key: saved {meta['recipe'].get('config_key')!r}, wanted {wanted.spectrogram.key()!r}")
    return list(dict.fromkeys(reasons))


def load(
    *,
    cut: str,
    config: str,
    folder: str | os.PathLike | None = None,
    check_recipe: bool = True,
) -> ShippedPreprocessor:
    """The shipped preprocessor for ``config`` cut at ``cut`` (weights cast to float32).

    Parameters
    ----------
    cut : str
        Any layer up to and including the stored cut.
    config : str
        The spectrogram preset the network was trained on.
    folder : path-like, optional
        Default :data:`FOLDER`.
    check_recipe : bool
        Warn when :func:`stale_reasons` finds the shipped recipe differs from the code's default.

    Raises
    ------
    ModelNotFoundError
        No shipped preprocessor for ``config`` reaching ``cut``.
    """
    import warnings

    meta = find(config=config, cut=cut, folder=folder)
    if meta is None:
        raise ModelNotFoundError(
            f"no genre CNN for the {config!r} input reaching cut {cut!r} ships with "
            f"melrec; train one with `melrec train --config {config}`"
        )
    npz = Path(meta["path"])
    if check_recipe:
        reasons = stale_reasons(meta)
        if reasons:
            warnings.warn(
                f"{npz.name} was trained with another recipe than this melrec's default: " + "; ".join(reasons),
                stacklevel=2,
            )
    return _build(npz, meta, cut)


def _build(npz: Path, meta: dict, cut: str) -> ShippedPreprocessor:
    """The network of ``meta`` with the weights of ``npz`` up to ``meta["cut"]``, cut at ``cut``."""
    from melrec_lib.nets import architecture
    from melrec_lib.nets.recipe import GenreRecipe

    recipe = GenreRecipe.from_dict(meta["recipe"])
    model = architecture.genre_cnn(int(meta["n_genres"]), seed=recipe.seed, init=recipe.init)
    with np.load(npz) as stored:
        for layer in _layers_up_to(model, meta["cut"]):
            n = len(layer.get_weights())
            layer.set_weights([np.asarray(stored[f"{layer.name}/{i}"], np.float32) for i in range(n)])
    return ShippedPreprocessor(model=architecture.preprocessor(model, cut), cut=cut, meta=meta, path=npz)


def check(shipped: ShippedPreprocessor) -> float:
    """The relative error of ``shipped``'s embedding of the reference fragment against the recorded one.

    Raises
    ------
    ParameterError
        If it exceeds :data:`REFERENCE_RTOL` (the check runs at the stored cut).
    """
    if shipped.cut != shipped.meta["cut"]:
        shipped = _build(Path(shipped.path), shipped.meta, shipped.meta["cut"])
    ref = np.asarray(shipped.meta["reference"]["embedding"], np.float32)
    got = _embed(shipped.model, reference_fragment(shipped.recipe.config))[0]
    err = _relative_error(got, ref)
    if not err <= REFERENCE_RTOL:
        raise ParameterError(
            f"{Path(shipped.path).name}: the reference fragment's embedding is off by "
            f"{err:.3g} (relative), more than {REFERENCE_RTOL:g}"
        )
    return err
