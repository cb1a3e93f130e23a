"""Notebook 04 at smoke size: every cut of both genre CNNs embedded, sized and probed on held-out artists."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.notebooks

CUT_SIZES = {"pool1": 30 * 256, "pool2": 128 * 14, "dense1024": 1024, "dense128": 128}
CONFIGS = {"thesis", "corrected"}


@pytest.fixture(scope="module")
def nb04(notebook_run):
    return notebook_run("04")


def test_cut_sizes(nb04):
    _, rec, _ = nb04
    assert rec["features"] == CUT_SIZES


def test_probe_numbers(nb04):
    _, rec, _ = nb04
    for key in ("genre_knn", "genre_linear", "substyle_knn", "substyle_linear", "ms_per_fragment"):
        assert set(rec[key]) == CONFIGS, key
        for cfg in CONFIGS:
            assert set(rec[key][cfg]) == set(CUT_SIZES), (key, cfg)
    for key in ("genre_knn", "genre_linear", "substyle_knn", "substyle_linear"):
        assert all(0.0 <= v <= 1.0 for per in rec[key].values() for v in per.values()), key
    assert all(v > 0 for per in rec["ms_per_fragment"].values() for v in per.values())
    # 9 genres / 18 sub-styles: the largest class' share is small
    assert 0 < rec["substyle_chance"] <= rec["genre_chance"] < 0.5
    assert rec["n_fragments"] > rec["n_test_tracks"] > 0


def test_chosen_cut_follows_the_rule(nb04):
    """The chosen cut is <= 2048 wide and has the best mean sub-style probe among those."""
    _, rec, _ = nb04
    for cfg in CONFIGS:
        small = [c for c, f in CUT_SIZES.items() if f <= 2048]
        score = {c: (rec["substyle_knn"][cfg][c] + rec["substyle_linear"][cfg][c]) / 2 for c in small}
        assert rec["chosen_cut"][cfg] in small
        assert score[rec["chosen_cut"][cfg]] == pytest.approx(max(score.values()), abs=1e-6)


def test_figures_written(nb04):
    _, _, figures = nb04
    for name in ("nb04-embedding-projection", "nb04-cut-comparison"):
        assert (figures / f"{name}.png").stat().st_size > 10_000, name
