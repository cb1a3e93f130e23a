"""Notebook 02 (DFT and mel spectrograms) at smoke size: the numbers it records."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def nb02(notebook_run):
    return notebook_run("02")


def test_thesis_arithmetic(nb02):
    _, rec, _ = nb02
    # 3.2: 5512-sample frames, bins 0..1377; 3.2-3.3: 88200 -> 44096 -> 4096 B/s
    assert rec["frame_samples"] == 5512 and rec["n_dft_bins"] == 1378
    assert (rec["pcm_bytes_per_s"], rec["dft_bytes_per_s"], rec["mel_bytes_per_s"]) == (88200, 44096, 4096)
    assert rec["mel_of_1000_hz"] == pytest.approx(1000.0, abs=1e-3)  # 1127.01048 ln(1 + 1000/700)


def test_thesis_bank_stops_at_2_2_khz(nb02):
    _, rec, _ = nb02
    assert (rec["thesis_bank_first_bin"], rec["thesis_bank_last_bin"]) == (1, 274)
    assert rec["thesis_bank_top_hz"] == pytest.approx(2200, abs=50)
    assert rec["thesis_full_top_hz"] > 10_900 and rec["librosa_top_hz"] > 10_900
    assert 0.0 < rec["energy_share_above_thesis_bank"] < 1.0


def test_cross_checks(nb02):
    _, rec, _ = nb02
    assert rec["librosa_max_rel_diff"] < 1e-4 and rec["librosa_frames"] >= 8
    assert rec["n_fragments"] >= 1 and rec["fragments_vs_literal_max_abs_diff"] < 1e-5


def test_fragments_and_figures(nb02):
    _, rec, figures = nb02
    assert rec["fragment_shape"] == [64, 128]
    assert rec["thesis_fragment_max"] == 1.0 and rec["thesis_fragment_min"] >= -1.0
    # linear normalisation crowds the cells near -1; log compression spreads them
    assert rec["thesis_fragment_median"] < rec["log_fragment_median"]
    for name in ("nb02-frame-dft", "fig1_4-mel-scale", "fig3_1-mel-filterbank", "nb02-fragments"):
        assert (figures / f"{name}.png").stat().st_size > 20_000, name
