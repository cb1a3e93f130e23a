"""Simulated users: who likes what, and which tracks each role gets.

Two families of users.  :func:`simulate_users` (melrec-synth, notebook 07) is artist-disjoint
by construction: a *similar* user likes one sub-style, a *diverse* user several sub-styles of
several genres; held-out liked tracks come from artists absent from the training playlist, and
test negatives from artists absent from the negative pool, so no method can win by recognising
an artist.  Groups with fewer than two artists cannot be held out that way and are never liked.

:func:`library_users` (a real collection such as the soundtracks corpus, notebook 08) is a user
of ``melrec recommend``: a playlist is part of one group (a soundtrack: *similar*) or of two or
three (*diverse*), the recommender is trained against the whole library outside the playlist
(so the unknown liked tracks are among its training negatives, as in real use) and ranks every
track outside the playlist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from melrec_lib.errors import DatasetError, ParameterError, check_int
from melrec_lib.io.manifest import check as check_manifest

__all__ = [
    "PROTOCOLS",
    "UserSplit",
    "pick",
    "simulate_users",
    "simulate_all",
    "first_users",
    "library_users",
    "library_all",
    "users_of_seeds",
]

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
    groups : tuple
        What the user likes (every track of these groups): ``(genre, substyle)`` pairs from
        :func:`simulate_users`, group names (e.g. soundtracks) from :func:`library_users`.
    playlist : tuple of str
        Liked tracks the recommender is trained on.
    heldout : tuple of str
        Liked tracks to find again (:func:`simulate_users`: their artists do not appear in
        ``playlist``).
    pool : tuple of str
        The tracks the training negatives are drawn from (:func:`simulate_users`: not liked;
        :func:`library_users`: the whole library outside the playlist, held-out liked included).
    negatives : tuple of str
        Not-liked test tracks (:func:`simulate_users`: their artists do not appear in ``pool``).
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
        raise DatasetError(
            "no (genre, substyle) group has two artists: held-out liked tracks cannot be "
            "artist-disjoint from the playlist"
        )
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
        users.append(
            UserSplit(
                name=f"{protocol}-s{seed}-u{u:03d}",
                protocol=protocol,
                seed=seed,
                groups=tuple(groups),
                playlist=tuple(sorted(playlist)),
                heldout=tuple(sorted(heldout)),
                pool=tuple(sorted(pool)),
                negatives=tuple(sorted(negatives)),
            )
        )
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


def simulate_all(
    manifest: pd.DataFrame, *, n_users: int, seeds: Sequence[int], protocols: Sequence[str] = PROTOCOLS, **kwargs: Any
) -> list[UserSplit]:
    """:func:`simulate_users` for every protocol and seed (``n_users`` per protocol per seed)."""
    return [
        u
        for p in protocols
        for s in seeds
        for u in simulate_users(manifest, protocol=p, n_users=n_users, seed=s, **kwargs)
    ]


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


def library_users(
    manifest: pd.DataFrame,
    *,
    protocol: str,
    seed: int = 0,
    n_users: int | None = None,
    by: str = "artist",
    playlist_fraction: float = 0.5,
    groups_per_user: Sequence[int] = (2, 3),
    min_tracks: int = 2,
) -> list[UserSplit]:
    """Users of a real library, trained and scored the way ``melrec recommend`` is used.

    Tracks are grouped by the column ``by`` (the soundtracks corpus: ``artist`` = soundtrack).
    Protocol ``"similar"``: a user's playlist is a seeded share ``playlist_fraction`` of one
    group's tracks (at least one, never all); users cycle through the groups in a seeded order,
    so ``n_users`` = the number of groups (the default) gives every group one user.  Protocol
    ``"diverse"``: the user likes two or three groups (a number drawn from ``groups_per_user``)
    and the playlist is that share of each.  In both, the held-out liked tracks are the liked
    groups' other tracks; the training pool is **every track outside the playlist** (held-out
    liked tracks included: the recommender does not know them, as in real use), and the
    candidates are every track outside the playlist, so ``negatives`` = the candidates that
    are not liked.  Groups with fewer than ``min_tracks`` tracks are never liked (they stay in
    the library).

    Parameters
    ----------
    manifest : pd.DataFrame
        ``track_id`` and the column ``by``.
    protocol : {"similar", "diverse"}
    seed : int >= 0
        Same seed, same users.
    n_users : int > 0 or None
        Users to draw (None: one per eligible group).
    by : str
        The grouping column.
    playlist_fraction : float in (0, 1)
    groups_per_user : sequence of int >= 2
        The diverse protocol's possible numbers of liked groups (each drawn equally often).
    min_tracks : int >= 2
        The smallest group that can be liked (one playlist track and one held-out track).

    Returns
    -------
    list of UserSplit
        ``groups`` = the liked group names (sorted).

    Raises
    ------
    ParameterError
        on an unknown protocol, a fraction outside (0, 1), ``groups_per_user`` below 2, bad
        ``n_users``/``seed``/``min_tracks``.
    DatasetError
        if the manifest lacks the columns, no group (similar) or fewer groups than the largest
        ``groups_per_user`` (diverse) have ``min_tracks`` tracks.

    Examples
    --------
    >>> m = pd.DataFrame({"track_id": [f"t{i}" for i in range(12)], "artist": list("aaaabbbbcccc")})
    >>> u = library_users(m, protocol="similar", seed=0)[0]
    >>> len(u.playlist), len(u.heldout), len(u.pool), len(u.negatives)
    (2, 2, 10, 8)
    """
    m = check_manifest(manifest, need=("track_id", by))
    if protocol not in PROTOCOLS:
        raise ParameterError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")
    seed = check_int(seed, "seed")
    min_tracks = check_int(min_tracks, "min_tracks", minimum=2)
    if not 0 < playlist_fraction < 1:
        raise ParameterError(f"playlist_fraction must lie in (0, 1), not {playlist_fraction!r}")
    sizes = sorted({check_int(g, "groups_per_user", minimum=2) for g in groups_per_user})
    if not sizes:
        raise ParameterError("groups_per_user is empty")
    ids = m["track_id"].astype(str)
    if ids.duplicated().any():
        raise DatasetError(f"duplicate track ids, e.g. {ids[ids.duplicated()].iloc[0]!r}")
    members = {str(g): sorted(ids[(m[by] == g).to_numpy()]) for g in sorted(m[by].unique(), key=str)}
    eligible = sorted(g for g, t in members.items() if len(t) >= min_tracks)
    if not eligible:
        raise DatasetError(f"no {by!r} group has {min_tracks} tracks: nothing can be liked")
    if protocol == "diverse" and len(eligible) < sizes[-1]:
        raise DatasetError(
            f"the diverse protocol needs {sizes[-1]} groups of {min_tracks} tracks (have {len(eligible)})"
        )
    n_users = len(eligible) if n_users is None else check_int(n_users, "n_users", minimum=1)
    rng = np.random.default_rng([seed, PROTOCOLS.index(protocol), 12])
    order = pick(rng, eligible, len(eligible))
    library = sorted(ids)
    users = []
    for u in range(n_users):
        if protocol == "similar":
            groups = [order[u % len(order)]]
        else:
            groups = sorted(pick(rng, eligible, sizes[u % len(sizes)]))
        playlist: list[str] = []
        for g in groups:
            tracks = members[g]
            n_play = min(max(1, int(round(playlist_fraction * len(tracks)))), len(tracks) - 1)
            playlist += pick(rng, tracks, n_play)
        liked = {t for g in groups for t in members[g]}
        play = set(playlist)
        users.append(
            UserSplit(
                name=f"{protocol}-s{seed}-u{u:03d}",
                protocol=protocol,
                seed=seed,
                groups=tuple(str(g) for g in groups),
                playlist=tuple(sorted(play)),
                heldout=tuple(sorted(liked - play)),
                pool=tuple(t for t in library if t not in play),
                negatives=tuple(t for t in library if t not in liked),
            )
        )
    return users


def library_all(
    manifest: pd.DataFrame,
    *,
    seeds: Sequence[int],
    protocols: Sequence[str] = PROTOCOLS,
    n_users: int | None = None,
    **kwargs: Any,
) -> list[UserSplit]:
    """:func:`library_users` for every protocol and seed."""
    return [
        u
        for p in protocols
        for s in seeds
        for u in library_users(manifest, protocol=p, seed=s, n_users=n_users, **kwargs)
    ]


def users_of_seeds(users: Sequence[UserSplit], seeds: Sequence[int]) -> list[UserSplit]:
    """The users drawn with one of ``seeds`` (a development or a report split), in order.

    Raises
    ------
    ParameterError
        if no user has one of the seeds.
    """
    wanted = {check_int(s, "seed") for s in seeds}
    out = [u for u in users if u.seed in wanted]
    if not out:
        raise ParameterError(f"no user drawn with seed(s) {sorted(wanted)}")
    return out
