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


def _nb07_summary(path, roc_auc=0.5):
    pd.DataFrame(
        [
            {
                "protocol": p,
                "method": "random",
                "n_users": 4,
                "roc_auc": roc_auc,
                "roc_auc_lo": 0.4,
                "roc_auc_hi": 0.6,
                "precision@10": 0.125,
            }
            for p in ("similar", "diverse")
        ]
    ).to_csv(path / "nb07-summary.csv", index=False)


def test_tables_carry_the_recorded_numbers(tmp_path):
    (tmp_path / report.RECORDS).write_text(json.dumps(_records()))
    _nb07_summary(tmp_path)
    pd.DataFrame({"notebook": ["01-a", "02-b"], "seconds": [10.4, 20.2]}).to_csv(
        tmp_path / "notebook-timings.csv", index=False
    )
    b = report.blocks(tmp_path)
    assert set(b) == {"nb03", "nb04", "nb05-06", "nb07", "nb07-headline", "timings"}  # no nb08 files: no nb08 blocks
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
    assert b["nb04"].index("pool2") < b["nb04"].index("dense128")  # rows in the order of architecture.CUTS
    assert "genre 0.125, sub-style 0.062" in b["nb04"]
    assert "| corrected | 0.5000 | 0.75 | 0.9900 | nan |" in b["nb05-06"]
    assert "| random | 0.50 [0.40, 0.60] / 0.12 (n = 4) | 0.50 [0.40, 0.60] / 0.12 (n = 4) |" in b["nb07"]
    assert b["timings"].splitlines()[-1] == "| total | 31 |"


def test_tables_carry_the_seed_spread(tmp_path):
    # make seeds' file: seed 0 is the recorded run; the tables show mean ± sample sd over seeds
    import copy

    seeds = []
    for i, (acc, epochs, auc) in enumerate(((0.5, 3, 0.5), (0.6, 5, 0.6), (0.7, 7, 0.7))):
        rec = copy.deepcopy(_records())
        rec["03-genre-cnn"]["fragment_accuracy"]["thesis"] = acc
        rec["03-genre-cnn"]["epochs_run"]["thesis"] = epochs
        rec["04-preprocessor-truncation"]["genre_linear"]["thesis"]["pool2"] = acc
        rec["04-preprocessor-truncation"]["chosen_cut"]["thesis"] = ["dense128", "pool2", "dense128"][i]
        rec["07-evaluation"] = {"roc_auc": {"similar/random": auc, "diverse/random": 0.5}}
        seeds.append(rec)
    spread = {"seeds": [0, 1, 2], "records": {nb: [r[nb] for r in seeds] for nb in seeds[0]}}
    (tmp_path / report.RECORDS).write_text(json.dumps(_records()))
    (tmp_path / report.SPREAD).write_text(json.dumps(spread))
    _nb07_summary(tmp_path)
    b = report.blocks(tmp_path)
    assert "| thesis | 0.600 ± 0.100 (0.500) | 0.600 ± 0.000 (0.600) |" in b["nb03"]
    assert "| 5.0 ± 2.0 (3) | 10 |" in b["nb03"]
    assert "over seeds 0, 1, 2" in b["nb03"]
    assert "| thesis | pool2 | 1792 | 0.50 ± 0.00 / 0.60 ± 0.10 |" in b["nb04"]
    assert "thesis dense128, pool2" in b["nb04"]  # the cuts the seeds chose
    assert "| random | 0.50 [0.40, 0.60] / 0.12 (n = 4) | 0.600 ± 0.100 | " in b["nb07"]
    assert "| 0.500 ± 0.000 |" in b["nb07"]
    assert report.seed_values(spread, "03-genre-cnn", "fragment_accuracy", "thesis") == [0.5, 0.6, 0.7]
    assert report.seed_values(spread, "03-genre-cnn", "no-such-key") is None
    assert report.seed_values(None, "03-genre-cnn", "fragment_accuracy", "thesis") is None


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


def test_update_rewrites_every_target_and_refuses_unfilled_blocks(tmp_path):
    figures = tmp_path / "figures"
    figures.mkdir()
    _nb07_summary(figures, roc_auc=0.75)
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# r\n<!-- begin:nb07 -->\nstale\n<!-- end:nb07 -->\n")
    (tmp_path / "docs" / "results.md").write_text("prose only\n")
    targets = ("README.md", "docs/results.md")
    assert report.update(tmp_path, figures, targets=targets, write=False) == {
        "README.md": True,
        "docs/results.md": False,
    }
    assert "stale" in (tmp_path / "README.md").read_text()  # --check writes nothing
    assert report.update(tmp_path, figures, targets=targets) == {"README.md": True, "docs/results.md": False}
    assert "| random | 0.75 [0.40, 0.60] / 0.12 (n = 4) |" in (tmp_path / "README.md").read_text()
    assert report.update(tmp_path, figures, targets=targets, write=False) == {
        "README.md": False,
        "docs/results.md": False,
    }
    (tmp_path / "docs" / "results.md").write_text("<!-- begin:nb7 -->\ntyped by hand\n<!-- end:nb7 -->\n")
    with pytest.raises(DatasetError, match="nb7"):  # a misspelt block would never be refreshed
        report.update(tmp_path, figures, targets=targets)
    with pytest.raises(DatasetError, match="no such file"):
        report.update(tmp_path, figures, targets=("docs/performance.md",))


def test_markers_lists_the_blocks_in_order():
    text = "<!-- begin:b -->\nx\n<!-- end:b -->\n<!-- begin:a -->\n<!-- end:a -->\n<!-- begin:c -->\nunclosed\n"
    assert report.markers(text) == ["b", "a"]


def test_documents_match_the_committed_files():
    """Every number in the generated blocks of README and docs/ is the one the committed run files
    hold, every block is filled by a run file, and every table the files make is shown somewhere."""
    tables = report.blocks()
    assert tables, "figures/ holds no run files"
    shown = set()
    for target in report.TARGETS:
        text = (paths.ROOT / target).read_text(encoding="utf-8")
        shown |= set(report.markers(text))
        assert set(report.markers(text)) <= set(tables), f"{target} marks a block no run file fills"
        assert report.render(text, tables) == text, f"{target} is stale: run `python tools/update_readme.py`"
    assert shown == set(tables), f"tables shown nowhere: {sorted(set(tables) - shown)}"

    def marked(target):
        return set(report.markers((paths.ROOT / target).read_text(encoding="utf-8")))

    # README is the manual: the thesis' tables and the headlines; docs/ the full tables
    readme = {"nb03", "nb05-06", "nb07-headline", "nb08-headline", "nb08-findings", "nb09-headline", "library-speed"}
    assert readme <= marked("README.md"), f"README lost {sorted(readme - marked('README.md'))}"
    results = {"nb03", "nb04", "nb05-06", "nb07", "nb08", "nb08-per-soundtrack", "nb08-verdict", "nb08-targets"}
    assert results <= marked("docs/results.md"), f"docs/results.md lost {sorted(results - marked('docs/results.md'))}"
    assert "nb09" in marked("docs/distillation.md")


def test_headline_methods_are_all_in_the_committed_files():
    """A renamed or dropped method would silently leave README's headline: every listed one is there."""
    for csv, headline in (("nb07-summary.csv", report.NB07_HEADLINE), ("nb08-summary.csv", report.NB08_HEADLINE)):
        shown = report.headline_methods(paths.FIGURES / csv, headline)
        assert shown == list(headline), f"{csv} lacks {sorted(set(headline) - set(shown))}"
    chosen = report.load_records()["08-real-music"]["chosen"]["best"]
    assert f"| **{chosen}** |" in report.blocks()["nb08-headline"]  # the default, in bold


def test_headlines_keep_their_order_and_add_the_default(tmp_path):
    methods = ["z-extra", "recommender-thesis", "random", "chosen-one", "logreg", "musly-mean"]
    rows = [
        {
            "library": lib,
            "split": "report",
            "protocol": p,
            "method": m,
            "n_users": 3,
            "roc_auc": 0.5 + i / 16,
            "roc_auc_lo": 0.25,
            "roc_auc_hi": 0.75,
            "precision@10": 0.5,
        }
        for lib in ("development", "confirmation")
        for p in ("similar", "diverse")
        for i, m in enumerate(methods)
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "nb08-summary.csv", index=False)
    pd.DataFrame([r for r in rows if r["library"] == "development"]).drop(columns=["library", "split"]).to_csv(
        tmp_path / "nb07-summary.csv", index=False
    )
    (tmp_path / report.RECORDS).write_text(
        json.dumps({**_records(), "08-real-music": {"chosen": {"best": "chosen-one"}}})
    )
    # the listed methods the file holds, in the list's order, then the default; others left out
    assert report.headline_methods(tmp_path / "nb08-summary.csv", ("musly-mean", "random", "absent")) == [
        "musly-mean",
        "random",
    ]
    assert report.headline_methods(tmp_path / "nb08-summary.csv", ("random",), default="chosen-one") == [
        "random",
        "chosen-one",
    ]
    b = report.blocks(tmp_path)
    h7 = b["nb07-headline"].splitlines()
    assert [line.split(" | ")[0] for line in h7[2:5]] == ["| random", "| logreg", "| recommender-thesis"]
    assert "| random | 0.62 [0.25, 0.75] / 0.50 (n = 3) |" in b["nb07-headline"]
    assert "3 of the 6 methods of `figures/nb07-summary.csv`" in b["nb07-headline"]
    assert "z-extra" not in b["nb07-headline"] and "z-extra" in b["nb07"]
    h8 = b["nb08-headline"]
    assert h8.index("| random |") < h8.index("| musly-mean |") < h8.index("| **chosen-one** |")
    assert "| **chosen-one** | 0.69 [0.25, 0.75] | 0.69 [0.25, 0.75] |" in h8  # the default, added in bold
    assert "3 of the 6 methods of `figures/nb08-summary.csv`" in h8 and "In bold:" in h8


def test_nb08_two_libraries_verdict_and_targets_tables(tmp_path):
    rows = [
        {
            "library": lib,
            "split": sp,
            "protocol": p,
            "method": "m",
            "n_users": n,
            "roc_auc": a,
            "roc_auc_lo": a - 0.01,
            "roc_auc_hi": a + 0.01,
        }
        for lib, sp, n, a in (
            ("development", "dev", 24, 0.99),
            ("development", "report", 48, 0.9),
            ("confirmation", "report", 42, 0.8),
        )
        for p in ("similar", "diverse")
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "nb08-summary.csv", index=False)
    pd.DataFrame({"library": ["development", "confirmation"], "group": ["asc", "naev"], "m": [0.5, 0.875]}).to_csv(
        tmp_path / "nb08-per-soundtrack.csv", index=False
    )
    pd.DataFrame(
        [
            {
                "candidate": "b",
                "against": "a",
                "similar: difference": 0.02,
                "similar: lo": 0.01,
                "similar: hi": 0.03,
                "diverse: difference": -0.01,
                "diverse: lo": -0.02,
                "diverse: hi": 0.005,
                "wins in": "similar",
                "loses in": "",
                "replaces": True,
                "chosen": "b",
            }
        ]
    ).to_csv(tmp_path / "nb08-verdict.csv", index=False)
    pd.DataFrame(
        [
            ("2: default - best peer", "similar", 0.15, 0.1, True, "musly-mean"),
            ("2: default - best peer", "diverse", None, 0.1, None, "no peer measured"),
        ],
        columns=["target", "protocol", "value", "needed", "met", "detail"],
    ).to_csv(tmp_path / "nb08-targets.csv", index=False)
    b = report.blocks(tmp_path)
    head = "| method | development, similar (n = 48) | development, diverse (n = 48) | confirmation, similar (n = 42) |"
    assert b["nb08"].startswith(head)
    assert (
        "| m | 0.90 [0.89, 0.91] | 0.90 [0.89, 0.91] | 0.80 [0.79, 0.81] | 0.80 [0.79, 0.81] |" in b["nb08"]
    )  # report only
    assert "| confirmation | naev | 0.88 |" in b["nb08-per-soundtrack"]
    assert "| b | a | +0.020 [+0.010, +0.030] | -0.010 [-0.020, +0.005] | yes |" in b["nb08-verdict"]
    assert "Verdict: **b**." in b["nb08-verdict"]
    assert "| 2: default - best peer | similar | musly-mean | 0.150 | 0.10 | yes |" in b["nb08-targets"]
    assert "| 2: default - best peer | diverse | no peer measured |  | 0.10 | n/a |" in b["nb08-targets"]


def test_nb08_findings_are_read_from_the_run_files(tmp_path):
    rows = []
    for lib in ("development", "confirmation"):
        for p, base in (("similar", 0.80), ("diverse", 0.70)):
            for m, d in (("net", 0.05), ("centroid", 0.0), ("old", 0.02), ("musly-mean", -0.2)):
                rows.append((lib, "report", p, m, 10, base + d + (0.01 if lib == "development" else 0)))
    pd.DataFrame(rows, columns=["library", "split", "protocol", "method", "n_users", "roc_auc"]).assign(
        roc_auc_lo=0.0, roc_auc_hi=1.0
    ).to_csv(tmp_path / "nb08-summary.csv", index=False)
    pd.DataFrame(
        [
            ("2: default - best peer", "similar", 0.25, 0.1, True, "musly-mean"),
            ("2: default - best peer", "diverse", 0.25, 0.1, True, "musly-mean"),
            ("3: worst soundtrack", "similar", 0.4, 0.6, False, "naev"),
            ("4 (stretch): ROC-AUC", "similar", 0.85, 0.95, False, "net"),
        ],
        columns=["target", "protocol", "value", "needed", "met", "detail"],
    ).to_csv(tmp_path / "nb08-targets.csv", index=False)
    pd.DataFrame({"library": ["confirmation"], "group": ["naev"], "net": [0.4]}).to_csv(
        tmp_path / "nb08-per-soundtrack.csv", index=False
    )
    rec = {
        "chosen": {"best": "net"},
        "candidates": ["centroid", "net"],
        "pipelines": {"best": "old"},
        "report_seeds": [3],
    }
    text = report.real_music_findings({"08-real-music": rec}, tmp_path)
    assert "The rule chose `net`" in text and "(seeds 3)" in text
    assert "it scores 0.850 / 0.750" in text and "0.800 / 0.700 for `centroid`" in text
    assert "0.820 / 0.720 for the previous default `old`" in text and "0.600 / 0.500 for the best peer" in text
    assert "`naev` (confirmation library) at 0.400: the target of 0.60 is missed by 0.200" in text
    assert "The stretch target (0.95, similar) is missed by 0.100" in text
    assert "previous default scores 0.830 / 0.730 and the default 0.860 / 0.760" in text


def test_nb09_table_has_every_row_as_a_report_row(tmp_path):
    """Notebook 09's summary has no ``split`` column: every row is a report user's."""
    rows = [
        (p, m, 14 if lib == "confirmation" else 16, auc, auc - 0.05, auc + 0.05, lib)
        for lib in ("development", "confirmation")
        for p in ("similar", "diverse")
        for m, auc in (("centroid@distilled/dense1024", 0.78), ("centroid@musicnn-msd/penultimate", 0.85))
    ]
    cols = ["protocol", "method", "n_users", "roc_auc", "roc_auc_lo", "roc_auc_hi", "library"]
    pd.DataFrame(rows, columns=cols).to_csv(tmp_path / "nb09-summary.csv", index=False)
    table = report.blocks(tmp_path)["nb09"]
    assert "confirmation, similar (n = 14)" in table and "development, diverse (n = 16)" in table
    assert "| centroid@distilled/dense1024 | 0.78 [0.73, 0.83] | 0.78 [0.73, 0.83] |" in table


def test_nb09_headline_is_the_distilled_rows_and_the_teachers_centroid(tmp_path):
    methods = (
        ("centroid@corrected/dense1024", 0.70),
        ("centroid@distilled/dense1024", 0.78),
        ("centroid@musicnn-msd/penultimate", 0.85),
        ("recommender-corrected-small@distilled/dense1024", 0.80),
    )
    rows = [
        (p, m, 14, auc, auc - 0.05, auc + 0.05, lib)
        for lib in ("development", "confirmation")
        for p in ("similar", "diverse")
        for m, auc in methods
    ]
    cols = ["protocol", "method", "n_users", "roc_auc", "roc_auc_lo", "roc_auc_hi", "library"]
    pd.DataFrame(rows, columns=cols).to_csv(tmp_path / "nb09-summary.csv", index=False)
    head = report.blocks(tmp_path)["nb09-headline"]
    shown = [line.split(" | ")[0].lstrip("| ") for line in head.splitlines() if line.startswith("| ")][1:]
    assert shown == [
        "centroid@distilled/dense1024",
        "recommender-corrected-small@distilled/dense1024",
        "centroid@musicnn-msd/penultimate",
    ]
    assert "3 of the 4 methods of `figures/nb09-summary.csv`" in head


def _speed_run() -> dict:
    return {
        "date": "2026-12-06 11:19 UTC",
        "commit": "abc1234",
        "cpu": "Some CPU",
        "cores": 2,
        "load_start": "1.31 1.73 2.04",
        "library": {
            "tracks": 130,
            "hours": 11.30,
            "mean_minutes": 5.22,
            "formats": {".ogg": 97, ".opus": 30, ".mp3": 3},
        },
        "default_patches": 32,
        "sync_files": 127,
        "cold_peak_mib": 1242,
        "cold_tree_peak_mib": 1687,
        "musicnn_subset": {"tracks": 6, "audio_seconds": 1362.0},
        "memory": {
            "4": {"files": 4, "peak_mib": 843, "tree_peak_mib": 1207},
            "30": {"files": 4, "peak_mib": 831, "tree_peak_mib": 1196},
        },
        "warm_tracks": 500,
        "seconds": {
            "cold": 158.0,
            "warm": 7.7,
            "sync": 138.7,
            "bliss": 81.8,
            "musicnn": 36.2,
            "cold_patches_16": 77.3,
            "cold_patches_8": 49.0,
            "warm500": 5.8,
        },
    }


def test_speed_table_ratios_are_the_runs_rates():
    """Against bliss: bliss' seconds over melrec's (same files); against the original musicnn: the
    audio seconds per second of each (the extractor ran on a 22.7-minute subset)."""
    run = _speed_run()
    lines = report.speed_table(run).splitlines()
    default = next(line for line in lines if line.startswith("| cold, default budget (32 patches"))
    cells = [c.strip() for c in default.strip("|").split("|")]
    assert cells[1:] == [
        "158.0",
        f"{130 / 158.0:.2f}",
        f"{81.8 / 158.0:.2f}x",
        f"{(11.30 * 3600 / 158.0) / (1362.0 / 36.2):.1f}x",
    ]
    assert cells[3] == "0.52x" and cells[4] == "6.8x"
    # the other budgets follow, largest first; the sync is against bliss only
    order = [line.split("|")[1].strip() for line in lines if line.startswith("| cold")]
    assert order == ["cold, default budget (32 patches per track)", "cold, `--patches 16`", "cold, `--patches 8`"]
    sync = next(line for line in lines if "library sync alone (127 files)" in line)
    assert [c.strip() for c in sync.strip("|").split("|")][3:] == [f"{(127 / 138.7) / (130 / 81.8):.2f}x", ""]
    text = "\n".join(lines)
    assert (
        "81.8 s, 1.59 tracks/s" in text and "22.7 min of audio" in text and "500 tracks (fresh process): 5.8 s" in text
    )
    assert "peak 843 and 831 MiB" in text


def test_speed_table_refuses_a_run_without_bliss():
    run = _speed_run()
    del run["seconds"]["bliss"]
    with pytest.raises(DatasetError, match="bliss"):
        report.speed_table(run)


def test_nb08_explore_and_coherence_tables(tmp_path):
    pd.DataFrame(
        [
            {
                "method": "x",
                "against": "v",
                "protocol": p,
                "n_users": 24,
                "difference": d,
                "lo": d - 0.01,
                "hi": d + 0.02,
            }
            | {"library": "development", "split": "dev"}
            for p, d in (("similar", -0.004), ("diverse", 0.0125))
        ]
    ).to_csv(tmp_path / "nb08-explore.csv", index=False)
    pd.DataFrame(
        [
            {
                "users": "dev",
                "protocol": "similar",
                "n_users": 24,
                "centroid@a": 0.8,
                "net@a": 0.85,
                "choice": 0.86,
                "oracle": 0.9,
                "share simple": 0.25,
                "spearman_coherence_gain": -0.31,
            }
        ]
    ).to_csv(tmp_path / "nb08-coherence.csv", index=False)
    b = report.blocks(tmp_path)
    assert "| x | development / dev | -0.004 [-0.014, +0.016] | +0.013 [+0.003, +0.033] |" in b["nb08-explore"]
    assert "The verdict: `v`." in b["nb08-explore"]
    assert b["nb08-coherence"].startswith("| users | protocol | n | centroid@a | net@a | choice | oracle |")
    assert "| dev | similar | 24 | 0.800 | 0.850 | 0.860 | 0.900 | 25 % | -0.31 |" in b["nb08-coherence"]
