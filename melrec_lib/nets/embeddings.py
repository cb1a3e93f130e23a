"""The frozen preprocessor (a trained genre CNN cut at a layer) and the embeddings it makes, cached.

The thesis' preprocessor is the genre CNN's layers 1-6 (``architecture.DEFAULT_CUT = "pool2"``);
notebook 04 compares other cuts.  Embedding is done once per collection and cut:
:func:`embed_fragments` stores ``processed_dir()/embeddings/<model>-<cut>-<key>.npy``, keyed by
the model's content, the cut and the fragments' content; :func:`embed` goes from a manifest to
:class:`Embedded` fragment embeddings through the fragment cache (``features``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from melrec_lib import paths
from melrec_lib.cache import array_digest, atomic_file, digest
from melrec_lib.errors import ParameterError, check_int
from melrec_lib.io.manifest import check as check_manifest
from melrec_lib.nets import architecture

__all__ = ["Embedded", "BUILDERS", "get_preprocessor", "embed_fragments", "embed"]

#: Fragment builders :func:`embed` knows: consecutive 8 s fragments, or random ones per track.
BUILDERS = ("scoring", "genre")

_PREPROCESSORS: dict[tuple[str, str], Any] = {}


@dataclass
class Embedded:
    """Fragment embeddings of many tracks.

    Attributes
    ----------
    X : np.ndarray [shape=(n_fragments, d), float32]
    track : np.ndarray [shape=(n_fragments,), str]
        The track of each row.
    cut : str
        Where the network was cut (or the name of another feature extractor).
    """

    X: np.ndarray
    track: np.ndarray
    cut: str

    def rows(self, track_ids: Iterable[str]) -> np.ndarray:
        """Row numbers of the fragments of ``track_ids`` (in this object's order)."""
        return np.flatnonzero(np.isin(self.track, np.asarray(list(track_ids), dtype=object).astype(str)))

    def take(self, track_ids: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(X, track)`` of the fragments of ``track_ids``."""
        r = self.rows(track_ids)
        return self.X[r], self.track[r]

    def track_means(self) -> pd.DataFrame:
        """Mean embedding of each track (rows = track ids, sorted)."""
        return pd.DataFrame(self.X).groupby(self.track, sort=True).mean()


def _check_cut(cut: str) -> str:
    if cut not in architecture.CUTS:
        raise ParameterError(f"cut must be one of {architecture.CUTS}, got {cut!r}")
    return cut


def get_preprocessor(trained: Any, cut: str = architecture.DEFAULT_CUT):
    """The frozen preprocessor of a trained model at ``cut`` (memoised per model content and cut)."""
    key = (trained.key(), _check_cut(cut))
    if key not in _PREPROCESSORS:
        _PREPROCESSORS[key] = architecture.preprocessor(trained.model, cut)
    return _PREPROCESSORS[key]


def embed_fragments(
    fragments: Any,
    trained: Any,
    *,
    cut: str = architecture.DEFAULT_CUT,
    batch_size: int = 256,
    cache: bool = True,
    progress: bool = True,
) -> np.ndarray:
    """Features of fragments from the frozen preprocessor, cached on disk.

    Parameters
    ----------
    fragments : fragment_cache.Fragments or np.ndarray [shape=(n, 64, 128)]
        Fragments made with ``trained.config``.
    trained : trained.TrainedGenreModel
    cut : {"pool1", "pool2", "dense1024", "dense128"}
        Where the network is cut (``"pool2"``: the thesis' preprocessor, 1792 features).
    batch_size : int > 0
    cache : bool
        Read/write ``processed_dir()/embeddings/<model>-<cut>-<key>.npy``, keyed by the model's
        content, the cut and the fragments' content.
    progress : bool
        A progress bar over batches.

    Returns
    -------
    np.ndarray [shape=(n, architecture.CUT_SIZES[cut]), dtype=float32]
    """
    from melrec_lib.parallel import tqdm_class

    tqdm = tqdm_class()

    X = architecture.validate_fragments(fragments.X if hasattr(fragments, "X") else fragments)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    width = architecture.CUT_SIZES[_check_cut(cut)]
    out_path = None
    if cache:
        key = digest(f"{trained.key()}/{cut}/{array_digest(X)}", 20)
        stem = Path(trained.path).stem if trained.path else "model"
        out_path = paths.processed_dir() / "embeddings" / f"{stem}-{cut}-{key}.npy"
        if out_path.is_file():
            E = np.load(out_path)
            if E.shape == (len(X), width):
                return E
    pre = get_preprocessor(trained, cut)
    out = np.empty((len(X), width), dtype=np.float32)
    starts = range(0, len(X), batch_size)
    for s in tqdm(
        starts, total=len(starts), desc=f"embedding ({cut})", unit="batch", disable=not progress, leave=False
    ):
        batch = X[s : s + batch_size]
        n = len(batch)
        if n < batch_size and len(X) > batch_size:  # pad: one compiled shape for every batch
            batch = np.concatenate([batch, np.zeros((batch_size - n, *batch.shape[1:]), batch.dtype)])
        out[s : s + n] = np.asarray(pre.predict_on_batch(batch))[:n]
    if out_path is not None:
        with atomic_file(out_path) as tmp:
            np.save(tmp, out)
    return out


def embed(
    manifest: pd.DataFrame,
    trained: Any,
    *,
    cut: str = architecture.DEFAULT_CUT,
    builder: str = "scoring",
    per_track: int = 5,
    seed: int = 0,
    progress: bool = True,
) -> Embedded:
    """Preprocessor embeddings of a manifest's fragments (fragments and embeddings both cached).

    Parameters
    ----------
    manifest : pd.DataFrame
        ``track_id`` and ``path``; its collection name names the fragment cache.
    trained : trained.TrainedGenreModel
        Its ``config`` makes the fragments; its preprocessor at ``cut`` embeds them.
    cut : str
        ``architecture.CUTS`` member.
    builder : {"scoring", "genre"}
        Consecutive 8 s fragments (thesis builder 2) or ``per_track`` random ones (builder 1).
    per_track, seed : int
        For ``builder="genre"``.
    """
    from melrec_lib.dsp import fragment_cache

    m = check_manifest(manifest, need=("track_id", "path"))
    if builder == "scoring":
        frags = fragment_cache.scoring_fragments(m, trained.config, progress=progress)
    elif builder == "genre":
        frags = fragment_cache.genre_fragments(m, trained.config, per_track=per_track, seed=seed, progress=progress)
    else:
        raise ParameterError(f"builder must be one of {BUILDERS}, not {builder!r}")
    X = embed_fragments(frags, trained, cut=cut, progress=progress)
    return Embedded(X=np.asarray(X, np.float32), track=frags.index["track_id"].astype(str).to_numpy(), cut=cut)
