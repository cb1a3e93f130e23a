"""melrec_lib.users: simulated users are artist-disjoint, seeded, and cover what they claim."""
from __future__ import annotations

import pytest

from melrec_lib import users as E
from melrec_lib.errors import DatasetError, ParameterError

from toy_collection import toy_manifest as _toy_manifest


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


