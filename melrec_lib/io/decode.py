"""Decode the audio formats soundfile does not read, through PyAV (FFmpeg's libraries, in the ``av`` wheel).

:mod:`melrec_lib.io.audio` keeps its own WAV reader and ``soundfile`` for WAV, FLAC, Ogg, MP3, AU
and AIFF (the numbers the notebooks recorded come from them, bit for bit); the rest of a music
collection comes here: AAC and ALAC in ``.m4a``/``.mp4``, raw ADTS ``.aac``, ``.oga`` (Ogg
Opus, Vorbis or FLAC), WMA, Monkey's Audio, WavPack, Matroska/WebM and the other audio
containers FFmpeg demuxes (:data:`PYAV_EXTENSIONS`); ``.opus`` stays soundfile's, which has
always read Ogg Opus.  Samples come out as float32 at the file's own rate with soundfile's
scaling (``int16 / 32768``, ``int32 / 2**31``); :mod:`melrec_lib.io.audio` mixes and resamples
(soxr) as it does for the other formats.

:func:`read_spans` decodes only the samples of a few spans: in a container whose timestamps
place every sample (MP4, Ogg, WavPack, CAF, Monkey's Audio, ...; see :func:`seeks`) it seeks to
each span, so a 3-hour file costs what a 4-minute one does; in the others (Matroska with
millisecond timestamps, ASF, raw ADTS) it decodes from the start but keeps only the spans, so
the memory stays that of the spans.

Every failure is an :class:`~melrec_lib.errors.AudioError` naming the file and the reason: no
audio stream, a DRM-protected stream (FairPlay ``drms``, encrypted MP4 ``enca``, encrypted
Matroska tracks, ASF content encryption), no decoder, or FFmpeg's own error (``av.error.*``)
on a corrupt or truncated file.  Corrupt packets in the middle of a stream are FFmpeg's to
conceal, as in any player; what is decoded is returned.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from melrec_lib.errors import AudioError

__all__ = [
    "PYAV_EXTENSIONS",
    "DecodeStats",
    "MAX_CHANNELS",
    "MAX_SAMPLE_RATE",
    "probe",
    "read",
    "read_spans",
    "seeks",
]

PYAV_EXTENSIONS = (
    ".m4a",
    ".m4b",
    ".mp4",
    ".aac",
    ".oga",
    ".spx",
    ".wma",
    ".asf",
    ".ape",
    ".wv",
    ".mka",
    ".webm",
    ".ac3",
    ".eac3",
    ".dts",
    ".mpc",
    ".tta",
    ".caf",
    ".mp2",
    ".amr",
    ".aifc",
    ".3gp",
)
"""Extensions decoded here (lower case): the audio containers FFmpeg demuxes that soundfile does not read."""
#: The most channels and the highest rate (Hz) a stream may declare; beyond is a corrupt header.
MAX_CHANNELS = 64
MAX_SAMPLE_RATE = 768_000
#: Seconds decoded before a span after a seek: the decoder's warm-up (AAC's overlap, Opus's 80 ms).
PREROLL_S = 0.5
#: Containers whose timestamps place each decoded frame to the sample (FFmpeg's format names),
#: with the codecs whose frames they place so after a seek (None: any codec).  FLAC in Ogg is not
#: one: after a seek FFmpeg's parser gives a few frames with timestamps past the end.
_SAMPLE_ACCURATE = {
    "mov,mp4,m4a,3gp,3g2,mj2": None,
    "ogg": frozenset({"opus", "vorbis"}),
    "wv": None,
    "caf": None,
    "ape": None,
    "aiff": None,
    "tta": None,
    "w64": None,
}
#: Sample-entry tags of encrypted MP4 audio: FairPlay (drms), Common Encryption (enca).
_DRM_TAGS = frozenset({"drms", "drmi", "enca", "encv"})
#: ASF's Content Encryption and Extended Content Encryption object GUIDs, as stored (little-endian).
_ASF_DRM_GUIDS = (
    bytes.fromhex("fbb3112223bdd211b4b700c04fb1f8b6"),
    bytes.fromhex("14e68a292226174cb935dae07ee9289c"),
)
_ASF_HEADER_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


@dataclasses.dataclass
class DecodeStats:
    """What a decode cost: frames (samples per channel) and FFmpeg frames decoded, seeks made.

    Attributes
    ----------
    samples : int
        Samples per channel the decoder produced (kept or not).
    frames : int
        Decoded FFmpeg frames.
    seeks : int
    """

    samples: int = 0
    frames: int = 0
    seeks: int = 0


@dataclasses.dataclass(frozen=True)
class Probe:
    """A stream's header: rate (Hz), channels, declared length in samples (None: not declared), container."""

    sample_rate: int
    channels: int
    frames: int | None
    container: str


def _errors():
    import av

    # av.error.FFmpegError is the base of every av.error.* (some also derive from ValueError/OSError)
    return (av.error.FFmpegError, ValueError, OverflowError, EOFError, OSError, RuntimeError, IndexError)


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[tuple[object, object]]:
    """The open container and its first audio stream; every failure an AudioError naming ``path``."""
    import av

    if _asf_encrypted(path):
        raise AudioError(f"{path}: DRM-protected (encrypted) audio stream; it cannot be decoded")
    try:
        container = av.open(str(path), mode="r", metadata_errors="replace")
    except _errors() as exc:
        raise AudioError(f"{path}: not a readable audio file ({_reason(exc)})") from exc
    try:
        stream = _audio_stream(path, container)
        yield container, stream
    except AudioError:
        raise
    except _errors() as exc:
        raise AudioError(f"{path}: cannot decode ({_reason(exc)})") from exc
    finally:
        with contextlib.suppress(*_errors()):
            container.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _audio_stream(path: Path, container):
    streams = list(container.streams.audio)
    if not streams:
        raise AudioError(f"{path}: no audio stream")
    stream = streams[0]
    if _encrypted(path, container, stream):
        raise AudioError(f"{path}: DRM-protected (encrypted) audio stream; it cannot be decoded")
    ctx = stream.codec_context
    if ctx is None or ctx.codec is None:
        raise AudioError(f"{path}: no decoder for its audio codec")
    rate, channels = int(ctx.sample_rate or 0), int(ctx.channels or 0)
    if not 0 < rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{path}: invalid sample rate {rate} Hz in its header")
    if not 0 < channels <= MAX_CHANNELS:
        raise AudioError(f"{path}: invalid channel count {channels} in its header")
    return stream


def _encrypted(path: Path, container, stream) -> bool:
    ctx = stream.codec_context
    tag = str(getattr(ctx, "codec_tag", "") or "").strip("\x00 ").lower()
    if tag in _DRM_TAGS:
        return True
    return any(k.lower() == "enc_key_id" for k in stream.metadata)  # Matroska ContentEncryption


def _asf_encrypted(path: Path) -> bool:
    """An ASF file (WMA) whose header holds a content-encryption object (read before FFmpeg opens it)."""
    try:
        with open(path, "rb") as f:
            head = f.read(30)
            if head[:16] != _ASF_HEADER_GUID:
                return False
            size = int.from_bytes(head[16:24], "little")
            body = f.read(max(0, min(size, 1 << 20) - 30))  # the header object's sub-objects
    except OSError as exc:
        raise AudioError(f"{path}: cannot be read ({exc})") from exc
    return any(guid in body for guid in _ASF_DRM_GUIDS)


def _declared_frames(container, stream, rate: int) -> int | None:
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return int(round(float(stream.duration * stream.time_base) * rate))
    if container.duration is not None and container.duration > 0:  # in AV_TIME_BASE (microseconds)
        return int(round(container.duration / 1_000_000 * rate))
    return None


def probe(path: str | os.PathLike) -> Probe:
    """The header of a file's first audio stream, without decoding.

    Raises
    ------
    AudioError
        Not a container FFmpeg reads, no audio stream, DRM-protected, no decoder, a corrupt header.
    """
    path = Path(path)
    with _opened(path) as (container, stream):
        ctx = stream.codec_context
        rate = int(ctx.sample_rate)
        return Probe(rate, int(ctx.channels), _declared_frames(container, stream, rate), container.format.name)


def seeks(path: str | os.PathLike) -> bool:
    """Whether :func:`read_spans` seeks in this file (its container's timestamps place every sample).

    Raises
    ------
    AudioError
        As :func:`probe`.
    """
    path = Path(path)
    with _opened(path) as (container, stream):
        return _seekable(container, stream)


def _seekable(container, stream) -> bool:
    tb, rate = stream.time_base, stream.codec_context.sample_rate
    name = container.format.name
    if name not in _SAMPLE_ACCURATE or tb is None or float(tb) * rate > 1.0:
        return False
    codecs = _SAMPLE_ACCURATE[name]
    return codecs is None or stream.codec_context.name in codecs


#: Containers whose header states the stream's length (not an estimate): a file that decodes to
#: less than :func:`read` allows is truncated.
_EXACT_LENGTH = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "wv", "caf", "ape", "aiff", "tta", "w64", "matroska,webm"})

_SCALE = {"s16": 32768.0, "s32": 2.0**31, "s64": 2.0**63}


def _samples(path: Path, frame, rate: int, channels: int) -> np.ndarray:
    """One decoded frame as (n, channels) float32, soundfile's scaling."""
    if frame.sample_rate != rate:
        raise AudioError(f"{path}: the sample rate changes mid-stream ({rate} -> {frame.sample_rate} Hz)")
    ch = frame.layout.nb_channels
    if ch != channels:
        raise AudioError(f"{path}: the channel count changes mid-stream ({channels} -> {ch})")
    arr = frame.to_ndarray()
    x = arr.T if frame.format.is_planar else arr.reshape(-1, ch)
    kind = frame.format.name.rstrip("p")
    if kind == "u8":
        return ((x.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if kind in _SCALE:
        return (x.astype(np.float64) / _SCALE[kind]).astype(np.float32)
    if kind in ("flt", "dbl"):
        return x.astype(np.float32, copy=False)
    raise AudioError(f"{path}: unsupported sample format {frame.format.name}")


def _frames(path: Path, container, stream, stats: DecodeStats) -> Iterator[tuple[int | None, np.ndarray]]:
    """``(pts in samples or None, samples)`` of each decoded frame from the demuxer's position."""
    ctx = stream.codec_context
    rate, channels = int(ctx.sample_rate), int(ctx.channels)
    tb = stream.time_base
    start = stream.start_time or 0
    for frame in container.decode(stream):
        stats.frames += 1
        stats.samples += frame.samples
        if frame.samples == 0:
            continue
        pts = None if frame.pts is None or tb is None else int(round(float((frame.pts - start) * tb) * rate))
        yield pts, _samples(path, frame, rate, channels)


def read(path: str | os.PathLike, *, stats: DecodeStats | None = None) -> tuple[np.ndarray, int]:
    """Every sample of the first audio stream.

    Parameters
    ----------
    path : str or path-like
    stats : DecodeStats, optional
        Counts what was decoded (added to).

    Returns
    -------
    y : np.ndarray [shape=(n, channels), dtype=float32]
    sr : int
        The stream's rate.

    Raises
    ------
    AudioError
        As :func:`probe`; FFmpeg's error while decoding; a rate or channel count that changes.
    """
    path = Path(path)
    stats = stats if stats is not None else DecodeStats()
    with _opened(path) as (container, stream):
        ctx = stream.codec_context
        rate, channels = int(ctx.sample_rate), int(ctx.channels)
        declared = _declared_frames(container, stream, rate) if container.format.name in _EXACT_LENGTH else None
        parts = [x for _, x in _frames(path, container, stream, stats)]
    y = np.concatenate(parts) if parts else np.zeros((0, channels), np.float32)
    if declared is not None and y.shape[0] < declared - max(rate // 2, declared // 100):
        raise AudioError(
            f"{path}: truncated: {y.shape[0] / rate:.2f} s decoded of the {declared / rate:.2f} s its header declares"
        )
    return y, rate


def read_spans(
    path: str | os.PathLike, ranges, *, stats: DecodeStats | None = None
) -> tuple[list[np.ndarray], int, int | None]:
    """The samples ``[start, stop)`` (at the file's own rate) of each range, decoding little else.

    Parameters
    ----------
    path : str or path-like
    ranges : sequence of (int, int)
        Sample ranges, ``0 <= start < stop``; a range may run past the end (its part is short).
    stats : DecodeStats, optional
        Counts what was decoded (added to).

    Returns
    -------
    parts : list of np.ndarray [shape=(m, channels), dtype=float32]
        ``read(path)[0][start:stop]`` for each range: the same samples (the decoder's warm-up
        after a seek aside, which :data:`PREROLL_S` covers).
    sr : int
    total : int or None
        The stream's length in samples when the decode reached its end, else None.

    Raises
    ------
    AudioError
        As :func:`read`.
    """
    path = Path(path)
    stats = stats if stats is not None else DecodeStats()
    ranges = [(int(a), int(b)) for a, b in ranges]
    with _opened(path) as (container, stream):
        rate = int(stream.codec_context.sample_rate)
        if _seekable(container, stream):
            parts, total, fresh = [], None, True
            for a, b in ranges:
                part, end = _seek_range(path, container, stream, a, b, rate, stats, fresh)
                parts.append(part)
                total = end if end is not None else total
                fresh = False
            return parts, rate, total
        parts, total = _sequential(path, container, stream, ranges, stats)
        return parts, rate, total


def _sequential(path, container, stream, ranges, stats) -> tuple[list[np.ndarray], int | None]:
    """One pass from the start, keeping the pieces inside the ranges."""
    pieces: list[list[np.ndarray]] = [[] for _ in ranges]
    last = max((b for _, b in ranges), default=0)
    pos, total = 0, None
    channels = int(stream.codec_context.channels)
    it = _frames(path, container, stream, stats)
    for _, x in it:
        end = pos + x.shape[0]
        for i, (a, b) in enumerate(ranges):
            if a < end and pos < b:
                pieces[i].append(x[max(a, pos) - pos : min(b, end) - pos])
        pos = end
        if pos >= last:
            break
    else:
        total = pos
    return [np.concatenate(p) if p else np.zeros((0, channels), np.float32) for p in pieces], total


def _seek(container, stream, target: int, rate: int, stats: DecodeStats) -> None:
    stats.seeks += 1
    container.seek(int(math.floor(target / rate / float(stream.time_base))), stream=stream, backward=True)
    stream.codec_context.flush_buffers()


def _seek_range(path, container, stream, a, b, rate, stats, fresh) -> tuple[np.ndarray, int | None]:
    """Samples [a, b): seek :data:`PREROLL_S` before ``a`` and place the first frame by its pts
    (further back if it lands after ``a``); from the start, frames are placed as :func:`read` does."""
    back = int(PREROLL_S * rate)
    for _ in range(4):
        target = max(0, a - back)
        if target == 0:
            break
        _seek(container, stream, target, rate, stats)
        found = _from_pts(path, container, stream, a, b, stats)
        if found is not None:
            return found
        back *= 4
    if not fresh:
        _seek(container, stream, 0, rate, stats)
    (part,), total = _sequential(path, container, stream, [(a, b)], stats)
    return part, total


def _from_pts(path, container, stream, a, b, stats) -> tuple[np.ndarray, int | None] | None:
    """The samples [a, b) after a seek, placed by the first frame's pts; None when it has none,
    lands after ``a``, or a later frame's pts disagrees with the samples before it."""
    channels = int(stream.codec_context.channels)
    pieces, pos = [], None
    for pts, x in _frames(path, container, stream, stats):
        if pos is None:
            if pts is None or pts > a:
                return None
            pos = pts
        elif pts is not None and abs(pts - pos) > 1:
            return None
        end = pos + x.shape[0]
        if a < end and pos < b:
            pieces.append(x[max(a, pos) - pos : min(b, end) - pos])
        pos = end
        if pos >= b:
            return np.concatenate(pieces), None
    if pos is None:
        return None  # nothing after the seek
    return (np.concatenate(pieces) if pieces else np.zeros((0, channels), np.float32)), pos
