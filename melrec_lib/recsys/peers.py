"""The peers that music-library users run, as methods of the benchmark: bliss and musly.

* **bliss** (``bliss-audio`` on PyPI, the Python bindings of bliss-rs; behind blissify for MPD
  and the LMS/Jellyfin mixers): 20 features per song (tempo, zero-crossing rate, spectral
  centroid/rolloff/flatness and loudness mean and spread, 10 chroma interval features), each
  scaled to [-1, 1] by bliss itself; two songs are as close as the Euclidean distance of their
  features (bliss' README: ``np.linalg.norm(np.array(song1.analysis) - np.array(song2.analysis))``).
  :func:`bliss_features` analyses every file with ``bliss_audio.Song(path)`` (bliss decodes with
  its own bundled FFmpeg).
* **musly** (``pymusly``, the bindings of libmusly, Schnitzer's MIREX audio-similarity system):
  by default its ``timbre`` method, one Gaussian over 25 MFCCs per track, compared with the
  Jensen-Shannon divergence and normalised by mutual proximity over the library.
  :func:`musly_tracks` analyses every file's decoded 22,050 Hz mono samples
  (:func:`melrec_lib.io.audio.load`) with ``track_from_audiodata`` (no system FFmpeg);
  :func:`musly_distances` calls ``set_style`` on the library's tracks, registers them
  (``add_tracks``) and asks ``compute_similarity``, which returns *distances*, for every pair.

Each is used the way it is used for a playlist (:data:`PEER_METHODS`, scored by
:func:`score`): ``musly-mean`` and ``bliss-mean`` rank a candidate by minus its mean distance to
the playlist's tracks; ``bliss-centroid`` by minus its Euclidean distance to the centroid of the
playlist's bliss features (musly's Gaussians have no centroid in its API).  The scorers have the
shape of :func:`melrec_lib.recsys.scoring.centroid_scores`: (features, playlist ids, candidate
ids) -> scores, higher is better.

Both packages are optional (``pip install 'melrec[peers]'``; ``make env`` installs them):
without one, its analysis raises :class:`~melrec_lib.errors.MissingDependencyError`.  Scoring
needs only the analysed tables.  Analyses run per file in worker processes
(:func:`melrec_lib.parallel.parallel_map`) and are cached under
``processed_dir()/<collection>/`` (written atomically), keyed by the package's version and every
file's path, size and modification time, like :func:`melrec_lib.recsys.benchmark.mfcc_statistics`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from melrec_lib.errors import AudioError, DatasetError, MissingDependencyError, ParameterError, check_int

__all__ = [
    "PEERS",
    "PEER_METHODS",
    "BLISS_FEATURES",
    "MUSLY_SAMPLE_RATE",
    "MUSLY_STYLE_MAX",
    "require",
    "bliss_song_features",
    "bliss_features",
    "MuslyTracks",
    "musly_track",
    "musly_tracks",
    "musly_distances",
    "peer_features",
    "mean_distance_scores",
    "euclidean_mean_scores",
    "euclidean_centroid_scores",
    "score",
]

#: The peers and the import name, distribution name and tested version of each.
PEERS: dict[str, tuple[str, str, str]] = {
    "bliss": ("bliss_audio", "bliss-audio", "0.1.11"),
    "musly": ("pymusly", "pymusly", "2.0.0"),
}

#: The benchmark methods of the peers, and the table (:func:`peer_features` key) each reads.
PEER_METHODS: dict[str, str] = {
    "musly-mean": "musly",
    "bliss-mean": "bliss",
    "bliss-centroid": "bliss",
}

#: bliss' 20 features in the order of ``Song.analysis`` (bliss-rs' ``AnalysisIndex``); the
#: names are the keys of ``Song.analysis_dict``.
BLISS_FEATURES = (
    "tempo",
    "zcr",
    "mean_spectral_centroid",
    "std_spectral_centroid",
    "mean_spectral_rolloff",
    "std_spectral_rolloff",
    "mean_spectral_flatness",
    "std_spectral_flatness",
    "mean_loudness",
    "std_loudness",
    *(f"chroma{i}" for i in range(1, 11)),
)

#: The sample rate ``track_from_audiodata`` expects (mono float samples).
MUSLY_SAMPLE_RATE = 22050
#: At most this many tracks set musly's style (its documented rule of thumb); a larger library
#: gives a seeded random sample of this size.
MUSLY_STYLE_MAX = 1000


def require(peer: str) -> Any:
    """The imported package of ``peer`` (``"bliss"`` or ``"musly"``).

    Raises
    ------
    MissingDependencyError
        if it is not installed; the message says how to install it.
    ParameterError
        for an unknown peer.
    """
    if peer not in PEERS:
        raise ParameterError(f"unknown peer {peer!r}; choose from {tuple(PEERS)}")
    module, dist, version = PEERS[peer]
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{peer} needs the optional package {dist} (tested: {dist}=={version}), which is not installed; "
            f"install melrec's peers extra with `make env` or `pip install 'melrec[peers]'`"
        ) from exc


def _version(peer: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PEERS[peer][1])
    except PackageNotFoundError:  # importable but not installed by pip: key on the module instead
        return str(getattr(require(peer), "__version__", "unknown"))


def _existing_files(m: pd.DataFrame) -> None:
    for p in m["path"]:
        if not os.path.isfile(p):
            raise AudioError(f"{p}: cannot read (no such file)")


def _cache_path(m: pd.DataFrame, stem: str, key_parts: list) -> Any:
    from melrec_lib import paths
    from melrec_lib.cache import file_stamp, stable_hash
    from melrec_lib.io.manifest import corpus_name

    key = stable_hash([*key_parts, list(m["track_id"]), [[str(p), *file_stamp(p)] for p in m["path"]]])
    return paths.processed_dir() / corpus_name(m) / f"{stem}-{key}"


# --------------------------------------------------------------------------------------- bliss


def bliss_song_features(path: str | os.PathLike) -> np.ndarray:
    """bliss' analysis of one file: ``bliss_audio.Song(path).analysis``.

    Returns
    -------
    np.ndarray [shape=(20,), dtype=float64]
        In the order of :data:`BLISS_FEATURES`.

    Raises
    ------
    MissingDependencyError
        without ``bliss-audio``.
    AudioError
        naming a file that does not exist or that bliss cannot decode or analyse.
    """
    bliss_audio = require("bliss")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"{path}: cannot read (no such file)")
    try:
        song = bliss_audio.Song(path)
        values = np.asarray(song.analysis, dtype=np.float64)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # bliss 0.1.11 panics (pyo3's PanicException, a BaseException)
        raise AudioError(f"{path}: bliss cannot analyse it ({exc})") from exc
    if values.shape != (len(BLISS_FEATURES),) or not np.all(np.isfinite(values)):
        raise AudioError(f"{path}: bliss returned {values.shape} features, not {len(BLISS_FEATURES)} finite values")
    return values


def bliss_features(
    manifest: pd.DataFrame, *, n_jobs: int | None = None, progress: bool = True, cache: bool = True
) -> pd.DataFrame:
    """bliss' 20 features of every track of a collection, cached.

    Parameters
    ----------
    manifest : pd.DataFrame
        ``track_id`` and ``path``; its collection name names the cache folder:
        ``processed_dir()/<name>/bliss-<key>.csv``, keyed by bliss' version and every file's
        path, size and modification time.
    n_jobs : int or None
        Worker processes over files (``None``: all cores).
    progress : bool
    cache : bool
        Read and write the cache.

    Returns
    -------
    pd.DataFrame [shape=(n_tracks, 20)]
        Indexed by track id, columns :data:`BLISS_FEATURES`, bliss' own values (float32 in
        bliss, exact in float64).

    Raises
    ------
    MissingDependencyError
        without ``bliss-audio`` (checked before any file is read).
    AudioError
        naming a file that cannot be read.
    """
    from melrec_lib.cache import atomic_file
    from melrec_lib.io.manifest import check as check_manifest
    from melrec_lib.parallel import parallel_map

    m = check_manifest(manifest, need=("track_id", "path"))
    require("bliss")
    _existing_files(m)
    out_path = _cache_path(m, "bliss", ["bliss", _version("bliss")]).with_suffix(".csv")
    if cache and out_path.is_file():
        return pd.read_csv(out_path, index_col="track_id", dtype={"track_id": str})
    rows = parallel_map(
        bliss_song_features,
        [str(p) for p in m["path"]],
        n_jobs=n_jobs,
        desc="bliss analysis",
        unit="track",
        progress=progress,
    )
    df = pd.DataFrame(
        np.asarray(rows, dtype=np.float64),
        index=pd.Index(m["track_id"].astype(str), name="track_id"),
        columns=list(BLISS_FEATURES),
    )
    if cache:
        with atomic_file(out_path) as tmp:
            df.to_csv(tmp)
    return df


# --------------------------------------------------------------------------------------- musly


@dataclass(frozen=True)
class MuslyTracks:
    """musly's analyses of a collection: one serialised ``MuslyTrack`` per track.

    Attributes
    ----------
    track_ids : np.ndarray [shape=(n,), dtype=str]
    data : np.ndarray [shape=(n, track_size), dtype=uint8]
        ``MuslyJukebox.serialize_track`` of each track, in the order of ``track_ids``.
    method : str
        The musly analysis method (``"timbre"``, ``"mandelellis"``).
    """

    track_ids: np.ndarray
    data: np.ndarray
    method: str


def _musly_jukebox(method: str):
    pymusly = require("musly")
    if method not in pymusly.get_musly_methods():
        raise ParameterError(f"unknown musly method {method!r}; choose from {pymusly.get_musly_methods()}")
    return pymusly.MuslyJukebox(method)


def musly_track(path: str | os.PathLike, *, method: str = "timbre") -> bytes:
    """musly's analysis of one file, serialised (``MuslyJukebox.serialize_track``).

    The file is decoded by :func:`melrec_lib.io.audio.load` to mono at 22,050 Hz, and all its
    samples are passed to ``MuslyJukebox(method).track_from_audiodata``.

    Raises
    ------
    MissingDependencyError
        without ``pymusly``.
    AudioError
        naming a file that cannot be decoded, or that musly cannot model (too short, silent).
    """
    from melrec_lib.io import audio

    jukebox = _musly_jukebox(method)
    y, _ = audio.load(path, sr=MUSLY_SAMPLE_RATE, mono=True)
    if y.size == 0 or not np.any(y):
        raise AudioError(f"{path}: silent or empty, musly cannot model it")
    try:
        track = jukebox.track_from_audiodata(y)
    except Exception as exc:  # pymusly.MuslyError
        raise AudioError(f"{path}: musly cannot analyse it ({exc})") from exc
    data = jukebox.serialize_track(track)
    if not np.all(np.isfinite(np.frombuffer(data, dtype=">f4"))):  # musly serialises big-endian float32
        raise AudioError(f"{path}: musly's model of it is not finite (too short or silent?)")
    return data


def musly_tracks(
    manifest: pd.DataFrame,
    *,
    method: str = "timbre",
    n_jobs: int | None = None,
    progress: bool = True,
    cache: bool = True,
) -> MuslyTracks:
    """musly's analysis of every track of a collection (:func:`musly_track`), cached.

    The cache is ``processed_dir()/<name>/musly-<key>.npz``, keyed by the method, pymusly's
    version and every file's path, size and modification time.

    Raises
    ------
    MissingDependencyError
        without ``pymusly`` (checked before any file is read).
    AudioError
        naming a file that cannot be read.
    """
    from melrec_lib.cache import atomic_file
    from melrec_lib.io.manifest import check as check_manifest
    from melrec_lib.parallel import parallel_map

    m = check_manifest(manifest, need=("track_id", "path"))
    _musly_jukebox(method)
    _existing_files(m)
    ids = np.asarray(m["track_id"].astype(str).to_numpy(), dtype=str)
    out_path = _cache_path(m, "musly", ["musly", _version("musly"), method]).with_suffix(".npz")
    if cache and out_path.is_file():
        with np.load(out_path, allow_pickle=False) as z:
            return MuslyTracks(track_ids=z["track_ids"], data=z["data"], method=str(z["method"]))
    blobs = parallel_map(
        musly_track,
        [(str(p),) for p in m["path"]],
        star=True,
        n_jobs=n_jobs,
        desc="musly analysis",
        unit="track",
        progress=progress,
    )
    data = np.stack([np.frombuffer(b, dtype=np.uint8) for b in blobs])
    tracks = MuslyTracks(track_ids=ids, data=data, method=method)
    if cache:
        with atomic_file(out_path) as tmp:
            np.savez(tmp, track_ids=ids, data=data, method=np.asarray(method))
    return tracks


def musly_distances(tracks: MuslyTracks, *, style_seed: int = 0) -> pd.DataFrame:
    """musly's distance between every pair of a library's tracks.

    A jukebox of ``tracks.method`` gets its style from the library (``set_style``: every track,
    or a random sample of :data:`MUSLY_STYLE_MAX` drawn with ``style_seed`` from a larger
    library), registers every track (``add_tracks``) and computes, for each track as the seed,
    ``compute_similarity`` to every track: musly's distances (mutual proximity for ``timbre``).

    Returns
    -------
    pd.DataFrame [shape=(n, n)]
        Row: the seed track; column: the other track (both indexed by track id); 0 on the
        diagonal.

    Raises
    ------
    MissingDependencyError
        without ``pymusly``.
    DatasetError
        for fewer than two tracks or repeated track ids.
    """
    check_int(style_seed, "style_seed")
    ids = [str(t) for t in tracks.track_ids]
    if len(ids) < 2 or len(set(ids)) != len(ids):
        raise DatasetError(f"musly needs at least two tracks with unique ids, got {len(ids)} ({len(set(ids))} unique)")
    jukebox = _musly_jukebox(tracks.method)
    objs = [jukebox.deserialize_track(bytes(row)) for row in np.asarray(tracks.data, dtype=np.uint8)]
    style = objs
    if len(objs) > MUSLY_STYLE_MAX:
        pick = np.random.default_rng(style_seed).choice(len(objs), MUSLY_STYLE_MAX, replace=False)
        style = [objs[i] for i in np.sort(pick)]
    jukebox.set_style(style)
    pairs = list(enumerate(objs))
    jukebox.add_tracks(pairs)
    D = np.array([jukebox.compute_similarity(pair, pairs) for pair in pairs], dtype=np.float64)
    index = pd.Index(ids, name="track_id")
    return pd.DataFrame(D, index=index, columns=pd.Index(ids, name="candidate"))


def peer_features(
    manifest: pd.DataFrame,
    *,
    peers: Sequence[str] = tuple(PEERS),
    n_jobs: int | None = None,
    progress: bool = True,
    cache: bool = True,
) -> dict[str, pd.DataFrame]:
    """The tables the peer methods read, for ``EvalData(peers=...)``.

    Returns
    -------
    dict
        ``"bliss"``: :func:`bliss_features`; ``"musly"``: :func:`musly_distances` of
        :func:`musly_tracks` (the timbre method); only the peers asked for.

    Raises
    ------
    MissingDependencyError
        if a peer asked for is not installed.
    """
    out: dict[str, pd.DataFrame] = {}
    for peer in peers:
        require(peer)
        if peer == "bliss":
            out[peer] = bliss_features(manifest, n_jobs=n_jobs, progress=progress, cache=cache)
        else:
            out[peer] = musly_distances(musly_tracks(manifest, n_jobs=n_jobs, progress=progress, cache=cache))
    return out


# ------------------------------------------------------------------------------------- scoring


def _rows(table: pd.DataFrame, ids: Sequence[str], what: str) -> np.ndarray:
    ids = list(ids)
    if not ids:
        raise DatasetError(f"no {what} tracks")
    missing = [t for t in ids if t not in table.index]
    if missing:
        raise DatasetError(f"no features for {what} track(s) {missing[:5]}")
    return table.loc[ids].to_numpy(np.float64)


def _series(values: np.ndarray, candidates: Sequence[str]) -> pd.Series:
    return pd.Series(values, index=pd.Index(list(candidates), name="track_id"), name="score")


def mean_distance_scores(distances: pd.DataFrame, playlist: Sequence[str], candidates: Sequence[str]) -> pd.Series:
    """Minus the mean distance of each candidate to the playlist's tracks (musly's use).

    Parameters
    ----------
    distances : pd.DataFrame
        Distances from each seed track (row) to each track (column), e.g. :func:`musly_distances`.
    playlist, candidates : sequences of track ids (rows and columns of ``distances``)
    """
    D = _rows(distances, playlist, "playlist")
    missing = [t for t in candidates if t not in distances.columns]
    if missing:
        raise DatasetError(f"no distances to candidate track(s) {missing[:5]}")
    cols = distances.columns.get_indexer(list(candidates))
    return _series(-D[:, cols].mean(axis=0), candidates)


def euclidean_mean_scores(features: pd.DataFrame, playlist: Sequence[str], candidates: Sequence[str]) -> pd.Series:
    """Minus the mean Euclidean distance of each candidate's features to the playlist's tracks'
    (bliss' distance, used as musly's is)."""
    P = _rows(features, playlist, "playlist")
    C = _rows(features, candidates, "candidate")
    D = np.sqrt(((C[:, None, :] - P[None, :, :]) ** 2).sum(axis=2))
    return _series(-D.mean(axis=1), candidates)


def euclidean_centroid_scores(features: pd.DataFrame, playlist: Sequence[str], candidates: Sequence[str]) -> pd.Series:
    """Minus the Euclidean distance of each candidate's features to the playlist's centroid."""
    c = _rows(features, playlist, "playlist").mean(axis=0)
    C = _rows(features, candidates, "candidate")
    return _series(-np.linalg.norm(C - c, axis=1), candidates)


_SCORERS = {
    "musly-mean": mean_distance_scores,
    "bliss-mean": euclidean_mean_scores,
    "bliss-centroid": euclidean_centroid_scores,
}


def score(
    method: str, tables: Mapping[str, pd.DataFrame] | None, playlist: Sequence[str], candidates: Sequence[str]
) -> pd.Series:
    """Scores of ``candidates`` by the peer method ``method`` (:data:`PEER_METHODS`).

    Parameters
    ----------
    method : str
    tables : mapping
        :func:`peer_features`' tables (``EvalData.peers``).
    playlist, candidates : sequences of track ids

    Raises
    ------
    ParameterError
        for an unknown method, or when its table was not loaded.
    """
    if method not in PEER_METHODS:
        raise ParameterError(f"unknown peer method {method!r}; choose from {tuple(PEER_METHODS)}")
    peer = PEER_METHODS[method]
    if not tables or peer not in tables:
        raise ParameterError(
            f"method {method!r} needs the {peer} table: EvalData(peers=peers.peer_features(manifest)) "
            f"(have {sorted(tables or {})})"
        )
    return _SCORERS[method](tables[peer], playlist, candidates)
