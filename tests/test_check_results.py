"""tools/check_results.py: the two-tier regression check, on perturbed copies of a small reference.

The reference, the seed spread and the executed notebooks are built here (``tmp_path``), never
read from ``figures/`` (except the last test, which checks the committed file against itself).
Every accepted range below is worked out by hand from the rules in the tool's docstring, so a
wrong rule, floor or margin fails a test.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from melrec_lib import notebook, paths

_SPEC = importlib.util.spec_from_file_location(
    "check_results", Path(__file__).resolve().parents[1] / "tools" / "check_results.py"
)
cr = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = cr  # a dataclass looks its module up there
_SPEC.loader.exec_module(cr)

DSP, CNN, CUTS, EVAL = "02-dft-mel-spectrogram", "03-genre-cnn", "04-preprocessor-truncation", "07-evaluation"

REFERENCE = {
    DSP: {
        "log_fragment_median": 0.27142730355262756,
        "librosa_max_rel_diff": 1.0809513696585782e-05,
        "n_dft_bins": 1378,
        "fragment_shape": [64, 128],
    },
    CNN: {
        "epochs_run": {"corrected": 37, "thesis": 21},
        "fragment_accuracy": {"corrected": 0.90, "thesis": 0.74},
        "val_fragment_accuracy": {"corrected": 0.93},
        "lr_probe_final_loss": {"0.001": 2.20, "0.0003": 2.14},
        "learning_rate": {"corrected": 0.001},
        "n_params": 2165385,
    },
    CUTS: {"chosen_cut": {"corrected": "dense1024"}, "genre_knn": {"corrected": {"pool2": 0.83}}},
    EVAL: {
        "methods": ["random", "logreg"],
        "roc_auc": {"similar/logreg": 0.90, "similar/random": 0.50},
        "roc_auc_interval": {"similar/logreg": [0.88, 0.92], "similar/random": [0.45, 0.55]},
    },
}


def _seed(cnn: dict, knn: float, random_auc: float) -> dict:
    return {
        CNN: cnn,
        CUTS: {"genre_knn": {"corrected": {"pool2": knn}}},
        EVAL: {"roc_auc": {"similar/random": random_auc}},
    }


_SEEDS = [
    _seed(copy.deepcopy(REFERENCE[CNN]), 0.83, 0.50),  # seed 0 is the main run
    _seed(
        {"epochs_run": {"corrected": 30, "thesis": 21}, "fragment_accuracy": {"corrected": 0.92, "thesis": 0.70}}
        | {"lr_probe_final_loss": {"0.001": 2.25, "0.0003": 2.141}},
        0.832,
        0.52,
    ),
    _seed(
        {"epochs_run": {"corrected": 33, "thesis": 21}, "fragment_accuracy": {"corrected": 0.91, "thesis": 0.78}}
        | {"lr_probe_final_loss": {"0.001": 2.18, "0.0003": 2.142}},
        0.834,
        0.48,
    ),
]
#: The seed-spread file's layout: {"seeds", "records": {notebook: [records per seed]}, "_machine"}.
SPREAD = {
    "seeds": [0, 1, 2],
    "records": {nb: [s[nb] for s in _SEEDS] for nb in (CNN, CUTS, EVAL)},
    "_machine": {"cpu_model": "elsewhere"},
}


def _with(path: tuple, value) -> dict:
    """A copy of the reference with the value at ``path`` replaced (``...``: deleted)."""
    out = copy.deepcopy(REFERENCE)
    node = out
    for step in path[:-1]:
        node = node[step]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


def _failing(got: dict, tier: str, spread: dict | None = SPREAD) -> dict[str, str]:
    """``{where: rule}`` of every failing value."""
    findings = cr.check(got, REFERENCE, tier=tier, spread=spread)
    return {f.where: f.rule for fs in findings.values() for f in fs if f.status == "fail"}


def _finding(got: dict, where: str, tier: str = "cross", spread: dict | None = SPREAD):
    findings = cr.check(got, REFERENCE, tier=tier, spread=spread)
    (found,) = [f for fs in findings.values() for f in fs if f.where == where]
    return found


def test_the_reference_matches_itself_in_both_tiers():
    for tier in ("exact", "cross"):
        assert _failing(copy.deepcopy(REFERENCE), tier) == {}


@pytest.mark.parametrize(
    ("path", "inside", "outside_low", "outside_high"),
    [
        # seeds 0.74, 0.70, 0.78: range 0.08 > floor 0.01, so [0.70 - 0.08, 0.78 + 0.08] = [0.62, 0.86]
        ((CNN, "fragment_accuracy", "thesis"), 0.85, 0.61, 0.87),
        # seeds 0.83, 0.832, 0.834: range 0.004 < floor 0.01, so [0.82, 0.844]
        ((CUTS, "genre_knn", "corrected", "pool2"), 0.843, 0.818, 0.846),
        # trained integer, seeds 37, 30, 33: range 7 > 2, so [23, 44] (the 24 epochs passes)
        ((CNN, "epochs_run", "corrected"), 24, 22, 45),
        # trained integer, seeds all 21: floor 2, so [19, 23]
        ((CNN, "epochs_run", "thesis"), 23, 18, 24),
        # a loss (a real, not a [0, 1] metric), seeds 2.20, 2.25, 2.18: range 0.07 > 1 % of 2.25, so [2.11, 2.32]
        ((CNN, "lr_probe_final_loss", "0.001"), 2.115, 2.105, 2.325),
        # a loss, seeds 2.14, 2.141, 2.142: range 0.002 < 1 % of 2.142, so [2.11858, 2.16342]
        # (a [0, 1] metric's floor 0.01 would give [2.13, 2.152])
        ((CNN, "lr_probe_final_loss", "0.0003"), 2.16, 2.117, 2.165),
        # seeds 0.50, 0.52, 0.48: range 0.04, so [0.44, 0.56]; the seed range wins over the
        # interval [0.45, 0.55] widened by its half-width, [0.40, 0.60]
        ((EVAL, "roc_auc", "similar/random"), 0.555, 0.435, 0.565),
    ],
)
def test_a_trained_value_follows_the_seed_range_across_machines_and_is_exact_on_one(
    path, inside, outside_low, outside_high
):
    where = "/".join(path)
    assert _failing(_with(path, inside), "cross") == {}
    assert _finding(_with(path, inside), where).rule == "seed-range"
    assert _failing(_with(path, inside), "exact") == {where: "exact"}
    for outside in (outside_low, outside_high):
        assert _failing(_with(path, outside), "cross") == {where: "seed-range"}


def test_a_roc_auc_without_seed_spread_follows_its_interval_widened_by_its_half_width():
    where = f"{EVAL}/roc_auc/similar/logreg"  # interval [0.88, 0.92], half-width 0.02: [0.86, 0.94]
    for inside in (0.861, 0.939):
        assert _failing(_with((EVAL, "roc_auc", "similar/logreg"), inside), "cross") == {}
        assert _finding(_with((EVAL, "roc_auc", "similar/logreg"), inside), where).rule == "roc-auc-interval"
    for outside in (0.859, 0.941):
        assert _failing(_with((EVAL, "roc_auc", "similar/logreg"), outside), "cross") == {where: "roc-auc-interval"}


def test_without_a_seed_spread_a_trained_value_is_unchecked_and_does_not_fail():
    got = _with((CNN, "fragment_accuracy", "thesis"), 0.10)
    found = _finding(got, f"{CNN}/fragment_accuracy/thesis", spread=None)
    assert (found.rule, found.status) == ("unchecked", "unchecked")
    assert _failing(got, "cross", spread=None) == {}
    # a value the seeds never recorded is unchecked even with a spread, and counted in the verdict
    got = _with((CNN, "val_fragment_accuracy", "corrected"), 0.10)
    assert _finding(got, f"{CNN}/val_fragment_accuracy/corrected").status == "unchecked"
    lines, failed = cr.report(cr.check(got, REFERENCE, tier="cross", spread=SPREAD))
    assert not failed
    # unchecked: that value and the four ends of the two ROC-AUC intervals (no seed spread for them)
    assert lines[-1] == (
        "verdict: PASS: 24 values, 19 within their rule, 0 failing, 0 categorical drift(s), "
        "5 unchecked (no tolerance known)"
    )


@pytest.mark.parametrize("rel", [1e-6, -1e-6])
def test_a_dsp_value_within_float32_rounding_passes_across_machines(rel):
    got = _with((DSP, "log_fragment_median"), REFERENCE[DSP]["log_fragment_median"] * (1 + rel))
    assert _failing(got, "cross") == {}
    assert _failing(got, "exact") == {f"{DSP}/log_fragment_median": "exact"}


@pytest.mark.parametrize("rel", [1e-3, -1e-3, 2e-5])
def test_a_dsp_value_beyond_float32_rounding_fails_across_machines(rel):
    got = _with((DSP, "log_fragment_median"), REFERENCE[DSP]["log_fragment_median"] * (1 + rel))
    assert _failing(got, "cross") == {f"{DSP}/log_fragment_median": "dsp-float32"}


def test_a_measure_of_rounding_against_librosa_only_has_an_upper_bound():
    assert _failing(_with((DSP, "librosa_max_rel_diff"), 9.9e-5), "cross") == {}
    assert _failing(_with((DSP, "librosa_max_rel_diff"), 0.0), "cross") == {}
    assert _failing(_with((DSP, "librosa_max_rel_diff"), 1.1e-4), "cross") == {
        f"{DSP}/librosa_max_rel_diff": "rounding-bound"
    }


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        ((EVAL, "methods", 1), "logreg-2", f"{EVAL}/methods[1]"),  # a string
        ((EVAL, "methods"), ["random", "logreg", "knn"], f"{EVAL}/methods"),  # a list's length
        ((DSP, "fragment_shape"), [64, 128, 1], f"{DSP}/fragment_shape"),  # a shape
        ((DSP, "n_dft_bins"), 1379, f"{DSP}/n_dft_bins"),  # a count
        ((CNN, "n_params"), 2165386, f"{CNN}/n_params"),  # a count of parameters
        ((CNN, "learning_rate", "corrected"), 0.0010001, f"{CNN}/learning_rate/corrected"),  # configuration
        ((CNN, "fragment_accuracy", "thesis"), "0.74", f"{CNN}/fragment_accuracy/thesis"),  # a type
        ((CNN, "fragment_accuracy", "thesis"), ..., f"{CNN}/fragment_accuracy/thesis"),  # a missing key
    ],
)
def test_structure_is_never_tolerated(path, value, where):
    got = _with(path, value)
    for tier in ("exact", "cross"):
        failing = _failing(got, tier)
        assert set(failing) == {where}, (tier, failing)


def test_a_missing_key_is_named_in_the_output(tmp_path, capsys):
    missing = _with((CNN, "fragment_accuracy", "thesis"), ...)
    assert cr.main(_files(tmp_path, missing, None)) == 1
    assert f"  FAIL      {CNN}/fragment_accuracy/thesis  [structure]  missing in this run\n" in capsys.readouterr().out


def test_an_extra_key_and_a_missing_notebook_fail():
    got = copy.deepcopy(REFERENCE)
    got[CNN]["new_value"] = 1.0
    del got[EVAL]
    for tier in ("exact", "cross"):
        assert _failing(got, tier) == {f"{CNN}/new_value": "structure", EVAL: "structure"}


def test_timings_are_skipped_at_any_depth_and_their_siblings_are_not():
    """Notebook 09 records its training time and throughput beside trained values."""
    want = copy.deepcopy(REFERENCE)
    want[EVAL]["training"] = {"seconds": 1185.2, "epochs_run": 15}
    want[EVAL]["speed"] = {"speedup": 25.0, "student_tracks_per_s": 5.1, "n_tracks": 12}
    got = copy.deepcopy(want)
    got[EVAL]["training"]["seconds"] = 900.0
    got[EVAL]["speed"].update(speedup=19.0, student_tracks_per_s=4.0)
    findings = cr.check(got, want, tier="exact", spread=SPREAD)
    checked = {f.where for fs in findings.values() for f in fs}
    assert f"{EVAL}/training/epochs_run" in checked and f"{EVAL}/speed/n_tracks" in checked
    assert not {w for w in checked if w.endswith(("seconds", "speedup", "tracks_per_s"))}
    assert not [f for fs in findings.values() for f in fs if f.status == "fail"]
    got[EVAL]["speed"]["n_tracks"] = 11
    assert [
        f.where for fs in cr.check(got, want, tier="exact", spread=SPREAD).values() for f in fs if f.status == "fail"
    ] == [f"{EVAL}/speed/n_tracks"]


def test_a_categorical_outcome_is_drift_across_machines_and_a_difference_on_one():
    got = _with((CUTS, "chosen_cut", "corrected"), "dense128")
    found = _finding(got, f"{CUTS}/chosen_cut/corrected")
    assert (found.rule, found.status) == ("categorical", "drift")
    lines, failed = cr.report(cr.check(got, REFERENCE, tier="cross", spread=SPREAD))
    assert not failed and "1 categorical drift(s)" in lines[-1]
    assert any("drift: categorical outcome" in line for line in lines)
    assert _failing(got, "exact") == {f"{CUTS}/chosen_cut/corrected": "exact"}


def test_the_rules_walk_and_the_targets_verdicts_are_categorical():
    for where in (
        "08-real-music/chosen/best",
        "08-real-music/verdict[2]/replaces",
        "08-real-music/verdict[0]/against",
        "08-real-music/verdict[1]/wins in",
        "08-real-music/targets/3: worst soundtrack/similar/met",
    ):
        assert cr._matches(cr.CATEGORICAL, where), where
    for where in ("08-real-music/verdict[0]/similar: lo", "08-real-music/targets/2: default - best peer/similar/value"):
        assert not cr._matches(cr.CATEGORICAL, where), where


def test_the_tier_follows_the_machine_description():
    here = cr.describe_machine()
    assert set(here) == set(cr.MACHINE_FIELDS)
    assert here["python"] and here["numpy"]
    assert cr.choose_tier(dict(here), here)[0] == "exact"
    elsewhere = dict(here, cpu_model="AMD EPYC 9R45")
    tier, why = cr.choose_tier(elsewhere, here)
    assert tier == "cross"
    assert why == f"CPU model differs: 'AMD EPYC 9R45' recorded, {here['cpu_model']!r} here"
    assert cr.choose_tier(dict(here, numpy="1.0.0"), here)[1].startswith("numpy version differs: '1.0.0' recorded")
    assert cr.choose_tier(None, here)[0] == "cross"
    assert cr.choose_tier(elsewhere, here, forced="exact") == ("exact", "--tier exact given")


def test_cpu_model_reads_the_model_name(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R45 96-Core\n")
    assert cr.cpu_model(info) == "AMD EPYC 9R45 96-Core"


# --- the command line, on executed notebooks written here -------------------------------------------
def _executed(folder: Path, records: dict) -> Path:
    """Executed notebooks that recorded ``records`` the way ``notebook.record`` does."""
    folder.mkdir(exist_ok=True)
    for nb, values in records.items():
        output = {"output_type": "display_data", "data": {notebook.RECORD_MIME: values}, "metadata": {}}
        cell = {"cell_type": "code", "source": "", "metadata": {}, "outputs": [output]}
        (folder / f"{nb}.ipynb").write_text(json.dumps({"cells": [cell], "metadata": {}}), encoding="utf-8")
    return folder


def _files(tmp_path: Path, got: dict, machine: dict | None) -> list[str]:
    reference = tmp_path / "recorded-results.json"
    reference.write_text(json.dumps({**REFERENCE, **({"_machine": machine} if machine else {})}), encoding="utf-8")
    seeds = tmp_path / "seed-spread.json"
    seeds.write_text(json.dumps(SPREAD), encoding="utf-8")
    executed = _executed(tmp_path / "executed", got)
    return ["--executed", str(executed), "--reference", str(reference), "--seeds", str(seeds)]


def test_the_stored_notebooks_include_the_fake_ones():  # _executed's names must be real notebook names
    stems = {nb.stem for nb in notebook.notebooks()}
    assert set(REFERENCE) <= stems


def test_main_on_the_same_machine_is_exact(tmp_path, capsys):
    here = cr.describe_machine()
    assert cr.main(_files(tmp_path, REFERENCE, here)) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("tier: exact (same machine")
    assert "verdict: PASS" in out
    inside = _with((CNN, "fragment_accuracy", "thesis"), 0.85)  # inside the seed range: drift, not the same bits
    assert cr.main(_files(tmp_path, inside, here)) == 1
    out = capsys.readouterr().out
    assert f"FAIL      {CNN}/fragment_accuracy/thesis  [exact]  got 0.85, accepted == 0.74" in out
    assert "verdict: FAIL" in out


def test_main_on_another_machine_is_cross_and_fails_only_for_breakage(tmp_path, capsys):
    elsewhere = dict(cr.describe_machine(), cpu_model="AMD EPYC 9R45")
    inside = _with((CNN, "fragment_accuracy", "thesis"), 0.85)
    assert cr.main(_files(tmp_path, inside, elsewhere)) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("tier: cross-machine (CPU model differs: 'AMD EPYC 9R45' recorded")
    assert f"seed spread: {tmp_path / 'seed-spread.json'} (seeds [0, 1, 2])" in out
    assert "verdict: PASS" in out
    outside = _with((CNN, "fragment_accuracy", "thesis"), 0.9)
    assert cr.main(_files(tmp_path, outside, elsewhere)) == 1
    out = capsys.readouterr().out
    assert f"FAIL      {CNN}/fragment_accuracy/thesis  [seed-range]  got 0.9, accepted [0.62, 0.86]" in out
    # epochs x2, accuracies x2, probe losses x2; learning rate and parameter count; not in the seeds' records
    assert f"{CNN}: seed-range 6, structure 2, unchecked 1\n" in out
    # --tier exact on another machine: the same run is a difference
    assert cr.main([*_files(tmp_path, inside, elsewhere), "--tier", "exact"]) == 1
    assert capsys.readouterr().out.startswith("tier: exact (--tier exact given)")


def test_verbose_lists_every_value_with_its_rule(tmp_path, capsys):
    assert cr.main([*_files(tmp_path, REFERENCE, None), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tier: cross-machine (the reference records no machine description: no _machine entry)")
    assert f"ok        {DSP}/log_fragment_median  [dsp-float32]" in out
    assert f"ok        {EVAL}/roc_auc/similar/logreg  [roc-auc-interval]" in out
    assert f"unchecked {CNN}/val_fragment_accuracy/corrected  [unchecked]" in out
    assert f"ok        {CUTS}/chosen_cut/corrected  [categorical]" in out


def test_write_stores_the_records_and_the_machine_then_checks_exactly(tmp_path, capsys):
    args = _files(tmp_path, REFERENCE, None)
    assert cr.main([*args, "--write"]) == 0
    written = json.loads((tmp_path / "recorded-results.json").read_text())
    assert written["_machine"] == cr.describe_machine()
    assert {k: v for k, v in written.items() if k != "_machine"} == REFERENCE
    capsys.readouterr()
    assert cr.main(args) == 0
    assert capsys.readouterr().out.startswith("tier: exact (same machine")


def test_no_executed_notebooks_is_an_error(tmp_path):
    assert cr.main(["--executed", str(tmp_path / "none")]) == 1


def test_the_committed_results_match_themselves_exactly():
    recorded = json.loads((paths.FIGURES / "recorded-results.json").read_text(encoding="utf-8"))
    findings = cr.check(copy.deepcopy(recorded), recorded, tier="exact")
    assert set(findings) == {nb for nb in recorded if not nb.startswith("_")}
    assert sum(len(fs) for fs in findings.values()) > 900  # every recorded value was compared
    assert [f for fs in findings.values() for f in fs if f.status != "ok"] == []
