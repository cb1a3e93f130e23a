"""Honesty checks of the synthetic corpus melrec-synth (melrec_lib.corpora.melrec_synth, melrec_lib.corpora.synth).

References that are not our code: soundfile (file format, lengths), librosa (tempo, MFCC),
scikit-learn (separability), zlib (seed derivation), hashlib (byte identity), pretty_midi (scores),
and the genre idioms of the brief (tempo ranges, GM instruments) written out here by hand.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from melrec_lib.corpora import melrec_synth
from melrec_lib.corpora.synth.styles import STYLES, tempo_candidates
from melrec_lib.errors import DatasetError, ParameterError

SMOKE = melrec_synth.SIZES["smoke"]
DRUMLESS = {"classical"}

# The idiomatic tempo ranges of the brief (BPM), independent of melrec_lib.corpora.synth.styles.
BRIEF_TEMPO = {
    "metal": (160, 200),
    "rock": (110, 140),
    "hip-hop": (85, 95),
    "reggae": (70, 80),
    "pop": (100, 125),
    "drum-and-bass": (170, 176),
    "dubstep": (138, 142),
    "jazz": (120, 220),
    "classical": (40, 140),
}
# GM programs (0-based) an idiomatic track of the genre must contain at least one of.
BRIEF_PROGRAMS = {
    "metal": {29, 30},  # overdrive / distortion guitar
    "rock": {29, 30},
    "classical": set(range(40, 49)) | {0, 1, 6, 68, 70, 71, 72, 73, 60},  # strings, piano, harpsichord, winds
    "jazz": {32, 33},  # (acoustic / fingered) walking bass
}


def _sha1(path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def smoke_audio(smoke_manifest):
    """Every smoke track at 22050 Hz (librosa's defaults), loaded once."""
    import librosa

    return {r.track_id: librosa.load(r.path, sr=22050)[0] for r in smoke_manifest.itertuples()}


# ------------------------------------------------------------------------------- manifest


def test_manifest_has_planned_counts(smoke_manifest):
    df = smoke_manifest
    assert list(df.columns[:9]) == [
        "track_id",
        "path",
        "genre",
        "substyle",
        "artist",
        "tempo_bpm",
        "key",
        "duration_s",
        "seed",
    ]
    assert len(df) == SMOKE.n_total == 9 * 3 * 2
    assert tuple(df["genre"].unique()) == melrec_synth.GENRES
    assert (df.groupby("genre").size() == SMOKE.n_artists * SMOKE.n_tracks).all()
    assert (df.groupby("genre")["artist"].nunique() == SMOKE.n_artists).all()
    assert (df.groupby("artist").size() == SMOKE.n_tracks).all()
    for genre, subs in melrec_synth.SUBSTYLES.items():
        assert len(subs) >= 2
        assert set(df.loc[df["genre"] == genre, "substyle"]) == set(subs), genre
    assert (df.groupby("artist")["substyle"].nunique() == 1).all()  # an artist keeps its sub-style
    assert df["track_id"].is_unique


def test_files_are_44k1_mono_pcm16_of_planned_length(smoke_manifest):
    lo, hi = SMOKE.duration_s
    for r in smoke_manifest.itertuples():
        info = sf.info(r.path)
        assert (info.samplerate, info.channels, info.subtype, info.format) == (44100, 1, "PCM_16", "WAV")
        assert info.frames == round(r.duration_s * 44100), r.track_id
        assert lo <= r.duration_s <= hi
        assert info.frames >= 8 * 44100  # at least one 8 s fragment
        rel = Path(r.path).relative_to(melrec_synth.corpus_root("smoke").resolve())
        assert rel.parts == (r.genre, r.artist, f"{r.track_id}.wav")


def test_manifest_on_disk_has_relative_paths_and_reads_back(smoke_manifest):
    import pandas as pd

    raw = pd.read_csv(melrec_synth.corpus_root("smoke") / "tracks.csv")
    assert not any(os.path.isabs(p) for p in raw["path"])
    back = melrec_synth.load_manifest("smoke")
    assert list(back["path"]) == list(smoke_manifest["path"])
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in back["path"])


def test_seeds_are_crc32_of_names_not_python_hash(smoke_manifest):
    for r in smoke_manifest.itertuples():
        t = int(r.track_id.rsplit("-t", 1)[1]) - 1
        assert r.seed == zlib.crc32(f"0/{r.genre}/{r.artist}/{t}".encode())


def test_tempo_and_key_idiomatic_and_varied(smoke_manifest):
    full = melrec_synth.plan("default")
    for spec in full:
        lo, hi = BRIEF_TEMPO[spec.genre]
        assert lo <= spec.tempo_bpm <= hi, (spec.track_id, spec.tempo_bpm)
    # tracks of one artist vary (key, tempo, length) while the artist's palette is shared
    by_artist = {}
    for spec in full:
        by_artist.setdefault(spec.artist, []).append(spec)
    varied = sum(len({(s.key, s.tempo_bpm) for s in v}) > 1 for v in by_artist.values())
    assert varied == len(by_artist)
    assert all(len({id(s.palette) for s in v}) == 1 for v in by_artist.values())


# ------------------------------------------------------------------------------- audio


def test_no_clipping_and_sensible_level(smoke_manifest):
    for r in smoke_manifest.itertuples():
        pcm, _ = sf.read(r.path, dtype="int16")
        peak = np.abs(pcm.astype(np.int32)).max() / 32768
        y = pcm / 32768.0
        rms_db = 20 * np.log10(np.sqrt(np.mean(y**2)))
        assert peak < 0.99, (r.track_id, peak)
        assert -26 < rms_db < -10, (r.track_id, rms_db)
        # no silent 8 s stretch anywhere (every fragment the networks see has music in it)
        win = 8 * 44100
        starts = range(0, len(y) - win + 1, 44100)
        assert min(np.sqrt(np.mean(y[s : s + win] ** 2)) for s in starts) > 10 ** (-40 / 20), r.track_id


@pytest.mark.parametrize("genre", [g for g in melrec_synth.GENRES if g not in DRUMLESS])
def test_librosa_tempo_matches_notated_tempo(genre, smoke_manifest, smoke_audio):
    """librosa's tempo estimate is within 5 % of the notated tempo.

    Sub-styles flagged ``felt_half`` (dubstep's half-time; thrash, nu-metal, drum & bass and
    bebop above ~160 BPM) may be read at half tempo: librosa's default prior (log-normal around
    120 BPM) prefers the half whenever the beat pattern repeats every two beats, as any backbeat
    does.  The double is never accepted.
    """
    import librosa

    rows = smoke_manifest[smoke_manifest["genre"] == genre]
    for r in rows.itertuples():
        est = float(librosa.feature.tempo(y=smoke_audio[r.track_id], sr=22050)[0])
        ok = [c for c in tempo_candidates(r.genre, r.substyle, r.tempo_bpm) if abs(est / c - 1) < 0.05]
        assert ok, f"{r.track_id} ({r.substyle}): notated {r.tempo_bpm} BPM, librosa {est:.1f}"
        if not STYLES[r.genre][r.substyle].felt_half:
            assert abs(est / r.tempo_bpm - 1) < 0.05


def test_genres_learnable_on_unseen_artists(smoke_manifest, smoke_audio):
    """MFCC statistics + logistic regression on artists never seen in training: above chance.

    The smoke corpus has 3 artists per genre (sub-styles A, B, A), so only the A artists can be
    held out with their sub-style still represented in training; an unseen sub-style is at
    chance with MFCC statistics, which is what distinct sub-styles should do.  Smoke size only
    allows "twice chance"; the default corpus reaches about 0.8 (see the issue report).
    """
    import librosa
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = smoke_manifest
    X = []
    for r in df.itertuples():
        m = librosa.feature.mfcc(y=smoke_audio[r.track_id], sr=22050, n_mfcc=20)
        X.append(np.concatenate([m.mean(axis=1), m.std(axis=1)]))
    X = np.array(X)
    number = df["artist"].str[-2:].astype(int).to_numpy()
    accs = []
    for held_out in (1, 3):
        test = number == held_out
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.5))
        clf.fit(X[~test], df["genre"][~test])
        accs.append(clf.score(X[test], df["genre"][test]))
    assert np.mean(accs) > 2 / 9, accs  # chance is 1/9


def test_classical_has_no_drums_and_instruments_are_idiomatic():
    for spec in melrec_synth.plan("smoke"):
        pm = melrec_synth.compose(spec)
        drums = [i for i in pm.instruments if i.is_drum]
        programs = {i.program for i in pm.instruments if not i.is_drum}
        if spec.genre == "classical":
            assert not drums
        else:
            assert drums and drums[0].notes, spec.track_id
        if spec.genre in BRIEF_PROGRAMS:
            assert programs & BRIEF_PROGRAMS[spec.genre], (spec.track_id, programs)
        assert pm.get_end_time() >= spec.duration_s  # the score covers the whole file


def test_dubstep_bass_wobbles():
    """Dubstep basses carry a volume (CC11) LFO: many expression changes per bar."""
    for spec in [s for s in melrec_synth.plan("smoke") if s.genre == "dubstep"]:
        pm = melrec_synth.compose(spec)
        bass = [i for i in pm.instruments if i.name == "bass"][0]
        cc11 = [c for c in bass.control_changes if c.number == 11]
        bars = spec.duration_s * spec.tempo_bpm / 240
        assert len(cc11) > 8 * bars * 0.5, spec.track_id
        assert np.ptp([c.value for c in cc11]) > 60


# ------------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_across_processes(smoke_manifest, tmp_path):
    """Rendering a track here gives the bytes the (parallel) build wrote; order does not matter."""
    specs = {s.track_id: s for s in melrec_synth.plan("smoke", seed=0)}
    ids = ["jazz-a02-t02", "rock-a01-t01", "dubstep-a03-t01"]
    for tid in ids:  # rendered after different predecessors than in the build
        out = tmp_path / f"{tid}.wav"
        melrec_synth._write_track(specs[tid], out)
        built = smoke_manifest.set_index("track_id").loc[tid, "path"]
        assert _sha1(out) == _sha1(built), tid


def test_different_seed_different_audio(smoke_manifest):
    a = {s.track_id: s for s in melrec_synth.plan("smoke", seed=0)}["pop-a01-t01"]
    b = {s.track_id: s for s in melrec_synth.plan("smoke", seed=1)}["pop-a01-t01"]
    assert a.seed != b.seed and a.palette != b.palette
    ya, yb = melrec_synth.render_track(a), melrec_synth.render_track(b)
    n = min(len(ya), len(yb))
    assert np.corrcoef(ya[:n], yb[:n])[0, 1] < 0.5


def test_rerun_skips_valid_files_and_redoes_broken_ones(smoke_manifest, monkeypatch):
    rows = smoke_manifest.set_index("track_id")
    broken = Path(rows.loc["reggae-a01-t02", "path"])
    missing = Path(rows.loc["metal-a02-t01", "path"])
    good_hash = {p: _sha1(p) for p in (broken, missing)}
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # truncated: header says more frames than present
    missing.unlink()
    rendered = []
    original = melrec_synth._write_track
    monkeypatch.setattr(
        melrec_synth, "_write_track", lambda spec, path: (rendered.append(spec.track_id), original(spec, path))
    )
    df = melrec_synth.build("smoke", seed=0, n_jobs=1, progress=False)
    assert sorted(rendered) == ["metal-a02-t01", "reggae-a01-t02"]
    assert all(_sha1(p) == h for p, h in good_hash.items())
    assert list(df["track_id"]) == list(smoke_manifest["track_id"])
    rendered.clear()
    melrec_synth.build("smoke", seed=0, n_jobs=1, progress=False)
    assert rendered == []
    assert not list(melrec_synth.corpus_root("smoke").rglob(".*.tmp-*"))  # no temporary file left behind


def test_example_track(smoke_manifest):
    for genre in ("rock", "classical"):
        path = melrec_synth.example_track(genre)
        assert path.is_file() and path.parent.parent.name == genre


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call",
    [
        lambda: melrec_synth.corpus_root("huge"),
        lambda: melrec_synth.plan("huge"),
        lambda: melrec_synth.build("huge", progress=False),
        lambda: melrec_synth.load_manifest("huge"),
        lambda: melrec_synth.example_track("rock", size="huge"),
        lambda: melrec_synth.example_track("polka"),
        lambda: melrec_synth.plan("smoke", seed=-1),
        lambda: melrec_synth.plan("smoke", seed=1.5),
        lambda: melrec_synth.build("smoke", n_jobs=0, progress=False),
    ],
)
def test_typed_errors(call):
    with pytest.raises(ParameterError):
        call()


def test_unknown_values_named_in_message():
    with pytest.raises(ParameterError, match="polka"):
        melrec_synth.example_track("polka")
    with pytest.raises(ParameterError, match="huge"):
        melrec_synth.corpus_root("huge")


def test_load_manifest_not_built_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv("MELREC_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match=r"melrec corpus --size default"):
        melrec_synth.load_manifest("default")


# ------------------------------------------------------------------------------- figure


def test_genre_gallery(smoke_manifest):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from melrec_lib.dsp import fragments
    from melrec_lib.io import audio
    from melrec_lib.plots import corpus as cplots

    fig = cplots.genre_gallery(smoke_manifest, config="thesis", seed=3)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    visible = [ax for ax in panels if ax.get_visible()]
    assert len(panels) == 9 and len(visible) == 9
    assert [ax.get_title().split(" /")[0] for ax in visible] == list(melrec_synth.GENRES)
    assert "(s)" in visible[-1].get_xlabel() and "mel" in visible[0].get_ylabel()
    picks = cplots.pick_fragments(smoke_manifest, config="thesis", seed=3)
    first = picks[0]
    path = smoke_manifest.set_index("track_id").loc[first["track_id"], "path"]
    y, sr = audio.load(path, sr=44100)
    ref = fragments.thesis_fragment(y, sr, first["offset_s"])
    np.testing.assert_allclose(first["X"], ref, atol=1e-4)
    np.testing.assert_array_equal(visible[0].get_images()[0].get_array(), first["X"].T)
    plt.close(fig)
    with pytest.raises(DatasetError, match="polka"):
        cplots.pick_fragments(smoke_manifest, genres=["polka"])
