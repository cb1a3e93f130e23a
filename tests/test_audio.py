"""melrec_lib.io.audio against soundfile and soxr, and the thesis' ffmpeg conversion semantics."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr

from melrec_lib.errors import AudioError, ParameterError
from melrec_lib.io import audio, wav


def _stereo(rng, seconds=1.0, sr=44100):
    t = np.arange(int(seconds * sr)) / sr
    left = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    right = 0.3 * np.sin(2 * np.pi * 660 * t) + 0.05 * rng.standard_normal(t.size)
    return np.stack([left, right], axis=1)


@pytest.fixture
def files(tmp_path, rng):
    """The same stereo signal as WAV (PCM 16), FLAC, OGG, MP3 and AU, plus a mono 22.05 kHz WAV."""
    x = _stereo(rng)
    out = {}
    for ext, kw in {
        ".wav": dict(subtype="PCM_16"),
        ".flac": dict(subtype="PCM_16"),
        ".ogg": dict(format="OGG", subtype="VORBIS"),
        ".mp3": dict(format="MP3"),
        ".au": dict(format="AU", subtype="PCM_16"),
    }.items():
        out[ext] = tmp_path / f"tone{ext}"
        sf.write(out[ext], x, 44100, **kw)
    out["mono22k"] = tmp_path / "mono22k.WAV"
    sf.write(out["mono22k"], x[::2, 0], 22050, subtype="FLOAT")
    return out


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg", ".mp3", ".au"])
def test_load_equals_soundfile(files, ext):
    ref, rate = sf.read(files[ext], dtype="float32", always_2d=True)
    y, sr = audio.load(files[ext], sr=None, mono=False)
    assert sr == rate == 44100 and y.dtype == np.float32 and y.shape == ref.shape
    np.testing.assert_array_equal(y, ref)
    y, sr = audio.load(files[ext], sr=None)
    assert y.shape == (ref.shape[0],)
    np.testing.assert_allclose(y, ref.astype(np.float64).mean(axis=1), atol=1e-7)


def test_wav_goes_through_melrec_wav(files, monkeypatch):
    calls = []
    real = wav.read
    monkeypatch.setattr(wav, "read", lambda path, **kw: calls.append(path) or real(path, **kw))
    audio.load(files[".wav"])
    audio.load(files["mono22k"])  # upper-case .WAV too
    audio.load(files[".flac"])
    assert len(calls) == 2


@pytest.mark.parametrize("target", [22050, 16000, 48000])
def test_resampling_is_soxr(files, target):
    y, sr = audio.load(files[".flac"], sr=target)
    ref = soxr.resample(sf.read(files[".flac"], dtype="float32")[0].mean(axis=1), 44100, target, quality="HQ")
    assert sr == target and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, atol=1e-6)
    assert abs(y.size - 1.0 * target) <= 1  # duration kept


def test_resampling_keeps_a_tones_frequency(tmp_path):
    t = np.arange(44100 * 2) / 44100
    sf.write(tmp_path / "a.flac", 0.5 * np.sin(2 * np.pi * 1000 * t), 44100)
    y, sr = audio.load(tmp_path / "a.flac", sr=16000)
    spectrum = np.abs(np.fft.rfft(y))
    assert np.fft.rfftfreq(y.size, 1 / sr)[np.argmax(spectrum)] == pytest.approx(1000, abs=1)


def test_native_rate_and_upsampling(files):
    y, sr = audio.load(files["mono22k"], sr=None)
    assert sr == 22050 and y.size == 22050
    y44, sr44 = audio.load(files["mono22k"])
    assert sr44 == 44100 and y44.size == 44100


def test_thesis_conversion(files):
    # ffmpeg -ac 1 -ar 44100 pcm_s16le: mono, 44.1 kHz, 16-bit grid
    y, sr = audio.load(files["mono22k"], thesis=True)
    assert sr == 44100 and y.ndim == 1 and y.dtype == np.float32
    codes = y.astype(np.float64) * 32768
    np.testing.assert_array_equal(codes, np.round(codes))
    y_float, _ = audio.load(files["mono22k"], sr=44100)
    assert np.abs(y - y_float).max() <= 0.5 / 32768 + 1e-9  # rounding, not truncation
    assert np.abs(y - y_float).max() > 0
    # a 16-bit 44.1 kHz WAV is already what ffmpeg would write: unchanged (after the mono mix)
    x16, _ = sf.read(files[".wav"], dtype="int16")
    mono16 = audio.quantize_s16(x16.astype(np.float64).mean(axis=1) / 32768)
    np.testing.assert_array_equal(audio.load(files[".wav"], thesis=True)[0], mono16)


def test_quantize_s16_formula(rng):
    y = rng.uniform(-1.2, 1.2, 10_000)
    q = audio.quantize_s16(y)
    ref = np.clip(np.rint(y * 32768), -32768, 32767).astype(np.int16)  # av_clip_int16(lrintf(x * 32768))
    np.testing.assert_array_equal(q, ref / np.float32(32768))
    assert q.max() == np.float32(32767 / 32768) and q.min() == -1.0


@pytest.mark.parametrize("ext", [".wav", ".flac", ".mp3"])
def test_info_is_the_header(files, ext):
    meta = sf.info(files[ext])
    got = audio.info(files[ext])
    assert (got.sample_rate, got.frames, got.channels) == (meta.samplerate, meta.frames, meta.channels)
    assert got.duration_s == pytest.approx(meta.frames / meta.samplerate)


def test_extensions():
    assert audio.AUDIO_EXTENSIONS == (".wav", ".mp3", ".ogg", ".flac", ".au")


@pytest.mark.parametrize(
    "name,content",
    [
        ("broken.flac", b"fLaC this is not really flac"),
        ("broken.mp3", b"\x00" * 10),
        ("broken.wav", b"RIFF\x10\x00\x00\x00WAVEjunk"),
        ("text.ogg", b"hello"),
    ],
)
def test_unreadable_files_raise_audio_error_naming_the_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioError, match=name):
        audio.load(path)
    with pytest.raises(AudioError, match=name):
        audio.info(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(AudioError, match="nothere.mp3"):
        audio.load(tmp_path / "nothere.mp3")
    with pytest.raises(AudioError, match="nothere.wav"):
        audio.info(tmp_path / "nothere.wav")
    with pytest.raises(AudioError):
        audio.load(tmp_path)


@pytest.mark.filterwarnings("ignore::UserWarning")  # wav: a data size of 0 reads as a streamed file
@pytest.mark.parametrize("name", ["empty.flac", "empty.wav"])
def test_empty_file_raises(tmp_path, name):
    sf.write(tmp_path / name, np.zeros(0), 44100)
    with pytest.raises(AudioError, match=name):
        audio.load(tmp_path / name)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(sr=0),
        dict(sr=-8000),
        dict(sr=44100.5),
        dict(sr="44100"),
        dict(thesis=True, sr=22050),
        dict(thesis=True, mono=False),
    ],
)
def test_bad_parameters_raise(files, kwargs):
    with pytest.raises(ParameterError):
        audio.load(files[".flac"], **kwargs)


def test_bad_path_type():
    with pytest.raises(ParameterError):
        audio.load(42)


# ---------------------------------------------------------------------------- spans
@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT"])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_load_spans_equal_slices_of_load(tmp_path, rng, subtype, channels):
    path = tmp_path / "x.wav"
    sf.write(path, rng.uniform(-0.9, 0.9, size=(44100, channels)), 44100, subtype=subtype)
    y, _ = audio.load(path)
    spans = [(0, 5512), (100, 44100), (44099, 44100)]
    for (a, b), part in zip(spans, audio.load_spans(path, spans)):
        assert part.dtype == np.float32 and part.flags.c_contiguous
        np.testing.assert_array_equal(part, y[a:b])
    header = audio.pcm_header(path, 44100)
    assert (header is not None) == (subtype != "FLOAT")  # float WAVs are read whole (NaN check)
    if header is not None:
        assert header.n_frames == 44100
        np.testing.assert_array_equal(audio.load_spans(path, spans[:1], header=header)[0], y[:5512])


def test_load_spans_read_only_the_spans(files, monkeypatch):
    # an integer-PCM WAV at the asked rate is read span by span, never whole
    monkeypatch.setattr(wav, "read", lambda *a, **k: pytest.fail("read the whole file"))
    y = sf.read(files[".wav"], dtype="float64")[0].mean(axis=1).astype(np.float32)
    np.testing.assert_array_equal(audio.load_spans(files[".wav"], [(10, 20)])[0], y[10:20])


@pytest.mark.parametrize("key, sr", [(".wav", 22050), (".flac", 44100), (".mp3", 44100), ("mono22k", 44100)])
def test_load_spans_of_other_files_cut_the_loaded_signal(files, key, sr):
    assert audio.pcm_header(files[key], sr) is None
    y, _ = audio.load(files[key], sr=sr)
    np.testing.assert_array_equal(audio.load_spans(files[key], [(3, 999)], sr=sr)[0], y[3:999])
    with pytest.raises(AudioError, match="span"):
        audio.load_spans(files[key], [(0, y.size + 1)], sr=sr)
