"""Figures of the recommender notebooks (05-07): rankings, Figure 5.1, training curves, evaluation.

Every function returns a matplotlib ``Figure`` (save it with :func:`melrec_lib.plots.savefig`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from melrec_lib.errors import ParameterError

RELATION_COLORS = {"same sub-style": "#1b9e77", "same genre": "#d95f02", "other genre": "#7570b3"}


def _plt():
    import matplotlib.pyplot as plt

    return plt


def ranking_bars(
    ranking: pd.DataFrame, *, max_score: float | None = None, title: str = "", label_column: str = "track_id"
):
    """Horizontal bars of the ranked test tracks' scores, coloured by relation to the playlist.

    Parameters
    ----------
    ranking : pd.DataFrame
        ``rank, score, relation`` and ``label_column`` (as :class:`melrec_lib.recsys.experiments.ExperimentResult`).
    max_score : float, optional
        Drawn as a dashed line (the thesis' "maximum score").
    """
    plt = _plt()
    if len(ranking) == 0:
        raise ParameterError("ranking is empty")
    r = ranking.sort_values("rank")
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(r) + 1.4))
    colors = [RELATION_COLORS.get(x, "grey") for x in r.get("relation", ["other genre"] * len(r))]
    y = np.arange(len(r))[::-1]
    ax.barh(y, r["score"], color=colors)
    labels = [
        f"{'+' if liked else '-'} {lab}" if "liked" in r else str(lab)
        for lab, liked in zip(r[label_column], r.get("liked", [None] * len(r)))
    ]
    ax.set_yticks(y, labels, fontsize=8)
    if max_score is not None:
        ax.axvline(max_score, ls="--", color="k", lw=1, label=f"mean score of training positives = {max_score:.3f}")
    for rel, c in RELATION_COLORS.items():
        if "relation" in r and (r["relation"] == rel).any():
            ax.barh([np.nan], [np.nan], color=c, label=rel)
    ax.set_xlabel("track score (mean of its 8 s fragments' scores)")
    ax.set_xlim(0, max(1e-3, float(r["score"].max()), max_score or 0) * 1.08)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.6 / max(len(r), 4) - 0.06), ncol=2, frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def within_percent_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, n_tracks: int, title: str = ""):
    """Figure 5.1: number of test tracks within x % of the maximum score, against x.

    Parameters
    ----------
    curves : dict
        ``label -> (percents, counts)``; one step curve per label (e.g. per relation or mode).
    n_tracks : int
        Total test tracks (drawn as a dotted ceiling).
    """
    plt = _plt()
    if not curves:
        raise ParameterError("no curves to draw")
    fig, ax = plt.subplots(figsize=(7.6, 4))
    styles = ["-", "--", "-.", ":"]
    for i, (label, (x, n)) in enumerate(curves.items()):
        # decreasing widths and distinct dashes: curves that coincide stay visible
        ax.step(
            x,
            n,
            where="post",
            label=label,
            color=RELATION_COLORS.get(label, "#444444"),
            lw=3.5 - 0.7 * (i % 4),
            ls=styles[i % 4],
        )
    ax.axhline(n_tracks, ls=":", color="grey", lw=1)
    ax.set_xlabel("x, % below the maximum score (mean score of the training positives)")
    ax.set_ylabel("number of test tracks within x %")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, n_tracks + 0.5)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def training_curves(histories: dict[str, np.ndarray], *, ylabel: str = "training loss (per epoch)", title: str = ""):
    """Loss per epoch of one or more recommender fits (one panel per entry: losses differ in scale)."""
    plt = _plt()
    if not histories:
        raise ParameterError("no histories to draw")
    fig, axes = plt.subplots(1, len(histories), figsize=(4.2 * len(histories), 3.2), squeeze=False)
    for ax, (label, h) in zip(axes[0], histories.items()):
        h = np.asarray(h)
        ax.plot(np.arange(1, len(h) + 1), h, lw=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def score_distributions(scores: dict[str, tuple[np.ndarray, np.ndarray]], *, title: str = ""):
    """Histograms of fragment scores of positives vs negatives, one panel per mode.

    Parameters
    ----------
    scores : dict
        ``label -> (positive_scores, negative_scores)``.
    """
    plt = _plt()
    if not scores:
        raise ParameterError("no scores to draw")
    fig, axes = plt.subplots(1, len(scores), figsize=(4.2 * len(scores), 3.2), squeeze=False)
    bins = np.linspace(0, 1, 41)
    for ax, (label, (pos, neg)) in zip(axes[0], scores.items()):
        ax.hist(np.asarray(neg), bins=bins, alpha=0.6, label="not liked", color="#7570b3", density=True)
        ax.hist(np.asarray(pos), bins=bins, alpha=0.6, label="liked", color="#1b9e77", density=True)
        ax.set_xlabel("fragment score (network output)")
        ax.set_ylabel("density")
        ax.set_title(label, fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


#: Axis names of the ranking metrics (they are fractions, without unit).
_METRIC_NAMES = {"roc_auc": "ROC-AUC", "precision@10": "precision@10", "ndcg@10": "nDCG@10"}


def evaluation_figure(
    summary: pd.DataFrame,
    *,
    metrics: Sequence[str] = ("roc_auc", "precision@10", "ndcg@10"),
    chance: dict[str, float] | None = None,
    title: str = "",
):
    """Mean and 95 % interval of each metric per method, one panel per metric, protocols side by side.

    Each method's label carries its number of users (``n_users``; "10/30" where the protocols differ).

    Parameters
    ----------
    summary : pd.DataFrame
        From :func:`melrec_lib.recsys.benchmark.summarize`.
    chance : dict, optional
        ``metric -> value`` drawn as a dotted line (ROC-AUC 0.5).
    """
    plt = _plt()
    if len(summary) == 0:
        raise ParameterError("summary is empty")
    methods = list(dict.fromkeys(summary["method"]))
    protocols = list(dict.fromkeys(summary["protocol"]))
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(4.3 * len(metrics), 0.38 * len(methods) + 1.8), sharey=True, squeeze=False
    )
    offsets = np.linspace(-0.18, 0.18, len(protocols)) if len(protocols) > 1 else [0.0]
    colors = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"]
    y = np.arange(len(methods))[::-1]
    for ax, metric in zip(axes[0], metrics):
        for p, off, c in zip(protocols, offsets, colors):
            s = summary[summary["protocol"] == p].set_index("method").reindex(methods)
            err = np.vstack([s[metric] - s[f"{metric}_lo"], s[f"{metric}_hi"] - s[metric]])
            ax.errorbar(s[metric], y + off, xerr=err, fmt="o", ms=4, capsize=2, color=c, label=f"protocol: {p}")
        if chance and metric in chance:
            ax.axvline(chance[metric], ls=":", color="grey", lw=1)
        ax.set_xlabel(_METRIC_NAMES.get(metric, metric))
        ax.set_xlim(-0.02, 1.02)
        ax.grid(alpha=0.3, axis="x")
    n_users = summary.groupby("method", sort=False)["n_users"].agg(lambda n: "/".join(map(str, sorted(set(n)))))
    axes[0][0].set_yticks(y, [f"{m} (n = {n_users[m]})" for m in methods], fontsize=9)
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle((f"{title}\n" if title else "") + "mean and 95 % bootstrap interval over users", fontsize=10)
    fig.tight_layout()
    return fig
