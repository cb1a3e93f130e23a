"""melrec_lib.io.wav against soundfile (libsndfile), scipy.io.wavfile and the thesis' Table 3.1.

Files come from soundfile where it can write them, and from the small byte-level RIFF builder
below for layouts it cannot produce (chunk order, odd chunks, streaming sizes, refusals).  The
builder's sample payloads are encoded by soundfile itself (headerless ``RAW`` files), so the
reference samples never pass through the code under test.
"""

from __future__ import annotations

import struct
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.io.wavfile
import soundfile as sf

from melrec_lib.errors import AudioError, ParameterError
from melrec_lib.io import wav
from melrec_lib.io.wav import Chunk, WavError, WavWarning

SUBTYPES = {  # soundfile subtype -> (format tag, bits per sample)
    "PCM_U8": (1, 8),
    "PCM_16": (1, 16),
    "PCM_24": (1, 24),
    "PCM_32": (1, 32),
    "FLOAT": (3, 32),
    "DOUBLE": (3, 64),
}
KSDATAFORMAT_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


# ---------------------------------------------------------------------------- RIFF builder
def fmt_body(
    tag: int,
    channels: int,
    sr: int,
    bits: int,
    *,
    block_align: int | None = None,
    byte_rate: int | None = None,
    extensible: bool = False,
    cb_size: bool = False,
    guid_tail: bytes = KSDATAFORMAT_TAIL,
) -> bytes:
    """The body of a ``fmt `` chunk (16 bytes; 18 with cbSize; 40 for EXTENSIBLE)."""
    align = channels * bits // 8 if block_align is None else block_align
    rate = sr * align if byte_rate is None else byte_rate
    body = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, sr, rate, align, bits)
    if extensible:
        body += struct.pack("<HHI", 22, bits, (1 << channels) - 1) + struct.pack("<H", tag) + guid_tail
    elif cb_size:
        body += struct.pack("<H", 0)
    return body


def chunk(cid: bytes, body: bytes, *, size: int | None = None, pad: bool = True) -> bytes:
    """A RIFF chunk: id, declared size (default: the real one), body, pad byte if odd."""
    declared = len(body) if size is None else size
    return cid + struct.pack("<I", declared) + body + (b"\x00" if pad and len(body) % 2 else b"")


def riff(*chunks: bytes, magic: bytes = b"RIFF", form: bytes = b"WAVE", riff_size: int | None = None) -> bytes:
    payload = form + b"".join(chunks)
    return magic + struct.pack("<I", len(payload) if riff_size is None else riff_size) + payload


def list_info(**tags: str) -> bytes:
    """A LIST/INFO chunk body, e.g. ``list_info(INAM="title")``."""
    return b"INFO" + b"".join(chunk(k.encode(), v.encode() + b"\x00") for k, v in tags.items())


def encode(x: np.ndarray, subtype: str, tmp_path) -> bytes:
    """Sample payload bytes as libsndfile encodes them (a headerless RAW file)."""
    raw = tmp_path / f"payload-{subtype}.raw"
    sf.write(raw, x, 8000, format="RAW", subtype=subtype, endian="LITTLE")
    return raw.read_bytes()


def reference(payload: bytes, subtype: str, channels: int, tmp_path) -> np.ndarray:
    """soundfile's float32 decoding of a payload, shape (n, channels)."""
    raw = tmp_path / "ref.raw"
    raw.write_bytes(payload)
    return sf.read(
        raw,
        format="RAW",
        subtype=subtype,
        samplerate=8000,
        channels=channels,
        endian="LITTLE",
        dtype="float32",
        always_2d=True,
    )[0]


def scipy_float(path) -> np.ndarray:
    """scipy.io.wavfile's integers scaled by the usual conventions, in float64, shape (n, ch)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.io.wavfile.WavFileWarning)
        _, d = scipy.io.wavfile.read(path)
    d = d.reshape(len(d), -1)
    if d.dtype == np.uint8:
        return (d.astype(np.float64) - 128) / 128
    if d.dtype == np.int16:
        return d / 32768.0
    if d.dtype == np.int32:  # 24-bit data comes left-justified in int32
        return d / 2.0**31
    return d.astype(np.float64)


def signal(rng, n: int, channels: int) -> np.ndarray:
    return rng.uniform(-0.999, 0.999, size=(n, channels))


# ---------------------------------------------------------------------------- the soundfile grid
@pytest.mark.parametrize("container", ["WAV", "WAVEX"])
@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("subtype", list(SUBTYPES))
def test_read_matches_soundfile_and_scipy(tmp_path, rng, subtype, channels, container):
    path = tmp_path / "x.wav"
    sf.write(path, signal(rng, 301, channels), 22050, subtype=subtype, format=container)
    y, sr = wav.read(path, mono=False)
    ref, ref_sr = sf.read(path, dtype="float32", always_2d=True)
    assert sr == ref_sr == 22050
    assert y.dtype == np.float32 and y.shape == (301, channels)
    np.testing.assert_array_equal(y, ref)  # identical scaling conventions, bit for bit
    np.testing.assert_allclose(y, scipy_float(path), rtol=0, atol=1e-7)
    mono, _ = wav.read(path)
    assert mono.shape == (301,) and mono.dtype == np.float32
    np.testing.assert_allclose(mono, sf.read(path, dtype="float64")[0].reshape(301, -1).mean(axis=1), atol=1e-7)


@pytest.mark.parametrize("container", ["WAV", "WAVEX"])
@pytest.mark.parametrize("subtype", list(SUBTYPES))
def test_header_matches_soundfile_info_and_table_3_1_arithmetic(tmp_path, rng, subtype, container):
    path = tmp_path / "x.wav"
    sf.write(path, signal(rng, 123, 2), 32000, subtype=subtype, format=container)
    h = wav.read_header(path)
    info = sf.info(path)
    tag, bits = SUBTYPES[subtype]
    assert (h.sample_rate, h.num_channels, h.n_frames) == (info.samplerate, info.channels, info.frames)
    assert h.bits_per_sample == bits and h.sample_format == tag
    assert h.audio_format == (0xFFFE if container == "WAVEX" else tag)
    assert h.subformat == (tag if container == "WAVEX" else None)
    assert h.block_align == 2 * bits // 8
    assert h.byte_rate == 32000 * 2 * bits // 8  # Table 3.1: SampleRate * NumChannels * BitsPerSample / 8
    assert h.data_size == 123 * h.block_align
    assert h.riff_size == h.file_size - 8 == path.stat().st_size - 8
    assert h.duration_s == pytest.approx(info.duration)
    assert ("EXTENSIBLE" in h.format_name) == (container == "WAVEX")
    assert ("float" in h.format_name) == (tag == 3)


def test_canonical_44_byte_header(tmp_path, rng):
    """A plain 16-bit mono file has exactly the layout of Table 3.1: data at offset 44."""
    path = tmp_path / "thesis.wav"
    sf.write(path, signal(rng, 1000, 1), 44100, subtype="PCM_16")
    h = wav.read_header(path)
    assert h.chunks == (Chunk("fmt ", 12, 16), Chunk("data", 36, 2000))
    assert h.data_offset == 44 and h.is_canonical
    assert (h.audio_format, h.num_channels, h.sample_rate, h.byte_rate, h.block_align, h.bits_per_sample) == (
        1,
        1,
        44100,
        88200,
        2,
        16,
    )  # the thesis' 88200 B/s
    assert h.format_name == "PCM 16-bit"
    table = wav.table_3_1(path).set_index("field")
    raw = path.read_bytes()
    assert list(table["offset"])[:13] == [0, 4, 8, 12, 16, 20, 22, 24, 28, 32, 34, 36, 40]
    assert table.loc["BitsPerSample", "size"] == 2 and table.loc["BitsPerSample", "thesis_size"] == 4
    assert table.loc["ByteRate", "value"] == struct.unpack_from("<I", raw, 28)[0] == 88200
    assert table.loc["Subchunk2Size", "value"] == 2000
    assert table.loc["ChunkID", "value"] == "RIFF" and table.loc["Subchunk2ID", "value"] == "data"
    assert table.loc["data", "offset"] == 44


def test_24_bit_extremes_and_unsigned_8_bit(tmp_path):
    """Full-scale integers map like libsndfile's: -2**23 -> -1, 8-bit 0 -> -1, 128 -> 0."""
    ints = np.array([-(2**23), -1, 0, 1, 2**23 - 1], dtype="<i4")
    payload = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints)
    path = tmp_path / "x24.wav"
    path.write_bytes(riff(chunk(b"fmt ", fmt_body(1, 1, 8000, 24)), chunk(b"data", payload)))
    y, _ = wav.read(path)
    np.testing.assert_array_equal(y, ints / 2.0**23)
    np.testing.assert_array_equal(y, sf.read(path, dtype="float32")[0])
    u8 = np.array([0, 1, 127, 128, 255], dtype=np.uint8)
    path8 = tmp_path / "x8.wav"
    path8.write_bytes(riff(chunk(b"fmt ", fmt_body(1, 1, 8000, 8)), chunk(b"data", u8.tobytes())))
    y8, _ = wav.read(path8)
    np.testing.assert_array_equal(y8, (u8.astype(np.float64) - 128) / 128)
    np.testing.assert_array_equal(y8, sf.read(path8, dtype="float32")[0])


def test_long_24_bit_multichannel(tmp_path, rng):
    path = tmp_path / "long.wav"
    sf.write(path, signal(rng, 44100 * 3, 4), 44100, subtype="PCM_24")
    y, _ = wav.read(path, mono=False)
    np.testing.assert_array_equal(y, sf.read(path, dtype="float32")[0])


# ---------------------------------------------------------------------------- chunk layouts
LAYOUTS = {
    "canonical": ["fmt", "data"],
    "fmt-18-bytes": ["fmt18", "data"],
    "list-before-fmt": ["LIST", "fmt", "data"],
    "list-after-fmt": ["fmt", "LIST", "data"],
    "list-after-data": ["fmt", "data", "LIST"],
    "odd-chunk-with-pad": ["fmt", "odd", "data"],
    "fact-chunk": ["fmt", "fact", "data"],
    "junk-chunk": ["JUNK", "fmt", "data"],
    "cue-and-odd-list": ["fmt", "cue", "LISTodd", "data", "LIST"],
    "data-before-fmt": ["data", "fmt"],
}
FORMS = {  # id -> (subtype, channels, frames); the U8 mono form has an odd-sized data chunk + pad
    "u8-mono-odd": ("PCM_U8", 1, 257),
    "s16-stereo": ("PCM_16", 2, 200),
    "s24-6ch": ("PCM_24", 6, 101),
    "float-stereo": ("FLOAT", 2, 150),
}


def build_layout(layout: list[str], subtype: str, channels: int, payload: bytes) -> bytes:
    tag, bits = SUBTYPES[subtype]
    parts = {
        "fmt": chunk(b"fmt ", fmt_body(tag, channels, 8000, bits)),
        "fmt18": chunk(b"fmt ", fmt_body(tag, channels, 8000, bits, cb_size=True)),
        "data": chunk(b"data", payload),
        "LIST": chunk(b"LIST", list_info(INAM="A title", IART="An artist")),
        "LISTodd": chunk(b"LIST", b"INFO" + chunk(b"ICMT", b"od\x00", pad=False)),  # 15 bytes + pad
        "odd": chunk(b"abcd", b"12345"),
        "fact": chunk(b"fact", struct.pack("<I", len(payload) // (channels * bits // 8))),
        "JUNK": chunk(b"JUNK", bytes(28)),
        "cue": chunk(b"cue ", struct.pack("<I", 1) + struct.pack("<II4sIII", 1, 0, b"data", 0, 0, 10)),
    }
    return riff(*(parts[p] for p in layout))


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_chunk_layouts(tmp_path, rng, layout, form):
    subtype, channels, n = FORMS[form]
    payload = encode(signal(rng, n, channels), subtype, tmp_path)
    blob = build_layout(LAYOUTS[layout], subtype, channels, payload)
    path = tmp_path / "layout.wav"
    path.write_bytes(blob)
    ref = reference(payload, subtype, channels, tmp_path)
    y, _ = wav.read(path, mono=False)
    np.testing.assert_array_equal(y, ref)
    h = wav.read_header(path)
    assert [c.id for c in h.chunks] == [blob[c.offset : c.offset + 4].decode() for c in h.chunks]
    assert blob[h.data_offset - 8 : h.data_offset - 4] == b"data" and h.data_size == len(payload)
    if layout != "data-before-fmt":  # libsndfile and scipy need fmt before data
        np.testing.assert_array_equal(y, sf.read(path, dtype="float32", always_2d=True)[0])
        if "odd" not in layout:  # scipy stumbles over odd-sized non-data chunks
            np.testing.assert_allclose(y, scipy_float(path), atol=1e-7)


def test_chunk_list_offsets(tmp_path):
    blob = build_layout(LAYOUTS["cue-and-odd-list"], "PCM_16", 1, bytes(20))
    path = tmp_path / "c.wav"
    path.write_bytes(blob)
    h = wav.read_header(path)
    assert [c.id for c in h.chunks] == ["fmt ", "cue ", "LIST", "data", "LIST"]
    assert h.chunks[0] == Chunk("fmt ", 12, 16)
    for a, b in zip(h.chunks, h.chunks[1:]):
        assert b.offset == a.offset + 8 + a.size + (a.size & 1)  # pad byte after odd chunks
    assert h.chunks[2].size % 2 == 1


def test_read_info_matches_soundfile_tags(tmp_path, rng):
    path = tmp_path / "tagged.wav"
    with sf.SoundFile(path, "w", 44100, 1, "PCM_16") as f:
        f.title, f.artist = "Some title", "Some artist"
        f.write(signal(rng, 100, 1))
    info = wav.read_info(path)
    with sf.SoundFile(path) as f:
        assert (info["INAM"], info["IART"]) == (f.title, f.artist) == ("Some title", "Some artist")
    assert "LIST" in [c.id for c in wav.read_header(path).chunks]
    plain = tmp_path / "plain.wav"
    sf.write(plain, signal(rng, 10, 1), 8000)
    assert wav.read_info(plain) == {}


# ---------------------------------------------------------------------------- streaming sizes
@pytest.mark.parametrize("declared", [0, 0xFFFFFFFF])
@pytest.mark.parametrize("riff_size", [None, 0, 0xFFFFFFFF])
def test_streaming_data_size_reads_to_end_with_warning(tmp_path, rng, declared, riff_size):
    payload = encode(signal(rng, 300, 2), "PCM_16", tmp_path)
    path = tmp_path / "stream.wav"
    path.write_bytes(
        riff(chunk(b"fmt ", fmt_body(1, 2, 8000, 16)), chunk(b"data", payload, size=declared), riff_size=riff_size)
    )
    with pytest.warns(WavWarning, match="streamed"):
        y, _ = wav.read(path, mono=False)
    np.testing.assert_array_equal(y, reference(payload, "PCM_16", 2, tmp_path))
    with pytest.warns(WavWarning):
        h = wav.read_header(path)
    assert h.streaming and h.declared_data_size == declared and h.data_size == len(payload)
    with pytest.raises(WavError, match="streamed"):  # strict: what warns raises instead
        wav.read_header(path, strict=True)


def test_streaming_drops_partial_last_frame(tmp_path, rng):
    payload = encode(signal(rng, 50, 2), "PCM_16", tmp_path)
    path = tmp_path / "stream.wav"
    path.write_bytes(
        riff(
            chunk(b"fmt ", fmt_body(1, 2, 8000, 16)),
            chunk(b"data", payload + b"\x01\x02\x03", size=0xFFFFFFFF, pad=False),
        )
    )
    with pytest.warns(WavWarning):
        y, _ = wav.read(path, mono=False)
    np.testing.assert_array_equal(y, reference(payload, "PCM_16", 2, tmp_path))


@pytest.mark.parametrize("bits, channels", [(16, 1), (24, 2)])
@pytest.mark.parametrize("after", [b"", chunk(b"LIST", list_info(INAM="x"))], ids=["nothing-after", "list-after"])
def test_genuinely_empty_data_chunk(tmp_path, after, bits, channels):
    path = tmp_path / "empty.wav"
    path.write_bytes(riff(chunk(b"fmt ", fmt_body(1, channels, 8000, bits)), chunk(b"data", b""), after))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, sr = wav.read(path)
        assert wav.read(path, mono=False)[0].shape == (0, channels)
    assert y.shape == (0,) and y.dtype == np.float32 and sr == 8000
    assert sf.info(path).frames == 0


def test_wrong_byte_rate_warns_but_reads(tmp_path, rng):
    payload = encode(signal(rng, 40, 1), "PCM_16", tmp_path)
    path = tmp_path / "br.wav"
    path.write_bytes(riff(chunk(b"fmt ", fmt_body(1, 1, 8000, 16, byte_rate=12345)), chunk(b"data", payload)))
    with pytest.warns(WavWarning, match="ByteRate 12345"):
        y, _ = wav.read(path)
    np.testing.assert_array_equal(y, sf.read(path, dtype="float32")[0])
    with pytest.raises(WavError, match="ByteRate 12345"):
        wav.read_header(path, strict=True)


def test_trailing_garbage_after_audio_is_ignored_with_warning(tmp_path, rng):
    payload = encode(signal(rng, 40, 1), "PCM_16", tmp_path)
    path = tmp_path / "tail.wav"
    path.write_bytes(
        riff(chunk(b"fmt ", fmt_body(1, 1, 8000, 16)), chunk(b"data", payload))
        + b"ID3\x04"
        + struct.pack("<I", 10**6)
        + b"xx"
    )
    with pytest.warns(WavWarning, match="trailing"):
        y, _ = wav.read(path)
    np.testing.assert_array_equal(y, reference(payload, "PCM_16", 1, tmp_path)[:, 0])
    with pytest.raises(WavError, match="trailing"):
        wav.read_header(path, strict=True)


# ---------------------------------------------------------------------------- refusals
FMT16 = chunk(b"fmt ", fmt_body(1, 1, 8000, 16))
DATA = chunk(b"data", bytes(64))

REFUSALS = {  # id -> (file bytes, message pattern)
    "rifx": (b"RIFX" + riff(FMT16, DATA)[4:], "unsupported RIFX"),
    "not-riff": (b"OggS" + bytes(60), "not a RIFF/WAVE"),
    "riff-not-wave": (riff(FMT16, DATA, form=b"AVI "), "not a RIFF/WAVE"),
    "empty-file": (b"", "truncated header"),
    "truncated-riff-header": (b"RIFF\x00\x00", "truncated header"),
    "no-fmt": (riff(DATA), "no 'fmt ' chunk"),
    "no-data": (riff(FMT16, chunk(b"LIST", list_info(INAM="x"))), "no 'data' chunk"),
    "no-chunks": (riff(), "no 'fmt ' chunk"),
    "fmt-too-short": (riff(chunk(b"fmt ", fmt_body(1, 1, 8000, 16)[:14]), DATA), "at least 16"),
    "fmt-cut-by-eof": (riff(FMT16)[:30], "truncated header"),
    "chunk-header-cut": (riff(FMT16) + b"dat", "truncated header"),
    "mp3-in-wav": (
        riff(chunk(b"fmt ", fmt_body(0x55, 2, 44100, 0, block_align=1) + bytes(14)), DATA),
        r"0x0055 \(MPEG Layer III",
    ),
    "gsm": (riff(chunk(b"fmt ", fmt_body(0x31, 1, 8000, 0, block_align=65) + bytes(4)), DATA), r"0x0031 \(GSM"),
    "unknown-codec": (riff(chunk(b"fmt ", fmt_body(0x1234, 1, 8000, 16)), DATA), "0x1234"),
    "extensible-mp3": (
        riff(chunk(b"fmt ", fmt_body(0x55, 1, 8000, 16, extensible=True)), DATA),
        "0x0055.*inside EXTENSIBLE",
    ),
    "extensible-bad-guid": (
        riff(chunk(b"fmt ", fmt_body(1, 1, 8000, 16, extensible=True, guid_tail=bytes(14))), DATA),
        "sub-format GUID",
    ),
    "extensible-short-fmt": (riff(chunk(b"fmt ", fmt_body(1, 1, 8000, 16, extensible=True)[:24]), DATA), "40-byte"),
    "block-align-inconsistent": (
        riff(chunk(b"fmt ", fmt_body(1, 2, 8000, 16, block_align=2)), DATA),
        "inconsistent BlockAlign 2",
    ),
    "bits-12": (riff(chunk(b"fmt ", fmt_body(1, 1, 8000, 12, block_align=2)), DATA), "BitsPerSample 12"),
    "float-16-bits": (riff(chunk(b"fmt ", fmt_body(3, 1, 8000, 16)), DATA), "BitsPerSample 16"),
    "zero-channels": (riff(chunk(b"fmt ", fmt_body(1, 0, 8000, 16)), DATA), "NumChannels is 0"),
    "zero-rate": (riff(chunk(b"fmt ", fmt_body(1, 1, 0, 16)), DATA), "SampleRate is 0"),
    "payload-shorter-than-declared": (riff(FMT16, chunk(b"data", bytes(64), size=100)), "truncated payload"),
    "payload-mid-frame": (riff(chunk(b"fmt ", fmt_body(1, 2, 8000, 16)), chunk(b"data", bytes(6))), "mid-frame"),
    "lying-list-size-before-data": (riff(FMT16, chunk(b"LIST", b"INFO", size=0x7FFFFFF0), DATA), "truncated header"),
    "lying-fmt-size": (riff(chunk(b"fmt ", fmt_body(1, 1, 8000, 16), size=0xFFFFFF00), DATA), "truncated header"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals(tmp_path, case):
    blob, pattern = REFUSALS[case]
    path = tmp_path / f"{case}.wav"
    path.write_bytes(blob)
    with pytest.raises(WavError, match=pattern) as info:
        wav.read(path)
    assert str(path) in str(info.value)  # the message names the file
    with pytest.raises(WavError, match=pattern):
        wav.read_header(path)


@pytest.mark.parametrize(
    "subtype, code, container",
    [  # libsndfile writes ADPCM only in plain WAV
        ("MS_ADPCM", "0x0002", "WAV"),
        ("IMA_ADPCM", "0x0011", "WAV"),
        ("ULAW", "0x0007", "WAV"),
        ("ALAW", "0x0006", "WAV"),
        ("ULAW", "0x0007", "WAVEX"),
        ("ALAW", "0x0006", "WAVEX"),
    ],
)
def test_refuses_compressed_codecs_written_by_soundfile(tmp_path, rng, subtype, code, container):
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, signal(rng, 505, 1), 8000, subtype=subtype, format=container)
    with pytest.raises(WavError, match=f"unsupported compressed format {code}"):
        wav.read(path)


def test_refuses_rf64_written_by_soundfile(tmp_path, rng):
    path = tmp_path / "rf64.wav"
    sf.write(path, signal(rng, 100, 1), 8000, format="RF64")
    with pytest.raises(WavError, match="unsupported RF64"):
        wav.read(path)


def test_refuses_other_audio_formats_and_missing_files(tmp_path, rng):
    flac = tmp_path / "x.flac"
    sf.write(flac, signal(rng, 100, 1), 8000)
    with pytest.raises(WavError, match="not a RIFF/WAVE"):
        wav.read(flac)
    with pytest.raises(WavError, match="cannot open"):
        wav.read(tmp_path / "missing.wav")


def test_wav_error_is_an_audio_error_and_a_value_error():
    assert issubclass(WavError, AudioError) and issubclass(WavError, ValueError)


def test_lying_data_size_does_not_allocate(tmp_path):
    """A 1 KiB file that declares 2 GiB of samples is refused before anything big is allocated."""
    path = tmp_path / "liar.wav"
    path.write_bytes(riff(FMT16, chunk(b"data", bytes(1000), size=2**31)))
    assert path.stat().st_size < 1100
    tracemalloc.start()
    try:
        with pytest.raises(WavError, match="declares 2147483648 bytes, the file holds 1000"):
            wav.read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


# ---------------------------------------------------------------------------- the thesis' reader
def test_read_thesis_returns_raw_int16_like_the_cpp_reader(tmp_path, rng):
    path = tmp_path / "t.wav"
    x = signal(rng, 500, 1)
    sf.write(path, x, 44100, subtype="PCM_16")
    raw, sr = wav.read_thesis(path)
    _, ints = scipy.io.wavfile.read(path)
    assert sr == 44100 and raw.dtype == np.float32
    np.testing.assert_array_equal(raw, ints.astype(np.float32))  # unscaled, -32768..32767
    np.testing.assert_array_equal(raw / 32768, wav.read(path)[0])


def test_read_thesis_skips_even_chunks_but_not_odd_ones(tmp_path, rng):
    payload = encode(signal(rng, 64, 1), "PCM_16", tmp_path)
    even = tmp_path / "even.wav"  # the C++ walk handles an even LIST chunk after a 16-byte fmt
    even.write_bytes(build_layout(["fmt", "LIST", "data"], "PCM_16", 1, payload))
    np.testing.assert_array_equal(wav.read_thesis(even)[0] / 32768, wav.read(even)[0])
    odd = tmp_path / "odd.wav"  # ... but forgets the pad byte after an odd one
    odd.write_bytes(build_layout(["fmt", "odd", "data"], "PCM_16", 1, payload))
    with pytest.raises(WavError, match="chunk walk left the file"):
        wav.read_thesis(odd)
    np.testing.assert_array_equal(wav.read(odd)[0], reference(payload, "PCM_16", 1, tmp_path)[:, 0])


@pytest.mark.parametrize("subtype, channels", [("PCM_16", 2), ("PCM_24", 1), ("FLOAT", 1)])
def test_read_thesis_refuses_what_the_cpp_reader_misreads(tmp_path, rng, subtype, channels):
    path = tmp_path / "t.wav"
    sf.write(path, signal(rng, 50, channels), 8000, subtype=subtype)
    with pytest.raises(WavError, match="only mono 16-bit"):
        wav.read_thesis(path)


# ---------------------------------------------------------------------------- plots
def test_waveform_envelope_keeps_every_peak_and_labels_units():
    import matplotlib

    matplotlib.use("Agg")
    from melrec_lib.plots import wav as wavplots

    y = np.zeros(100_000, dtype=np.float32)
    y[12_345], y[77_777] = 0.9, -0.7  # single-sample peaks survive the min/max envelope
    fig = wavplots.waveform(y, 10_000, max_points=1000)
    ax = fig.axes[0]
    ys = np.concatenate([p.vertices[:, 1] for c in ax.collections for p in c.get_paths()])
    assert ys.max() == pytest.approx(0.9) and ys.min() == pytest.approx(-0.7)
    assert ax.get_xlabel() == "time (s)" and "amplitude" in ax.get_ylabel()
    assert ax.get_xlim() == (0, 10.0)
    with pytest.raises(ParameterError, match="1-D"):
        wavplots.waveform(np.zeros((10, 2)), 8000)
    import matplotlib.pyplot as plt

    plt.close("all")


# ---------------------------------------------------------------------------- span reading
@pytest.mark.parametrize("container", ["WAV", "WAVEX"])
@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("subtype", list(SUBTYPES))
def test_read_spans_equal_soundfile_slices(tmp_path, rng, subtype, channels, container):
    path = tmp_path / "x.wav"
    sf.write(path, signal(rng, 1001, channels), 22050, subtype=subtype, format=container)
    ref, _ = sf.read(path, dtype="float32", always_2d=True)
    spans = [(0, 1), (0, 1001), (500, 501), (3, 700), (1000, 1001)]
    parts, header = wav.read_spans(path, spans)
    assert header.n_frames == 1001
    for (a, b), part in zip(spans, parts):
        assert part.shape == (b - a, channels) and part.dtype == np.float32
        np.testing.assert_array_equal(part, ref[a:b])
    again, _ = wav.read_spans(header, spans[:2])  # a header read once is not parsed again
    np.testing.assert_array_equal(again[1], ref)


@pytest.mark.parametrize("span", [(-1, 5), (5, 5), (6, 5), (0, 302), (0.0, 5), (None, 5)])
def test_read_spans_refuse_spans_outside_the_file(tmp_path, rng, span):
    path = tmp_path / "x.wav"
    sf.write(path, signal(rng, 301, 1), 22050, subtype="PCM_16")
    with pytest.raises(WavError, match="span"):
        wav.read_spans(path, [span])


def test_read_spans_notice_a_file_that_shrank(tmp_path, rng):
    path = tmp_path / "x.wav"
    sf.write(path, signal(rng, 301, 1), 22050, subtype="PCM_16")
    header = wav.read_header(path)
    with open(path, "r+b") as fh:
        fh.truncate(header.data_offset + 100)
    with pytest.raises(WavError, match="truncated"):
        wav.read_spans(header, [(0, 301)])
