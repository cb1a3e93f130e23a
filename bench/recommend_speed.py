"""End-to-end ``melrec recommend`` on a synthesised 500-track library: cold and warm cache, against librosa features.

Run: ``python bench/recommend_speed.py [--tracks 500] [--seconds 10] [--pipelines best,corrected]``

* A library of ``--tracks`` WAV files (``--seconds`` long, 44.1 kHz mono, seeded tones and noise,
  in 25 artist folders) is written to a temporary folder; the playlist is its first 10 tracks.
* For each pipeline (default: ``best``, what ``melrec recommend`` runs, and ``corrected``, the
  shipped genre CNN at dense1024; both need no training):
  after one untimed round of both paths (JAX compilation and worker start-up, paid once per
  process), **cold**: ``melrec_lib.app.recommend.recommend`` with empty caches (decoding, features, network, MFCC statistics
  where the pipeline fuses them, fit, scoring); **warm**: the same call again (every file from
  the cache); **librosa**: the same call, cold, with the per-file features computed by librosa
  instead of melrec's DSP (``librosa.load`` + ``librosa.feature.melspectrogram`` with the
  parameters that define the same features: musicnn's 16 kHz, 512-point Hann, 96 Slaney bands;
  the genre CNN's 8 s segments at the thesis' offsets, 5512-point boxcar frames, 128 HTK bands,
  then the configuration's normalisation), everything else identical (cache, workers, network,
  fit), once on the same local workers (what melrec's DSP alone is worth) and once in one
  process (what a hand-written librosa script computing the same ranking does).  Printed: their
  time / cold (> 1: melrec faster), and the Spearman agreement of the rankings (1.0 = the same).
* what a file's identity costs (``library.audio_fingerprint``, stored per file, against the full
  ``library.audio_digest`` it stands in for), per file over the first 100;
* the per-file feature extraction alone (no network): melrec vs librosa on 2 workers, the
  ratio; embedding throughput (``library.Store.sync`` on fresh caches) on 1 and 2 local workers
  and on a 2-worker ``distributed.LocalCluster`` (its first sync, in which each worker loads and
  compiles the network, and a second one on warm workers); the cache's bytes per track.

Targets (issue 11): warm rerun under 10 s, cold at least 2x faster than the librosa path.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from melrec_lib.errors import AudioError


def synthesise(folder: Path, n: int, seconds: float, sr: int = 44100) -> list[Path]:
    import soundfile as sf

    rng = np.random.default_rng(20261201)
    t = np.arange(int(seconds * sr)) / sr
    out = []
    for i in range(n):
        f0 = 110.0 * 2 ** rng.uniform(0, 3)
        y = sum(rng.uniform(0.05, 0.3) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) for k in (1, 2, 3, 4))
        y = y * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.2, 4) * t)) + rng.uniform(
            0.002, 0.05
        ) * rng.standard_normal(t.size)
        p = folder / f"artist{i % 25:02d}" / f"track{i:04d}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, (0.8 * y / np.max(np.abs(y))).astype(np.float32), sr, subtype="PCM_16")
        out.append(p)
    return out


def librosa_musicnn_patches(path: str):
    """musicnn's patches from librosa: the original package's own input computation."""
    import librosa

    from melrec_lib.nets import musicnn

    y, _ = librosa.load(path, sr=musicnn.SAMPLE_RATE)
    if y.size < musicnn.MIN_SAMPLES:
        raise AudioError("too short")
    S = librosa.feature.melspectrogram(
        y=y, sr=musicnn.SAMPLE_RATE, n_fft=musicnn.N_FFT, hop_length=musicnn.HOP_LENGTH, n_mels=musicnn.N_MELS
    ).T
    return musicnn.patches(np.log10(10000 * S + 1).astype(np.float32))


def librosa_genre_fragments(path: str, config):
    """The genre CNN's consecutive 8 s fragments from librosa (same offsets, bank and normalisation)."""
    import librosa

    from melrec_lib.dsp import filters, fragments, spectrum

    y, sr = librosa.load(path, sr=config.sr)
    n_fft = filters.frame_length(sr, config.frame_duration)
    offsets = fragments.consecutive_offsets(len(y) / sr)
    if not len(offsets):
        raise AudioError("too short")
    seg = np.stack([y[round(o * sr) : round(o * sr) + 64 * n_fft] for o in offsets])
    S = librosa.feature.melspectrogram(
        y=seg,
        sr=sr,
        n_fft=n_fft,
        hop_length=n_fft,
        window="boxcar",
        center=False,
        power=1.0,
        n_mels=config.n_mels,
        fmin=0.0,
        fmax=config.fmax,
        htk=config.htk,
        norm=config.norm,
    )
    return spectrum.normalize(np.swapaxes(S, 1, 2), config.normalization).astype(np.float32)


def with_librosa_features(emb):
    """The embedder ``emb`` with librosa computing its per-file input (its own cache key)."""
    import dataclasses

    if emb.name.startswith("musicnn"):
        return dataclasses.replace(emb, key="librosa-" + emb.key, extract=librosa_musicnn_patches, extract_args=())
    return dataclasses.replace(emb, key="librosa-" + emb.key, extract=librosa_genre_fragments)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--throughput-tracks", type=int, default=120)
    ap.add_argument("--pipelines", default="best,corrected")
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="melrec-bench-"))
    from scipy.stats import spearmanr

    from melrec_lib import parallel
    from melrec_lib.app import library, pipeline
    from melrec_lib.app.recommend import Options, recommend

    try:
        files = synthesise(tmp / "lib", args.tracks, args.seconds)
        liked = files[:10]
        pl = tmp / "liked.m3u"
        pl.write_text("\n".join(map(str, liked)) + "\n")
        n = args.tracks
        print(f"{n} tracks of {args.seconds:g} s; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}")
        ident = {}
        for f in (library.audio_fingerprint, library.audio_digest):  # what each file's identity costs
            t0 = time.perf_counter()
            for p in files[:100]:
                f(p)
            ident[f.__name__] = (time.perf_counter() - t0) / min(100, len(files)) * 1e3
        print(
            f"identity per file: audio_fingerprint {ident['audio_fingerprint']:.3f} ms, the full audio_digest "
            f"{ident['audio_digest']:.3f} ms ({ident['audio_digest'] / ident['audio_fingerprint']:.0f}x; "
            "stored: the fingerprint, the digest only for equal fingerprints)"
        )
        for name in args.pipelines.split(","):
            pipe = pipeline.resolve(name)
            os.environ["MELREC_DATA_DIR"] = str(tmp / f"data-{name}")  # no user-trained model: the shipped one
            emb = pipeline.embedder(pipe)
            print(f"\n== pipeline {name}: {pipe.describe()}\n   {emb.describe}")

            def run(n_jobs=None):
                buf = io.StringIO()
                t0 = time.perf_counter()
                with redirect_stdout(buf):
                    ranking = recommend(
                        str(pl),
                        str(tmp / "lib"),
                        pipeline=name,
                        options=Options(epochs=args.epochs, progress=False, n_jobs=n_jobs),
                        log=lambda line: print(line, file=buf),
                    ).ranking
                return time.perf_counter() - t0, ranking

            real = pipeline.embedder

            def run_librosa(n_jobs=None):
                pipeline.embedder = lambda *a, **k: with_librosa_features(real(*a, **k))
                try:
                    return run(n_jobs)
                finally:
                    pipeline.embedder = real

            def clear():
                shutil.rmtree(Path(os.environ["MELREC_DATA_DIR"]) / "processed" / "library", ignore_errors=True)

            # one untimed round of each first: compilation (JAX) and worker start-up are paid once
            # per process, whichever path runs first; then each cold run starts from empty caches
            for f in (run, run_librosa):
                clear()
                f()
            clear()
            cold, ranking = run()
            warm, again = run()
            assert again.equals(ranking)
            clear()
            t_librosa, lib_rank = run_librosa()
            clear()
            t_script, script_rank = run_librosa(n_jobs=1)
            a = ranking.set_index("path")["rank"]
            print(f"cold    {cold:7.2f} s  {n / cold:7.1f} tracks/s")
            print(f"warm    {warm:7.2f} s  {n / warm:7.1f} tracks/s   (target < 10 s)")
            for label, t, r in (
                ("librosa features, same workers", t_librosa, lib_rank),
                ("librosa features, one process", t_script, script_rank),
            ):
                rho = spearmanr(a, r.set_index("path")["rank"].reindex(a.index)).statistic
                print(
                    f"{label}: {t:7.2f} s  {n / t:7.1f} tracks/s   / cold = {t / cold:.2f}x (target >= 2x); "
                    f"Spearman of the two rankings {rho:.4f}"
                )
            sub = [str(f) for f in files[: args.throughput_tracks]]
            lemb = with_librosa_features(emb)
            times = {}
            for label, e in (("melrec", emb), ("librosa", lemb)):
                t0 = time.perf_counter()
                for _ in parallel.parallel_imap(e.extract, [(f, *e.extract_args) for f in sub], star=True, n_jobs=2):
                    pass
                times[label] = time.perf_counter() - t0
            print(
                f"features only, 2 workers: melrec {len(sub) / times['melrec']:.1f} tracks/s, librosa "
                f"{len(sub) / times['librosa']:.1f} tracks/s: {times['librosa'] / times['melrec']:.2f}x"
            )
            for label, kw in (("1 worker", {"n_jobs": 1}), ("2 workers", {"n_jobs": 2})):
                store = library.Store(emb, folder=tmp / f"store-{name}-{kw['n_jobs']}")
                rep = store.sync(sub, n_jobs=kw["n_jobs"], progress=False)
                print(f"embedding, {label:22s} {len(sub) / rep.seconds:7.1f} tracks/s")
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
                for label in ("2-worker LocalCluster", "the same, warm workers"):
                    # the first sync includes each worker loading and compiling the network
                    store = library.Store(emb, folder=tmp / f"store-{name}-dask-{len(label)}")
                    rep = store.sync(sub, scheduler=cluster.scheduler_address, progress=False)
                    print(f"embedding, {label:22s} {len(sub) / rep.seconds:7.1f} tracks/s")
            store = library.Store(emb, folder=tmp / f"store-{name}-1")
            print(f"cache: {store.nbytes() / len(sub):.0f} bytes per {args.seconds:g} s track (dim {emb.dim})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
