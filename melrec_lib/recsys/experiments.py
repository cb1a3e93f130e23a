"""The thesis' two playlist experiments (5.1 similar-sounding, 5.2 diverse), measured.

:func:`experiment1`: a playlist of one sub-style, 3 random fragments per track, negatives from
the genre-training fragments, 20 epochs, 18 test tracks ranked (Figure 5.1:
:func:`within_percent_curves`).  :func:`experiment2`: a diverse playlist of 31 tracks, 6 held
out, all fragments of the other 25, an 800-track negative pool, 500 epochs (the validation
table: :func:`validation_table`).  Both run in the thesis' faithful mode or the corrected one
(:func:`compare_modes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from melrec_lib.errors import DatasetError, ParameterError, check_int
from melrec_lib.io.manifest import check as check_manifest
from melrec_lib.nets import architecture
from melrec_lib.nets.embeddings import Embedded, embed
from melrec_lib.recsys import recommender
from melrec_lib.recsys.metrics import rank, ranking_metrics, within_percent
from melrec_lib.recsys.users import pick

__all__ = [
    "ExperimentResult",
    "experiment1",
    "experiment2",
    "within_percent_curves",
    "validation_table",
    "compare_modes",
]


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


def _finish_experiment(
    rec, pos_X, test: Embedded, manifest: pd.DataFrame, liked: set, groups: set, playlist: list[str], k: int, info: dict
) -> ExperimentResult:
    scores = rec.score_tracks(test.X, test.track)
    ranking = rank(scores)
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
    return ExperimentResult(
        ranking=ranking[["rank", "track_id", "score", "liked", "relation", "genre", "substyle", "artist"]],
        max_score=max_score,
        metrics=metrics,
        model=rec,
        playlist=playlist,
        info=info,
    )


def experiment1(
    manifest: pd.DataFrame,
    trained: Any,
    *,
    genre: str = "metal",
    substyle: str = "nu-metal",
    n_playlist: int = 21,
    fragments_per_track: int = 3,
    n_test: int = 18,
    epochs: int = recommender.EXPERIMENT1_EPOCHS,
    mode: str = "thesis",
    cut: str = architecture.DEFAULT_CUT,
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
    trained : trained.TrainedGenreModel
    n_playlist, fragments_per_track, n_test, epochs : int > 0
        Shrunk (with a note in ``info["notes"]``) when the corpus has too few tracks.
    mode : {"thesis", "corrected"}
    k : int
        For precision@k / nDCG@k (few test tracks are liked: default 5).

    Returns
    -------
    ExperimentResult
    """
    m = check_manifest(manifest, need=("track_id", "path", "genre", "substyle", "artist"))
    rng = np.random.default_rng(check_int(seed, "seed"))
    group = m[(m["genre"] == genre) & (m["substyle"] == substyle)]
    if len(group) < 2:
        raise DatasetError(f"sub-style {genre}/{substyle} has {len(group)} track(s); experiment 1 needs at least 2")
    notes = []
    n_same = max(1, n_test // 3)
    # same-sub-style test tracks from artists outside the playlist where the corpus allows
    artists = pick(rng, sorted(group["artist"].unique()), len(group["artist"].unique()))
    held_artists, held = [], []
    for a in artists[::-1]:
        if len(held) >= n_same or len(held_artists) >= len(artists) - 1:
            break
        held_artists.append(a)
        held.extend(group.loc[group["artist"] == a, "track_id"])
    train_pool = group.loc[~group["artist"].isin(held_artists), "track_id"].tolist()
    if not held:  # one artist only: hold out tracks, not artists
        notes.append("the sub-style has one artist: same-sub-style test tracks share it with the playlist")
        held = pick(rng, group["track_id"], max(1, len(group) // 3))
        train_pool = [t for t in group["track_id"] if t not in set(held)]
    held = pick(rng, sorted(held), n_same)
    playlist = sorted(pick(rng, sorted(train_pool), n_playlist))
    if len(playlist) < n_playlist:
        notes.append(f"playlist shrunk to {len(playlist)} tracks (the corpus has too few of {genre}/{substyle})")
    same_genre = m[(m["genre"] == genre) & (m["substyle"] != substyle)]["track_id"]
    other = m[m["genre"] != genre]["track_id"]
    n_other = n_test - len(held) - min(n_same, len(same_genre))
    test_ids = (
        held + pick(rng, sorted(same_genre), min(n_same, len(same_genre))) + pick(rng, sorted(other), max(n_other, 1))
    )
    used = set(playlist) | set(test_ids)
    rest = m[~m["track_id"].isin(used)]
    pos = embed(
        m[m["track_id"].isin(playlist)],
        trained,
        cut=cut,
        builder="genre",
        per_track=fragments_per_track,
        seed=seed,
        progress=progress,
    )
    neg = embed(rest, trained, cut=cut, builder="genre", per_track=5, seed=seed, progress=progress)
    test = embed(m[m["track_id"].isin(test_ids)], trained, cut=cut, progress=progress)
    rec = recommender.fit(pos.X, neg.X, epochs=epochs, mode=mode, seed=seed)
    info = {
        "n_playlist": len(playlist),
        "n_positives": len(pos.X),
        "n_negative_pool": len(neg.X),
        "n_negative_tracks": len(rest),
        "n_test": len(test_ids),
        "epochs": epochs,
        "mode": recommender.get_config(mode).name,
        "cut": cut,
        "notes": notes,
    }
    return _finish_experiment(rec, pos.X, test, m, set(group["track_id"]), {(genre, substyle)}, playlist, k, info)


def experiment2(
    manifest: pd.DataFrame,
    trained: Any,
    *,
    groups: Sequence[tuple[str, str]] | None = None,
    n_liked: int = 31,
    n_heldout: int = 6,
    n_validation_negative: int = 6,
    pool_size: int = 800,
    epochs: int = recommender.EXPERIMENT2_EPOCHS,
    mode: str = "thesis",
    cut: str = architecture.DEFAULT_CUT,
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
    m = check_manifest(manifest, need=("track_id", "path", "genre", "substyle", "artist"))
    rng = np.random.default_rng(check_int(seed, "seed"))
    notes = []
    all_groups = sorted(set(zip(m["genre"], m["substyle"])))
    if groups is None:
        genres = pick(rng, sorted({g for g, _ in all_groups}), 4)
        groups = [tuple(pick(rng, [gs for gs in all_groups if gs[0] == g], 1)[0]) for g in genres]
    groups = [tuple(g) for g in groups]
    unknown = [g for g in groups if g not in set(all_groups)]
    if unknown:
        raise ParameterError(f"unknown (genre, substyle) group(s) {unknown}")
    in_groups = m[[(g, s) in set(groups) for g, s in zip(m["genre"], m["substyle"])]]
    liked = sorted(pick(rng, sorted(in_groups["track_id"]), n_liked))
    if len(liked) < n_liked:
        notes.append(f"only {len(liked)} liked tracks available")
    if len(liked) < 2:
        raise DatasetError(f"experiment 2 needs at least 2 liked tracks, the groups {groups} have {len(liked)}")
    n_heldout = min(n_heldout, len(liked) - 1)
    heldout = sorted(pick(rng, liked, n_heldout))
    playlist = sorted(set(liked) - set(heldout))
    outside = sorted(set(m["track_id"]) - set(in_groups["track_id"]))
    val_neg = sorted(pick(rng, outside, n_validation_negative))
    rest = sorted(set(m["track_id"]) - set(liked) - set(val_neg) - (set(in_groups["track_id"]) - set(liked)))
    pool = sorted(pick(rng, rest, pool_size))
    if len(pool) < pool_size:
        notes.append(
            f"negative pool: all {len(pool)} tracks of the corpus outside the playlist, the liked "
            f"sub-styles and the validation set (fewer than {pool_size})"
        )
    pos = embed(m[m["track_id"].isin(playlist)], trained, cut=cut, progress=progress)
    neg = embed(m[m["track_id"].isin(pool)], trained, cut=cut, progress=progress)
    test = embed(m[m["track_id"].isin(heldout + val_neg)], trained, cut=cut, progress=progress)
    rec = recommender.fit(pos.X, neg.X, epochs=epochs, mode=mode, seed=seed)
    info = {
        "groups": [list(g) for g in groups],
        "n_playlist": len(playlist),
        "n_heldout": len(heldout),
        "n_positives": len(pos.X),
        "n_pool_tracks": len(pool),
        "n_negative_pool": len(neg.X),
        "n_validation_negative": len(val_neg),
        "epochs": epochs,
        "mode": recommender.get_config(mode).name,
        "cut": cut,
        "notes": notes,
    }
    return _finish_experiment(rec, pos.X, test, m, set(liked), set(groups), playlist, k, info)


def within_percent_curves(ranking: pd.DataFrame, max_score: float, *, step: float = 1.0) -> dict:
    """Figure 5.1's curves from an experiment's ranking: ``label -> (percents, counts)``.

    One curve for all test tracks and one per relation to the playlist (same sub-style, same
    genre, other genre), counting tracks whose score is within x % of ``max_score``.
    """
    x = np.arange(0.0, 100.0 + step / 2, step)
    curves = {"all test tracks": (x, within_percent(ranking["score"], max_score, x))}
    for rel in ("same sub-style", "same genre", "other genre"):
        sel = ranking["relation"] == rel
        if sel.any():
            curves[rel] = (x, within_percent(ranking.loc[sel, "score"], max_score, x))
    return curves


def validation_table(result: ExperimentResult) -> pd.DataFrame:
    """The thesis' validation table (5.2): ``+`` liked / ``-`` not liked, track, score, ascending."""
    r = result.ranking.sort_values(["score", "track_id"]).reset_index(drop=True)
    return pd.DataFrame(
        {
            "": np.where(r["liked"], "+", "-"),
            "track": r["artist"] + " / " + r["track_id"],
            "genre / sub-style": r["genre"] + " / " + r["substyle"],
            "score": r["score"],
        }
    )


def compare_modes(results: dict[str, ExperimentResult]) -> pd.DataFrame:
    """One row per mode: maximum score, mean score of liked and not-liked test tracks, metrics."""
    rows = []
    for mode, res in results.items():
        r = res.ranking
        rows.append(
            {
                "mode": mode,
                "max_score (mean on training positives)": res.max_score,
                "mean score, liked test tracks": r.loc[r["liked"], "score"].mean(),
                "mean score, other test tracks": r.loc[~r["liked"], "score"].mean(),
                **res.metrics,
            }
        )
    return pd.DataFrame(rows).set_index("mode")
