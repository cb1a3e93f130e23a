"""The fragment cache.

References: the thesis' data-set rules (section 3.4: k fragments at random whole-second offsets
``rand() % (duration - 8)``; consecutive fragments at 0, 8, 16, ... s, ``floor(duration / 8)``
of them), the spectrogram module's own ``fragments`` for the values (the cache must hand back
exactly what it computes), soundfile for the audio,.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from threadpoolctl import threadpool_limits

from melrec_lib.dsp import fragment_cache
from melrec_lib.errors import DatasetError, ParameterError
from melrec_lib.io.manifest import corpus_name

SR = 44100


def test_track_seed_is_stable():
    # a fixed value: Python's hash() of a str changes between processes, this must not
    assert fragment_cache.track_seed(0, "rock/a1/t1") == fragment_cache.track_seed(0, "rock/a1/t1")
    assert fragment_cache.track_seed(0, "x") != fragment_cache.track_seed(1, "x")
    assert 0 <= fragment_cache.track_seed(123, "y") < 2**63
    import hashlib

    h = hashlib.sha256(b"melrec-fragments:5:abc").digest()
    assert fragment_cache.track_seed(5, "abc") == int.from_bytes(h[:8], "little") >> 1


# ------------------------------------------------------------------------------------------
# Fragments container
# ------------------------------------------------------------------------------------------
def make_fragments(rng):
    X = rng.standard_normal((6, 64, 128)).astype(np.float32)
    index = pd.DataFrame(
        {
            "track_id": ["a", "a", "b", "c", "c", "c"],
            "fragment": [0, 1, 0, 0, 1, 2],
            "offset_s": [0.0, 8.0, 0.0, 0.0, 8.0, 16.0],
        }
    )
    return fragment_cache.Fragments(X=X, index=index, config=None)


def test_fragments_container(rng):
    fr = make_fragments(rng)
    assert len(fr) == 6 and fr.track_ids == ["a", "b", "c"]
    sub = fr.select(["c", "a"])
    assert sub.track_ids == ["a", "c"] and len(sub) == 5
    np.testing.assert_array_equal(sub.X, fr.X[[0, 1, 3, 4, 5]])
    assert sub.index["fragment"].tolist() == [0, 1, 0, 1, 2]
    man = pd.DataFrame({"track_id": ["c", "b", "a"], "genre": ["jazz", "pop", "rock"]})
    assert fr.labels(man).tolist() == ["rock", "rock", "pop", "jazz", "jazz", "jazz"]
    with pytest.raises(DatasetError, match="'zz'"):
        fr.select(["a", "zz"])
    with pytest.raises(DatasetError, match="not in the manifest"):
        fr.labels(man.iloc[:2])


def test_fragments_validation(rng):
    fr = make_fragments(rng)
    with pytest.raises(ParameterError, match="3-d"):
        fragment_cache.Fragments(X=fr.X[0], index=fr.index, config=None)
    with pytest.raises(ParameterError, match="rows"):
        fragment_cache.Fragments(X=fr.X[:3], index=fr.index, config=None)
    with pytest.raises(ParameterError, match="offset_s"):
        fragment_cache.Fragments(X=fr.X, index=fr.index.drop(columns="offset_s"), config=None)


# ------------------------------------------------------------------------------------------
# builders (need melrec_lib.io.audio and melrec_lib.dsp.fragments)
# ------------------------------------------------------------------------------------------
def _modules():
    """The audio and spectrogram modules this builder composes (skip if not there yet)."""
    return (pytest.importorskip("melrec_lib.dsp.fragments"), pytest.importorskip("melrec_lib.io.audio"))


@pytest.fixture(scope="module")
def sp():
    return _modules()[0]


def write_track(path: Path, seconds: float, seed: int, *, silent: bool = False) -> Path:
    """Noise bursts over a chord: every 8 s window differs, so fragments differ."""
    r = np.random.default_rng(seed)
    n = int(round(seconds * SR))
    t = np.arange(n) / SR
    y = (
        np.zeros(n)
        if silent
        else (
            0.2 * np.sin(2 * np.pi * (220 + 40 * seed) * t) * (1 + np.sin(2 * np.pi * 0.13 * t))
            + 0.05 * r.standard_normal(n) * (np.sin(2 * np.pi * 0.5 * t) > 0)
        )
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y.astype(np.float32), SR, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def tracks(tmp_path_factory, sp):
    root = tmp_path_factory.mktemp("frag-audio")
    durations = {"rock/t1": 20.0, "rock/t2": 24.5, "jazz/t3": 17.0, "jazz/t4": 31.9}
    rows = [
        {
            "track_id": tid,
            "path": str(write_track(root / f"{tid}.wav", d, i)),
            "genre": tid.split("/")[0],
            "duration_s": d,
        }
        for i, (tid, d) in enumerate(durations.items())
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "processed"


def reference(row, offsets, config):
    sp, au = _modules()
    y, sr = au.load(row["path"], sr=config.sr)
    return sp.fragments(y, sr, np.asarray(offsets, dtype=float), config)


def test_genre_fragments_thesis_rules(tracks, cache, sp):
    config = sp.get_config("thesis")
    fr = fragment_cache.genre_fragments(tracks, config, per_track=5, seed=0, n_jobs=1, progress=False, cache_dir=cache)
    assert fr.X.shape == (20, 64, 128) and fr.X.dtype == np.float32
    assert fr.track_ids == list(tracks["track_id"])
    assert list(fr.index.columns[:3]) == ["track_id", "fragment", "offset_s"]
    assert fr.index.groupby("track_id")["fragment"].apply(list).tolist() == [list(range(5))] * 4
    for _, row in tracks.iterrows():
        idx = fr.index["track_id"] == row["track_id"]
        offs = fr.index.loc[idx, "offset_s"].to_numpy()
        # thesis: rand() % (duration - 8) -> whole seconds in [0, duration - 8)
        assert np.all(offs == np.round(offs))
        assert offs.min() >= 0 and offs.max() <= row["duration_s"] - 8
        expected = sp.random_offsets(row["duration_s"], 5, seed=fragment_cache.track_seed(0, row["track_id"]))
        np.testing.assert_array_equal(offs, expected)
        np.testing.assert_allclose(fr.X[idx.to_numpy()], reference(row, offs, config), rtol=1e-6, atol=1e-6)
    # the fragments of different tracks / offsets differ (not one repeated array)
    assert not np.allclose(fr.X[0], fr.X[5])


def test_genre_fragments_of_pcm_wavs_read_only_their_spans(tmp_path, cache, sp, monkeypatch):
    # integer-PCM WAVs at the config's rate: only the fragments' samples are read, with the
    # bits of cutting them out of the whole loaded file; other files are loaded whole
    _, au = _modules()
    r = np.random.default_rng(5)
    rows = []
    for i, (name, subtype, channels) in enumerate(
        [("s16", "PCM_16", 1), ("s24", "PCM_24", 2), ("u8", "PCM_U8", 2), ("f32", "FLOAT", 1)]
    ):
        path = tmp_path / f"{name}.wav"
        sf.write(str(path), r.uniform(-0.5, 0.5, size=(int(30.3 * SR), channels)), SR, subtype=subtype)
        rows.append({"track_id": name, "path": str(path)})
    df = pd.DataFrame(rows)
    config = sp.get_config("corrected")
    offsets = {t: sp.random_offsets(30.3, 4, seed=fragment_cache.track_seed(0, t)) for t in df["track_id"]}
    with threadpool_limits(limits=1, user_api="blas"):  # as the cache builder computes
        expected = {t: reference(row, offsets[t], config) for t, row in zip(df["track_id"], df.to_dict("records"))}
    real_load, whole = au.load, []
    monkeypatch.setattr(au, "load", lambda path, **kw: whole.append(Path(path).stem) or real_load(path, **kw))
    fr = fragment_cache.genre_fragments(df, config, per_track=4, seed=0, n_jobs=1, progress=False, cache_dir=cache)
    assert whole == ["f32"]  # the float WAV may hold NaN: read and checked whole
    for t in df["track_id"]:
        idx = (fr.index["track_id"] == t).to_numpy()
        np.testing.assert_array_equal(fr.index.loc[idx, "offset_s"], offsets[t])
        np.testing.assert_array_equal(fr.X[idx], expected[t])


def test_a_non_finite_float_wav_is_reported_not_cut_around(tmp_path, cache):
    path = tmp_path / "nan.wav"
    y = np.random.default_rng(1).uniform(-0.5, 0.5, 20 * SR).astype(np.float32)
    y[3] = np.nan
    sf.write(str(path), y, SR, subtype="FLOAT")
    df = pd.DataFrame({"track_id": ["nan", "ok"], "path": [str(path), str(write_track(tmp_path / "ok.wav", 20, 1))]})
    with pytest.warns(UserWarning, match="1 of 2 track"):
        fr = fragment_cache.genre_fragments(
            df, "thesis", per_track=2, seed=0, n_jobs=1, progress=False, cache_dir=cache
        )
    assert fr.track_ids == ["ok"] and "non-finite" in fr.meta["failed"]["nan"]


def test_scoring_fragments_consecutive(tracks, cache, sp):
    fr = fragment_cache.scoring_fragments(tracks, "corrected", n_jobs=1, progress=False, cache_dir=cache)
    config = sp.get_config("corrected")
    for _, row in tracks.iterrows():
        sub = fr.index[fr.index["track_id"] == row["track_id"]]
        k = int(np.floor(row["duration_s"] / 8))  # thesis: floor(duration / 8)
        assert sub["offset_s"].tolist() == [8.0 * i for i in range(k)]
        assert sub["fragment"].tolist() == list(range(k))
        np.testing.assert_allclose(
            fr.X[sub.index.to_numpy()], reference(row, sub["offset_s"], config), rtol=1e-6, atol=1e-6
        )
    assert len(fr) == 2 + 3 + 2 + 3


def test_cache_reused_and_read_only(tracks, cache, monkeypatch):
    kw = dict(per_track=3, seed=1, n_jobs=1, progress=False, cache_dir=cache)
    first = fragment_cache.genre_fragments(tracks, "thesis", **kw)
    folder = first.path
    assert folder.parent.parent == cache / corpus_name(tracks) and folder.parent.name == first.config.key()
    assert sorted(p.name for p in folder.iterdir()) == ["X.npy", "index.csv", "meta.json"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp left

    def boom(*a, **k):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(fragment_cache, "_compute_track", boom)
    again = fragment_cache.genre_fragments(tracks, "thesis", **kw)
    assert isinstance(again.X, np.memmap) and not again.X.flags.writeable
    np.testing.assert_array_equal(np.asarray(again.X), np.asarray(first.X))
    pd.testing.assert_frame_equal(again.index, first.index)
    meta = json.loads((folder / "meta.json").read_text())
    for key in ("builder", "per_track", "seed", "corpus", "config", "config_key", "failed"):
        assert key in meta
    assert meta["per_track"] == 3 and meta["seed"] == 1 and meta["builder"] == "genre"
    assert meta["config"]["sr"] == first.config.sr


def counting(monkeypatch):
    calls = []
    real = fragment_cache._compute_track

    def wrapped(*a, **k):
        calls.append(a[0])
        return real(*a, **k)

    monkeypatch.setattr(fragment_cache, "_compute_track", wrapped)
    return calls


def test_changed_parameter_or_file_never_reuses(tracks, cache, monkeypatch, tmp_path):
    kw = dict(n_jobs=1, progress=False, cache_dir=cache)
    base = fragment_cache.genre_fragments(tracks, "thesis", per_track=2, seed=0, **kw)
    calls = counting(monkeypatch)
    variants = [
        fragment_cache.genre_fragments(tracks, "thesis", per_track=3, seed=0, **kw),
        fragment_cache.genre_fragments(tracks, "thesis", per_track=2, seed=9, **kw),
        fragment_cache.genre_fragments(tracks, "corrected", per_track=2, seed=0, **kw),
        fragment_cache.scoring_fragments(tracks, "thesis", **kw),
        fragment_cache.genre_fragments(tracks.iloc[:3], "thesis", per_track=2, seed=0, **kw),
    ]
    assert len(calls) == 4 * 4 + 3
    folders = {str(base.path)} | {str(v.path) for v in variants}
    assert len(folders) == 6
    assert not np.array_equal(variants[1].index["offset_s"], base.index["offset_s"])
    # same parameters again: reused
    calls.clear()
    fragment_cache.genre_fragments(tracks, "thesis", per_track=2, seed=0, **kw)
    assert calls == []
    # a re-rendered file (new content, size and mtime) is noticed
    moved = tracks.copy()
    src = Path(tracks["path"].iloc[0])
    dst = tmp_path / "t1.wav"
    write_track(dst, 20.0, 77)
    moved.loc[0, "path"] = str(dst)
    first = fragment_cache.genre_fragments(moved, "thesis", per_track=2, seed=0, **kw)
    assert len(calls) == 4
    write_track(dst, 20.0, 78)
    os.utime(dst, ns=(os.stat(dst).st_atime_ns, os.stat(dst).st_mtime_ns + 10**9))
    second = fragment_cache.genre_fragments(moved, "thesis", per_track=2, seed=0, **kw)
    assert len(calls) == 8 and first.path != second.path
    assert not np.allclose(first.X[:2], second.X[:2])
    # the same bytes and mtime at another path count as another file
    import shutil

    copy = tmp_path / "copy" / "t1.wav"
    copy.parent.mkdir()
    shutil.copy2(dst, copy)
    assert os.stat(copy).st_mtime_ns == os.stat(dst).st_mtime_ns
    fragment_cache.genre_fragments(
        moved.assign(path=moved["path"].replace(str(dst), str(copy))), "thesis", per_track=2, seed=0, **kw
    )
    assert len(calls) == 12
    assert src.is_file()


def test_deterministic_order_independent_and_parallel(tracks, cache):
    kw = dict(per_track=4, seed=5, progress=False, cache=False)
    a = fragment_cache.genre_fragments(tracks, "thesis", n_jobs=1, **kw)
    b = fragment_cache.genre_fragments(tracks.iloc[::-1], "thesis", n_jobs=2, **kw)
    for tid in tracks["track_id"]:
        ia = (a.index["track_id"] == tid).to_numpy()
        ib = (b.index["track_id"] == tid).to_numpy()
        np.testing.assert_array_equal(a.index.loc[ia, "offset_s"], b.index.loc[ib, "offset_s"])
        np.testing.assert_array_equal(a.X[ia], b.X[ib])
    assert not cache.exists()  # cache=False writes nothing


def test_bad_tracks_are_skipped_and_listed(tracks, cache, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    write_track(bad / "short.wav", 5.0, 1)
    write_track(bad / "silent.wav", 12.0, 2, silent=True)
    extra = pd.DataFrame(
        {
            "track_id": ["broken", "short", "silent", "gone"],
            "path": [str(bad / "broken.wav"), str(bad / "short.wav"), str(bad / "silent.wav"), str(bad / "gone.wav")],
        }
    )
    df = pd.concat([tracks[["track_id", "path"]], extra], ignore_index=True)
    with pytest.warns(UserWarning, match="4 of 8 track"):
        fr = fragment_cache.scoring_fragments(df, "thesis", n_jobs=1, progress=False, cache_dir=cache)
    assert fr.track_ids == list(tracks["track_id"])
    failed = fr.meta["failed"]
    assert set(failed) == {"broken", "short", "silent", "gone"}
    assert "broken.wav" in failed["broken"] and failed["broken"].startswith("WavError")
    assert failed["short"].startswith("too short for one fragment: 5.00 s")
    assert failed["silent"] == "every fragment is silent"
    assert "no such file" in failed["gone"]
    stored = json.loads((fr.path / "meta.json").read_text())
    assert set(stored["failed"]) == {"broken", "short", "silent", "gone"}
    with pytest.warns(UserWarning), pytest.raises(DatasetError, match="no track of 4"):
        fragment_cache.genre_fragments(extra, "thesis", n_jobs=1, progress=False, cache_dir=cache)


def test_silent_fragments_dropped_not_the_track(tmp_path, cache, sp):
    intro = tmp_path / "intro.wav"
    y = np.concatenate([np.zeros(8 * SR), sf.read(str(write_track(tmp_path / "n.wav", 17, 3)))[0]])
    sf.write(str(intro), y.astype(np.float32), SR, subtype="PCM_16")  # 8 s silence, then music
    df = pd.DataFrame({"track_id": ["intro"], "path": [str(intro)]})
    fr = fragment_cache.scoring_fragments(df, "thesis", n_jobs=1, progress=False, cache_dir=cache)
    assert fr.index["fragment"].tolist() == [1, 2]  # numbering of the track's 3 fragments kept
    assert fr.index["offset_s"].tolist() == [8.0, 16.0]
    assert fr.meta["silent_fragments"] == {"intro": [0.0]}
    np.testing.assert_allclose(fr.X, reference(df.iloc[0], [8.0, 16.0], fr.config), atol=1e-6)


def test_interrupted_write_leaves_nothing(tracks, cache, monkeypatch):
    real_rename = os.rename

    def crash(src, dst):  # every file is written; the process dies before the rename
        assert sorted(p.name for p in Path(src).iterdir()) == ["X.npy", "index.csv", "meta.json"]
        raise KeyboardInterrupt

    monkeypatch.setattr(fragment_cache.os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        fragment_cache.genre_fragments(tracks, "thesis", per_track=1, n_jobs=1, progress=False, cache_dir=cache)
    leftovers = list((cache / corpus_name(tracks)).rglob("*"))
    assert leftovers and all(p.is_dir() for p in leftovers), leftovers  # only the config folder
    monkeypatch.setattr(fragment_cache.os, "rename", real_rename)
    fr = fragment_cache.genre_fragments(tracks, "thesis", per_track=1, n_jobs=1, progress=False, cache_dir=cache)
    assert len(fr) == 4


def test_damaged_cache_is_recomputed(tracks, cache):
    kw = dict(per_track=2, seed=0, n_jobs=1, progress=False, cache_dir=cache)
    good = fragment_cache.genre_fragments(tracks, "thesis", **kw)
    expected = np.array(good.X)
    folder = good.path
    del good
    data = (folder / "X.npy").read_bytes()
    (folder / "X.npy").write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="recomputing"):
        again = fragment_cache.genre_fragments(tracks, "thesis", **kw)
    np.testing.assert_array_equal(np.asarray(again.X), expected)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(per_track=0), ParameterError, "per_track"),
        (dict(per_track=2.5), ParameterError, "per_track"),
        (dict(seed=-1), ParameterError, "seed"),
    ],
)
def test_bad_parameters(tracks, cache, kwargs, error, match):
    with pytest.raises(error, match=match):
        fragment_cache.genre_fragments(tracks, "thesis", progress=False, cache_dir=cache, **kwargs)


def test_bad_manifests(tracks, cache):
    with pytest.raises(DatasetError, match="empty"):
        fragment_cache.genre_fragments(tracks.iloc[:0], "thesis", progress=False, cache_dir=cache)
    with pytest.raises(DatasetError, match="'path'"):
        fragment_cache.genre_fragments(tracks.drop(columns="path"), "thesis", progress=False, cache_dir=cache)
    dup = pd.concat([tracks, tracks.iloc[:1]])
    with pytest.raises(DatasetError, match="rock/t1"):
        fragment_cache.scoring_fragments(dup, "thesis", progress=False, cache_dir=cache)


def test_cache_folder_is_named_after_the_collection(tracks, cache):
    """The cache's top folder is the manifest's collection name; no caller passes one by hand."""
    from melrec_lib.io import manifest

    fr = fragment_cache.scoring_fragments(
        manifest.named(tracks.copy(), "my-library"), "thesis", n_jobs=1, progress=False, cache_dir=cache
    )
    assert fr.path.relative_to(cache).parts[0] == "my-library"
    unnamed = fragment_cache.scoring_fragments(tracks, "thesis", n_jobs=1, progress=False, cache_dir=cache)
    assert unnamed.path.relative_to(cache).parts[0] == manifest.corpus_name(tracks)
    assert manifest.corpus_name(tracks).startswith("tracks-")
    assert manifest.corpus_name(tracks.iloc[::-1]) == manifest.corpus_name(tracks)  # the set of files
    with pytest.raises(ParameterError, match="plain folder name"):
        manifest.named(tracks.copy(), "../escape")


def test_track_fragments_is_one_row_of_the_builders(tracks, cache, tmp_path):
    row = tracks.iloc[1]
    scoring = fragment_cache.scoring_fragments(tracks.iloc[1:2], "corrected", n_jobs=1, progress=False, cache_dir=cache)
    X, error = fragment_cache.track_fragments(row["path"], "corrected")
    assert error is None
    np.testing.assert_array_equal(X, scoring.X)
    genre = fragment_cache.genre_fragments(
        tracks.iloc[1:2], "thesis", per_track=3, seed=4, n_jobs=1, progress=False, cache_dir=cache
    )
    X, _ = fragment_cache.track_fragments(
        row["path"], "thesis", builder="genre", per_track=3, seed=4, track_id=row["track_id"]
    )
    np.testing.assert_array_equal(X, genre.X)
    short = write_track(tmp_path / "short.wav", 5.0, 1)
    assert fragment_cache.track_fragments(short, "thesis") == (None, "too short for one fragment: 5.00 s")
    X, error = fragment_cache.track_fragments(tmp_path / "gone.wav", "thesis")
    assert X is None and "no such file" in error
    with pytest.raises(ParameterError, match="builder"):
        fragment_cache.track_fragments(row["path"], "thesis", builder="random")
