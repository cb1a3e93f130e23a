"""melrec_lib.recsys.peers: bliss and musly as benchmark methods, checked against the packages themselves.

References are the originals, not our code: bliss' own ``Song(path).analysis`` and the distance
of its README (``np.linalg.norm(a1 - a2)``); musly's own jukebox fed with samples read by
soundfile (``set_style``, ``add_tracks``, ``compute_similarity``).  A tiny library of two
timbres (harmonic tones, noise) checks that each method ranks the same timbre first.
Without the optional packages these tests skip with the error's own message.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from melrec_lib.errors import AudioError, DatasetError, MelrecError, MissingDependencyError, ParameterError
from melrec_lib.recsys import peers

SR = peers.MUSLY_SAMPLE_RATE
DURATION = 6.0


def _need(peer):
    try:
        return peers.require(peer)
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


def _tone(f0: float, seed: int) -> np.ndarray:
    """Timbre A: a bright harmonic tone (saw-like, 12 partials) with a 2 Hz tremolo."""
    t = np.arange(int(DURATION * SR)) / SR
    y = sum(np.sin(2 * np.pi * f0 * k * t + k) / k for k in range(1, 13))
    rng = np.random.default_rng(seed)
    y = y + 0.01 * rng.standard_normal(t.size)
    return y * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))


def _noise(cutoff: float, seed: int) -> np.ndarray:
    """Timbre B: white noise through a low-pass filter, in 0.25 s bursts."""
    from scipy.signal import butter, sosfilt

    t = np.arange(int(DURATION * SR)) / SR
    y = sosfilt(butter(4, cutoff, fs=SR, output="sos"), np.random.default_rng(seed).standard_normal(t.size))
    return y * (np.sin(2 * np.pi * 2 * t) > -0.3)


#: (track id, timbre, signal): three of each timbre, each at its own pitch or cutoff
LIBRARY = [
    ("a1", "A", lambda: _tone(196.0, 1)),
    ("a2", "A", lambda: _tone(247.0, 2)),
    ("a3", "A", lambda: _tone(294.0, 3)),
    ("b1", "B", lambda: _noise(3000.0, 4)),
    ("b2", "B", lambda: _noise(4000.0, 5)),
    ("b3", "B", lambda: _noise(5000.0, 6)),
]
PLAYLIST = ["a1", "a2"]
CANDIDATES = ["b1", "a3", "b2", "b3"]


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> pd.DataFrame:
    """The two-timbre library as float WAV files at 22,050 Hz mono (read back exactly)."""
    import soundfile as sf

    folder = tmp_path_factory.mktemp("peers-library")
    rows = []
    for track_id, timbre, make in LIBRARY:
        y = make()
        path = folder / f"{track_id}.wav"
        sf.write(path, (0.5 * y / np.max(np.abs(y))).astype(np.float32), SR, subtype="FLOAT")
        rows.append({"track_id": track_id, "path": str(path), "timbre": timbre})
    m = pd.DataFrame(rows)
    m.attrs["corpus"] = "peers-test"
    return m


@pytest.fixture(scope="module")
def bliss_songs(library):
    """bliss' own analysis of every file: ``{track_id: Song}``."""
    bliss_audio = _need("bliss")
    return {r.track_id: bliss_audio.Song(r.path) for r in library.itertuples()}


@pytest.fixture(scope="module")
def musly_reference(library):
    """musly's own jukebox over the library: samples read by soundfile, style set on every track."""
    import soundfile as sf

    pymusly = _need("musly")
    jukebox = pymusly.MuslyJukebox("timbre")
    tracks = {}
    for r in library.itertuples():
        y, sr = sf.read(r.path, dtype="float32")
        assert sr == SR and y.ndim == 1
        tracks[r.track_id] = jukebox.track_from_audiodata(y)
    jukebox.set_style(list(tracks.values()))
    ids = {t: i for i, t in enumerate(tracks)}
    jukebox.add_tracks([(ids[t], tracks[t]) for t in tracks])
    return jukebox, tracks, ids


# ----------------------------------------------------------------------------- optional packages


@pytest.mark.parametrize("peer, module", [("bliss", "bliss_audio"), ("musly", "pymusly")])
def test_a_missing_package_is_a_typed_error_saying_how_to_install(monkeypatch, peer, module):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError) as info:
        peers.require(peer)
    assert isinstance(info.value, ImportError) and isinstance(info.value, MelrecError)
    assert "make env" in str(info.value) and "melrec[peers]" in str(info.value)
    m = pd.DataFrame({"track_id": ["x"], "path": ["/nonexistent/x.wav"]})
    analyse = peers.bliss_features if peer == "bliss" else peers.musly_tracks
    with pytest.raises(MissingDependencyError):  # before any file is looked at
        analyse(m, n_jobs=1, progress=False)
    with pytest.raises(MissingDependencyError):
        peers.peer_features(m, peers=(peer,), n_jobs=1, progress=False)


def test_unknown_peer_is_a_parameter_error():
    with pytest.raises(ParameterError, match="unknown peer"):
        peers.require("spotify")


# ----------------------------------------------------------------------------------------- bliss


def test_bliss_feature_names_are_its_analysis_dict(bliss_songs):
    song = bliss_songs["a1"]
    assert set(song.analysis_dict) == set(peers.BLISS_FEATURES)
    for i, name in enumerate(peers.BLISS_FEATURES):
        assert song.analysis_dict[name] == song.analysis[i], name


def test_bliss_features_are_bliss_own_analysis_and_cached(library, bliss_songs, monkeypatch):
    table = peers.bliss_features(library, n_jobs=2, progress=False)  # worker processes
    assert list(table.index) == list(library["track_id"]) and list(table.columns) == list(peers.BLISS_FEATURES)
    for track_id, song in bliss_songs.items():
        np.testing.assert_array_equal(table.loc[track_id].to_numpy(), np.asarray(song.analysis, np.float64))

    def fail(path):
        raise AssertionError("analysed again despite the cache")

    monkeypatch.setattr(peers, "bliss_song_features", fail)
    again = peers.bliss_features(library, n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(again, table)
    with pytest.raises(AssertionError, match="analysed again"):  # a changed collection is a new key
        peers.bliss_features(library.iloc[:3], n_jobs=1, progress=False)


def test_bliss_scores_are_bliss_readme_distance(library, bliss_songs):
    table = peers.bliss_features(library, n_jobs=1, progress=False)
    a = {t: np.array(s.analysis) for t, s in bliss_songs.items()}
    mean = peers.score("bliss-mean", {"bliss": table}, PLAYLIST, CANDIDATES)
    want = [-np.mean([np.linalg.norm(a[c] - a[p]) for p in PLAYLIST]) for c in CANDIDATES]
    assert list(mean.index) == CANDIDATES
    np.testing.assert_allclose(mean.to_numpy(), want, rtol=1e-12)
    centroid = peers.score("bliss-centroid", {"bliss": table}, PLAYLIST, CANDIDATES)
    c = np.mean([a[p] for p in PLAYLIST], axis=0)
    np.testing.assert_allclose(centroid.to_numpy(), [-np.linalg.norm(a[t] - c) for t in CANDIDATES], rtol=1e-12)
    # one-track playlist: both are bliss' distance to that song
    one = peers.score("bliss-centroid", {"bliss": table}, ["b1"], ["b2"]).iloc[0]
    assert one == pytest.approx(-np.linalg.norm(a["b2"] - a["b1"]), rel=1e-12)


def test_bliss_refuses_unreadable_files(tmp_path):
    _need("bliss")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="bad.wav"):
        peers.bliss_song_features(bad)
    with pytest.raises(AudioError, match="no such file"):
        peers.bliss_song_features(tmp_path / "missing.wav")


# ----------------------------------------------------------------------------------------- musly


def test_musly_scores_are_minus_mean_compute_similarity(library, musly_reference):
    jukebox, tracks, ids = musly_reference
    tables = peers.peer_features(library, peers=("musly",), n_jobs=2, progress=False)
    got = peers.score("musly-mean", tables, PLAYLIST, CANDIDATES)
    others = [(ids[c], tracks[c]) for c in CANDIDATES]
    per_seed = np.array([jukebox.compute_similarity((ids[p], tracks[p]), others) for p in PLAYLIST])
    assert list(got.index) == CANDIDATES
    np.testing.assert_allclose(got.to_numpy(), -per_seed.mean(axis=0), rtol=1e-12)
    # the whole matrix is musly's, rows the seeds
    D = tables["musly"]
    everyone = [(ids[t], tracks[t]) for t in D.columns]
    for t in D.index:
        np.testing.assert_array_equal(
            D.loc[t].to_numpy(), np.asarray(jukebox.compute_similarity((ids[t], tracks[t]), everyone), np.float64)
        )


def test_musly_tracks_are_cached(library, monkeypatch):
    _need("musly")
    first = peers.musly_tracks(library, n_jobs=1, progress=False)
    assert first.data.shape[0] == len(library) and list(first.track_ids) == list(library["track_id"])

    def fail(path, method="timbre"):
        raise AssertionError("analysed again despite the cache")

    monkeypatch.setattr(peers, "musly_track", fail)
    again = peers.musly_tracks(library, n_jobs=1, progress=False)
    np.testing.assert_array_equal(again.data, first.data)
    assert again.method == "timbre" and list(again.track_ids) == list(first.track_ids)
    with pytest.raises(AssertionError, match="analysed again"):
        peers.musly_tracks(library, method="mandelellis", n_jobs=1, progress=False)


def test_musly_style_sample_is_seeded(library, monkeypatch):
    _need("musly")
    tracks = peers.musly_tracks(library, n_jobs=1, progress=False)
    full = peers.musly_distances(tracks)
    monkeypatch.setattr(peers, "MUSLY_STYLE_MAX", 3)
    a = peers.musly_distances(tracks, style_seed=1)
    pd.testing.assert_frame_equal(a, peers.musly_distances(tracks, style_seed=1))
    assert not np.allclose(a.to_numpy(), full.to_numpy())  # a smaller style changes mutual proximity
    assert any(not np.allclose(a.to_numpy(), peers.musly_distances(tracks, style_seed=s).to_numpy()) for s in (2, 3, 4))


def test_musly_refuses_silence_and_tiny_libraries(tmp_path, library):
    import soundfile as sf

    _need("musly")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR * 2, np.float32), SR)
    with pytest.raises(AudioError, match="silent"):
        peers.musly_track(silent)
    with pytest.raises(ParameterError, match="unknown musly method"):
        peers.musly_track(silent, method="loudness")
    tracks = peers.musly_tracks(library.iloc[:1], n_jobs=1, progress=False)
    with pytest.raises(DatasetError, match="at least two"):
        peers.musly_distances(tracks)


# ------------------------------------------------------------------------------- both, as methods


def test_the_same_timbre_ranks_first(library):
    tables = {}
    for peer in peers.PEERS:
        try:
            tables.update(peers.peer_features(library, peers=(peer,), n_jobs=1, progress=False))
        except MissingDependencyError:
            pass
    methods = [m for m, peer in peers.PEER_METHODS.items() if peer in tables]
    if not methods:
        pytest.skip("neither bliss-audio nor pymusly is installed (make env)")
    for method in methods:
        s = peers.score(method, tables, PLAYLIST, CANDIDATES)
        assert s.idxmax() == "a3", f"{method}: {s.to_dict()}"
        assert s["a3"] > s[["b1", "b2", "b3"]].max()


def test_scoring_refuses_bad_input():
    table = pd.DataFrame(np.eye(3), index=pd.Index(["x", "y", "z"], name="track_id"), columns=["x", "y", "z"])
    with pytest.raises(ParameterError, match="unknown peer method"):
        peers.score("musly-centroid", {"musly": table}, ["x"], ["y"])
    with pytest.raises(ParameterError, match="needs the bliss table"):
        peers.score("bliss-mean", {"musly": table}, ["x"], ["y"])
    with pytest.raises(DatasetError, match="'w'"):
        peers.score("musly-mean", {"musly": table}, ["x"], ["w"])
    with pytest.raises(DatasetError, match="'w'"):
        peers.score("bliss-centroid", {"bliss": table}, ["w"], ["y"])
    with pytest.raises(DatasetError, match="no playlist"):
        peers.score("bliss-mean", {"bliss": table}, [], ["y"])
    # the distances of a known table: x->y is 0 in the identity "distance" matrix, x->x is 1
    s = peers.score("musly-mean", {"musly": table}, ["x"], ["x", "y"])
    assert s.to_dict() == {"x": -1.0, "y": -0.0}


def test_the_benchmark_runs_the_peers():
    """``benchmark.score_user`` and ``evaluate_methods`` run the peer methods from ``EvalData.peers``."""
    from melrec_lib.recsys import benchmark
    from melrec_lib.recsys.users import UserSplit

    table = pd.DataFrame(
        [[0.0, 1.0, 4.0, 2.0], [1.0, 0.0, 3.0, 6.0], [4.0, 3.0, 0.0, 6.0], [2.0, 6.0, 6.0, 0.0]],
        index=pd.Index(["p", "q", "r", "s"], name="track_id"),
        columns=["p", "q", "r", "s"],
    )
    feats = pd.DataFrame([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0], [5.0, 5.0]], index=table.index)
    user = UserSplit("u", "similar", 0, ("g",), ("p", "q"), ("r",), ("r", "s"), ("s",))
    data = benchmark.EvalData(embeddings={}, peers={"musly": table, "bliss": feats})
    musly = benchmark.score_user("musly-mean", user, data, epochs=1)
    assert musly.to_dict() == {"r": -3.5, "s": -4.0}  # by hand: mean of (4, 3) and of (2, 6)
    centroid = benchmark.score_user("bliss-centroid", user, data, epochs=1)
    assert centroid.to_dict() == pytest.approx({"r": -1.0, "s": -np.hypot(4.0, 5.0)})  # centroid (1, 0)
    mean = benchmark.score_user("bliss-mean", user, data, epochs=1)
    assert mean.to_dict() == pytest.approx({"r": -np.sqrt(2.0), "s": -(np.hypot(5, 5) + np.hypot(3, 5)) / 2})
    rows = benchmark.evaluate_methods(
        [user], data, methods=list(peers.PEER_METHODS), epochs=1, n_jobs=1, progress=False
    )
    assert rows.set_index("method")["roc_auc"].to_dict() == {
        "musly-mean": 1.0,
        "bliss-mean": 1.0,
        "bliss-centroid": 1.0,
    }
    with pytest.raises(ParameterError, match="needs the musly table"):
        benchmark.score_user("musly-mean", user, benchmark.EvalData(embeddings={}), epochs=1)
