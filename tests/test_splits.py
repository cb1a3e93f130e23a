"""melrec_lib.corpora.splits: artist-disjoint train / val / test, stratified by genre, seeded.

References: the split's defining properties (no artist on two sides, every genre on every
side, shares within one artist of the fractions, independence of row order).
"""

from __future__ import annotations

import pandas as pd
import pytest

from melrec_lib.corpora import splits
from melrec_lib.errors import DatasetError, ParameterError


# ------------------------------------------------------------------------------------------
# artist_split (pure pandas: no audio)
# ------------------------------------------------------------------------------------------
def make_manifest(n_genres=9, n_artists=8, n_tracks=5, *, orphans=0) -> pd.DataFrame:
    rows = []
    for g in range(n_genres):
        for a in range(n_artists):
            for t in range(n_tracks):
                rows.append(
                    {
                        "track_id": f"g{g}-a{a}-t{t}",
                        "path": f"/x/g{g}a{a}t{t}.wav",
                        "genre": f"genre{g}",
                        "artist": f"artist {g}.{a}",
                    }
                )
        for o in range(orphans):
            rows.append(
                {"track_id": f"g{g}-orphan{o}", "path": f"/x/g{g}o{o}.wav", "genre": f"genre{g}", "artist": None}
            )
    df = pd.DataFrame(rows)
    df.index = pd.RangeIndex(1000, 1000 + len(df))  # a non-default index must be kept
    return df


def test_split_is_artist_disjoint_and_covers_every_genre():
    df = make_manifest(orphans=2)
    split = splits.artist_split(df, seed=3)
    assert split.index.equals(df.index) and split.name == "split"
    assert set(split) == {"train", "val", "test"}
    parts = df.assign(split=split).dropna(subset=["artist"]).groupby("artist")["split"].nunique()
    assert (parts == 1).all()
    for genre, sub in df.assign(split=split).groupby("genre"):
        assert set(sub["split"]) == {"train", "val", "test"}, genre


@pytest.mark.parametrize("fractions", [(0.6, 0.2, 0.2), (0.8, 0.1, 0.1), (0.5, 0.25, 0.25)])
@pytest.mark.parametrize("n_artists", [3, 8, 20])
def test_split_fractions(fractions, n_artists):
    df = make_manifest(n_genres=3, n_artists=n_artists, n_tracks=2)
    split = splits.artist_split(df, fractions=fractions, seed=0)
    for _, sub in df.assign(split=split).groupby("genre"):
        per_artist = sub.drop_duplicates("artist")["split"].value_counts()
        # val and test: within one artist of their share, but never empty (>= 3 artists);
        # train: the rest, so within one artist of its share unless the minimum forced it down
        for label, f in zip(splits.SPLITS[1:], fractions[1:]):
            assert abs(per_artist[label] - max(1.0, f * n_artists)) < 1, (label, per_artist)
        forced = sum(max(0.0, 1.0 - f * n_artists) for f in fractions[1:])
        assert per_artist["train"] >= 1
        assert abs(per_artist["train"] - fractions[0] * n_artists) < 1 + forced, per_artist
        assert per_artist.sum() == n_artists


def test_split_deterministic_and_seeded():
    df = make_manifest()
    a = splits.artist_split(df, seed=7)
    pd.testing.assert_series_equal(a, splits.artist_split(df, seed=7))
    assert not a.equals(splits.artist_split(df, seed=8))
    # row order does not matter
    shuffled = df.sample(frac=1.0, random_state=1)
    pd.testing.assert_series_equal(splits.artist_split(shuffled, seed=7).sort_index(), a.sort_index())


def test_split_orphans_and_multi_genre_artists():
    df = make_manifest(n_genres=2, n_artists=5, n_tracks=3, orphans=4)
    # artist 0.0 also released one track in genre1: stays on one side
    extra = pd.DataFrame(
        [{"track_id": "cross", "path": "/x/c.wav", "genre": "genre1", "artist": "artist 0.0"}], index=[5]
    )
    df = pd.concat([df, extra])
    split = splits.artist_split(df, seed=0)
    assert split[5] == split[df.index[df["track_id"] == "g0-a0-t0"][0]]
    orphans = df["artist"].isna()
    assert orphans.sum() == 8
    assert split[orphans].nunique() > 1  # each orphan is its own artist, not one big group


def test_split_small_genres_and_no_columns():
    df = pd.DataFrame({"track_id": ["a", "b", "c"], "genre": ["x", "x", "y"], "artist": ["p", "q", "r"]})
    split = splits.artist_split(df, seed=0)
    assert split.tolist().count("train") >= 1 and split[2] == "train"  # a lone artist trains
    bare = pd.DataFrame({"track_id": [f"t{i}" for i in range(10)]})
    counts = splits.artist_split(bare, seed=0).value_counts()
    assert counts.to_dict() == {"train": 6, "val": 2, "test": 2}
    assert set(splits.artist_split(bare, fractions=(1, 0, 0))) == {"train"}


@pytest.mark.parametrize("bad", [(0.5, 0.5), (0.6, 0.3, 0.3), (1.2, -0.1, -0.1), (float("nan"), 0.5, 0.5), "abc"])
def test_split_bad_fractions(bad):
    with pytest.raises(ParameterError, match="fractions"):
        splits.artist_split(make_manifest(n_genres=1), fractions=bad)


def test_split_needs_track_id():
    with pytest.raises(DatasetError, match="track_id"):
        splits.artist_split(pd.DataFrame({"artist": ["a"]}))
