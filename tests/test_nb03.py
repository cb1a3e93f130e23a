"""Notebook 03 at smoke size: Table 4.1's numbers, both configurations trained, figures written."""

from __future__ import annotations

import pytest

from melrec_lib.nets import architecture, saved

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def nb03(notebook_run):
    return notebook_run("03")


def test_architecture_numbers(nb03):
    _, rec, _ = nb03
    # Table 4.1 arithmetic: 256*(4*128)+256 + 128*(256*2)+128 + (128*14)*1024+1024 + 1024*128+128 + 128*9+9
    assert rec["n_params"] == rec["n_params_conv2d"] == 2_165_385
    assert rec["flatten_size"] == 128 * 14 == 1792
    assert rec["pool1_shape"] == [30 * 256]
    assert rec["n_genres"] == 9


def test_both_configs_trained_and_scored(nb03, notebook_run, monkeypatch):
    _, rec, _ = nb03
    monkeypatch.setenv("MELREC_DATA_DIR", str(notebook_run.data_dir))
    assert set(rec["fragment_accuracy"]) == set(rec["track_accuracy"]) == {"thesis", "corrected"}
    for cfg in ("thesis", "corrected"):
        assert 0.0 <= rec["fragment_accuracy"][cfg] <= 1.0
        assert 0.0 <= rec["track_accuracy"][cfg] <= 1.0
        assert rec["epochs_run"][cfg] == 2  # the smoke EPOCHS
        assert rec["per_track"][cfg] == 5  # the smoke PER_TRACK reached the recipe
        assert rec["train_fragments"][cfg] >= 5 * 9  # 5 per track, at least one artist per genre
        # the model the notebook saved is where notebooks 04-07 and `melrec recommend` look
        cnn = saved.load(corpus="melrec-synth-smoke", config=cfg)
        assert cnn.model.count_params() == architecture.N_PARAMS_9_GENRES
        assert cnn.fragment_accuracy == pytest.approx(rec["fragment_accuracy"][cfg])


def test_figures_written(nb03):
    _, _, figures = nb03
    for name in (
        "fig4_1-feature-spectrogram",
        "fig4_2-conv1-kernels",
        "fig4_3-conv2-kernels",
        "nb03-training-curves",
        "nb03-confusion",
    ):
        path = figures / f"{name}.png"
        assert path.is_file() and path.stat().st_size > 10_000, name


def test_learning_rate_probe_recorded(nb03):
    _, rec, figures = nb03
    import pandas as pd

    probe = pd.read_csv(figures / "nb03-learning-rate-probe.csv")
    assert sorted(probe["learning_rate"].unique()) == [3e-4, 1e-3]  # the smoke LR_PROBE
    assert {float(k) for k in rec["lr_probe_final_loss"]} == {3e-4, 1e-3}
    assert rec["learning_rate"] == {"thesis": 3e-4, "corrected": 1e-3}  # the recipe's per-input rates
    assert probe.groupby("learning_rate")["epoch"].max().eq(1).all()  # the smoke LR_PROBE_EPOCHS
