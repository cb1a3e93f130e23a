"""End-to-end ``melrec recommend`` on a synthesised 500-track library: cold and warm cache, against librosa features.

Run: ``python bench/recommend_speed.py [--tracks 500] [--seconds 10] [--models-from data/models]``

* A library of ``--tracks`` WAV files (``--seconds`` long, 44.1 kHz mono, seeded tones and noise,
  in 25 artist folders) is written to a temporary folder; the playlist is its first 10 tracks.
* The genre CNN comes from ``--models-from`` (copied into a temporary data folder, so nothing is
  written beside it), else from the weights shipped in the package.
* **cold**: ``cli.recommend`` with an empty cache (decoding, fragments, network, fit, scoring);
  **warm**: the same call again (the library cache answers every file).
* **librosa**: the same ranking computed from ``librosa.load(sr=44100)`` +
  ``librosa.feature.melspectrogram`` (the configuration's frame length, hop = frame, 128 Slaney
  bands up to its fmax) and the configuration's normalisation, through the same network, fit and
  scoring, all in this process; the ratio librosa / cold is printed, with the Spearman agreement
  of the two rankings.
* embedding throughput (``library.Store.sync`` on fresh caches) on 1 and 2 local workers and on a
  2-worker ``distributed.LocalCluster``.

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


def synthesise(folder: Path, n: int, seconds: float, sr: int = 44100) -> list[Path]:
    import soundfile as sf

    rng = np.random.default_rng(20261201)
    t = np.arange(int(seconds * sr)) / sr
    out = []
    for i in range(n):
        f0 = 110.0 * 2 ** rng.uniform(0, 3)
        y = sum(rng.uniform(0.05, 0.3) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) for k in (1, 2, 3, 4))
        y = y * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.2, 4) * t)) + rng.uniform(0.002, 0.05) * rng.standard_normal(t.size)
        p = folder / f"artist{i % 25:02d}" / f"track{i:04d}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, (0.8 * y / np.max(np.abs(y))).astype(np.float32), sr, subtype="PCM_16")
        out.append(p)
    return out


def librosa_ranking(files, liked, emb, pipe, epochs: int, seed: int):
    """The same recommendation from librosa features (load + melspectrogram), in this process."""
    import librosa
    import pandas as pd

    from melrec_lib import recommender, spectrogram

    cfg = spectrogram.get_config(pipe.config)
    n_fft = spectrogram.frame_length(cfg.sr)
    X, owner = [], []
    for i, p in enumerate(files):
        y, sr = librosa.load(p, sr=cfg.sr)
        S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=n_fft, center=False, power=1.0,
                                           n_mels=128, fmax=spectrogram.FMAX).T
        for k in range(S.shape[0] // 64):
            X.append(spectrogram.normalize(S[64 * k:64 * (k + 1)], cfg.normalization))
            owner.append(i)
    E, _ = emb.embed(np.asarray(X, np.float32))
    owner = np.asarray(owner)
    is_liked = np.isin(owner, [files.index(p) for p in liked])
    rec = recommender.fit(E[is_liked], E[~is_liked], epochs=epochs, config=pipe.mode, seed=seed)
    s = rec.predict(E[~is_liked])
    ids = [str(files[i]) for i in owner[~is_liked]]
    return recommender.rank(pd.Series(s).groupby(np.asarray(ids)).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--throughput-tracks", type=int, default=120)
    ap.add_argument("--models-from", default=str(Path(__file__).resolve().parents[1] / "data" / "models"))
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="melrec-bench-"))
    os.environ["MELREC_DATA_DIR"] = str(tmp / "data")
    models = Path(args.models_from)
    if models.is_dir():
        shutil.copytree(models, tmp / "data" / "models")
    from melrec_lib import cli, library, pipeline

    try:
        files = synthesise(tmp / "lib", args.tracks, args.seconds)
        liked = files[:10]
        pl = tmp / "liked.m3u"
        pl.write_text("\n".join(map(str, liked)) + "\n")
        pipe = pipeline.resolve()
        emb = pipeline.embedder(pipe)
        print(f"{args.tracks} tracks of {args.seconds:g} s; {emb.describe}; {os.cpu_count()} cores")

        def run():
            buf = io.StringIO()
            t0 = time.perf_counter()
            with redirect_stdout(buf):
                ranking = cli.recommend(playlist=str(pl), library=str(tmp / "lib"), epochs=args.epochs, progress=False,
                                        stream=buf)
            return time.perf_counter() - t0, ranking, buf.getvalue()

        cold, ranking, out = run()
        warm, ranking2, out2 = run()
        assert ranking2.equals(ranking)
        t0 = time.perf_counter()
        lib_rank = librosa_ranking(files, liked, emb, pipe, args.epochs, 0)
        t_librosa = time.perf_counter() - t0
        from scipy.stats import spearmanr

        a = ranking.set_index("path")["rank"]
        b = lib_rank.set_index("track_id")["rank"].reindex(a.index)
        rho = spearmanr(a, b).statistic
        n = args.tracks
        print(f"cold   {cold:7.2f} s  {n / cold:7.1f} tracks/s   ({[x for x in out.splitlines() if 'embedded' in x][0].split('; ')[1]})")
        print(f"warm   {warm:7.2f} s  {n / warm:7.1f} tracks/s   (target < 10 s)")
        print(f"librosa{t_librosa:7.2f} s  {n / t_librosa:7.1f} tracks/s   librosa / cold = {t_librosa / cold:.2f}x "
              f"(target >= 2x); Spearman of the two rankings {rho:.3f}")
        sub = files[: args.throughput_tracks]
        for label, kw in (("1 worker", {"n_jobs": 1}), ("2 workers", {"n_jobs": 2})):
            store = library.Store(emb, folder=tmp / f"store-{kw['n_jobs']}")
            rep = store.sync(sub, n_jobs=kw["n_jobs"], progress=False)
            print(f"embedding, {label:18s} {len(sub) / rep.seconds:7.1f} tracks/s")
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            store = library.Store(emb, folder=tmp / "store-dask")
            rep = store.sync(sub, scheduler=cluster.scheduler_address, progress=False)
            print(f"embedding, {'2-worker LocalCluster':18s} {len(sub) / rep.seconds:7.1f} tracks/s")
        store = library.Store(emb, folder=tmp / "store-1")
        print(f"cache: {store.nbytes() / len(sub):.0f} bytes per {args.seconds:g} s track "
              f"({store.nbytes() / len(sub) / (args.seconds // 8):.0f} per 8 s fragment, dim {emb.dim})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
