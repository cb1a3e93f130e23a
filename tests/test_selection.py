"""recsys.selection: notebook 08's choice of pipelines and its targets, on hand-made tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from melrec_lib.errors import ParameterError
from melrec_lib.recsys import selection

A = "recommender-corrected-small@corrected/dense1024"
B = "recommender-corrected-small@musicnn-msd/penultimate+mfcc"
C = "recommender-corrected@corrected/pool2+mfcc"


@pytest.fixture
def summary():
    rows = [
        # protocol, method, roc_auc: the diverse rows would crown C; the similar ones decide
        ("similar", A, 0.70),
        ("similar", B, 0.90),
        ("similar", C, 0.75),
        ("similar", "centroid@mfcc", 0.60),
        ("similar", "centroid@corrected/dense1024", 0.72),
        ("similar", "centroid@musicnn-msd/penultimate+mfcc", 0.80),
        ("similar", "centroid@musicnn-msd/taggram", 0.85),
        ("similar", "centroid@corrected/pool2+mfcc", 0.70),
        ("diverse", A, 0.50),
        ("diverse", B, 0.55),
        ("diverse", C, 0.99),
    ]
    return pd.DataFrame(rows, columns=["protocol", "method", "roc_auc"])


def test_choose_takes_the_best_and_the_best_without_musicnn(summary):
    choice = selection.choose(summary, [A, "centroid@mfcc", B, C])
    assert choice.best == B  # 0.90, not the centroid (not a recommender) nor C's diverse 0.99
    assert choice.best_genre_cnn == C  # 0.75 > A's 0.70 once B (musicnn) is out
    assert choice.chosen == [B, C]
    assert choice.scores[A] == 0.70


def test_choose_lists_one_pipeline_once_and_breaks_ties_by_order(summary):
    only = selection.choose(summary, [A])
    assert only.best == only.best_genre_cnn == A and only.chosen == [A]
    tied = summary.assign(roc_auc=0.5)
    assert selection.choose(tied, [C, A]).best == C and selection.choose(tied, [A, C]).best == A


def test_choose_refuses_what_it_cannot_decide(summary):
    with pytest.raises(ParameterError, match="no per-user recommender"):
        selection.choose(summary, ["centroid@mfcc"])
    with pytest.raises(ParameterError, match="not in the similar summary"):
        selection.choose(summary, [A, "recommender-thesis@thesis/pool2"])
    with pytest.raises(ParameterError, match="contains 'musicnn'"):
        selection.choose(summary, [B])
    with pytest.raises(ParameterError, match="no row of protocol"):
        selection.choose(summary, [A], protocol="other")


def test_targets_are_the_gaps_computed_by_hand(summary):
    per_group = pd.DataFrame(
        [("ost-1", A, 0.9), ("ost-2", A, 0.55), ("ost-1", B, 0.8), ("ost-1", "centroid@mfcc", 0.1)],
        columns=["group", "method", "roc_auc"],
    )
    table = selection.targets(summary, per_group, [A, B, A])
    assert list(table["pipeline"]) == [A, B]  # repeats dropped, order kept
    assert list(table.columns) == ["pipeline", *selection.TARGET_COLUMNS]
    a, b = (table.iloc[i] for i in range(2))
    assert a["roc_auc"] == 0.70
    assert a["a: gap to MFCC + 0.05"] == pytest.approx(0.70 - 0.60 - 0.05)
    assert a["b: gap to its centroid"] == pytest.approx(0.70 - 0.72)  # centroid@corrected/dense1024
    assert a["c: worst soundtrack"] == 0.55
    assert a["d: gap to musicnn tags"] == pytest.approx(0.70 - 0.85)
    assert b["b: gap to its centroid"] == pytest.approx(0.90 - 0.80)  # the fused source's centroid
    assert b["c: worst soundtrack"] == 0.8


def test_targets_need_every_reference(summary):
    no_groups = pd.DataFrame(columns=["group", "method", "roc_auc"])
    assert math.isnan(selection.targets(summary, no_groups, [C])["c: worst soundtrack"].iloc[0])
    with pytest.raises(ParameterError, match="centroid@mfcc"):
        selection.targets(summary[summary["method"] != "centroid@mfcc"], no_groups, [A])


def test_centroid_of_keeps_the_whole_source():
    assert selection.centroid_of(C) == "centroid@corrected/pool2+mfcc"
    with pytest.raises(ParameterError):
        selection.centroid_of("random")
