"""Notebook 01 (WAV parsing): the numbers it records, checked against soundfile and Table 3.1."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def nb01(notebook_run):
    return notebook_run("01")


def test_header_fields_equal_soundfile_info(nb01):
    _, rec, _ = nb01
    assert rec["sample_rate"] == rec["sf_samplerate"] == 44100
    assert rec["num_channels"] == rec["sf_channels"] == 1
    assert rec["n_frames"] == rec["sf_frames"] > 0
    assert rec["sf_subtype"] == "PCM_16" and rec["format_name"] == "PCM 16-bit"
    assert rec["audio_format"] == 1 and rec["bits_per_sample"] == 16 and rec["block_align"] == 2
    assert rec["data_size"] == rec["n_frames"] * rec["block_align"]
    assert rec["duration_s"] == pytest.approx(rec["n_frames"] / 44100)


def test_thesis_table_3_1_arithmetic(nb01):
    _, rec, _ = nb01
    assert rec["byte_rate"] == rec["byte_rate_computed"] == 44100 * 1 * 16 // 8 == 88200  # the thesis' 88200 B/s
    assert rec["is_canonical"] and rec["data_offset"] == 44  # the 44-byte header of Table 3.1
    assert rec["table_bits_per_sample_size"] == 2  # not the 4 the thesis' table prints


def test_list_chunk_walk(nb01):
    _, rec, _ = nb01
    assert rec["tagged_chunks"][0] == "fmt " and "LIST" in rec["tagged_chunks"] and "data" in rec["tagged_chunks"]
    assert rec["tagged_data_offset"] > 44
    assert rec["tagged_artist"] == "melrec-synth" and rec["tagged_title"].startswith("rock example")
    assert rec["tagged_same_samples"] is True


def test_reader_equals_soundfile_and_thesis_reader(nb01):
    _, rec, _ = nb01
    assert rec["max_abs_diff_vs_soundfile"] == 0.0  # 16-bit: identical scaling, bit for bit
    assert rec["max_abs_diff_thesis_reader"] == 0.0
    assert 0.0 < rec["peak_amplitude"] <= 1.0


def test_figures_written(nb01):
    _, rec, figures = nb01
    for key, name in [("waveform_png", "nb01-waveform.png"), ("header_png", "nb01-wav-header.png")]:
        png = Path(rec[key])
        assert png.parent == Path(figures).resolve() and png.name == name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
