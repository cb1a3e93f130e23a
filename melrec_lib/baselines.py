"""The methods that rank a user's candidates, and the evaluation of all of them on many users.

Every method returns a score per candidate track (:func:`score_user`): random; cosine
similarity to the playlist centroid on MFCC statistics (librosa) or on preprocessor embeddings
(:func:`centroid_scores`); logistic regression on embeddings (:func:`logreg_scores`, sklearn);
the thesis-faithful and the corrected per-user recommender (:func:`recommender_scores`), also
on every other cut point.  :func:`evaluate_methods` runs them on simulated users
(:mod:`melrec_lib.users`) and :func:`summarize` gives means and bootstrap intervals.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import models, recommender
from .cache import text_seed
from .embeddings import Embedded
from .errors import DatasetError, ParameterError, check_int
from .metrics import METRICS, confidence_interval, ranking_metrics
from .users import UserSplit

__all__ = ["BASE_METHODS", "EvalData", "mfcc_statistics", "centroid_scores", "logreg_scores",
           "recommender_scores", "method_names", "score_user", "evaluate_methods", "summarize"]

#: Every method :func:`score_user` knows; ``recommender-corrected-<cut>`` exist for each cut.
BASE_METHODS = ("random", "mfcc-centroid", "embedding-centroid", "logreg",
                "recommender-thesis", "recommender-corrected")


def _mfcc_row(path: str, n_mfcc: int, sr: int) -> np.ndarray:
    import librosa

    from .errors import AudioError

    try:
        y, _ = librosa.load(path, sr=sr, mono=True)
    except Exception as exc:  # librosa/soundfile raise many kinds
        raise AudioError(f"{path}: cannot be decoded ({exc})") from exc
    if y.size == 0:
        raise AudioError(f"{path}: no samples")
    M = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc)
    return np.concatenate([M.mean(axis=1), M.std(axis=1)])


def mfcc_statistics(manifest: pd.DataFrame, *, n_mfcc: int = 20, sr: int = 22050, n_jobs: int | None = None,
                    progress: bool = True, cache: bool = True) -> pd.DataFrame:
    """Mean and standard deviation over time of each MFCC of every track (librosa), cached.

    Parameters
    ----------
    manifest : pd.DataFrame
        ``track_id`` and ``path``; its collection name names the cache folder:
        ``processed_dir()/<name>/mfcc-<key>.csv``, keyed by ``n_mfcc``, ``sr`` and every file's
        path, size and modification time.
    n_mfcc : int > 0
    sr : int > 0
        Audio is loaded with ``librosa.load(path, sr=sr, mono=True)``.
    n_jobs : int or None
        Worker processes over files (``None``: all cores).

    Returns
    -------
    pd.DataFrame [shape=(n_tracks, 2 * n_mfcc)]
        Indexed by track id; columns ``mfcc0_mean .. mfcc{n-1}_mean, mfcc0_std, ...``.

    Raises
    ------
    AudioError
        naming a file that cannot be read.
    """
    import os

    from . import paths
    from .cache import atomic_file, file_stamp, stable_hash
    from .errors import AudioError
    from .manifest import check as check_manifest
    from .manifest import corpus_name
    from .parallel import parallel_map

    m = check_manifest(manifest, need=("track_id", "path"))
    check_int(n_mfcc, "n_mfcc", minimum=1)
    for p in m["path"]:
        if not os.path.isfile(p):
            raise AudioError(f"{p}: cannot read (no such file)")
    key = stable_hash([n_mfcc, sr, list(m["track_id"]), [[str(p), *file_stamp(p)] for p in m["path"]]])
    out_path = paths.processed_dir() / corpus_name(m) / f"mfcc-{key}.csv"
    if cache and out_path.is_file():
        return pd.read_csv(out_path, index_col="track_id", dtype={"track_id": str})
    cols = [f"mfcc{i}_mean" for i in range(n_mfcc)] + [f"mfcc{i}_std" for i in range(n_mfcc)]
    rows = parallel_map(_mfcc_row, [(str(p), n_mfcc, sr) for p in m["path"]], star=True, n_jobs=n_jobs,
                        desc="MFCC statistics", unit="track", progress=progress)
    df = pd.DataFrame(np.asarray(rows, dtype=np.float64), index=pd.Index(m["track_id"], name="track_id"),
                      columns=cols)
    if cache:
        with atomic_file(out_path) as tmp:
            df.to_csv(tmp)
    return df
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
    return list(BASE_METHODS) + [f"recommender-corrected-{c}" for c in cuts if c != models.DEFAULT_CUT]


def score_user(method: str, user: UserSplit, data: EvalData, *, epochs: int, seed: int = 0) -> pd.Series:
    """Scores of ``user``'s candidates by ``method`` (see :func:`method_names`)."""
    cand = user.candidates
    if method == "random":
        rng = np.random.default_rng([seed, text_seed(user.name, 4, algorithm="sha1", byteorder="big")])
        return pd.Series(rng.random(len(cand)), index=pd.Index(cand, name="track_id"), name="score")
    if method == "mfcc-centroid":
        return centroid_scores(data.track_features("mfcc"), user.playlist, cand)
    if method == "embedding-centroid":
        return centroid_scores(data.track_features(models.DEFAULT_CUT), user.playlist, cand)
    if method == "logreg":
        return logreg_scores(data.embeddings[models.DEFAULT_CUT], user.playlist, user.pool, cand, seed=seed)
    if method in ("recommender-thesis", "recommender-corrected"):
        return recommender_scores(data.embeddings[models.DEFAULT_CUT], user.playlist, user.pool, cand,
                                  mode=method.split("-")[1], epochs=epochs, seed=seed)
    if method.startswith("recommender-corrected-"):
        cut = method[len("recommender-corrected-"):]
        if cut not in data.embeddings:
            raise ParameterError(f"method {method!r}: no embeddings for cut {cut!r} (have {sorted(data.embeddings)})")
        return recommender_scores(data.embeddings[cut], user.playlist, user.pool, cand,
                                  mode="corrected", epochs=epochs, seed=seed)
    raise ParameterError(f"unknown method {method!r}; choose from {method_names(tuple(data.embeddings))}")


def _user_rows(user: UserSplit, data: EvalData, methods: Sequence[str], epochs: int, k: int) -> list[dict]:
    rows = []
    for method in methods:
        scores = score_user(method, user, data, epochs=epochs, seed=user.seed)
        rows.append({"protocol": user.protocol, "seed": user.seed, "user": user.name, "method": method,
                     **ranking_metrics(scores, user.heldout, k=k), "n_playlist": len(user.playlist),
                     "n_heldout": len(user.heldout), "n_candidates": len(user.candidates)})
    return rows


def evaluate_methods(users: Sequence[UserSplit], data: EvalData, *, methods: Sequence[str], epochs: int,
                     k: int = 10, n_jobs: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Every method on every user: one row per (user, method) with the metrics.

    Users are independent (each method's randomness is seeded by the user), so they are scored
    in worker processes (``n_jobs``; ``None``: all cores, ``1``: here) with the same result.

    Returns
    -------
    pd.DataFrame
        ``protocol, seed, user, method, roc_auc, precision@k, ndcg@k, n_playlist, n_heldout,
        n_candidates``, users in the given order.
    """
    from .parallel import parallel_map

    check_int(epochs, "epochs", minimum=1)
    per_user = parallel_map(_user_rows, [(u, data, list(methods), epochs, k) for u in users], star=True,
                            n_jobs=n_jobs, desc="evaluation", unit="fit", progress=progress,
                            weights=[len(methods)] * len(users))
    return pd.DataFrame([row for rows in per_user for row in rows])


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
