"""Figures of notebook 01 (WAV parsing, thesis 3.1): the waveform and a byte map of the header."""

from __future__ import annotations

import os

import numpy as np

from melrec_lib.errors import ParameterError

__all__ = ["waveform", "header_bytes"]


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def waveform(
    y: np.ndarray,
    sr: float,
    *,
    ax=None,
    title: str | None = None,
    max_points: int = 4000,
    color: str = "C0",
    full_scale: bool = True,
    t0: float = 0.0,
):
    """Plot a mono signal against time in seconds.

    Long signals are drawn as their min/max envelope over ``max_points`` columns (what an audio
    editor shows), so every peak stays visible and the figure stays light.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples, full scale [-1, 1].
    sr : number > 0
        Sample rate in Hz.
    ax : matplotlib Axes, optional
        Drawn into a new figure when omitted.
    title : str, optional
    max_points : int > 0
        Above ``2 * max_points`` samples the min/max envelope is drawn.
    color : matplotlib colour
    full_scale : bool
        Fix the amplitude axis to [-1, 1] (else: symmetric around 0, fitted to the signal).
    t0 : float
        Time of the first sample in seconds (for excerpts of a longer track).

    Returns
    -------
    matplotlib.figure.Figure
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ParameterError(f"waveform needs a non-empty 1-D signal, got shape {y.shape}")
    if not sr > 0:
        raise ParameterError(f"sr must be > 0, got {sr}")
    fig, ax = _axes(ax, (9, 3))
    n = y.size
    if n > 2 * max_points:
        edges = np.linspace(0, n, max_points + 1).astype(int)
        lo, hi = np.minimum.reduceat(y, edges[:-1]), np.maximum.reduceat(y, edges[:-1])
        t = t0 + edges[:-1] / sr
        ax.fill_between(t, lo, hi, color=color, linewidth=0.5, step="post")
    else:
        ax.plot(t0 + np.arange(n) / sr, y, color=color, linewidth=0.8)
    peak = 1.0 if full_scale else max(float(np.max(np.abs(y))), 1e-6)
    ax.set(xlabel="time (s)", ylabel="amplitude (full scale)", xlim=(t0, t0 + n / sr), ylim=(-1.05 * peak, 1.05 * peak))
    ax.axhline(0, color="0.5", linewidth=0.5)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def header_bytes(path: str | os.PathLike, *, ax=None, title: str | None = None):
    """A byte map of the 44-byte canonical header (thesis Table 3.1), read from ``path``.

    Four bytes per row; each field is a coloured block labelled with its name and decoded
    value, each byte with its hex value.

    Parameters
    ----------
    path : str or path-like
        A WAV file (at least 44 bytes).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from melrec_lib.io.wav import TABLE_3_1, table_3_1

    table = table_3_1(path)
    with open(path, "rb") as fh:
        head = fh.read(44)
    fig, ax = _axes(ax, (8, 6.5))
    colors = plt.get_cmap("tab20").colors
    for i, (offset, size, name, _code, _meaning) in enumerate(TABLE_3_1):
        row, col = divmod(offset, 4)
        ax.add_patch(
            Rectangle((col, row), size, 1, facecolor=colors[i % 20], edgecolor="white", linewidth=2, alpha=0.55)
        )
        value = table.loc[i, "value"]
        ax.text(
            col + size / 2,
            row + 0.68,
            f"{name} = {value!r}" if size == 4 else f"{name}\n= {value!r}",
            ha="center",
            va="center",
            fontsize=7.5 if size == 4 else 6.5,
        )
        for b in range(size):
            ax.text(
                col + b + 0.5,
                row + 0.25,
                f"{head[offset + b]:02x}",
                ha="center",
                va="center",
                family="monospace",
                fontsize=8,
                color="0.2",
            )
    ax.set(
        xlim=(0, 4),
        ylim=(11, 0),
        xticks=np.arange(4) + 0.5,
        xticklabels=[f"+{k}" for k in range(4)],
        yticks=np.arange(11) + 0.5,
        yticklabels=[str(4 * r) for r in range(11)],
        xlabel="byte within the row",
        ylabel="byte offset in the file",
    )
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)
    return fig
