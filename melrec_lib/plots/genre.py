"""Figures of the genre CNN: training curves, confusion matrices, the kernels of Figures 4.2/4.3,
the "feature spectrogram" of Figure 4.1, and the preprocessor-cut comparison of notebook 04.

Kernel colouring as in the thesis (``drawKernels`` / ``drawKernels2`` in the appendix'
``my_utils.py``): each weight ``w`` of kernel ``k`` with bias ``b_k`` becomes the PIL colour
``hsl(int(270 + 90 * (w + b_k)), 100%, 50%)``: violet (270 deg) for 0, towards blue/cyan for
negative and towards red/orange (360 = 0 deg) for positive values; the hue wraps around the
colour circle (PIL wraps hues above 360 but refuses negative ones, so the thesis' code would
crash for ``w + b < -3``; we wrap those too).  HSL with saturation 100 % and lightness 50 % is
HSV with saturation and value 1.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd


def _plt():
    import matplotlib.pyplot as plt

    return plt


# --------------------------------------------------------------------------------------------
# thesis colouring
# --------------------------------------------------------------------------------------------
def thesis_hue(values: np.ndarray) -> np.ndarray:
    """The thesis' hue in degrees [0, 360): ``int(270 + 90 * value) mod 360`` (truncation as
    Python's ``int``)."""
    return np.mod(np.trunc(270.0 + 90.0 * np.asarray(values, dtype=np.float64)), 360.0)


def thesis_colours(values: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] ``[shape=values.shape + (3,)]`` of ``hsl(int(270 + 90 v), 100%, 50%)``."""
    from matplotlib.colors import hsv_to_rgb

    h = thesis_hue(values) / 360.0
    hsv = np.stack([h, np.ones_like(h), np.ones_like(h)], axis=-1)
    return hsv_to_rgb(hsv)


def kernel_mosaic(kernels: np.ndarray, *, per_row: int, gap: float = np.nan) -> np.ndarray:
    """Tile kernels ``[shape=(count, height, width)]`` side by side, ``per_row`` per row, with a
    one-pixel gap (``gap`` value) after each kernel, as ``drawKernels`` does along one row.

    Returns ``[shape=(rows * (height + 1), per_row * (width + 1))]``.
    """
    kernels = np.asarray(kernels, dtype=np.float64)
    count, h, w = kernels.shape
    rows = -(-count // per_row)
    out = np.full((rows * (h + 1), per_row * (w + 1)), gap)
    for k in range(count):
        r, c = divmod(k, per_row)
        out[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = kernels[k]
    return out


def conv1_kernels(model) -> tuple[np.ndarray, np.ndarray]:
    """First-layer kernels as images ``[shape=(256, 128 mel, 4 time)]`` and biases ``(256,)``.

    Works for both builds (Conv1D ``(4, 128, 256)`` or Conv2D ``(4, 128, 1, 256)`` kernels).
    Mel band 0 is row 0 (drawn at the top, as in the thesis' PIL image).
    """
    w, b = (np.asarray(a) for a in model.get_layer("conv1").get_weights())
    w = w.reshape(4, 128, -1)
    return np.transpose(w, (2, 1, 0)), b


def conv2_kernels(model) -> tuple[np.ndarray, np.ndarray]:
    """Second-layer kernels as images ``[shape=(128, 256 responses, 2 time)]`` and biases."""
    w, b = (np.asarray(a) for a in model.get_layer("conv2").get_weights())
    if w.ndim == 4:  # Conv2D (256, 2, 1, 128) -> (2, 256, 128)
        w = np.transpose(w[:, :, 0, :], (1, 0, 2))
    return np.transpose(w, (2, 1, 0)), b


def plot_kernels(
    kernels: np.ndarray,
    biases: np.ndarray,
    *,
    per_row: int,
    title: str,
    xlabel: str,
    ylabel: str,
):
    """Two panels: the thesis' hue colouring of ``w + b`` and a diverging map of ``w``.

    Parameters
    ----------
    kernels : np.ndarray [shape=(count, height, width)]
    biases : np.ndarray [shape=(count,)]
    per_row : int
        Kernels per mosaic row.
    """
    plt = _plt()
    count, h, w = kernels.shape
    with_bias = kernels + np.asarray(biases)[:, None, None]
    mosaic_t = kernel_mosaic(with_bias, per_row=per_row)
    rgb = thesis_colours(np.nan_to_num(mosaic_t))
    rgb[np.isnan(mosaic_t)] = 1.0  # white gaps
    mosaic_d = kernel_mosaic(kernels, per_row=per_row)
    vmax = float(np.nanmax(np.abs(mosaic_d))) or 1.0
    rows = -(-count // per_row)
    fig, axes = plt.subplots(2, 1, figsize=(12, 8.5), constrained_layout=True)
    extent = (0, per_row, rows * (h + 1), 0)
    axes[0].imshow(rgb, aspect="auto", interpolation="nearest", extent=extent)
    axes[0].set_title(
        f"{title}: thesis colouring, hue = 270 + 90 (w + b) degrees "
        f"(w + b in [{np.min(with_bias):.2f}, {np.max(with_bias):.2f}])"
    )
    im = axes[1].imshow(
        np.ma.masked_invalid(mosaic_d),
        aspect="auto",
        interpolation="nearest",
        cmap="RdBu_r",
        vmin=-vmax,
        vmax=vmax,
        extent=extent,
    )
    axes[1].set_title(f"{title}: weights w (no bias), diverging colour map")
    fig.colorbar(im, ax=axes[1], label="weight", shrink=0.8)
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_xticks(np.arange(0, per_row + 1, max(1, per_row // 8)))
        ax.set_yticks([r * (h + 1) + h / 2 for r in range(rows)])
        ax.set_yticklabels([f"{r * per_row}-{min(count, (r + 1) * per_row) - 1}" for r in range(rows)])
    return fig


def plot_conv1_kernels(model, *, per_row: int = 64):
    """Figure 4.2: the 256 first-layer kernels, each 4 frames (0.5 s) x 128 mel bands."""
    k, b = conv1_kernels(model)
    return plot_kernels(
        k,
        b,
        per_row=per_row,
        title="Figure 4.2, 256 first-layer kernels (4 frames x 128 mel)",
        xlabel="kernel number within the row (each 4 frames wide = 0.5 s)",
        ylabel="kernels (each 128 mel bands tall, band 0 at top)",
    )


def plot_conv2_kernels(model, *, per_row: int = 64):
    """Figure 4.3: the 128 second-layer kernels, each 256 first-layer responses x 2 steps."""
    k, b = conv2_kernels(model)
    return plot_kernels(
        k,
        b,
        per_row=per_row,
        title="Figure 4.3, 128 second-layer kernels (256 responses x 2 steps)",
        xlabel="kernel number within the row (each 2 pooled steps wide = 0.5 s)",
        ylabel="kernels (each 256 responses tall)",
    )


# --------------------------------------------------------------------------------------------
# Figure 4.1 and training results
# --------------------------------------------------------------------------------------------
def plot_feature_spectrogram(fragment: np.ndarray, features: np.ndarray, *, title: str = ""):
    """Figure 4.1: a mel fragment ``(64, 128)`` beside its 256 x 30 "feature spectrogram".

    ``features`` is the pool1 output of that fragment, ``[shape=(30, 256)]`` or flattened 7680
    (time-major); drawn with the 256 kernel responses as the vertical "frequency" axis and the
    30 pooled steps (0.25 s each) as time, as the thesis' reshape intends.
    """
    plt = _plt()
    F = np.asarray(features).reshape(30, 256).T
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    im0 = axes[0].imshow(np.asarray(fragment).T, origin="lower", aspect="auto", cmap="magma", extent=(0, 8, 0, 128))
    axes[0].set(title="input: mel fragment (64 frames x 128 bands)", xlabel="time (s)", ylabel="mel band")
    fig.colorbar(im0, ax=axes[0], label="normalised magnitude")
    im1 = axes[1].imshow(F, origin="lower", aspect="auto", cmap="viridis", extent=(0, 7.5, 0, 256))
    axes[1].set(
        title="Figure 4.1: pool1 output as a 256 x 30 'feature spectrogram'",
        xlabel="time (s; 30 steps of 0.25 s)",
        ylabel="first-layer kernel (response)",
    )
    fig.colorbar(im1, ax=axes[1], label="ReLU response (max-pooled)")
    if title:
        fig.suptitle(title)
    return fig


def plot_training_curves(histories: Mapping[str, pd.DataFrame]):
    """Loss and accuracy per epoch (train solid, validation dashed), one colour per run; the
    restored (best validation loss) epoch is marked."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for i, (name, h) in enumerate(histories.items()):
        c = f"C{i}"
        for ax, key in zip(axes, ("loss", "accuracy")):
            ax.plot(h["epoch"], h[key], color=c, label=f"{name}: train")
            if f"val_{key}" in h:
                ax.plot(h["epoch"], h[f"val_{key}"], color=c, ls="--", label=f"{name}: validation")
        if "val_loss" in h and len(h):
            best = h.loc[h["val_loss"].idxmin()]
            axes[0].plot(best["epoch"], best["val_loss"], "o", color=c, ms=7, mfc="none")
    axes[0].set(xlabel="epoch", ylabel="categorical cross-entropy", title="loss (o: restored epoch)")
    axes[1].set(xlabel="epoch", ylabel="fragment accuracy", title="accuracy", ylim=(0, 1.02))
    axes[1].legend(fontsize=8, loc="lower right")
    return fig


def plot_confusions(confusions: Mapping[str, pd.DataFrame], *, title: str = "held-out tracks"):
    """Row-normalised confusion matrices side by side (counts written in the cells)."""
    plt = _plt()
    n = len(confusions)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.8), constrained_layout=True, squeeze=False)
    for ax, (name, cm) in zip(axes[0], confusions.items()):
        counts = cm.to_numpy()
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for (r, c), v in np.ndenumerate(counts):
            if v:
                ax.text(
                    c, r, str(v), ha="center", va="center", fontsize=8, color="white" if share[r, c] > 0.6 else "black"
                )
        ax.set_xticks(range(len(cm.columns)), cm.columns, rotation=60, ha="right")
        ax.set_yticks(range(len(cm.index)), cm.index)
        ax.set(xlabel="predicted genre", ylabel="true genre", title=f"{name}: {title}")
    fig.colorbar(im, ax=axes[0].tolist(), label="share of the true genre's tracks", shrink=0.8)
    return fig


# --------------------------------------------------------------------------------------------
# notebook 04: preprocessor cuts
# --------------------------------------------------------------------------------------------
def _rows(mapping: Mapping) -> dict[str, Mapping]:
    """``{cut: P}`` -> ``{"": {cut: P}}``; ``{row: {cut: P}}`` unchanged."""
    first = next(iter(mapping.values()), None)
    return dict(mapping) if isinstance(first, Mapping) else {"": mapping}


def plot_projections(projections: Mapping, labels: Sequence[str] | Mapping[str, Sequence[str]], *, title: str = "PCA"):
    """Scatters of 2-D projections ``[shape=(n, 2)]``, coloured by label: one per cut.

    ``projections`` is ``{cut: P}`` (one row) or ``{row name: {cut: P}}`` (one row each, e.g.
    per spectrogram configuration); ``labels`` one sequence for all rows or one per row.
    """
    plt = _plt()
    rows = _rows(projections)
    n_rows, n_cols = len(rows), max(len(r) for r in rows.values())
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.9 * n_cols + 1.2, 3.7 * n_rows), constrained_layout=True, squeeze=False
    )
    cmap = plt.get_cmap("tab10")
    classes: list[str] = []
    for r, (row, cuts) in enumerate(rows.items()):
        lab = np.asarray(labels[row] if isinstance(labels, Mapping) else labels)
        classes = list(dict.fromkeys([*classes, *lab]))
        for c, (name, P) in enumerate(cuts.items()):
            ax = axes[r][c]
            for i, cls in enumerate(classes):
                m = lab == cls
                if m.any():
                    ax.scatter(P[m, 0], P[m, 1], s=5, alpha=0.55, color=cmap(i % 10), label=cls)
            ax.set(title=f"{row}: {name}" if row else name, xlabel=f"{title} 1 (a.u.)", ylabel=f"{title} 2 (a.u.)")
        for c in range(len(cuts), n_cols):
            axes[r][c].set_axis_off()
    handles = [plt.Line2D([], [], ls="", marker="o", color=cmap(i % 10), label=c) for i, c in enumerate(classes)]
    fig.legend(handles=handles, fontsize=8, loc="outside right center")
    return fig


def plot_cut_comparison(table: pd.DataFrame):
    """Bars of probe accuracies per cut (left) and time per fragment (right).

    ``table`` indexed by cut, or by (config, cut) for one row of panels per configuration,
    with ``{target}_{probe}_accuracy`` columns, optional ``{target}_chance`` columns (drawn as
    horizontal lines), ``features`` and ``ms_per_fragment``.
    """
    plt = _plt()
    parts = (
        {str(k): table.xs(k, level=0) for k in table.index.unique(level=0)}
        if isinstance(table.index, pd.MultiIndex)
        else {"": table}
    )
    acc_cols = [c for c in table.columns if c.endswith("accuracy")]
    fig, axes = plt.subplots(
        len(parts),
        2,
        figsize=(13, 4.0 * len(parts)),
        constrained_layout=True,
        gridspec_kw={"width_ratios": [2.3, 1]},
        squeeze=False,
    )
    for r, (name, part) in enumerate(parts.items()):
        ax, cost = axes[r]
        x = np.arange(len(part))
        width = 0.8 / max(len(acc_cols), 1)
        for i, col in enumerate(acc_cols):
            ax.bar(
                x + (i - (len(acc_cols) - 1) / 2) * width,
                part[col],
                width,
                color=f"C{i}",
                label=col.replace("_accuracy", "").replace("_", " "),
            )
        for j, col in enumerate(c for c in part.columns if c.endswith("_chance")):
            ax.axhline(
                float(part[col].iloc[0]), color="k", ls=(":", "-.", "--")[j % 3], lw=1.2, label=col.replace("_", " ")
            )
        ax.set_xticks(x, [f"{c}\n({int(f)} features)" for c, f in zip(part.index, part["features"])])
        prefix = f"{name} input: " if name else ""
        ax.set(
            ylabel="accuracy, held-out artists",
            ylim=(0, 1.0),
            title=prefix + "how well each cut separates genres and sub-styles",
        )
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
        cost.bar(x, part["ms_per_fragment"], color="grey")
        cost.set_xticks(x, list(part.index), rotation=30, ha="right")
        cost.set(xlabel="cut", ylabel="ms per fragment (CPU, batch 256)", title=prefix + "preprocessor cost")
    return fig
