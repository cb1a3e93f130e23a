"""plots.listen: short mono excerpts at a low rate, checked against librosa.load and soundfile."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from melrec_lib.errors import AudioError, ParameterError
from melrec_lib.plots import listen

SR = 44100
SECONDS = 12.0


@pytest.fixture
def stereo_wav(tmp_path):
    """12 s of stereo 16-bit PCM: 440 Hz on the left, 1000 Hz on the right, a ramp in level."""
    t = np.arange(int(SECONDS * SR)) / SR
    level = 0.1 + 0.8 * t / SECONDS  # tells where an excerpt was cut
    y = np.stack([level * np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 1000 * t)], axis=1)
    path = tmp_path / "two-tones.wav"
    sf.write(path, y, SR, subtype="PCM_16")
    return path


def test_excerpt_equals_librosa_load_of_the_same_span(stereo_wav):
    import librosa

    y, sr, start = listen.excerpt(stereo_wav, start_s=2.0, duration_s=3.0, sr=11025)
    ref, _ = librosa.load(stereo_wav, sr=11025, mono=True, offset=2.0, duration=3.0)
    assert sr == 11025 and start == 2.0 and y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - len(ref)) <= 1 and len(y) == pytest.approx(3.0 * 11025, abs=1)
    n = min(len(y), len(ref))
    # the ends differ by the resampler's edge handling; the body is the same signal
    assert np.max(np.abs(y[200 : n - 200] - ref[200 : n - 200])) < 2e-3


def test_excerpt_is_the_channel_mean_and_keeps_the_tones(stereo_wav):
    y, sr, _ = listen.excerpt(stereo_wav, start_s=6.0, duration_s=4.0, sr=11025)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / sr)
    peaks = sorted(freqs[np.argsort(spectrum)[-2:]])
    assert peaks[0] == pytest.approx(440, abs=1) and peaks[1] == pytest.approx(1000, abs=1)
    # the mean of the channels: the 1000 Hz tone at half its amplitude of 0.5
    amp_1000 = 2 * spectrum[np.argmin(np.abs(freqs - 1000))] / np.hanning(len(y)).sum()
    assert amp_1000 == pytest.approx(0.25, rel=0.02)


def test_excerpt_is_placed_in_the_track(stereo_wav):
    _, _, middle = listen.excerpt(stereo_wav, duration_s=4.0)
    assert middle == pytest.approx((SECONDS - 4.0) / 2)
    _, _, late = listen.excerpt(stereo_wav, start_s=11.0, duration_s=4.0)
    assert late == pytest.approx(SECONDS - 4.0)  # moved back to end with the track
    y, _, _ = listen.excerpt(stereo_wav, start_s=0.0, duration_s=1.0)
    z, _, _ = listen.excerpt(stereo_wav, start_s=10.0, duration_s=1.0)
    assert np.abs(z).max() > 1.5 * np.abs(y).max()  # the left channel's ramp: later is louder


def test_player_embeds_a_mono_wav_at_the_low_rate(stereo_wav):
    audio = listen.player(stereo_wav, start_s=1.0, duration_s=2.5)
    y, sr = sf.read(io.BytesIO(audio.data))
    assert sr == listen.RATE and y.ndim == 1 and len(y) == pytest.approx(2.5 * listen.RATE, abs=1)
    assert np.abs(y).max() == pytest.approx(1.0, abs=1e-3)  # normalised to full scale
    assert len(audio.data) < 2 * 2.5 * listen.RATE + 100  # 16-bit mono: small


def test_players_label_each_excerpt(stereo_wav):
    table = listen.players([("first <tone>", stereo_wav), ("second", stereo_wav, 3.0)], title="tones", duration_s=1.0)
    assert table.data.count("<audio") == 2 and "first &lt;tone&gt;" in table.data and "tones" in table.data
    both = listen.side_by_side(table, table)
    assert both.data.count("<audio") == 4


@pytest.mark.parametrize(
    "kwargs", [dict(duration_s=0.0), dict(duration_s=listen.MAX_SECONDS + 1), dict(start_s=-1.0), dict(sr=0)]
)
def test_bad_parameters_are_refused(stereo_wav, kwargs):
    with pytest.raises(ParameterError):
        listen.excerpt(stereo_wav, **kwargs)


def test_missing_file_and_empty_list(tmp_path):
    with pytest.raises(AudioError):
        listen.excerpt(tmp_path / "nothing.wav")
    with pytest.raises(ParameterError):
        listen.players([])


def test_a_silent_span_plays_as_silence_not_nan(tmp_path):
    """IPython's normalisation divides by the peak; a silent excerpt must not become NaN samples."""
    import warnings

    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(44100 * 3, np.float32), 44100, subtype="PCM_16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value encountered in cast" fails here
        audio = listen.player(path, duration_s=2.0)
    y, _ = sf.read(io.BytesIO(audio.data), dtype="int16")
    assert y.size > 0 and not y.any()
