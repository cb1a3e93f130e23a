"""melrec_lib.dsp (filters, spectrum, fragments, blas) against librosa and against the thesis' own code, numbers and formulas."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.fft
from threadpoolctl import threadpool_limits

from melrec_lib.dsp import blas, filters, fragments, spectrum
from melrec_lib.errors import AudioError, ParameterError, SilentAudioError

SR = 44100
ROOT = Path(__file__).resolve().parents[1]


def _signal(rng, seconds, sr=SR, tones=(220.0, 440.0, 1500.0, 5000.0)):
    """Seeded noise plus tones (every mel band gets energy), float32."""
    t = np.arange(int(seconds * sr)) / sr
    y = 0.05 * rng.standard_normal(t.size)
    for i, f in enumerate(tones):
        if f < sr / 2:
            y += 0.2 / (i + 1) * np.sin(2 * np.pi * f * t + i)
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def track():
    """25 s of a seeded test signal at 44.1 kHz."""
    return _signal(np.random.default_rng(7), 25.0)


# ---------------------------------------------------------------------------------------------
# The C++ code of the appendix (FFT.cpp), transcribed statement by statement (slow, scalar)
# ---------------------------------------------------------------------------------------------
def cpp_get_window_cf(m_count=128, f_count=1378, T=0.125):
    """FDT::getWindowCf: for each bin a list of (window index, coefficient)."""
    f_to_mel = lambda f: 1127.01048 * math.log(1.0 + f / 700.0)  # noqa: E731
    ml, mh = f_to_mel(0.0 / T), f_to_mel((f_count - 1.0) / T)
    mw = (mh - ml) / m_count
    scf = [[] for _ in range(f_count)]
    for i in range(f_count):
        m = f_to_mel(i / T)
        w_i = int((m - ml) * 2.0 / mw)  # size_t cast of a non-negative double: truncation
        for w in (w_i, w_i - 1):  # --wI wraps to SIZE_MAX for 0, failing `wI < mCount`
            if 0 <= w < m_count:
                pos = m - (ml + w * mw / 2.0)
                scf[i].append((w, 1.0 - abs(2.0 * pos / mw - 1.0)))
    return scf, mw


def cpp_get_mel_spectrogram(x, sample_frequency, offset, scf, frames_count=64, mel_count=128):
    """FDT::getMelSpectrogram on a fresh output vector (flat, frame * 128 + mel)."""
    frame_size = int(0.125 * sample_frequency)
    beg = int(offset * sample_frequency)
    end = beg + frame_size
    spectr_resolution = int(11024 * 0.125)
    out = np.zeros(frames_count * mel_count)
    frame_num = 0
    while frame_num < frames_count and end <= x.size:
        dft = np.fft.fft(x[beg:end].astype(np.float64))  # Eigen's full complex FFT
        for i in range(spectr_resolution):
            ampl = abs(dft[i])
            for w, cf in scf[i]:
                out[frame_num * mel_count + w] += ampl * cf
        beg += frame_size
        end += frame_size
        frame_num += 1
    max_ampl = out[: frame_num * mel_count].max() / 2.0
    out[: frame_num * mel_count] = out[: frame_num * mel_count] / max_ampl - 1.0
    for i in range(frame_num, frames_count):  # the value-wise "padding"
        out[i] = out[i - frame_num]
    return out.reshape(frames_count, mel_count)


@pytest.fixture(scope="module")
def cpp_bank():
    scf, mw = cpp_get_window_cf()
    dense = np.zeros((128, 1378))
    for i, pairs in enumerate(scf):
        for w, cf in pairs:
            dense[w, i] = cf
    return dense, mw, scf


# ---------------------------------------------------------------------------------------------
# constants, mel scale
# ---------------------------------------------------------------------------------------------
def test_thesis_numbers():
    # 3.2: frameSize = (size_t)(0.125 * 44100) = 5512, spectrResolution = 11024 * 0.125 = 1378
    assert filters.frame_length(44100, filters.FRAME_DURATION) == 5512
    assert filters.n_dft_bins(filters.FMAX, filters.FRAME_DURATION) == 1378
    assert filters.FRAGMENT_FRAMES * filters.FRAME_DURATION == 8.0
    assert (filters.FRAGMENT_FRAMES, filters.N_MELS) == (64, 128)


def test_data_rates_of_the_thesis():
    # 3.2-3.3: 44100 * 2 B = 88200 B/s -> 8 frames/s * 1378 floats * 4 B = 44096 -> 8 * 128 * 4 = 4096
    r = filters.data_rates()
    assert (r["pcm"], r["dft"], r["mel"]) == (88200.0, 44096.0, 4096.0)
    assert filters.data_rates(sr=22050, n_mels=64)["mel"] == 8 * 64 * 4 and filters.data_rates(sr=22050)["pcm"] == 44100
    with pytest.raises(ParameterError):
        filters.data_rates(bits_per_sample=0)


def test_bank_edges():
    assert filters.bank_edges_hz("thesis") == (8.0, 2192.0)
    lo, hi = filters.bank_edges_hz("librosa")
    assert lo == pytest.approx(44100 / 5512) and 11000 < hi <= 11024
    assert filters.bank_edges_hz("thesis-full")[1] >= 11000


@pytest.mark.parametrize("htk", [True, False])
def test_mel_scale_matches_librosa(htk):
    f = np.concatenate([np.linspace(0, 22050, 301), [1000.0, 999.999, 1000.001]])
    # librosa's HTK constant is 2595 / ln 10 = 1126.994, the thesis' 1127.01048: same curve up to scale
    scale = 2595.0 / math.log(10) / 1127.01048 if htk else 1.0
    np.testing.assert_allclose(
        filters.hz_to_mel(f, htk=htk) * scale, librosa.hz_to_mel(f, htk=htk), rtol=1e-12, atol=1e-9
    )
    m = filters.hz_to_mel(f, htk=htk)
    np.testing.assert_allclose(
        filters.mel_to_hz(m, htk=htk), librosa.mel_to_hz(m * scale, htk=htk), rtol=1e-12, atol=1e-9
    )
    np.testing.assert_allclose(filters.mel_to_hz(m, htk=htk), f, rtol=1e-12, atol=1e-9)


def test_mel_formula_is_the_thesis():
    # 3.3, eq. 24: mel(f) = 1127.01048 ln(1 + f/700); melToF inverse; scalars stay scalars
    for f in (0.0, 8.0, 700.0, 1000.0, 2192.0, 11016.0):
        assert filters.hz_to_mel(f) == pytest.approx(1127.01048 * math.log(1 + f / 700), rel=1e-14)
        assert isinstance(filters.hz_to_mel(f), float)
    assert filters.mel_to_hz(1127.01048 * math.log(2)) == pytest.approx(700.0, rel=1e-14)


# ---------------------------------------------------------------------------------------------
# filter banks
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sr", [16000, 22050, 44100, 48000])
@pytest.mark.parametrize("n_mels", [40, 128])
@pytest.mark.parametrize("htk", [True, False])
@pytest.mark.parametrize("norm", [None, "slaney", 1.0, 2.0, np.inf])
def test_librosa_bank_equals_librosa(sr, n_mels, htk, norm):
    fmax = min(filters.FMAX, sr / 2)
    n_fft = int(sr * 0.125)
    ours = filters.mel_filterbank("librosa", sr=sr, fmax=fmax, n_mels=n_mels, htk=htk, norm=norm, dtype=np.float64)
    ref = librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=fmax, htk=htk, norm=norm, dtype=np.float64
    )
    assert ours.shape == ref.shape == (n_mels, 1 + n_fft // 2)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fmax,frame_duration", [(4000.0, 0.125), (8000.0, 0.05), (11024.0, 0.1)])
def test_librosa_bank_other_sizes(fmax, frame_duration):
    n_fft = int(SR * frame_duration)
    ours = filters.mel_filterbank("librosa", fmax=fmax, frame_duration=frame_duration, n_mels=64)
    ref = librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=64, fmax=fmax, htk=True, norm=None)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-7)


def test_thesis_bank_is_the_cpp_bank(cpp_bank):
    dense, _, _ = cpp_bank
    ours = filters.mel_filterbank("thesis", dtype=np.float64)
    assert ours.shape == (128, 5512 // 2 + 1)
    np.testing.assert_allclose(ours[:, :1378], dense, rtol=0, atol=1e-12)
    assert not ours[:, 1378:].any()


def test_thesis_bank_covers_only_8hz_to_2_2khz():
    W = filters.mel_filterbank("thesis")
    cols = np.flatnonzero(W.any(axis=0))
    np.testing.assert_array_equal(cols, np.arange(1, 275))  # exactly bins 1..274
    assert cols[-1] / filters.FRAME_DURATION == 2192.0  # bin k is k / T Hz in the C++ code
    assert W.any(axis=1).all()  # every one of the 128 windows is used


def test_thesis_triangles_peak_where_the_cpp_formula_says(cpp_bank):
    _, mw, _ = cpp_bank
    W = filters.mel_filterbank("thesis", dtype=np.float64)
    bin_mel = filters.hz_to_mel(np.arange(W.shape[1]) / filters.FRAME_DURATION)
    for j in range(128):
        peak_mel = (j + 1) * mw / 2  # window j: starts at j mw/2, peaks at (j+1) mw/2, ends at j mw/2 + mw
        inside = np.flatnonzero(W[j] > 0)
        assert bin_mel[inside].min() > j * mw / 2 - 1e-9 and bin_mel[inside].max() < j * mw / 2 + mw
        best = int(np.argmax(W[j]))
        nearest = int(np.argmin(np.abs(bin_mel[:1378] - peak_mel)))
        assert best == nearest, j
        assert W[j, best] == pytest.approx(1 - abs(2 * (bin_mel[best] - j * mw / 2) / mw - 1))
    # overlapping halves are linear in mel: the two weights of a bin sum to 1 up to the last peak
    inner = (bin_mel > mw / 2) & (bin_mel <= 128 * mw / 2)
    np.testing.assert_allclose(W[:, inner].sum(axis=0), 1.0, rtol=0, atol=1e-12)
    assert (W[:, bin_mel > 128 * mw / 2].sum(axis=0) < 1).all()


def test_thesis_full_bank_spans_the_whole_range():
    W = filters.mel_filterbank("thesis-full", dtype=np.float64)
    cols = np.flatnonzero(W.any(axis=0))
    assert cols[0] == 1 and cols[-1] in (1376, 1377)  # up to mel(11016 Hz), the C++ mh
    assert W.any(axis=1).all()
    mh = filters.hz_to_mel(1377 / 0.125)
    mw = 2 * mh / 129  # 128 triangles mw/2 apart, the last ending at mh
    bin_mel = filters.hz_to_mel(np.arange(W.shape[1]) / 0.125)
    inner = (bin_mel > mw / 2) & (bin_mel <= 128 * mw / 2)
    np.testing.assert_allclose(W[:, inner].sum(axis=0), 1.0, rtol=0, atol=1e-9)
    assert inner.sum() > 1300
    for j in (0, 63, 127):  # peaks at (j + 1) mw / 2
        assert np.argmax(W[j]) == np.argmin(np.abs(bin_mel - (j + 1) * mw / 2))


def test_banks_are_nonnegative_and_cached_copies_are_private():
    for kind in filters.FILTERBANKS:
        W = filters.mel_filterbank(kind)
        assert W.dtype == np.float32 and (W >= 0).all() and W.max() <= 1.0 + 1e-6
        W[:] = 7.0  # must not poison the cache
        assert filters.mel_filterbank(kind).max() <= 1.0 + 1e-6


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kind="mfcc"),
        dict(kind="thesis", n_mels=0),
        dict(kind="librosa", n_mels=-3),
        dict(kind="librosa", n_mels=12.5),
        dict(kind="librosa", sr=0),
        dict(kind="librosa", sr=-44100),
        dict(kind="librosa", sr=float("nan")),
        dict(kind="librosa", fmax=0.0),
        dict(kind="librosa", sr=16000, fmax=11024.0),
        dict(kind="librosa", frame_duration=0.0),
        dict(kind="thesis", htk=False),
        dict(kind="thesis-full", norm="slaney"),
        dict(kind="librosa", norm="area"),
        dict(kind="librosa", norm=-2.0),
        dict(kind="librosa", htk="yes"),
    ],
)
def test_bad_bank_parameters_raise(kwargs):
    with pytest.raises(ParameterError):
        filters.mel_filterbank(**kwargs)


# ---------------------------------------------------------------------------------------------
# DFT magnitudes and mel spectrograms
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sr", [22050, 32000, 44100, 48000])
def test_magnitude_frames_equal_librosa_stft(rng, sr):
    y = _signal(rng, 3.3, sr=sr)
    n_fft = int(sr * 0.125)
    fmax = min(filters.FMAX, sr / 2)
    ours = spectrum.magnitude_frames(y, sr, fmax=fmax)
    ref = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=n_fft, window="boxcar", center=False))
    n_bins = int(fmax * 0.125)
    assert ours.shape == (y.size // n_fft, n_bins)  # partial last frame dropped
    np.testing.assert_allclose(ours, ref[:n_bins].T, rtol=1e-4, atol=1e-4 * ref.max())


def test_magnitude_frames_thesis_shape_and_dft(rng):
    y = _signal(rng, 1.0)  # 44100 samples: 8 whole frames of 5512 (44096), 4 samples dropped
    S = spectrum.magnitude_frames(y, SR)
    assert S.shape == (8, 1378)
    frame = y[5512 * 3 : 5512 * 4].astype(np.float64)
    bins = np.r_[0:40, 1338:1378, rng.choice(1378, 40, replace=False)]
    direct = np.abs(np.exp(-2j * np.pi * np.outer(bins, np.arange(5512)) / 5512) @ frame)  # the DFT sum
    np.testing.assert_allclose(S[3, bins], direct, rtol=1e-3, atol=1e-4 * direct.max())


@pytest.mark.parametrize("sr", [22050, 44100])
@pytest.mark.parametrize("n_mels", [64, 128])
@pytest.mark.parametrize("htk,norm", [(True, None), (False, "slaney"), (True, 2.0)])
@pytest.mark.parametrize("fmax", [8000.0, 11024.0])
def test_mel_spectrogram_equals_librosa(rng, sr, n_mels, htk, norm, fmax):
    y = _signal(rng, 2.0, sr=sr)
    n = int(sr * 0.125)
    ours = spectrum.mel_spectrogram(y, sr, n_mels=n_mels, htk=htk, norm=norm, fmax=fmax)
    ref = librosa.feature.melspectrogram(
        y=y,
        sr=sr,
        n_fft=n,
        hop_length=n,
        window="boxcar",
        center=False,
        power=1.0,
        n_mels=n_mels,
        fmin=0.0,
        fmax=fmax,
        htk=htk,
        norm=norm,
    ).T
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=1e-4)


def _librosa_frames_mel(y: np.ndarray, n: int) -> np.ndarray:
    """librosa's mel magnitudes of consecutive, non-overlapping, unwindowed frames of ``n``
    samples (the corrected bank: HTK, unnormalised, 0 .. 11024 Hz), time x mel."""
    return librosa.feature.melspectrogram(
        y=y,
        sr=SR,
        n_fft=n,
        hop_length=n,
        window="boxcar",
        center=False,
        power=1.0,
        n_mels=128,
        fmin=0.0,
        fmax=11024.0,
        htk=True,
        norm=None,
    ).T


def test_mel_spectrogram_defaults_equal_the_librosa_call(track):
    ref = _librosa_frames_mel(track, int(SR * 0.125))
    np.testing.assert_allclose(spectrum.mel_spectrogram(track, SR), ref, rtol=1e-4)


@pytest.mark.parametrize("kind", ["thesis", "thesis-full"])
def test_mel_spectrogram_thesis_banks(track, kind):
    S = spectrum.magnitude_frames(track, SR).astype(np.float64)
    W = filters.mel_filterbank(kind, dtype=np.float64)[:, :1378]
    np.testing.assert_allclose(spectrum.mel_spectrogram(track, SR, filterbank=kind), S @ W.T, rtol=1e-4)


def _historical_mel(y, kind="librosa"):
    """The computation ``mel_spectrogram`` does (one rfft, abs, the restricted product summed in
    float64 and rounded once to float32), written with plain numpy."""
    _, lo, hi, restricted = filters._bank(kind, SR, 0.125, 11024.0, 128, True, None)
    frames = y[: y.size // 5512 * 5512].reshape(-1, 5512)
    magnitudes = np.abs(scipy.fft.rfft(frames, axis=-1)[:, lo:hi])
    return (magnitudes.astype(np.float64) @ restricted.astype(np.float64)).astype(np.float32)


@pytest.mark.parametrize("kind", ["librosa", "thesis"])
def test_default_workers_sum_the_mel_product_in_float64(track, kind):
    # workers=None is the path every cached fragment and recorded result is computed on
    np.testing.assert_array_equal(spectrum.mel_spectrogram(track, SR, filterbank=kind), _historical_mel(track, kind))
    with threadpool_limits(limits=1, user_api="blas"):
        np.testing.assert_array_equal(
            spectrum.mel_spectrogram(track, SR, filterbank=kind), _historical_mel(track, kind)
        )


def test_mel_product_is_the_exact_sum_rounded_once(rng):
    # a float32 x float32 product is exact in float64, so math.fsum of the terms is the exact
    # sum; mel_product must be it rounded to float32 (a rare double rounding may move 1 ulp)
    key = ("librosa", SR, 0.125, 11024.0, 128, True, None)
    _, lo, hi, bank = filters._bank(*key)
    mags = (rng.random((40, hi - lo)) * 100).astype(np.float32)
    got = spectrum.mel_product(mags, key)
    exact = np.array(
        [[math.fsum(np.float64(mags[i]) * np.float64(bank[:, j])) for j in range(bank.shape[1])] for i in range(40)],
        dtype=np.float32,
    )
    ulps = np.abs(got.view(np.int32).astype(np.int64) - exact.view(np.int32).astype(np.int64))
    assert ulps.max() <= 1 and (ulps == 0).mean() >= 0.999
    float32_ulps = np.abs((mags @ bank).view(np.int32).astype(np.int64) - exact.view(np.int32).astype(np.int64))
    assert float32_ulps.mean() > ulps.mean()  # the float32 product it replaced is further off


_BITS_CHILD = """
import hashlib, json, sys
import numpy as np
from melrec_lib.dsp import fragments, spectrum
y = np.random.default_rng(7).standard_normal(44100 * 20).astype(np.float32)
y += np.sin(2 * np.pi * 440.0 * np.arange(y.size) / 44100).astype(np.float32) * 3
h = lambda a: hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]
_, lo, hi, bank = spectrum._bank("thesis", 44100, 0.125, 11024.0, 128, True, None)
mags = spectrum.magnitude_frames(y, 44100)[:, lo:hi]
print(json.dumps({
    "mel_spectrogram": h(spectrum.mel_spectrogram(y, 44100, filterbank="librosa")),
    "mel_spectrogram workers=2": h(spectrum.mel_spectrogram(y, 44100, filterbank="librosa", workers=2)),
    "fragments": h(fragments.fragments(y, 44100, [0.0, 4.0, 11.5], fragments.SpectrogramConfig())),
    "float32 product (control)": h(mags @ bank),
}))
"""


def test_mel_bits_equal_across_openblas_kernels():
    # OpenBLAS picks its kernels per processor; OPENBLAS_CORETYPE makes it pick another
    # machine's (only those this CPU can run).  The pipeline's mel bits must not depend on it.
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import bits_probe
    finally:
        sys.path.remove(str(ROOT / "tools"))
    types = bits_probe.runnable(["Prescott", "Sandybridge", "Haswell", "Zen", "SkylakeX"], bits_probe.cpu_flags())
    if len(types) < 2:
        pytest.skip(f"this CPU runs fewer than two of OpenBLAS' x86-64 core types: {types}")
    rows = {}
    for coretype in types:
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
        env["OPENBLAS_CORETYPE"] = coretype
        out = subprocess.run(
            [sys.executable, "-c", _BITS_CHILD], env=env, capture_output=True, text=True, check=True, cwd=ROOT
        )
        rows[coretype] = json.loads(out.stdout.strip().splitlines()[-1])
    if len({r["float32 product (control)"] for r in rows.values()}) == 1:
        pytest.skip(f"the core types {types} sum a float32 product alike here: nothing to tell apart")
    for stage in ("mel_spectrogram", "mel_spectrogram workers=2", "fragments"):
        assert len({r[stage] for r in rows.values()}) == 1, (stage, rows)


@pytest.mark.parametrize("n_frames", [1, 7, 16, 17, 320, 481])
def test_fft_threads_split_whole_rows_bit_for_bit(rng, n_frames):
    y = _signal(rng, n_frames * 5512 / SR + 1e-3)
    one = spectrum.magnitude_frames(y, SR, workers=1)
    np.testing.assert_array_equal(one, spectrum.magnitude_frames(y, SR))
    for workers in (2, 3, -1):
        np.testing.assert_array_equal(spectrum.magnitude_frames(y, SR, workers=workers), one)


@pytest.mark.parametrize("kind", ["librosa", "thesis"])
def test_mel_spectrogram_workers_give_the_same_bits(track, kind):
    one = spectrum.mel_spectrogram(track, SR, filterbank=kind, workers=1)
    for workers in (2, 3, -1):
        np.testing.assert_array_equal(spectrum.mel_spectrogram(track, SR, filterbank=kind, workers=workers), one)
    # the threaded path (blocks of frames, the product band group by band group) is the
    # historical computation up to the products' summation order
    with threadpool_limits(limits=1, user_api="blas"):
        np.testing.assert_allclose(spectrum.mel_spectrogram(track, SR, filterbank=kind), one, rtol=2e-6, atol=1e-4)
    with scipy.fft.set_workers(2):  # the context reaches the default path too
        assert np.allclose(spectrum.mel_spectrogram(track, SR, filterbank=kind), one, rtol=1e-5)


@pytest.mark.parametrize("where", [0, 5512 * 70 + 3, -1])  # first block, a later block, the dropped tail
def test_threaded_mel_spectrogram_finds_non_finite_samples(track, where):
    y = track.copy()
    y[where] = np.nan
    for workers in (None, 1, 2):
        with pytest.raises(AudioError, match="non-finite sample"):
            spectrum.mel_spectrogram(y, SR, workers=workers)


def test_mel_spectrogram_with_workers_equals_librosa(track):
    n = int(SR * 0.125)
    ref = librosa.feature.melspectrogram(
        y=track,
        sr=SR,
        n_fft=n,
        hop_length=n,
        window="boxcar",
        center=False,
        power=1.0,
        n_mels=128,
        fmin=0.0,
        fmax=11024.0,
        htk=True,
        norm=None,
    ).T
    np.testing.assert_allclose(spectrum.mel_spectrogram(track, SR, workers=2), ref, rtol=1e-4)


@pytest.mark.parametrize("frame_duration,frames", [(1 / 32, 256), (1 / 16, 128)])
def test_finer_frames_make_8_s_fragments_equal_to_librosa(track, frame_duration, frames):
    """A config of finer frames keeps 8 s per fragment; the mel spectrogram is librosa's."""
    config = dataclasses.replace(fragments.get_config("corrected"), frame_duration=frame_duration, name="fine")
    assert config.fragment_shape == (frames, 128) and config.key() != fragments.get_config("corrected").key()
    n = int(SR * frame_duration)
    X = fragments.fragments(track, SR, [0, 3.5, 20], config)
    assert X.shape == (3, frames, 128)
    start = int(round(3.5 * SR))
    S = _librosa_frames_mel(track[start : start + frames * n], n)
    ref = np.clip(librosa.amplitude_to_db(S, ref=np.max, top_db=None) / 40 + 1, -1, 1)
    np.testing.assert_allclose(X[1], ref, atol=1e-4)
    short = (track.size - int(round(20 * SR))) // n  # 5 s left: its whole frames, tiled
    np.testing.assert_array_equal(X[2][short:], X[2][np.arange(short, frames) % short])
    spans = fragments.fragment_spans([0, 20], SR, track.size, config)
    assert spans[0] == (0, frames * n) and spans[1][1] - spans[1][0] == short * n


@pytest.mark.parametrize("name", ["thesis", "corrected"])
def test_fragments_workers_equal_the_cache_path(track, name):
    offsets = [0, 1, 7, 16, 0.5, 22]  # a short tail (tiled) included
    with threadpool_limits(limits=1, user_api="blas"):  # features._compute_track's setting
        cached = fragments.fragments(track, SR, offsets, name)
    for workers in (1, 2, -1):
        np.testing.assert_array_equal(fragments.fragments(track, SR, offsets, name, workers=workers), cached)


@pytest.mark.parametrize("workers", [0, -2, 1.5, 2.0, True, "2", np.float64(2)])
def test_bad_workers_raise(track, workers):
    with pytest.raises(ParameterError, match="workers"):
        spectrum.mel_spectrogram(track, SR, workers=workers)
    with pytest.raises(ParameterError, match="workers"):
        spectrum.magnitude_frames(track, SR, workers=workers)
    with pytest.raises(ParameterError, match="workers"):
        fragments.fragments(track, SR, [0], "thesis", workers=workers)


def test_numpy_integer_workers_accepted(track):
    np.testing.assert_array_equal(
        spectrum.mel_spectrogram(track, SR, workers=np.int64(2)), spectrum.mel_spectrogram(track, SR, workers=1)
    )


@pytest.mark.parametrize(
    "y,error",
    [
        (np.zeros(0, np.float32), AudioError),
        (np.array([0.1, np.nan, 0.2] * 5000, np.float32), AudioError),
        (np.array([0.1, np.inf] * 5000, np.float32), AudioError),
        (np.zeros(100, np.float32), AudioError),  # fewer than one frame
        (np.zeros((2, 44100), np.float32), ParameterError),  # not mono
        ([0.1] * 10000, ParameterError),  # not an array
        (np.ones(10000, complex), ParameterError),
    ],
)
def test_bad_samples_raise(y, error):
    with pytest.raises(error):
        spectrum.mel_spectrogram(y, SR)
    with pytest.raises(error):
        spectrum.magnitude_frames(y, SR)


@pytest.mark.parametrize("sr", [0, -1, float("inf"), None, "44100"])
def test_bad_sample_rate_raises(track, sr):
    with pytest.raises(ParameterError):
        spectrum.mel_spectrogram(track, sr)
    with pytest.raises(ParameterError):
        fragments.thesis_fragment(track, sr)


# ---------------------------------------------------------------------------------------------
# normalisation
# ---------------------------------------------------------------------------------------------
def test_thesis_normalisation_formula_and_range(rng):
    S = rng.gamma(0.5, size=(64, 128))
    S[3, 4] = 0.0
    X = spectrum.normalize(S, "thesis")
    np.testing.assert_allclose(X, S / (S.max() / 2) - 1, rtol=1e-6, atol=1e-6)
    assert X.max() == 1.0 and X.min() == -1.0 and X.dtype == np.float32


def test_log_normalisation(rng):
    S = rng.gamma(0.5, size=(64, 128)) + 1e-12
    S[0, 0] = 10.0
    S[1, 1] = 10.0 * 10 ** (-20 / 20)  # -20 dB
    S[2, 2] = 10.0 * 10 ** (-120 / 20)  # below the 80 dB floor
    X = spectrum.normalize(S, "log")
    assert X.max() == 1.0 and X.min() >= -1.0 and X.dtype == np.float32
    assert X[1, 1] == pytest.approx(1 - 20 / 40, abs=1e-5)
    assert X[2, 2] == -1.0
    ref = np.clip(librosa.amplitude_to_db(S, ref=np.max, top_db=None) / 40 + 1, -1, 1)
    np.testing.assert_allclose(X, ref, atol=1e-4)
    np.testing.assert_allclose(spectrum.normalize(S * 1234.5, "log"), X, atol=1e-5)  # gain-invariant


@pytest.mark.parametrize("method", filters.NORMALIZATIONS)
def test_normalisation_is_per_fragment_in_a_batch(rng, method):
    batch = rng.gamma(0.5, size=(3, 64, 128))
    batch[1] *= 1000
    X = spectrum.normalize(batch, method)
    for i in range(3):
        np.testing.assert_array_equal(X[i], spectrum.normalize(batch[i], method))


@pytest.mark.parametrize("method", filters.NORMALIZATIONS)
def test_silent_fragment_raises_not_nan(rng, method):
    with pytest.raises(SilentAudioError):
        spectrum.normalize(np.zeros((64, 128)), method)
    batch = rng.gamma(0.5, size=(3, 64, 128))
    batch[2] = 0.0
    with pytest.raises(SilentAudioError, match="fragment 2"):
        spectrum.normalize(batch, method)
    y = np.zeros(SR * 10, np.float32)
    y[:SR] = _signal(rng, 1.0)  # sound only in the first second
    with pytest.raises(SilentAudioError, match="offset=2"):
        fragments.fragments(y, SR, [0, 2], fragments.SpectrogramConfig(normalization=method))


@pytest.mark.parametrize("S", [np.ones(5), np.ones((1, 2, 3, 4)), -np.ones((4, 4)), np.full((4, 4), np.nan)])
def test_normalize_bad_input_raises(S):
    with pytest.raises(ParameterError):
        spectrum.normalize(S, "thesis")


def test_normalize_unknown_method_raises():
    with pytest.raises(ParameterError, match="sqrt"):
        spectrum.normalize(np.ones((4, 4)), "sqrt")


# ---------------------------------------------------------------------------------------------
# thesis_fragment and fragments
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("offset", [0, 3, 16])
def test_thesis_fragment_equals_the_cpp_transcription(track, cpp_bank, offset):
    _, _, scf = cpp_bank
    raw = np.round(track * 32767)  # the C++ reader yields raw int16 values
    X = fragments.thesis_fragment(raw, SR, offset)
    assert X.shape == (64, 128) and X.dtype == np.float32
    np.testing.assert_allclose(X, cpp_get_mel_spectrogram(raw, SR, offset, scf), rtol=0, atol=1e-6)
    assert X.max() == 1.0 and X.min() >= -1.0
    assert X[:, 108:].max() > -1.0  # the top bands (~1.7-2.2 kHz) still carry the 1.5 kHz tone


def test_thesis_fragment_sees_nothing_above_2_2khz():
    # tones on exact DFT bins (a whole number of cycles per 5512-sample frame): no leakage
    t = np.arange(SR * 9) / SR
    low = (0.3 * np.sin(2 * np.pi * (125 * SR / 5512) * t)).astype(np.float32)  # 1000.1 Hz
    high = (0.3 * np.sin(2 * np.pi * (625 * SR / 5512) * t)).astype(np.float32)  # 5000.5 Hz
    np.testing.assert_allclose(fragments.thesis_fragment(low + high, SR), fragments.thesis_fragment(low, SR), atol=1e-5)
    assert (
        fragments.fragments(low + high, SR, [0], "corrected")[0].tolist()
        != fragments.fragments(low, SR, [0], "corrected")[0].tolist()
    )


def test_short_fragment_tiles_whole_frames(track, cpp_bank):
    _, _, scf = cpp_bank
    offset = 22  # 3 s left: 24 whole frames of 5512
    n = (track.size - offset * SR) // 5512
    assert n == 24
    X = fragments.thesis_fragment(track, SR, offset)
    np.testing.assert_array_equal(X, X[np.arange(64) % n])
    cpp = cpp_get_mel_spectrogram(track, SR, offset, scf)
    np.testing.assert_allclose(X[1:n], cpp[1:n], atol=1e-6)  # frames the C++ padding leaves alone
    keep = np.r_[0:n, 64:128]  # in frame 0 it overwrites bands n..63 with bands 0..63-n
    np.testing.assert_allclose(X[0, keep], cpp[0, keep], atol=1e-6)
    assert np.abs(X[0, n:64] - cpp[0, n:64]).max() > 0.1
    # the bug-compatible variant equals the C++ value-wise copy, frames n.. left at 0
    bug = fragments.thesis_fragment(track, SR, offset, padding="thesis")
    np.testing.assert_allclose(bug, cpp, atol=1e-6)
    assert not bug[n:].any() and not np.array_equal(bug[0], X[0])


def test_fragments_equal_thesis_fragment(track):
    offsets = [0, 1, 7, 16, 0.5, 2.25, 22]  # integers, fractions, and a short tail (tiled)
    X = fragments.fragments(track, SR, offsets, "thesis")
    assert X.shape == (len(offsets), 64, 128) and X.dtype == np.float32
    for i, off in enumerate(offsets):
        np.testing.assert_allclose(X[i], fragments.thesis_fragment(track, SR, off), rtol=0, atol=2e-6)


def test_fragments_start_at_sample_round_offset_times_sr(track):
    # 1 s is 44100 samples, not 8 frames of 5512: not a slice of the whole-track spectrogram
    X = fragments.fragments(track, SR, [1.0], "thesis")[0]
    np.testing.assert_allclose(X, fragments.thesis_fragment(track[SR:], SR, 0.0), atol=2e-6)
    whole = spectrum.normalize(spectrum.mel_spectrogram(track, SR, filterbank="thesis")[8:72], "thesis")
    assert np.abs(X - whole).max() > 1e-3


@pytest.mark.parametrize("name", ["corrected", "thesis"])
def test_fragments_of_a_config_equal_the_whole_pipeline(track, name):
    cfg = fragments.get_config(name)
    for off in (0, 5):
        piece = track[off * SR : off * SR + 64 * 5512]
        M = spectrum.mel_spectrogram(piece, SR, filterbank=cfg.filterbank, htk=cfg.htk, norm=cfg.norm)
        np.testing.assert_allclose(
            fragments.fragments(track, SR, [off], cfg)[0], spectrum.normalize(M, cfg.normalization), atol=2e-6
        )


def test_fragments_empty_and_deterministic(track):
    assert fragments.fragments(track, SR, [], "thesis").shape == (0, 64, 128)
    a = fragments.fragments(track, SR, np.array([3, 9]), "corrected")
    np.testing.assert_array_equal(a, fragments.fragments(track, SR, [3, 9], "corrected"))
    import pandas as pd

    np.testing.assert_array_equal(a, fragments.fragments(track, SR, pd.Series([3.0, 9.0]), "corrected"))


@pytest.mark.parametrize(
    "offsets,error",
    [
        ([26.0], ParameterError),
        ([-1.0], ParameterError),
        ([float("nan")], ParameterError),
        ([0, 30], ParameterError),
        ([25.0 - 0.05], AudioError),
        ("0 8", ParameterError),
        (["0", "8"], ParameterError),
        ([[0, 8]], ParameterError),
        (5.0, ParameterError),
    ],
)
def test_bad_offsets_raise(track, offsets, error):
    with pytest.raises(error):
        fragments.fragments(track, SR, offsets, "thesis")
    if isinstance(offsets, list) and not isinstance(offsets[-1], (str, list)):
        with pytest.raises(error):
            fragments.thesis_fragment(track, SR, offsets[-1])


def test_fragments_bad_config_or_rate(track):
    with pytest.raises(ParameterError, match="unknown spectrogram config"):
        fragments.fragments(track, SR, [0], "fancy")
    with pytest.raises(ParameterError, match="sr=22050"):
        fragments.fragments(track[::2], 22050, [0], "thesis")
    with pytest.raises(ParameterError):
        fragments.thesis_fragment(track, SR, 0, padding="zeros")


# ---------------------------------------------------------------------------------------------
# configs and offsets
# ---------------------------------------------------------------------------------------------
def test_configs():
    thesis, corrected = fragments.get_config("thesis"), fragments.get_config("corrected")
    assert (thesis.filterbank, thesis.normalization) == ("thesis", "thesis")
    assert corrected.filterbank in ("thesis-full", "librosa") and corrected.normalization == "log"
    assert fragments.get_config(thesis) is thesis
    assert thesis.key() != corrected.key() and len(thesis.key()) == 10
    assert fragments.SpectrogramConfig(name="other").key() == thesis.key()  # the name is not in the key
    for change in (
        dict(n_mels=64),
        dict(fmax=8000.0),
        dict(frame_duration=0.1),
        dict(sr=48000),
        dict(normalization="log"),
        dict(filterbank="thesis-full"),
    ):
        assert fragments.SpectrogramConfig(**change).key() != thesis.key(), change
    with pytest.raises(Exception):
        thesis.n_mels = 64  # frozen
    for bad in (dict(filterbank="x"), dict(normalization="x"), dict(n_mels=0), dict(sr=16000), dict(htk="yes")):
        with pytest.raises(ParameterError):
            fragments.SpectrogramConfig(**bad)
    with pytest.raises(ParameterError):
        fragments.get_config(3)


def test_config_key_is_stable_across_processes():
    code = "from melrec_lib.dsp import fragments as s; print(s.CONFIGS['thesis'].key(), s.CONFIGS['corrected'].key())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [fragments.CONFIGS["thesis"].key(), fragments.CONFIGS["corrected"].key()]


@pytest.mark.parametrize("duration", [0.0, 7.99, 8.0, 30.5, 239.9])
def test_consecutive_offsets(duration):
    offs = fragments.consecutive_offsets(duration)
    assert offs == [8.0 * i for i in range(int(duration // 8))]
    assert all(o + 64 * 5512 / SR <= duration for o in offs)


def test_random_offsets_as_the_thesis():
    offs = fragments.random_offsets(30.7, 500, seed=3)
    assert all(isinstance(o, int) and 0 <= o < 30 - 8 for o in offs)  # rand() % (30 - 8)
    assert set(offs) == set(range(22))
    assert offs == fragments.random_offsets(30.7, 500, seed=3)
    assert offs != fragments.random_offsets(30.7, 500, seed=4)
    assert fragments.random_offsets(30.7, 5, seed=np.random.default_rng(3)) == offs[:5]
    for bad in (dict(duration_s=8.9, k=1), dict(duration_s=-1, k=1), dict(duration_s=30, k=-1)):
        with pytest.raises(ParameterError):
            fragments.random_offsets(seed=0, **bad)


# ---------------------------------------------------------------------------------------------
# the figures' helpers (melrec_lib.plots.spectral)
# ---------------------------------------------------------------------------------------------
def test_band_peaks_follow_the_cpp_formula(cpp_bank):
    from melrec_lib.plots import spectral

    _, mw, _ = cpp_bank
    peaks = spectral.band_peaks_hz("thesis")
    expected = filters.mel_to_hz((np.arange(128) + 1) * mw / 2)  # window j peaks at (j + 1) mw / 2
    assert np.abs(peaks - expected).max() <= 4.0 + 1e-9  # within half of the 8 Hz bin spacing
    lib = spectral.band_peaks_hz("librosa")
    centres = librosa.mel_frequencies(130, fmin=0.0, fmax=11024.0, htk=True)[1:-1]
    assert np.abs(lib - centres).max() <= 44100 / 5512  # asymmetric triangles: within one bin


def test_figures_are_labelled_and_refuse_bad_input(track):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from melrec_lib.plots import spectral

    fig = spectral.frame_dft(track, SR, frame=3)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "frequency (Hz)" and "dB" in ax.get_ylabel()
    fig2 = spectral.fragment_grid({"a": fragments.thesis_fragment(track, SR)}, kinds_of_rows={"a": "thesis"})
    first = fig2.axes[0]
    assert first.get_xlabel() == "time in fragment (s)"
    assert first.get_yticklabels()[-1].get_text().endswith("Hz")
    with pytest.raises(ParameterError):
        spectral.frame_dft(track, SR, frame=10_000)
    with pytest.raises(ParameterError):
        spectral.fragment_grid({})
    with pytest.raises(ParameterError):
        spectral.fragment_grid({"a": np.zeros(5)})
    plt.close("all")


@pytest.mark.parametrize("name", ["thesis", "corrected"])
def test_fragments_of_segments_are_fragments_bit_for_bit(track, name):
    offsets = [0, 1, 7, 16, 0.5, 22]  # a short tail (tiled) included
    spans = fragments.fragment_spans(offsets, SR, track.size, name)
    frame = 5512
    assert spans[0] == (0, 64 * frame) and spans[4][0] == round(0.5 * SR)
    assert spans[5] == (22 * SR, 22 * SR + (track.size - 22 * SR) // frame * frame)  # whole frames only
    whole = fragments.fragments(track, SR, offsets, name)
    segments = [track[a:b].copy() for a, b in spans]
    np.testing.assert_array_equal(fragments.fragments_of_segments(segments, offsets, name), whole)
    with threadpool_limits(limits=1, user_api="blas"):  # an int `workers` has one BLAS thread
        one = fragments.fragments(track, SR, offsets, name)
    for workers in (1, 2):
        np.testing.assert_array_equal(fragments.fragments_of_segments(segments, offsets, name, workers=workers), one)
    # a longer segment uses only its first 64 frames
    longer = [track[a:] for a, _ in spans]
    np.testing.assert_array_equal(fragments.fragments_of_segments(longer, offsets, name), whole)
    assert fragments.fragments_of_segments([], [], name).shape == (0, 64, 128)


def test_fragments_of_segments_bad_input(track):
    seg = track[: 64 * 5512]
    with pytest.raises(ParameterError, match="2 segments but 1 offsets"):
        fragments.fragments_of_segments([seg, seg], [0])
    with pytest.raises(ParameterError, match="sequence of 1-D"):
        fragments.fragments_of_segments(seg, [0])
    with pytest.raises(AudioError, match="fewer than one frame"):
        fragments.fragments_of_segments([seg[:5511]], [3.0])
    bad = seg.copy()
    bad[7] = np.inf
    with pytest.raises(AudioError, match="segment 0 holds a non-finite sample"):
        fragments.fragments_of_segments([bad], [0])
    with pytest.raises(SilentAudioError, match="offset=9"):
        fragments.fragments_of_segments([seg, np.zeros_like(seg)], [0, 9])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(offsets_s=[30.0]), ParameterError, "beyond the end"),
        (dict(offsets_s=[-1]), ParameterError, "offset"),
        (dict(offsets_s=[24.9]), AudioError, "fewer than one frame"),
        (dict(offsets_s="0"), ParameterError, "1-D sequence"),
        (dict(n_samples=-1), ParameterError, "n_samples"),
        (dict(n_samples=1.5), ParameterError, "n_samples"),
        (dict(sr=22050), ParameterError, "resample"),
    ],
)
def test_fragment_spans_bad_input(track, kwargs, error, match):
    args = dict(offsets_s=[0], sr=SR, n_samples=track.size) | kwargs
    with pytest.raises(error, match=match):
        fragments.fragment_spans(args["offsets_s"], args["sr"], args["n_samples"], "thesis")


@pytest.mark.parametrize("workers", [None, 1, 2, 3])
def test_threaded_magnitudes_of_uneven_pieces_are_the_batched_rfft(rng, workers):
    # tasks cut across pieces of 1..64 frames: every row lands where one rfft of them all puts it
    pieces = [rng.standard_normal((n, 5512)).astype(np.float32) for n in (64, 1, 17, 64, 3, 40, 64, 2)]
    ref = np.abs(scipy.fft.rfft(np.concatenate(pieces), axis=-1)[:, 1:275])
    out = np.full_like(ref, np.nan)
    assert spectrum._magnitudes_into(out, pieces, 1, 275, workers, check_finite=True)
    np.testing.assert_array_equal(out, ref)
    pieces[5][7, 9] = np.nan
    assert not spectrum._magnitudes_into(out, pieces, 1, 275, workers, check_finite=True)


# --- the threaded path's FFT library (ducc0 when installed, else scipy's pocketfft) ----------
@pytest.fixture(params=["ducc0", "pocketfft"])
def threaded_fft(request, monkeypatch):
    """Run a test on both FFT libraries of the threaded path (ducc0 is skipped if absent)."""
    if request.param == "ducc0":
        pytest.importorskip("ducc0")
    else:
        monkeypatch.setattr(spectrum, "_fast_r2c", lambda: None)
    return request.param


def test_fft_library_names_the_threaded_paths_library(monkeypatch):
    try:
        import ducc0
    except ImportError:
        assert spectrum.fft_library().startswith("scipy")
    else:
        assert spectrum.fft_library() == f"ducc0 {ducc0.__version__}"
    assert spectrum.fft_library(fast=False) == f"scipy {scipy.__version__} (pocketfft)"
    monkeypatch.setattr(spectrum, "_fast_r2c", lambda: None)
    assert spectrum.fft_library() == spectrum.fft_library(fast=False)


@pytest.mark.parametrize("n_frames", [1, 7, 31, 33, 100, 481])
def test_threaded_mel_spectrogram_equals_librosa_on_either_fft(rng, threaded_fft, n_frames):
    y = _signal(rng, n_frames * 5512 / SR + 1e-3)
    ref = librosa.feature.melspectrogram(
        y=y,
        sr=SR,
        n_fft=5512,
        hop_length=5512,
        window="boxcar",
        center=False,
        power=1.0,
        n_mels=128,
        fmin=0.0,
        fmax=11024.0,
        htk=True,
        norm=None,
    ).T
    one = spectrum.mel_spectrogram(y, SR, workers=1)
    np.testing.assert_allclose(one, ref, rtol=1e-4, atol=1e-6 * ref.max())
    for workers in (2, 3):  # a fixed cut into tasks: the same bits on any number of threads
        np.testing.assert_array_equal(spectrum.mel_spectrogram(y, SR, workers=workers), one)


def test_without_ducc0_the_threaded_path_is_pocketfft_bit_for_bit(track, monkeypatch):
    key = ("librosa", SR, 0.125, 11024.0, 128, True, None)
    frames = track[: track.size // 5512 * 5512].reshape(-1, 5512)
    pocketfft = spectrum._mel_of_frames(frames, key, 2, fast=False)
    monkeypatch.setattr(spectrum, "_fast_r2c", lambda: None)
    np.testing.assert_array_equal(spectrum.mel_spectrogram(track, SR, workers=2), pocketfft)


def test_ducc0_transform_equals_pocketfft(rng):
    ducc0 = pytest.importorskip("ducc0")
    x = rng.standard_normal((45, 5512)).astype(np.float32)
    ref = scipy.fft.rfft(x, axis=-1)
    got = ducc0.fft.r2c(x, axes=(1,))
    assert got.dtype == np.complex64
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6 * np.abs(ref).max())


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 5512 * 33 + 17, 5512 * 40 - 1])  # first task, a later one, the last row
def test_threaded_fft_finds_non_finite_samples_on_either_fft(rng, threaded_fft, value, where):
    y = _signal(rng, 40 * 5512 / SR)
    y[where] = value
    for workers in (1, 2):
        with pytest.raises(AudioError, match=f"non-finite sample.*index {where}"):
            spectrum.mel_spectrogram(y, SR, workers=workers)


def test_one_blas_thread_holds_in_concurrent_threads(rng):
    # threads sharing the context get one-thread products, the same bits as this thread's, even
    # after this thread has used BLAS (OpenBLAS then ignores openblas_set_num_threads from other
    # threads); the count is restored when the last one leaves
    import concurrent.futures

    a = rng.random((320, 274)).astype(np.float32)
    b = rng.random((274, 128)).astype(np.float32)
    with blas.one_blas_thread():
        one = a @ b
    with threadpool_limits(limits=2, user_api="blas"):
        if np.array_equal(a @ b, one):
            pytest.skip("BLAS gives the same bits on two threads on this machine")
    before = [lib.get_num_threads() for lib in blas._blas_controller().lib_controllers]

    def product(_):
        with blas.one_blas_thread():
            return a @ b

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(product, range(64)))
    assert all(np.array_equal(o, one) for o in outs)
    assert [lib.get_num_threads() for lib in blas._blas_controller().lib_controllers] == before
    assert blas._BLAS_HOLD["depth"] == 0
