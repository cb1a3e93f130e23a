"""The musicnn music tagger (Pons & Serra 2019) in Keras 3 on JAX, with its pretrained weights, without TensorFlow.

musicnn ("musically motivated CNN", J. Pons and X. Serra, ISMIR 2019 late-breaking demo;
``pip install musicnn``, ISC licence, https://github.com/jordipons/musicnn) tags 3 s patches of
a 96-band log-mel spectrogram with 50 tags.  Its pip wheel ships TensorFlow-1 checkpoints of
``MSD_musicnn`` (Million Song Dataset tags) and ``MTT_musicnn`` (MagnaTagATune tags); this
module rebuilds the network in Keras 3 and loads those checkpoints with
:mod:`melrec_lib.nets.tfcheckpoint`, so melrec depends on the wheel for its data files only (installed
with ``--no-deps``) and never imports TensorFlow or musicnn's own Python modules.

The network (``musicnn/models.py``, ``build_musicnn``), all batch norms in inference mode
(``epsilon = 1e-3``, TF's default):

* **front end** over the input patch (187 frames x 96 bands, batch-normalised with one scalar
  mean/variance): two *timbral* convolutions spanning 7 frames x 38 and x 67 bands (204 filters
  each, time zero-padded by 3) and three *temporal* convolutions spanning 128, 64 and 32 frames x
  1 band (51 filters each, TF "same" padding); each is ReLU, batch norm, then max over frequency,
  giving 204 + 204 + 3 x 51 = 561 features per frame;
* **mid end**: three 1-D convolutions of width 7 (64 filters, ReLU, batch norm), the second and
  third with residual connections; the front-end features and the three outputs are concatenated
  (dense connections): 561 + 3 x 64 = 753 per frame;
* **back end**: max and mean over time, interleaved as TF's ``flatten`` of ``concat([max, mean],
  2)`` lays them out (1506 values), batch norm, dense 200 + ReLU + batch norm (the
  **penultimate** features), dense 50 and a sigmoid (the **taggram**).

Its input, as ``musicnn/extractor.py`` computes it: ``librosa.load(path, sr=16000)``, then
``librosa.feature.melspectrogram(n_fft=512, hop_length=256, n_mels=96)`` (Hann window, centred
with zero padding, power 2, Slaney mel bank), cast to float16, then ``log10(10000 x + 1)``
evaluated in float32 (numpy < 2 promotes ``10000 * float16`` to float32; numpy 2 would keep
float16 and overflow).  :func:`melspectrogram` rebuilds this with melrec's mel bank
(:func:`melrec_lib.dsp.filters.mel_filterbank`, ``"librosa"`` kind) and one batched FFT.  Patches
are consecutive and non-overlapping, 187 frames each (``librosa.time_to_frames(3) + 1``); a
partial last patch is dropped, as the original does.

Unlike the original (``BATCH_SIZE = 1`` and a TF graph rebuilt per call), patches run in batches
through one jitted function per (model, batch size); :func:`track_embeddings` embeds a whole
collection with a cache.

*A slip of the original, kept by default:* ``extractor.extractor`` returns the first patch's
penultimate features for every patch (its loop over later patches concatenates a stale
variable); :func:`extract` reproduces that unless ``faithful=False``, and
:func:`track_embeddings` always stores each patch's own features.  Its taggram is unaffected.

Examples
--------
>>> out = extract("track.mp3", model="MSD_musicnn")             # doctest: +SKIP
>>> out["taggram"].shape, out["penultimate"].shape, out["tags"][:2]   # doctest: +SKIP
((10, 50), (10, 200), ('rock', 'pop'))
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from melrec_lib.errors import AudioError, DatasetError, ModelNotFoundError, ParameterError, check_int

__all__ = [
    "MODELS",
    "LAYERS",
    "SAMPLE_RATE",
    "N_FFT",
    "HOP_LENGTH",
    "N_MELS",
    "PATCH_FRAMES",
    "MIN_SAMPLES",
    "BATCH_SIZE",
    "TAGS",
    "check_model",
    "checkpoint_prefix",
    "load_weights",
    "build_model",
    "load_audio",
    "resample",
    "melspectrogram",
    "log_mel",
    "patches",
    "blur_time",
    "predict",
    "extract",
    "track_embeddings",
    "cache_path",
]

MODELS = ("MSD_musicnn", "MTT_musicnn")
"""The pretrained musicnn models of the wheel that this port builds."""
LAYERS = ("penultimate", "taggram")
"""What :func:`track_embeddings` returns per patch: the 200 penultimate features or 50 tag probabilities."""
SAMPLE_RATE = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
PATCH_FRAMES = 187
"""Frames per 3 s patch: ``librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1``."""
MIN_SAMPLES = (PATCH_FRAMES - 1) * HOP_LENGTH
"""Fewest 16 kHz samples that give one patch (centred frames: ``1 + n // 256 >= 187``), 2.976 s."""
BATCH_SIZE = 32
"""Patches per jitted call; a smaller remainder is padded to 1, 2, 4 or the next multiple of 4."""
BN_EPSILON = 1e-3
CACHE_VERSION = 1
"""Bump when the stored layout or the computation of :func:`track_embeddings` changes."""

# musicnn/configuration.py (ISC licence, Jordi Pons)
_MTT_TAGS = (
    "guitar",
    "classical",
    "slow",
    "techno",
    "strings",
    "drums",
    "electronic",
    "rock",
    "fast",
    "piano",
    "ambient",
    "beat",
    "violin",
    "vocal",
    "synth",
    "female",
    "indian",
    "opera",
    "male",
    "singing",
    "vocals",
    "no vocals",
    "harpsichord",
    "loud",
    "quiet",
    "flute",
    "woman",
    "male vocal",
    "no vocal",
    "pop",
    "soft",
    "sitar",
    "solo",
    "man",
    "classic",
    "choir",
    "voice",
    "new age",
    "dance",
    "male voice",
    "female vocal",
    "beats",
    "harp",
    "cello",
    "no voice",
    "weird",
    "country",
    "metal",
    "female voice",
    "choral",
)
_MSD_TAGS = (
    "rock",
    "pop",
    "alternative",
    "indie",
    "electronic",
    "female vocalists",
    "dance",
    "00s",
    "alternative rock",
    "jazz",
    "beautiful",
    "metal",
    "chillout",
    "male vocalists",
    "classic rock",
    "soul",
    "indie rock",
    "Mellow",
    "electronica",
    "80s",
    "folk",
    "90s",
    "chill",
    "instrumental",
    "punk",
    "oldies",
    "blues",
    "hard rock",
    "ambient",
    "acoustic",
    "experimental",
    "female vocalist",
    "guitar",
    "Hip-Hop",
    "70s",
    "party",
    "country",
    "easy listening",
    "sexy",
    "catchy",
    "funk",
    "electro",
    "heavy metal",
    "Progressive rock",
    "60s",
    "rnb",
    "indie pop",
    "sad",
    "House",
    "happy",
)
TAGS = {"MSD_musicnn": _MSD_TAGS, "MTT_musicnn": _MTT_TAGS}
"""The 50 tag names of each model, in taggram column order."""

# (keras layer name, checkpoint variable scope), in the order TF created them in build_musicnn
_KERNELS = [
    ("timbral74", "conv2d"),
    ("timbral77", "conv2d_1"),
    ("temporal128", "conv2d_2"),
    ("temporal64", "conv2d_3"),
    ("temporal32", "conv2d_4"),
    ("mid1", "conv2d_5"),
    ("mid2", "conv2d_6"),
    ("mid3", "conv2d_7"),
    ("dense", "dense"),
    ("logits", "dense_1"),
]
_NORMS = [
    ("bn_input", "batch_normalization"),
    ("bn_timbral74", "batch_normalization_1"),
    ("bn_timbral77", "batch_normalization_2"),
    ("bn_temporal128", "batch_normalization_3"),
    ("bn_temporal64", "batch_normalization_4"),
    ("bn_temporal32", "batch_normalization_5"),
    ("bn_mid1", "batch_normalization_6"),
    ("bn_mid2", "batch_normalization_7"),
    ("bn_mid3", "batch_normalization_8"),
    ("bn_pool", "batch_normalization_9"),
    ("penultimate", "batch_normalization_10"),
]


def check_model(model: Any) -> str:
    """``model`` if it is one of :data:`MODELS`, else a ParameterError naming them."""
    if model not in MODELS:
        raise ParameterError(f"unknown musicnn model {model!r}; choose one of {MODELS}")
    return model


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------
def checkpoint_prefix(model: str = "MSD_musicnn") -> str:
    """The TF checkpoint prefix of ``model`` inside the installed musicnn wheel.

    The wheel is located with ``importlib.util.find_spec`` (its Python modules import TensorFlow,
    so they are never imported).  Checkpoints were saved into a folder, so the prefix ends with
    a path separator (files ``<model>/.index`` and ``<model>/.data-00000-of-00001``).

    Raises
    ------
    ParameterError
        Unknown ``model``.
    ModelNotFoundError
        The musicnn wheel is not installed (the message says how to install it).
    """
    model = check_model(model)
    spec = importlib.util.find_spec("musicnn")
    hint = "install its weights with: pip install --no-deps musicnn==0.1.0"
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"the musicnn package is not installed; {hint}")
    folder = Path(list(spec.submodule_search_locations)[0]) / model
    if not (folder / ".index").is_file():
        raise ModelNotFoundError(f"{folder}: no checkpoint index in the musicnn package; {hint}")
    return str(folder) + os.sep


@functools.lru_cache(maxsize=4)
def _weights(model: str) -> dict[str, np.ndarray]:
    from melrec_lib.nets.tfcheckpoint import list_tensors, read_checkpoint

    prefix = checkpoint_prefix(model)
    names = [n for n in list_tensors(prefix) if "Adam" not in n and not n.endswith("_power")]
    return read_checkpoint(prefix, names=names)


def load_weights(model: str = "MSD_musicnn") -> dict[str, np.ndarray]:
    """The inference variables of ``model``'s checkpoint (optimizer slots left out), by TF name.

    Returns
    -------
    dict[str, np.ndarray]
        e.g. ``"conv2d/kernel"`` [shape=(7, 38, 1, 204)], ``"batch_normalization_10/moving_mean"``
        [shape=(200,)]; float32.  A fresh copy on each call.

    Raises
    ------
    ParameterError, ModelNotFoundError, melrec_lib.nets.tfcheckpoint.CheckpointError
    """
    return {k: v.copy() for k, v in _weights(check_model(model)).items()}


# --------------------------------------------------------------------------------------------
# the network
# --------------------------------------------------------------------------------------------
def build_model(model: str = "MSD_musicnn", *, weights: bool = True):
    """The musicnn network as a Keras 3 functional model, patches in, taggram and penultimate out.

    Parameters
    ----------
    model : {"MSD_musicnn", "MTT_musicnn"}
    weights : bool
        Load the pretrained weights from the musicnn wheel (default); False leaves Keras'
        initial weights (for shape checks).

    Returns
    -------
    keras.Model
        Input [shape=(batch, 187, 96)] log-mel patches; outputs a dict ``{"taggram": (batch, 50)
        sigmoid probabilities, "penultimate": (batch, 200)}``.  Every batch norm is frozen and
        the model is meant for ``training=False`` (it has no dropout layers: they are identities
        at inference).

    Raises
    ------
    ParameterError, ModelNotFoundError, melrec_lib.nets.tfcheckpoint.CheckpointError
    """
    model = check_model(model)
    import keras

    L = keras.layers
    n_tags = len(TAGS[model])

    def bn(name):
        return L.BatchNormalization(axis=-1, epsilon=BN_EPSILON, name=name)

    x_in = keras.Input((PATCH_FRAMES, N_MELS), name="log_mel")
    x = bn("bn_input")(L.Reshape((PATCH_FRAMES, N_MELS, 1))(x_in))
    front = []
    padded = L.ZeroPadding2D(((3, 3), (0, 0)))(x)
    for name, bands in (("timbral74", 38), ("timbral77", 67)):  # int(0.4 * 96), int(0.7 * 96) bands
        h = L.Conv2D(204, (7, bands), activation="relu", name=name)(padded)
        h = bn(f"bn_{name}")(h)
        front.append(L.Reshape((PATCH_FRAMES, 204))(L.MaxPooling2D((1, N_MELS - bands + 1))(h)))
    for frames in (128, 64, 32):  # TF "same": (k - 1) // 2 before, the rest after
        h = L.ZeroPadding2D((((frames - 1) // 2, frames // 2), (0, 0)))(x)
        h = L.Conv2D(51, (frames, 1), activation="relu", name=f"temporal{frames}")(h)
        h = bn(f"bn_temporal{frames}")(h)
        front.append(L.Reshape((PATCH_FRAMES, 51))(L.MaxPooling2D((1, N_MELS))(h)))
    front = L.Concatenate(axis=-1, name="frontend")(front)  # (T, 561)

    mids, h = [front], front
    for i in (1, 2, 3):
        c = L.Conv1D(64, 7, activation="relu", name=f"mid{i}")(L.ZeroPadding1D(3)(h))
        c = bn(f"bn_mid{i}")(c)
        h = c if i == 1 else L.Add()([c, h])
        mids.append(h)
    mid = L.Concatenate(axis=-1, name="midend")(mids)  # (T, 753)

    n_feat = mid.shape[-1]
    max_pool = L.Reshape((n_feat, 1))(L.GlobalMaxPooling1D()(mid))
    mean_pool = L.Reshape((n_feat, 1))(L.GlobalAveragePooling1D()(mid))
    pooled = L.Flatten()(L.Concatenate(axis=-1)([max_pool, mean_pool]))  # max0, mean0, max1, ...
    pooled = bn("bn_pool")(pooled)
    penultimate = bn("penultimate")(L.Dense(200, activation="relu", name="dense")(pooled))
    taggram = L.Dense(n_tags, activation="sigmoid", name="logits")(penultimate)
    net = keras.Model(x_in, {"taggram": taggram, "penultimate": penultimate}, name=model)
    if weights:
        w = _weights(model)
        for layer, scope in _KERNELS:
            kernel = w[f"{scope}/kernel"]
            if layer.startswith("mid"):
                kernel = kernel[:, :, 0, :]  # a (7, C) 2-D kernel over (T, C, 1) is a width-7 Conv1D
            net.get_layer(layer).set_weights([kernel, w[f"{scope}/bias"]])
        for layer, scope in _NORMS:
            net.get_layer(layer).set_weights(
                [w[f"{scope}/{v}"] for v in ("gamma", "beta", "moving_mean", "moving_variance")]
            )
    net.trainable = False
    return net


class _Runner:
    """One model and its jitted forward pass (JAX), compiled once per batch size."""

    def __init__(self, model: str):
        import keras

        self.net = build_model(model)
        self.jax = keras.backend.backend() == "jax"
        if self.jax:
            import jax

            net = self.net
            self.state = ([v.value for v in net.trainable_variables], [v.value for v in net.non_trainable_variables])

            def forward(trainable, non_trainable, x):
                out, _ = net.stateless_call(trainable, non_trainable, x, training=False)
                return out

            self.forward = jax.jit(forward)

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        if self.jax:
            out = self.forward(*self.state, x)
        else:
            out = self.net(x, training=False)
        return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


@functools.lru_cache(maxsize=4)
def _runner(model: str) -> _Runner:
    return _Runner(model)


def _bucket(n: int) -> int:
    """The compiled batch size a batch of ``n`` patches is padded to: 1, 2, 4, then multiples of 4."""
    if n <= 4:
        return 1 << max(0, math.ceil(math.log2(n)))
    return min(BATCH_SIZE, -(-n // 4) * 4)


def predict(X: np.ndarray, *, model: str = "MSD_musicnn") -> dict[str, np.ndarray]:
    """Tag probabilities and penultimate features of log-mel patches, in batches.

    Parameters
    ----------
    X : np.ndarray [shape=(n, 187, 96)]
        Patches as :func:`patches` cuts them from :func:`log_mel`.
    model : {"MSD_musicnn", "MTT_musicnn"}

    Returns
    -------
    dict
        ``"taggram"`` [shape=(n, 50), float32] and ``"penultimate"`` [shape=(n, 200), float32].
        Batches of :data:`BATCH_SIZE`; the last is zero-padded to 1, 2, 4 or a multiple of 4
        patches, so that at most ten shapes are ever compiled.  Each row depends on its own
        patch only.

    Raises
    ------
    ParameterError
        Unknown model; ``X`` not of shape (n, 187, 96) or not finite.
    """
    model = check_model(model)
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3 or X.shape[1:] != (PATCH_FRAMES, N_MELS):
        raise ParameterError(f"patches must have shape (n, {PATCH_FRAMES}, {N_MELS}), got {X.shape}")
    if not np.isfinite(X).all():
        raise ParameterError("patches hold NaN or infinite values")
    run = _runner(model)
    outs: dict[str, list[np.ndarray]] = {"taggram": [], "penultimate": []}
    for start in range(0, X.shape[0], BATCH_SIZE):
        batch = X[start : start + BATCH_SIZE]
        n = batch.shape[0]
        size = _bucket(n)
        if size > n:
            batch = np.concatenate([batch, np.zeros((size - n, *batch.shape[1:]), np.float32)])
        out = run(batch)
        for key in outs:
            outs[key].append(out[key][:n])
    return {
        k: (np.concatenate(v) if v else np.zeros((0, 50 if k == "taggram" else 200), np.float32))
        for k, v in outs.items()
    }


# --------------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------------
def load_audio(path: str | os.PathLike) -> np.ndarray:
    """Mono 16 kHz float32 samples, as ``librosa.load(path, sr=16000)`` returns them.

    Decoded by :func:`melrec_lib.io.audio.load` at the file's own rate (the channel mean for
    several channels), then :func:`resample`.

    Raises
    ------
    AudioError
        Missing, unreadable or empty file.
    """
    from melrec_lib.io.audio import load

    y, native = load(path, sr=None, mono=True)
    return resample(y, native)


def resample(y: np.ndarray, sr: int) -> np.ndarray:
    """Mono samples at ``sr`` brought to 16 kHz as ``librosa.resample(y, orig_sr=sr, target_sr=16000)`` does.

    soxr "HQ" (librosa's default ``soxr_hq``), then cut or zero-padded to librosa's length
    ``ceil(n * 16000 / sr)`` (``fix=True``).  Float32, contiguous; unchanged at 16 kHz.
    """
    if sr != SAMPLE_RATE:
        import soxr

        size = int(np.ceil(y.size * (float(SAMPLE_RATE) / sr)))  # librosa's float expression
        y = soxr.resample(y, sr, SAMPLE_RATE, quality="soxr_hq").astype(np.float32, copy=False)
        y = y[:size] if y.size >= size else np.pad(y, (0, size - y.size))
    return np.ascontiguousarray(y, dtype=np.float32)


def melspectrogram(y: np.ndarray, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The mel power spectrogram musicnn feeds on: librosa's defaults at n_fft 512, hop 256, 96 bands.

    ``librosa.feature.melspectrogram(y=y, sr=sr, n_fft=512, hop_length=256, n_mels=96).T``:
    periodic Hann window, frames centred with ``n_fft // 2`` zeros of padding on each side, power
    2, Slaney mel bank (:func:`melrec_lib.dsp.filters.mel_filterbank` ``"librosa"``, ``htk=False,
    norm="slaney"``).  As librosa does it: the windowed frames in float64 through one real FFT,
    the spectrum rounded to complex64, ``|X| ** 2`` and the mel product in float32.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], real, finite
        Mono samples at ``sr``.
    sr : int > 0
        Sample rate (16000 for musicnn).

    Returns
    -------
    M : np.ndarray [shape=(1 + n // 256, 96), dtype=float32]
        Time x mel.

    Raises
    ------
    ParameterError, AudioError
        Not a 1-D real array, empty, non-finite samples.
    """
    import scipy.fft
    import scipy.signal

    from melrec_lib.dsp import blas, filters

    y = filters._valid_audio(y)
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ParameterError(f"sr={sr!r} must be a positive integer (Hz)")
    bank = _mel_bank(int(sr))
    window = scipy.signal.get_window("hann", N_FFT, fftbins=True)
    padded = np.pad(y, N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH]
    out = np.empty((frames.shape[0], N_MELS), dtype=np.float32)
    with blas.one_blas_thread():  # the mel product: the same bits here as in a worker
        for start in range(0, frames.shape[0], 4096):  # bounded scratch on long tracks
            power = np.empty((min(4096, frames.shape[0] - start), N_FFT // 2 + 1), dtype=np.float32)
            for a in range(0, power.shape[0], 128):  # the float64 frames in cache-sized pieces, as librosa
                dft = scipy.fft.rfft(frames[start + a : start + a + 128] * window, axis=-1)
                np.square(np.abs(dft.astype(np.complex64)), out=power[a : a + 128])
            out[start : start + 4096] = power @ bank  # one product per 4096 frames (the same bits)
    return out


@functools.lru_cache(maxsize=4)
def _mel_bank(sr: int) -> np.ndarray:
    from melrec_lib.dsp.filters import mel_filterbank

    bank = mel_filterbank(
        "librosa",
        sr=sr,
        frame_duration=N_FFT / sr,
        fmax=sr / 2,
        n_mels=N_MELS,
        htk=False,
        norm="slaney",
        dtype=np.float32,
    )
    out = np.ascontiguousarray(bank.T)  # (257, 96) for frames @ bank
    out.setflags(write=False)
    return out


def log_mel(y: np.ndarray) -> np.ndarray:
    """musicnn's input representation of 16 kHz samples: ``log10(10000 * float16(mel) + 1)``.

    The mel power (:func:`melspectrogram`) is rounded to float16 as the original does, then the
    logarithm is taken in float32 (what ``np.log10(10000 * x16 + 1)`` computes under numpy < 2).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], mono, 16 kHz

    Returns
    -------
    S : np.ndarray [shape=(1 + n // 256, 96), dtype=float32]
    """
    mel16 = melspectrogram(y, sr=SAMPLE_RATE).astype(np.float16)
    return np.log10(np.float32(10000) * mel16.astype(np.float32) + np.float32(1))


def patches(S: np.ndarray) -> np.ndarray:
    """Consecutive, non-overlapping 187-frame patches of a log-mel spectrogram (partial last one dropped).

    The original's ``batch_data(..., n_frames=187, overlap=187)``: patch k starts at frame 187 k,
    for ``k = 0 .. (n_frames - 187) // 187``.

    Parameters
    ----------
    S : np.ndarray [shape=(n_frames, 96)]

    Returns
    -------
    P : np.ndarray [shape=((n_frames - 187) // 187 + 1, 187, 96), dtype=float32]

    Raises
    ------
    AudioError
        Fewer than 187 frames (under :data:`MIN_SAMPLES` samples, 2.976 s): the original fails
        there with an ``UnboundLocalError``; this port refuses clearly.
    """
    S = np.asarray(S, dtype=np.float32)
    if S.ndim != 2 or S.shape[1] != N_MELS:
        raise ParameterError(f"S must have shape (n_frames, {N_MELS}), got {S.shape}")
    if S.shape[0] < PATCH_FRAMES:
        raise AudioError(
            f"{S.shape[0]} frames are fewer than one 3 s musicnn patch ({PATCH_FRAMES} frames, "
            f"{MIN_SAMPLES} samples at {SAMPLE_RATE} Hz = {MIN_SAMPLES / SAMPLE_RATE:.3f} s)"
        )
    n = (S.shape[0] - PATCH_FRAMES) // PATCH_FRAMES + 1
    return np.ascontiguousarray(S[: n * PATCH_FRAMES].reshape(n, PATCH_FRAMES, N_MELS))


def blur_time(P: np.ndarray, block: int) -> np.ndarray:
    """Log-mel patches at a coarser time resolution: each run of ``block`` frames holds its mean power.

    A diagnostic of what musicnn can say from a spectrogram of longer frames (``block = 8``: 8 x 16
    ms = 128 ms, about the 1/8 s frames of the thesis' input).  In each patch, frames ``[k block,
    (k + 1) block)`` (the last run shorter) are replaced by ``log10(mean(10 ** S - 1) + 1)``: the
    mean of the mel power that :func:`log_mel` took the logarithm of, as one longer frame would
    have measured it.  ``block = 1`` returns the patches unchanged.

    Parameters
    ----------
    P : np.ndarray [shape=(n, 187, 96)]
    block : int in [1, 187]

    Returns
    -------
    np.ndarray [shape=(n, 187, 96), float32]

    Examples
    --------
    >>> S = np.log10(np.array([[[0.0], [9.0], [99.0]]]) + 1)  # powers (x 10000) 0, 9, 99
    >>> (10 ** blur_time(S, 2) - 1).round(6).ravel().tolist()  # the mean of 0 and 9, then 99 alone
    [4.5, 4.5, 99.0]
    """
    P = np.asarray(P, dtype=np.float32)
    if P.ndim != 3:
        raise ParameterError(f"P must have shape (n, frames, bands), got {P.shape}")
    block = check_int(block, "block", minimum=1)
    if block > max(1, P.shape[1]):
        raise ParameterError(f"block must be at most the patch's {P.shape[1]} frames, got {block}")
    if block == 1:
        return P
    starts = np.arange(0, P.shape[1], block)
    sizes = np.diff(np.append(starts, P.shape[1]))
    power = np.power(10.0, P.astype(np.float64)) - 1.0
    means = np.add.reduceat(power, starts, axis=1) / sizes[None, :, None]
    return np.repeat(np.log10(means + 1.0), sizes, axis=1).astype(np.float32)


def _track_patches(path: str | os.PathLike) -> np.ndarray:
    y = load_audio(path)
    if y.size < MIN_SAMPLES:
        raise AudioError(
            f"{path}: {y.size / SAMPLE_RATE:.3f} s of audio is shorter than one 3 s musicnn "
            f"patch (needs {MIN_SAMPLES / SAMPLE_RATE:.3f} s)"
        )
    return patches(log_mel(y))


def extract(path: str | os.PathLike, *, model: str = "MSD_musicnn", faithful: bool = True) -> dict[str, Any]:
    """Taggram and penultimate features of one audio file, per 3 s patch, as the original extractor gives them.

    The same numbers as ``musicnn.extractor.extractor(path, model=model, input_length=3,
    input_overlap=False, extract_features=True)`` (its ``taggram`` and ``features["penultimate"]``),
    with audio loaded as ``librosa.load(path, sr=16000)`` loads it.

    *The original's slip:* its loop over the patches after the first (``BATCH_SIZE = 1``)
    unpacks the penultimate activations into ``backend_`` but concatenates the stale
    ``penultimate_`` of the first patch, so every row of its ``features["penultimate"]`` is the
    first patch's.  ``faithful=True`` (the default, the public contract) returns exactly that;
    ``faithful=False`` gives each patch its own features (what :func:`track_embeddings` stores).
    The taggram is unaffected.

    Parameters
    ----------
    path : str or path-like
        Any file :func:`melrec_lib.io.audio.load` reads (WAV, MP3, FLAC, OGG, ...).
    model : {"MSD_musicnn", "MTT_musicnn"}
    faithful : bool
        Reproduce the original's repeated first-patch penultimate rows (True) or not (False).

    Returns
    -------
    dict
        ``"taggram"`` : np.ndarray [shape=(n_patches, 50), float32], tag probabilities;
        ``"penultimate"`` : np.ndarray [shape=(n_patches, 200), float32];
        ``"tags"`` : tuple of 50 str, the taggram's column names;
        ``"taggram_mean"``, ``"penultimate_mean"`` : the same averaged over the patches (per track).
        ``n_patches = (1 + n_16k // 256 - 187) // 187 + 1``.

    Raises
    ------
    ParameterError
        Unknown model.
    AudioError
        Missing or unreadable file; audio shorter than :data:`MIN_SAMPLES` at 16 kHz (2.976 s).
    """
    model = check_model(model)
    if not isinstance(faithful, (bool, np.bool_)):
        raise ParameterError(f"faithful={faithful!r} must be True or False")
    out = predict(_track_patches(path), model=model)
    if faithful:
        out["penultimate"] = np.repeat(out["penultimate"][:1], out["penultimate"].shape[0], axis=0)
    out["tags"] = TAGS[model]
    out["taggram_mean"] = out["taggram"].mean(axis=0)
    out["penultimate_mean"] = out["penultimate"].mean(axis=0)
    return out


# --------------------------------------------------------------------------------------------
# a collection, cached
# --------------------------------------------------------------------------------------------
def _compute_track(path: str) -> tuple[np.ndarray | None, str | None]:
    try:
        return _track_patches(path), None
    except AudioError as exc:
        return None, str(exc)


def cache_path(corpus_name: str, model: str, key: str, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """``<cache_dir or processed_dir()>/<corpus_name>/musicnn-<model>/<key>``."""
    from melrec_lib import paths

    base = Path(cache_dir) if cache_dir is not None else paths.processed_dir()
    return base / corpus_name / f"musicnn-{model}" / key


def _read_cache(folder: Path, layer: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.load(folder / f"{layer}.npy", mmap_mode="r")
    track = np.load(folder / "track.npy")
    if X.shape[0] != track.shape[0]:
        raise ValueError(f"{layer}.npy has {X.shape[0]} rows, track.npy {track.shape[0]}")
    return X, track


def track_embeddings(
    manifest,
    *,
    model: str = "MSD_musicnn",
    layer: str = "penultimate",
    corpus_name: str,
    progress: bool = True,
    n_jobs: int | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    time_block: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch musicnn embeddings of every track of a collection, cached.

    Each patch gets its own penultimate features (``extract(..., faithful=False)``; the original
    extractor repeats the first patch's, see :func:`extract`).
    Spectrograms are computed in worker processes (:func:`melrec_lib.parallel.parallel_map`),
    patches run through the network in batches in this process.  Both layers are computed and
    stored together, under :func:`cache_path` with a key over the model, the cache version and
    every track's id, path, size and modification time (:func:`melrec_lib.cache.stable_hash`,
    :func:`~melrec_lib.cache.file_stamp`), written atomically
    (:func:`~melrec_lib.cache.atomic_folder`).

    Parameters
    ----------
    manifest : pandas.DataFrame
        With columns ``track_id`` and ``path`` (absolute, as :mod:`melrec_lib.io.manifest` reads them).
    model : {"MSD_musicnn", "MTT_musicnn"}
    layer : {"penultimate", "taggram"}
    corpus_name : str
        The collection's name, the cache's top folder.
    progress : bool
        Show a progress bar over tracks.
    n_jobs : int or None
        Worker processes for the spectrograms (None: all cores).
    cache : bool
        Store and reuse (default); False computes in memory only.
    cache_dir : path-like or None
        Root of the cache instead of ``paths.processed_dir()``.
    time_block : int >= 1
        Run the network on :func:`blur_time` patches of this block (1: musicnn's own input; a
        diagnostic, stored under its own key).

    Returns
    -------
    X : np.ndarray [shape=(n, 200) or (n, 50), float32]
        One row per 3 s patch, tracks in manifest order (read-only memory map when cached).
    track : np.ndarray [shape=(n,), str]
        The ``track_id`` of each row.  Tracks that cannot be read or are shorter than one patch
        have no rows; a warning names how many, and the cache's ``meta.json`` lists them.

    Raises
    ------
    ParameterError
        Unknown model or layer, an empty ``corpus_name``.
    DatasetError
        ``manifest`` lacks ``track_id``/``path``, is empty, or no track yields a patch.
    """
    from melrec_lib.cache import atomic_folder, discard_folder, file_stamp, stable_hash
    from melrec_lib.parallel import parallel_map

    model = check_model(model)
    if layer not in LAYERS:
        raise ParameterError(f"unknown layer {layer!r}; choose one of {LAYERS}")
    if not isinstance(corpus_name, str) or not corpus_name or os.sep in corpus_name:
        raise ParameterError(f"corpus_name must be a non-empty folder name, got {corpus_name!r}")
    if not hasattr(manifest, "columns") or not {"track_id", "path"} <= set(manifest.columns):
        raise DatasetError("manifest must be a DataFrame with columns 'track_id' and 'path'")
    if len(manifest) == 0:
        raise DatasetError("manifest is empty: no tracks to embed")
    ids = [str(t) for t in manifest["track_id"]]
    files = [str(p) for p in manifest["path"]]
    time_block = check_int(time_block, "time_block", minimum=1)
    if time_block > PATCH_FRAMES:
        raise ParameterError(f"time_block must be at most {PATCH_FRAMES} frames, got {time_block}")
    spec = {
        "cache_version": CACHE_VERSION,
        "model": model,
        "tracks": [[t, p, *file_stamp(p)] for t, p in zip(ids, files)],
    }
    key = stable_hash(spec if time_block == 1 else {**spec, "time_block": time_block})
    folder = cache_path(corpus_name, model, key, cache_dir=cache_dir)
    if cache and (folder / "meta.json").is_file():
        try:
            return _read_cache(folder, layer)
        except (OSError, ValueError) as exc:
            warnings.warn(f"{folder}: unreadable musicnn cache ({exc}); recomputing", stacklevel=2)
            discard_folder(folder)

    from melrec_lib.parallel import tqdm_class

    tqdm = tqdm_class()

    rows: dict[str, list[np.ndarray]] = {"taggram": [], "penultimate": []}
    track_rows: list[np.ndarray] = []
    skipped: list[list[str]] = []
    step = 8 * max(1, n_jobs or os.cpu_count() or 1)
    bar = tqdm(total=len(files), desc=f"musicnn {model}", unit="track", disable=not progress)
    try:
        for start in range(0, len(files), step):
            chunk = parallel_map(_compute_track, files[start : start + step], n_jobs=n_jobs, progress=False)
            good = [(ids[start + i], P) for i, (P, err) in enumerate(chunk) if P is not None]
            skipped += [[ids[start + i], err] for i, (P, err) in enumerate(chunk) if P is None]
            if good:
                out = predict(blur_time(np.concatenate([P for _, P in good]), time_block), model=model)
                for k in rows:
                    rows[k].append(out[k])
                track_rows += [np.full(P.shape[0], t, dtype=object) for t, P in good]
            bar.update(len(chunk))
    finally:
        bar.close()
    if skipped:
        warnings.warn(
            f"musicnn: {len(skipped)} of {len(files)} tracks skipped (unreadable or shorter "
            f"than {MIN_SAMPLES / SAMPLE_RATE:.3f} s), e.g. {skipped[0][0]}: {skipped[0][1]}",
            stacklevel=2,
        )
    if not track_rows:
        raise DatasetError(f"no track of {corpus_name!r} yields a musicnn patch ({len(skipped)} skipped)")
    arrays = {k: np.concatenate(v) for k, v in rows.items()}
    track = np.concatenate(track_rows).astype(str)
    if not cache:
        return arrays[layer], track
    meta = {
        "cache_version": CACHE_VERSION,
        "model": model,
        "corpus": corpus_name,
        "key": key,
        "n_tracks": len(files),
        "n_rows": int(track.size),
        "skipped": skipped,
        "tags": list(TAGS[model]),
        **({"time_block": time_block} if time_block > 1 else {}),
    }
    with atomic_folder(folder) as tmp:
        for k, v in arrays.items():
            np.save(tmp / f"{k}.npy", v)
        np.save(tmp / "track.npy", track)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    return _read_cache(folder, layer)
