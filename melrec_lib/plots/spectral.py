"""Figures of notebook 02 (DFT and mel spectrograms, thesis 1.4 and 3.2-3.4).

* :func:`frame_dft` — one 1/8 s frame's DFT magnitude against frequency in Hz.
* :func:`mel_scale` — Figure 1.4: mel against Hz, HTK (the thesis' formula) against Slaney.
* :func:`filterbanks` — Figure 3.1: the thesis' bank (which stops at 2.2 kHz) beside
  "thesis-full" and librosa's.
* :func:`fragment_grid` — 64 x 128 fragments (time in s, mel band with its Hz) side by side.

Every function returns the figure (its axes: ``fig.axes``), as in every plots module; saving is :func:`melrec_lib.plots.savefig`'s job.
"""

from __future__ import annotations

import numpy as np

from melrec_lib.dsp import filters, spectrum
from melrec_lib.errors import ParameterError

__all__ = ["frame_dft", "mel_scale", "filterbanks", "fragment_grid", "band_peaks_hz", "BANK_LABELS"]

BANK_LABELS = {
    "thesis": "thesis (C++ getWindowCf, bug-compatible)",
    "thesis-full": "thesis-full (same triangles over 0-11 kHz)",
    "librosa": "librosa (HTK, norm=None)",
}


def _fig(nrows=1, ncols=1, figsize=(8, 4), **kw):
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=figsize, layout="constrained", squeeze=False, **kw)


def _bin_hz(kind: str, n_bins: int, sr: float = filters.SAMPLE_RATE, frame_duration: float = filters.FRAME_DURATION):
    """Frequency of each DFT bin as the bank assumes it (k / T for the thesis' banks)."""
    if kind == "librosa":
        return np.arange(n_bins) * sr / filters.frame_length(sr, frame_duration)
    return np.arange(n_bins) / frame_duration


def band_peaks_hz(kind: str = "thesis", **kwargs) -> np.ndarray:
    """Frequency (Hz) of the bin where each band of a bank peaks; ``kwargs`` as mel_filterbank.

    Returns
    -------
    np.ndarray [shape=(n_mels,)]
    """
    W = filters.mel_filterbank(kind, **kwargs)
    return _bin_hz(
        kind, W.shape[1], kwargs.get("sr", filters.SAMPLE_RATE), kwargs.get("frame_duration", filters.FRAME_DURATION)
    )[np.argmax(W, axis=1)]


def frame_dft(
    y: np.ndarray,
    sr: float,
    *,
    frame: int = 0,
    frame_duration: float = filters.FRAME_DURATION,
    fmax: float = filters.FMAX,
    ax=None,
    title: str | None = None,
):
    """Magnitude of one frame's DFT against frequency, with the ranges the thesis keeps.

    The whole spectrum up to Nyquist is drawn (dB re the frame's peak); shaded: the bins the
    thesis drops (above ``fmax``) and the part its filter bank never reads (above 2.2 kHz).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr : number > 0
    frame : int >= 0
        Which consecutive, non-overlapping ``int(sr * frame_duration)``-sample frame.
    frame_duration, fmax : as :func:`melrec_lib.dsp.spectrum.magnitude_frames`
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    n_fft = filters.frame_length(sr, frame_duration)
    mags = spectrum.magnitude_frames(y, sr, frame_duration=frame_duration, fmax=sr / 2)
    if not 0 <= frame < mags.shape[0]:
        raise ParameterError(f"frame={frame} is outside the signal's {mags.shape[0]} frames")
    if ax is None:
        fig, axes = _fig(figsize=(9, 3.6))
        ax = axes[0, 0]
    fig = ax.figure
    freqs = np.arange(mags.shape[1]) * sr / n_fft
    db = 20 * np.log10(np.maximum(mags[frame], 1e-12) / max(mags[frame].max(), 1e-12))
    ax.plot(freqs, db, lw=0.6, color="C0", label="|X[k]|, DFT of one rectangular frame")
    top = filters.bank_edges_hz("thesis", sr=sr, frame_duration=frame_duration)[1]
    ax.axvspan(top, fmax, color="C1", alpha=0.12, label=f"kept, but outside the thesis bank (> {top:.0f} Hz)")
    ax.axvspan(fmax, sr / 2, color="0.5", alpha=0.2, label=f"dropped: bins above {fmax:.0f} Hz")
    ax.set_xlim(0, sr / 2)
    ax.set_ylim(max(db.min(), -100), 3)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("magnitude (dB re frame peak)")
    ax.set_title(
        title or f"DFT of frame {frame}: {n_fft} samples = {n_fft / sr * 1000:.1f} ms, bin spacing {sr / n_fft:.4f} Hz"
    )
    ax.legend(loc="upper right", fontsize=8)
    return fig


def mel_scale(*, fmax: float = 22050.0, ax=None):
    """Figure 1.4: the mel scale against frequency, HTK (the thesis' formula) and Slaney.

    Slaney's mel is in different units (1 kHz = 15 mel), so it is drawn scaled by 1000/15,
    which makes both curves pass through (1000 Hz, 1000 mel); the diagonal mel = Hz shows where
    each is linear.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        fig, axes = _fig(figsize=(7, 4.5))
        ax = axes[0, 0]
    fig = ax.figure
    f = np.linspace(0, fmax, 2000)
    ax.plot(f, filters.hz_to_mel(f), color="C0", label="HTK / thesis: 1127.01048 ln(1 + f / 700)")
    ax.plot(
        f,
        filters.hz_to_mel(f, htk=False) * 1000 / 15,
        color="C2",
        ls="--",
        label="Slaney (librosa htk=False), x 1000/15",
    )
    ax.plot([0, 2500], [0, 2500], color="0.6", lw=0.8, ls=":", label="mel = Hz")
    ax.axvline(filters.FMAX, color="0.4", lw=0.8)
    ax.text(filters.FMAX, 1200, f" {filters.FMAX:.0f} Hz\n (thesis fmax)", fontsize=8, va="bottom")
    top = filters.bank_edges_hz("thesis")[1]
    ax.axvline(top, color="C1", lw=0.8)
    ax.text(top, 400, f" {top:.0f} Hz\n (thesis bank's top)", fontsize=8, color="C1", va="bottom")
    ax.set_xlim(0, fmax)
    ax.set_ylim(0, None)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("mel")
    ax.set_title("Figure 1.4: the mel scale")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def filterbanks(
    kinds=filters.FILTERBANKS, *, sr: float = filters.SAMPLE_RATE, fmax: float = filters.FMAX, every: int = 1
):
    """Figure 3.1: the triangles of each bank against frequency in Hz, one panel per bank.

    Parameters
    ----------
    kinds : sequence of bank kinds
    sr, fmax : as :func:`melrec_lib.dsp.filters.mel_filterbank`
    every : int >= 1
        Draw every n-th band (all by default).

    Returns
    -------
    fig, axes [shape=(len(kinds),)]
    """
    import matplotlib.pyplot as plt

    kinds = list(kinds)
    fig, axes = _fig(len(kinds), 1, figsize=(9, 2.3 * len(kinds) + 0.4), sharex=True)
    axes = axes[:, 0]
    cmap = plt.get_cmap("viridis")
    for ax, kind in zip(axes, kinds):
        W = filters.mel_filterbank(kind, sr=sr, fmax=fmax)
        hz = _bin_hz(kind, W.shape[1], sr)
        cols = np.flatnonzero(W.any(axis=0))
        last = cols[-1] + 2
        for j in range(0, W.shape[0], every):
            ax.plot(hz[:last], W[j, :last], lw=0.6, color=cmap(j / max(W.shape[0] - 1, 1)))
        lo, hi = filters.bank_edges_hz(kind, sr=sr, fmax=fmax)
        ax.axvspan(hi, fmax, color="0.85", zorder=0)
        ax.text(
            0.99,
            0.9,
            f"{W.shape[0]} bands cover {lo:.0f}-{hi:.0f} Hz",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=9,
            bbox=dict(fc="white", ec="0.7"),
        )
        ax.set_title(BANK_LABELS.get(kind, kind), fontsize=10, loc="left")
        ax.set_ylabel("weight")
        ax.set_ylim(0, 1.08)
    axes[-1].set_xlim(0, fmax)
    axes[-1].set_xlabel("frequency (Hz)  (grey: range a bank never reads)")
    fig.suptitle("Figure 3.1: mel filter banks (colour: band index 0 -> 127)")
    return fig


def fragment_grid(
    fragments: dict,
    *,
    kinds_of_rows: dict | None = None,
    duration_s: float = filters.FRAGMENT_DURATION,
    vmin: float = -1.0,
    vmax: float = 1.0,
    ncols: int = 2,
    cmap: str = "magma",
):
    """Several (64, n_mels) fragments as images: time in s across, mel band (and its Hz) up.

    Parameters
    ----------
    fragments : dict of title -> np.ndarray [shape=(64, n_mels)]
        Drawn in order, ``ncols`` per row.
    kinds_of_rows : dict of title -> bank kind, optional
        Labels the y axis of each panel with the peak frequency of some bands of that bank.
    duration_s : float
        Seconds spanned by the 64 frames.
    vmin, vmax : float
        Colour range (normalised fragments lie in [-1, 1]).

    Returns
    -------
    matplotlib.figure.Figure
        Axes in ``fig.axes`` (nrows, ncols of them)
    """
    if not fragments:
        raise ParameterError("fragment_grid needs at least one fragment")
    n = len(fragments)
    nrows = -(-n // ncols)
    fig, axes = _fig(nrows, ncols, figsize=(5.2 * ncols, 2.9 * nrows))
    image = None
    for ax, (title, X) in zip(axes.ravel(), fragments.items()):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ParameterError(f"fragment {title!r} must be 2-D (frames, mels), got {X.shape}")
        image = ax.imshow(
            X.T,
            origin="lower",
            aspect="auto",
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            extent=(0, duration_s, -0.5, X.shape[1] - 0.5),
            interpolation="nearest",
        )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time in fragment (s)")
        kind = (kinds_of_rows or {}).get(title)
        ticks = np.linspace(0, X.shape[1] - 1, 5).round().astype(int)
        ax.set_yticks(ticks)
        if kind is not None:
            peaks = band_peaks_hz(kind, n_mels=X.shape[1])
            ax.set_yticklabels([f"{t}: {peaks[t]:.0f} Hz" for t in ticks], fontsize=8)
        ax.set_ylabel("mel band: peak (Hz)" if kind is not None else "mel band")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="normalised value")
    return fig
