"""Choosing a pipeline on development users and checking it on report users (notebook 08).

* :func:`choose` -- the per-user recommenders with the best mean score on the development
  users: the best of all, and the best that uses no musicnn features (a genre-CNN pipeline).
* :func:`targets` -- for each chosen pipeline, its report score and the four gaps the
  benchmark asks of it: (a) to the MFCC centroid plus a margin, (b) to the centroid in its own
  features, (c) its worst group (soundtrack), (d) to the musicnn tag-probability centroid.

Both read the tables :func:`melrec_lib.recsys.benchmark.summarize` and
:func:`melrec_lib.recsys.benchmark.by_group` return; neither trains or scores anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from melrec_lib.errors import ParameterError
from melrec_lib.recsys.benchmark import parse_method

__all__ = ["Choice", "choose", "centroid_of", "targets", "TARGET_COLUMNS"]

#: The columns of :func:`targets` after ``pipeline`` (the names notebook 08 records).
TARGET_COLUMNS = (
    "roc_auc",
    "a: gap to MFCC + 0.05",
    "b: gap to its centroid",
    "c: worst soundtrack",
    "d: gap to musicnn tags",
)


@dataclass(frozen=True)
class Choice:
    """What :func:`choose` found.

    Attributes
    ----------
    best : str
        The pipeline with the highest score.
    best_genre_cnn : str
        The pipeline with the highest score among those without ``exclude`` in their name.
    scores : pd.Series
        The score of every method of the summary's protocol (index: method).
    """

    best: str
    best_genre_cnn: str
    scores: pd.Series

    @property
    def chosen(self) -> list[str]:
        """``[best, best_genre_cnn]`` without repeats (one entry when they are the same)."""
        return list(dict.fromkeys([self.best, self.best_genre_cnn]))


def _scores(summary: pd.DataFrame, protocol: str, metric: str) -> pd.Series:
    for col in ("protocol", "method", metric):
        if col not in summary.columns:
            raise ParameterError(f"the summary has no column {col!r}")
    rows = summary[summary["protocol"] == protocol]
    if rows.empty:
        raise ParameterError(f"the summary has no row of protocol {protocol!r}")
    return rows.set_index("method")[metric]


def choose(
    summary: pd.DataFrame,
    methods: Sequence[str],
    *,
    protocol: str = "similar",
    metric: str = "roc_auc",
    exclude: str = "musicnn",
) -> Choice:
    """The per-user recommenders among ``methods`` with the best mean ``metric`` of ``protocol``.

    Parameters
    ----------
    summary : pd.DataFrame
        ``protocol, method, <metric>`` (:func:`melrec_lib.recsys.benchmark.summarize` of the
        development users).
    methods : sequence of str
        The candidates; only those starting with ``recommender`` (what ``melrec recommend``
        can run) compete, in the given order (a tie goes to the first).
    protocol, metric : str
        Which rows and which column decide.
    exclude : str
        ``best_genre_cnn`` is the best of the pipelines whose name does not contain it.

    Returns
    -------
    Choice

    Raises
    ------
    ParameterError
        A missing column or protocol, a competing method missing from the summary, no
        recommender among ``methods``, or none without ``exclude``.
    """
    scores = _scores(summary, protocol, metric)
    pipelines = list(dict.fromkeys(m for m in methods if m.startswith("recommender")))
    if not pipelines:
        raise ParameterError("no per-user recommender ('recommender...') among the methods")
    missing = [m for m in pipelines if m not in scores.index]
    if missing:
        raise ParameterError(f"methods not in the {protocol} summary: {missing}")
    own = [m for m in pipelines if exclude not in m]
    if not own:
        raise ParameterError(f"every recommender among the methods contains {exclude!r}")
    return Choice(best=scores.loc[pipelines].idxmax(), best_genre_cnn=scores.loc[own].idxmax(), scores=scores)


def centroid_of(method: str) -> str:
    """The centroid method in the same features as ``method``.

    >>> centroid_of("recommender-corrected-small@corrected/pool2+mfcc")
    'centroid@corrected/pool2+mfcc'
    """
    return "centroid@" + parse_method(method)["source"]


def targets(
    summary: pd.DataFrame,
    per_group: pd.DataFrame,
    pipelines: Sequence[str],
    *,
    protocol: str = "similar",
    baseline: str = "centroid@mfcc",
    margin: float = 0.05,
    stretch: str = "centroid@musicnn-msd/taggram",
) -> pd.DataFrame:
    """The benchmark's targets for each pipeline, as measured gaps (ROC-AUC of ``protocol``).

    Parameters
    ----------
    summary : pd.DataFrame
        ``protocol, method, roc_auc`` (the report users' summary).
    per_group : pd.DataFrame
        ``group, method, roc_auc`` (:func:`melrec_lib.recsys.benchmark.by_group`).
    pipelines : sequence of str
        One row each, in order, repeats dropped.
    baseline, margin : target (a) is ``roc_auc - roc_auc[baseline] - margin`` (>= 0: met).
    stretch : target (d) is ``roc_auc - roc_auc[stretch]``.

    Returns
    -------
    pd.DataFrame
        ``pipeline`` and :data:`TARGET_COLUMNS`: ``roc_auc``; (a); (b) ``roc_auc`` minus that of
        :func:`centroid_of` the pipeline; (c) the lowest per-group ROC-AUC of the pipeline
        (NaN if it has no group rows); (d).

    Raises
    ------
    ParameterError
        A method the gaps need is missing from the summary.
    """
    auc = _scores(summary, protocol, "roc_auc")
    rows = []
    for m in dict.fromkeys(pipelines):
        needed = [m, baseline, centroid_of(m), stretch]
        missing = [n for n in needed if n not in auc.index]
        if missing:
            raise ParameterError(f"targets of {m!r} need {missing} in the {protocol} summary")
        groups = per_group.loc[per_group["method"] == m, "roc_auc"]
        rows.append(
            dict(
                zip(
                    ("pipeline",) + TARGET_COLUMNS,
                    (
                        m,
                        auc[m],
                        auc[m] - auc[baseline] - margin,
                        auc[m] - auc[centroid_of(m)],
                        groups.min(),
                        auc[m] - auc[stretch],
                    ),
                )
            )
        )
    return pd.DataFrame(rows, columns=("pipeline",) + TARGET_COLUMNS)
