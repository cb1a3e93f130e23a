"""A patch budget: at most N of musicnn's 3 s patches per track, spread evenly, decoding only those.

musicnn (:mod:`melrec_lib.nets.musicnn`) cuts a track's log-mel spectrogram into consecutive
187-frame patches; embedding all of them costs time and memory in proportion to the track's
length.  With a budget of ``N`` patches, :func:`positions` picks ``N`` of a track's ``n`` patches,
the middle patch of each of ``N`` equal parts of the track (no randomness: the same positions for
the same length and ``N``), and :func:`track_patches` decodes only the samples those patches read
(:func:`melrec_lib.io.audio.load_spans` and a seek for the other formats), so a 3-hour file costs
what a 4-minute one does.  The patches it returns are those of the whole decode at the same
positions (to within soxr's rounding where the file is resampled: each span is resampled on its
own from a sample where the file's and musicnn's 16 kHz grids meet, with a margin past soxr's
filter).  :func:`subsample` picks the same positions from per-patch rows that were computed for
every patch (a cache of notebook 08), which is how the budget is measured
(``tools/patch_budget.py``).

A budget of ``0`` (or ``"all"``) is every patch, musicnn's own behaviour.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from melrec_lib.errors import AudioError, ParameterError

__all__ = ["ALL", "check_budget", "positions", "patch_count", "subsample", "track_patches", "patch_spans"]

#: The budget that means every patch.
ALL = 0

#: Samples at 16 kHz decoded and resampled on each side of a span (past soxr "HQ"'s filter).
SPAN_MARGIN = 2048


def check_budget(value: Any) -> int:
    """A patch budget as an int: a count >= 1, or :data:`ALL` (``0``, ``"all"``) for every patch.

    Parameters
    ----------
    value : int or str
        ``0`` or ``"all"`` (any case) for every patch, or a positive integer (also as a string,
        as a command line gives it).

    Returns
    -------
    int
        ``0`` for every patch, else the count.

    Raises
    ------
    ParameterError
        A negative count, a bool, a float, or a string that is neither ``"all"`` nor an integer.

    Examples
    --------
    >>> check_budget("all"), check_budget("8"), check_budget(16), check_budget(0)
    (0, 8, 16, 0)
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "all":
            return ALL
        if not text.isdigit():
            raise ParameterError(f"patch budget must be a non-negative integer or 'all', got {value!r}")
        return int(text)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"patch budget must be a non-negative integer or 'all', got {value!r}")
    if value < 0:
        raise ParameterError(f"patch budget must be a non-negative integer or 'all' (0 = every patch), got {value}")
    return int(value)


def positions(n_patches: int, budget: Any) -> np.ndarray:
    """Which of a track's ``n_patches`` patches a budget keeps: the middle one of each of ``budget`` equal parts.

    Patch ``floor((2 i + 1) n / (2 N))`` for ``i = 0 .. N - 1``: evenly spread, the first half a
    part from the start and the last half a part from the end (so a silent lead-in or a fade-out
    is not favoured), strictly increasing.  A track with no more patches than the budget keeps
    them all.

    Parameters
    ----------
    n_patches : int >= 0
    budget : int or str
        As :func:`check_budget`.

    Returns
    -------
    np.ndarray [shape=(min(n_patches, budget),) or (n_patches,) for ALL, dtype=int64]

    Examples
    --------
    >>> positions(40, 4).tolist()
    [5, 15, 25, 35]
    >>> positions(3, 8).tolist()
    [0, 1, 2]
    """
    from melrec_lib.errors import check_int

    n = check_int(n_patches, "n_patches")
    N = check_budget(budget)
    if N == ALL or N >= n:
        return np.arange(n, dtype=np.int64)
    i = np.arange(N, dtype=np.int64)
    return (2 * i + 1) * n // (2 * N)


def patch_count(n_16k: int) -> int:
    """How many patches musicnn makes of ``n_16k`` samples at 16 kHz (0 if fewer than one).

    As :func:`melrec_lib.nets.musicnn.patches` counts them: ``1 + n // 256`` centred frames,
    non-overlapping 187-frame patches, the partial last one dropped.

    >>> patch_count(120 * 16000)
    40
    """
    from melrec_lib.errors import check_int
    from melrec_lib.nets import musicnn

    frames = 1 + check_int(n_16k, "n_16k") // musicnn.HOP_LENGTH
    return 0 if frames < musicnn.PATCH_FRAMES else (frames - musicnn.PATCH_FRAMES) // musicnn.PATCH_FRAMES + 1


def subsample(X: np.ndarray, track: np.ndarray, budget: Any) -> tuple[np.ndarray, np.ndarray]:
    """The rows a budget keeps of per-patch rows of many tracks (every patch, in order, per track).

    Parameters
    ----------
    X : np.ndarray [shape=(n_rows, ...)]
        One row per patch, each track's rows consecutive and in patch order (as
        :func:`melrec_lib.nets.musicnn.track_embeddings` stores them).
    track : np.ndarray [shape=(n_rows,)]
        The track of each row.
    budget : int or str
        As :func:`check_budget`.

    Returns
    -------
    X, track : the kept rows, in the same order.

    Raises
    ------
    ParameterError
        Lengths differ, a bad budget, or a track's rows that are not consecutive.
    """
    N = check_budget(budget)
    track = np.asarray(track)
    if len(X) != len(track):
        raise ParameterError(f"X has {len(X)} rows, track {len(track)}")
    if len(track) == 0:
        return X[:0], track[:0]
    starts = np.flatnonzero(np.r_[True, track[1:] != track[:-1]])
    if len(np.unique(track[starts])) != len(starts):
        raise ParameterError("each track's rows must be consecutive (one run per track)")
    ends = np.r_[starts[1:], len(track)]
    keep = np.concatenate([s + positions(e - s, N) for s, e in zip(starts, ends)])
    return X[keep], track[keep]


def patch_spans(n_16k: int, budget: Any) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The positions a budget keeps and the 16 kHz samples each of their patches reads.

    Patch ``p``'s frames ``187 p .. 187 p + 186`` are centred on samples ``256 j``, each reading
    ``256`` samples either side, so it reads ``[256 (187 p) - 256, 256 (187 p + 186) + 256)``
    (48,128 samples); the part before 0 and from ``n_16k`` on is the zero padding of the whole
    spectrogram, clipped off here.

    Returns
    -------
    pos : np.ndarray of int
    spans : list of (start, stop), clipped to ``[0, n_16k)``
    """
    from melrec_lib.nets import musicnn

    pos = positions(patch_count(n_16k), budget)
    hop, frames = musicnn.HOP_LENGTH, musicnn.PATCH_FRAMES
    spans = []
    for p in pos.tolist():
        first = hop * frames * p - hop
        last = hop * (frames * p + frames - 1) + hop
        spans.append((max(0, first), min(n_16k, last)))
    return pos, spans


def _soundfile_ranges(path: Path, ranges: list[tuple[int, int]]) -> list[np.ndarray]:
    """Mono float32 native-rate samples of each range of a file soundfile reads, by seeking."""
    import soundfile as sf

    out = []
    try:
        with sf.SoundFile(str(path)) as f:
            for a, b in ranges:
                f.seek(a)
                x = f.read(b - a, dtype="float32", always_2d=True)
                out.append(x)
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: cannot decode ({exc})") from exc
    from melrec_lib.io.audio import _mono

    return [_mono(x) if x.shape[0] else np.zeros(0, np.float32) for x in out]


def _spans_16k(path: Path, spans: list[tuple[int, int]], info) -> list[np.ndarray]:
    """Mono 16 kHz samples of each span, as :func:`melrec_lib.nets.musicnn.load_audio` gives them
    (zeros past its end), decoding only around the spans."""
    import soxr

    from melrec_lib.io import audio
    from melrec_lib.nets import musicnn

    sr = musicnn.SAMPLE_RATE
    native = info.sample_rate
    if audio.by_pyav(path):
        return audio.load_spans(path, spans, sr=sr)
    g = math.gcd(native, sr)
    step_in, step_out = native // g, sr // g  # native sample k * step_in is 16 kHz sample k * step_out
    firsts = [max(0, a - SPAN_MARGIN) // step_out * step_out for a, _ in spans]
    ranges = [
        (m // step_out * step_in, min(info.frames, -(-(b + SPAN_MARGIN) * native // sr) + 1))
        for m, (_, b) in zip(firsts, spans)
    ]
    if path.suffix.lower() == ".wav":  # integer PCM is read range by range (else whole, then cut)
        parts = audio.load_spans(path, ranges, sr=native)
    else:
        parts = _soundfile_ranges(path, ranges)
    out = []
    for (a, b), m, y in zip(spans, firsts, parts):
        if native != sr and y.size:
            y = soxr.resample(y, native, sr, quality="soxr_hq").astype(np.float32, copy=False)
        y = y[a - m : b - m]
        if y.size < b - a:  # the whole decode's end: musicnn.load_audio pads with zeros
            y = np.pad(y, (0, b - a - y.size))
        out.append(np.ascontiguousarray(y, dtype=np.float32))
    return out


def track_patches(path: str | os.PathLike, budget: Any = ALL) -> np.ndarray:
    """musicnn's log-mel patches of one file, only those a budget keeps, decoding only their samples.

    ``budget`` 0 (every patch) is :func:`melrec_lib.nets.musicnn._track_patches` exactly; so is a
    track with no more patches than the budget (it is decoded whole: it is short).  Otherwise the
    track's length comes from its header (:func:`melrec_lib.io.audio.info`), and each kept patch
    is computed from its own span (:func:`patch_spans`): the rows of the whole track's patches at
    :func:`positions`.

    Parameters
    ----------
    path : str or path-like
        Any file :func:`melrec_lib.io.audio.load` reads.
    budget : int or str
        As :func:`check_budget`.

    Returns
    -------
    np.ndarray [shape=(k, 187, 96), float32]

    Raises
    ------
    ParameterError
        A bad budget.
    AudioError
        A missing or unreadable file, or one shorter than one patch: the reason.
    """
    from melrec_lib.io import audio
    from melrec_lib.nets import musicnn

    N = check_budget(budget)
    if N == ALL:
        return musicnn._track_patches(path)
    head = audio.info(path)
    n_16k = int(np.ceil(head.frames * (float(musicnn.SAMPLE_RATE) / head.sample_rate)))  # load_audio's length
    if patch_count(n_16k) <= N:
        return musicnn._track_patches(path)
    hop = musicnn.HOP_LENGTH
    pos, spans = patch_spans(n_16k, N)
    parts = _spans_16k(Path(path), spans, head)
    width = hop * (musicnn.PATCH_FRAMES - 1) + 2 * hop  # 48,128 samples: 187 frames and a hop each side
    out = np.empty((len(pos), musicnn.PATCH_FRAMES, musicnn.N_MELS), np.float32)
    for k, (p, (a, _), y) in enumerate(zip(pos.tolist(), spans, parts)):
        first = hop * musicnn.PATCH_FRAMES * p - hop  # may be -256: the whole spectrogram's padding
        y = np.pad(y, (a - first, 0))
        y = np.pad(y, (0, width - y.size))
        if not np.isfinite(y).all():
            raise AudioError(f"{path}: a non-finite sample in patch {p}")
        out[k] = musicnn.log_mel(y)[1 : 1 + musicnn.PATCH_FRAMES]
    return out
