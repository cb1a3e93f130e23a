"""Load audio files as float32 samples (thesis 3.1).

WAV files go through :mod:`melrec_lib.io.wav` (the thesis' reader, done properly); MP3, OGG, FLAC,
AU, AIFF and Opus (``.opus``: libsndfile reads Ogg Opus, and the soundtracks corpus holds
some) through ``soundfile`` (the decoders every recorded result used, kept bit for bit); the
other formats of a music collection (AAC/ALAC in ``.m4a``, ``.oga``, WMA, APE, WavPack,
Matroska, ...: :data:`melrec_lib.io.decode.PYAV_EXTENSIONS`) through PyAV, FFmpeg's libraries
(:mod:`melrec_lib.io.decode`).  Resampling is ``soxr``'s for all of them.
``load(path, thesis=True)`` mimics the thesis' conversion step,
``ffmpeg -i in.mp3 -codec:a:0 pcm_s16le -ac 1 -ar 44100 out.wav``: mono, 44100 Hz, samples
quantised to 16 bits.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from pathlib import Path

import numpy as np

from melrec_lib.errors import AudioError, ParameterError
from melrec_lib.io.decode import PYAV_EXTENSIONS

__all__ = [
    "AUDIO_EXTENSIONS",
    "SOUNDFILE_EXTENSIONS",
    "AudioInfo",
    "by_pyav",
    "info",
    "load",
    "load_spans",
    "pcm_header",
    "quantize_s16",
    "THESIS_SAMPLE_RATE",
]

SOUNDFILE_EXTENSIONS = (".wav", ".mp3", ".ogg", ".flac", ".au", ".aif", ".aiff", ".opus")
"""Read by melrec's WAV reader (``.wav``) and soundfile (the rest), whatever else FFmpeg could do."""
AUDIO_EXTENSIONS = SOUNDFILE_EXTENSIONS + PYAV_EXTENSIONS
"""File extensions the data-set readers look for (lower case): soundfile's, then PyAV's."""
THESIS_SAMPLE_RATE = 44100
"""``-ar 44100`` of the thesis' ffmpeg command."""


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, without decoding the samples.

    Attributes
    ----------
    sample_rate : int > 0
        Hz.
    frames : int >= 0
        Samples per channel.
    channels : int > 0
    duration_s : float
        ``frames / sample_rate``.
    """

    sample_rate: int
    frames: int
    channels: int
    duration_s: float


def _existing_file(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise ParameterError(f"path must be a str or path-like, got {type(path).__name__}")
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file")
    return path


def _is_wav(path: Path) -> bool:
    return path.suffix.lower() == ".wav"


def by_pyav(path: str | os.PathLike) -> bool:
    """Whether :func:`load` decodes this file with PyAV (by its extension; else melrec's WAV reader or soundfile).

    >>> by_pyav("song.M4A"), by_pyav("song.flac")
    (True, False)
    """
    return Path(path).suffix.lower() in PYAV_EXTENSIONS


def info(path: str | os.PathLike) -> AudioInfo:
    """Sample rate, length and channel count of an audio file, from its header only.

    Parameters
    ----------
    path : str or path-like
        WAV (parsed by :func:`melrec_lib.io.wav.read_header`), a format soundfile reads, or one
        of PyAV's (:func:`by_pyav`): its first audio stream, ``frames`` as the container declares
        it (the decoder may give an encoder's padding more; a container that declares no length
        is decoded to count).

    Returns
    -------
    AudioInfo

    Raises
    ------
    AudioError
        Missing or unreadable file (``wav.WavError`` for a malformed WAV; no audio stream,
        DRM-protected, corrupt for PyAV); the message names it.

    Examples
    --------
    >>> info("track.wav")
    AudioInfo(sample_rate=44100, frames=1323000, channels=1, duration_s=30.0)
    """
    path = _existing_file(path)
    if _is_wav(path):
        from melrec_lib.io import wav

        header = wav.read_header(path)
        return AudioInfo(header.sample_rate, header.n_frames, header.num_channels, header.duration_s)
    if by_pyav(path):
        from melrec_lib.io import decode

        head = decode.probe(path)
        frames = head.frames if head.frames is not None else decode.read(path)[0].shape[0]
        return AudioInfo(head.sample_rate, frames, head.channels, frames / head.sample_rate)
    import soundfile as sf

    try:
        meta = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"{path}: cannot read the audio header ({exc})") from exc
    if meta.samplerate <= 0 or meta.channels <= 0:
        raise AudioError(f"{path}: invalid header (sample rate {meta.samplerate}, {meta.channels} channels)")
    return AudioInfo(int(meta.samplerate), int(meta.frames), int(meta.channels), meta.frames / meta.samplerate)


def quantize_s16(y: np.ndarray) -> np.ndarray:
    """Round samples to 16-bit PCM and back, as ffmpeg's ``pcm_s16le`` output then a reader does.

    ``clip(rint(y * 32768), -32768, 32767) / 32768`` (libswresample converts float to s16 with
    ``av_clip_int16(lrintf(x * 32768))``; soundfile and :mod:`melrec_lib.io.wav` read int16 back as
    ``/ 32768``).  Values outside [-1, 1) clip, as in the real conversion.

    Parameters
    ----------
    y : np.ndarray, float

    Returns
    -------
    np.ndarray [same shape, dtype=float32]
        Multiples of 1/32768 in [-1, 32767/32768].

    >>> quantize_s16(np.array([0.5, 1.0, -1.0, 1e-6])).tolist()
    [0.5, 0.999969482421875, -1.0, 0.0]
    """
    y = np.asarray(y, dtype=np.float64)
    return (np.clip(np.rint(y * 32768.0), -32768, 32767) / 32768.0).astype(np.float32)


#: Bytes of float32 samples a soundfile header may claim, per byte of the file, before it is
#: read block by block (what it holds) instead of into one array of the claimed size.
PLAUSIBLE_EXPANSION = 1024


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    """``soundfile.read(path, dtype="float32", always_2d=True)``; a header claiming far more
    samples than its file could hold (a corrupt MP3 claimed 34 GiB) is read block by block, the
    same samples without allocating the claim."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            claimed = f.frames * f.channels * 4
            if claimed <= max(1 << 28, PLAUSIBLE_EXPANSION * path.stat().st_size):
                y = f.read(dtype="float32", always_2d=True)
            else:  # until a short read (soundfile's blocks() would go on to the claimed end)
                blocks = [f.read(1 << 16, dtype="float32", always_2d=True)]
                while len(blocks[-1]) == 1 << 16:
                    blocks.append(f.read(1 << 16, dtype="float32", always_2d=True))
                y = np.concatenate(blocks)
            rate = f.samplerate
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: cannot decode ({exc})") from exc
    return y, int(rate)


def load(
    path: str | os.PathLike,
    *,
    sr: int | None = 44100,
    mono: bool = True,
    thesis: bool = False,
) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 samples, optionally mixed to mono and resampled.

    Parameters
    ----------
    path : str or path-like
        ``.wav`` (any case) is read by :func:`melrec_lib.io.wav.read`; MP3, OGG, FLAC, AU,
        AIFF and Opus by ``soundfile``; the extensions of :data:`melrec_lib.io.decode.PYAV_EXTENSIONS`
        (m4a, wma, ape, ...) by PyAV (:func:`melrec_lib.io.decode.read`, its first audio stream).
    sr : int > 0 or None
        Target sample rate in Hz; resampled with ``soxr`` (quality "HQ") when the file's rate
        differs.  None keeps the file's own rate.
    mono : bool
        Average the channels into one (the mean, computed in float64).
    thesis : bool
        Mimic the thesis' ``ffmpeg ... -codec:a:0 pcm_s16le -ac 1 -ar 44100``: mono, 44100 Hz,
        then 16-bit quantisation (:func:`quantize_s16`), in ffmpeg's order (mix, resample,
        quantise).  Requires ``sr`` in (44100, None) and ``mono=True``.  For a stereo input the
        mix is the channel mean (ffmpeg's clip-protected default matrix comes to the same for
        stereo; its resampler is not soxr, so resampled samples differ in the last bits).

    Returns
    -------
    y : np.ndarray [shape=(n,) if mono else (n, channels), dtype=float32]
        Samples, nominally in [-1, 1] (float files pass through unclipped).
    sr : int
        The rate of ``y``.

    Raises
    ------
    AudioError
        A missing, unreadable, malformed (``wav.WavError``), corrupt, DRM-protected or empty file,
        or one without an audio stream; the message names it.
    ParameterError
        ``sr <= 0`` or not an integer; ``thesis=True`` with another rate or ``mono=False``.

    Examples
    --------
    >>> y, sr = load("track.mp3", thesis=True)
    >>> y.dtype, y.ndim, sr
    (dtype('float32'), 1, 44100)
    """
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, numbers.Integral) or sr <= 0):
        raise ParameterError(f"sr={sr!r} must be a positive integer (Hz) or None")
    if thesis:
        if sr not in (None, THESIS_SAMPLE_RATE):
            raise ParameterError(
                f"thesis=True converts to {THESIS_SAMPLE_RATE} Hz like the thesis' ffmpeg; got sr={sr}"
            )
        if not mono:
            raise ParameterError("thesis=True converts to mono like the thesis' ffmpeg (-ac 1); got mono=False")
        sr = THESIS_SAMPLE_RATE
    path = _existing_file(path)
    if _is_wav(path):
        from melrec_lib.io import wav

        y, native = wav.read(path, mono=False)
        if y.ndim == 1:
            y = y[:, None]
    elif by_pyav(path):
        from melrec_lib.io import decode

        y, native = decode.read(path)
    else:
        y, native = _read_soundfile(path)
    if y.shape[0] == 0:
        raise AudioError(f"{path}: holds no samples")
    if mono:
        y = _mono(y)
    if sr is not None and sr != native:
        y = _resample(y, native, sr)
    else:
        sr = native
    if thesis:
        y = quantize_s16(y)
    return np.ascontiguousarray(y, dtype=np.float32), int(sr)


def _resample(y: np.ndarray, native: int, sr: int) -> np.ndarray:
    import soxr

    return soxr.resample(y, native, sr, quality="HQ").astype(np.float32, copy=False)


def _mono(y: np.ndarray) -> np.ndarray:
    """(n, channels) -> (n,): the channel mean, accumulated in float64."""
    return y[:, 0] if y.shape[1] == 1 else y.mean(axis=1, dtype=np.float64).astype(np.float32)


def pcm_header(path: str | os.PathLike, sr: int):
    """The header (``wav.WavHeader``) of an integer-PCM WAV file recorded at ``sr`` Hz, else None.

    Such a file's samples can be read span by span (:func:`load_spans` reads only those) with
    the numbers :func:`load` gives, and cannot hold a non-finite sample, so checking the spans
    read is checking the file.  Float WAVs (which may hold NaN), other rates (resampled as a
    whole) and other formats (decoded as a whole) give None.

    Raises
    ------
    AudioError
        As :func:`info`.
    """
    path = _existing_file(path)
    if not _is_wav(path):
        return None
    from melrec_lib.io import wav

    header = wav.read_header(path)
    if header.sample_format != wav.WAVE_FORMAT_PCM or header.sample_rate != sr or header.n_frames == 0:
        return None
    return header


def load_spans(path: str | os.PathLike, spans, *, sr: int = THESIS_SAMPLE_RATE, header=None) -> list[np.ndarray]:
    """Mono float32 samples ``[start, stop)`` of each span: ``load(path, sr=sr)[0][start:stop]``.

    An integer-PCM WAV at ``sr`` (:func:`pcm_header`; pass its result as ``header`` to skip
    reading it again) is read span by span, bit for bit (for a few 8 s fragments of a long
    track, a fraction of the file).  A PyAV file (:func:`by_pyav`) decodes only around its spans
    (seeking where its container allows, :func:`melrec_lib.io.decode.read_spans`), so a 3-hour
    file costs what a 4-minute one does: each span is decoded with :data:`SPAN_MARGIN` samples on
    either side, mixed and resampled on its own from a sample where the two rates' grids meet,
    which gives the whole decode's samples to within soxr's rounding (about 1e-6); AAC's noise
    substitution draws from the decoder's running random state, so after a seek the noise bands
    of an AAC file differ from a whole decode's, at the level of that noise.  Any other file is
    loaded whole and cut.

    Raises
    ------
    AudioError
        As :func:`load`; a span outside the signal.
    ParameterError
        A bad ``sr``.
    """
    spans = [(int(a), int(b)) for a, b in spans]
    header = header if header is not None else pcm_header(path, sr)
    if header is not None:
        from melrec_lib.io import wav

        parts, _ = wav.read_spans(header, spans)
        return [np.ascontiguousarray(_mono(x), dtype=np.float32) for x in parts]
    path = _existing_file(path)
    if by_pyav(path) and spans:
        return _pyav_spans(path, spans, sr)
    y, _ = load(path, sr=sr)
    for a, b in spans:
        if not 0 <= a < b <= y.size:
            raise AudioError(f"{path}: span ({a}, {b}) is not inside its {y.size} samples")
    return [y[a:b] for a, b in spans]


#: Samples (at the target rate) decoded and resampled on each side of a span of a PyAV file:
#: past soxr "HQ"'s filter, so the span's samples are the whole decode's.
SPAN_MARGIN = 2048


def _pyav_spans(path: Path, spans: list[tuple[int, int]], sr: int) -> list[np.ndarray]:
    from melrec_lib.errors import check_int
    from melrec_lib.io import decode

    check_int(sr, "sr", minimum=1)
    for a, b in spans:
        if not 0 <= a < b:
            raise AudioError(f"{path}: span ({a}, {b}) is not a range of samples")
    native = decode.probe(path).sample_rate
    g = math.gcd(native, sr)
    step_in, step_out = native // g, sr // g  # native sample k * step_in is output sample k * step_out
    firsts = [max(0, a - SPAN_MARGIN) // step_out * step_out for a, _ in spans]
    ranges = [(m // step_out * step_in, -(-(b + SPAN_MARGIN) * native // sr) + 1) for m, (_, b) in zip(firsts, spans)]
    parts, _, total = decode.read_spans(path, ranges)
    out = []
    for (a, b), m, x in zip(spans, firsts, parts):
        y = _mono(x) if x.shape[0] else np.zeros(0, np.float32)
        if native != sr and y.size:
            y = _resample(y, native, sr)
        if a - m >= y.size or b - m > y.size:
            size = f"{_resampled_size(total, native, sr)} samples" if total is not None else "samples"
            raise AudioError(f"{path}: span ({a}, {b}) is not inside its {size}")
        out.append(np.ascontiguousarray(y[a - m : b - m], dtype=np.float32))
    return out


def _resampled_size(n: int, native: int, sr: int) -> int:
    return n if native == sr else _resample(np.zeros(n, np.float32), native, sr).size
