"""Scoring a library for one playlist from the library cache: the recommender's input, its networks, chunk by chunk.

What ``melrec recommend`` does once every file is embedded (:class:`melrec_lib.app.library.Store`),
written so that it is the same computation as notebook 08's method of the same pipeline
(:meth:`melrec_lib.app.pipeline.Pipeline.method`, scored by :mod:`melrec_lib.recsys.benchmark`):

* **input** (:class:`RecommenderInput`): the fragment embeddings as stored; with
  ``pipeline.mfcc``, each fragment embedding standardised over every fragment of the reference
  tracks (population standard deviation, a constant column left as it is) and followed by its
  track's MFCC statistics standardised over the reference tracks (sample standard deviation):
  :class:`FragmentFusion`, the same code that builds :mod:`~melrec_lib.recsys.benchmark`'s
  ``<source>+mfcc``.  The reference tracks are the playlist's and the candidates' (in notebook
  08: the whole collection);
* **fit**: the per-user network on the playlist's fragments against at most ``pool_fragments``
  of the candidates' (a seeded uniform sample), once per seed of
  :func:`melrec_lib.recsys.recommender.ensemble_seeds` (``pipeline.networks``);
* **scores**: a track's score is the mean of its fragments' scores, averaged over the networks,
  read one cache chunk at a time (the library is never in memory at once).

The training-free modes (:data:`TRAINING_FREE`, ``melrec recommend --mode centroid`` or
``knn``) fit nothing: :func:`track_table` reads each file's stored mean embedding, standardises
the table over the reference tracks (:func:`standardised_tracks`) and, with ``pipeline.mfcc``,
fuses it with the standardised MFCC statistics (:func:`fused_tracks`); :func:`centroid_scores`
or :func:`knn_scores` score the candidates.  Notebook 08's ``centroid@<source>`` and
``knn@<source>`` (:mod:`melrec_lib.recsys.benchmark`) call these same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from melrec_lib.errors import DatasetError

__all__ = [
    "FragmentFusion",
    "RecommenderInput",
    "score_candidates",
    "TRAINING_FREE",
    "KNN_K",
    "SCORERS",
    "standardised_tracks",
    "fused_tracks",
    "centroid_scores",
    "knn_scores",
    "track_table",
    "score_training_free",
    "rank_average",
    "FUSION_PARTS",
]


@dataclass(frozen=True)
class FragmentFusion:
    """The fragment-level fusion both stacks compute: notebook 08's ``z:<source>`` and ``<source>+<b>``.

    Each fragment embedding is standardised over a set of fragments (their mean, population
    standard deviation, a constant column divided by 1) and followed by per-track rows that the
    caller standardised (its track's MFCC statistics, or another source's track means).  The
    research stack (:func:`melrec_lib.recsys.benchmark._source_embedding`: the whole collection,
    in memory) and ``melrec recommend`` (:class:`RecommenderInput`: a library read one cache chunk
    at a time) both build their input with this class, so notebook 08's reported method is the
    code the command runs.

    Attributes
    ----------
    mean, scale : np.ndarray [shape=(d,), dtype=float64]
        Per column of the fragment embeddings: the mean, and the standard deviation (1 where 0).
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def over(cls, chunks: Callable[[], Iterable[np.ndarray]]) -> "FragmentFusion":
        """The statistics of every fragment in ``chunks()``, summed chunk by chunk in float64.

        Parameters
        ----------
        chunks : callable
            Returns a fresh iterable of fragment blocks [shape=(n_i, d)] each time it is called
            (it is read twice: the mean, then the squared deviations).  One block (an in-memory
            collection) gives numpy's ``X.mean(axis=0)`` and ``X.std(axis=0)`` of float64 ``X``
            bit for bit.

        Raises
        ------
        DatasetError
            No fragments at all.
        """
        total, n = None, 0
        for E in chunks():
            part = np.asarray(E).sum(axis=0, dtype=np.float64)
            total = part if total is None else total + part
            n += len(E)
        if total is None or n == 0:
            raise DatasetError("no fragments to standardise the recommender's input over")
        mean = total / n
        sq = None
        for E in chunks():
            part = ((np.asarray(E, np.float64) - mean) ** 2).sum(axis=0)
            sq = part if sq is None else sq + part
        sd = np.sqrt(sq / n)
        return cls(mean=mean, scale=np.where(sd > 0, sd, 1.0))

    def __call__(self, E: np.ndarray, *track_rows: np.ndarray) -> np.ndarray:
        """The fused rows of fragments ``E`` (float32): ``E`` standardised, then each of ``track_rows``.

        Parameters
        ----------
        E : np.ndarray [shape=(n, d)]
        *track_rows : np.ndarray [shape=(n, d_k)]
            Already standardised per-track features, one row per fragment (its track's).
        """
        Z = (np.asarray(E, np.float64) - self.mean) / self.scale
        return np.concatenate([Z, *track_rows], axis=1).astype(np.float32)


class RecommenderInput:
    """The per-fragment rows the recommender reads for stored files (see the module docstring).

    Parameters
    ----------
    store : melrec_lib.app.library.Store
        The fragment embeddings.
    reference : sequence of Entry
        The tracks whose statistics standardise the input (only used with ``mfcc_store``).
    mfcc_store : melrec_lib.app.library.Store, optional
        MFCC statistics of the same files (:func:`melrec_lib.app.pipeline.mfcc_embedder`): given,
        the input is the standardised fusion; ``None``, the embeddings as they are.

    Raises
    ------
    DatasetError
        A reference track without MFCC statistics.
    """

    def __init__(self, store: Any, reference: Sequence[Any], *, mfcc_store: Any = None) -> None:
        self.store = store
        self.mfcc_store = mfcc_store
        self.fusion: FragmentFusion | None = None
        if mfcc_store is None:
            return
        reference = list(reference)
        if sum(e.n_fragments for e in reference) == 0:
            raise DatasetError("no fragments to standardise the recommender's input over")
        # over the reference's fragments, one cache chunk at a time (two passes)
        self.fusion = FragmentFusion.over(lambda: (E for E, _ in store.iter_fragments(reference)))
        M = self._mfcc_rows(reference).astype(np.float64)
        msd = M.std(axis=0, ddof=1) if len(M) > 1 else np.zeros(M.shape[1])
        self.mfcc_mean, self.mfcc_scale = M.mean(axis=0), np.where(msd > 0, msd, 1.0)
        # each track's standardised statistics, read from the MFCC cache once
        self._standardised = dict(zip((e.key for e in reference), (M - self.mfcc_mean) / self.mfcc_scale))

    def _mfcc_rows(self, entries: Sequence[Any]) -> np.ndarray:
        found = self.mfcc_store.lookup([e.key for e in entries])
        missing = [e.path for e, f in zip(entries, found) if f is None or f.status]
        if missing:
            raise DatasetError(f"no MFCC statistics for {len(missing)} track(s), e.g. {missing[0]}")
        return self.mfcc_store.means(found)

    def _track_table(self, entries: Sequence[Any]) -> np.ndarray | None:
        """The standardised MFCC statistics of ``entries`` (rows in their order); ``None`` without fusion."""
        if self.mfcc_store is None:
            return None
        new = list({e.key: e for e in entries if e.key not in self._standardised}.values())
        if new:  # tracks outside the reference: read once, standardised with the reference's statistics
            rows = (self._mfcc_rows(new).astype(np.float64) - self.mfcc_mean) / self.mfcc_scale
            self._standardised.update(zip((e.key for e in new), rows))
        if not entries:
            return np.zeros((0, int(self.mfcc_store.embedder.dim)))
        return np.stack([self._standardised[e.key] for e in entries])

    def _fuse(self, E: np.ndarray, owner: np.ndarray, table: np.ndarray | None) -> np.ndarray:
        if self.fusion is None or table is None:
            return E
        return self.fusion(E, table[owner])

    def chunks(self, entries: Sequence[Any]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(X, owner)`` one cache chunk at a time (``owner``: the row's position in ``entries``)."""
        entries = list(entries)
        table = self._track_table(entries)
        for E, owner in self.store.iter_fragments(entries):
            yield self._fuse(E, owner, table), owner

    def rows(self, entries: Sequence[Any]) -> np.ndarray:
        """Every row of ``entries`` (for a small set: the playlist)."""
        entries = list(entries)
        E, owner = self.store.fragments(entries, with_owner=True)
        return self._fuse(E, owner, self._track_table(entries))

    def sample(self, entries: Sequence[Any], *, size: int, seed: int) -> np.ndarray:
        """At most ``size`` rows of ``entries``, a seeded uniform sample (:meth:`Store.sample_fragments`)."""
        entries = list(entries)
        E, owner = self.store.sample_fragments(entries, size=size, seed=seed, with_owner=True)
        return self._fuse(E, owner, self._track_table(entries))


def score_candidates(
    inputs: RecommenderInput,
    liked: Sequence[Any],
    candidates: Sequence[Any],
    *,
    mode: Any,
    epochs: int,
    seed: int,
    networks: int = 1,
    pool_fragments: int = 32768,
) -> np.ndarray:
    """The score of every candidate: the mean fragment score, averaged over ``networks`` networks.

    Parameters
    ----------
    inputs : RecommenderInput
    liked, candidates : sequences of Entry
        The playlist's tracks (positives) and the tracks to rank (their fragments, sampled, are
        the negatives).
    mode : str or RecommenderConfig
        The recommender's training (a :data:`melrec_lib.recsys.recommender.CONFIGS` name).
    epochs, seed : int
    networks : int > 0
        Seeds :func:`melrec_lib.recsys.recommender.ensemble_seeds` ``(seed, networks)``.
    pool_fragments : int > 0
        At most this many negative fragments.

    Returns
    -------
    np.ndarray [shape=(len(candidates),), dtype=float64]
    """
    from melrec_lib.recsys import recommender

    P = inputs.rows(liked)
    N = inputs.sample(candidates, size=pool_fragments, seed=seed)
    recs = [recommender.fit(P, N, epochs=epochs, mode=mode, seed=s) for s in recommender.ensemble_seeds(seed, networks)]
    del N
    sums = np.zeros((len(recs), len(candidates)))
    counts = np.zeros(len(candidates))
    for X, owner in inputs.chunks(candidates):
        for j, rec in enumerate(recs):
            np.add.at(sums[j], owner, rec.predict(X).astype(np.float64))
        np.add.at(counts, owner, 1)
    if np.any(counts == 0):
        raise DatasetError(f"{int(np.sum(counts == 0))} candidate(s) have no fragments to score")
    return (sums / counts).mean(axis=0)


# --------------------------------------------------------------------------------------------
# training-free scorers: one track-feature table, one implementation for both stacks
# --------------------------------------------------------------------------------------------
#: The ``melrec recommend --mode`` values that train nothing: :func:`centroid_scores` and
#: :func:`knn_scores` on :func:`track_table`'s features (notebook 08's ``centroid@<source>`` and
#: ``knn@<source>``).
TRAINING_FREE = ("centroid", "knn")

#: How many of the playlist's tracks :func:`knn_scores` averages a candidate's similarity over:
#: its nearest three (all of them in a playlist of three or fewer).
KNN_K = 3


def standardised_tracks(T: Any) -> Any:
    """One per-track feature table standardised over its tracks (notebook 08's ``track_features``).

    Each column minus its mean, divided by its sample standard deviation (``ddof=1``, pandas'
    default; a constant column is divided by 1), in float64.

    Parameters
    ----------
    T : pd.DataFrame [shape=(n_tracks, d)]
        Rows: track ids.

    Returns
    -------
    pd.DataFrame [shape=(n_tracks, d), dtype=float64]
    """
    T = T.astype(np.float64)
    sd = T.std(axis=0).replace(0, 1.0)
    return (T - T.mean(axis=0)) / sd


def fused_tracks(tables: Sequence[tuple[str, Any]]) -> Any:
    """Standardised tables of several sources side by side, each divided by the square root of its width.

    So every source weighs the same in a cosine, whatever its width (notebook 08's ``a+b``).

    Parameters
    ----------
    tables : sequence of (str, pd.DataFrame)
        ``(source name, standardised table)``; the name prefixes the table's columns.

    Returns
    -------
    pd.DataFrame
        The tracks every table has (in the first table's order), the sources' columns in order.
    """
    import pandas as pd

    common = tables[0][1].index
    for _, t in tables[1:]:
        common = common.intersection(t.index)
    blocks = [
        (t.loc[common] / np.sqrt(t.shape[1])).set_axis([f"{name}:{c}" for c in t.columns], axis=1) for name, t in tables
    ]
    return pd.concat(blocks, axis=1)


def _rows(features: Any, playlist: Sequence[str], candidates: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    missing = [t for t in list(playlist) + list(candidates) if t not in features.index]
    if missing:
        raise DatasetError(f"no features for track(s) {missing[:5]}")
    return features.loc[list(playlist)].to_numpy(), features.loc[list(candidates)].to_numpy()


def _unit(A: np.ndarray) -> np.ndarray:
    """Rows divided by their length (a zero row stays zero)."""
    n = np.linalg.norm(A, axis=-1, keepdims=True)
    return A / np.where(n > 0, n, 1.0)


def centroid_scores(features: Any, playlist: Sequence[str], candidates: Sequence[str]) -> Any:
    """Cosine similarity of each candidate's feature vector to the mean of the playlist's.

    Notebook 08's ``centroid@<source>`` and ``melrec recommend --mode centroid``.

    Parameters
    ----------
    features : pd.DataFrame
        One row per track id (standardised features: :func:`standardised_tracks`, :func:`fused_tracks`).
    playlist, candidates : sequences of track ids (all in ``features``)

    Returns
    -------
    pd.Series
        ``score`` per candidate, indexed by ``track_id`` in the given order.

    Raises
    ------
    DatasetError
        A track without features.
    """
    import pandas as pd

    P, C = _rows(features, playlist, candidates)
    c = P.mean(axis=0)
    denom = np.linalg.norm(C, axis=1) * np.linalg.norm(c)
    sims = (C @ c) / np.where(denom > 0, denom, 1.0)
    return pd.Series(sims, index=pd.Index(list(candidates), name="track_id"), name="score")


def knn_scores(features: Any, playlist: Sequence[str], candidates: Sequence[str], *, k: int = KNN_K) -> Any:
    """Mean cosine similarity of each candidate to its ``k`` most similar playlist tracks.

    Notebook 08's ``knn@<source>`` and ``melrec recommend --mode knn``.  The ``k`` nearest, not
    the whole playlist: the mean similarity to every playlist track is the cosine to the mean of
    the playlist's unit vectors times a constant of the playlist, so it ranks almost as
    :func:`centroid_scores` does; the nearest few let a candidate close to one style of a
    playlist of several styles score high, where the centroid lies between the styles.

    Parameters
    ----------
    features : pd.DataFrame
        One row per track id (standardised features).
    playlist, candidates : sequences of track ids (all in ``features``)
    k : int > 0
        Playlist tracks averaged over (all of them when the playlist has no more).

    Returns
    -------
    pd.Series
        ``score`` per candidate, indexed by ``track_id`` in the given order.

    Raises
    ------
    DatasetError
        A track without features, or an empty playlist.
    ParameterError
        ``k`` below 1.
    """
    import pandas as pd

    from melrec_lib.errors import check_int

    check_int(k, "k", minimum=1)
    P, C = _rows(features, playlist, candidates)
    if len(P) == 0:
        raise DatasetError("an empty playlist has no nearest tracks")
    S = _unit(C) @ _unit(P).T  # (candidates, playlist) cosine similarities
    k = min(k, S.shape[1])
    nearest = -np.sort(-S, axis=1)[:, :k]
    return pd.Series(nearest.mean(axis=1), index=pd.Index(list(candidates), name="track_id"), name="score")


def rank_average(*scores: Any) -> np.ndarray:
    """The mean of each candidate's rank under several scorers, ranks scaled to ``(0, 1]``.

    The fusion of the centroid and the per-user network (notebook 08's ``fusion-<config>@<source>``
    and ``melrec recommend``'s pipelines with ``fusion``): the two scores live on different
    scales (a cosine, a sigmoid output), their ranks do not.  A candidate's rank is its position
    from the lowest score (1) to the highest (``n``), ties sharing their mean position
    (``scipy.stats.rankdata``, method ``average``), divided by ``n``.

    Parameters
    ----------
    *scores : array-like [shape=(n,)]
        One score per candidate from each scorer, candidates in the same order (at least one).

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]

    Raises
    ------
    ParameterError
        No scorer, scores of different lengths, or a NaN score.

    Examples
    --------
    >>> rank_average([0.9, 0.1, 0.5], [3.0, 2.0, 1.0]).tolist()
    [1.0, 0.5, 0.5]
    """
    from scipy.stats import rankdata

    from melrec_lib.errors import ParameterError

    if not scores:
        raise ParameterError("rank_average needs at least one scorer's scores")
    arrays = [np.asarray(s, dtype=np.float64).reshape(-1) for s in scores]
    if len({len(a) for a in arrays}) != 1:
        raise ParameterError(f"rank_average: scores of different lengths {[len(a) for a in arrays]}")
    if any(np.isnan(a).any() for a in arrays):
        raise ParameterError("rank_average: a score is NaN")
    n = len(arrays[0])
    if n == 0:
        return np.zeros(0)
    return np.mean([rankdata(a, method="average") / n for a in arrays], axis=0)


#: What a fusion rank-averages: the training-free centroid on the track features and the per-user
#: network(s) on the fragments, both of the same feature source.
FUSION_PARTS = ("centroid", "network")

#: The scorer of each training-free mode.
SCORERS: dict[str, Callable[..., Any]] = {"centroid": centroid_scores, "knn": knn_scores}


def track_table(store: Any, reference: Sequence[Any], *, mfcc_store: Any = None) -> Any:
    """The standardised track features of stored files: notebook 08's ``track_features(<source>[+mfcc])``.

    Each file's mean embedding as the cache stores it (:meth:`melrec_lib.app.library.Store.means`:
    the float32 mean of its fragments before they are stored in float16, read one cache chunk at a
    time: only this ``(n_tracks, dim)`` table is held), standardised over ``reference``
    (:func:`standardised_tracks`); with ``mfcc_store``, fused with the files' MFCC statistics
    standardised the same way (:func:`fused_tracks`, embeddings first, as in
    ``<source>+mfcc``).

    Parameters
    ----------
    store : melrec_lib.app.library.Store
    reference : sequence of Entry
        The tracks (the playlist's and the candidates'); rows are named by ``Entry.key``.
    mfcc_store : melrec_lib.app.library.Store, optional

    Returns
    -------
    pd.DataFrame [shape=(n_tracks, d)]
        Indexed by ``Entry.key``, in ``reference``'s order (each file once).

    Raises
    ------
    DatasetError
        No reference track, one without fragments, or one without MFCC statistics.
    """
    import pandas as pd

    reference = list({e.key: e for e in reference}.values())
    if not reference:
        raise DatasetError("no tracks to standardise the features over")
    empty = [e.path for e in reference if not e.n_fragments]
    if empty:
        raise DatasetError(f"no fragments for {len(empty)} track(s), e.g. {empty[0]}")
    keys = pd.Index([e.key for e in reference], name="track_id")
    tables = [("embeddings", standardised_tracks(pd.DataFrame(store.means(reference), index=keys)))]
    if mfcc_store is not None:
        found = mfcc_store.lookup(list(keys))
        missing = [e.path for e, f in zip(reference, found) if f is None or f.status]
        if missing:
            raise DatasetError(f"no MFCC statistics for {len(missing)} track(s), e.g. {missing[0]}")
        tables.append(("mfcc", standardised_tracks(pd.DataFrame(mfcc_store.means(found), index=keys))))
    return tables[0][1] if len(tables) == 1 else fused_tracks(tables)


def score_training_free(
    mode: str, store: Any, liked: Sequence[Any], candidates: Sequence[Any], *, mfcc_store: Any = None
) -> np.ndarray:
    """The score of every candidate by a training-free ``mode`` (:data:`TRAINING_FREE`).

    :data:`SCORERS` ``[mode]`` on :func:`track_table` of the playlist's and the candidates' tracks.

    Parameters
    ----------
    mode : {"centroid", "knn"}
    store, mfcc_store : melrec_lib.app.library.Store
        As :func:`track_table`.
    liked, candidates : sequences of Entry

    Returns
    -------
    np.ndarray [shape=(len(candidates),), dtype=float64]

    Raises
    ------
    ParameterError
        ``mode`` is not training-free.
    DatasetError
        As :func:`track_table`.
    """
    from melrec_lib.errors import ParameterError

    if mode not in SCORERS:
        raise ParameterError(f"mode must be one of {TRAINING_FREE} here, got {mode!r}")
    features = track_table(store, list(liked) + list(candidates), mfcc_store=mfcc_store)
    scores = SCORERS[mode](features, [e.key for e in liked], [e.key for e in candidates])
    return scores.to_numpy(np.float64)
