"""Framing, DFT magnitudes and the mel spectrogram, single- or multi-threaded (thesis 3.2-3.4).

1. **Framing** (3.2): frames of ``int(sr * 0.125)`` samples (5512 at 44.1 kHz), consecutive,
   non-overlapping, rectangular (no window), a partial last frame dropped.
2. **DFT** (3.2): the magnitude ``|X[k]|`` of the bins the bank uses.
3. **Mel** (3.3): the bank of :mod:`~melrec_lib.dsp.filters` applied to the magnitudes.
4. **Normalisation** (3.4): ``x / (max / 2) - 1`` over the fragment, into [-1, 1]
   (:func:`normalize` ``"thesis"``); a log-compressed alternative (``"log"``) for the corrected
   pipeline.

``workers=n`` shares 32-row tasks of DFT and magnitudes among n threads (a fixed cut: the same bits
for any n); the threaded mel spectrogram's FFT is ducc0's when installed (:func:`fft_library`).
"""

from __future__ import annotations

import functools
import numbers
import os
from collections.abc import Sequence

import numpy as np
import scipy.fft

from melrec_lib.dsp.blas import one_blas_thread
from melrec_lib.dsp.filters import (
    FMAX,
    FRAME_DURATION,
    LOG_FLOOR_DB,
    N_MELS,
    NORMALIZATIONS,
    _bank,
    _valid_audio,
    frame_length,
    n_dft_bins,
)
from melrec_lib.errors import AudioError, ParameterError, SilentAudioError


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
    if (
        isinstance(workers, (bool, np.bool_))
        or not isinstance(workers, numbers.Integral)
        or (workers < 1 and workers != -1)
    ):
        raise ParameterError(f"workers={workers!r} must be None, a positive integer or -1 (all cores)")
    if workers == -1:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1
    return int(workers)


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
            weights = np.ascontiguousarray(restricted[k0:k1, b0:b1], dtype=np.float64)
            weights.setflags(write=False)
            groups.append((b0, b1, k0, k1, weights))
    return tuple(groups)


@functools.lru_cache(maxsize=32)
def _bank64(*bank_key) -> np.ndarray:
    """The restricted float32 bank of ``bank_key`` as float64 (the same values, read-only)."""
    bank = _bank(*bank_key)[3].astype(np.float64)
    bank.setflags(write=False)
    return bank


_PRODUCT_ROWS = 4096
"""Rows per float64 piece of :func:`mel_product` (bounds its float64 temporaries to ~45 MB)."""


def mel_product(magnitudes: np.ndarray, bank_key: tuple) -> np.ndarray:
    """``magnitudes @ bank`` (float32 in, float32 out) with the sums taken in float64.

    The one place where two x86-64 machines' mel spectrograms part when the product is float32:
    OpenBLAS picks its sgemm kernel per processor (``DYNAMIC_ARCH``), and the kernels sum in
    different orders (``tools/bits_probe.py`` measures it under several ``OPENBLAS_CORETYPE``
    values).  In float64 each kernel's sum differs from the exact one by far less than half a
    float32 ulp, so rounding it once to float32 gives the same bits on every kernel (measured:
    ``tests/test_dsp.py::test_mel_bits_equal_across_openblas_kernels``), and a value closer to
    the exact sum than the float32 product.  The product is small next to the DFT; it costs
    little.

    ``magnitudes``: (n, hi - lo) float32 DFT magnitudes of the bank's non-zero bins;
    ``bank_key``: the bank's ``_bank`` arguments.  Returns (n, n_mels) float32.
    """
    bank = _bank64(*bank_key)
    out = np.empty((magnitudes.shape[0], bank.shape[1]), dtype=np.float32)
    for a in range(0, magnitudes.shape[0], _PRODUCT_ROWS):
        piece = magnitudes[a : a + _PRODUCT_ROWS].astype(np.float64)
        out[a : a + _PRODUCT_ROWS] = piece @ bank
    return out


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


def _magnitudes_into(
    out: np.ndarray,
    pieces: Sequence[np.ndarray],
    lo: int,
    hi: int,
    workers: int | None,
    *,
    check_finite: bool = False,
    fast: bool = False,
) -> bool:
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
        tasks = [
            (piece, a, min(a + _TASK_ROWS, piece.shape[0]), int(at) + a)
            for piece, at in zip(pieces, starts)
            for a in range(0, piece.shape[0], _TASK_ROWS)
        ]
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
        np.abs(spectrum[:, lo:hi], out=out[at : at + b - a])

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
        return mel_product(np.abs(spectrum[:, lo:hi]), bank_key)
    groups = _band_groups(*bank_key)
    magnitudes = np.empty((frames.shape[0], hi - lo), dtype=np.float32)
    if not _magnitudes_into(magnitudes, [frames], lo, hi, workers, check_finite=True, fast=fast):
        _valid_audio(frames.ravel())  # raises, naming the first non-finite sample
    out = np.zeros((frames.shape[0], restricted.shape[1]), dtype=np.float32)
    with one_blas_thread():  # small next to the DFT: not worth a thread hand-off
        for b0, b1, k0, k1, weights in groups:
            out[:, b0:b1] = magnitudes[:, k0:k1].astype(np.float64) @ weights  # float64 sums
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
    if not np.isfinite(y[frames.size :]).all():  # the dropped partial frame
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
        raise ParameterError(
            f"S must be a non-empty (frames, n_mels) or (k, frames, n_mels) array, got shape {S.shape}"
        )
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
            + (f" (fragment {which} of the batch)" if S.ndim == 3 else "")
        )
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
