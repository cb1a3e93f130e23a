"""Mel spectrogram speed: melrec_lib.dsp.spectrum against librosa on the same audio, same run.

Rows of the printed table (one warm-up call each, then ``--repeats`` rounds in which melrec
and the reference are timed alternately, so both see the same load; times are medians; the
ratio is the median of the per-round ratios reference time / melrec time, > 1: melrec is
faster, with the interquartile range of those ratios beside it; "max rel diff" checks outputs):

1. ``mel_spectrogram(y, sr)`` vs ``librosa.feature.melspectrogram(y=y, sr=sr, n_fft=5512,
   hop_length=5512, window="boxcar", center=False, power=1.0, n_mels=128, fmin=0.0,
   fmax=11024.0, htk=True, norm=None)`` over the whole signal (60 s by default), with
   ``workers`` None (the default path: one FFT thread, BLAS as configured), 1, and all cores
   (tasks of 32 frames shared by that many threads, each doing its tasks' FFT and magnitudes,
   then the mel product band group by band group, on one BLAS thread; the FFT is ducc0's when
   installed, see ``spectrogram.fft_library``).  The target is at least 5x with all cores.
   The all-cores row is repeated with both sides under one BLAS thread (a multi-threaded
   OpenBLAS keeps its helper thread spinning for a while after each call, so librosa's
   product, timed just before melrec's, otherwise holds the second core), and once more with
   scipy's pocketfft in the threads instead of ducc0 (as without the ``fast`` extra).
2. ``fragments(y, sr, offsets, "thesis")`` (5 fragments in one batched FFT) vs a loop of
   ``thesis_fragment`` (the literal one-fragment transcription of the C++ code).
3. ``fragments(y, sr, offsets, "corrected")`` vs librosa computing the same 5 fragments
   (melspectrogram of the 5 stacked 8 s segments + the same log normalisation).
4. ``fragments(..., "thesis")`` vs librosa's melspectrogram of the same 5 segments with the
   thesis normalisation (librosa has no thesis bank: same work, its own bank; no diff column),
   on one FFT thread and on all cores (that row again with both on one BLAS thread).

Then the stages of ``mel_spectrogram`` on the same signal (framing and checks, the rfft on 1
and on all cores with scipy's pocketfft and with ducc0, the magnitude, the mel product on one
BLAS thread, dense and by band groups), and pocketfft's rfft of a 5632-point batch for
comparison (5512 = 2^3 * 13 * 53 has two slow prime passes in pocketfft).

Audio: ``--track PATH`` (loaded with ``audio.load``, first ``--seconds``), else seeded noise
plus tones (deterministic).  Usage:
``python bench/mel_speed.py [--seconds 60] [--repeats 15] [--track PATH] [--seed 0]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from unittest import mock

import numpy as np
import scipy
import scipy.fft
from threadpoolctl import threadpool_limits

from melrec_lib.dsp import filters, fragments, spectrum
from melrec_lib.io import audio

SR = 44100


def _signal(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.05 * rng.standard_normal(t.size)
    for i, f in enumerate((110.0, 440.0, 1500.0, 5000.0)):
        y += 0.2 / (i + 1) * np.sin(2 * np.pi * f * t * (1 + 0.01 * np.sin(t)))
    return y.astype(np.float32)


def _paired(ours, ref, repeats: int) -> tuple[float, float, float, float, float]:
    """Median times of ``ours`` and ``ref``, the median of their per-round ratios and its
    interquartile range.

    The two are timed alternately (ours, ref, ours, ref, ...) so that both see the same machine
    load; the median of the paired ratios is robust to a busy, shared machine.
    """
    ours()
    ref()  # warm-up: imports, cached filter banks
    t_ours, t_ref = [], []
    for _ in range(repeats):
        for fn, times in ((ours, t_ours), (ref, t_ref)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    ratios = [r / o for o, r in zip(t_ours, t_ref)]
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    return statistics.median(t_ours), statistics.median(t_ref), statistics.median(ratios), q1, q3


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _stages(y, n_fft: int, cores: int, repeats: int) -> list[tuple[str, float]]:
    """Median ms of each stage of ``mel_spectrogram`` (librosa bank), the mel product on one BLAS thread."""
    _, lo, hi, restricted = filters._bank(
        "librosa", SR, filters.FRAME_DURATION, filters.FMAX, filters.N_MELS, True, None
    )
    frames = spectrum._frames(filters._valid_audio(y), n_fft)
    dft = scipy.fft.rfft(frames, axis=-1)
    magnitudes = np.abs(dft[:, lo:hi])
    other = np.zeros((frames.shape[0], 5632), np.float32)
    out = [("checks + framing (view)", _median_ms(lambda: spectrum._frames(filters._valid_audio(y), n_fft), repeats))]
    for w in dict.fromkeys([1, cores]):
        out.append(
            (
                f"rfft {frames.shape}, {w} thread(s)",
                _median_ms(lambda: scipy.fft.rfft(frames, axis=-1, workers=w), repeats),
            )
        )
    if spectrum._fast_r2c() is not None:
        for w in dict.fromkeys([1, cores]):
            out.append(
                (
                    f"{spectrum.fft_library()} r2c {frames.shape}, {w} thread(s)",
                    _median_ms(lambda: spectrum._fast_r2c()(frames, axes=(1,), nthreads=w), repeats),
                )
            )
    out.append(("abs of the kept bins", _median_ms(lambda: np.abs(dft[:, lo:hi]), repeats)))
    groups = spectrum._band_groups("librosa", SR, filters.FRAME_DURATION, filters.FMAX, filters.N_MELS, True, None)
    mel = np.zeros((frames.shape[0], restricted.shape[1]), np.float32)

    def by_groups():
        for b0, b1, k0, k1, weights in groups:
            np.matmul(magnitudes[:, k0:k1], weights, out=mel[:, b0:b1])

    with threadpool_limits(limits=1, user_api="blas"):
        out.append(
            (
                f"mel product {magnitudes.shape} @ {restricted.shape}, 1 BLAS thread",
                _median_ms(lambda: magnitudes @ restricted, repeats),
            )
        )
        out.append(
            (
                f"the same by {len(groups)} groups of {spectrum.BAND_GROUP} bands "
                f"({sum(k1 - k0 for _, _, k0, k1, _ in groups)} bin columns)",
                _median_ms(by_groups, repeats),
            )
        )
    for w in dict.fromkeys([1, cores]):
        out.append(
            (
                f"rfft {other.shape}, {w} thread(s)",
                _median_ms(lambda: scipy.fft.rfft(other, axis=-1, workers=w), repeats),
            )
        )
    return out


def _librosa_mel(y, n_fft):
    import librosa

    return librosa.feature.melspectrogram(
        y=y,
        sr=SR,
        n_fft=n_fft,
        hop_length=n_fft,
        window="boxcar",
        center=False,
        power=1.0,
        n_mels=128,
        fmin=0.0,
        fmax=11024.0,
        htk=True,
        norm=None,
    )


def _librosa_fragments(y, offsets, n_fft, normalization):
    import librosa

    span = filters.FRAGMENT_FRAMES * n_fft
    segs = np.stack([y[round(o * SR) : round(o * SR) + span] for o in offsets])
    S = np.swapaxes(_librosa_mel(segs, n_fft), 1, 2)  # (k, 64, 128)
    peak = S.max(axis=(1, 2), keepdims=True)
    if normalization == "thesis":
        return (S / (peak / 2) - 1).astype(np.float32)
    db = librosa.amplitude_to_db(S / peak, ref=1.0, amin=1e-4, top_db=None)
    return np.clip(db / 40.0 + 1.0, -1.0, 1.0).astype(np.float32)


def _rel(a, b) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--track", default=None, help="an audio file (default: seeded noise + tones)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import librosa

    if args.track:
        y, _ = audio.load(args.track, sr=SR)
        y = y[: int(args.seconds * SR)]
        source = f"{args.track} ({y.size / SR:.1f} s)"
    else:
        y = _signal(args.seconds, args.seed)
        source = f"seeded noise + tones ({args.seconds:.0f} s, seed {args.seed})"
    n_fft = filters.frame_length(SR)
    cores = os.cpu_count() or 1
    offsets = fragments.random_offsets(y.size / SR, 5, seed=args.seed)
    print(
        f"# {platform.processor() or platform.machine()}, {cores} cores, load "
        f"{os.getloadavg()[0]:.2f}; numpy {np.__version__}, scipy {scipy.__version__}, "
        f"librosa {librosa.__version__}; threaded FFT: {spectrum.fft_library()}; {source}; "
        f"median of {args.repeats}"
    )

    rows = []
    ref = _librosa_mel(y, n_fft).T
    lib_mel = lambda: _librosa_mel(y, n_fft)  # noqa: E731
    for w in (None, 1, cores):
        rows.append(
            (
                f"mel_spectrogram, workers={w}",
                "librosa melspectrogram",
                *_paired(lambda: spectrum.mel_spectrogram(y, SR, workers=w), lib_mel, args.repeats),
                _rel(spectrum.mel_spectrogram(y, SR, workers=w), ref),
            )
        )
    with threadpool_limits(limits=1, user_api="blas"):
        rows.append(
            (
                f"mel_spectrogram, workers={cores}",
                "librosa, both on 1 BLAS thread",
                *_paired(lambda: spectrum.mel_spectrogram(y, SR, workers=cores), lib_mel, args.repeats),
                _rel(spectrum.mel_spectrogram(y, SR, workers=cores), ref),
            )
        )
        if spectrum._fast_r2c() is not None:
            with mock.patch.object(spectrum, "_fast_r2c", lambda: None):  # as without ducc0
                rows.append(
                    (
                        "the same, pocketfft in the threads",
                        "librosa, both on 1 BLAS thread",
                        *_paired(lambda: spectrum.mel_spectrogram(y, SR, workers=cores), lib_mel, args.repeats),
                        _rel(spectrum.mel_spectrogram(y, SR, workers=cores), ref),
                    )
                )

    thesis = lambda: fragments.fragments(y, SR, offsets, "thesis")  # noqa: E731
    loop = lambda: np.stack([fragments.thesis_fragment(y, SR, o) for o in offsets])  # noqa: E731
    rows.append(
        (
            "fragments x5, thesis",
            "loop of thesis_fragment",
            *_paired(thesis, loop, args.repeats),
            _rel(thesis() + 2, loop() + 2),
        )
    )
    corrected = lambda: fragments.fragments(y, SR, offsets, "corrected")  # noqa: E731
    lib_log = lambda: _librosa_fragments(y, offsets, n_fft, "log")  # noqa: E731
    rows.append(
        (
            "fragments x5, corrected",
            "librosa, same 5 fragments",
            *_paired(corrected, lib_log, args.repeats),
            _rel(corrected() + 2, lib_log() + 2),
        )
    )
    lib_thesis = lambda: _librosa_fragments(y, offsets, n_fft, "thesis")  # noqa: E731
    rows.append(
        ("fragments x5, thesis", "librosa (its bank), 5 fragments", *_paired(thesis, lib_thesis, args.repeats), None)
    )
    rows.append(
        (
            f"fragments x5, thesis, workers={cores}",
            "librosa (its bank), 5 fragments",
            *_paired(lambda: fragments.fragments(y, SR, offsets, "thesis", workers=cores), lib_thesis, args.repeats),
            None,
        )
    )
    with threadpool_limits(limits=1, user_api="blas"):
        rows.append(
            (
                f"fragments x5, thesis, workers={cores}",
                "the same, both on 1 BLAS thread",
                *_paired(
                    lambda: fragments.fragments(y, SR, offsets, "thesis", workers=cores), lib_thesis, args.repeats
                ),
                None,
            )
        )

    print(
        f"{'melrec':<38} {'reference':<32} {'melrec ms':>10} {'ref ms':>9} {'ratio':>7} "
        f"{'ratio IQR':>11} {'max rel diff':>13}"
    )
    for name, refname, t1, t2, ratio, q1, q3, diff in rows:
        d = "-" if diff is None else f"{diff:.1e}"
        print(
            f"{name:<38} {refname:<32} {t1 * 1e3:>10.2f} {t2 * 1e3:>9.2f} {ratio:>6.1f}x {q1:>5.1f}-{q3:<4.1f}x {d:>13}"
        )
    print(f"\n# stages of mel_spectrogram (median ms of {args.repeats}); load {os.getloadavg()[0]:.2f}")
    for name, ms in _stages(y, n_fft, cores, args.repeats):
        print(f"{name:<60} {ms:>8.2f}")
    # normalised fragments are compared after +2 (values in [1, 3]) so -1 cells do not blow up rel
    worst = max(r[-1] for r in rows if r[-1] is not None)
    if worst > 1e-4:
        print(f"OUTPUTS DIFFER: max relative difference {worst:.2e} > 1e-4")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
