"""melrec_lib.report: README's result tables come from the files of the last run, and match them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from melrec_lib import paths, report
from melrec_lib.errors import DatasetError


def _records():
    return {
        "03-genre-cnn": {
            "fragment_accuracy": {"thesis": 0.5, "corrected": 0.9},
            "track_accuracy": {"thesis": 0.6, "corrected": 1.0},
            "val_fragment_accuracy": {"thesis": 0.4, "corrected": 0.8},
            "epochs_run": {"thesis": 3, "corrected": 4},
            "train_fragments": {"thesis": 10, "corrected": 10},
        },
        "04-preprocessor-truncation": {
            "features": {"dense128": 128, "pool2": 1792},
            "chosen_cut": {"thesis": "dense128"},
            "genre_chance": 0.125,
            "substyle_chance": 0.0625,
            "genre_knn": {"thesis": {"pool2": 0.5, "dense128": 0.25}},
            "genre_linear": {"thesis": {"pool2": 0.5, "dense128": 0.75}},
            "substyle_knn": {"thesis": {"pool2": 0.125, "dense128": 0.5}},
            "substyle_linear": {"thesis": {"pool2": 0.25, "dense128": 1.0}},
        },
        "05-playlist-similar": {
            "max_score": 0.03125,
            "max_score_corrected": 0.5,
            "metrics_thesis": {"roc_auc": 0.25},
            "metrics_corrected": {"roc_auc": 0.75},
        },
        "06-playlist-diverse": {
            "mean_training_score": 0.0025,
            "mean_training_score_corrected": 0.99,
            "metrics_thesis": {"roc_auc": 0.5},
            "metrics_corrected": {},
        },
    }


def test_tables_carry_the_recorded_numbers(tmp_path):
    (tmp_path / report.RECORDS).write_text(json.dumps(_records()))
    pd.DataFrame(
        [
            {
                "protocol": p,
                "method": "random",
                "n_users": 4,
                "roc_auc": 0.5,
                "roc_auc_lo": 0.4,
                "roc_auc_hi": 0.6,
                "precision@10": 0.125,
            }
            for p in ("similar", "diverse")
        ]
    ).to_csv(tmp_path / "nb07-summary.csv", index=False)
    pd.DataFrame({"notebook": ["01-a", "02-b"], "seconds": [10.4, 20.2]}).to_csv(
        tmp_path / "notebook-timings.csv", index=False
    )
    b = report.blocks(tmp_path)
    assert set(b) == {"nb03", "nb04", "nb05-06", "nb07", "timings"}  # no nb08 files: no nb08 blocks
    pd.DataFrame(
        [
            {
                "split": sp,
                "protocol": "similar",
                "method": "m",
                "n_users": n,
                "roc_auc": a,
                "roc_auc_lo": a,
                "roc_auc_hi": a,
                "precision@10": 0.5,
            }
            for sp, n, a in (("dev", 2, 0.9), ("report", 5, 0.7))
        ]
    ).to_csv(tmp_path / "nb08-summary.csv", index=False)
    pd.DataFrame({"group": ["asc", "colobot"], "m": [0.5, 0.875]}).set_index("group").to_csv(
        tmp_path / "nb08-per-soundtrack.csv"
    )
    b8 = report.blocks(tmp_path)
    assert "| m | 0.70 [0.70, 0.70] / 0.50 (n = 5) |" in b8["nb08"]  # the report users only
    assert "| colobot | 0.88 |" in b8["nb08-per-soundtrack"]
    assert "| thesis | 0.500 | 0.600 | 0.400 | 3 | 10 |" in b["nb03"]
    assert "| thesis | **dense128** | 128 | 0.25 / 0.75 | 0.50 / 1.00 |" in b["nb04"]
    assert "| thesis | pool2 | 1792 |" in b["nb04"]
    assert b["nb04"].index("pool2") < b["nb04"].index("dense128")  # rows in the order of models.CUTS
    assert "genre 0.125, sub-style 0.062" in b["nb04"]
    assert "| corrected | 0.5000 | 0.75 | 0.9900 | nan |" in b["nb05-06"]
    assert "| random | 0.50 [0.40, 0.60] / 0.12 (n = 4) | 0.50 [0.40, 0.60] / 0.12 (n = 4) |" in b["nb07"]
    assert b["timings"].splitlines()[-1] == "| total | 31 |"


def test_render_replaces_only_marked_blocks():
    text = "intro\n<!-- begin:nb03 -->\nold\n<!-- end:nb03 -->\nmiddle\n<!-- begin:nb09 -->\nkeep\n<!-- end:nb09 -->\n"
    out = report.render(text, {"nb03": "new\n"})
    assert (
        out
        == "intro\n<!-- begin:nb03 -->\nnew\n<!-- end:nb03 -->\nmiddle\n<!-- begin:nb09 -->\nkeep\n<!-- end:nb09 -->\n"
    )


def test_missing_records_say_how_to_make_them(tmp_path):
    with pytest.raises(DatasetError, match="make reproduce"):
        report.load_records(tmp_path)


def test_readme_tables_match_the_committed_files():
    """Every number in README's result blocks is the one the committed run files hold."""
    text = (paths.ROOT / "README.md").read_text(encoding="utf-8")
    tables = report.blocks()
    assert tables, "figures/ holds no run files"
    for name in tables:
        assert f"<!-- begin:{name} -->" in text, f"README has no block {name}"
    assert report.render(text, tables) == text, "README is stale: run `python tools/update_readme.py`"
