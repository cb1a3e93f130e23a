"""Read RIFF/WAVE files: the thesis' WAV reader (section 3.1, Table 3.1), done properly.

The thesis converts every MP3 with ``ffmpeg -i IN -codec:a:0 pcm_s16le -ac 1 -ar 44100 OUT``
(mono, 44100 Hz, signed 16-bit little-endian: 44100 * 1 * 2 = 88200 bytes per second) and reads
the result with a small C++ class, ``WaveFile`` (appendix A).  What that reader did:

* it reads the 44-byte "canonical" header of Table 3.1 at fixed offsets, i.e. it assumes the
  ``fmt `` chunk comes first and is exactly 16 bytes long (an 18- or 40-byte ``fmt `` chunk, as
  written for float or WAVE_FORMAT_EXTENSIBLE files, shifts every later field);
* it skips chunks until one whose id *starts with* ``'d'``, seeking by the declared size and
  ignoring the pad byte that follows an odd-sized chunk;
* it reads ``Subchunk2Size / BlockAlign`` values into a 2-byte ``short``, i.e. only mono 16-bit
  PCM is right (a stereo file overflows the buffer), and stores the *raw* integer amplitudes
  (-32768 .. 32767) as floats, without scaling;
* it never checks ``AudioFormat``, the bit depth, or whether the file is shorter than declared.

Table 3.1 itself misprints the size of ``BitsPerSample`` as 4 bytes; it is 2 (offset 34..35),
which is why ``Subchunk2ID`` is at 36.  :func:`read_thesis` keeps the C++ algorithm for
comparison.

This module instead walks the chunk list (any order, any unknown chunk skipped with its pad
byte), validates the ``fmt `` chunk, and decodes PCM 8 (unsigned) / 16 / 24 / 32 bit and IEEE
float 32 / 64 bit, plain or WAVE_FORMAT_EXTENSIBLE, any number of channels, with numpy
(``frombuffer``, and for 24 bit a strided int32 view of the bytes with the low byte masked off;
no Python loop over samples).
Samples are scaled as libsndfile/soundfile does when reading floats: ``(u - 128) / 128`` for
8 bit, ``/ 32768`` for 16 bit, ``/ 2**23`` for 24 bit, ``/ 2**31`` for 32 bit; float data is
passed through unchanged (not clipped).

Decisions on damaged and unusual files:

* a ``data`` size of ``0xFFFFFFFF``, or of 0 with bytes after the chunk header that do not
  form well-formed chunks, is what streaming writers (``ffmpeg ... -f wav pipe:``) leave
  behind: the payload runs to the end of the file, a :class:`WavWarning` says so, and a
  trailing partial frame is dropped;
* any other payload that is shorter than declared, or whose size is not a whole number of
  frames, is refused (:class:`WavError`, "truncated" / "mid-frame"): silently returning part of
  a damaged file hides the damage.  Sizes are checked against the real file size *before*
  anything is read, so a header that lies about sizes never makes the reader allocate more
  than the file holds;
* a ``ByteRate`` that disagrees with ``SampleRate * BlockAlign`` only warns (it is redundant
  and some writers get it wrong); an inconsistent ``BlockAlign`` is refused;
* RIFX (big-endian) and RF64/BW64 (64-bit sizes) are refused as unsupported, as are compressed
  codecs (ADPCM, mu-law, A-law, GSM, MP3-in-WAV, ...), named by their format code.
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from melrec_lib.errors import AudioError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "WavError",
    "WavWarning",
    "Chunk",
    "WavHeader",
    "FORMAT_NAMES",
    "read_header",
    "read_spans",
    "read",
    "read_thesis",
    "read_info",
    "table_3_1",
]

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE

#: Names of the ``AudioFormat`` codes met in practice (Microsoft's mmreg.h).
FORMAT_NAMES: dict[int, str] = {
    0x0000: "unknown",
    0x0001: "PCM",
    0x0002: "Microsoft ADPCM",
    0x0003: "IEEE float",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0010: "OKI ADPCM",
    0x0011: "IMA ADPCM",
    0x0016: "ITU G.723 ADPCM",
    0x0031: "GSM 6.10",
    0x0040: "ITU G.721 ADPCM",
    0x0050: "MPEG",
    0x0055: "MPEG Layer III (MP3)",
    0x0092: "Dolby AC3 SPDIF",
    0x0161: "Windows Media Audio",
    0x2000: "Dolby AC3",
    0xFFFE: "EXTENSIBLE",
}

# KSDATAFORMAT_SUBTYPE_* GUIDs are the 2-byte format tag followed by these 14 bytes.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_MAX_FMT_SIZE = 1 << 16  # a fmt chunk is 16..40 bytes; more is read only up to this bound


class WavError(AudioError):
    """A WAV file is malformed or uses a format this reader does not support.

    The message names the file and the problem.  ``AudioError`` is a ``ValueError``.
    """


class WavWarning(UserWarning):
    """A WAV file is readable but unusual (streaming sizes, wrong ByteRate, trailing bytes)."""


@dataclass(frozen=True)
class Chunk:
    """One RIFF chunk met while walking the file.

    Attributes
    ----------
    id : str
        The four-character chunk id (``"fmt "``, ``"data"``, ``"LIST"``...; non-ASCII bytes
        are shown as ``\\xNN``).
    offset : int >= 12
        Byte offset of the chunk *header* (its id); the body starts at ``offset + 8``.
    size : int >= 0
        The size the header declares (without the 8-byte header and the pad byte).
    """

    id: str
    offset: int
    size: int


@dataclass(frozen=True)
class WavHeader:
    """What :func:`read_header` learns from a WAV file.

    The first six attributes are the fields of the thesis' Table 3.1 in snake_case.

    Attributes
    ----------
    audio_format : int
        ``AudioFormat``: 1 PCM, 3 IEEE float, 0xFFFE EXTENSIBLE (see :attr:`subformat`).
    num_channels : int > 0
    sample_rate : int > 0
        Frames per second (Hz).
    byte_rate : int
        As written in the file; normally ``sample_rate * block_align``.
    block_align : int > 0
        Bytes per frame: ``num_channels * bits_per_sample / 8``.
    bits_per_sample : int
        Container size of one sample in bits (8, 16, 24, 32 or 64).
    data_offset : int
        Byte offset of the first sample (44 for the canonical header of Table 3.1).
    data_size : int >= 0
        Bytes of sample data that will be read (a whole number of frames).
    declared_data_size : int
        The size the ``data`` chunk header declares (0 / 0xFFFFFFFF for streamed files).
    chunks : tuple of Chunk
        Every chunk met, in file order.
    subformat : int or None
        The format tag inside an EXTENSIBLE file's sub-format GUID (1 PCM, 3 float), else None.
    valid_bits_per_sample : int or None
        EXTENSIBLE only: the meaningful bits inside the container.
    channel_mask : int or None
        EXTENSIBLE only: the speaker-position bit mask.
    fmt_size : int
        Size of the ``fmt `` chunk (16 plain, 18 with cbSize, 40 EXTENSIBLE).
    riff_size : int
        The RIFF chunk size in the file header (file size - 8 when written correctly).
    file_size : int
    streaming : bool
        True when the data size was 0 / 0xFFFFFFFF and the payload was taken to end of file.
    path : Path
    """

    audio_format: int
    num_channels: int
    sample_rate: int
    byte_rate: int
    block_align: int
    bits_per_sample: int
    data_offset: int
    data_size: int
    declared_data_size: int
    chunks: tuple[Chunk, ...]
    subformat: int | None = None
    valid_bits_per_sample: int | None = None
    channel_mask: int | None = None
    fmt_size: int = 16
    riff_size: int = 0
    file_size: int = 0
    streaming: bool = False
    path: Path = field(default=Path())

    @property
    def sample_format(self) -> int:
        """The effective format tag: :attr:`subformat` for EXTENSIBLE files, else :attr:`audio_format`."""
        return self.subformat if self.audio_format == WAVE_FORMAT_EXTENSIBLE else self.audio_format

    @property
    def format_name(self) -> str:
        """A readable name, e.g. ``"PCM 16-bit"`` or ``"EXTENSIBLE (IEEE float 32-bit)"``."""
        name = f"{FORMAT_NAMES.get(self.sample_format, hex(self.sample_format))} {self.bits_per_sample}-bit"
        if self.sample_format == WAVE_FORMAT_PCM and self.bits_per_sample == 8:
            name = "PCM 8-bit unsigned"
        return f"EXTENSIBLE ({name})" if self.audio_format == WAVE_FORMAT_EXTENSIBLE else name

    @property
    def n_frames(self) -> int:
        """Number of frames (samples per channel) in the payload."""
        return self.data_size // self.block_align

    @property
    def duration_s(self) -> float:
        """Duration in seconds: ``n_frames / sample_rate``."""
        return self.n_frames / self.sample_rate

    @property
    def is_canonical(self) -> bool:
        """True when the file has exactly the 44-byte layout of Table 3.1 (fmt of 16 bytes, data at 44)."""
        return (
            len(self.chunks) >= 2
            and self.chunks[0] == Chunk("fmt ", 12, 16)
            and self.chunks[1].id == "data"
            and self.data_offset == 44
        )


def _chunk_id(raw: bytes) -> str:
    return raw.decode("latin-1") if all(32 <= b < 127 for b in raw) else repr(raw)[2:-1]


def _format_label(code: int) -> str:
    return f"0x{code:04X} ({FORMAT_NAMES.get(code, 'unknown codec')})"


def _plausible_chain(fh, start: int, end: int) -> bool:
    """True when the bytes from ``start`` to ``end`` parse as well-formed chunks (ASCII ids)."""
    pos = start
    while pos < end:
        if end - pos < 8:
            return False
        fh.seek(pos)
        head = fh.read(8)
        if not all(32 <= b < 127 for b in head[:4]):
            return False
        size = struct.unpack("<I", head[4:])[0]
        pos += 8 + size + (size & 1)
        if pos > end + 1:  # a missing final pad byte is tolerated
            return False
    return True


def _parse_fmt(body: bytes, where: str) -> dict:
    if len(body) < 16:
        raise WavError(f"{where}: fmt chunk is {len(body)} bytes, at least 16 are needed")
    tag, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", body[:16])
    out = dict(
        audio_format=tag,
        num_channels=channels,
        sample_rate=rate,
        byte_rate=byte_rate,
        block_align=align,
        bits_per_sample=bits,
        fmt_size=len(body),
    )
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(body) < 40:
            raise WavError(f"{where}: WAVE_FORMAT_EXTENSIBLE needs a 40-byte fmt chunk, this one has {len(body)} bytes")
        cb_size, valid_bits, mask = struct.unpack("<HHI", body[16:24])
        guid = body[24:40]
        if cb_size < 22:
            raise WavError(f"{where}: WAVE_FORMAT_EXTENSIBLE with cbSize {cb_size} (< 22)")
        sub = struct.unpack("<H", guid[:2])[0]
        if guid[2:] != _GUID_TAIL:
            raise WavError(f"{where}: unsupported EXTENSIBLE sub-format GUID {guid.hex()} (not a KSDATAFORMAT_SUBTYPE)")
        out.update(subformat=sub, valid_bits_per_sample=valid_bits, channel_mask=mask)
    return out


def _validate_fmt(fmt: dict, where: str) -> None:
    tag = fmt["audio_format"]
    code = fmt.get("subformat") if tag == WAVE_FORMAT_EXTENSIBLE else tag
    label = _format_label(code) + (" inside EXTENSIBLE" if tag == WAVE_FORMAT_EXTENSIBLE else "")
    if code not in (WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT):
        raise WavError(
            f"{where}: unsupported compressed format {label}; only PCM and IEEE float are read "
            f"(convert it, e.g. ffmpeg -i IN -codec:a pcm_s16le OUT.wav)"
        )
    channels, rate, bits, align = (fmt[k] for k in ("num_channels", "sample_rate", "bits_per_sample", "block_align"))
    if channels == 0:
        raise WavError(f"{where}: NumChannels is 0")
    if rate == 0:
        raise WavError(f"{where}: SampleRate is 0")
    allowed = (8, 16, 24, 32) if code == WAVE_FORMAT_PCM else (32, 64)
    if bits not in allowed:
        raise WavError(f"{where}: unsupported BitsPerSample {bits} for {label} (expected one of {allowed})")
    if align != channels * bits // 8:
        raise WavError(
            f"{where}: inconsistent BlockAlign {align}: NumChannels {channels} * BitsPerSample {bits} / 8 "
            f"= {channels * bits // 8}"
        )
    valid = fmt.get("valid_bits_per_sample")
    if valid is not None and valid > bits:
        raise WavError(f"{where}: inconsistent ValidBitsPerSample {valid} > BitsPerSample {bits}")


def read_header(path: str | os.PathLike, *, strict: bool = False) -> WavHeader:
    """Parse the header and chunk list of a WAV file without reading the samples.

    Parameters
    ----------
    path : str or path-like
        A RIFF/WAVE file.
    strict : bool
        Raise :class:`WavError` for what otherwise only warns (a caller that lets another
        decoder judge unusual files, without touching the process-wide warning filters).

    Returns
    -------
    header : WavHeader
        The Table 3.1 fields, where the payload starts and how long it is, and every chunk met.

    Raises
    ------
    WavError
        Not RIFF/WAVE (RIFX and RF64 named as unsupported), missing ``fmt `` or ``data`` chunk,
        a compressed codec (named by its format code), an inconsistent or zero field, a
        truncated header or payload.  The message names the file.

    Warns
    -----
    WavWarning
        Streamed file (data size 0 / 0xFFFFFFFF): payload read to the end of file; ByteRate
        different from ``SampleRate * BlockAlign``; trailing bytes after the audio ignored.

    Examples
    --------
    >>> h = read_header("track.wav")
    >>> h.format_name, h.sample_rate, h.byte_rate, h.data_offset
    ('PCM 16-bit', 44100, 88200, 44)
    """
    return _read_header(path, stacklevel=3, strict=strict)


def _read_header(path: str | os.PathLike, *, stacklevel: int, strict: bool = False) -> WavHeader:
    """:func:`read_header`, with warnings attributed ``stacklevel`` frames up (the public caller)."""
    path = Path(path)
    where = str(path)

    def unusual(message: str) -> None:
        if strict:
            raise WavError(message)
        warnings.warn(message, WavWarning, stacklevel=stacklevel + 1)

    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise WavError(f"{where}: cannot open ({exc.strerror or exc})") from exc
    with fh:
        file_size = os.fstat(fh.fileno()).st_size
        head = fh.read(12)
        if len(head) < 12:
            raise WavError(
                f"{where}: truncated header: {len(head)} bytes, a WAV file starts with 12 (RIFF, size, WAVE)"
            )
        magic, riff_size, form = head[:4], struct.unpack("<I", head[4:8])[0], head[8:12]
        if magic == b"RIFX":
            raise WavError(f"{where}: unsupported RIFX (big-endian) WAV file")
        if magic in (b"RF64", b"BW64"):
            raise WavError(f"{where}: unsupported {magic.decode()} (64-bit size) WAV file")
        if magic != b"RIFF" or form != b"WAVE":
            raise WavError(f"{where}: not a RIFF/WAVE file (starts with {head[:4]!r}...{head[8:12]!r})")

        chunks: list[Chunk] = []
        fmt: dict | None = None
        data: tuple[int, int, int, bool] | None = None  # (offset, size, declared, streaming)
        pos = 12
        while pos + 8 <= file_size:
            fh.seek(pos)
            raw = fh.read(8)
            cid = _chunk_id(raw[:4])
            size = struct.unpack("<I", raw[4:])[0]
            body = pos + 8
            remaining = file_size - body
            chunks.append(Chunk(cid, pos, size))
            if cid == "data" and data is None:
                if size == 0xFFFFFFFF or (size == 0 and not _plausible_chain(fh, body, file_size)):
                    data = (body, remaining, size, True)  # streamed: the payload runs to end of file
                    break
                if size > remaining:
                    raise WavError(
                        f"{where}: truncated payload: data chunk at offset {pos} declares {size} bytes, "
                        f"the file holds {remaining}"
                    )
                data = (body, size, size, False)
            elif size > remaining:
                if data is not None and fmt is not None:
                    unusual(
                        f"{where}: ignoring {file_size - pos} trailing bytes after the audio "
                        f"(chunk {cid!r} at offset {pos} declares {size} bytes)"
                    )
                    break
                raise WavError(
                    f"{where}: truncated header: chunk {cid!r} at offset {pos} declares {size} bytes, "
                    f"the file holds {remaining}"
                )
            elif cid == "fmt " and fmt is None:
                fh.seek(body)
                fmt = _parse_fmt(fh.read(min(size, _MAX_FMT_SIZE)), where)
            pos = body + size + (size & 1)
        else:
            if 0 < file_size - pos < 8 and (data is None or fmt is None):
                raise WavError(f"{where}: truncated header: {file_size - pos} stray bytes at offset {pos}")

    if fmt is None:
        raise WavError(f"{where}: no 'fmt ' chunk (chunks found: {[c.id for c in chunks]})")
    _validate_fmt(fmt, where)
    if data is None:
        raise WavError(f"{where}: no 'data' chunk (chunks found: {[c.id for c in chunks]})")
    offset, size, declared, streaming = data
    align = fmt["block_align"]
    if streaming:
        unusual(
            f"{where}: data chunk size is 0x{declared:X} (a streamed file): reading the "
            f"{size} bytes up to the end of the file"
        )
        size -= size % align
    elif size % align:
        raise WavError(
            f"{where}: truncated payload: data size {size} ends mid-frame (not a multiple of BlockAlign {align})"
        )
    if fmt["byte_rate"] != fmt["sample_rate"] * align:
        unusual(f"{where}: ByteRate {fmt['byte_rate']} != SampleRate {fmt['sample_rate']} * BlockAlign {align}")
    return WavHeader(
        **fmt,
        data_offset=offset,
        data_size=size,
        declared_data_size=declared,
        chunks=tuple(chunks),
        riff_size=riff_size,
        file_size=file_size,
        streaming=streaming,
        path=path,
    )


def _decode(buf: bytearray, header: WavHeader, lead: int) -> np.ndarray:
    """Whole frames in ``buf[lead:]`` -> float32 array of shape (n_frames, n_channels)."""
    bits, channels = header.bits_per_sample, header.num_channels
    if header.sample_format == WAVE_FORMAT_IEEE_FLOAT:
        x = np.frombuffer(buf, dtype="<f4" if bits == 32 else "<f8", offset=lead).astype(np.float32)
    elif bits == 8:
        x = (np.frombuffer(buf, dtype=np.uint8, offset=lead).astype(np.float32) - np.float32(128)) * np.float32(1 / 128)
    elif bits == 16:
        x = np.frombuffer(buf, dtype="<i2", offset=lead).astype(np.float32) * np.float32(2.0**-15)
    elif bits == 24:
        # vectorised byte trick: with one spare byte in front of the payload, the 4 bytes starting
        # at 3k are (byte before, b0, b1, b2) of sample k; read as little-endian int32 with a stride
        # of 3 bytes and the low byte masked off, that is sample_k * 2**8 with its sign for free.
        n = (len(buf) - lead) // 3
        wide = np.ndarray((n,), dtype="<i4", buffer=buf, offset=lead - 1, strides=(3,))
        x = np.bitwise_and(wide, np.int32(-256)).astype(np.float32)
        x *= np.float32(2.0**-31)
    else:  # 32-bit integer
        x = np.frombuffer(buf, dtype="<i4", offset=lead).astype(np.float32) * np.float32(2.0**-31)
    return x.reshape(-1, channels)


def _downmix(x: np.ndarray) -> np.ndarray:
    """Average the channels of ``x`` [shape=(n, channels)], accumulated in float64."""
    if x.shape[1] == 1:
        return x[:, 0]
    acc = x[:, 0].astype(np.float64)
    for c in range(1, x.shape[1]):  # a loop over channels, each step vectorised over samples
        acc += x[:, c]
    acc /= x.shape[1]
    return acc.astype(np.float32)


def read(path: str | os.PathLike, *, mono: bool = True) -> tuple[np.ndarray, int]:
    """Read the samples of a WAV file as float32 in [-1, 1].

    Parameters
    ----------
    path : str or path-like
        A RIFF/WAVE file: PCM 8 (unsigned) / 16 / 24 / 32 bit or IEEE float 32 / 64 bit, plain or
        WAVE_FORMAT_EXTENSIBLE, any number of channels.
    mono : bool
        Average the channels (in float64, then cast) into one.

    Returns
    -------
    y : np.ndarray [shape=(n,) if mono else (n, channels), dtype=float32]
        Samples scaled like soundfile's float reading (int16 / 32768, int32 / 2**31,
        24 bit / 2**23, 8 bit (u - 128) / 128); float files are passed through unclipped.
    sr : int > 0
        Sample rate in Hz.

    Raises
    ------
    WavError
        See :func:`read_header`.

    Examples
    --------
    >>> y, sr = read("track.wav")
    >>> y.dtype, y.ndim, sr
    (dtype('float32'), 1, 44100)
    """
    header = _read_header(path, stacklevel=3)
    with open(header.path, "rb") as fh:  # the size is bounded by the real file size (read_header)
        x = _read_frames(fh, header, 0, header.n_frames)
    return np.ascontiguousarray(_downmix(x) if mono else x), header.sample_rate


def _read_frames(fh, header: WavHeader, start: int, stop: int) -> np.ndarray:
    """Frames ``[start, stop)`` of the open file ``fh`` -> float32 (n, channels) (:func:`_decode`)."""
    lead = 1 if header.bits_per_sample == 24 and header.sample_format == WAVE_FORMAT_PCM else 0
    size = (stop - start) * header.block_align
    buf = bytearray(lead + size)
    fh.seek(header.data_offset + start * header.block_align)
    got = fh.readinto(memoryview(buf)[lead:])
    if got != size:  # the file shrank since its header was read
        raise WavError(
            f"{header.path}: truncated payload: read {got} of {size} bytes" + (f" at frame {start}" if start else "")
        )
    return _decode(buf, header, lead)


def read_spans(path: "str | os.PathLike | WavHeader", spans) -> tuple[list[np.ndarray], WavHeader]:
    """Read only the frames ``[start, stop)`` of each span: what :func:`read` with
    ``mono=False`` returns for them, bit for bit (every format decodes sample by sample).

    Parameters
    ----------
    path : str, path-like or WavHeader
        A file, or its header already read (:func:`read_header`; not parsed again).
    spans : sequence of (start, stop) frame indices, ``0 <= start < stop <= n_frames``

    Returns
    -------
    parts : list of np.ndarray [shape=(stop - start, channels), dtype=float32]
    header : WavHeader

    Raises
    ------
    WavError
        As :func:`read_header`; a span outside the file; the file shrank while being read.
    """
    header = path if isinstance(path, WavHeader) else _read_header(path, stacklevel=3)
    parts = []
    with open(header.path, "rb") as fh:
        for start, stop in spans:
            if not (
                isinstance(start, (int, np.integer))
                and isinstance(stop, (int, np.integer))
                and 0 <= start < stop <= header.n_frames
            ):
                raise WavError(f"{header.path}: span ({start}, {stop}) is not inside its {header.n_frames} frames")
            parts.append(_read_frames(fh, header, int(start), int(stop)))
    return parts, header


def read_thesis(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """The thesis' C++ ``WaveFile`` reader, kept for comparison (appendix A, ``WavFile.cpp``).

    Reads Table 3.1's fields at their fixed offsets, then skips chunks from offset 36 until one
    whose id starts with ``'d'`` (seeking by the declared size, no pad byte), and returns the
    raw 16-bit amplitudes as floats, unscaled (-32768 .. 32767).  Unlike the C++ code it refuses
    (instead of misreading) files that are not mono 16-bit, and chunk walks that leave the file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    samples : np.ndarray [shape=(n,), dtype=float32]
        Raw int16 values, ``n = Subchunk2Size // BlockAlign``.
    sr : int
        ``SampleRate`` as read at offset 24.

    Raises
    ------
    WavError
        Header shorter than 44 bytes, BlockAlign/BitsPerSample other than mono 16-bit (where the
        C++ buffer overflows), a chunk walk past the end of the file, or fewer samples than
        declared.
    """
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise WavError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    if len(blob) < 44:
        raise WavError(f"{path}: truncated header: {len(blob)} bytes, the thesis reader needs 44")
    sr, block_align, bits = struct.unpack_from("<I", blob, 24)[0], *struct.unpack_from("<HH", blob, 32)
    if block_align != 2 or bits != 16:
        raise WavError(
            f"{path}: the thesis reader handles only mono 16-bit files (BlockAlign {block_align}, BitsPerSample {bits})"
        )
    pos = 36
    cid, size = blob[pos : pos + 4], struct.unpack_from("<I", blob, pos + 4)[0]
    while cid[:1] != b"d":
        pos += 8 + size  # no pad byte: the C++ seekg(subchunk2Size, cur)
        if pos + 8 > len(blob):
            raise WavError(f"{path}: the thesis reader's chunk walk left the file at offset {pos}")
        cid, size = blob[pos : pos + 4], struct.unpack_from("<I", blob, pos + 4)[0]
    n = size // block_align
    start = pos + 8
    if start + 2 * n > len(blob):
        raise WavError(f"{path}: truncated payload: {n} samples declared, the file holds {(len(blob) - start) // 2}")
    return np.frombuffer(blob, dtype="<i2", count=n, offset=start).astype(np.float32), sr


def read_info(path: str | os.PathLike) -> dict[str, str]:
    """The text tags of a WAV file's ``LIST``/``INFO`` chunk(s), e.g. ``{"INAM": title, "IART": artist}``.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    info : dict of str -> str
        Four-character INFO ids (INAM title, IART artist, ICMT comment, ISFT software, ...) to
        their text (trailing NULs stripped); empty when the file has no INFO list.
    """
    header = read_header(path)
    info: dict[str, str] = {}
    with open(header.path, "rb") as fh:
        for chunk in header.chunks:
            if chunk.id != "LIST" or chunk.offset + 8 + chunk.size > header.file_size:
                continue
            fh.seek(chunk.offset + 8)
            body = fh.read(chunk.size)
            if body[:4] != b"INFO":
                continue
            pos = 4
            while pos + 8 <= len(body):
                sub, size = body[pos : pos + 4], struct.unpack_from("<I", body, pos + 4)[0]
                text = body[pos + 8 : pos + 8 + size].split(b"\x00", 1)[0]
                info[_chunk_id(sub)] = text.decode("utf-8", errors="replace")
                pos += 8 + size + (size & 1)
    return info


#: Table 3.1 of the thesis: (offset, size, field, struct code, meaning).  BitsPerSample is 2
#: bytes; the thesis' table misprints 4.
TABLE_3_1: tuple[tuple[int, int, str, str, str], ...] = (
    (0, 4, "ChunkID", "4s", "'RIFF': a RIFF container"),
    (4, 4, "ChunkSize", "<I", "file size - 8"),
    (8, 4, "Format", "4s", "'WAVE': the RIFF form"),
    (12, 4, "Subchunk1ID", "4s", "'fmt ': the format chunk"),
    (16, 4, "Subchunk1Size", "<I", "16 for plain PCM"),
    (20, 2, "AudioFormat", "<H", "1 = PCM (uncompressed)"),
    (22, 2, "NumChannels", "<H", "1 = mono"),
    (24, 4, "SampleRate", "<I", "frames per second (Hz)"),
    (28, 4, "ByteRate", "<I", "SampleRate * NumChannels * BitsPerSample / 8"),
    (32, 2, "BlockAlign", "<H", "bytes per frame: NumChannels * BitsPerSample / 8"),
    (34, 2, "BitsPerSample", "<H", "bits per sample (the thesis' table misprints its size as 4)"),
    (36, 4, "Subchunk2ID", "4s", "'data': the sample chunk"),
    (40, 4, "Subchunk2Size", "<I", "payload bytes: frames * BlockAlign"),
)


def table_3_1(path: str | os.PathLike) -> pd.DataFrame:
    """Rebuild the thesis' Table 3.1 from the first 44 bytes of a file, byte by byte.

    Parameters
    ----------
    path : str or path-like
        A WAV file; for a file with the canonical 44-byte layout (see
        :attr:`WavHeader.is_canonical`) every row is a real field, otherwise the rows after
        offset 36 show whatever bytes lie there.

    Returns
    -------
    table : pandas.DataFrame
        Columns ``offset, size, thesis_size, field, bytes`` (hex), ``value``, ``meaning``; one row
        per field of Table 3.1 plus a last row for the ``data`` payload at offset 44.
    """
    import pandas as pd

    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(44)
    if len(head) < 44:
        raise WavError(f"{path}: truncated header: {len(head)} bytes, Table 3.1 describes 44")
    rows = []
    for offset, size, name, code, meaning in TABLE_3_1:
        raw = head[offset : offset + size]
        value = raw.decode("latin-1") if code == "4s" else struct.unpack(code, raw)[0]
        rows.append(
            dict(
                offset=offset,
                size=size,
                thesis_size=4 if name == "BitsPerSample" else size,
                field=name,
                bytes=raw.hex(" "),
                value=value,
                meaning=meaning,
            )
        )
    data_size = rows[-1]["value"]
    rows.append(
        dict(
            offset=44,
            size=data_size,
            thesis_size="Subchunk2Size",
            field="data",
            bytes="...",
            value=f"{data_size} bytes",
            meaning="the samples, frame after frame",
        )
    )
    return pd.DataFrame(rows)
