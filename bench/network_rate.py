"""How close musicnn's network runs to this machine's arithmetic rate, on one core.

Run: ``python bench/network_rate.py [--patches 32] [--repeats 5]`` (about 30 seconds).

The process pins itself to one core before JAX starts (``os.sched_setaffinity``: XLA then sizes
its thread pool to one thread) and times, in the same run:

* **the reference**: XLA's float32 matrix product of two 2048 x 2048 matrices (jitted), the
  rate this core reaches on dense arithmetic (GFLOP/s);
* **musicnn** (:func:`melrec_lib.nets.musicnn.predict`, MSD model) on a batch of ``--patches``
  random log-mel patches: milliseconds per 3 s patch, and the GFLOP/s that implies from the
  network's multiply-adds (:func:`musicnn_macs`, counted from its layer shapes);
* **its first timbral convolution alone** (7 x 38 kernel, 204 filters, the largest layer);
* **lower precision**: XLA's bfloat16 matrix product (float32 sums; processors with AMX or
  AVX512-BF16 run it several times faster than float32), and the first convolution rewritten as
  that product (im2col: the 7 x 38 windows of each patch laid out as rows, in bfloat16), the
  only way XLA's CPU backend uses those units (its bfloat16 convolution is no faster than its
  float32 one).

Printed: each rate and its ratio to the matrix product's.  A network at a ratio near 1 can only
get faster with less arithmetic (fewer patches, a smaller network), not with better code.
The minimum of ``--repeats`` runs is taken (the least disturbed by other processes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def musicnn_macs() -> int:
    """Multiply-adds of one musicnn patch (187 frames x 96 bands), from ``musicnn/models.py``'s shapes.

    Front end: two timbral convolutions (7 x 38 and 7 x 67 bands, 204 filters, time padded to
    keep 187 frames) and three temporal ones (128, 64 and 32 frames x 1 band, 51 filters, "same"
    padding over the 96 bands); mid end: three width-7 convolutions over 561, 64 and 64 channels
    to 64; back end: dense 1506 -> 200 -> 50.

    >>> round(musicnn_macs() / 1e9, 2)
    1.4
    """
    frames, bands = 187, 96
    front = frames * (bands - 38 + 1) * 204 * 7 * 38 + frames * (bands - 67 + 1) * 204 * 7 * 67
    front += sum(frames * bands * 51 * k for k in (128, 64, 32))
    mid = frames * 64 * 7 * (561 + 64 + 64)
    back = 1506 * 200 + 200 * 50
    return front + mid + back


def _best(fn, repeats: int) -> float:
    fn()  # compiled and warm
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    if not hasattr(os, "sched_setaffinity"):
        raise SystemExit("needs os.sched_setaffinity (Linux) to pin the process to one core")
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # before JAX starts its thread pool

    import jax
    import jax.numpy as jnp
    import numpy as np

    from melrec_lib.nets import musicnn

    rng = np.random.default_rng(20261206)
    a = jnp.asarray(rng.random((2048, 2048), dtype=np.float32))
    b = jnp.asarray(rng.random((2048, 2048), dtype=np.float32))
    matmul = jax.jit(lambda a, b: a @ b)
    t = _best(lambda: matmul(a, b).block_until_ready(), args.repeats)
    ref = 2 * 2048**3 / t / 1e9
    print(f"XLA float32 matrix product, one core: {ref:6.1f} GFLOP/s (the reference)")

    x = jnp.asarray(rng.random((args.patches, 193, 96, 1), dtype=np.float32))
    w = jnp.asarray(rng.random((7, 38, 1, 204), dtype=np.float32))
    conv = jax.jit(
        lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    )
    t = _best(lambda: conv(x, w).block_until_ready(), args.repeats)
    rate = 2 * args.patches * 187 * 59 * 204 * 7 * 38 / t / 1e9
    print(f"musicnn's first timbral convolution:  {rate:6.1f} GFLOP/s, {rate / ref:.2f}x the reference")

    a16, b16 = a.astype(jnp.bfloat16), b.astype(jnp.bfloat16)
    matmul16 = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32))
    t = _best(lambda: matmul16(a16, b16).block_until_ready(), args.repeats)
    print(
        f"XLA bfloat16 matrix product, one core: {2 * 2048**3 / t / 1e9:6.1f} GFLOP/s, {2 * 2048**3 / t / 1e9 / ref:.2f}x"
    )

    def im2col16(x, w):
        x16 = x[..., 0].astype(jnp.bfloat16)
        cols = jnp.stack([x16[:, i : i + 187, j : j + 59] for i in range(7) for j in range(38)], axis=-1)
        return jnp.dot(cols, w.reshape(7 * 38, 204).astype(jnp.bfloat16), preferred_element_type=jnp.float32)

    im2col16 = jax.jit(im2col16)
    err = float(jnp.abs(im2col16(x, w) - conv(x, w)[..., :]).max() / jnp.abs(conv(x, w)).max())
    t = _best(lambda: im2col16(x, w).block_until_ready(), args.repeats)
    rate = 2 * args.patches * 187 * 59 * 204 * 7 * 38 / t / 1e9
    print(f"... as a bfloat16 product (im2col):   {rate:6.1f} GFLOP/s, {rate / ref:.2f}x (largest error {err:.1e})")

    X = rng.random((args.patches, musicnn.PATCH_FRAMES, musicnn.N_MELS), dtype=np.float32) * 3
    t = _best(lambda: musicnn.predict(X, model="MSD_musicnn"), args.repeats)
    rate = 2 * musicnn_macs() * args.patches / t / 1e9
    print(
        f"musicnn, {args.patches} patches per batch:     {rate:6.1f} GFLOP/s, {rate / ref:.2f}x the reference; "
        f"{1000 * t / args.patches:.1f} ms per 3 s patch ({musicnn_macs() / 1e9:.2f} G multiply-adds each)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
