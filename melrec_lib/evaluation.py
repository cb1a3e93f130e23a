"""Measuring recommendations: metrics, the thesis' two playlist experiments, simulated users, baselines.

The thesis judged its rankings by eye (5.1, 5.2).  This module measures them:

* **Metrics** of a ranking against the tracks a user likes: ROC-AUC (``sklearn``), precision@k
  and nDCG@k with binary relevance; rankings break score ties by track id
  (:func:`melrec_lib.recommender.rank`).  :func:`confidence_interval` gives a mean and a 95 %
  bootstrap interval over users (``scipy.stats.bootstrap``).
* **The thesis' experiments**: :func:`experiment1` (a playlist of one sub-style, 3 random
  fragments per track, negatives from the genre-training fragments, 20 epochs, 18 test tracks)
  and :func:`experiment2` (a diverse playlist of 31 tracks, 6 held out, all fragments of the
  other 25, an 800-track negative pool, 500 epochs).
* **A fair evaluation** (:func:`simulate_users`, :func:`evaluate`, :func:`summarize`): many
  simulated users whose liked tracks are one sub-style (protocol ``"similar"``) or several
  sub-styles of several genres (protocol ``"diverse"``); held-out liked tracks come from artists
  absent from the training playlist, and the test negatives from artists absent from the
  negative pool.  Every method ranks the same candidates: random, cosine similarity to the
  playlist centroid on MFCC statistics (librosa) or on preprocessor embeddings, logistic
  regression on embeddings (sklearn), the thesis-faithful and the corrected recommender, and
  the corrected recommender on every preprocessor cut point.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from . import paths, recommender
from .errors import DatasetError, ParameterError, check_int

METRICS = ("roc_auc", "precision@10", "ndcg@10")
PROTOCOLS = ("similar", "diverse")
#: Every method :func:`evaluate` knows; ``recommender-corrected-<cut>`` exist for each cut.
BASE_METHODS = ("random", "mfcc-centroid", "embedding-centroid", "logreg",
                "recommender-thesis", "recommender-corrected")
DEFAULT_CUT = "pool2"


# ============================================================================================
# metrics
# ============================================================================================
def _ranked_relevance(scores: pd.Series, liked: Iterable) -> np.ndarray:
    """Relevance (0/1) of the tracks in ranking order (score desc, ties by track id)."""
    ranking = recommender.rank(scores)
    liked = set(liked)
    return ranking["track_id"].isin(liked).to_numpy().astype(np.float64)


def _check_scores(scores: Any) -> pd.Series:
    if isinstance(scores, dict):
        scores = pd.Series(scores, dtype=np.float64)
    if not isinstance(scores, pd.Series):
        raise ParameterError(f"scores must be a pandas Series indexed by track id, not {type(scores).__name__}")
    if len(scores) == 0:
        raise ParameterError("scores is empty: nothing was ranked")
    if scores.index.has_duplicates:
        raise ParameterError(f"scores repeat track id {scores.index[scores.index.duplicated()][0]!r}")
    if not np.all(np.isfinite(scores.to_numpy(np.float64))):
        raise ParameterError("scores contain NaN or infinite values")
    return scores.astype(np.float64)


def _check_k(k: Any) -> int:
    return check_int(k, "k", minimum=1)


def roc_auc(scores: pd.Series, liked: Iterable) -> float:
    """Area under the ROC curve of ``scores`` separating ``liked`` tracks from the rest.

    Parameters
    ----------
    scores : pd.Series
        Score per candidate track (index = track id).
    liked : iterable of track ids
        The relevant candidates; ids not in ``scores`` are ignored.

    Returns
    -------
    float in [0, 1]
        ``sklearn.metrics.roc_auc_score`` (ties count one half); 0.5 = chance.

    Raises
    ------
    ParameterError
        if the candidates are all liked or all not liked (AUC undefined).
    """
    from sklearn.metrics import roc_auc_score

    s = _check_scores(scores)
    y = s.index.isin(set(liked))
    if y.all() or not y.any():
        raise ParameterError(f"ROC-AUC needs liked and not-liked candidates; got {int(y.sum())} liked of {len(y)}")
    return float(roc_auc_score(y, s.to_numpy()))


def precision_at_k(scores: pd.Series, liked: Iterable, k: int = 10) -> float:
    """Share of liked tracks among the top ``k`` of the ranking (``k`` capped at the candidates)."""
    rel = _ranked_relevance(_check_scores(scores), liked)
    k = min(_check_k(k), len(rel))
    return float(rel[:k].sum() / k)


def ndcg_at_k(scores: pd.Series, liked: Iterable, k: int = 10) -> float:
    """Normalised discounted cumulative gain of the top ``k`` with binary relevance.

    ``DCG@k = sum_{i<k} rel_i / log2(i + 2)``, divided by the DCG of an ideal ranking.

    Raises
    ------
    ParameterError
        if no candidate is liked (nDCG undefined).
    """
    rel = _ranked_relevance(_check_scores(scores), liked)
    k = min(_check_k(k), len(rel))
    n_rel = int(rel.sum())
    if n_rel == 0:
        raise ParameterError("nDCG needs at least one liked candidate")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = discounts[: min(n_rel, k)].sum()
    return float((rel[:k] * discounts).sum() / ideal)


def ranking_metrics(scores: pd.Series, liked: Iterable, *, k: int = 10) -> dict[str, float]:
    """``{"roc_auc", "precision@k", "ndcg@k"}`` of one ranking."""
    liked = set(liked)
    return {"roc_auc": roc_auc(scores, liked), f"precision@{k}": precision_at_k(scores, liked, k),
            f"ndcg@{k}": ndcg_at_k(scores, liked, k)}


def confidence_interval(values: Any, *, level: float = 0.95, n_resamples: int = 2000,
                        seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval of ``values`` (``scipy.stats.bootstrap``).

    Parameters
    ----------
    values : array [shape=(n,)], finite, n >= 1
    level : float in (0, 1)
    n_resamples : int > 0
    seed : int >= 0

    Returns
    -------
    (mean, low, high)
        For a single value, or identical values, the interval is that value.
    """
    from scipy import stats

    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(v) == 0:
        raise ParameterError("confidence_interval needs at least one value")
    if not np.all(np.isfinite(v)):
        raise ParameterError("confidence_interval: values contain NaN or infinity")
    if not 0 < level < 1:
        raise ParameterError(f"level must lie in (0, 1), not {level!r}")
    mean = float(v.mean())
    if len(v) == 1 or np.ptp(v) == 0:
        return mean, mean, mean
    res = stats.bootstrap((v,), np.mean, confidence_level=level, n_resamples=n_resamples,
                          method="percentile", rng=np.random.default_rng(seed))
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


# ============================================================================================
# data: fragments, embeddings and MFCC statistics of a corpus
# ============================================================================================
def _check_manifest(manifest: pd.DataFrame, need: Sequence[str] = ("track_id", "path", "genre", "substyle", "artist")) -> pd.DataFrame:
    if not isinstance(manifest, pd.DataFrame):
        raise ParameterError(f"manifest must be a DataFrame, not {type(manifest).__name__}")
    missing = [c for c in need if c not in manifest.columns]
    if missing:
        raise DatasetError(f"manifest lacks column(s) {missing}")
    if len(manifest) == 0:
        raise DatasetError("manifest is empty")
    out = manifest.copy()
    out["track_id"] = out["track_id"].astype(str)
    return out.reset_index(drop=True)


@dataclass
class Embedded:
    """Fragment embeddings of many tracks.

    Attributes
    ----------
    X : np.ndarray [shape=(n_fragments, d), float32]
    track : np.ndarray [shape=(n_fragments,), str]
        The track of each row.
    cut : str
    """

    X: np.ndarray
    track: np.ndarray
    cut: str

    def rows(self, track_ids: Iterable[str]) -> np.ndarray:
        """Row numbers of the fragments of ``track_ids`` (in this object's order)."""
        return np.flatnonzero(np.isin(self.track, np.asarray(list(track_ids), dtype=object).astype(str)))

    def take(self, track_ids: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        r = self.rows(track_ids)
        return self.X[r], self.track[r]

    def track_means(self) -> pd.DataFrame:
        """Mean embedding of each track (rows = track ids, sorted)."""
        return pd.DataFrame(self.X).groupby(self.track, sort=True).mean()


def embed(manifest: pd.DataFrame, trained: Any, *, corpus: str, cut: str = DEFAULT_CUT,
          builder: str = "scoring", per_track: int = 5, seed: int = 0, progress: bool = True) -> Embedded:
    """Preprocessor embeddings of a manifest's fragments (both steps cached on disk).

    Parameters
    ----------
    manifest : pd.DataFrame
    trained : genre.TrainedGenreModel
        Its ``config`` makes the fragments; its preprocessor at ``cut`` embeds them.
    corpus : str
        Cache name of the collection (``features``' ``corpus``).
    cut : str
        ``models.CUTS`` member.
    builder : {"scoring", "genre"}
        Consecutive 8 s fragments (thesis builder 2) or ``per_track`` random ones (builder 1).
    per_track, seed : int
        For ``builder="genre"``.
    """
    from . import features, genre

    m = _check_manifest(manifest, ("track_id", "path"))
    if builder == "scoring":
        frags = features.scoring_fragments(m, trained.config, corpus=corpus, progress=progress)
    elif builder == "genre":
        frags = features.genre_fragments(m, trained.config, per_track=per_track, seed=seed,
                                         corpus=corpus, progress=progress)
    else:
        raise ParameterError(f"builder must be 'scoring' or 'genre', not {builder!r}")
    X = genre.embeddings(frags, trained, cut=cut, progress=progress)
    return Embedded(X=np.asarray(X, np.float32), track=frags.index["track_id"].astype(str).to_numpy(), cut=cut)


def mfcc_statistics(manifest: pd.DataFrame, *, corpus: str, n_mfcc: int = 20, sr: int = 22050,
                    progress: bool = True, cache: bool = True) -> pd.DataFrame:
    """Mean and standard deviation over time of each MFCC of every track (librosa), cached.

    Parameters
    ----------
    manifest : pd.DataFrame
        ``track_id`` and ``path``.
    corpus : str
        Cache name: ``processed_dir()/<corpus>/mfcc-<key>.csv``, keyed by ``n_mfcc``, ``sr`` and
        every file's path, size and modification time.
    n_mfcc : int > 0
    sr : int > 0
        Audio is loaded with ``librosa.load(path, sr=sr, mono=True)``.

    Returns
    -------
    pd.DataFrame [shape=(n_tracks, 2 * n_mfcc)]
        Indexed by track id; columns ``mfcc0_mean .. mfcc{n-1}_mean, mfcc0_std, ...``.

    Raises
    ------
    AudioError
        naming a file that cannot be read.
    """
    import librosa
    from tqdm.auto import tqdm

    from .errors import AudioError

    m = _check_manifest(manifest, ("track_id", "path"))
    check_int(n_mfcc, "n_mfcc", minimum=1)
    stamps = []
    for p in m["path"]:
        try:
            st = os.stat(p)
        except OSError as exc:
            raise AudioError(f"{p}: cannot read ({exc.strerror})") from exc
        stamps.append([str(p), st.st_size, st.st_mtime_ns])
    key = hashlib.sha1(json.dumps([n_mfcc, sr, list(m["track_id"]), stamps]).encode()).hexdigest()[:16]
    out_path = paths.processed_dir() / corpus / f"mfcc-{key}.csv"
    if cache and out_path.is_file():
        return pd.read_csv(out_path, index_col="track_id", dtype={"track_id": str})
    cols = [f"mfcc{i}_mean" for i in range(n_mfcc)] + [f"mfcc{i}_std" for i in range(n_mfcc)]
    rows = []
    for p in tqdm(m["path"], desc="MFCC statistics", unit="track", disable=not progress, leave=False):
        try:
            y, _ = librosa.load(p, sr=sr, mono=True)
        except Exception as exc:  # librosa/soundfile raise many kinds
            raise AudioError(f"{p}: cannot be decoded ({exc})") from exc
        if y.size == 0:
            raise AudioError(f"{p}: no samples")
        M = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc)
        rows.append(np.concatenate([M.mean(axis=1), M.std(axis=1)]))
    df = pd.DataFrame(np.asarray(rows, dtype=np.float64), index=pd.Index(m["track_id"], name="track_id"), columns=cols)
    if cache:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_path.with_suffix(f".tmp{os.getpid()}")
        df.to_csv(tmp)
        os.replace(tmp, out_path)
    return df


# ============================================================================================
# the thesis' experiments (5.1, 5.2)
# ============================================================================================
@dataclass
class ExperimentResult:
    """What one playlist experiment produced.

    Attributes
    ----------
    ranking : pd.DataFrame
        The test tracks ranked: ``rank, track_id, score, liked, genre, substyle, artist`` (+ the
        ``relation`` to the playlist: "same sub-style", "same genre", "other genre").
    max_score : float
        Mean score of the training positives (the thesis' "maximum score").
    metrics : dict
        ROC-AUC, precision@k and nDCG@k of the liked test tracks against the rest.
    model : recommender.Recommender
    playlist : list of str
        Training playlist track ids.
    info : dict
        Sizes: positives, negative pool, epochs, mode, notes.
    """

    ranking: pd.DataFrame
    max_score: float
    metrics: dict[str, float]
    model: Any
    playlist: list[str]
    info: dict = field(default_factory=dict)


def _relation(row: pd.Series, groups: set[tuple[str, str]]) -> str:
    if (row["genre"], row["substyle"]) in groups:
        return "same sub-style"
    if row["genre"] in {g for g, _ in groups}:
        return "same genre"
    return "other genre"


def _pick(rng: np.random.Generator, items: Sequence, n: int) -> list:
    items = list(items)
    if n >= len(items):
        return list(rng.permutation(np.asarray(items, dtype=object)))
    return list(rng.choice(np.asarray(items, dtype=object), size=n, replace=False))


def _finish_experiment(rec, pos_X, test: Embedded, manifest: pd.DataFrame, liked: set, groups: set,
                       playlist: list[str], k: int, info: dict) -> ExperimentResult:
    scores = rec.score_tracks(test.X, test.track)
    ranking = recommender.rank(scores)
    meta = manifest.set_index("track_id")
    for col in ("genre", "substyle", "artist"):
        ranking[col] = meta.loc[ranking["track_id"], col].to_numpy()
    ranking["liked"] = ranking["track_id"].isin(liked)
    ranking["relation"] = [_relation(r, groups) for _, r in ranking.iterrows()]
    max_score = float(np.mean(rec.predict(pos_X)))
    metrics: dict[str, float] = {}
    if ranking["liked"].any() and not ranking["liked"].all():
        metrics = ranking_metrics(scores, liked, k=k)
    info["max_score_is_mean_of"] = f"{len(pos_X)} training positives"
    return ExperimentResult(ranking=ranking[["rank", "track_id", "score", "liked", "relation", "genre",
                                             "substyle", "artist"]],
                            max_score=max_score, metrics=metrics, model=rec, playlist=playlist, info=info)


def experiment1(
    manifest: pd.DataFrame,
    trained: Any,
    *,
    corpus: str,
    genre: str = "metal",
    substyle: str = "nu-metal",
    n_playlist: int = 21,
    fragments_per_track: int = 3,
    n_test: int = 18,
    epochs: int = recommender.EXPERIMENT1_EPOCHS,
    mode: str = "thesis",
    cut: str = DEFAULT_CUT,
    k: int = 5,
    seed: int = 0,
    progress: bool = True,
) -> ExperimentResult:
    """Thesis experiment 1 (5.1): a playlist of one sub-style.

    ``n_playlist`` tracks of ``(genre, substyle)`` give ``fragments_per_track`` random 8 s
    fragments each (21 x 3 = 63 positives); the negative pool is the genre-training fragments
    (5 random per track) of every track outside the playlist and the test set; each of
    ``epochs`` epochs draws as many negatives as positives.  ``n_test`` test tracks, a third
    each of the same sub-style (from artists not in the playlist where possible), the same
    genre's other sub-style(s) and other genres, are cut into consecutive fragments and ranked.

    Parameters
    ----------
    manifest : pd.DataFrame
        With ``genre, substyle, artist``.
    trained : genre.TrainedGenreModel
    corpus : str
        Cache name of the manifest's collection.
    n_playlist, fragments_per_track, n_test, epochs : int > 0
        Shrunk (with a note in ``info["notes"]``) when the corpus has too few tracks.
    mode : {"thesis", "corrected"}
    k : int
        For precision@k / nDCG@k (few test tracks are liked: default 5).

    Returns
    -------
    ExperimentResult
    """
    m = _check_manifest(manifest)
    rng = np.random.default_rng(recommender._check_seed(seed))
    group = m[(m["genre"] == genre) & (m["substyle"] == substyle)]
    if len(group) < 2:
        raise DatasetError(f"sub-style {genre}/{substyle} has {len(group)} track(s); experiment 1 needs at least 2")
    notes = []
    n_same = max(1, n_test // 3)
    # same-sub-style test tracks from artists outside the playlist where the corpus allows
    artists = _pick(rng, sorted(group["artist"].unique()), len(group["artist"].unique()))
    held_artists, held = [], []
    for a in artists[::-1]:
        if len(held) >= n_same or len(held_artists) >= len(artists) - 1:
            break
        held_artists.append(a)
        held.extend(group.loc[group["artist"] == a, "track_id"])
    train_pool = group.loc[~group["artist"].isin(held_artists), "track_id"].tolist()
    if not held:  # one artist only: hold out tracks, not artists
        notes.append("the sub-style has one artist: same-sub-style test tracks share it with the playlist")
        held = _pick(rng, group["track_id"], max(1, len(group) // 3))
        train_pool = [t for t in group["track_id"] if t not in set(held)]
    held = _pick(rng, sorted(held), n_same)
    playlist = sorted(_pick(rng, sorted(train_pool), n_playlist))
    if len(playlist) < n_playlist:
        notes.append(f"playlist shrunk to {len(playlist)} tracks (the corpus has too few of {genre}/{substyle})")
    same_genre = m[(m["genre"] == genre) & (m["substyle"] != substyle)]["track_id"]
    other = m[m["genre"] != genre]["track_id"]
    n_other = n_test - len(held) - min(n_same, len(same_genre))
    test_ids = held + _pick(rng, sorted(same_genre), min(n_same, len(same_genre))) + \
        _pick(rng, sorted(other), max(n_other, 1))
    used = set(playlist) | set(test_ids)
    rest = m[~m["track_id"].isin(used)]
    pos = embed(m[m["track_id"].isin(playlist)], trained, corpus=corpus, cut=cut, builder="genre",
                per_track=fragments_per_track, seed=seed, progress=progress)
    neg = embed(rest, trained, corpus=corpus, cut=cut, builder="genre", per_track=5, seed=seed, progress=progress)
    test = embed(m[m["track_id"].isin(test_ids)], trained, corpus=corpus, cut=cut, progress=progress)
    rec = recommender.fit(pos.X, neg.X, epochs=epochs, config=mode, seed=seed)
    info = {"n_playlist": len(playlist), "n_positives": len(pos.X), "n_negative_pool": len(neg.X),
            "n_negative_tracks": len(rest), "n_test": len(test_ids), "epochs": epochs,
            "mode": recommender.get_config(mode).name, "cut": cut, "notes": notes}
    return _finish_experiment(rec, pos.X, test, m, set(group["track_id"]), {(genre, substyle)},
                              playlist, k, info)


def experiment2(
    manifest: pd.DataFrame,
    trained: Any,
    *,
    corpus: str,
    groups: Sequence[tuple[str, str]] | None = None,
    n_liked: int = 31,
    n_heldout: int = 6,
    n_validation_negative: int = 6,
    pool_size: int = 800,
    epochs: int = recommender.EXPERIMENT2_EPOCHS,
    mode: str = "thesis",
    cut: str = DEFAULT_CUT,
    k: int = 3,
    seed: int = 0,
    progress: bool = True,
) -> ExperimentResult:
    """Thesis experiment 2 (5.2): a diverse playlist.

    ``n_liked`` tracks drawn from several ``(genre, substyle)`` groups (default: 4 groups of 4
    different genres, chosen with ``seed``); ``n_heldout`` of them are held out for validation
    (at random, as in the thesis); all consecutive fragments of the others are positives; the
    negative pool is every fragment of ``pool_size`` other tracks (or of every other track, if
    the corpus has fewer: ``info["notes"]`` says so); per epoch as many negatives as positives.
    The validation table ranks the held-out liked tracks (+) with ``n_validation_negative``
    not-liked tracks (-) kept out of the pool.

    Returns
    -------
    ExperimentResult
    """
    m = _check_manifest(manifest)
    rng = np.random.default_rng(recommender._check_seed(seed))
    notes = []
    all_groups = sorted(set(zip(m["genre"], m["substyle"])))
    if groups is None:
        genres = _pick(rng, sorted({g for g, _ in all_groups}), 4)
        groups = [tuple(_pick(rng, [gs for gs in all_groups if gs[0] == g], 1)[0]) for g in genres]
    groups = [tuple(g) for g in groups]
    unknown = [g for g in groups if g not in set(all_groups)]
    if unknown:
        raise ParameterError(f"unknown (genre, substyle) group(s) {unknown}")
    in_groups = m[[(g, s) in set(groups) for g, s in zip(m["genre"], m["substyle"])]]
    liked = sorted(_pick(rng, sorted(in_groups["track_id"]), n_liked))
    if len(liked) < n_liked:
        notes.append(f"only {len(liked)} liked tracks available")
    if len(liked) < 2:
        raise DatasetError(f"experiment 2 needs at least 2 liked tracks, the groups {groups} have {len(liked)}")
    n_heldout = min(n_heldout, len(liked) - 1)
    heldout = sorted(_pick(rng, liked, n_heldout))
    playlist = sorted(set(liked) - set(heldout))
    outside = sorted(set(m["track_id"]) - set(in_groups["track_id"]))
    val_neg = sorted(_pick(rng, outside, n_validation_negative))
    rest = sorted(set(m["track_id"]) - set(liked) - set(val_neg)
                  - (set(in_groups["track_id"]) - set(liked)))
    pool = sorted(_pick(rng, rest, pool_size))
    if len(pool) < pool_size:
        notes.append(f"negative pool: all {len(pool)} tracks of the corpus outside the playlist, the liked "
                     f"sub-styles and the validation set (fewer than {pool_size})")
    pos = embed(m[m["track_id"].isin(playlist)], trained, corpus=corpus, cut=cut, progress=progress)
    neg = embed(m[m["track_id"].isin(pool)], trained, corpus=corpus, cut=cut, progress=progress)
    test = embed(m[m["track_id"].isin(heldout + val_neg)], trained, corpus=corpus, cut=cut, progress=progress)
    rec = recommender.fit(pos.X, neg.X, epochs=epochs, config=mode, seed=seed)
    info = {"groups": [list(g) for g in groups], "n_playlist": len(playlist), "n_heldout": len(heldout),
            "n_positives": len(pos.X), "n_pool_tracks": len(pool), "n_negative_pool": len(neg.X),
            "n_validation_negative": len(val_neg), "epochs": epochs,
            "mode": recommender.get_config(mode).name, "cut": cut, "notes": notes}
    return _finish_experiment(rec, pos.X, test, m, set(liked), set(groups), playlist, k, info)


# ============================================================================================
# simulated users
# ============================================================================================
@dataclass(frozen=True)
class UserSplit:
    """One simulated user and the tracks each role gets.

    Attributes
    ----------
    name : str
    protocol : {"similar", "diverse"}
    seed : int
    groups : tuple of (genre, substyle)
        What the user likes (every track of these groups).
    playlist : tuple of str
        Liked tracks the recommender is trained on.
    heldout : tuple of str
        Liked tracks to find again; their artists do not appear in ``playlist``.
    pool : tuple of str
        Not-liked tracks the negatives are drawn from.
    negatives : tuple of str
        Not-liked test tracks; their artists do not appear in ``pool``.
    """

    name: str
    protocol: str
    seed: int
    groups: tuple
    playlist: tuple
    heldout: tuple
    pool: tuple
    negatives: tuple

    @property
    def candidates(self) -> list[str]:
        """The tracks every method ranks: held-out liked + test negatives."""
        return list(self.heldout) + list(self.negatives)


def _eligible_groups(m: pd.DataFrame) -> list[tuple[str, str]]:
    n_art = m.groupby(["genre", "substyle"])["artist"].nunique()
    return sorted(g for g, n in n_art.items() if n >= 2)


def simulate_users(
    manifest: pd.DataFrame,
    *,
    protocol: str,
    n_users: int,
    seed: int = 0,
    playlist_size: int | None = None,
    groups_per_user: int = 3,
    heldout_artist_fraction: float = 0.3,
    pool_fraction: float = 0.5,
) -> list[UserSplit]:
    """Draw simulated users with artist-disjoint held-out liked tracks and test negatives.

    Protocol ``"similar"`` (thesis 5.1): the user likes one ``(genre, substyle)`` group; users
    cycle through the groups (in a seeded order).  Protocol ``"diverse"`` (5.2): the user likes
    ``groups_per_user`` groups of at least two different genres.  In each liked group a share
    ``heldout_artist_fraction`` of its artists (at least one, and never all) is held out; the
    playlist is drawn from the other artists' tracks (at most ``playlist_size``: 21 / 25 by
    default, the thesis' sizes), evenly over the groups.  The not-liked tracks are split by
    artist into the negative pool (``pool_fraction`` of the artists of each genre) and test
    negatives.  Groups with fewer than two artists cannot be held out artist-disjointly and are
    never liked.

    Parameters
    ----------
    manifest : pd.DataFrame
        ``track_id, genre, substyle, artist``.
    protocol : {"similar", "diverse"}
    n_users : int > 0
    seed : int >= 0
        Same seed, same users.

    Returns
    -------
    list of UserSplit

    Raises
    ------
    DatasetError
        if no group has two artists, or (diverse) the eligible groups span fewer than 2 genres.
    """
    m = _check_manifest(manifest, ("track_id", "genre", "substyle", "artist"))
    if protocol not in PROTOCOLS:
        raise ParameterError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")
    check_int(n_users, "n_users", minimum=1)
    if not 0 < heldout_artist_fraction < 1 or not 0 < pool_fraction < 1:
        raise ParameterError("heldout_artist_fraction and pool_fraction must lie in (0, 1)")
    seed = recommender._check_seed(seed)
    rng = np.random.default_rng([seed, PROTOCOLS.index(protocol)])
    eligible = _eligible_groups(m)
    if not eligible:
        raise DatasetError("no (genre, substyle) group has two artists: held-out liked tracks cannot be "
                           "artist-disjoint from the playlist")
    if protocol == "diverse" and len({g for g, _ in eligible}) < 2:
        raise DatasetError("the diverse protocol needs eligible sub-styles in at least two genres")
    size = playlist_size or (21 if protocol == "similar" else 25)
    order = _pick(rng, eligible, len(eligible))
    users = []
    for u in range(n_users):
        if protocol == "similar":
            groups = [tuple(order[u % len(order)])]
        else:
            n_g = min(groups_per_user, len(eligible))
            while True:
                idx = rng.choice(len(eligible), size=n_g, replace=False)
                groups = [eligible[i] for i in sorted(idx)]
                if len({g for g, _ in groups}) >= 2:
                    break
        gset = set(groups)
        liked_mask = np.array([(g, s) in gset for g, s in zip(m["genre"], m["substyle"])])
        play_candidates: list[list[str]] = []
        heldout: list[str] = []
        for g in groups:
            gm = m[(m["genre"] == g[0]) & (m["substyle"] == g[1])]
            arts = _pick(rng, sorted(gm["artist"].unique()), gm["artist"].nunique())
            n_h = min(max(1, int(round(heldout_artist_fraction * len(arts)))), len(arts) - 1)
            held_a = set(arts[:n_h])
            heldout += sorted(gm.loc[gm["artist"].isin(held_a), "track_id"])
            play_candidates.append(sorted(gm.loc[~gm["artist"].isin(held_a), "track_id"]))
        playlist: list[str] = []
        per = [len(c) for c in play_candidates]
        take = _share(size, per)
        for cands, n in zip(play_candidates, take):
            playlist += _pick(rng, cands, n)
        rest = m[~liked_mask]
        pool, negatives = [], []
        for g, gm in rest.groupby("genre", sort=True):
            arts = _pick(rng, sorted(gm["artist"].unique()), gm["artist"].nunique())
            n_pool = max(1, int(round(pool_fraction * len(arts)))) if len(arts) > 1 else 1
            if len(arts) > 1:
                n_pool = min(n_pool, len(arts) - 1)
            pool_a = set(arts[:n_pool])
            pool += list(gm.loc[gm["artist"].isin(pool_a), "track_id"])
            negatives += list(gm.loc[~gm["artist"].isin(pool_a), "track_id"])
        if not negatives:  # a single not-liked artist per genre everywhere
            raise DatasetError("too few not-liked artists to keep test negatives out of the negative pool")
        users.append(UserSplit(
            name=f"{protocol}-s{seed}-u{u:03d}", protocol=protocol, seed=seed, groups=tuple(groups),
            playlist=tuple(sorted(playlist)), heldout=tuple(sorted(heldout)), pool=tuple(sorted(pool)),
            negatives=tuple(sorted(negatives)),
        ))
    return users


def _share(total: int, available: Sequence[int]) -> list[int]:
    """Split ``total`` over groups as evenly as possible without exceeding what each has."""
    take = [0] * len(available)
    left = min(total, sum(available))
    while left > 0:
        open_ = [i for i in range(len(available)) if take[i] < available[i]]
        for i in open_:
            if left == 0:
                break
            take[i] += 1
            left -= 1
    return take


# ============================================================================================
# methods (each returns a score per candidate track)
# ============================================================================================
@dataclass
class EvalData:
    """Everything the methods read: fragment embeddings per cut and MFCC statistics per track."""

    embeddings: dict[str, Embedded]
    mfcc: pd.DataFrame | None = None

    def track_features(self, kind: str) -> pd.DataFrame:
        """Per-track feature table, standardised over all tracks: ``"mfcc"`` or a cut name."""
        key = f"_std_{kind}"
        if key not in self.__dict__:
            if kind == "mfcc":
                if self.mfcc is None:
                    raise ParameterError("no MFCC statistics loaded (EvalData.mfcc is None)")
                T = self.mfcc.astype(np.float64)
            else:
                T = self.embeddings[kind].track_means().astype(np.float64)
            sd = T.std(axis=0).replace(0, 1.0)
            self.__dict__[key] = (T - T.mean(axis=0)) / sd
        return self.__dict__[key]


def centroid_scores(features: pd.DataFrame, playlist: Sequence[str], candidates: Sequence[str]) -> pd.Series:
    """Cosine similarity of each candidate's feature vector to the mean of the playlist's.

    Parameters
    ----------
    features : pd.DataFrame
        One row per track id (standardised features).
    playlist, candidates : sequences of track ids (all in ``features``)
    """
    missing = [t for t in list(playlist) + list(candidates) if t not in features.index]
    if missing:
        raise DatasetError(f"no features for track(s) {missing[:5]}")
    c = features.loc[list(playlist)].to_numpy().mean(axis=0)
    C = features.loc[list(candidates)].to_numpy()
    denom = np.linalg.norm(C, axis=1) * np.linalg.norm(c)
    sims = (C @ c) / np.where(denom > 0, denom, 1.0)
    return pd.Series(sims, index=pd.Index(list(candidates), name="track_id"), name="score")


def logreg_scores(emb: Embedded, playlist: Sequence[str], pool: Sequence[str], candidates: Sequence[str],
                  *, C: float = 0.1, seed: int = 0) -> pd.Series:
    """Logistic regression (sklearn, standardised inputs, balanced classes) on fragment embeddings.

    Positives: the playlist's fragments; negatives: the pool's.  A track's score is the mean
    predicted probability of its fragments.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    P, _ = emb.take(playlist)
    N, _ = emb.take(pool)
    X = np.concatenate([P, N])
    y = np.r_[np.ones(len(P)), np.zeros(len(N))]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000,
                                                             random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny smoke data
        clf.fit(X, y)
    T, tracks = emb.take(candidates)
    return recommender.track_scores(clf.predict_proba(T)[:, 1], tracks)


def recommender_scores(emb: Embedded, playlist: Sequence[str], pool: Sequence[str], candidates: Sequence[str],
                       *, mode: str, epochs: int, seed: int = 0) -> pd.Series:
    """The per-user recommender (thesis or corrected mode) trained on the playlist's fragments."""
    P, _ = emb.take(playlist)
    N, _ = emb.take(pool)
    rec = recommender.fit(P, N, epochs=epochs, config=mode, seed=seed)
    T, tracks = emb.take(candidates)
    return rec.score_tracks(T, tracks)


def method_names(cuts: Sequence[str] = ()) -> list[str]:
    """:data:`BASE_METHODS` plus ``recommender-corrected-<cut>`` for each extra cut."""
    return list(BASE_METHODS) + [f"recommender-corrected-{c}" for c in cuts if c != DEFAULT_CUT]


def score_user(method: str, user: UserSplit, data: EvalData, *, epochs: int, seed: int = 0) -> pd.Series:
    """Scores of ``user``'s candidates by ``method`` (see :func:`method_names`)."""
    cand = user.candidates
    if method == "random":
        rng = np.random.default_rng([seed, int(hashlib.sha1(user.name.encode()).hexdigest()[:8], 16)])
        return pd.Series(rng.random(len(cand)), index=pd.Index(cand, name="track_id"), name="score")
    if method == "mfcc-centroid":
        return centroid_scores(data.track_features("mfcc"), user.playlist, cand)
    if method == "embedding-centroid":
        return centroid_scores(data.track_features(DEFAULT_CUT), user.playlist, cand)
    if method == "logreg":
        return logreg_scores(data.embeddings[DEFAULT_CUT], user.playlist, user.pool, cand, seed=seed)
    if method in ("recommender-thesis", "recommender-corrected"):
        return recommender_scores(data.embeddings[DEFAULT_CUT], user.playlist, user.pool, cand,
                                  mode=method.split("-")[1], epochs=epochs, seed=seed)
    if method.startswith("recommender-corrected-"):
        cut = method[len("recommender-corrected-"):]
        if cut not in data.embeddings:
            raise ParameterError(f"method {method!r}: no embeddings for cut {cut!r} (have {sorted(data.embeddings)})")
        return recommender_scores(data.embeddings[cut], user.playlist, user.pool, cand,
                                  mode="corrected", epochs=epochs, seed=seed)
    raise ParameterError(f"unknown method {method!r}; choose from {method_names(tuple(data.embeddings))}")


def evaluate(users: Sequence[UserSplit], data: EvalData, *, methods: Sequence[str], epochs: int,
             k: int = 10, progress: bool = True) -> pd.DataFrame:
    """Every method on every user: one row per (user, method) with the metrics.

    Returns
    -------
    pd.DataFrame
        ``protocol, seed, user, method, roc_auc, precision@k, ndcg@k, n_playlist, n_heldout,
        n_candidates``.
    """
    from tqdm.auto import tqdm

    recommender._check_epochs(epochs)
    rows = []
    total = len(users) * len(methods)
    with tqdm(total=total, desc="evaluation", unit="fit", disable=not progress) as bar:
        for user in users:
            for method in methods:
                scores = score_user(method, user, data, epochs=epochs, seed=user.seed)
                met = ranking_metrics(scores, user.heldout, k=k)
                rows.append({"protocol": user.protocol, "seed": user.seed, "user": user.name, "method": method,
                             **met, "n_playlist": len(user.playlist), "n_heldout": len(user.heldout),
                             "n_candidates": len(user.candidates)})
                bar.update()
    return pd.DataFrame(rows)


def summarize(results: pd.DataFrame, *, metrics: Sequence[str] = METRICS, level: float = 0.95,
              seed: int = 0) -> pd.DataFrame:
    """Mean and bootstrap interval of each metric per (protocol, method), over users.

    Returns
    -------
    pd.DataFrame
        ``protocol, method, n_users`` and ``<metric>, <metric>_lo, <metric>_hi`` per metric.
    """
    if len(results) == 0:
        raise ParameterError("no results to summarise")
    out = []
    order = list(dict.fromkeys(results["method"]))
    for (protocol, method), g in results.groupby(["protocol", "method"], sort=False):
        row: dict[str, Any] = {"protocol": protocol, "method": method, "n_users": len(g)}
        for metric in metrics:
            mean, lo, hi = confidence_interval(g[metric].to_numpy(), level=level, seed=seed)
            row.update({metric: mean, f"{metric}_lo": lo, f"{metric}_hi": hi})
        out.append(row)
    df = pd.DataFrame(out)
    df["_o"] = df["method"].map(order.index)
    return df.sort_values(["protocol", "_o"]).drop(columns="_o").reset_index(drop=True)


def simulate_all(manifest: pd.DataFrame, *, n_users: int, seeds: Sequence[int],
                 protocols: Sequence[str] = PROTOCOLS, **kwargs: Any) -> list[UserSplit]:
    """:func:`simulate_users` for every protocol and seed (``n_users`` per protocol per seed)."""
    return [u for p in protocols for s in seeds for u in simulate_users(manifest, protocol=p, n_users=n_users,
                                                                        seed=s, **kwargs)]


def within_percent_curves(ranking: pd.DataFrame, max_score: float, *, step: float = 1.0) -> dict:
    """Figure 5.1's curves from an experiment's ranking: ``label -> (percents, counts)``.

    One curve for all test tracks and one per relation to the playlist (same sub-style, same
    genre, other genre), counting tracks whose score is within x % of ``max_score``.
    """
    x = np.arange(0.0, 100.0 + step / 2, step)
    curves = {"all test tracks": (x, recommender.within_percent(ranking["score"], max_score, x))}
    for rel in ("same sub-style", "same genre", "other genre"):
        sel = ranking["relation"] == rel
        if sel.any():
            curves[rel] = (x, recommender.within_percent(ranking.loc[sel, "score"], max_score, x))
    return curves


def validation_table(result: ExperimentResult) -> pd.DataFrame:
    """The thesis' validation table (5.2): ``+`` liked / ``-`` not liked, track, score, ascending."""
    r = result.ranking.sort_values(["score", "track_id"]).reset_index(drop=True)
    return pd.DataFrame({"": np.where(r["liked"], "+", "-"), "track": r["artist"] + " / " + r["track_id"],
                         "genre / sub-style": r["genre"] + " / " + r["substyle"], "score": r["score"]})


def compare_modes(results: dict[str, ExperimentResult]) -> pd.DataFrame:
    """One row per mode: maximum score, mean score of liked and not-liked test tracks, metrics."""
    rows = []
    for mode, res in results.items():
        r = res.ranking
        rows.append({"mode": mode, "max_score (mean on training positives)": res.max_score,
                     "mean score, liked test tracks": r.loc[r["liked"], "score"].mean(),
                     "mean score, other test tracks": r.loc[~r["liked"], "score"].mean(),
                     **res.metrics})
    return pd.DataFrame(rows).set_index("mode")


def first_users(users: Sequence[UserSplit], n: int) -> list[UserSplit]:
    """The first ``n`` users of every (protocol, seed): a subset for the costlier methods."""
    check_int(n, "n", minimum=1)
    seen: dict[tuple[str, int], int] = {}
    out = []
    for u in users:
        k = (u.protocol, u.seed)
        if seen.get(k, 0) < n:
            out.append(u)
            seen[k] = seen.get(k, 0) + 1
    return out
