"""melrec_lib.dsp.mfcc: a file's MFCC statistics are librosa's, bit for bit; bad files are typed errors.

Reference: ``librosa.load(path, sr=22050, mono=True)`` + ``librosa.feature.mfcc`` on the same
file, in formats soundfile writes.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from melrec_lib.app import pipeline
from melrec_lib.dsp import mfcc
from melrec_lib.dsp.blas import one_blas_thread
from melrec_lib.errors import AudioError


def _librosa_statistics(path, n_mfcc=mfcc.N_MFCC):
    import librosa

    y, sr = librosa.load(str(path), sr=mfcc.SAMPLE_RATE, mono=True)
    with one_blas_thread():
        M = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc)
    return np.concatenate([M.mean(axis=1), M.std(axis=1)])


@pytest.mark.parametrize(
    "name, rate, channels, kw",
    [
        ("stereo.wav", 44100, 2, {"subtype": "PCM_16"}),
        ("mono.flac", 48000, 1, {}),
        ("native.ogg", 22050, 1, {"subtype": "VORBIS"}),
        ("song.mp3", 44100, 2, {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
    ],
)
def test_statistics_are_librosa_load_and_mfcc_bit_for_bit(tmp_path, name, rate, channels, kw):
    import soundfile as sf

    t = np.arange(int(2.5 * rate)) / rate
    y = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.02 * np.random.default_rng(3).standard_normal(t.size)
    y = np.stack([y, np.roll(y, 97)], axis=1)[:, :channels]
    path = tmp_path / name
    sf.write(path, y.astype(np.float32), rate, **kw)
    got = mfcc.statistics(path)
    assert got.shape == (2 * mfcc.N_MFCC,) and got.dtype == np.float32
    np.testing.assert_array_equal(got, _librosa_statistics(path))
    assert mfcc.column_names()[mfcc.N_MFCC] == "mfcc0_std"


def test_unreadable_empty_and_too_short_files_are_audio_errors_without_warnings(tmp_path):
    import soundfile as sf

    (tmp_path / "text.mp3").write_text("not audio at all\n" * 40)
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 22050)
    sf.write(tmp_path / "blip.wav", np.full(mfcc.N_FFT - 1, 0.1, np.float32), 22050)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for name, message in [
            ("text.mp3", "cannot be decoded"),
            ("empty.wav", "no samples"),
            ("blip.wav", "shorter than one 2048-sample MFCC frame"),
            ("gone.flac", "cannot be decoded"),
        ]:
            with pytest.raises(AudioError, match=message) as err:
                mfcc.statistics(tmp_path / name)
            assert name in str(err.value)
    # librosa would say "PySoundFile failed. Trying audioread instead." and stft that n_fft is too large
    assert [str(w.message) for w in seen] == []
    sf.write(tmp_path / "frame.wav", np.full(mfcc.N_FFT, 0.1, np.float32), 22050)
    assert np.isfinite(mfcc.statistics(tmp_path / "frame.wav")).all()


def test_the_pipelines_mfcc_row_sets_no_warnings_filter(tmp_path, monkeypatch):
    # it runs in a Dask worker's threads: a filter there is process-wide and races the others
    import soundfile as sf

    sf.write(tmp_path / "a.wav", 0.2 * np.sin(np.arange(30000) / 7.0).astype(np.float32), 22050)
    (tmp_path / "b.ogg").write_bytes(b"OggS" + bytes(500))
    set_filters = []
    monkeypatch.setattr(warnings, "simplefilter", lambda *a, **k: set_filters.append(a))
    monkeypatch.setattr(warnings, "filterwarnings", lambda *a, **k: set_filters.append(a))
    row = pipeline._mfcc_row(str(tmp_path / "a.wav"))
    assert row.shape == (1, 2 * mfcc.N_MFCC)
    with pytest.raises(AudioError, match="b.ogg: cannot be decoded"):
        pipeline._mfcc_row(str(tmp_path / "b.ogg"))
    assert set_filters == []
