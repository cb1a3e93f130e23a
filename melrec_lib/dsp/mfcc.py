"""MFCC statistics of one audio file: the model-free features (librosa) beside the networks' embeddings.

The mean and the standard deviation over time of each of the first ``n_mfcc`` MFCCs of
``librosa.feature.mfcc`` (librosa's defaults: 2048-point frames, hop 512, 128 Slaney mel bands,
``power_to_db``, orthonormal DCT-II) of the file loaded with ``librosa.load(path, sr=sr,
mono=True)``: 40 numbers per track at the defaults, computed on one BLAS thread (as in a
worker process of :func:`melrec_lib.parallel.parallel_map`, whose BLAS joblib limits to one).  Notebooks 07 and 08 rank with their centroid
(the baseline every method must beat, :func:`melrec_lib.recsys.benchmark.mfcc_statistics` caches them
per collection) and fuse them with embeddings; ``melrec recommend``'s default pipeline appends
them to every fragment (:func:`melrec_lib.app.pipeline.mfcc_embedder`, cached per file).
"""

from __future__ import annotations

import os

import numpy as np

from melrec_lib.dsp.blas import one_blas_thread
from melrec_lib.errors import AudioError, check_int

__all__ = ["N_MFCC", "N_FFT", "SAMPLE_RATE", "statistics", "column_names"]

#: MFCCs per track, and the rate audio is loaded at (librosa's default).
N_MFCC = 20
SAMPLE_RATE = 22050
#: librosa's frame length for the MFCC (``librosa.feature.mfcc``'s default ``n_fft``).
N_FFT = 2048


def _load(path: str | os.PathLike, sr: int) -> np.ndarray:
    """``librosa.load(path, sr=sr, mono=True)`` given the opened ``soundfile.SoundFile``: the same
    samples, but a file soundfile cannot read is an :class:`AudioError` here, not librosa's
    warning and audioread fallback (a warning from a thread of a Dask worker would need a
    process-wide filter).  The formats soundfile does not read (``audio.by_pyav``: m4a, opus,
    wma, ...) are decoded by PyAV (:func:`melrec_lib.io.decode.read`) and then mixed and resampled
    as ``librosa.load`` does (``librosa.to_mono``, ``librosa.resample`` with its default soxr_hq)."""
    import librosa
    import soundfile as sf

    from melrec_lib.io import audio

    if audio.by_pyav(path):
        from melrec_lib.io import decode

        x, native = decode.read(path)
        y = librosa.to_mono(x.T)
        return librosa.resample(y, orig_sr=native, target_sr=sr) if native != sr else y
    try:
        with sf.SoundFile(str(path)) as f:
            y, _ = librosa.load(f, sr=sr, mono=True)
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: cannot be decoded ({exc})") from exc
    return y


def column_names(n_mfcc: int = N_MFCC) -> list[str]:
    """``mfcc0_mean .. mfcc{n-1}_mean, mfcc0_std .. mfcc{n-1}_std``: the order of :func:`statistics`."""
    return [f"mfcc{i}_mean" for i in range(n_mfcc)] + [f"mfcc{i}_std" for i in range(n_mfcc)]


def statistics(path: str | os.PathLike, *, n_mfcc: int = N_MFCC, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Mean and standard deviation over time of each MFCC of one file.

    Parameters
    ----------
    path : path-like
    n_mfcc : int > 0
    sr : int > 0
        The file is loaded with ``librosa.load(path, sr=sr, mono=True)``.

    Returns
    -------
    np.ndarray [shape=(2 * n_mfcc,), dtype=float32]
        In the order of :func:`column_names`.

    Raises
    ------
    AudioError
        The file cannot be decoded (by soundfile, or PyAV for its formats), or is shorter than one frame.
    """
    import librosa

    check_int(n_mfcc, "n_mfcc", minimum=1)
    check_int(sr, "sr", minimum=1)
    y = _load(path, sr)
    if y.size == 0:
        raise AudioError(f"{path}: no samples")
    if y.size < N_FFT:
        raise AudioError(f"{path}: {y.size} samples at {sr} Hz, shorter than one {N_FFT}-sample MFCC frame")
    with one_blas_thread():  # the same numbers in any process, and fast on busy cores
        M = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc)
    return np.concatenate([M.mean(axis=1), M.std(axis=1)])
