"""DFT and mel spectrograms, as the thesis computes them and as they should be (thesis 3.2-3.4).

The thesis' C++ class ``FDT`` (appendix, ``FFT.cpp``) turns 8 s of 44.1 kHz audio into a
64 x 128 matrix (time x mel):

1. **Framing** (3.2): frames of ``int(sr * 0.125)`` samples (5512 at 44.1 kHz), consecutive,
   non-overlapping, rectangular (no window), a partial last frame dropped.
2. **DFT** (3.2): the magnitude ``|X[k]|`` of bins ``k = 0 .. int(fmax * 0.125) - 1``
   (1378 bins, 0 .. 11016 Hz at ``fmax = 11024``).
3. **Mel filter bank** (3.3, Figure 3.1): 128 triangles, linear in mel
   (``mel(f) = 1127.01048 ln(1 + f/700)``), applied to the magnitudes.
   *Finding:* the triangles are spaced half as far apart as the code meant, so they cover only
   bins 1..274 (8 Hz .. 2.2 kHz), not 0 .. 11 kHz.  :func:`mel_filterbank` offers this
   bug-compatible bank (``"thesis"``), the same triangles spread over the whole range
   (``"thesis-full"``) and librosa's bank (``"librosa"``).
4. **Normalisation** (3.4): ``x / (max / 2) - 1`` over the fragment, into [-1, 1]
   (:func:`normalize` ``"thesis"``); a log-compressed alternative (``"log"``) for the corrected
   pipeline.

:func:`thesis_fragment` is the literal, one-fragment transcription of ``getMelSpectrogram``;
:func:`fragments` computes many fragments at once (one batched real FFT, one matrix product with
the bank restricted to its non-zero bins) and gives the same numbers.  :class:`SpectrogramConfig`
names a whole pipeline (bank + normalisation + sizes); ``CONFIGS`` holds the two presets.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import numbers
import os
import threading
import warnings
from collections.abc import Sequence

import numpy as np
import scipy.fft

from .audio import THESIS_SAMPLE_RATE
from .cache import digest
from .errors import AudioError, ParameterError, SilentAudioError

__all__ = [
    "FRAGMENT_FRAMES", "N_MELS", "FRAME_DURATION", "FMAX", "SAMPLE_RATE", "FRAGMENT_DURATION",
    "FILTERBANKS", "NORMALIZATIONS", "LOG_FLOOR_DB",
    "hz_to_mel", "mel_to_hz", "frame_length", "n_dft_bins", "mel_filterbank",
    "magnitude_frames", "mel_spectrogram", "normalize", "thesis_fragment", "fragments",
    "fragment_spans", "fragments_of_segments",
    "SpectrogramConfig", "CONFIGS", "get_config", "consecutive_offsets", "random_offsets",
    "data_rates", "bank_edges_hz", "one_blas_thread", "fft_library",
]

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
    if isinstance(norm, bool) or not isinstance(norm, numbers.Real) or math.isnan(norm) or (norm < 0 and norm != -np.inf):
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
            f"htk must be True and norm None, got htk={htk}, norm={norm!r}")
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
        warnings.warn(f"Empty filters in the mel basis (sr={sr}, n_fft={n_fft}, n_mels={n_mels}, fmax={fmax}): "
                      "some bands will always be 0; lower n_mels or raise frame_duration", stacklevel=3)
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
# framing, DFT, mel
# --------------------------------------------------------------------------------------------
def _frames(y: np.ndarray, n_fft: int) -> np.ndarray:
    """Consecutive non-overlapping frames of ``n_fft`` samples, the partial last one dropped (a view)."""
    n_frames = y.size // n_fft
    if n_frames == 0:
        raise AudioError(f"{y.size} samples are fewer than one frame of {n_fft}")
    return y[: n_frames * n_fft].reshape(n_frames, n_fft)


def _check_workers(workers) -> int | None:
    """``None``, or the FFT thread count: a positive int, or -1 for every core this process may use."""
    if workers is None:
        return None
    if isinstance(workers, (bool, np.bool_)) or not isinstance(workers, numbers.Integral) \
            or (workers < 1 and workers != -1):
        raise ParameterError(f"workers={workers!r} must be None, a positive integer or -1 (all cores)")
    if workers == -1:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1
    return int(workers)


_BLAS_LOCK = threading.Lock()
_BLAS_HOLD: dict = {"depth": 0, "previous": None}


def _reset_blas_hold() -> None:  # a forked child starts with no holder (the lock may have been held)
    global _BLAS_LOCK
    _BLAS_LOCK = threading.Lock()
    _BLAS_HOLD.update(depth=0, previous=None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_blas_hold)


@contextlib.contextmanager
def one_blas_thread():
    """A context in which numpy's BLAS runs on one thread: the same sums in any process and any
    thread (a worker of :func:`melrec_lib.parallel.parallel_map` has one BLAS thread), and no
    second OpenBLAS thread spinning on a busy core.

    The thread count is BLAS', process-wide: threads that use this context concurrently (a Dask
    worker's threads, each making a file's fragments) share one hold, set by the first to enter
    and lifted by the last to leave, so no thread's product runs on restored BLAS threads while
    another's limit ends.  OpenBLAS is set with ``openblas_set_num_threads_local``: its
    ``openblas_set_num_threads`` (threadpoolctl's) is ignored when called from a thread other
    than the one that started its thread pool, which left such a thread's products on two
    threads (other last bits than a worker process')."""
    with _BLAS_LOCK:
        # every thread sets it (the call is documented as per-thread in some OpenBLAS builds and
        # acts process-wide in this one); the first one's previous counts are restored
        previous = [set_threads(1) for set_threads in _blas_setters()]
        if _BLAS_HOLD["depth"] == 0:
            _BLAS_HOLD["previous"] = previous
        _BLAS_HOLD["depth"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_HOLD["depth"] -= 1
            if _BLAS_HOLD["depth"] == 0:
                for set_threads, n in zip(_blas_setters(), _BLAS_HOLD["previous"]):
                    set_threads(n)
                _BLAS_HOLD["previous"] = None


@functools.lru_cache(maxsize=1)
def _blas_setters() -> tuple:
    """For each BLAS library numpy uses, a function ``n -> previous thread count`` that takes
    effect from any thread."""
    import ctypes

    setters = []
    for lib in _blas_controller().lib_controllers:
        local = getattr(getattr(lib, "dynlib", None), "openblas_set_num_threads_local", None) \
            if lib.internal_api == "openblas" else None
        if local is not None:
            local.restype, local.argtypes = ctypes.c_int, [ctypes.c_int]
            setters.append(local)
        else:
            def set_threads(n, lib=lib):
                previous = lib.get_num_threads()
                lib.set_num_threads(n)
                return previous

            setters.append(set_threads)
    return tuple(setters)


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """The BLAS libraries numpy uses, found once (a fresh ``threadpool_limits`` scans every
    loaded library on each call; limiting a cached controller is cheap)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


@functools.lru_cache(maxsize=None)
def _helpers(pid: int, n: int):
    """``n`` helper threads of this process (a forked child gets its own: ``pid`` is in the key)."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=n, thread_name_prefix="melrec-dft")


def _on_threads(task, n_tasks: int, workers: int) -> None:
    """``task(i)`` for ``i in range(n_tasks)`` on ``workers`` threads, this one included; each
    thread takes the next undone index (numpy, pocketfft and BLAS release the GIL).  Every thread
    has finished before this returns; the first exception is then raised."""
    n_threads = min(workers, n_tasks)
    if n_threads <= 1:
        for i in range(n_tasks):
            task(i)
        return
    import itertools
    from concurrent.futures import wait

    queue = itertools.count()  # next() is atomic under the GIL

    def drain():
        for i in queue:
            if i >= n_tasks:
                return
            task(i)

    pool = _helpers(os.getpid(), n_threads - 1)
    helpers = [pool.submit(drain) for _ in range(n_threads - 1)]
    try:
        drain()
    finally:
        wait(helpers)
    for f in helpers:
        f.result()


BAND_GROUP = 8
"""Mel bands per product in the threaded path: a group of neighbouring triangles overlaps only
the DFT bins it covers, so the groups' products skip nearly all of the bank's zeros."""


@functools.lru_cache(maxsize=32)
def _band_groups(*bank_key) -> tuple:
    """The bank cut into groups of :data:`BAND_GROUP` bands: ``(b0, b1, k0, k1, weights)`` with
    bands ``[b0, b1)``, their non-zero bins ``[k0, k1)`` (relative to the restricted bank's first
    column) and those weights (contiguous float32, ``(k1 - k0, b1 - b0)``); groups without a
    non-zero weight are left out (their bands stay 0)."""
    _, _, _, restricted = _bank(*bank_key)
    groups = []
    for b0 in range(0, restricted.shape[1], BAND_GROUP):
        b1 = min(b0 + BAND_GROUP, restricted.shape[1])
        rows = np.flatnonzero(restricted[:, b0:b1].any(axis=1))
        if rows.size:
            k0, k1 = int(rows[0]), int(rows[-1]) + 1
            weights = np.ascontiguousarray(restricted[k0:k1, b0:b1])
            weights.setflags(write=False)
            groups.append((b0, b1, k0, k1, weights))
    return tuple(groups)


_TASK_ROWS = 32
"""Rows per task of the threaded DFT: each piece of frames is cut into tasks of this many rows
(its last one shorter), the same cut for any thread count, so every row is transformed in the
same company (ducc0 vectorises groups of rows) and the bits do not depend on the count; a task
is a fraction of a millisecond, so the threads finish within that of each other."""


@functools.lru_cache(maxsize=1)
def _fast_r2c():
    """``ducc0.fft.r2c`` (the successor of scipy's pocketfft by its author), or None when ducc0
    is not installed (the optional ``fast`` extra; the threaded paths then use scipy)."""
    try:
        import ducc0
    except ImportError:
        return None
    return ducc0.fft.r2c


def fft_library(fast: bool = True) -> str:
    """The FFT library of the threaded mel spectrogram (``fast=True``: ``mel_spectrogram`` with
    an int ``workers``) or of every other path (``fast=False``), with its version."""
    if fast and _fast_r2c() is not None:
        import ducc0

        return f"ducc0 {ducc0.__version__}"
    return f"scipy {scipy.__version__} (pocketfft)"


def _magnitudes_into(out: np.ndarray, pieces: Sequence[np.ndarray], lo: int, hi: int,
                     workers: int | None, *, check_finite: bool = False, fast: bool = False) -> bool:
    """Write ``|rfft(rows)[:, lo:hi]|`` of the rows of ``pieces`` (2-D frame arrays, stacked in
    order) into ``out``; return False when ``check_finite`` and a row holds NaN/inf.

    ``workers=None``: this thread, each piece's rfft on scipy's FFT thread count.  An int:
    that many threads take the tasks of :data:`_TASK_ROWS` rows from a queue (DFT, magnitudes
    and the finiteness check of a task in the same thread, while its rows are in that core's
    cache), each task's FFT on one thread: scipy's pocketfft, which transforms each row alike
    (the bits of ``workers=None`` for any cut), or with ``fast`` ducc0's when installed
    (:func:`fft_library`; equal to pocketfft within float32 rounding, and the same bits for any
    thread count because the cut is fixed).
    """
    starts = np.concatenate([[0], np.cumsum([p.shape[0] for p in pieces])]).astype(int)
    if workers is None:
        tasks = [(piece, 0, piece.shape[0], int(at)) for piece, at in zip(pieces, starts)]
    else:
        tasks = [(piece, a, min(a + _TASK_ROWS, piece.shape[0]), int(at) + a)
                 for piece, at in zip(pieces, starts) for a in range(0, piece.shape[0], _TASK_ROWS)]
    r2c = _fast_r2c() if fast and workers is not None else None
    finite = [True] * len(tasks)

    def task(t):
        piece, a, b, at = tasks[t]
        rows = piece[a:b]
        if check_finite and not np.isfinite(rows).all():
            finite[t] = False
            return
        if r2c is not None:
            spectrum = r2c(rows, axes=(1,))
        else:
            spectrum = scipy.fft.rfft(rows, axis=-1, workers=None if workers is None else 1)
        np.abs(spectrum[:, lo:hi], out=out[at:at + b - a])

    _on_threads(task, len(tasks), workers or 1)
    return all(finite)


def _mel_of_frames(frames: np.ndarray, bank_key: tuple, workers: int | None, *, fast: bool = True) -> np.ndarray:
    """(n, n_fft) float32 frames -> (n, n_mels) float32.

    ``workers=None``: one rfft (scipy's FFT thread count), one restricted matmul on BLAS as
    configured (the historical path).  An int: that many threads share the rows for the DFT
    (ducc0's with ``fast`` when installed, see :func:`_magnitudes_into`), the magnitudes and
    the finiteness check (the caller skipped it), then the mel product band group by band
    group (:func:`_band_groups`), each group's product over all rows on one BLAS thread (a
    small part of the dense product's work: each bin meets at most two triangles; the same
    numbers but for the summation order, and the same bits for every thread count: no product
    depends on how the rows were shared).  The product is small next to the DFT and stays in
    this thread, on one BLAS thread because a threaded OpenBLAS' helper threads busy-wait for
    a while after each call, holding the core the next FFT thread needs.
    """
    _, lo, hi, restricted = _bank(*bank_key)
    if workers is None:
        spectrum = scipy.fft.rfft(frames, axis=-1)
        return np.abs(spectrum[:, lo:hi]) @ restricted
    groups = _band_groups(*bank_key)
    magnitudes = np.empty((frames.shape[0], hi - lo), dtype=np.float32)
    if not _magnitudes_into(magnitudes, [frames], lo, hi, workers, check_finite=True, fast=fast):
        _valid_audio(frames.ravel())  # raises, naming the first non-finite sample
    out = np.zeros((frames.shape[0], restricted.shape[1]), dtype=np.float32)
    with one_blas_thread():  # small next to the DFT: not worth a thread hand-off
        for b0, b1, k0, k1, weights in groups:
            np.matmul(magnitudes[:, k0:k1], weights, out=out[:, b0:b1])
    return out


def magnitude_frames(
    y: np.ndarray,
    sr: float,
    *,
    frame_duration: float = FRAME_DURATION,
    fmax: float = FMAX,
    workers: int | None = None,
) -> np.ndarray:
    """The DFT magnitudes of consecutive rectangular frames, as ``FDT::ftd`` computes them (3.2).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], real, finite
        Mono samples (any scale: the thesis feeds raw int16 values).
    sr : number > 0
        Sample rate in Hz.
    frame_duration : number > 0
        Frame length ``n_fft = int(sr * frame_duration)`` samples (5512 at 44.1 kHz).
    fmax : number > 0
        Bins ``0 .. int(fmax * frame_duration) - 1`` are kept (1378 at the defaults).
    workers : int, optional
        Threads for ``scipy.fft.rfft``: None (default) takes scipy's default, one thread or
        the ``scipy.fft.set_workers`` context; a positive int, or -1 for every core this
        process may use.  The batch is split over the threads by whole rows, so the result is
        the same bit for bit for any count.

    Returns
    -------
    S : np.ndarray [shape=(n_frames, n_bins), dtype=float32]
        ``|X[k]|`` (unscaled DFT), ``n_frames = len(y) // n_fft``; bin k is ``k * sr / n_fft`` Hz.
        Equals ``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=n_fft, window="boxcar",
        center=False))[:n_bins].T``.

    Raises
    ------
    ParameterError, AudioError
        Bad parameters (``workers`` included); empty / non-finite / multi-channel samples,
        fewer than one frame.
    """
    workers = _check_workers(workers)
    y = _valid_audio(y)
    n_fft = frame_length(sr, frame_duration)
    n_bins = n_dft_bins(fmax, frame_duration)
    if n_bins > n_fft // 2 + 1:
        raise ParameterError(f"fmax={fmax} Hz is above the Nyquist frequency sr/2 = {sr / 2} Hz")
    spectrum = scipy.fft.rfft(_frames(y, n_fft), axis=-1, workers=workers)
    return np.abs(spectrum[:, :n_bins])


def mel_spectrogram(
    y: np.ndarray,
    sr: float,
    *,
    filterbank: str = "librosa",
    frame_duration: float = FRAME_DURATION,
    fmax: float = FMAX,
    n_mels: int = N_MELS,
    htk: bool = True,
    norm: str | float | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """The (un-normalised) mel spectrogram of a whole signal, frame by frame.

    All frames go through one batched real FFT (``scipy.fft.rfft``) and one matrix product with
    the bank restricted to its non-zero bins (1378 of 2757 for librosa's, 274 for the thesis').
    Computed in single precision, like librosa on float32 audio.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], real, finite
    sr : number > 0
    filterbank : {"librosa", "thesis", "thesis-full"}
        See :func:`mel_filterbank`.
    frame_duration, fmax, n_mels, htk, norm
        See :func:`mel_filterbank`.
    workers : int, optional
        None (default): the FFT on scipy's default thread count (one, or the
        ``scipy.fft.set_workers`` context) and the mel product on BLAS as configured.
        A positive int, or -1 for every core this process may use: that many threads share
        the frames' DFT (ducc0's FFT when the optional ``ducc0`` is installed, else scipy's;
        :func:`fft_library` says which) and magnitudes, and the mel product runs band group by
        band group on one BLAS thread (README, Speed, measures it against ``workers=None`` and
        librosa).  The result is the same bit for bit for any count and differs from
        ``workers=None``'s only by float32 rounding (the FFT library, the product's summation
        order).  Give the cores to
        ``workers`` when the caller has them to spare (not inside a pool of worker processes
        that already fills them).

    Returns
    -------
    M : np.ndarray [shape=(n_frames, n_mels), dtype=float32]
        Time x mel, ``n_frames = len(y) // int(sr * frame_duration)``.  With the defaults,
        ``librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n, hop_length=n, window="boxcar",
        center=False, power=1.0, n_mels=128, fmin=0.0, fmax=11024.0, htk=True, norm=None).T``
        with ``n = int(sr * 0.125)`` (equal within rtol 1e-4).

    Raises
    ------
    ParameterError, AudioError
        As :func:`mel_filterbank`, or a bad ``workers``; empty / non-finite / multi-channel
        samples, fewer than one frame.

    Examples
    --------
    >>> y = np.random.default_rng(0).standard_normal(44100 * 2).astype(np.float32)
    >>> mel_spectrogram(y, 44100).shape
    (16, 128)
    """
    key = (filterbank, sr, frame_duration, fmax, n_mels, htk, norm)
    _bank(*key)  # validate the parameters before touching the samples
    workers = _check_workers(workers)
    if workers is None:
        return _mel_of_frames(_frames(_valid_audio(y), frame_length(sr, frame_duration)), key, None)
    y = _valid_audio(y, finite=False)  # each thread checks the frames it takes
    n_fft = frame_length(sr, frame_duration)
    frames = _frames(y, n_fft)
    if not np.isfinite(y[frames.size:]).all():  # the dropped partial frame
        _valid_audio(y)
    return _mel_of_frames(frames, key, workers)


# --------------------------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------------------------
def normalize(S: np.ndarray, method: str = "thesis") -> np.ndarray:
    """Map a (non-negative) mel spectrogram fragment into [-1, 1].

    Parameters
    ----------
    S : np.ndarray [shape=(frames, n_mels) or (k, frames, n_mels)], finite, >= 0
        One fragment, or a batch of k fragments normalised each on its own.
    method : {"thesis", "log"}
        ``"thesis"`` (3.4): ``S / (max / 2) - 1`` with ``max`` over the fragment: the maximum maps
        to exactly 1 and zero to -1.  The C++ comment says "by logarithm", but it is linear.

        ``"log"`` (the corrected pipeline): decibels relative to the fragment's maximum,
        ``db = 20 log10(max(S, max * 10**-4) / max)`` in [-80, 0], mapped affinely to
        ``db / 40 + 1`` in [-1, 1].  Why: magnitudes of music span several orders of magnitude,
        so under the linear map nearly every cell sits just above -1 and only a few peaks carry
        contrast; loudness perception is roughly logarithmic.  Relative to the fragment max keeps
        the thesis' invariance to gain (a quiet recording of the same music gives the same
        input); the 80 dB floor (``LOG_FLOOR_DB``, librosa's ``top_db`` default; 16-bit audio
        has 96 dB) discards numerical dust; the [-1, 1] range keeps the network's input scale.

    Returns
    -------
    X : np.ndarray [same shape as S, dtype=float32], in [-1, 1], max exactly 1 per fragment

    Raises
    ------
    SilentAudioError
        A fragment is all zeros (the C++ code divides by zero there; we never return NaN).
    ParameterError
        Unknown method, wrong dimensions, negative or non-finite values.

    Examples
    --------
    >>> normalize(np.array([[0.0, 1.0], [2.0, 4.0]]))
    array([[-1. , -0.5],
           [ 0. ,  1. ]], dtype=float32)
    """
    if method not in NORMALIZATIONS:
        raise ParameterError(f"unknown normalisation {method!r}; choose one of {NORMALIZATIONS}")
    S = np.asarray(S)
    if S.ndim not in (2, 3) or S.size == 0 or not np.issubdtype(S.dtype, np.number):
        raise ParameterError(f"S must be a non-empty (frames, n_mels) or (k, frames, n_mels) array, got shape {S.shape}")
    if not np.isfinite(S).all():
        raise ParameterError("S holds non-finite values")
    if (S < 0).any():
        raise ParameterError(f"S holds negative values (min {S.min()}): expected magnitudes")
    batch = S if S.ndim == 3 else S[None]
    peak = batch.max(axis=(1, 2), keepdims=True)
    if (peak <= 0).any():
        which = int(np.flatnonzero(peak.ravel() <= 0)[0])
        raise SilentAudioError(
            "silent fragment: every mel value is 0, nothing to normalise"
            + (f" (fragment {which} of the batch)" if S.ndim == 3 else ""))
    batch = batch.astype(np.float32, copy=False)
    peak = peak.astype(np.float32)
    if method == "thesis":
        out = batch / (peak / np.float32(2.0)) - np.float32(1.0)
    else:
        floor = np.float32(10.0 ** (-LOG_FLOOR_DB / 20.0))
        db = np.float32(20.0) * np.log10(np.maximum(batch / peak, floor))
        out = np.clip(db / np.float32(LOG_FLOOR_DB / 2.0) + np.float32(1.0), -1.0, 1.0)
    out = out.astype(np.float32, copy=False)
    return out if S.ndim == 3 else out[0]


# --------------------------------------------------------------------------------------------
# fragments
# --------------------------------------------------------------------------------------------
def _start_sample(offset, sr: float, n_samples: int, where: str = "") -> int:
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or not math.isfinite(offset) or offset < 0:
        raise ParameterError(f"offset={offset!r}{where} must be a finite number of seconds >= 0")
    start = int(round(offset * sr))
    if start >= n_samples:
        raise ParameterError(
            f"offset={offset} s{where} is beyond the end of the {n_samples / sr:.3f} s signal")
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
        raise AudioError(f"only {y.size - beg} samples after offset={offset} s: fewer than one "
                         f"frame of {frame_size}")
    frames = y[beg: beg + frame_num * frame_size].reshape(frame_num, frame_size)
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
    """Many 64 x n_mels fragments of one track at once.

    Fragment i starts at sample ``round(offsets_s[i] * sr)`` exactly as :func:`thesis_fragment`
    does (not a slice of a whole-track spectrogram: 1 s is 44100 samples, not 8 frames of
    5512).  The frames of all fragments go through ONE ``scipy.fft.rfft`` call and ONE matrix
    product with the bank restricted to its non-zero bins; each fragment is then normalised on
    its own.  A fragment with fewer than 64 whole frames left tiles them (``padding="tile"``).

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
    X : np.ndarray [shape=(len(offsets_s), 64, config.n_mels), dtype=float32]
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
        return np.zeros((0, FRAGMENT_FRAMES, config.n_mels), dtype=np.float32)
    spans = _spans(offsets, sr, y.size, config)
    return _fragment_batch([y[beg:end] for beg, end in spans], offsets, config, workers)


def fragment_spans(
    offsets_s: Sequence[float],
    sr: float,
    n_samples: int,
    config: "str | SpectrogramConfig" = "thesis",
) -> list[tuple[int, int]]:
    """The samples ``[start, stop)`` each fragment of :func:`fragments` reads from a signal of
    ``n_samples`` samples: from ``round(offset * sr)``, at most 64 whole frames.

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
        n = min(FRAGMENT_FRAMES, (n_samples - beg) // frame_size)
        if n == 0:
            raise AudioError(f"only {n_samples - beg} samples after offset={off} s (fragment {i}): "
                             f"fewer than one frame of {frame_size}")
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
    fragment i's first one on (``fragment_spans``); its first ``min(64, len // n_fft)`` whole
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
        return np.zeros((0, FRAGMENT_FRAMES, config.n_mels), dtype=np.float32)
    frame_size = frame_length(config.sr, config.frame_duration)
    for i, seg in enumerate(segments):
        if seg.size < frame_size:
            raise AudioError(f"segment {i} (offset={offsets[i]} s) holds {seg.size} samples: "
                             f"fewer than one frame of {frame_size}")
    return _fragment_batch(segments, offsets, config, workers)


def _check_rate(sr, config: "SpectrogramConfig") -> None:
    _positive("sr", sr)
    if sr != config.sr:
        raise ParameterError(f"sr={sr} differs from the config's sr={config.sr} ({config.name}); "
                             f"resample first, e.g. audio.load(path, sr={config.sr})")
    _bank(*config._bank_key())


def _check_offsets(offsets_s) -> list:
    arr = None if isinstance(offsets_s, (str, bytes)) else np.asarray(offsets_s)
    if arr is None or arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.number)) \
            or np.issubdtype(arr.dtype, np.complexfloating) or arr.dtype == bool:
        raise ParameterError(f"offsets_s must be a 1-D sequence of seconds, got {offsets_s!r:.80}")
    return arr.tolist()


def _fragment_batch(segments: list, offsets: list, config: "SpectrogramConfig", workers: int | None) -> np.ndarray:
    """Valid float32 segments (at least one frame each) -> normalised (k, 64, n_mels) fragments.

    The fragments' frames are transformed where they lie (:func:`_magnitudes_into`), their
    magnitudes written into one (frames, bins) matrix that ONE product with the restricted bank
    turns into mel bands: the same numbers as one rfft of all frames at once (pocketfft
    transforms each row alike), without copying the frames together first.  ``workers`` an int:
    the rows' FFTs shared by that many threads, the product on one BLAS thread (the bits of
    ``workers=None`` on one BLAS thread, for any count).
    """
    _, lo, hi, restricted = _bank(*config._bank_key())
    frame_size = frame_length(config.sr, config.frame_duration)
    counts = [min(FRAGMENT_FRAMES, seg.size // frame_size) for seg in segments]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
    magnitudes = np.empty((int(sum(counts)), hi - lo), dtype=np.float32)
    pieces = [seg[: n * frame_size].reshape(n, frame_size) for seg, n in zip(segments, counts)]
    _magnitudes_into(magnitudes, pieces, lo, hi, workers)
    if workers is None:
        mel = magnitudes @ restricted
    else:
        with one_blas_thread():
            mel = magnitudes @ restricted
    if all(n == FRAGMENT_FRAMES for n in counts):
        batch = mel.reshape(len(segments), FRAGMENT_FRAMES, config.n_mels)
    else:  # tile the whole frames of short fragments
        rows = starts[:, None] + np.arange(FRAGMENT_FRAMES)[None, :] % np.asarray(counts)[:, None]
        batch = mel[rows]
    try:
        return normalize(batch, config.normalization)
    except SilentAudioError:
        peaks = batch.max(axis=(1, 2))
        which = int(np.flatnonzero(peaks <= 0)[0])
        raise SilentAudioError(f"the fragment at offset={offsets[which]} s (fragment {which}) is silent: "
                               "cannot normalise") from None


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
        fields = {k: (float(v) if isinstance(v, numbers.Real) and not isinstance(v, bool) else v)
                  for k, v in fields.items()}
        blob = json.dumps(fields, sort_keys=True, default=repr)
        return digest(blob, 10)

    @property
    def fragment_shape(self) -> tuple[int, int]:
        """``(64, n_mels)``."""
        return (FRAGMENT_FRAMES, self.n_mels)


CONFIGS: dict[str, SpectrogramConfig] = {
    # the thesis, bug for bug: the 8 Hz .. 2.2 kHz bank and the linear normalisation
    "thesis": SpectrogramConfig(filterbank="thesis", normalization="thesis", name="thesis"),
    # corrected: librosa's bank (HTK mel = the thesis' formula, peak-1 triangles = the thesis'
    # shape) over the whole 0 .. 11024 Hz, and log compression.  Only the two fixes change, the
    # bank is the field's standard (reproducible with librosa alone, tested equal to it).
    "corrected": SpectrogramConfig(filterbank="librosa", normalization="log", htk=True, norm=None,
                                   name="corrected"),
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
            raise ParameterError(f"unknown spectrogram config {name_or_config!r}; choose one of {tuple(CONFIGS)}") from None
    raise ParameterError(f"config must be a name or a SpectrogramConfig, got {type(name_or_config).__name__}")


# --------------------------------------------------------------------------------------------
# the two data-set builders' offsets
# --------------------------------------------------------------------------------------------
def _duration(duration_s) -> float:
    if isinstance(duration_s, bool) or not isinstance(duration_s, numbers.Real) or not math.isfinite(duration_s) or duration_s < 0:
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
        raise ParameterError(f"a {duration_s} s track is too short for random 8 s fragments "
                             f"(the thesis draws rand() % (duration - 8); needs >= 9 s)")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return [int(v) for v in rng.integers(0, span, size=k)]


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
