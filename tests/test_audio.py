"""melrec_lib.io.audio against soundfile and soxr, and the thesis' ffmpeg conversion semantics."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr
from media import FORMATS, encode, signal, write

from melrec_lib.errors import AudioError, ParameterError
from melrec_lib.io import audio, decode, wav


def _stereo(rng, seconds=1.0, sr=44100):
    t = np.arange(int(seconds * sr)) / sr
    left = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    right = 0.3 * np.sin(2 * np.pi * 660 * t) + 0.05 * rng.standard_normal(t.size)
    return np.stack([left, right], axis=1)


@pytest.fixture
def files(tmp_path, rng):
    """The same stereo signal as WAV (PCM 16), FLAC, OGG, MP3, AU and AIFF, plus a mono 22.05 kHz WAV."""
    x = _stereo(rng)
    out = {}
    for ext, kw in {
        ".wav": dict(subtype="PCM_16"),
        ".flac": dict(subtype="PCM_16"),
        ".ogg": dict(format="OGG", subtype="VORBIS"),
        ".mp3": dict(format="MP3"),
        ".au": dict(format="AU", subtype="PCM_16"),
        ".aiff": dict(format="AIFF", subtype="PCM_16"),
        ".aif": dict(format="AIFF", subtype="PCM_24"),
    }.items():
        out[ext] = tmp_path / f"tone{ext}"
        sf.write(out[ext], x, 44100, **kw)
    out["mono22k"] = tmp_path / "mono22k.WAV"
    sf.write(out["mono22k"], x[::2, 0], 22050, subtype="FLOAT")
    return out


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg", ".mp3", ".au", ".aiff", ".aif"])
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
    # soundfile's (and melrec's WAV reader's) first, unchanged; then AIFF, which soundfile reads,
    # and Opus, which it read before (the soundtracks corpus converts .opus files: bit for bit)
    assert audio.AUDIO_EXTENSIONS[:8] == (".wav", ".mp3", ".ogg", ".flac", ".au", ".aif", ".aiff", ".opus")
    for ext in (".m4a", ".mp4", ".aac", ".oga", ".wma", ".ape", ".wv", ".mka", ".webm"):
        assert ext in audio.AUDIO_EXTENSIONS and audio.by_pyav(f"x{ext.upper()}")
    assert len(set(audio.AUDIO_EXTENSIONS)) == len(audio.AUDIO_EXTENSIONS)
    assert not any(audio.by_pyav(f"x{ext}") for ext in audio.SOUNDFILE_EXTENSIONS)


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


# ---------------------------------------------------------------------------- PyAV's formats
#: Lossless encodings of media.signal: decoded to the encoder's 16-bit grid.
LOSSLESS = {"alac-m4a", "flac", "flac-oga", "flac-mka", "wavpack", "alac-caf", "pcm-wav", "pcm24-wav", "pcm-aiff"}


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """One 2 s file of each format of media.FORMATS (encoded by FFmpeg through PyAV, or soundfile)."""
    folder = tmp_path_factory.mktemp("formats")
    return {name: write(folder, name, 2.0) for name in FORMATS}


def _peak_hz(x: np.ndarray, sr: int) -> float:
    return float(np.fft.rfftfreq(x.size, 1 / sr)[np.argmax(np.abs(np.fft.rfft(x)))])


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_decodes_to_its_signal(collection, name):
    rate = FORMATS[name][2]
    y, sr = audio.load(collection[name], sr=None, mono=False)
    ref = signal(2.0, rate).T
    assert sr == rate and y.dtype == np.float32 and y.shape[1] == 2
    assert abs(y.shape[0] - ref.shape[0]) <= 0.05 * rate  # an encoder's padding at most
    if name in LOSSLESS:
        n = min(len(y), len(ref))
        np.testing.assert_allclose(y[:n], ref[:n], atol=1.01 / 32768)  # channels in order, 16-bit rounding
    else:  # lossy: each channel keeps its tone (440 Hz left, 660 Hz right) and its level
        for ch, hz in enumerate((440, 660)):
            assert _peak_hz(y[:, ch], sr) == pytest.approx(hz, abs=1)
            rms, ref_rms = np.sqrt(np.mean(y[:, ch] ** 2)), np.sqrt(np.mean(ref[:, ch] ** 2))
            assert 20 * np.log10(rms / ref_rms) == pytest.approx(0, abs=1.0)
    info = audio.info(collection[name])
    assert (info.sample_rate, info.channels) == (rate, 2)
    assert info.duration_s == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize("name", ["aac-m4a", "opus-oga", "wavpack"])
def test_pyav_files_are_mixed_and_resampled_like_the_others(collection, name):
    x, native = audio.load(collection[name], sr=None, mono=False)
    y, sr = audio.load(collection[name], sr=22050)
    ref = soxr.resample(x.astype(np.float64).mean(axis=1).astype(np.float32), native, 22050, quality="HQ")
    assert sr == 22050
    np.testing.assert_allclose(y, ref, atol=1e-6)


def test_each_file_goes_to_one_decoder(collection, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("wrong decoder")

    with monkeypatch.context() as m:  # PyAV's formats never reach soundfile or the WAV reader
        m.setattr(sf, "read", refuse)
        m.setattr(sf, "info", refuse)
        m.setattr(wav, "read", refuse)
        for path in collection.values():
            if audio.by_pyav(path):
                audio.load(path)
                audio.info(path)
    with monkeypatch.context() as m:  # and soundfile's (WAV, FLAC, Ogg, MP3, AIFF) never reach PyAV
        m.setattr(decode, "read", refuse)
        m.setattr(decode, "probe", refuse)
        m.setattr(decode, "read_spans", refuse)
        for path in collection.values():
            if not audio.by_pyav(path):
                audio.load(path)
                audio.info(path)
                audio.load_spans(path, [(10, 20)])


SPAN_FORMATS = [
    "aac-m4a",
    "alac-m4a",
    "opus-oga",
    "wavpack",
    "alac-caf",
    "flac-mka",
    "opus-webm",
    "wma",
    "aac-adts",
    "flac-oga",
]


@pytest.mark.parametrize("name", SPAN_FORMATS)
def test_pyav_spans_equal_the_whole_decode(tmp_path, name):
    filename, codec, rate, options = FORMATS[name]
    path = tmp_path / filename
    encode(path, codec, signal(30.0, rate, seed=3), rate, **options)
    for sr in (rate, 44100 if rate != 44100 else 48000, 16000):
        y, _ = audio.load(path, sr=sr)
        spans = [(0, 1000), (5 * sr, 8 * sr), (20 * sr + 17, 23 * sr), (y.size - 3000, y.size), (6 * sr, 6 * sr + 1)]
        for (a, b), part in zip(spans, audio.load_spans(path, spans, sr=sr)):
            assert part.shape == (b - a,) and part.dtype == np.float32 and part.flags.c_contiguous
            where = f"{name} at {sr} Hz, span {(a, b)}"
            if codec == "aac" and decode.seeks(path):
                # AAC's noise substitution draws from the decoder's running random state, which
                # a seek leaves elsewhere: the noise bands (here at -46 dBFS) differ, nothing else
                diff = part.astype(np.float64) - y[a:b]
                assert np.abs(diff).max() < 0.01, where
                assert np.sqrt(np.mean(diff**2)) < 1e-3 * max(np.sqrt(np.mean(y[a:b].astype(np.float64) ** 2)), 1e-3), (
                    where
                )
            else:
                np.testing.assert_allclose(part, y[a:b], atol=2e-6, err_msg=where)
        with pytest.raises(AudioError, match="span"):
            audio.load_spans(path, [(y.size - 10, y.size + 1)], sr=sr)
        with pytest.raises(AudioError, match="span"):
            audio.load_spans(path, [(5, 5)], sr=sr)


def test_pyav_spans_cost_what_they_hold_not_what_the_file_holds(tmp_path):
    """The same three 3 s spans of a 1-minute and a 10-minute file decode the same frames (a
    seek to each), and a 10-minute file's spans hold little memory: counted, not timed."""
    import tracemalloc

    rate = 8000
    short, long = tmp_path / "short.m4a", tmp_path / "long.m4a"
    encode(short, "alac", signal(60.0, rate, channels=1), rate)
    encode(long, "alac", signal(600.0, rate, channels=1), rate)
    ranges = [(10 * rate, 13 * rate), (40 * rate, 43 * rate), (55 * rate, 58 * rate)]
    costs = []
    for path in (short, long):
        assert decode.seeks(path)
        stats = decode.DecodeStats()
        parts, sr, total = decode.read_spans(path, ranges, stats=stats)
        assert sr == rate and total is None  # never decoded to the end
        whole = decode.read(path)[0]
        for part, (a, b) in zip(parts, ranges):
            np.testing.assert_array_equal(part, whole[a:b])
        costs.append(stats.samples)
    assert costs[0] == costs[1]
    # each span: its 3 s, the warm-up before it, and at most a packet (4096 samples) either side
    assert costs[1] <= sum(b - a for a, b in ranges) + len(ranges) * (decode.PREROLL_S * rate + 2 * 4096)
    spans = [(10 * 22050, 13 * 22050), (500 * 22050, 503 * 22050)]
    tracemalloc.start()
    try:
        parts = audio.load_spans(long, spans, sr=22050)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    whole_bytes = 600 * 22050 * 4  # what load() of the whole file returns
    assert peak < whole_bytes / 20, peak
    y, _ = audio.load(long, sr=22050)
    for part, (a, b) in zip(parts, spans):
        np.testing.assert_allclose(part, y[a:b], atol=2e-6)


def _video_only(path):
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _asf_with_content_encryption(src, dst):
    """The WMA file ``src`` with a Content Encryption Object (ASF spec 3.14) added to its header."""
    data = src.read_bytes()
    body = (0).to_bytes(4, "little") + (4).to_bytes(4, "little") + b"DRM\x00" + bytes(8)
    guid = bytes.fromhex("fbb3112223bdd211b4b700c04fb1f8b6")
    obj = guid + (24 + len(body)).to_bytes(8, "little") + body
    size = int.from_bytes(data[16:24], "little") + len(obj)
    count = int.from_bytes(data[24:28], "little") + 1
    dst.write_bytes(
        data[:16] + size.to_bytes(8, "little") + count.to_bytes(4, "little") + data[28:30] + obj + data[30:]
    )


def test_refusals_name_the_file_and_the_reason(collection, tmp_path):
    _video_only(tmp_path / "video.mp4")
    m4a = collection["aac-m4a"].read_bytes()
    assert m4a.count(b"mp4a") == 1
    (tmp_path / "fairplay.m4a").write_bytes(m4a.replace(b"mp4a", b"drms"))  # iTunes' protected AAC
    (tmp_path / "cenc.m4a").write_bytes(m4a.replace(b"mp4a", b"enca"))  # Common Encryption
    _asf_with_content_encryption(collection["wma"], tmp_path / "protected.wma")
    mka = collection["flac-mka"].read_bytes()
    (tmp_path / "cut.mka").write_bytes(mka[: len(mka) // 2])
    (tmp_path / "cut.m4a").write_bytes(m4a[: len(m4a) // 2])
    (tmp_path / "noise.oga").write_bytes(np.random.default_rng(5).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    (tmp_path / "empty.m4a").write_bytes(b"")
    cases = {
        "video.mp4": "no audio stream",
        "fairplay.m4a": "DRM-protected",
        "cenc.m4a": "DRM-protected",
        "protected.wma": "DRM-protected",
        "cut.mka": "truncated",
        "cut.m4a": "Invalid data",
        "noise.oga": "Invalid data",
        "empty.m4a": "Invalid data|End of file",
    }
    for name, reason in cases.items():
        calls = (audio.load, audio.info, lambda p: audio.load_spans(p, [(0, 10)]))
        for call in calls[:1] if reason == "truncated" else calls:  # seen only by decoding it all
            with pytest.raises(AudioError, match=reason) as err:
                call(tmp_path / name)
            assert name in str(err.value)
    # the WMA without the encryption object is read
    assert audio.load(collection["wma"])[0].size > 0


def test_a_header_claiming_more_than_its_file_holds_reads_what_it_holds(tmp_path):
    # an MP3 whose Xing frame count says 2**31 - 1 frames (libsndfile then claims ~2.5e12 samples):
    # read for what the file holds, not into an array of the claimed size (a MemoryError)
    import tracemalloc

    x = 0.3 * np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)
    sf.write(tmp_path / "ok.mp3", x, 44100, format="MP3")
    data = bytearray((tmp_path / "ok.mp3").read_bytes())
    at = data.find(b"Xing")
    assert at > 0 and int.from_bytes(data[at + 4 : at + 8], "big") & 1  # the frame count is present
    data[at + 8 : at + 12] = (0x7FFFFFFF).to_bytes(4, "big")
    (tmp_path / "lying.mp3").write_bytes(data)
    assert sf.info(tmp_path / "lying.mp3").frames > 10**12
    tracemalloc.start()
    try:
        y, sr = audio.load(tmp_path / "lying.mp3", sr=None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    assert sr == 44100 and abs(y.size - 44100) <= 2 * 1152  # the stream, with its encoder delay untrimmed
    assert _peak_hz(y, sr) == pytest.approx(440, abs=1)
