"""Fragments: 64 frames x 128 mel bands of 8 s, and the pipelines that make them (thesis 3.2-3.4).

:func:`thesis_fragment` is the literal, one-fragment transcription of the C++
``getMelSpectrogram``; :func:`fragments` computes many fragments at once (one batched real FFT,
one matrix product with the bank restricted to its non-zero bins) and gives the same numbers.
:class:`SpectrogramConfig` names a whole pipeline (bank + normalisation + sizes); ``CONFIGS``
holds the two presets; :func:`consecutive_offsets` and :func:`random_offsets` place fragments
in a track.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Sequence

import numpy as np

from melrec_lib.cache import digest
from melrec_lib.dsp.blas import one_blas_thread
from melrec_lib.dsp.filters import (
    FMAX,
    FRAGMENT_DURATION,
    FRAGMENT_FRAMES,
    FRAME_DURATION,
    N_MELS,
    NORMALIZATIONS,
    SAMPLE_RATE,
    _bank,
    _positive,
    _valid_audio,
    frame_length,
    n_dft_bins,
)
from melrec_lib.dsp.spectrum import _check_workers, _magnitudes_into, mel_product, normalize
from melrec_lib.errors import AudioError, ParameterError, SilentAudioError


# --------------------------------------------------------------------------------------------
# fragments
# --------------------------------------------------------------------------------------------
def _start_sample(offset, sr: float, n_samples: int, where: str = "") -> int:
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or not math.isfinite(offset) or offset < 0:
        raise ParameterError(f"offset={offset!r}{where} must be a finite number of seconds >= 0")
    start = int(round(offset * sr))
    if start >= n_samples:
        raise ParameterError(f"offset={offset} s{where} is beyond the end of the {n_samples / sr:.3f} s signal")
    return start


def thesis_fragment(
    samples: np.ndarray,
    sample_rate: float,
    offset: float = 0.0,
    *,
    padding: str = "tile",
) -> np.ndarray:
    """The C++ ``FDT::getMelSpectrogram`` output for the 8 s starting at ``offset`` (3.2-3.4).

    A literal transcription, one fragment at a time (the reference :func:`fragments` is checked
    against): up to 64 frames of ``int(0.125 * sr)`` samples from sample ``round(offset * sr)``;
    full complex DFT of each (like Eigen's); ``|X[k]|`` of bins 0..1377; the ``"thesis"`` filter
    bank; ``x / (max / 2) - 1`` over the frames computed.  Float64 throughout.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,)], real, finite
        Mono samples, any scale (the thesis' reader yields raw int16 values; the normalisation
        makes the scale irrelevant).
    sample_rate : number > 0
    offset : number >= 0
        Start in seconds.  The C++ code truncates ``offset * sr``; we round, which is the same
        for the whole-second offsets both data-set builders use, and immune to ``0.1 * 44100 =
        4410.000000000001``-style representation error.
    padding : {"tile", "thesis"}
        What fills a fragment when fewer than 64 whole frames remain after ``offset``.
        ``"tile"`` (default, the code's intent): the computed frames repeat in order.
        ``"thesis"``: bug-compatible with the C++ loop ``out[i] = out[i - frameNum]`` for
        ``i`` in ``[frameNum, 64)``, which copies single *values* inside frame 0 (mel bands
        ``frameNum .. 63`` of frame 0 repeat bands ``0 .. frameNum - 1``) and leaves frames
        ``frameNum .. 63`` as the output vector held before, zeros for a fresh vector.
        (Not reproduced: ``out.resize(n, 0)`` does not clear a reused vector, so each C++
        spectrogram is accumulated on the previous normalised one; with raw int16 magnitudes
        of 1e4-1e7 that adds at most 1 and is negligible.)

    Returns
    -------
    fragment : np.ndarray [shape=(64, 128), dtype=float32]
        Time x mel, in [-1, 1]; the network input is this with a channel axis added.

    Raises
    ------
    ParameterError
        ``sample_rate <= 0``; offset negative, non-finite or beyond the end; unknown padding;
        ``sample_rate < 22048`` (bins up to 11016 Hz need it).
    AudioError
        Empty / non-finite / multi-channel samples; less than one frame after ``offset``.
    SilentAudioError
        The fragment is silent (the C++ code divides by zero).

    Examples
    --------
    >>> y = np.random.default_rng(0).standard_normal(44100 * 10).astype(np.float32)
    >>> X = thesis_fragment(y, 44100, offset=1.0)
    >>> X.shape, float(X.max())
    ((64, 128), 1.0)
    """
    if padding not in ("tile", "thesis"):
        raise ParameterError(f"padding={padding!r} must be 'tile' or 'thesis'")
    _positive("sample_rate", sample_rate)
    weights = _bank("thesis", sample_rate, FRAME_DURATION, FMAX, N_MELS, True, None)[0]
    y = _valid_audio(samples, "samples", np.float64)
    frame_size = frame_length(sample_rate, FRAME_DURATION)
    n_bins = n_dft_bins(FMAX, FRAME_DURATION)
    beg = _start_sample(offset, sample_rate, y.size)
    frame_num = min(FRAGMENT_FRAMES, (y.size - beg) // frame_size)
    if frame_num == 0:
        raise AudioError(f"only {y.size - beg} samples after offset={offset} s: fewer than one frame of {frame_size}")
    frames = y[beg : beg + frame_num * frame_size].reshape(frame_num, frame_size)
    amplitudes = np.abs(np.fft.fft(frames, axis=1)[:, :n_bins])
    mel = amplitudes @ weights[:, :n_bins].T
    try:
        mel = normalize(mel, "thesis").astype(np.float64)
    except SilentAudioError as exc:
        raise SilentAudioError(f"the fragment at offset={offset} s is silent: cannot normalise") from exc
    if padding == "tile":
        out = mel[np.arange(FRAGMENT_FRAMES) % frame_num]
    else:
        flat = np.zeros(FRAGMENT_FRAMES * N_MELS)
        flat[: frame_num * N_MELS] = mel.ravel()
        for i in range(frame_num, FRAGMENT_FRAMES):
            flat[i] = flat[i - frame_num]
        out = flat.reshape(FRAGMENT_FRAMES, N_MELS)
    return out.astype(np.float32)


def fragments(
    y: np.ndarray,
    sr: float,
    offsets_s: Sequence[float],
    config: "str | SpectrogramConfig" = "thesis",
    *,
    workers: int | None = None,
) -> np.ndarray:
    """Many fragments of one track at once: 8 s each, 64 frames x n_mels at the presets' 1/8 s.

    Fragment i starts at sample ``round(offsets_s[i] * sr)`` exactly as :func:`thesis_fragment`
    does (not a slice of a whole-track spectrogram: 1 s is 44100 samples, not 8 frames of
    5512).  The frames of all fragments go through ONE ``scipy.fft.rfft`` call and ONE matrix
    product with the bank restricted to its non-zero bins; each fragment is then normalised on
    its own.  A fragment with fewer than ``config.fragment_frames`` (64) whole frames left tiles
    them (``padding="tile"``).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], real, finite
    sr : number > 0
        Must equal ``config.sr`` (load the audio with ``audio.load(path, sr=config.sr)``).
    offsets_s : 1-D sequence or array of numbers >= 0
        Start of each fragment in seconds (:func:`consecutive_offsets`, :func:`random_offsets`).
    config : str or SpectrogramConfig
        A preset name (``"thesis"``, ``"corrected"``) or a config; see :func:`get_config`.
    workers : int, optional
        None (default) is scipy's FFT thread count and BLAS as configured; an int (or -1, all
        cores): that many threads share the fragments' DFT and magnitudes, and the one mel
        product runs on one BLAS thread: the numbers of ``workers=None`` on one BLAS thread
        (what the fragment cache computes), for any count.

    Returns
    -------
    X : np.ndarray [shape=(len(offsets_s), *config.fragment_shape), dtype=float32]
        ``X[i]`` equals ``thesis_fragment(y, sr, offsets_s[i])`` for the thesis config (within
        float32 rounding).

    Raises
    ------
    ParameterError
        Unknown config, ``sr != config.sr``, an offset negative or beyond the end, a bad
        ``workers``.
    AudioError
        Bad samples; less than one frame after an offset.
    SilentAudioError
        A fragment is silent (the message names its offset).
    """
    config = get_config(config)
    _check_rate(sr, config)
    workers = _check_workers(workers)
    y = _valid_audio(y)
    offsets = _check_offsets(offsets_s)
    if not offsets:
        return np.zeros((0, *config.fragment_shape), dtype=np.float32)
    spans = _spans(offsets, sr, y.size, config)
    return _fragment_batch([y[beg:end] for beg, end in spans], offsets, config, workers)


def fragment_spans(
    offsets_s: Sequence[float],
    sr: float,
    n_samples: int,
    config: "str | SpectrogramConfig" = "thesis",
) -> list[tuple[int, int]]:
    """The samples ``[start, stop)`` each fragment of :func:`fragments` reads from a signal of
    ``n_samples`` samples: from ``round(offset * sr)``, at most ``config.fragment_frames`` (64)
    whole frames.

    What a reader needs to load only those samples (``audio.load_spans``) and hand them to
    :func:`fragments_of_segments`.

    Raises
    ------
    ParameterError
        As :func:`fragments` (a bad config or rate, an offset negative or beyond the end).
    AudioError
        Less than one whole frame after an offset.
    """
    config = get_config(config)
    _check_rate(sr, config)
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 0:
        raise ParameterError(f"n_samples={n_samples!r} must be an integer >= 0")
    return _spans(_check_offsets(offsets_s), sr, int(n_samples), config)


def _spans(offsets: list, sr: float, n_samples: int, config: "SpectrogramConfig") -> list[tuple[int, int]]:
    """:func:`fragment_spans` of arguments already checked."""
    frame_size = frame_length(sr, config.frame_duration)
    spans = []
    for i, off in enumerate(offsets):
        beg = _start_sample(off, sr, n_samples, f" (fragment {i})")
        n = min(config.fragment_frames, (n_samples - beg) // frame_size)
        if n == 0:
            raise AudioError(
                f"only {n_samples - beg} samples after offset={off} s (fragment {i}): "
                f"fewer than one frame of {frame_size}"
            )
        spans.append((beg, beg + n * frame_size))
    return spans


def fragments_of_segments(
    segments: Sequence[np.ndarray],
    offsets_s: Sequence[float],
    config: "str | SpectrogramConfig" = "thesis",
    *,
    workers: int | None = None,
) -> np.ndarray:
    """:func:`fragments` of samples already cut out: ``segments[i]`` holds the samples from
    fragment i's first one on (``fragment_spans``); its first ``min(fragment_frames, len // n_fft)`` whole
    frames are used, so ``fragments(y, sr, offsets, config)`` equals this with
    ``segments = [y[a:b] for a, b in fragment_spans(offsets, sr, y.size, config)]``, bit for bit.
    ``offsets_s`` only name the fragments in messages.

    Raises
    ------
    ParameterError
        Unknown config, offsets not matching the segments, a bad ``workers``.
    AudioError
        A segment empty, non-finite, multi-channel or shorter than one frame.
    SilentAudioError
        A fragment is silent (the message names its offset).
    """
    config = get_config(config)
    workers = _check_workers(workers)
    offsets = _check_offsets(offsets_s)
    if isinstance(segments, np.ndarray) and segments.ndim == 1:
        raise ParameterError("segments must be a sequence of 1-D sample arrays, one per fragment")
    segments = [_valid_audio(seg, f"segment {i}") for i, seg in enumerate(segments)]
    if len(segments) != len(offsets):
        raise ParameterError(f"{len(segments)} segments but {len(offsets)} offsets")
    if not segments:
        return np.zeros((0, *config.fragment_shape), dtype=np.float32)
    frame_size = frame_length(config.sr, config.frame_duration)
    for i, seg in enumerate(segments):
        if seg.size < frame_size:
            raise AudioError(
                f"segment {i} (offset={offsets[i]} s) holds {seg.size} samples: fewer than one frame of {frame_size}"
            )
    return _fragment_batch(segments, offsets, config, workers)


def _check_rate(sr, config: "SpectrogramConfig") -> None:
    _positive("sr", sr)
    if sr != config.sr:
        raise ParameterError(
            f"sr={sr} differs from the config's sr={config.sr} ({config.name}); "
            f"resample first, e.g. audio.load(path, sr={config.sr})"
        )
    _bank(*config._bank_key())


def _check_offsets(offsets_s) -> list:
    arr = None if isinstance(offsets_s, (str, bytes)) else np.asarray(offsets_s)
    if (
        arr is None
        or arr.ndim != 1
        or not (arr.size == 0 or np.issubdtype(arr.dtype, np.number))
        or np.issubdtype(arr.dtype, np.complexfloating)
        or arr.dtype == bool
    ):
        raise ParameterError(f"offsets_s must be a 1-D sequence of seconds, got {offsets_s!r:.80}")
    return arr.tolist()


def _fragment_batch(segments: list, offsets: list, config: "SpectrogramConfig", workers: int | None) -> np.ndarray:
    """Valid float32 segments (at least one frame each) -> normalised (k, *fragment_shape) fragments.

    The fragments' frames are transformed where they lie (:func:`_magnitudes_into`), their
    magnitudes written into one (frames, bins) matrix that ONE product with the restricted bank
    turns into mel bands: the same numbers as one rfft of all frames at once (pocketfft
    transforms each row alike), without copying the frames together first.  ``workers`` an int:
    the rows' FFTs shared by that many threads, the product on one BLAS thread (the bits of
    ``workers=None`` on one BLAS thread, for any count).
    """
    _, lo, hi, _ = _bank(*config._bank_key())
    frame_size = frame_length(config.sr, config.frame_duration)
    n_frames = config.fragment_frames
    counts = [min(n_frames, seg.size // frame_size) for seg in segments]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
    magnitudes = np.empty((int(sum(counts)), hi - lo), dtype=np.float32)
    pieces = [seg[: n * frame_size].reshape(n, frame_size) for seg, n in zip(segments, counts)]
    _magnitudes_into(magnitudes, pieces, lo, hi, workers)
    if workers is None:
        mel = mel_product(magnitudes, config._bank_key())
    else:
        with one_blas_thread():
            mel = mel_product(magnitudes, config._bank_key())
    if all(n == n_frames for n in counts):
        batch = mel.reshape(len(segments), n_frames, config.n_mels)
    else:  # tile the whole frames of short fragments
        rows = starts[:, None] + np.arange(n_frames)[None, :] % np.asarray(counts)[:, None]
        batch = mel[rows]
    try:
        return normalize(batch, config.normalization)
    except SilentAudioError:
        peaks = batch.max(axis=(1, 2))
        which = int(np.flatnonzero(peaks <= 0)[0])
        raise SilentAudioError(
            f"the fragment at offset={offsets[which]} s (fragment {which}) is silent: cannot normalise"
        ) from None


# --------------------------------------------------------------------------------------------
# configurations
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SpectrogramConfig:
    """A whole fragment pipeline: filter bank, normalisation and sizes.

    Attributes
    ----------
    filterbank : {"thesis", "thesis-full", "librosa"}
    normalization : {"thesis", "log"}
    sr : int > 0
        The sample rate fragments are computed at.
    frame_duration : float > 0
    fmax : float > 0
    n_mels : int > 0
    htk : bool
    norm : None, "slaney" or number
    name : str
        Display name only: not part of :meth:`key`.
    """

    filterbank: str = "thesis"
    normalization: str = "thesis"
    sr: int = SAMPLE_RATE
    frame_duration: float = FRAME_DURATION
    fmax: float = FMAX
    n_mels: int = N_MELS
    htk: bool = True
    norm: str | float | None = None
    name: str = "custom"

    def __post_init__(self):
        if self.normalization not in NORMALIZATIONS:
            raise ParameterError(f"unknown normalisation {self.normalization!r}; choose one of {NORMALIZATIONS}")
        _bank(*self._bank_key())  # validates every bank parameter

    def _bank_key(self) -> tuple:
        return (self.filterbank, self.sr, self.frame_duration, self.fmax, self.n_mels, self.htk, self.norm)

    def key(self) -> str:
        """A short stable hash (10 hex digits) of every field except :attr:`name`.

        Stable across processes and platforms (SHA-256 of the fields as JSON), so it can name a
        cache folder: ``processed/<corpus>/<config.key()>/``.
        """
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "name"}
        fields = {
            k: (float(v) if isinstance(v, numbers.Real) and not isinstance(v, bool) else v) for k, v in fields.items()
        }
        blob = json.dumps(fields, sort_keys=True, default=repr)
        return digest(blob, 10)

    @property
    def fragment_frames(self) -> int:
        """Frames in one fragment: a fragment is 8 s, so 64 frames of 1/8 s (256 of 1/32 s)."""
        return max(1, int(round(FRAGMENT_DURATION / self.frame_duration)))

    @property
    def fragment_shape(self) -> tuple[int, int]:
        """``(fragment_frames, n_mels)``: ``(64, 128)`` for both presets."""
        return (self.fragment_frames, self.n_mels)


CONFIGS: dict[str, SpectrogramConfig] = {
    # the thesis, bug for bug: the 8 Hz .. 2.2 kHz bank and the linear normalisation
    "thesis": SpectrogramConfig(filterbank="thesis", normalization="thesis", name="thesis"),
    # corrected: librosa's bank (HTK mel = the thesis' formula, peak-1 triangles = the thesis'
    # shape) over the whole 0 .. 11024 Hz, and log compression.  Only the two fixes change, the
    # bank is the field's standard (reproducible with librosa alone, tested equal to it).
    "corrected": SpectrogramConfig(filterbank="librosa", normalization="log", htk=True, norm=None, name="corrected"),
}
"""The two preset pipelines.

``"thesis"``: ``"thesis"`` bank + ``"thesis"`` normalisation (the faithful reproduction).
``"corrected"``: ``"librosa"`` bank (HTK, ``norm=None``, 0 .. 11024 Hz) + ``"log"``
normalisation.  librosa's bank rather than ``"thesis-full"``: both cover the full range, but
librosa's is the field's reference (anyone can recompute the features with librosa), and with
the HTK formula and unnormalised triangles it differs from the thesis only in the two fixes
(range and compression)."""


def get_config(name_or_config: "str | SpectrogramConfig") -> SpectrogramConfig:
    """The preset called ``name_or_config``, or the config itself.

    Raises
    ------
    ParameterError
        An unknown name or a value that is neither a string nor a SpectrogramConfig.
    """
    if isinstance(name_or_config, SpectrogramConfig):
        return name_or_config
    if isinstance(name_or_config, str):
        try:
            return CONFIGS[name_or_config]
        except KeyError:
            raise ParameterError(
                f"unknown spectrogram config {name_or_config!r}; choose one of {tuple(CONFIGS)}"
            ) from None
    raise ParameterError(f"config must be a name or a SpectrogramConfig, got {type(name_or_config).__name__}")


# --------------------------------------------------------------------------------------------
# the two data-set builders' offsets
# --------------------------------------------------------------------------------------------
def _duration(duration_s) -> float:
    if (
        isinstance(duration_s, bool)
        or not isinstance(duration_s, numbers.Real)
        or not math.isfinite(duration_s)
        or duration_s < 0
    ):
        raise ParameterError(f"duration_s={duration_s!r} must be a finite number of seconds >= 0")
    return float(duration_s)


def consecutive_offsets(duration_s: float, *, fragment_s: float = FRAGMENT_DURATION) -> list[float]:
    """Offsets 0, 8, 16, ... s of the consecutive fragments of a track (scoring data, 3.4).

    The C++ ``createDataSetFiles`` loop: ``for i < (int)(trackDuration / 8.0)`` with
    ``trackDuration = (int)(samples / sr)``, i.e. ``floor(duration / 8)`` fragments.

    >>> consecutive_offsets(30.5)
    [0.0, 8.0, 16.0]
    """
    duration = _duration(duration_s)
    _positive("fragment_s", fragment_s)
    return [i * float(fragment_s) for i in range(int(math.floor(int(duration) / fragment_s)))]


def random_offsets(duration_s: float, k: int, *, seed: "int | np.random.Generator") -> list[int]:
    """k random whole-second offsets, as the thesis' genre data set (``createDataSet``, 3.4).

    The C++ code draws ``rand() % (trackDuration - 8)`` with ``trackDuration = (int)duration``:
    integers in ``[0, trackDuration - 8)``, with replacement; here from a seeded numpy Generator.

    Parameters
    ----------
    duration_s : number >= 0
    k : int >= 0
    seed : int or np.random.Generator
        Same seed, same offsets.

    Returns
    -------
    offsets : list of int

    Raises
    ------
    ParameterError
        A track shorter than 9 s (the C++ code takes a modulo by zero or a negative number).

    >>> random_offsets(200.0, 5, seed=0) == random_offsets(200.0, 5, seed=0)
    True
    """
    whole = int(_duration(duration_s))
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
        raise ParameterError(f"k={k!r} must be an integer >= 0")
    span = whole - int(FRAGMENT_DURATION)
    if span <= 0:
        raise ParameterError(
            f"a {duration_s} s track is too short for random 8 s fragments "
            f"(the thesis draws rand() % (duration - 8); needs >= 9 s)"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return [int(v) for v in rng.integers(0, span, size=k)]
