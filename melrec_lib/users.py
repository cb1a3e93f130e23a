"""Simulated users: who likes what, and which tracks each role gets (artist-disjoint by construction).

A *similar* user likes one sub-style; a *diverse* user likes several sub-styles of several
genres.  Held-out liked tracks come from artists absent from the training playlist, and test
negatives from artists absent from the negative pool, so no method can win by recognising an
artist.  Groups with fewer than two artists cannot be held out that way and are never liked.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .errors import DatasetError, ParameterError, check_int
from .manifest import check as check_manifest

__all__ = ["PROTOCOLS", "UserSplit", "pick", "simulate_users", "simulate_all", "first_users"]

PROTOCOLS = ("similar", "diverse")


def pick(rng: np.random.Generator, items: Sequence, n: int) -> list:
    """``n`` distinct items drawn with ``rng`` (all of them, shuffled, if ``n`` >= their number)."""
    items = list(items)
    if n >= len(items):
        return list(rng.permutation(np.asarray(items, dtype=object)))
    return list(rng.choice(np.asarray(items, dtype=object), size=n, replace=False))


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
    m = check_manifest(manifest, need=("track_id", "genre", "substyle", "artist"))
    if protocol not in PROTOCOLS:
        raise ParameterError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")
    check_int(n_users, "n_users", minimum=1)
    if not 0 < heldout_artist_fraction < 1 or not 0 < pool_fraction < 1:
        raise ParameterError("heldout_artist_fraction and pool_fraction must lie in (0, 1)")
    seed = check_int(seed, "seed")
    rng = np.random.default_rng([seed, PROTOCOLS.index(protocol)])
    eligible = _eligible_groups(m)
    if not eligible:
        raise DatasetError("no (genre, substyle) group has two artists: held-out liked tracks cannot be "
                           "artist-disjoint from the playlist")
    if protocol == "diverse" and len({g for g, _ in eligible}) < 2:
        raise DatasetError("the diverse protocol needs eligible sub-styles in at least two genres")
    size = playlist_size or (21 if protocol == "similar" else 25)
    order = pick(rng, eligible, len(eligible))
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
            arts = pick(rng, sorted(gm["artist"].unique()), gm["artist"].nunique())
            n_h = min(max(1, int(round(heldout_artist_fraction * len(arts)))), len(arts) - 1)
            held_a = set(arts[:n_h])
            heldout += sorted(gm.loc[gm["artist"].isin(held_a), "track_id"])
            play_candidates.append(sorted(gm.loc[~gm["artist"].isin(held_a), "track_id"]))
        playlist: list[str] = []
        per = [len(c) for c in play_candidates]
        take = _share(size, per)
        for cands, n in zip(play_candidates, take):
            playlist += pick(rng, cands, n)
        rest = m[~liked_mask]
        pool, negatives = [], []
        for g, gm in rest.groupby("genre", sort=True):
            arts = pick(rng, sorted(gm["artist"].unique()), gm["artist"].nunique())
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


def simulate_all(manifest: pd.DataFrame, *, n_users: int, seeds: Sequence[int],
                 protocols: Sequence[str] = PROTOCOLS, **kwargs: Any) -> list[UserSplit]:
    """:func:`simulate_users` for every protocol and seed (``n_users`` per protocol per seed)."""
    return [u for p in protocols for s in seeds for u in simulate_users(manifest, protocol=p, n_users=n_users,
                                                                        seed=s, **kwargs)]


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
