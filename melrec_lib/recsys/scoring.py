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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from melrec_lib.errors import DatasetError

__all__ = ["FragmentFusion", "RecommenderInput", "score_candidates"]


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
