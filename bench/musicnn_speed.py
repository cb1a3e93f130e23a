"""musicnn speed: tracks per second of melrec's Keras/JAX port against the original extractor, same clips, same run.

Each round times, one after the other on the same WAV files (so all see the same machine load):

1. the ORIGINAL ``musicnn.extractor.extractor(path, model=M, input_length=3,
   input_overlap=False, extract_features=True)``, once per file as its users call it, in the
   reference environment (``tools/musicnn_reference.py --time``, run in a subprocess; its
   TensorFlow import and one warm-up call are not timed).  Skipped, with a note, when that
   environment is missing (``--reference-python``).
2. the port, one file at a time: ``melrec_lib.nets.musicnn.extract(path, model=M)``.
3. the port over the collection: ``musicnn.track_embeddings(manifest, cache=False)``
   (spectrograms in worker processes, patches of all tracks batched through the network).
4. melrec's own preprocessor: ``audio.load`` at 44.1 kHz, ``fragments.fragments`` of the
   consecutive 8 s fragments (``"corrected"`` config), then ``architecture.preprocessor(genre_cnn(),
   cut="pool2")`` on all fragments in one call (untrained weights: same work as trained ones).

Printed: tracks/s of each (median over rounds) and the ratios, each the median over rounds of
the per-round ratio (> 1: the first is faster).  The issue's target: port >= 10x the original.
The port's jitted shapes and the preprocessor are compiled in a warm-up before the rounds.

Clips: ``--tracks`` deterministic synthetic tracks (tones, chords, noise bursts) of
``--seconds`` s, written as 16-bit WAV at 22050 Hz (so both loaders resample to 16 kHz).
Usage: ``python bench/musicnn_speed.py [--tracks 4] [--seconds 30] [--rounds 3]
[--model MSD_musicnn] [--reference-python /work/venvs/musicnn-ref/bin/python]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

import melrec_lib  # noqa: F401  (KERAS_BACKEND=jax before keras)
from melrec_lib import paths
from melrec_lib.dsp import filters, fragments
from melrec_lib.io import audio
from melrec_lib.nets import architecture, musicnn

SR = 22050
REFERENCE_PYTHON = os.environ.get("MELREC_MUSICNN_REF_PYTHON", "/work/venvs/musicnn-ref/bin/python")
TOOL = paths.ROOT / "tools" / "musicnn_reference.py"


def _track(seconds: float, seed: int) -> np.ndarray:
    """A deterministic synthetic track: a tone melody, sustained chords and noise bursts."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    y = np.zeros(n)
    for start in range(0, n, int(0.4 * SR)):
        m = min(n - start, int(0.5 * SR))
        f0 = 220.0 * 2 ** (rng.integers(0, 24) / 12)
        env = np.exp(-np.arange(m) / (0.15 * SR))
        y[start : start + m] += sum(0.5**h * np.sin(2 * np.pi * f0 * (h + 1) * t[:m]) for h in range(5)) * env
    for f in 110.0 * 2 ** (np.array([0, 4, 7]) / 12):
        y += 0.3 * np.sin(2 * np.pi * f * t)
    for start in range(0, n, int(0.5 * SR)):
        m = min(n - start, int(0.05 * SR))
        y[start : start + m] += rng.standard_normal(m) * np.exp(-np.arange(m) / (0.01 * SR))
    return 0.5 * y / np.abs(y).max()


def _write(path: Path, y: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(np.clip(np.rint(y * 32767), -32768, 32767).astype("<i2").tobytes())
    return path


def _original(python: str, files: list[str], model: str) -> float:
    """Seconds the original extractor takes over ``files`` (sum of per-file calls)."""
    out = subprocess.run(
        [python, str(TOOL), "--time", *files, "--model", model],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    return sum(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tracks", type=int, default=4)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--model", default="MSD_musicnn", choices=musicnn.MODELS)
    p.add_argument(
        "--reference-python",
        default=REFERENCE_PYTHON,
        help="python of the reference environment (default: %(default)s, or $MELREC_MUSICNN_REF_PYTHON)",
    )
    args = p.parse_args(argv)

    import jax
    import pandas as pd

    tmp = Path(tempfile.mkdtemp(prefix="musicnn-bench-"))
    files = [str(_write(tmp / f"track{i}.wav", _track(args.seconds, i))) for i in range(args.tracks)]
    manifest = pd.DataFrame({"track_id": [f"t{i}" for i in range(args.tracks)], "path": files})
    have_ref = Path(args.reference_python).is_file()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}, jax {jax.__version__} on {jax.default_backend()}, "
        f"{args.tracks} tracks x {args.seconds:g} s at {SR} Hz, model {args.model}, {args.rounds} rounds"
    )

    config = fragments.get_config("corrected")
    pre = architecture.preprocessor(architecture.genre_cnn(9, seed=0), cut="pool2")

    def port_files():
        for f in files:
            musicnn.extract(f, model=args.model, faithful=False)

    def port_collection():
        musicnn.track_embeddings(manifest, model=args.model, corpus_name="bench", cache=False, progress=False)

    def own_preprocessor():
        X = []
        for f in files:
            y, sr = audio.load(f, sr=filters.SAMPLE_RATE)
            X.append(fragments.fragments(y, sr, fragments.consecutive_offsets(y.size / sr), config))
        pre.predict(np.concatenate(X), batch_size=256, verbose=0)

    own = args.seconds >= filters.FRAGMENT_DURATION  # the genre CNN needs one 8 s fragment
    if not own:
        print(
            f"# tracks shorter than {filters.FRAGMENT_DURATION:g} s hold no genre-CNN fragment: "
            "its preprocessor is not timed"
        )
    for fn in (port_files, port_collection) + ((own_preprocessor,) if own else ()):  # compile once
        fn()
    if have_ref:
        _original(args.reference_python, files[:1], args.model)  # pip caches, TF's first import
    else:
        print(
            f"# reference environment {args.reference_python} not found: the original is not timed "
            "(see tools/musicnn_reference.py for how to create it)"
        )

    times: dict[str, list[float]] = {"original": [], "extract": [], "collection": [], "preprocessor": []}
    for _ in range(args.rounds):
        if have_ref:
            times["original"].append(_original(args.reference_python, files, args.model))
        times["extract"].append(_timed(port_files))
        times["collection"].append(_timed(port_collection))
        if own:
            times["preprocessor"].append(_timed(own_preprocessor))

    def rate(key):
        return args.tracks / statistics.median(times[key])

    def ratio(a, b):  # median over rounds of time(b) / time(a): > 1 means a is faster
        return statistics.median(tb / ta for ta, tb in zip(times[a], times[b]))

    print(f"port, extract() per file:          {rate('extract'):6.2f} tracks/s")
    print(f"port, track_embeddings() batched:  {rate('collection'):6.2f} tracks/s")
    if own:
        print(f"melrec genre CNN preprocessor:     {rate('preprocessor'):6.2f} tracks/s (pool2, corrected fragments)")
    if have_ref:
        print(f"original musicnn extractor:        {rate('original'):6.2f} tracks/s")
        print(f"speed-up extract / original:       {ratio('extract', 'original'):6.1f}x")
        print(f"speed-up track_embeddings / original: {ratio('collection', 'original'):6.1f}x")
        best = max(ratio("extract", "original"), ratio("collection", "original"))
        print(f"target (port >= 10x the original): {'met' if best >= 10 else 'NOT met'}")
    if own:
        print(f"genre CNN preprocessor / port (track_embeddings): {ratio('preprocessor', 'collection'):6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
