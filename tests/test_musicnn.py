"""musicnn: the Keras 3 port against the original package's own outputs (tests/data/musicnn_reference.npz).

The fixture was written by ``tools/musicnn_reference.py`` in a separate environment with
TensorFlow 2.15.1, numpy 1.26 and librosa 0.10.2 (versions recorded inside it); this
environment has no TensorFlow at all.

Tolerances: tag probabilities within 1e-4 absolute (the issue's bar); penultimate features
(batch-normalised activations of order 1) within 1e-4 absolute as well; the log-mel input within
1e-6 (float32 ``log10`` of identical float16 values: equal up to the libm).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from melrec_lib.errors import AudioError, DatasetError, MelrecError, ParameterError
from melrec_lib.nets import musicnn

FIXTURE = Path(__file__).parent / "data" / "musicnn_reference.npz"
TAG_ATOL = 1e-4
PENULTIMATE_ATOL = 1e-4


def _write_wav(path: Path, samples: np.ndarray, sr: int) -> Path:
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def ref() -> dict:
    with np.load(FIXTURE) as d:
        out = {k: d[k] for k in d.files}
    out["meta"] = json.loads(str(out["meta"]))
    return out


@pytest.fixture(scope="module")
def clips(ref, tmp_path_factory) -> dict[str, Path]:
    """The fixture's clips as 16-bit WAV files, at their own rates (22.05 kHz mono, 16 kHz stereo/mono)."""
    folder = tmp_path_factory.mktemp("musicnn-clips")
    return {c: _write_wav(folder / f"{c}.wav", ref[f"{c}/audio"], int(ref[f"{c}/sr"])) for c in ref["meta"]["clips"]}


@pytest.fixture(scope="module")
def ported(ref, clips) -> dict:
    """The port's per-patch outputs for every clip and model, all patches of a model in one batch."""
    P = {c: musicnn.patches(musicnn.log_mel(musicnn.load_audio(p))) for c, p in clips.items()}
    out = {}
    for model in musicnn.MODELS:
        pred = musicnn.predict(np.concatenate(list(P.values())), model=model)
        start = 0
        for c, p in P.items():
            out[c, model] = {k: v[start : start + len(p)] for k, v in pred.items()}
            start += len(p)
    return out


def test_fixture_is_from_the_original_package(ref):
    v = ref["meta"]["versions"]
    assert v["musicnn"] == "0.1.0" and v["tensorflow"].startswith("2.15") and v["numpy"].startswith("1.")
    assert ref["meta"]["n_frames"] == musicnn.PATCH_FRAMES
    assert FIXTURE.stat().st_size < 1.5e6


# --------------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------------
def test_constants_follow_librosa():
    import librosa

    assert musicnn.PATCH_FRAMES == librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1
    # the shortest signal with 187 centred frames
    assert 1 + musicnn.MIN_SAMPLES // 256 == 187 and 1 + (musicnn.MIN_SAMPLES - 1) // 256 == 186


def test_load_audio_equals_librosa_load(clips):
    import librosa

    for c, path in clips.items():
        ours = musicnn.load_audio(path)
        theirs, sr = librosa.load(path, sr=16000)
        assert sr == 16000 and ours.dtype == np.float32 and ours.shape == theirs.shape, c
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6, err_msg=c)


def test_load_audio_equals_librosa_load_flac_44k_stereo(ref, tmp_path):
    import librosa
    import soundfile as sf

    path = tmp_path / "stereo.flac"
    sf.write(path, np.repeat(ref["noise/audio"], 2, axis=0)[: 44100 * 3], 44100, subtype="PCM_16")
    theirs, _ = librosa.load(path, sr=16000)
    ours = musicnn.load_audio(path)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


@pytest.mark.parametrize("signal", ["noise", "tone", "quiet"])
def test_melspectrogram_equals_librosa(rng, signal):
    import librosa

    n = 16000 * 2 + 123
    t = np.arange(n) / 16000
    y = {
        "noise": 0.3 * rng.standard_normal(n),
        "tone": 0.8 * np.sin(2 * np.pi * 440 * t),
        "quiet": 1e-4 * rng.standard_normal(n),
    }[signal].astype(np.float32)
    ours = musicnn.melspectrogram(y)
    theirs = librosa.feature.melspectrogram(y=y, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    assert ours.shape == theirs.shape == (1 + n // 256, 96) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6 * theirs.max())


def test_mel_bank_is_librosas():
    import librosa

    bank = musicnn._mel_bank(16000)
    np.testing.assert_allclose(bank.T, librosa.filters.mel(sr=16000, n_fft=512, n_mels=96), rtol=1e-6, atol=1e-9)


def test_log_mel_equals_the_originals_input(ref, clips):
    for c, path in clips.items():
        expected = np.log10(10000 * ref[f"{c}/mel_float16"].astype(np.float32) + 1)
        got = musicnn.log_mel(musicnn.load_audio(path))
        assert got.shape == expected.shape, c
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, err_msg=c)


@pytest.mark.parametrize(
    "n", [musicnn.MIN_SAMPLES, musicnn.MIN_SAMPLES + 255, 48000, 187 * 256 * 2 - 257, 187 * 256 * 2 - 256, 16000 * 30]
)
def test_patch_count_is_the_originals_rule(rng, n):
    y = (0.1 * rng.standard_normal(n)).astype(np.float32)
    S = musicnn.log_mel(y)
    P = musicnn.patches(S)
    # musicnn/extractor.py batch_data(): range(0, n_frames - 187 + 1, 187)
    starts = list(range(0, S.shape[0] - 187 + 1, 187))
    assert P.shape == (len(starts), 187, 96)
    np.testing.assert_array_equal(P[-1], S[starts[-1] : starts[-1] + 187])


# --------------------------------------------------------------------------------------------
# outputs against the original
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", musicnn.MODELS)
def test_taggram_matches_original(ref, ported, model):
    for c in ref["meta"]["clips"]:
        expected = ref[f"{c}/{model}/taggram"]
        got = ported[c, model]["taggram"]
        assert got.shape == expected.shape == (expected.shape[0], 50)
        assert np.abs(got - expected).max() <= TAG_ATOL, (c, model)


@pytest.mark.parametrize("model", musicnn.MODELS)
def test_penultimate_per_patch_matches_original_graph(ref, ported, model):
    for c in ref["meta"]["clips"]:
        expected = ref[f"{c}/{model}/penultimate_per_patch"]
        got = ported[c, model]["penultimate"]
        assert got.shape == expected.shape == (expected.shape[0], 200)
        assert np.abs(got - expected).max() <= PENULTIMATE_ATOL, (c, model)


@pytest.mark.parametrize("model", musicnn.MODELS)
def test_extract_is_the_original_extractor(ref, clips, model):
    """``extract`` returns what ``extractor.extractor`` returns, its repeated first-patch penultimate included."""
    for c in ("tones",):  # 2 patches: the slip shows from the second patch on
        out = musicnn.extract(clips[c], model=model)
        assert out["tags"] == tuple(ref[f"{model}/tags"])
        assert np.abs(out["taggram"] - ref[f"{c}/{model}/taggram"]).max() <= TAG_ATOL
        assert np.abs(out["penultimate"] - ref[f"{c}/{model}/penultimate"]).max() <= PENULTIMATE_ATOL
        assert out["taggram_mean"].shape == (50,) and out["penultimate_mean"].shape == (200,)
        own = musicnn.extract(clips[c], model=model, faithful=False)
        np.testing.assert_array_equal(own["taggram"], out["taggram"])
        assert np.abs(own["penultimate"] - ref[f"{c}/{model}/penultimate_per_patch"]).max() <= PENULTIMATE_ATOL
        assert np.abs(own["penultimate"][1:] - own["penultimate"][:1]).max() > 0.1  # patches differ


def test_batching_does_not_change_rows(ported, clips):
    """Rows are independent of the batch they run in (padding included)."""
    P = musicnn.patches(musicnn.log_mel(musicnn.load_audio(clips["chords"])))
    alone = musicnn.predict(P[1:3], model="MSD_musicnn")  # a batch of 2, not the 8 of `ported`
    np.testing.assert_allclose(alone["taggram"], ported["chords", "MSD_musicnn"]["taggram"][1:3], atol=1e-6)
    np.testing.assert_allclose(alone["penultimate"], ported["chords", "MSD_musicnn"]["penultimate"][1:3], atol=1e-5)


def test_weights_load_without_tensorflow_or_musicnn_code():
    code = (
        "import sys, melrec_lib.nets.musicnn as m; w = m.load_weights('MTT_musicnn'); "
        "print(len(w), any(k.split('.')[0] in ('tensorflow', 'musicnn') for k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["64", "False"]


def test_no_tensorflow_in_this_environment():
    assert importlib.util.find_spec("tensorflow") is None


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        musicnn.extract(tmp_path / "absent.wav")


def test_too_short_audio_is_refused(tmp_path):
    """The original fails with an UnboundLocalError under 187 frames; the port says why."""
    short = _write_wav(tmp_path / "short.wav", np.zeros(musicnn.MIN_SAMPLES - 1, np.int16), 16000)
    with pytest.raises(AudioError, match="shorter than one 3 s musicnn patch"):
        musicnn.extract(short)
    with pytest.raises(AudioError, match="fewer than one 3 s musicnn patch"):
        musicnn.patches(np.zeros((186, 96), np.float32))


@pytest.mark.parametrize(
    "call",
    [
        lambda: musicnn.extract("x.wav", model="MSD_vgg"),
        lambda: musicnn.build_model("musicnn"),
        lambda: musicnn.predict(np.zeros((1, 187, 96)), model="mtt_musicnn"),
        lambda: musicnn.checkpoint_prefix("MSD_musicnn_big"),
    ],
)
def test_unknown_model(call):
    with pytest.raises(ParameterError, match="unknown musicnn model"):
        call()


@pytest.mark.parametrize("X", [np.zeros((2, 186, 96)), np.zeros((187, 96)), np.full((1, 187, 96), np.nan)])
def test_bad_patches(X):
    with pytest.raises(ParameterError):
        musicnn.predict(X)


def test_bad_parameters(clips):
    with pytest.raises(ParameterError, match="faithful"):
        musicnn.extract(clips["noise"], faithful="yes")
    with pytest.raises(ParameterError):
        musicnn.melspectrogram(np.zeros((2, 100), np.float32))
    with pytest.raises(MelrecError):
        musicnn.melspectrogram(np.array([np.inf] * 1000, np.float32))


# --------------------------------------------------------------------------------------------
# a collection, cached
# --------------------------------------------------------------------------------------------
def test_track_embeddings_cached(clips, ported, tmp_path, monkeypatch):
    short = _write_wav(tmp_path / "short.wav", np.zeros(16000, np.int16), 16000)
    manifest = pd.DataFrame(
        {
            "track_id": ["a", "b", "c", "short", "gone"],
            "path": [
                str(clips["tones"]),
                str(clips["noise"]),
                str(clips["chords"]),
                str(short),
                str(tmp_path / "gone.wav"),
            ],
        }
    )
    kw = dict(model="MTT_musicnn", corpus_name="clips", progress=False, n_jobs=1, cache_dir=tmp_path / "cache")
    with pytest.warns(UserWarning, match="2 of 5 tracks skipped"):
        X, track = musicnn.track_embeddings(manifest, layer="penultimate", **kw)
    assert X.shape == (6, 200) and X.dtype == np.float32
    assert track.tolist() == ["a", "a", "b", "c", "c", "c"]
    expected = np.concatenate([ported[c, "MTT_musicnn"]["penultimate"] for c in ("tones", "noise", "chords")])
    np.testing.assert_allclose(X, expected, atol=1e-5)
    folder = next((tmp_path / "cache" / "clips" / "musicnn-MTT_musicnn").iterdir())
    meta = json.loads((folder / "meta.json").read_text())
    assert [s[0] for s in meta["skipped"]] == ["short", "gone"]

    def fail(path):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(musicnn, "_compute_track", fail)
    T, track2 = musicnn.track_embeddings(manifest, layer="taggram", **kw)
    assert T.shape == (6, 50) and track2.tolist() == track.tolist()
    np.testing.assert_allclose(T[3:], ported["chords", "MTT_musicnn"]["taggram"], atol=1e-5)

    # an unreadable store (a truncated array) is recomputed and replaced, with a warning
    monkeypatch.undo()
    T = np.array(T)  # not a memory map of the file truncated below
    (folder / "taggram.npy").write_bytes((folder / "taggram.npy").read_bytes()[:60])
    with pytest.warns(UserWarning, match="unreadable musicnn cache"):
        T2, _ = musicnn.track_embeddings(manifest, layer="taggram", **kw)
    np.testing.assert_allclose(T2, T, atol=1e-6)
    np.testing.assert_array_equal(np.load(folder / "taggram.npy"), T2)

    # the time-blurred diagnostic is stored under its own key and leaves the plain cache alone
    with pytest.warns(UserWarning, match="2 of 5 tracks skipped"):
        B, track3 = musicnn.track_embeddings(manifest, layer="taggram", time_block=8, **kw)
    assert track3.tolist() == track.tolist() and len(list(folder.parent.iterdir())) == 2
    P = musicnn.patches(musicnn.log_mel(musicnn.load_audio(clips["chords"])))
    expected = musicnn.predict(musicnn.blur_time(P, 8), model="MTT_musicnn")["taggram"]
    np.testing.assert_allclose(B[3:], expected, atol=1e-5)
    assert np.abs(B[3:] - T2[3:]).max() > 0.01


def test_blur_time_averages_the_mel_power_of_each_run(rng):
    import librosa

    gain = np.repeat(rng.uniform(0.05, 1.0, 16), 4000)  # the loudness changes every 0.25 s
    y = (rng.normal(size=gain.size) * gain).astype(np.float32)
    power = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=256, n_mels=96).T[:187]
    P = np.log10(10000 * power.astype(np.float16).astype(np.float32) + 1)[None]
    out = musicnn.blur_time(P, 8)
    x = 10000 * power.astype(np.float16).astype(np.float64)
    for k in range(0, 187, 8):
        run = np.log10(x[k : k + 8].mean(axis=0) + 1)
        np.testing.assert_allclose(out[0, k : k + 8], np.broadcast_to(run, out[0, k : k + 8].shape), rtol=1e-4)
    assert np.abs(out - P).max() > 0.1
    np.testing.assert_array_equal(musicnn.blur_time(P, 1), P)
    for bad in (0, 188, 2.0, True):
        with pytest.raises(ParameterError):
            musicnn.blur_time(P, bad)
    with pytest.raises(ParameterError):
        musicnn.blur_time(P[0], 8)


def test_track_embeddings_bad_input(tmp_path):
    good = pd.DataFrame({"track_id": ["x"], "path": [str(tmp_path / "none.wav")]})
    with pytest.raises(ParameterError, match="layer"):
        musicnn.track_embeddings(good, layer="pool", corpus_name="c")
    with pytest.raises(ParameterError, match="corpus_name"):
        musicnn.track_embeddings(good, corpus_name="")
    with pytest.raises(DatasetError, match="columns"):
        musicnn.track_embeddings(pd.DataFrame({"id": [1]}), corpus_name="c")
    with pytest.raises(DatasetError, match="empty"):
        musicnn.track_embeddings(good.iloc[:0], corpus_name="c")
    with pytest.warns(UserWarning), pytest.raises(DatasetError, match="no track"):
        musicnn.track_embeddings(good, corpus_name="c", progress=False, n_jobs=1, cache_dir=tmp_path)
