"""The fragment cache: a manifest turned into (n, 64, 128) mel fragments, computed once and stored.

The thesis builds two data sets from audio (section 3.4):

1. **genre training** - ``k = 5`` fragments per track at random whole-second offsets
   (``rand() % (duration - 8)``): :func:`genre_fragments`;
2. **scoring** - every consecutive 8 s fragment (offsets 0, 8, 16, ... s): :func:`scoring_fragments`.

Both are computed once and stored under
``processed/<corpus>/<config.key()>/<builder-key>/`` as ``X.npy`` (float32, loaded back as a
read-only memory map), ``index.csv`` (``track_id, fragment, offset_s``) and ``meta.json`` (every
parameter, the tracks that failed).  The builder key hashes every parameter *and* the manifest's
content - track ids, paths, file sizes and modification times - so a changed parameter or a
re-rendered file never reuses stale fragments.  Writes go to a temporary folder renamed into
place, so an interrupted run leaves nothing half-written.

Examples
--------
>>> from melrec_lib.corpora import melrec_synth, splits  # doctest: +SKIP
>>> from melrec_lib.dsp import fragment_cache                              # doctest: +SKIP
>>> df = melrec_synth.load_manifest("default")                                   # doctest: +SKIP
>>> frags = fragment_cache.genre_fragments(df, "thesis", per_track=5, seed=0)    # doctest: +SKIP
>>> frags.X.shape, frags.index.head()                                      # doctest: +SKIP
>>> split = splits.artist_split(df, seed=0)                                # doctest: +SKIP
>>> train = frags.select(df.loc[split == "train", "track_id"])             # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from melrec_lib import paths
from melrec_lib.cache import atomic_folder, discard_folder, file_stamp, stable_hash, text_seed
from melrec_lib.errors import DatasetError, MelrecError, ParameterError, check_int
from melrec_lib.io.manifest import check as check_manifest
from melrec_lib.io.manifest import corpus_name
from melrec_lib.parallel import parallel_map

__all__ = [
    "Fragments",
    "INDEX_COLUMNS",
    "cache_path",
    "genre_fragments",
    "scoring_fragments",
    "track_fragments",
    "track_seed",
]

#: Columns of :attr:`Fragments.index`.
INDEX_COLUMNS = ("track_id", "fragment", "offset_s")
#: Bump when the stored layout or the computation changes: old caches are then ignored.
CACHE_VERSION = 2


# --------------------------------------------------------------------------------------------
# the container
# --------------------------------------------------------------------------------------------
@dataclass
class Fragments:
    """Mel fragments of many tracks, one row of ``index`` per fragment.

    Attributes
    ----------
    X : np.ndarray [shape=(n, 64, 128), dtype=float32]
        Fragment ``i`` is ``X[i]`` (time frames x mel bands).  May be a read-only memory map
        (``np.load(..., mmap_mode="r")``): copy before writing to it.
    index : pd.DataFrame [shape=(n, 3)]
        ``track_id`` (str), ``fragment`` (number of the fragment within its track, from 0),
        ``offset_s`` (start of the fragment in the track, seconds).
    config : fragments.SpectrogramConfig
        The configuration the fragments were computed with.
    meta : dict
        What the builder recorded (parameters, cache key, failed tracks); empty if built by hand.
    """

    X: np.ndarray
    index: pd.DataFrame
    config: Any
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.X, np.ndarray) or self.X.ndim != 3:
            raise ParameterError(
                f"Fragments.X must be a 3-d array (n, frames, mels), got {getattr(self.X, 'shape', type(self.X))}"
            )
        missing = [c for c in INDEX_COLUMNS if c not in self.index.columns]
        if missing:
            raise ParameterError(f"Fragments.index lacks column(s) {missing}")
        if len(self.index) != len(self.X):
            raise ParameterError(f"Fragments.index has {len(self.index)} rows for {len(self.X)} fragments")

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def track_ids(self) -> list[str]:
        """The tracks present, in order of first appearance."""
        return list(dict.fromkeys(self.index["track_id"]))

    @property
    def path(self) -> Path | None:
        """The cache folder the fragments were stored in (``None`` if never stored)."""
        p = self.meta.get("cache_dir")
        return Path(p) if p else None

    def select(self, track_ids: Iterable[str]) -> "Fragments":
        """The fragments of the given tracks (in this object's order; a copy, not a view).

        Raises
        ------
        DatasetError
            if a requested track has no fragments here.
        """
        wanted = pd.Index(pd.Series(list(track_ids), dtype=object).astype(str))
        unknown = wanted.difference(pd.Index(self.index["track_id"].astype(str)))
        if len(unknown):
            raise DatasetError(f"no fragments for track(s) {list(unknown[:5])}{' ...' if len(unknown) > 5 else ''}")
        mask = self.index["track_id"].astype(str).isin(wanted).to_numpy()
        rows = np.flatnonzero(mask)
        return Fragments(
            X=np.asarray(self.X[rows]),
            index=self.index.iloc[rows].reset_index(drop=True),
            config=self.config,
            meta=dict(self.meta),
        )

    def labels(self, manifest: pd.DataFrame, column: str = "genre") -> np.ndarray:
        """Per-fragment values of a manifest column (e.g. genre), joined on ``track_id``.

        Raises
        ------
        DatasetError
            if a fragment's track is not in ``manifest`` or ``column`` is missing.
        """
        if column not in manifest.columns:
            raise DatasetError(f"manifest has no {column!r} column")
        lookup = manifest.set_index(manifest["track_id"].astype(str))[column]
        ids = self.index["track_id"].astype(str)
        absent = sorted(set(ids) - set(lookup.index))
        if absent:
            raise DatasetError(f"track(s) {absent[:5]} are not in the manifest")
        return lookup.reindex(ids).to_numpy()


# --------------------------------------------------------------------------------------------
# keys and seeds
# --------------------------------------------------------------------------------------------
def track_seed(seed: int, track_id: str) -> int:
    """The seed of one track's random offsets, derived from ``(seed, track_id)``.

    Stable across processes and Python versions (SHA-256, not ``hash()``), so the same
    ``seed`` picks the same fragments of a track whatever else is in the manifest.

    Returns
    -------
    int in [0, 2**63)
    """
    return text_seed(f"melrec-fragments:{int(seed)}:{track_id}", 8) >> 1


def _config_record(config: Any) -> dict:
    if dataclasses.is_dataclass(config):
        rec = dataclasses.asdict(config)
    else:  # pragma: no cover - SpectrogramConfig is a dataclass by contract
        rec = {"repr": repr(config)}
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in rec.items()}


def _tracks(manifest: pd.DataFrame) -> pd.DataFrame:
    tracks = check_manifest(manifest, need=("track_id", "path"))
    return pd.DataFrame({"track_id": tracks["track_id"].to_numpy(), "path": [str(Path(p)) for p in tracks["path"]]})


def _builder_spec(builder: str, config: Any, tracks: pd.DataFrame, **params: Any) -> tuple[str, dict]:
    """The builder folder name and the full record its hash covers."""
    spec = {
        "cache_version": CACHE_VERSION,
        "builder": builder,
        **params,
        "config_key": config.key(),
        "config": _config_record(config),
        "tracks": [[t, p, *file_stamp(p)] for t, p in zip(tracks["track_id"], tracks["path"])],
    }
    digest = stable_hash(spec, 12)
    if builder == "genre":
        name = f"genre-k{params['per_track']}-seed{params['seed']}-{digest}"
    else:
        name = f"{builder}-{digest}"
    return name, spec


def cache_path(corpus: str, config: Any, builder_key: str, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """``<cache_dir or processed_dir()>/<corpus>/<config.key()>/<builder_key>``.

    ``corpus`` is the collection's name (:func:`melrec_lib.io.manifest.corpus_name`).
    """
    base = Path(cache_dir) if cache_dir is not None else paths.processed_dir()
    return base / corpus / config.key() / builder_key


# --------------------------------------------------------------------------------------------
# computing one track
# --------------------------------------------------------------------------------------------
def _offsets(builder: str, duration_s: float, per_track: int, seed: int, track_id: str) -> np.ndarray:
    from melrec_lib.dsp import fragments

    if builder == "genre":
        return np.asarray(fragments.random_offsets(duration_s, per_track, seed=track_seed(seed, track_id)), dtype=float)
    return np.asarray(fragments.consecutive_offsets(duration_s), dtype=float)


def _compute_track(track_id: str, path: str, builder: str, per_track: int, seed: int, config: Any) -> dict:
    """Fragments of one file: ``{"X", "fragment", "offset_s"}`` or ``{"error": reason}``.

    The mel bank's matrix product runs on one BLAS thread: a multi-threaded BLAS sums in
    another order (last-bit differences), and the same track must give the same fragments in
    this process and in a worker, whatever the core count.
    """
    from melrec_lib.dsp import blas

    with blas.one_blas_thread():
        return _compute_track_here(track_id, path, builder, per_track, seed, config)


def _compute_track_here(track_id: str, path: str, builder: str, per_track: int, seed: int, config: Any) -> dict:
    from melrec_lib.dsp import fragments
    from melrec_lib.errors import SilentAudioError
    from melrec_lib.io import audio

    try:
        # a few random fragments of an integer-PCM WAV: read only their samples (the same
        # numbers as cutting them from the whole file; such a file has no non-finite sample)
        header = audio.pcm_header(path, config.sr) if builder == "genre" else None
        if header is not None:
            sr, n_samples = config.sr, header.n_frames
        else:
            y, sr = audio.load(path, sr=config.sr)
            n_samples = len(y)
        duration = n_samples / float(sr)
        offsets = _offsets(builder, duration, per_track, seed, track_id)
        if offsets.size == 0:
            return {"error": f"too short for one fragment: {duration:.2f} s"}
        if header is not None:
            spans = fragments.fragment_spans(offsets, sr, n_samples, config)
            segments = audio.load_spans(path, spans, sr=sr, header=header)

            def batch(idx):
                return fragments.fragments_of_segments([segments[i] for i in idx], offsets[idx], config)
        else:

            def batch(idx):
                return fragments.fragments(y, sr, offsets[idx], config)

        numbers = np.arange(offsets.size)
        try:
            X = batch(numbers)
        except SilentAudioError:
            # drop only the silent fragments (e.g. a silent intro), keep the rest
            keep, parts = [], []
            for i in range(offsets.size):
                try:
                    parts.append(batch(numbers[i : i + 1]))
                    keep.append(i)
                except SilentAudioError:
                    continue
            if not keep:
                return {"error": "every fragment is silent"}
            dropped = [float(o) for i, o in enumerate(offsets) if i not in keep]
            X, numbers, offsets = np.concatenate(parts), numbers[keep], offsets[keep]
        else:
            dropped = []
        X = np.asarray(X, dtype=np.float32)
        if not np.all(np.isfinite(X)):
            return {"error": "non-finite values in the spectrogram"}
        return {"X": X, "fragment": numbers, "offset_s": offsets, "dropped": dropped}
    except (MelrecError, OSError, RuntimeError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _run(
    tracks: pd.DataFrame,
    builder: str,
    per_track: int,
    seed: int,
    config: Any,
    n_jobs: int | None,
    progress: bool,
    desc: str,
) -> list[dict]:
    args = [(t, p, builder, per_track, seed, config) for t, p in zip(tracks["track_id"], tracks["path"])]
    return parallel_map(_compute_track, args, star=True, n_jobs=n_jobs, desc=desc, unit="track", progress=progress)


# --------------------------------------------------------------------------------------------
# storing and loading
# --------------------------------------------------------------------------------------------
def _write(final: Path, results: list[dict], tracks: pd.DataFrame, meta: dict) -> None:
    """Write X.npy, index.csv and meta.json into a temporary folder renamed into place."""
    with atomic_folder(final) as tmp:
        ok = [(t, r) for t, r in zip(tracks["track_id"], results) if "X" in r]
        n = sum(r["X"].shape[0] for _, r in ok)
        shape = ok[0][1]["X"].shape[1:] if ok else (0, 0)
        X = np.lib.format.open_memmap(tmp / "X.npy", mode="w+", dtype=np.float32, shape=(n, *shape))
        rows, i = [], 0
        for track_id, r in ok:
            k = r["X"].shape[0]
            X[i : i + k] = r["X"]
            i += k
            rows.append(pd.DataFrame({"track_id": track_id, "fragment": r["fragment"], "offset_s": r["offset_s"]}))
        X.flush()
        del X
        index = (
            pd.concat(rows, ignore_index=True)
            if rows
            else pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(INDEX_COLUMNS, (str, int, float))})
        )
        index.to_csv(tmp / "index.csv", index=False)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))


def _load(folder: Path, config: Any) -> Fragments:
    meta = json.loads((folder / "meta.json").read_text())
    X = np.load(folder / "X.npy", mmap_mode="r")
    index = pd.read_csv(folder / "index.csv", dtype={"track_id": str})
    meta["cache_dir"] = str(folder)
    return Fragments(X=X, index=index, config=config, meta=meta)


def _build(
    builder: str,
    manifest: pd.DataFrame,
    config: Any,
    *,
    per_track: int,
    seed: int,
    n_jobs: int | None,
    progress: bool,
    cache: bool,
    cache_dir: str | os.PathLike | None,
) -> Fragments:
    from melrec_lib.dsp import fragments

    config = fragments.get_config(config)
    tracks = _tracks(manifest)
    corpus = corpus_name(manifest)
    params = {"per_track": per_track, "seed": seed} if builder == "genre" else {}
    name, spec = _builder_spec(builder, config, tracks, **params)
    folder = cache_path(corpus, config, name, cache_dir=cache_dir)
    if cache and (folder / "meta.json").is_file():
        try:
            return _load(folder, config)
        except (OSError, ValueError, MelrecError) as exc:
            warnings.warn(f"{folder}: unreadable fragment cache ({exc}); recomputing", stacklevel=3)
            discard_folder(folder)
    desc = f"{builder} fragments ({config.name} input)"
    results = _run(tracks, builder, per_track, seed, config, n_jobs, progress, desc)
    failed = {t: r["error"] for t, r in zip(tracks["track_id"], results) if "error" in r}
    if failed:
        shown = "; ".join(f"{t}: {e}" for t, e in list(failed.items())[:3])
        warnings.warn(
            f"{len(failed)} of {len(tracks)} track(s) skipped ({shown}{' ...' if len(failed) > 3 else ''})",
            stacklevel=3,
        )
    if len(failed) == len(tracks):
        raise DatasetError(f"no track of {len(tracks)} gave fragments (first: {shown})")
    meta = {
        "builder": builder,
        "corpus": corpus,
        "cache_key": name,
        **params,
        "config_name": getattr(config, "name", None),
        "config_key": config.key(),
        "config": spec["config"],
        "cache_version": CACHE_VERSION,
        "n_tracks": len(tracks) - len(failed),
        "failed": failed,
        "silent_fragments": {t: r["dropped"] for t, r in zip(tracks["track_id"], results) if r.get("dropped")},
        "n_fragments": int(sum(r["X"].shape[0] for r in results if "X" in r)),
    }
    if not cache:
        ok = [(t, r) for t, r in zip(tracks["track_id"], results) if "X" in r]
        index = pd.concat(
            [pd.DataFrame({"track_id": t, "fragment": r["fragment"], "offset_s": r["offset_s"]}) for t, r in ok],
            ignore_index=True,
        )
        return Fragments(X=np.concatenate([r["X"] for _, r in ok]), index=index, config=config, meta=meta)
    _write(folder, results, tracks, meta)
    return _load(folder, config)


def genre_fragments(
    manifest: pd.DataFrame,
    config: Any = "thesis",
    *,
    per_track: int = 5,
    seed: int = 0,
    n_jobs: int | None = None,
    progress: bool = True,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> Fragments:
    """Thesis data-set builder 1: ``per_track`` fragments per track at random whole-second offsets.

    Parameters
    ----------
    manifest : pd.DataFrame
        At least ``track_id`` and ``path`` (absolute), e.g. from :func:`melrec_lib.corpora.melrec_synth.build`
        or :mod:`melrec_lib.io.collections`.  Its collection name
        (:func:`melrec_lib.io.manifest.corpus_name`) names the cache's top folder
        (``processed/<name>/...``).
    config : str or fragments.SpectrogramConfig
        ``"thesis"``, ``"corrected"`` or a configuration (see ``fragments.get_config``).
    per_track : int >= 1
        Fragments per track (thesis: 5).  Offsets are drawn by
        ``fragments.random_offsets(duration_s, per_track, seed=track_seed(seed, track_id))``.
    seed : int >= 0
        Master seed; each track's own seed is derived from ``(seed, track_id)``
        (:func:`track_seed`), so results do not depend on manifest order or on ``n_jobs``.
    n_jobs : int or None
        joblib workers over files; ``None`` = all cores.
    progress : bool
        Show a tqdm progress bar.
    cache : bool
        Store and reuse under :func:`cache_path`; ``False`` computes in memory only.
    cache_dir : path-like or None
        Root of the cache instead of ``paths.processed_dir()``.

    Returns
    -------
    Fragments
        ``X`` [shape=(n, 64, 128), float32], read-only memory map when cached.  Tracks that
        cannot be loaded (or are too short - the thesis' ``rand() % (duration - 8)`` needs at
        least 9 s - or wholly silent) are skipped with a warning and listed with the reason in
        ``meta["failed"]``; single silent fragments (which cannot be normalised) are dropped,
        keeping the track's other fragments and their numbers, and listed by offset in
        ``meta["silent_fragments"]``.

    Raises
    ------
    DatasetError
        if the manifest is empty or malformed, or no track gives a fragment.
    ParameterError
        for a bad ``per_track``, ``seed`` or ``config``.
    """
    per_track = check_int(per_track, "per_track", minimum=1)
    seed = check_int(seed, "seed")
    return _build(
        "genre",
        manifest,
        config,
        per_track=per_track,
        seed=seed,
        n_jobs=n_jobs,
        progress=progress,
        cache=cache,
        cache_dir=cache_dir,
    )


def scoring_fragments(
    manifest: pd.DataFrame,
    config: Any = "thesis",
    *,
    n_jobs: int | None = None,
    progress: bool = True,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> Fragments:
    """Thesis data-set builder 2: every consecutive 8 s fragment (offsets 0, 8, 16, ... s).

    ``floor(duration / 8)`` fragments per track (``fragments.consecutive_offsets``); a track's
    score in the thesis is the mean over these.  Parameters, return value and errors as in
    :func:`genre_fragments` (no ``per_track``/``seed``: nothing is random).
    """
    return _build(
        "scoring",
        manifest,
        config,
        per_track=0,
        seed=0,
        n_jobs=n_jobs,
        progress=progress,
        cache=cache,
        cache_dir=cache_dir,
    )


def track_fragments(
    path: str | os.PathLike,
    config: Any,
    *,
    builder: str = "scoring",
    per_track: int = 5,
    seed: int = 0,
    track_id: str | None = None,
) -> tuple[np.ndarray | None, str | None]:
    """One file's fragments as :func:`scoring_fragments` (``builder="scoring"``) or
    :func:`genre_fragments` (``"genre"``: ``per_track`` at offsets seeded by ``seed`` and
    ``track_id``, default the path) compute them, without a manifest or a cache: what a
    library embedder calls per file.

    Returns
    -------
    (X, None) with X [shape=(k, 64, n_mels), float32] (silent fragments left out), or
    (None, reason) when the file gives none (unreadable, too short, silent); never raises for a
    bad file.
    """
    from melrec_lib.dsp import fragments

    if builder not in ("scoring", "genre"):
        raise ParameterError(f"builder={builder!r} must be 'scoring' or 'genre'")
    config = fragments.get_config(config)
    result = _compute_track(str(path) if track_id is None else track_id, str(path), builder, per_track, seed, config)
    if "error" in result:
        return None, result["error"]
    return result["X"], None
