"""Figures of the synthetic corpus melrec-synth.

* :func:`genre_gallery` -- one 8 s mel fragment per genre in a 3 x 3 grid (the network's view).
* :func:`pick_fragments` -- the fragments it draws, without drawing (for tests and reuse).

Every function that draws returns the figure (its axes: ``fig.axes``), as in every plots module; saving is :func:`melrec_lib.plots.savefig`'s job.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from melrec_lib.dsp import filters, fragments
from melrec_lib.errors import DatasetError, check_int
from melrec_lib.io import audio

__all__ = ["pick_fragments", "genre_gallery"]


def pick_fragments(manifest: pd.DataFrame, *, config="thesis", seed: int = 0, genres=None) -> list[dict]:
    """One random 8 s fragment per genre: a random track, a random whole-second offset.

    Parameters
    ----------
    manifest : pd.DataFrame
        A manifest (:mod:`melrec_lib.io.manifest` columns; ``path`` absolute, ``genre`` set).
    config : str or SpectrogramConfig
        Spectrogram configuration (``"thesis"``, ``"corrected"``, or a config).
    seed : int >= 0
        Chooses the tracks and offsets.
    genres : sequence of str or None
        Genres in drawing order; None = the manifest's genres in order of first appearance.

    Returns
    -------
    picks : list of dict
        ``genre, track_id, substyle, artist, offset_s, X`` with ``X`` of
        [shape=(64, config.n_mels), dtype=float32] (time x mel).

    Raises
    ------
    DatasetError
        if the manifest is empty or lacks a requested genre.
    ParameterError
        for a bad seed or config.
    """
    check_int(seed, "seed")
    if manifest is None or len(manifest) == 0 or "genre" not in manifest.columns:
        raise DatasetError("genre_gallery needs a non-empty manifest with a 'genre' column")
    cfg = fragments.get_config(config)
    order = list(dict.fromkeys(manifest["genre"])) if genres is None else list(genres)
    rng = np.random.default_rng(seed)
    picks = []
    for genre in order:
        rows = manifest[manifest["genre"] == genre]
        if rows.empty:
            raise DatasetError(f"the manifest has no track of genre {genre!r}")
        row = rows.iloc[int(rng.integers(len(rows)))]
        y, sr = audio.load(row["path"], sr=cfg.sr)
        duration = len(y) / sr
        last = int(np.floor(duration - filters.FRAGMENT_DURATION))
        if last < 0:
            raise DatasetError(f"{row['path']}: {duration:.2f} s is shorter than one 8 s fragment")
        offset = float(rng.integers(0, last + 1))
        X = fragments.fragments(y, sr, [offset], cfg)[0]
        picks.append(
            {
                "genre": genre,
                "track_id": row["track_id"],
                "substyle": row.get("substyle"),
                "artist": row.get("artist"),
                "offset_s": offset,
                "X": X,
            }
        )
    return picks


def genre_gallery(manifest: pd.DataFrame, *, config="thesis", seed: int = 0, genres=None, ncols: int = 3, fig=None):
    """One 8 s mel fragment per genre, as the genre CNN sees it, in a grid (3 x 3 for 9 genres).

    Each panel: time in seconds (0-8 s, 64 frames of 1/8 s) against mel band (0-127), the
    configuration's normalised values on one shared colour scale; the title names the genre,
    sub-style, track and the fragment's offset in the track.

    Parameters
    ----------
    manifest : pd.DataFrame
        Tracks to draw from (e.g. ``corpus.build("default")``).
    config : str or SpectrogramConfig
        Spectrogram configuration (see :func:`melrec_lib.dsp.fragments.get_config`).
    seed : int >= 0
        Chooses the track and offset of each genre.
    genres : sequence of str or None
        Panel order; None = order of first appearance in the manifest (the corpus' GENRES order).
    ncols : int > 0
        Panels per row.
    fig : matplotlib.figure.Figure or None
        Figure to draw into (cleared); None = a new one.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : np.ndarray of Axes [shape=(nrows, ncols)]
    """
    import matplotlib.pyplot as plt

    check_int(ncols, "ncols", minimum=1)
    cfg = fragments.get_config(config)
    picks = pick_fragments(manifest, config=cfg, seed=seed, genres=genres)
    nrows = -(-len(picks) // ncols)
    if fig is None:
        fig = plt.figure(figsize=(4.0 * ncols, 2.9 * nrows), layout="constrained")
    else:
        fig.clear()
    axes = np.atleast_2d(np.asarray(fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)))
    lo = min(float(p["X"].min()) for p in picks)
    hi = max(float(p["X"].max()) for p in picks)
    duration = cfg.fragment_frames * cfg.frame_duration
    image = None
    for ax, p in zip(axes.flat, picks):
        image = ax.imshow(
            p["X"].T,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=lo,
            vmax=hi,
            extent=(0.0, duration, -0.5, cfg.n_mels - 0.5),
            interpolation="nearest",
        )
        sub = f" / {p['substyle']}" if isinstance(p["substyle"], str) else ""
        ax.set_title(f"{p['genre']}{sub}\n{p['track_id']} @ {p['offset_s']:.0f} s", fontsize=9)
    for ax in axes.flat[len(picks) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("time in fragment (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("mel band")
    if image is not None:
        label = "normalised mel magnitude" if cfg.normalization == "thesis" else "mel level (dB, normalised)"
        fig.colorbar(image, ax=axes, shrink=0.8, label=f"{label} [{cfg.name}]")
    fig.suptitle(f"melrec-synth: one 8 s mel fragment per genre ({cfg.name} configuration)")
    return fig
