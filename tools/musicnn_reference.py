"""Write the reference outputs of the ORIGINAL musicnn package that melrec's port is tested against.

Runs in a separate virtual environment holding TensorFlow, never in melrec's own (which has no
TensorFlow at all)::

    python3.11 -m venv /work/venvs/musicnn-ref
    /work/venvs/musicnn-ref/bin/pip install tensorflow-cpu==2.15.1 "numpy<2" librosa==0.10.2.post1
    /work/venvs/musicnn-ref/bin/pip install --no-deps musicnn==0.1.0
    /work/venvs/musicnn-ref/bin/python tools/musicnn_reference.py          # -> tests/data/musicnn_reference.npz

It synthesises three short clips with numpy alone (tones, stereo noise bursts, chords; at
22050 and 16000 Hz so that both the resampling and the pass-through path of ``librosa.load`` are
exercised), writes them as 16-bit WAV files, runs ``musicnn.extractor.extractor(path, model=M,
input_length=3, input_overlap=False, extract_features=True)`` on each for ``MSD_musicnn`` and
``MTT_musicnn``, and saves one compressed ``.npz`` holding the clips' int16 samples (so the test
needs no re-synthesis), the taggrams, the penultimate features as the extractor returns them,
the penultimate features of every patch from the same graph (:func:`penultimate_per_patch`: the
extractor repeats the first patch's for all patches), the original's input spectrogram
(``batch_data``), the shape, dtype and SHA-256 of every checkpoint tensor as TensorFlow's own
reader returns it (for the checkpoint reader's test) and the versions of musicnn, TensorFlow,
librosa and numpy used.

The spectrogram is stored as the float16 mel power the original quantises to before its
``log10(1 + 10000 x)`` (the script checks that those float16 values reproduce the original's
float32 log-mel input exactly), which halves its size.

``--time FILE...`` instead prints, as JSON, the seconds the original extractor takes per file
(``bench/musicnn_speed.py`` calls it that way).

musicnn is by Jordi Pons and Xavier Serra (ISC licence); this script only calls it.
This file must import nothing from melrec_lib: melrec needs numpy 2, this environment numpy < 2.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

MODELS = ("MSD_musicnn", "MTT_musicnn")
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "musicnn_reference.npz"


def _envelope(n: int, sr: int, attack: float, decay: float) -> np.ndarray:
    t = np.arange(n) / sr
    return np.minimum(1.0, t / attack) * np.exp(-t / decay)


def _tones(sr: int = 22050, seconds: float = 7.0) -> np.ndarray:
    """A melody of harmonic tones, one note every 0.35 s, with a faint noise floor."""
    rng = np.random.default_rng(1)
    n = int(sr * seconds)
    y = np.zeros(n)
    step = int(0.35 * sr)
    midi = [60, 64, 67, 72, 71, 67, 64, 62, 65, 69, 72, 74, 76, 72, 67, 64, 60, 55, 59, 62]
    for i, start in enumerate(range(0, n, step)):
        f0 = 440.0 * 2 ** ((midi[i % len(midi)] - 69) / 12)
        m = min(n - start, int(0.6 * sr))
        t = np.arange(m) / sr
        note = sum((0.6**h) * np.sin(2 * np.pi * f0 * (h + 1) * t) for h in range(6))
        y[start : start + m] += note * _envelope(m, sr, 0.01, 0.25)
    y += 0.01 * rng.standard_normal(n)
    return 0.3 * y / np.abs(y).max()


def _noise(sr: int = 16000, seconds: float = 4.0) -> np.ndarray:
    """Stereo: band-limited noise bursts on a beat (left) and clicks with a low drone (right)."""
    rng = np.random.default_rng(2)
    n = int(sr * seconds)
    left, right = np.zeros(n), np.zeros(n)
    beat = int(0.25 * sr)
    for k, start in enumerate(range(0, n, beat)):
        m = min(n - start, int(0.12 * sr))
        burst = rng.standard_normal(m)
        if k % 2:
            burst = np.convolve(burst, np.ones(8) / 8, mode="same")  # darker off-beats
        left[start : start + m] += burst * _envelope(m, sr, 0.002, 0.03)
        right[start : start + 40] += np.hanning(40) * (1.0 if k % 4 == 0 else 0.5)
    t = np.arange(n) / sr
    right += 0.2 * np.sin(2 * np.pi * 55 * t) + 0.1 * np.sin(2 * np.pi * 110.5 * t)
    y = np.stack([left, right], axis=1)
    return 0.5 * y / np.abs(y).max()


def _chords(sr: int = 16000, seconds: float = 9.5) -> np.ndarray:
    """Sustained triads (sawtooth-like partials) over a bass, changing every 1.2 s."""
    n = int(sr * seconds)
    y = np.zeros(n)
    step = int(1.2 * sr)
    progression = [(57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62)]
    for i, start in enumerate(range(0, n, step)):
        m = min(n - start, step)
        t = np.arange(m) / sr
        chord = progression[i % len(progression)]
        for note in chord + (chord[0] - 12,):
            f0 = 440.0 * 2 ** ((note - 69) / 12)
            y[start : start + m] += sum(
                np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 9) if f0 * h < sr / 2
            ) * _envelope(m, sr, 0.05, 2.0)
    return 0.6 * y / np.abs(y).max()


CLIPS = {"tones": (_tones, 22050), "noise": (_noise, 16000), "chords": (_chords, 16000)}


def synthesise() -> dict[str, tuple[np.ndarray, int]]:
    """Each clip as int16 samples (n,) or (n, 2), with its sample rate."""
    out = {}
    for name, (make, sr) in CLIPS.items():
        y = make(sr=sr)
        out[name] = (np.clip(np.rint(y * 32767), -32768, 32767).astype(np.int16), sr)
    return out


def write_wav(path: Path, samples: np.ndarray, sr: int) -> None:
    """A 16-bit PCM WAV file of int16 ``samples`` (n,) or (n, channels)."""
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {
        "musicnn": version("musicnn"),
        "tensorflow": version("tensorflow-cpu"),
        "librosa": version("librosa"),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def penultimate_per_patch(path: str, model: str) -> np.ndarray:
    """The penultimate features of EVERY patch, from the original graph and checkpoint.

    ``extractor.extractor`` returns the first patch's penultimate features for all patches (in
    its loop over later batches it concatenates the stale ``penultimate_`` of the first batch);
    this runs the same graph (``models.define_model``, the same ``Saver.restore``) over all
    patches at once, so the port's per-patch features can be checked too.
    """
    import librosa
    import tensorflow as tf
    from musicnn import configuration, extractor, models

    n_frames = (
        librosa.time_to_frames(3, sr=configuration.SR, n_fft=configuration.FFT_SIZE, hop_length=configuration.FFT_HOP)
        + 1
    )
    batch, _ = extractor.batch_data(path, n_frames, n_frames)
    labels = configuration.MTT_LABELS if "MTT" in model else configuration.MSD_LABELS
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, configuration.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        outputs = models.define_model(x, is_training, model, len(labels))
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().restore(sess, os.path.dirname(extractor.__file__) + "/" + model + "/")
        return np.asarray(sess.run(outputs[-1], feed_dict={x: batch, is_training: False}), dtype=np.float32)


def checkpoint_digests(model: str) -> dict[str, list]:
    """``name -> [shape, dtype, sha256 of the bytes]`` of every tensor, as TensorFlow reads them."""
    import hashlib

    import tensorflow as tf
    from musicnn import extractor

    reader = tf.compat.v1.train.NewCheckpointReader(os.path.dirname(extractor.__file__) + "/" + model + "/")
    out = {}
    shapes = reader.get_variable_to_shape_map()
    for name in sorted(shapes):
        value = np.asarray(reader.get_tensor(name))  # np.ascontiguousarray would make a scalar 1-D
        if list(value.shape) != list(shapes[name]):
            raise SystemExit(f"{model} {name}: TF's shape map says {shapes[name]}, the tensor {value.shape}")
        out[name] = [list(value.shape), value.dtype.str, hashlib.sha256(value.tobytes()).hexdigest()]
    return out


def build_fixture(out: Path) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import librosa
    from musicnn import configuration, extractor

    clips = synthesise()
    n_frames = (
        librosa.time_to_frames(3, sr=configuration.SR, n_fft=configuration.FFT_SIZE, hop_length=configuration.FFT_HOP)
        + 1
    )
    arrays: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (samples, sr) in clips.items():
            path = Path(tmp) / f"{name}.wav"
            write_wav(path, samples, sr)
            arrays[f"{name}/audio"] = samples
            arrays[f"{name}/sr"] = np.int64(sr)
            _, log_mel = extractor.batch_data(str(path), n_frames, n_frames)
            mel16 = ((10.0 ** log_mel.astype(np.float64) - 1) / 10000).astype(np.float16)
            # the float16 mel power the original quantises to; it must give back its input exactly
            again = np.log10(10000 * mel16 + 1)
            if again.dtype != log_mel.dtype or not np.array_equal(again, log_mel):
                raise SystemExit(f"{name}: float16 mel does not reproduce the original's log-mel input")
            arrays[f"{name}/mel_float16"] = mel16
            for model in MODELS:
                with _quiet():
                    taggram, tags, features = extractor.extractor(
                        str(path), model=model, input_length=3, input_overlap=False, extract_features=True
                    )
                arrays[f"{name}/{model}/taggram"] = np.asarray(taggram, dtype=np.float32)
                arrays[f"{name}/{model}/penultimate"] = np.asarray(features["penultimate"], dtype=np.float32)
                arrays[f"{name}/{model}/penultimate_per_patch"] = penultimate_per_patch(str(path), model)
                arrays[f"{model}/tags"] = np.array(tags)
    meta = {
        "clips": list(clips),
        "models": list(MODELS),
        "n_frames": int(n_frames),
        "checkpoints": {model: checkpoint_digests(model) for model in MODELS},
        "call": "extractor(path, model=M, input_length=3, input_overlap=False, extract_features=True)",
        "versions": _versions(),
        "script": "tools/musicnn_reference.py",
    }
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return meta


def time_files(files: list[str], model: str) -> dict:
    """Seconds the original extractor takes on each file (one call per file, as its users run it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from musicnn import extractor

    with _quiet():
        extractor.extractor(files[0], model=model, input_length=3, input_overlap=False)  # warm imports
    seconds = []
    for f in files:
        t0 = time.perf_counter()
        with _quiet():
            extractor.extractor(f, model=model, input_length=3, input_overlap=False, extract_features=True)
        seconds.append(time.perf_counter() - t0)
    return {"model": model, "seconds": seconds, "versions": _versions()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURE, help="fixture path (default: %(default)s)")
    parser.add_argument("--time", nargs="+", metavar="FILE", help="time the original extractor on these files")
    parser.add_argument("--model", default="MSD_musicnn", choices=MODELS, help="model for --time")
    args = parser.parse_args(argv)
    if args.time:
        print(json.dumps(time_files(args.time, args.model)))
        return 0
    meta = build_fixture(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {json.dumps(meta['versions'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
