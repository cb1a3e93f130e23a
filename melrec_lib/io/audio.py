"""Load audio files as float32 samples (thesis 3.1).

WAV files go through :mod:`melrec_lib.io.wav` (the thesis' reader, done properly); MP3, OGG, FLAC,
AU and whatever else libsndfile reads go through ``soundfile``; resampling is ``soxr``'s.
``load(path, thesis=True)`` mimics the thesis' conversion step,
``ffmpeg -i in.mp3 -codec:a:0 pcm_s16le -ac 1 -ar 44100 out.wav``: mono, 44100 Hz, samples
quantised to 16 bits.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from pathlib import Path

import numpy as np

from melrec_lib.errors import AudioError, ParameterError

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioInfo",
    "info",
    "load",
    "load_spans",
    "pcm_header",
    "quantize_s16",
    "THESIS_SAMPLE_RATE",
]

AUDIO_EXTENSIONS = (".wav", ".mp3", ".ogg", ".flac", ".au")
"""File extensions the data-set readers look for (lower case)."""
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


def info(path: str | os.PathLike) -> AudioInfo:
    """Sample rate, length and channel count of an audio file, from its header only.

    Parameters
    ----------
    path : str or path-like
        WAV (parsed by :func:`melrec_lib.io.wav.read_header`) or any format soundfile reads.

    Returns
    -------
    AudioInfo

    Raises
    ------
    AudioError
        Missing or unreadable file (``wav.WavError`` for a malformed WAV); the message names it.

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


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        y, rate = sf.read(str(path), dtype="float32", always_2d=True)
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
        ``.wav`` (any case) is read by :func:`melrec_lib.io.wav.read`; every other file by
        ``soundfile`` (MP3, OGG/Vorbis, FLAC, AU, AIFF, ...).
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
        A missing, unreadable, malformed (``wav.WavError``) or empty file; the message names it.
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
    else:
        y, native = _read_soundfile(path)
    if y.shape[0] == 0:
        raise AudioError(f"{path}: holds no samples")
    if mono:
        y = _mono(y)
    if sr is not None and sr != native:
        import soxr

        y = soxr.resample(y, native, sr, quality="HQ").astype(np.float32, copy=False)
    else:
        sr = native
    if thesis:
        y = quantize_s16(y)
    return np.ascontiguousarray(y, dtype=np.float32), int(sr)


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
    """Mono float32 samples ``[start, stop)`` of each span: ``load(path, sr=sr)[0][start:stop]``,
    bit for bit.  An integer-PCM WAV at ``sr`` (:func:`pcm_header`; pass its result as
    ``header`` to skip reading it again) is read span by span (for a few 8 s fragments of a
    long track, a fraction of the file); any other file is loaded whole and cut.

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
    y, _ = load(path, sr=sr)
    for a, b in spans:
        if not 0 <= a < b <= y.size:
            raise AudioError(f"{path}: span ({a}, {b}) is not inside its {y.size} samples")
    return [y[a:b] for a, b in spans]
