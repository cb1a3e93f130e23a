"""Training and preprocessing speed of the genre CNN: the Conv1D form vs the literal Conv2D form.

Prints seconds per epoch over 1000 fragments (random data; median over timed epochs, the first,
compiling epoch excluded; the Conv1D form both plain and with the band/frame masking that
``training.train`` applies by default) and preprocessor (pool2 cut) throughput in fragments/s, for both
builds of Table 4.1 in the same run, and their ratio.  The literal Conv2D form is very slow to
train on JAX/CPU (XLA's input-gradient of the 256 x 2 convolution), so by default only a few
of its batches are timed and scaled to an epoch (said in the output).

Usage: ``python bench/train_speed.py [--fragments 1000] [--epochs 3] [--conv2d-batches 2]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

import melrec_lib  # noqa: F401  (KERAS_BACKEND=jax before keras)
from melrec_lib.nets import architecture, training


def _epoch_times(model, X, Y=None, *, epochs: int, batch_size: int) -> list[float]:
    import keras

    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)

    if Y is None:  # X is a keras PyDataset (batches of its own)
        model.fit(X, epochs=epochs + 1, verbose=0, callbacks=[Timer()])
    else:
        model.fit(X, Y, epochs=epochs + 1, batch_size=batch_size, verbose=0, callbacks=[Timer()])
    return times[1:]  # the first epoch includes XLA compilation


def _batch_times(model, X, Y, *, batches: int, batch_size: int) -> list[float]:
    model.train_on_batch(X[:batch_size], Y[:batch_size])  # compile
    out = []
    for b in range(batches):
        sl = slice(b * batch_size, (b + 1) * batch_size)
        t0 = time.perf_counter()
        model.train_on_batch(X[sl], Y[sl])
        out.append(time.perf_counter() - t0)
    return out


def _throughput(model, X, *, batch_size: int = 256, repeats: int = 3) -> float:
    pre = architecture.preprocessor(model, "pool2")
    pre.predict(X[:batch_size], batch_size=batch_size, verbose=0)  # compile
    best = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pre.predict(X, batch_size=batch_size, verbose=0)
        best.append(time.perf_counter() - t0)
    return len(X) / statistics.median(best)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fragments", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=3, help="timed epochs of the Conv1D form")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--conv2d-batches",
        type=int,
        default=2,
        help="timed batches of the Conv2D form (0: time whole epochs like Conv1D)",
    )
    args = p.parse_args(argv)

    import jax

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(args.fragments, 64, 128)).astype(np.float32)
    Y = np.eye(9, dtype=np.float32)[rng.integers(0, 9, args.fragments)]
    n_batches = -(-args.fragments // args.batch_size)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}, jax {jax.__version__} on {jax.default_backend()}, "
        f"{args.fragments} random fragments, batch {args.batch_size}"
    )

    m1 = architecture.genre_cnn(9, seed=0)
    t1 = _epoch_times(m1, X, Y, epochs=args.epochs, batch_size=args.batch_size)
    e1 = statistics.median(t1)
    print(f"conv1d  epoch: median {e1:.3f} s over {len(t1)} epochs ({', '.join(f'{t:.3f}' for t in t1)})")

    m1m = architecture.genre_cnn(9, seed=0)
    masked = training.masked_batches(X, Y, args.batch_size, 0)  # what train(augment=True) feeds
    t1m = _epoch_times(m1m, masked, epochs=args.epochs, batch_size=args.batch_size)
    e1m = statistics.median(t1m)
    print(
        f"conv1d  epoch with band/frame masking (the default recipe): median {e1m:.3f} s "
        f"over {len(t1m)} epochs; masked / plain {e1m / e1:.2f}x"
    )

    m2 = architecture.genre_cnn_conv2d(9, seed=0)
    if args.conv2d_batches > 0:
        b2 = _batch_times(m2, X, Y, batches=args.conv2d_batches, batch_size=args.batch_size)
        e2 = statistics.median(b2) * n_batches
        print(
            f"conv2d  epoch: {e2:.3f} s estimated from {len(b2)} timed batches "
            f"(median {statistics.median(b2):.3f} s/batch x {n_batches} batches)"
        )
    else:
        t2 = _epoch_times(m2, X, Y, epochs=args.epochs, batch_size=args.batch_size)
        e2 = statistics.median(t2)
        print(f"conv2d  epoch: median {e2:.3f} s over {len(t2)} epochs")
    print(f"training speed-up conv1d / conv2d: {e2 / e1:.1f}x")

    f1 = _throughput(m1, X)
    f2 = _throughput(m2, X)
    print(f"preprocessor (pool2) conv1d: {f1:,.0f} fragments/s; conv2d: {f2:,.0f} fragments/s; ratio {f1 / f2:.1f}x")
    for name, e in (("plain", e1), ("masked", e1m)):
        print(
            f"target (epoch over 1000 fragments < 1 s, conv1d, {name}): "
            f"{'met' if e * 1000 / args.fragments < 1 else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
