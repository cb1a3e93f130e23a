"""Fragment extraction speed: melrec's cache builder vs librosa doing the same work.

The work is thesis data-set builder 1 (section 3.4): load each track at 44.1 kHz mono, cut
``--per-track`` 8 s fragments at seeded random whole-second offsets, 64 frames of 1/8 s each
(5512 samples, no overlap), magnitude DFT, 128 mel bands up to 11024 Hz, and the thesis'
normalisation ``S / (max / 2) - 1``.

* **melrec**: :func:`melrec_lib.dsp.fragment_cache.genre_fragments` from scratch (an empty temporary
  cache folder; the time includes writing ``X.npy``/``index.csv``).  From an integer-PCM WAV
  at 44.1 kHz it reads only the fragments' samples (``audio.load_spans``).
* **librosa**: ``librosa.load(path, sr=44100)`` and ``librosa.feature.melspectrogram`` (one
  call per track over the stacked fragments, ``n_fft = hop = 5512``, rectangular window
  (the thesis has none), ``center=False``,
  ``power=1``, HTK mel, no area normalisation) at exactly the offsets melrec chose, then the
  same normalisation.  On one BLAS thread, like melrec's builder (joblib's workers limit
  BLAS threads the same way).

Figures, each a paired comparison (melrec then librosa in every round, ``--repeats`` rounds,
medians; the ratio is the median of the per-round ratios, with their range):

* **1 process**: melrec on one FFT thread (the default) vs librosa in one process;
* **1 process, FFT on all cores**: melrec under ``scipy.fft.set_workers(cores)`` (the cache
  builder passes no ``workers``, so scipy's context reaches the FFT; pocketfft splits the batch
  by whole rows, so the cached fragments are the same bit for bit) vs librosa in one process;
* **--jobs processes**: both over files in ``--jobs`` joblib workers;
* **1 process vs librosa reading spans**: librosa too reads only the fragments
  (``librosa.load(path, offset=o, duration=8 s)`` per fragment), the fairest comparison of the
  DSP.

Printed: fragments per second and the ratio melrec / librosa (> 1: melrec is faster).

The corpus is the default melrec-synth if it is built, else the soundtracks corpus (real
music) if it is built, else the smoke corpus (built if missing); ``--tracks`` of its tracks
(seeded sample, all genres) keep the run under a minute.

Usage: ``python bench/fragment_speed.py [--size default|smoke] [--tracks 60] [--per-track 5]
[--config thesis] [--jobs N] [--repeats 1]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import numpy as np
import pandas as pd
import scipy.fft

from melrec_lib.corpora import melrec_synth, soundtracks
from melrec_lib.dsp import filters, fragment_cache, fragments
from melrec_lib.errors import DatasetError


def _manifest(size: str | None, n_tracks: int, seed: int) -> tuple[pd.DataFrame, str]:
    if size is None:
        try:
            df, size = melrec_synth.load_manifest("default"), "default"
        except DatasetError:
            try:
                df, size = soundtracks.load_manifest(), "soundtracks"
            except DatasetError:
                size = "smoke"
                try:
                    df = melrec_synth.load_manifest(size)
                except DatasetError:
                    df = melrec_synth.build(size=size, progress=False)
    elif size == "soundtracks":
        df = soundtracks.load_manifest()
    else:
        try:
            df = melrec_synth.load_manifest(size)
        except DatasetError:
            df = melrec_synth.build(size=size, progress=True)
    if n_tracks < len(df):
        # seeded, spread over the genres: shuffle, then take tracks round-robin by genre
        shuffled = df.sample(frac=1.0, random_state=seed)
        order = shuffled.groupby("genre", sort=True).cumcount()
        df = shuffled.assign(_r=order).sort_values(["_r", "genre"]).head(n_tracks)
        df = df.drop(columns="_r").sort_index()
    return df.reset_index(drop=True), size


def _librosa_fragments(segs: list[np.ndarray], config) -> np.ndarray:
    """librosa's mel spectrogram of 8 s segments with the thesis normalisation, (k, 64, n_mels)."""
    import librosa

    n_fft = filters.frame_length(config.sr, config.frame_duration)
    S = librosa.feature.melspectrogram(
        y=np.stack(segs),
        sr=config.sr,
        n_fft=n_fft,
        hop_length=n_fft,
        window="boxcar",
        center=False,
        power=1.0,
        n_mels=config.n_mels,
        fmax=config.fmax,
        htk=True,
        norm=None,
    )  # (k, n_mels, 64)
    S = np.swapaxes(S, 1, 2)
    peak = S.max(axis=(1, 2), keepdims=True)
    return (S / (peak / 2) - 1).astype(np.float32)


def _librosa_track(path: str, offsets: list[float], config) -> np.ndarray:
    import librosa

    y, sr = librosa.load(path, sr=config.sr, mono=True)
    span = filters.FRAGMENT_FRAMES * filters.frame_length(sr, config.frame_duration)
    return _librosa_fragments([y[int(round(o * sr)) : int(round(o * sr)) + span] for o in offsets], config)


def _librosa_track_spans(path: str, offsets: list[float], config) -> np.ndarray:
    """As :func:`_librosa_track`, each fragment read on its own (``librosa.load`` with
    ``offset`` and ``duration``: soundfile seeks there), like melrec's span reading."""
    import librosa

    span = filters.FRAGMENT_FRAMES * filters.frame_length(config.sr, config.frame_duration)
    segs = [
        librosa.load(path, sr=config.sr, mono=True, offset=o, duration=(span + 1) / config.sr)[0][:span]
        for o in offsets
    ]
    return _librosa_fragments(segs, config)


def _librosa_all(df: pd.DataFrame, index: pd.DataFrame, config, n_jobs: int, spans: bool = False) -> int:
    groups = index.groupby("track_id", sort=False)["offset_s"].apply(list)
    paths = df.set_index("track_id")["path"]
    args = [(paths[t], offs, config) for t, offs in groups.items()]
    track = _librosa_track_spans if spans else _librosa_track
    if n_jobs == 1:
        # one BLAS thread, as melrec's cache builder and joblib's workers run (fair and steadier)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            out = [track(*a) for a in args]
    else:
        from joblib import Parallel, delayed

        out = Parallel(n_jobs=n_jobs)(delayed(track)(*a) for a in args)
    return sum(len(x) for x in out)


def _melrec(df, config, *, per_track, seed, n_jobs) -> tuple[float, fragment_cache.Fragments]:
    with tempfile.TemporaryDirectory(prefix="melrec-bench-") as tmp:
        t0 = time.perf_counter()
        fr = fragment_cache.genre_fragments(
            df, config, per_track=per_track, seed=seed, n_jobs=n_jobs, progress=False, cache_dir=tmp
        )
        n = len(fr)
        elapsed = time.perf_counter() - t0
        index = fr.index.copy()
        del fr  # release the memory map before the folder goes
    return elapsed, fragment_cache.Fragments(X=np.zeros((n, 0, 0), np.float32), index=index, config=config)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--size",
        choices=sorted(melrec_synth.SIZES) + ["soundtracks"],
        default=None,
        help="corpus (default: 'default' if built, else 'soundtracks', else 'smoke')",
    )
    p.add_argument("--tracks", type=int, default=60)
    p.add_argument("--per-track", type=int, default=5)
    p.add_argument("--config", default="thesis", choices=sorted(fragments.CONFIGS))
    p.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="workers for the parallel figure (default: all cores)"
    )
    p.add_argument("--repeats", type=int, default=3, help="paired rounds per figure (median)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    config = fragments.get_config(args.config)
    df, size = _manifest(args.size, args.tracks, args.seed)
    import librosa

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}, librosa {librosa.__version__}; corpus {size}: "
        f"{len(df)} tracks, {df['genre'].nunique()} genres, "
        f"{df['duration_s'].astype(float).sum() / 60:.1f} min of audio; config "
        f"{config.name} ({config.key()}), {args.per_track} fragments per track"
    )
    # warm-up: imports, filter banks and worker start-up (in the main process and in the
    # joblib workers, which are reused between calls) are not what is measured
    for n_jobs in dict.fromkeys([1, args.jobs]):
        head = df.head(max(2, n_jobs))
        _, fr = _melrec(head, config, per_track=1, seed=args.seed, n_jobs=n_jobs)
        _librosa_all(head, fr.index, config, n_jobs)
        _librosa_all(head, fr.index, config, n_jobs, True)

    cores = os.cpu_count() or 1
    figures = [
        ("1 process", 1, None, 1, False),
        (f"1 process, FFT on {cores} threads", 1, cores, 1, False),
        (f"{args.jobs} processes", args.jobs, None, args.jobs, False),
        ("1 process", 1, None, 1, True),
    ]
    print(f"{'melrec':<30} {'librosa':<19} {'melrec frag/s':>14} {'librosa frag/s':>15} {'ratio':>7} {'range':>12}")
    for name, n_jobs, fft_threads, ref_jobs, ref_spans in figures:
        m_times, l_times = [], []
        for _ in range(args.repeats):
            with scipy.fft.set_workers(fft_threads or 1):
                elapsed, fr = _melrec(df, config, per_track=args.per_track, seed=args.seed, n_jobs=n_jobs)
            m_times.append(elapsed)
            t0 = time.perf_counter()
            n_ref = _librosa_all(df, fr.index, config, ref_jobs, ref_spans)
            l_times.append(time.perf_counter() - t0)
            assert n_ref == len(fr), (n_ref, len(fr))
        ratios = [l / m for m, l in zip(m_times, l_times)]
        m_rate = len(fr) / statistics.median(m_times)
        l_rate = len(fr) / statistics.median(l_times)
        ref_name = f"{ref_jobs} process" + ("es" if ref_jobs > 1 else "") + (", spans" if ref_spans else "")
        print(
            f"{name:<30} {ref_name:<19} {m_rate:>14.1f} {l_rate:>15.1f} "
            f"{statistics.median(ratios):>6.2f}x {min(ratios):>5.2f}-{max(ratios):<5.2f}x"
        )
    print(f"# load {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
