"""Mel filter banks as the thesis builds them and as librosa does (thesis 3.2-3.3).

The thesis' C++ class ``FDT`` (appendix, ``FFT.cpp``) keeps the DFT magnitudes of bins
``k = 0 .. int(fmax * 0.125) - 1`` (1378 bins, 0 .. 11016 Hz at ``fmax = 11024``) of 1/8 s frames
and applies 128 triangles, linear in mel (``mel(f) = 1127.01048 ln(1 + f/700)``).
*Finding:* the triangles are spaced half as far apart as the code meant, so they cover only bins
1..274 (8 Hz .. 2.2 kHz), not 0 .. 11 kHz.  :func:`mel_filterbank` offers this bug-compatible bank
(``"thesis"``), the same triangles spread over the whole range (``"thesis-full"``) and librosa's
bank (``"librosa"``).  The pipeline's constants (frames per fragment, bands, frame length) and
the input checks every DSP module uses live here too.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings

import numpy as np

from melrec_lib.errors import AudioError, ParameterError
from melrec_lib.io.audio import THESIS_SAMPLE_RATE

FRAGMENT_FRAMES = 64
"""Frames per fragment (``framesCount`` in the C++ code)."""
N_MELS = 128
"""Mel bands (``melCount``)."""
FRAME_DURATION = 0.125
"""Seconds per frame: 8 s / 64 (``frameDuration``)."""
FMAX = 11024.0
"""Upper frequency of the kept DFT bins in Hz (``hightFrequency``)."""
SAMPLE_RATE = THESIS_SAMPLE_RATE
"""The rate ffmpeg converts every track to (thesis 3.1): ``audio.THESIS_SAMPLE_RATE``."""
FRAGMENT_DURATION = FRAGMENT_FRAMES * FRAME_DURATION
"""Nominal seconds per fragment (8.0); the exact span is ``64 * int(sr * 0.125)`` samples."""
FILTERBANKS = ("thesis", "thesis-full", "librosa")
"""The filter-bank kinds of :func:`mel_filterbank`."""
NORMALIZATIONS = ("thesis", "log")
"""The methods of :func:`normalize`."""
LOG_FLOOR_DB = 80.0
"""Dynamic range kept by the ``"log"`` normalisation, in dB below the fragment's maximum."""

_HTK_FACTOR = 1127.01048  # the thesis' (and HTK's) constant; librosa's 2595 / ln(10) = 1126.994
_HTK_BREAK = 700.0


# --------------------------------------------------------------------------------------------
# input checks (gathered here, librosa's util.valid_audio style)
# --------------------------------------------------------------------------------------------
def _positive(name: str, value, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name}={value!r} must be a {'positive integer' if integer else 'positive number'}")
    if integer and (not isinstance(value, numbers.Integral) or value <= 0):
        raise ParameterError(f"{name}={value!r} must be a positive integer")
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name}={value!r} must be a finite number > 0")
    return value


def _valid_audio(y, what: str = "y", dtype=np.float32, *, finite: bool = True) -> np.ndarray:
    """Return ``y`` as a 1-D float array (float32 by default), or raise: not an array, not mono,
    empty, NaN/inf (``finite=False``: the caller checks that itself)."""
    if not isinstance(y, np.ndarray):
        raise ParameterError(f"{what} must be a numpy array, got {type(y).__name__}")
    if y.dtype == bool or not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)):
        raise ParameterError(f"{what} must hold real numbers, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ParameterError(f"{what} must be mono, shape (n,); got shape {y.shape} (load with mono=True)")
    if y.size == 0:
        raise AudioError(f"{what} is empty: no samples")
    y = np.asarray(y, dtype=dtype)
    if finite and not np.isfinite(y).all():
        bad = int(np.flatnonzero(~np.isfinite(y))[0])
        raise AudioError(f"{what} holds a non-finite sample ({y[bad]} at index {bad})")
    return y


def _check_norm(norm):
    if norm is None or norm == "slaney":
        return norm
    if (
        isinstance(norm, bool)
        or not isinstance(norm, numbers.Real)
        or math.isnan(norm)
        or (norm < 0 and norm != -np.inf)
    ):
        raise ParameterError(f"norm={norm!r} must be None, 'slaney' or a p-norm order (number >= 0, or +-inf)")
    return float(norm)


def _check_bank_params(kind, sr, frame_duration, fmax, n_mels, htk, norm) -> tuple[int, int]:
    """Validate the bank parameters; return ``(n_fft, n_bins)``."""
    if kind not in FILTERBANKS:
        raise ParameterError(f"unknown filter bank {kind!r}; choose one of {FILTERBANKS}")
    _positive("sr", sr)
    _positive("frame_duration", frame_duration)
    _positive("fmax", fmax)
    _positive("n_mels", n_mels, integer=True)
    if not isinstance(htk, (bool, np.bool_)):
        raise ParameterError(f"htk={htk!r} must be True or False")
    _check_norm(norm)
    n_fft = frame_length(sr, frame_duration)
    n_bins = n_dft_bins(fmax, frame_duration)
    if fmax > sr / 2 or n_bins > n_fft // 2 + 1:
        raise ParameterError(f"fmax={fmax} Hz is above the Nyquist frequency sr/2 = {sr / 2} Hz")
    if kind != "librosa" and (not htk or norm is not None):
        raise ParameterError(
            f"the {kind!r} bank is the thesis' (HTK mel, unnormalised triangles): "
            f"htk must be True and norm None, got htk={htk}, norm={norm!r}"
        )
    return n_fft, n_bins


# --------------------------------------------------------------------------------------------
# mel scale
# --------------------------------------------------------------------------------------------
def hz_to_mel(frequencies, *, htk: bool = True):
    """Convert Hz to mel.

    Parameters
    ----------
    frequencies : number or np.ndarray, Hz >= 0
    htk : bool
        True (default): the thesis' formula (3.3, eq. 24), ``1127.01048 * ln(1 + f / 700)``,
        the HTK mel.  librosa writes it ``2595 * log10(1 + f / 700)``, whose constant
        ``2595 / ln 10 = 1126.994`` is 1.45e-5 smaller (HTK's two rounded constants); the scale
        cancels in filter banks (edges equally spaced in mel), so the banks agree exactly.
        False: Slaney's Auditory Toolbox mel (linear below 1 kHz, logarithmic above), as
        ``librosa.hz_to_mel(htk=False)``.

    Returns
    -------
    mels : float or np.ndarray (same shape as ``frequencies``)

    Examples
    --------
    >>> round(hz_to_mel(1000.0), 3)
    1000.0
    >>> round(float(hz_to_mel(1000.0, htk=False)), 3)
    15.0
    """
    f = np.asarray(frequencies, dtype=np.float64)
    if htk:
        out = _HTK_FACTOR * np.log1p(f / _HTK_BREAK)
    else:
        f_sp, min_log_hz = 200.0 / 3, 1000.0
        logstep = np.log(6.4) / 27.0
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(f / min_log_hz) / logstep, f / f_sp)
    return float(out) if out.ndim == 0 else out


def mel_to_hz(mels, *, htk: bool = True):
    """Convert mel to Hz: the inverse of :func:`hz_to_mel`.

    Parameters
    ----------
    mels : number or np.ndarray
    htk : bool
        True: ``700 * (exp(m / 1127.01048) - 1)`` (the thesis' ``melToF``); False: Slaney.

    Returns
    -------
    frequencies : float or np.ndarray, Hz
    """
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        out = _HTK_BREAK * np.expm1(m / _HTK_FACTOR)
    else:
        f_sp, min_log_hz = 200.0 / 3, 1000.0
        min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
        out = np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)
    return float(out) if out.ndim == 0 else out


def frame_length(sr: float, frame_duration: float = FRAME_DURATION) -> int:
    """Samples per frame, truncated like the C++ ``(size_t)(frameDuration * sampleFrequency)``.

    >>> frame_length(44100), frame_length(22050)
    (5512, 2756)
    """
    return int(_positive("sr", sr) * _positive("frame_duration", frame_duration))


def n_dft_bins(fmax: float = FMAX, frame_duration: float = FRAME_DURATION) -> int:
    """DFT bins kept, ``(size_t)(highFrequency * frameDuration)``: bins ``0 .. n - 1``.

    >>> n_dft_bins()
    1378
    """
    return int(_positive("fmax", fmax) * _positive("frame_duration", frame_duration))


# --------------------------------------------------------------------------------------------
# filter banks
# --------------------------------------------------------------------------------------------
def _thesis_weights(n_mels: int, n_bins: int, T: float, *, full: bool) -> np.ndarray:
    """``FDT::getWindowCf``, vectorised.  (n_mels, n_bins) float64.

    For bin i (frequency i / T), m = mel(i / T), ``wI = (size_t)((m - ml) * 2 / mw)``; the bin
    feeds window wI and wI - 1 (each only if 0 <= index < n_mels) with weight
    ``1 - |2 * pos / mw - 1|``, ``pos = m - (ml + j * mw / 2)``.  The C++ code uses
    ``mw = (mh - ml) / n_mels``; ``full=True`` uses ``mw = 2 (mh - ml) / (n_mels + 1)``, the
    width at which triangles spaced mw/2 apart end exactly at ``mh``.
    """
    ml = hz_to_mel(0.0 / T)
    mh = hz_to_mel((n_bins - 1.0) / T)
    mw = (mh - ml) / n_mels if not full else 2.0 * (mh - ml) / (n_mels + 1)
    i = np.arange(n_bins)
    m = hz_to_mel(i / T)
    w_index = np.floor((m - ml) * 2.0 / mw).astype(np.int64)  # m >= ml: floor == (size_t) cast
    weights = np.zeros((n_mels, n_bins))
    for j in (w_index, w_index - 1):  # a negative j is the C++ size_t wrap-around: skipped
        ok = (j >= 0) & (j < n_mels)
        pos = m[ok] - (ml + j[ok] * mw / 2.0)
        weights[j[ok], i[ok]] = 1.0 - np.abs(2.0 * pos / mw - 1.0)
    return weights


def _librosa_weights(sr, n_fft, n_mels, fmax, htk, norm) -> np.ndarray:
    """librosa's ``filters.mel`` (fmin = 0): triangles linear in Hz between mel-spaced points."""
    fftfreqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0, htk=htk), hz_to_mel(fmax, htk=htk), n_mels + 2), htk=htk)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    elif norm is not None:
        import librosa.util  # lazy: p-norms are rarely used

        weights = librosa.util.normalize(weights, norm=norm, axis=-1)
    if not np.all((mel_f[:-2] == 0) | (weights.max(axis=1) > 0)):
        warnings.warn(
            f"Empty filters in the mel basis (sr={sr}, n_fft={n_fft}, n_mels={n_mels}, fmax={fmax}): "
            "some bands will always be 0; lower n_mels or raise frame_duration",
            stacklevel=3,
        )
    return weights


def _bank(kind, sr, frame_duration, fmax, n_mels, htk, norm):
    """Validate, then the cached bank (float64, read-only), its non-zero columns ``[lo, hi)``
    and that slice transposed as contiguous float32."""
    _check_bank_params(kind, sr, frame_duration, fmax, n_mels, htk, norm)
    return _bank_cached(kind, sr, frame_duration, fmax, n_mels, bool(htk), _check_norm(norm))


@functools.lru_cache(maxsize=32)
def _bank_cached(kind, sr, frame_duration, fmax, n_mels, htk, norm):
    n_fft, n_bins = frame_length(sr, frame_duration), n_dft_bins(fmax, frame_duration)
    weights = np.zeros((n_mels, n_fft // 2 + 1))
    if kind == "librosa":
        weights[:] = _librosa_weights(sr, n_fft, n_mels, fmax, htk, norm)
    else:
        weights[:, :n_bins] = _thesis_weights(n_mels, n_bins, frame_duration, full=kind == "thesis-full")
    cols = np.flatnonzero(weights.any(axis=0))
    lo, hi = (int(cols[0]), int(cols[-1]) + 1) if cols.size else (0, 1)
    # the restricted bank, transposed for `magnitudes @ bank` (contiguous float32 for sgemm)
    restricted = np.ascontiguousarray(weights[:, lo:hi].T, dtype=np.float32)
    weights.setflags(write=False)
    restricted.setflags(write=False)
    return weights, lo, hi, restricted


def mel_filterbank(
    kind: str = "thesis",
    *,
    sr: float = SAMPLE_RATE,
    frame_duration: float = FRAME_DURATION,
    fmax: float = FMAX,
    n_mels: int = N_MELS,
    htk: bool = True,
    norm: str | float | None = None,
    dtype=np.float32,
) -> np.ndarray:
    """A mel filter bank over the DFT bins of one frame.

    Parameters
    ----------
    kind : {"thesis", "thesis-full", "librosa"}
        ``"thesis"``: bug-compatible with the C++ ``FDT::getWindowCf`` (3.3): triangles linear in
        mel, window j starting at ``j * mw / 2``, peaking at ``(j + 1) * mw / 2``, ending at
        ``j * mw / 2 + mw`` (mel), with ``mw = (mel(fmax') - mel(0)) / n_mels`` and
        ``fmax' = (n_bins - 1) / frame_duration`` (11016 Hz); only windows with index < n_mels
        are kept, so the bank covers bins 1..274 (8 Hz .. 2.19 kHz) at the defaults, not 0 .. 11 kHz.
        Bin k is taken to be ``k / frame_duration`` Hz (the C++ assumption; exactly
        ``k * sr / n_fft``, 8.0007 k Hz at 44.1 kHz).
        ``"thesis-full"``: the same triangles, with ``mw = 2 (mel(fmax') - mel(0)) / (n_mels + 1)``
        so that they tile the whole 0 .. fmax' range, as the thesis' text intended.
        ``"librosa"``: ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=0,
        fmax=fmax, htk=htk, norm=norm)`` (triangles linear in Hz between mel-spaced edges).
    sr : number > 0
        Sample rate in Hz.
    frame_duration : number > 0
        Seconds per frame; ``n_fft = int(sr * frame_duration)``.
    fmax : number > 0, <= sr / 2
        Upper frequency in Hz; the thesis banks use DFT bins ``0 .. int(fmax * frame_duration) - 1``.
    n_mels : int > 0
    htk : bool
        Mel formula of the ``"librosa"`` bank (True: HTK = the thesis' formula; False: Slaney).
        The thesis banks are HTK by definition: ``htk=False`` raises ParameterError.
    norm : None, "slaney" or number
        Band normalisation of the ``"librosa"`` bank, as in librosa (None: peak 1; "slaney":
        constant area; a number: that p-norm).  The thesis banks are unnormalised: must be None.
    dtype : numpy dtype
        Of the returned matrix (float32 like librosa by default).

    Returns
    -------
    weights : np.ndarray [shape=(n_mels, 1 + n_fft // 2)]
        ``weights @ |rfft(frame)|`` is the frame's mel spectrum.

    Raises
    ------
    ParameterError
        Unknown ``kind``, non-positive sr / frame_duration / fmax / n_mels, ``fmax > sr / 2``,
        an invalid ``norm``, or htk/norm options on a thesis bank.

    Warns
    -----
    UserWarning
        Empty bands in a ``"librosa"`` bank (too many mels for the frame length), like librosa.

    Examples
    --------
    >>> W = mel_filterbank("thesis")
    >>> W.shape
    (128, 2757)
    >>> cols = np.flatnonzero(W.any(axis=0)); int(cols[0]), int(cols[-1])
    (1, 274)
    """
    weights = _bank(kind, sr, frame_duration, fmax, n_mels, htk, norm)[0]
    return weights.astype(dtype, copy=True)


# --------------------------------------------------------------------------------------------
# the arithmetic of 3.2-3.3, and what a bank covers
# --------------------------------------------------------------------------------------------
def data_rates(
    *,
    sr: int = SAMPLE_RATE,
    bits_per_sample: int = 16,
    frame_duration: float = FRAME_DURATION,
    fmax: float = FMAX,
    n_mels: int = N_MELS,
    value_bytes: int = np.dtype(np.float32).itemsize,
) -> dict[str, float]:
    """Bytes per second of mono audio at each stage of the pipeline (thesis 3.2-3.3).

    The thesis' argument for the mel step: 16-bit 44.1 kHz PCM is 88200 B/s; the kept DFT
    magnitudes (1378 float values, 8 frames a second) 44096 B/s; the mel bands (128 floats,
    8 frames a second) 4096 B/s.

    Returns
    -------
    rates : dict
        ``pcm`` (sr * bits / 8), ``dft`` (n_bins * value_bytes / frame_duration), ``mel``
        (n_mels * value_bytes / frame_duration), all in B/s, plus ``frames_per_s``, ``n_bins``.

    >>> {k: data_rates()[k] for k in ("pcm", "dft", "mel")}
    {'pcm': 88200.0, 'dft': 44096.0, 'mel': 4096.0}
    """
    _positive("sr", sr)
    _positive("bits_per_sample", bits_per_sample, integer=True)
    _positive("n_mels", n_mels, integer=True)
    _positive("value_bytes", value_bytes, integer=True)
    frames_per_s = 1.0 / _positive("frame_duration", frame_duration)
    n_bins = n_dft_bins(fmax, frame_duration)
    return {
        "pcm": sr * bits_per_sample / 8.0,
        "dft": n_bins * value_bytes * frames_per_s,
        "mel": n_mels * value_bytes * frames_per_s,
        "frames_per_s": frames_per_s,
        "n_bins": n_bins,
    }


def bank_edges_hz(kind: str = "thesis", **kwargs) -> tuple[float, float]:
    """Frequencies in Hz of the lowest and highest DFT bin a bank gives non-zero weight.

    Bins are at ``k / frame_duration`` Hz for the thesis banks (the C++ assumption) and at
    ``k * sr / n_fft`` for librosa's.  ``kwargs`` as :func:`mel_filterbank`.

    >>> bank_edges_hz("thesis")
    (8.0, 2192.0)
    """
    sr = kwargs.get("sr", SAMPLE_RATE)
    frame_duration = kwargs.get("frame_duration", FRAME_DURATION)
    W = mel_filterbank(kind, **kwargs)
    cols = np.flatnonzero(W.any(axis=0))
    step = 1.0 / frame_duration if kind != "librosa" else sr / frame_length(sr, frame_duration)
    return float(cols[0] * step), float(cols[-1] * step)
