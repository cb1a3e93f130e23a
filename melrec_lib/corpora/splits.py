"""Artist-disjoint train / val / test splits of a manifest, stratified by genre.

No artist has tracks on two sides of a split: a network is judged on artists it never heard
(GTZAN's artist repetition across its folds is what inflates its published accuracies).
Used by genre-CNN training (:mod:`melrec_lib.nets.training`) and by the simulated users
(:mod:`melrec_lib.recsys.users`).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from melrec_lib.cache import text_seed
from melrec_lib.errors import DatasetError, ParameterError

__all__ = ["SPLITS", "artist_split"]

#: Labels :func:`artist_split` assigns, in the order of its ``fractions``.
SPLITS = ("train", "val", "test")


def _allocate(n: int, fractions: Sequence[float]) -> list[int]:
    """Split ``n`` items by ``fractions`` (largest remainder), at least one per positive part when
    there are enough items, the surplus taken from the largest part."""
    raw = [n * f for f in fractions]
    counts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    positive = [i for i, f in enumerate(fractions) if f > 0]
    if n >= len(positive):
        for i in positive:
            while counts[i] == 0:
                j = max(range(len(counts)), key=lambda m: (counts[m], -m))
                counts[j] -= 1
                counts[i] += 1
    return counts


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
        or bool(pd.isna(value))
    )


def artist_split(
    manifest: pd.DataFrame,
    *,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> pd.Series:
    """Artist-disjoint train / val / test labels, stratified by genre.

    Parameters
    ----------
    manifest : pd.DataFrame
        Needs ``track_id``; uses ``artist`` and ``genre`` where present.  A track with no
        artist counts as its own artist (so GTZAN, which has no artist column, gets a plain
        track-level split).
    fractions : 3 numbers >= 0, summing to 1
        Shares of each genre's artists in train, val and test.  With artists of similar sizes
        these are also the track shares.  A genre with at least as many artists as positive
        fractions gets at least one artist in each such part.
    seed : int
        Same seed, same split; the draw in each genre depends only on ``(seed, genre)`` and the
        set of that genre's artists, not on row order.

    Returns
    -------
    split : pd.Series [dtype=str, name="split"]
        ``"train"``, ``"val"`` or ``"test"`` for every row, indexed like ``manifest``.

    Notes
    -----
    An artist with tracks in several genres is placed by the genre holding most of their
    tracks (ties: alphabetical), and all their tracks follow, so disjointness always holds.

    Raises
    ------
    ParameterError
        if ``fractions`` is not three non-negative numbers summing to 1.
    DatasetError
        if ``manifest`` has no ``track_id`` column.
    """
    try:
        fr = [float(f) for f in fractions]
    except (TypeError, ValueError):
        raise ParameterError(f"fractions must be 3 numbers, got {fractions!r}") from None
    if len(fr) != 3 or not all(math.isfinite(f) and f >= 0 for f in fr) or not math.isclose(sum(fr), 1.0, abs_tol=1e-9):
        raise ParameterError(f"fractions must be 3 numbers >= 0 that sum to 1, got {fractions!r}")
    if "track_id" not in manifest.columns:
        raise DatasetError("manifest has no 'track_id' column")
    ids = manifest["track_id"].astype(str).to_numpy()
    artist_col = manifest["artist"] if "artist" in manifest.columns else [None] * len(ids)
    genre_col = manifest["genre"] if "genre" in manifest.columns else [None] * len(ids)
    artists = [f"\x00track:{t}" if _blank(a) else str(a) for t, a in zip(ids, artist_col)]
    genres = ["" if _blank(g) else str(g) for g in genre_col]
    table = pd.DataFrame({"artist": artists, "genre": genres})
    counts = table.groupby(["artist", "genre"]).size().reset_index(name="n")
    counts = counts.sort_values(["artist", "n", "genre"], ascending=[True, False, True])
    home = counts.drop_duplicates("artist").set_index("artist")["genre"]
    assignment: dict[str, str] = {}
    for genre in sorted(home.unique()):
        members = sorted(home.index[home == genre])
        genre_key = text_seed(genre, 4)
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, genre_key])
        members = [members[i] for i in rng.permutation(len(members))]
        start = 0
        for label, k in zip(SPLITS, _allocate(len(members), fr)):
            for a in members[start : start + k]:
                assignment[a] = label
            start += k
    return pd.Series([assignment[a] for a in artists], index=manifest.index, name="split", dtype=object)
