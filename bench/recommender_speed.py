"""Per-user cost of the recommender, the thesis' own stated weakness (4.5): fit time and scoring rate.

Experiment-2 scale: all fragments of 25 playlist tracks as positives (~5 per track: 125), a
negative pool of 800 tracks' fragments, 500 epochs, batch 16 - 8,000 SGD steps of the thesis
network on 1792-feature preprocessor embeddings.  Timed twice in the same run:

* ``recommender.fit`` - the whole schedule in one jitted ``lax.scan`` loop (compile excluded,
  reported separately);
* ``recommender.fit_reference`` - the naive loop, one Keras ``model.fit`` call per epoch, as in
  the thesis' ``Recomendator.fit``; timed over ``--reference-epochs`` epochs and scaled to 500
  (its cost is linear in epochs), unless ``--full-reference``.

Then scoring throughput: tracks per second from cached embeddings (``Recommender.score_tracks``:
a forward pass over every fragment and the per-track mean).  Targets on the 2-core machine:
fit under 30 s, scoring over 1000 tracks/s.  Embeddings are random (timing does not depend on
their values).

Usage: ``python bench/recommender_speed.py [--epochs 500] [--reference-epochs 50]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

from melrec_lib.recsys import recommender  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=25, help="playlist tracks (positives: all their fragments)")
    ap.add_argument("--fragments-per-track", type=int, default=5)
    ap.add_argument("--pool-tracks", type=int, default=800)
    ap.add_argument("--features", type=int, default=1792, help="embedding size (pool2 cut: 1792)")
    ap.add_argument("--epochs", type=int, default=recommender.EXPERIMENT2_EPOCHS)
    ap.add_argument(
        "--reference-epochs", type=int, default=50, help="epochs timed for the naive loop (scaled to --epochs)"
    )
    ap.add_argument("--full-reference", action="store_true", help="time the naive loop over all epochs")
    ap.add_argument("--mode", default="thesis", choices=list(recommender.CONFIGS))
    ap.add_argument("--score-tracks", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    n_pos = args.tracks * args.fragments_per_track
    P = rng.standard_normal((n_pos, args.features), dtype=np.float32)
    N = rng.standard_normal((args.pool_tracks * args.fragments_per_track, args.features), dtype=np.float32)
    steps = args.epochs * -(-2 * n_pos // 16)
    print(
        f"experiment-2 scale: {n_pos} positives, pool {len(N)} fragments, {args.epochs} epochs, "
        f"{steps} batches of 16, {args.features} features, mode {args.mode}"
    )

    t0 = time.perf_counter()
    recommender.fit(P, N, epochs=1, mode=args.mode, seed=args.seed)  # compiles
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rec = recommender.fit(P, N, epochs=args.epochs, mode=args.mode, seed=args.seed)
    fit_s = time.perf_counter() - t0
    print(
        f"fit (jitted loop):        {fit_s:7.2f} s  (+ {compile_s:.1f} s first-call compile)  "
        f"{1e3 * fit_s / steps:.2f} ms/batch   target < 30 s: {'OK' if fit_s < 30 else 'MISSED'}"
    )

    ref_epochs = args.epochs if args.full_reference else min(args.reference_epochs, args.epochs)
    recommender.fit_reference(P, N, epochs=1, mode=args.mode, seed=args.seed)  # warm Keras' compile
    t0 = time.perf_counter()
    recommender.fit_reference(P, N, epochs=ref_epochs, mode=args.mode, seed=args.seed)
    ref_s = (time.perf_counter() - t0) * args.epochs / ref_epochs
    how = (
        "measured" if ref_epochs == args.epochs else f"{ref_epochs} epochs timed, scaled x{args.epochs / ref_epochs:g}"
    )
    print(f"fit (model.fit per epoch): {ref_s:7.2f} s  ({how})")
    print(f"speed-up of the jitted loop over the naive loop: {ref_s / fit_s:.1f}x")

    n_tracks = args.score_tracks
    X = rng.standard_normal((n_tracks * args.fragments_per_track, args.features), dtype=np.float32)
    ids = np.repeat(np.arange(n_tracks), args.fragments_per_track)
    rec.score_tracks(X[:4096], ids[:4096])  # compile
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        rec.score_tracks(X, ids)
        times.append(time.perf_counter() - t0)
    rate = n_tracks / float(np.median(times))
    print(
        f"scoring: {rate:,.0f} tracks/s ({args.fragments_per_track} fragments per track, median of 3)   "
        f"target > 1000: {'OK' if rate > 1000 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
