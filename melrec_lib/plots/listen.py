"""Short excerpts of tracks to listen to in a notebook.

* :func:`excerpt` -- a span of a file as mono float32 samples at a low rate (11025 Hz by default).
* :func:`player` -- that excerpt as an ``IPython.display.Audio`` player.
* :func:`players` -- several labelled players in one HTML table; :func:`side_by_side` puts
  such tables in one row (a playlist beside a ranking).

Excerpts are at most :data:`MAX_SECONDS` long and resampled to a low rate, so an executed
notebook that embeds a dozen of them stays a few megabytes: 10 s of 16-bit mono at 11025 Hz
is 220 kB before base64.
"""

from __future__ import annotations

import html
import os
from typing import Iterable

import numpy as np

from melrec_lib.errors import ParameterError, check_int
from melrec_lib.io import audio

__all__ = ["MAX_SECONDS", "RATE", "excerpt", "player", "players", "side_by_side"]

#: The longest excerpt :func:`excerpt` cuts, in seconds.
MAX_SECONDS = 10.0
#: The default rate of an excerpt, in Hz (enough for a listener to recognise a track).
RATE = 11025


def excerpt(
    path: str | os.PathLike,
    *,
    start_s: float | None = None,
    duration_s: float = 8.0,
    sr: int = RATE,
) -> tuple[np.ndarray, int, float]:
    """A span of an audio file, mixed to mono and resampled to ``sr``.

    Parameters
    ----------
    path : str or path-like
        Any file :func:`melrec_lib.io.audio.load` reads (WAV, FLAC, OGG, MP3, ...).
    start_s : float >= 0 or None
        Where the span starts, in seconds; None centres it in the track.  A span that would
        run past the end is moved back to end with the track (or shortened to the track).
    duration_s : float in (0, MAX_SECONDS]
        Length of the span in seconds.
    sr : int > 0
        Rate of the result in Hz (resampled with soxr, quality "HQ").

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono samples (the channel mean), ``n = round(length * sr)`` up to resampling's rounding.
    sr : int
        The rate of ``y``.
    start_s : float
        Where the span really starts in the file, in seconds.

    Raises
    ------
    ParameterError
        A duration outside (0, MAX_SECONDS], a negative start, a bad rate.
    AudioError
        A missing or unreadable file.
    """
    check_int(sr, "sr", minimum=1)
    if not 0.0 < float(duration_s) <= MAX_SECONDS:
        raise ParameterError(f"duration_s={duration_s!r} must be in (0, {MAX_SECONDS:g}] seconds")
    if start_s is not None and float(start_s) < 0:
        raise ParameterError(f"start_s={start_s!r} must be >= 0 seconds (or None: the middle of the track)")
    info = audio.info(path)
    native = int(info.sample_rate)
    total = int(info.frames)
    n = min(int(round(float(duration_s) * native)), total)
    first = (total - n) // 2 if start_s is None else int(round(float(start_s) * native))
    first = max(0, min(first, total - n))
    (y,) = audio.load_spans(path, [(first, first + n)], sr=native)
    if sr != native:
        import soxr

        y = soxr.resample(y, native, sr, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(y, dtype=np.float32), int(sr), first / native


def player(
    path: str | os.PathLike,
    *,
    start_s: float | None = None,
    duration_s: float = 8.0,
    sr: int = RATE,
    normalize: bool = True,
):
    """An ``IPython.display.Audio`` player of :func:`excerpt` (a WAV embedded in the notebook).

    ``normalize`` scales the excerpt to full scale (IPython's default), so quiet and loud
    tracks play at a similar level; False keeps the file's level (clipped to [-1, 1]).
    """
    from IPython.display import Audio

    y, rate, _ = excerpt(path, start_s=start_s, duration_s=duration_s, sr=sr)
    if not np.any(y):  # a silent span: IPython would divide by its peak of 0 (NaN samples)
        normalize = False
    if not normalize:
        y = np.clip(y, -1.0, 1.0)
    return Audio(data=y, rate=rate, normalize=normalize)


def players(items: Iterable[tuple], *, title: str | None = None, **kwargs):
    """Labelled players in one HTML table: one row ``label | player`` per item.

    Parameters
    ----------
    items : iterable of ``(label, path)`` or ``(label, path, start_s)``
        What to play; a third element sets that excerpt's start (else ``kwargs``' or the middle).
    title : str, optional
        A caption above the table.
    **kwargs
        For :func:`player` (``start_s``, ``duration_s``, ``sr``, ``normalize``).

    Returns
    -------
    IPython.display.HTML
        The last line of a cell shows it.
    """
    from IPython.display import HTML

    rows = []
    for item in items:
        if len(item) not in (2, 3):
            raise ParameterError(f"players takes (label, path) or (label, path, start_s), got {item!r}")
        label, path, *start = item
        options = dict(kwargs, start_s=start[0]) if start else kwargs
        rows.append(
            f"<tr><td style='text-align:left'>{html.escape(str(label))}</td>"
            f"<td>{player(path, **options)._repr_html_()}</td></tr>"
        )
    if not rows:
        raise ParameterError("players needs at least one (label, path) pair")
    caption = f"<caption style='text-align:left'><b>{html.escape(title)}</b></caption>" if title else ""
    return HTML(f"<table>{caption}{''.join(rows)}</table>")


def side_by_side(*tables):
    """HTML objects (e.g. :func:`players` tables) in one row, left to right."""
    from IPython.display import HTML

    cells = "".join(f"<div style='margin-right:2em'>{t.data}</div>" for t in tables)
    return HTML(f"<div style='display:flex;align-items:flex-start'>{cells}</div>")
