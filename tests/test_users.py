"""melrec_lib.recsys.users: simulated users are artist-disjoint, seeded, and cover what they claim."""

from __future__ import annotations

import pytest
from toy_collection import toy_manifest as _toy_manifest

from melrec_lib.errors import DatasetError, ParameterError
from melrec_lib.recsys import users as E


@pytest.mark.parametrize("protocol", E.PROTOCOLS)
def test_simulated_users_are_artist_disjoint(protocol):
    m = _toy_manifest()
    users = E.simulate_users(m, protocol=protocol, n_users=12, seed=3)
    assert len(users) == 12
    meta = m.set_index("track_id")
    for u in users:
        roles = [set(u.playlist), set(u.heldout), set(u.pool), set(u.negatives)]
        assert sum(map(len, roles)) == len(set().union(*roles))  # no track in two roles
        art = {name: set(meta.loc[list(r), "artist"]) for name, r in zip("phpn", roles)}
        assert not set(meta.loc[list(u.playlist), "artist"]) & set(meta.loc[list(u.heldout), "artist"])
        assert not set(meta.loc[list(u.pool), "artist"]) & set(meta.loc[list(u.negatives), "artist"])
        liked = {tuple(x) for x in meta.loc[list(u.playlist) + list(u.heldout), ["genre", "substyle"]].to_numpy()}
        assert liked == set(u.groups)
        not_liked = {tuple(x) for x in meta.loc[list(u.pool) + list(u.negatives), ["genre", "substyle"]].to_numpy()}
        assert not (not_liked & set(u.groups))
        assert len(u.playlist) <= (21 if protocol == "similar" else 25)
        if protocol == "diverse":
            assert len(u.groups) == 3 and len({g for g, _ in u.groups}) >= 2
        del art
    again = E.simulate_users(m, protocol=protocol, n_users=12, seed=3)
    assert again == users
    assert E.simulate_users(m, protocol=protocol, n_users=12, seed=4) != users


def test_similar_protocol_cycles_through_sub_styles():
    m = _toy_manifest()
    users = E.simulate_users(m, protocol="similar", n_users=8, seed=0)
    assert len({u.groups for u in users}) == 8  # 4 genres x 2 sub-styles, each once


def test_simulate_users_errors():
    m = _toy_manifest(n_artists=1)
    with pytest.raises(DatasetError, match="two artists"):
        E.simulate_users(m, protocol="similar", n_users=2)
    with pytest.raises(ParameterError, match="protocol"):
        E.simulate_users(_toy_manifest(), protocol="odd", n_users=2)
    with pytest.raises(ParameterError, match="n_users"):
        E.simulate_users(_toy_manifest(), protocol="similar", n_users=0)
    with pytest.raises(DatasetError, match="lacks column"):
        E.simulate_users(_toy_manifest().drop(columns="artist"), protocol="similar", n_users=1)


def test_first_users_per_protocol_and_seed():
    users = E.simulate_all(_toy_manifest(), n_users=4, seeds=[0, 1])
    assert len(users) == 2 * 2 * 4
    sub = E.first_users(users, 2)
    assert len(sub) == 8 and all(u in users for u in sub)
    assert sorted((u.protocol, u.seed) for u in sub) == sorted([(p, s) for p in E.PROTOCOLS for s in (0, 1)] * 2)
    with pytest.raises(ParameterError):
        E.first_users(users, 0)


def _library(sizes=(6, 4, 8, 3, 1)):
    import pandas as pd

    return pd.DataFrame(
        [
            {"track_id": f"{chr(97 + g)}{t}", "artist": f"st{g}", "genre": "x", "substyle": ""}
            for g, n in enumerate(sizes)
            for t in range(n)
        ]
    )


@pytest.mark.parametrize("protocol", E.PROTOCOLS)
def test_library_users_train_like_melrec_recommend(protocol):
    m = _library()
    group = dict(zip(m["track_id"], m["artist"]))
    users = E.library_users(m, protocol=protocol, seed=5, n_users=9)
    assert len(users) == 9
    library = set(m["track_id"])
    for u in users:
        liked = {t for t in library if group[t] in u.groups}
        assert set(u.playlist) | set(u.heldout) == liked and not set(u.playlist) & set(u.heldout)
        # the training negatives: the whole library outside the playlist (held-out liked included)
        assert set(u.pool) == library - set(u.playlist) and set(u.heldout) <= set(u.pool)
        # the candidates: every track outside the playlist; negatives = those not liked
        assert set(u.candidates) == library - set(u.playlist) and set(u.negatives) == library - liked
        assert "st4" not in u.groups  # one track: cannot be split into playlist and held-out
        for g in u.groups:  # half of each liked group in the playlist, at least one, never all
            n = sum(v == g for v in group.values())
            assert sum(group[t] == g for t in u.playlist) == min(max(1, round(n / 2)), n - 1)
        if protocol == "similar":
            assert len(u.groups) == 1
        else:
            assert len(u.groups) in (2, 3) and len(set(u.groups)) == len(u.groups)
    assert E.library_users(m, protocol=protocol, seed=5, n_users=9) == users
    assert E.library_users(m, protocol=protocol, seed=6, n_users=9) != users


def test_library_users_similar_gives_each_group_one_user_by_default():
    users = E.library_users(_library(), protocol="similar", seed=0)
    assert sorted(u.groups[0] for u in users) == ["st0", "st1", "st2", "st3"]
    assert {len(u.groups) for u in E.library_users(_library(), protocol="diverse", seed=0, n_users=10)} == {2, 3}


def test_library_all_and_seed_splits():
    users = E.library_all(_library(), seeds=[0, 1, 2], n_users=4)
    assert len(users) == 2 * 3 * 4
    dev = E.users_of_seeds(users, [0, 1])
    assert {u.seed for u in dev} == {0, 1} and len(dev) == 16
    with pytest.raises(ParameterError, match="seed"):
        E.users_of_seeds(users, [7])


def test_library_users_errors():
    with pytest.raises(ParameterError, match="protocol"):
        E.library_users(_library(), protocol="odd")
    with pytest.raises(ParameterError, match="playlist_fraction"):
        E.library_users(_library(), protocol="similar", playlist_fraction=1.0)
    with pytest.raises(ParameterError, match="groups_per_user"):
        E.library_users(_library(), protocol="diverse", groups_per_user=(1,))
    with pytest.raises(DatasetError, match="no 'artist' group"):
        E.library_users(_library((1, 1)), protocol="similar")
    with pytest.raises(DatasetError, match="needs 3 groups"):
        E.library_users(_library((4, 4, 1)), protocol="diverse")
    with pytest.raises(DatasetError, match="lacks column"):
        E.library_users(_library().drop(columns="artist"), protocol="similar")
    with pytest.raises(DatasetError, match="repeats track_id"):
        E.library_users(_library().pipe(lambda d: d.assign(track_id="same")), protocol="similar")
