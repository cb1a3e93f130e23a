"""The thesis' network taught by musicnn: Table 4.1 trained to say what musicnn says about each 8 s.

The thesis closes by naming its own next step: a better preprocessing network, or the same one
trained on more (and real) music.  No genre-labelled real audio can ship with this repository,
but a *teacher* needs no labels: musicnn (:mod:`melrec_lib.nets.musicnn`, MSD model) says, for
any audio, 50 tag probabilities and 200 penultimate features per 3 s patch.  This module trains
the genre CNN of thesis Table 4.1 (:func:`melrec_lib.nets.architecture.genre_cnn`, every
layer up to ``dense128`` unchanged; its input the corrected fragments or, :func:`input_config`
``"fine"``, the same pipeline at frames of 1/32 s, notebook 09's default) with the genre softmax replaced by two heads
that predict, for each 8 s fragment, what musicnn says about the same 8 s:

* ``tags`` — 50 sigmoid outputs, trained with the cross-entropy on soft targets
  (:func:`soft_target_loss`) against the teacher's tag probabilities;
* ``penultimate`` — 200 linear outputs, trained with the mean squared error against the
  teacher's penultimate features standardised per feature over the training fragments.

**Targets.**  musicnn's patches are consecutive and non-overlapping: patch ``k`` of a track
covers ``[k P, (k + 1) P)`` seconds with ``P = 187 x 256 / 16000 = 2.992`` s (frame ``t`` is
centred at ``256 t / 16000`` s; :func:`melrec_lib.nets.musicnn.patches`).  A fragment covering
``[o, o + 8)`` gets the mean of the patches' outputs weighted by how many seconds of each lie
inside it (:func:`patch_overlap`, :func:`fragment_targets`); the seconds after the last whole
patch (under 3 s, which musicnn drops) carry no weight.  The teacher's patch outputs are
computed once per collection and cached by :func:`melrec_lib.nets.musicnn.track_embeddings`;
the fragments and their targets once per recipe by :func:`build_set` (atomically, under
``processed_dir()/distill/``).

**Augmentation.**  Each training track is also rendered in ``versions - 1`` altered copies
(:func:`augment`, with Spotify's *pedalboard*: gain, a three-band EQ, and with some probability
compression, reverb, noise and a pitch shift of at most one semitone), each seeded by the
recipe's seed, the track and the copy.  The student learns to give an altered copy the
teacher's targets of the *unaltered* audio (the teacher is not run again): it is taught to
ignore mixing and room, which the teacher's training on commercial recordings also saw.  On
top, :func:`melrec_lib.nets.training.mask_fragments` masks one run of bands and one of frames
of each training fragment, redrawn every epoch (``DistillRecipe.mask``).

:func:`mix_set` makes new music from a collection instead: each track mixed with others of it,
and the teacher run on each mix, so that the mix carries the teacher's own targets (notebook
09's ``MIXES``; tried, and refused by its rule, in ``docs/distillation.md``).

**Embedding.**  :func:`embed` gives the output of any of :data:`EMBEDDING_LAYERS` per
consecutive 8 s fragment: the student's own layers (``dense1024``, ``dense128``) or its
predictions of the teacher (``penultimate``, standardised; ``tags``).  Notebook 09 chooses
among them by the centroid method on the development library's development users; in its
full run ``dense1024`` scored best (``docs/distillation.md``).

Only melrec-synth and the *development* real library may be used for training (notebook 09);
the confirmation library is only embedded and measured.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from melrec_lib import paths
from melrec_lib.cache import (
    array_digest,
    atomic_file,
    atomic_folder,
    discard_folder,
    file_stamp,
    stable_hash,
    text_seed,
)
from melrec_lib.errors import (
    DatasetError,
    MissingDependencyError,
    ModelNotFoundError,
    ParameterError,
    check_int,
)
from melrec_lib.nets import architecture, musicnn

__all__ = [
    "PATCH_SECONDS",
    "FRAGMENT_SECONDS",
    "LOSSES",
    "EMBEDDING_LAYERS",
    "N_TAGS",
    "N_PENULTIMATE",
    "patch_overlap",
    "fragment_targets",
    "Teacher",
    "teacher",
    "augment",
    "augmentation_plan",
    "INPUTS",
    "input_config",
    "DistillRecipe",
    "DistillSet",
    "build_set",
    "scoring_set",
    "holdout_groups",
    "soft_target_loss",
    "student",
    "Distilled",
    "train",
    "train_or_load",
    "save",
    "load",
    "predict",
    "agreement",
    "embed",
    "linear_probe",
    "throughput",
    "mix_plan",
    "mix",
    "mix_set",
]

#: Seconds one musicnn patch covers: 187 frames of 256 samples at 16 kHz.
PATCH_SECONDS = musicnn.PATCH_FRAMES * musicnn.HOP_LENGTH / musicnn.SAMPLE_RATE
#: Seconds one fragment covers: 64 frames of 0.125 s.
FRAGMENT_SECONDS = 8.0
#: What the student is trained to predict: the tags, the penultimate features, or both.
LOSSES = ("tags", "penultimate", "both")
#: The student's input: ``"corrected"`` (Table 4.1's 64 frames of 1/8 s) or ``"fine"`` (256 of 1/32 s).
INPUTS = ("corrected", "fine")
#: Layers :func:`embed` can output (``tags`` are probabilities, ``penultimate`` standardised).
EMBEDDING_LAYERS = ("dense1024", "dense128", "penultimate", "tags")
N_TAGS = 50
N_PENULTIMATE = 200
#: Bump when the stored layout of a training set or the augmentation changes.
SET_VERSION = 1


def input_config(name: str = "corrected"):
    """The spectrogram config of the student's input :data:`INPUTS` ``name``.

    ``"corrected"`` is the corrected preset (:data:`melrec_lib.dsp.fragments.CONFIGS`): 8 s as
    64 frames of 1/8 s.  ``"fine"`` is the same pipeline (librosa's HTK bank over 0 .. 11 kHz,
    log compression, consecutive non-overlapping frames) with frames of 1/32 s: 8 s as 256
    frames.  1/32 s is the finest frame of notebook 09's time-blur diagnostic: musicnn's own
    input blurred to runs of 32 ms kept the most of its centroid's ROC-AUC on the development
    users' diverse playlists.
    """
    from melrec_lib.dsp import fragments

    if name not in INPUTS:
        raise ParameterError(f"input must be one of {INPUTS}, got {name!r}")
    if name == "corrected":
        return fragments.get_config("corrected")
    return dataclasses.replace(fragments.get_config("corrected"), frame_duration=1 / 32, name="fine")


# --------------------------------------------------------------------------------------------
# the teacher's targets per fragment
# --------------------------------------------------------------------------------------------
def patch_overlap(offsets_s: Sequence[float], n_patches: int, *, fragment_s: float = FRAGMENT_SECONDS) -> np.ndarray:
    """Seconds of each musicnn patch that lie inside each fragment.

    Parameters
    ----------
    offsets_s : 1-D sequence of numbers >= 0
        Fragment starts (s); fragment ``i`` covers ``[offsets_s[i], offsets_s[i] + fragment_s)``.
    n_patches : int >= 1
        The track's musicnn patches; patch ``k`` covers ``[k P, (k + 1) P)``, ``P`` =
        :data:`PATCH_SECONDS`.
    fragment_s : float > 0

    Returns
    -------
    W : np.ndarray [shape=(len(offsets_s), n_patches), float64]
        ``W[i, k]`` = length of the intersection of fragment ``i`` and patch ``k``.

    Examples
    --------
    >>> patch_overlap([0.0], 4).round(3).tolist()
    [[2.992, 2.992, 2.016, 0.0]]
    """
    n_patches = check_int(n_patches, "n_patches", minimum=1)
    o = np.asarray(offsets_s, dtype=np.float64)
    if o.ndim != 1 or not np.all(np.isfinite(o)) or np.any(o < 0):
        raise ParameterError("offsets_s must be a 1-D sequence of finite numbers >= 0")
    if not (isinstance(fragment_s, (int, float)) and fragment_s > 0):
        raise ParameterError(f"fragment_s must be a positive number, got {fragment_s!r}")
    starts = np.arange(n_patches) * PATCH_SECONDS
    lo = np.maximum(o[:, None], starts[None, :])
    hi = np.minimum(o[:, None] + fragment_s, starts[None, :] + PATCH_SECONDS)
    return np.clip(hi - lo, 0.0, None)


def fragment_targets(patch_rows: np.ndarray, offsets_s: Sequence[float]) -> np.ndarray:
    """The teacher's output for each fragment: its patches' rows weighted by their overlap.

    Parameters
    ----------
    patch_rows : np.ndarray [shape=(n_patches, d)]
        One track's per-patch teacher outputs, in time order.
    offsets_s : 1-D sequence of numbers >= 0

    Returns
    -------
    np.ndarray [shape=(len(offsets_s), d), float32]

    Raises
    ------
    DatasetError
        A fragment starts at or after the end of the last patch (no teacher output covers it).
    """
    P = np.asarray(patch_rows, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] == 0:
        raise ParameterError(f"patch_rows must be a non-empty 2-D array, got shape {P.shape}")
    W = patch_overlap(offsets_s, P.shape[0])
    total = W.sum(axis=1)
    if np.any(total <= 0):
        bad = np.asarray(offsets_s, dtype=float)[total <= 0]
        raise DatasetError(f"fragment(s) at {bad[:3].tolist()} s lie after the teacher's last patch")
    return ((W / total[:, None]) @ P).astype(np.float32)


@dataclass
class Teacher:
    """musicnn's per-patch outputs of a collection (tracks in order, patches in time order)."""

    tags: np.ndarray
    penultimate: np.ndarray
    track: np.ndarray
    model: str = "MSD_musicnn"
    _rows: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not (len(self.tags) == len(self.penultimate) == len(self.track)):
            raise ParameterError("Teacher: tags, penultimate and track differ in length")
        track = np.asarray(self.track).astype(str)
        for t in dict.fromkeys(track):
            self._rows[t] = np.flatnonzero(track == t)

    def has(self, track_id: str) -> bool:
        return str(track_id) in self._rows

    def targets(self, track_id: str, offsets_s: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """``(tags, penultimate)`` of fragments of one track (:func:`fragment_targets`)."""
        rows = self._rows.get(str(track_id))
        if rows is None:
            raise DatasetError(f"the teacher has no patches of track {track_id!r}")
        return fragment_targets(self.tags[rows], offsets_s), fragment_targets(self.penultimate[rows], offsets_s)


def teacher(manifest: pd.DataFrame, *, model: str = "MSD_musicnn", progress: bool = False) -> Teacher:
    """musicnn's tags and penultimate features per patch of a collection, cached on disk."""
    from melrec_lib.io.manifest import corpus_name

    name = corpus_name(manifest)
    tags, track = musicnn.track_embeddings(manifest, model=model, layer="taggram", corpus_name=name, progress=progress)
    pen, track2 = musicnn.track_embeddings(manifest, model=model, layer="penultimate", corpus_name=name, progress=False)
    if not np.array_equal(np.asarray(track), np.asarray(track2)):
        raise DatasetError(f"{name}: the teacher's two layers list different patches")
    return Teacher(np.asarray(tags, np.float32), np.asarray(pen, np.float32), np.asarray(track).astype(str), model)


# --------------------------------------------------------------------------------------------
# augmentation
# --------------------------------------------------------------------------------------------
def augmentation_plan(seed: int) -> list[tuple[str, dict[str, float]]]:
    """The effects one altered copy gets, drawn from ``seed``: ``[(effect, parameters), ...]``.

    Always a gain of -6..+6 dB and a three-band EQ (low shelf at 200 Hz, a peak at 300-3000 Hz,
    high shelf at 4 kHz, each -6..+6 dB); with probability 0.5 a compressor (threshold -30..-10
    dB, ratio 2..6); 0.5 a reverb (room 0.1..0.6, wet 0.05..0.3); 0.5 white noise at 20..40 dB
    below the signal; 0.2 a pitch shift of -1..+1 semitone.  The same seed, the same plan.
    """
    rng = np.random.default_rng([check_int(seed, "seed"), 0xA06])
    u = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
    plan: list[tuple[str, dict[str, float]]] = [("gain", {"gain_db": u(-6, 6)})]
    plan.append(
        (
            "eq",
            {
                "low_db": u(-6, 6),
                "peak_hz": float(np.exp(u(np.log(300), np.log(3000)))),
                "peak_db": u(-6, 6),
                "high_db": u(-6, 6),
            },
        )
    )
    draws = rng.uniform(size=4)
    if draws[0] < 0.5:
        plan.append(("compressor", {"threshold_db": u(-30, -10), "ratio": u(2, 6)}))
    if draws[1] < 0.5:
        plan.append(("reverb", {"room_size": u(0.1, 0.6), "wet_level": u(0.05, 0.3)}))
    if draws[2] < 0.5:
        plan.append(("noise", {"snr_db": u(20, 40)}))
    if draws[3] < 0.2:
        plan.append(("pitch", {"semitones": u(-1, 1)}))
    return plan


def augment(y: np.ndarray, sr: int, seed: int) -> np.ndarray:
    """One altered copy of mono audio (:func:`augmentation_plan` of ``seed``), float32, same length.

    Raises
    ------
    MissingDependencyError
        pedalboard is not installed (``pip install pedalboard``; it is pinned in requirements.lock).
    """
    try:
        import pedalboard as pb
    except ImportError as exc:  # pragma: no cover - the lock installs it
        raise MissingDependencyError(
            "augmentation needs pedalboard: pip install pedalboard (pinned in requirements.lock)"
        ) from exc
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0 or not np.all(np.isfinite(y)):
        raise ParameterError("y must be non-empty, finite, mono audio")
    plan = augmentation_plan(seed)
    effects = []
    noise_db = None
    for name, p in plan:
        if name == "gain":
            effects.append(pb.Gain(gain_db=p["gain_db"]))
        elif name == "eq":
            effects += [
                pb.LowShelfFilter(cutoff_frequency_hz=200.0, gain_db=p["low_db"]),
                pb.PeakFilter(cutoff_frequency_hz=p["peak_hz"], gain_db=p["peak_db"], q=1.0),
                pb.HighShelfFilter(cutoff_frequency_hz=4000.0, gain_db=p["high_db"]),
            ]
        elif name == "compressor":
            effects.append(pb.Compressor(threshold_db=p["threshold_db"], ratio=p["ratio"]))
        elif name == "reverb":
            effects.append(
                pb.Reverb(room_size=p["room_size"], wet_level=p["wet_level"], dry_level=1.0 - p["wet_level"])
            )
        elif name == "pitch":
            effects.append(pb.PitchShift(semitones=p["semitones"]))
        elif name == "noise":
            noise_db = p["snr_db"]
    out = pb.Pedalboard(effects)(y[None, :], float(sr))[0]
    out = np.asarray(out[: y.size], dtype=np.float32)
    if out.size < y.size:
        out = np.pad(out, (0, y.size - out.size))
    if noise_db is not None:
        rms = float(np.sqrt(np.mean(out.astype(np.float64) ** 2)))
        rng = np.random.default_rng([int(seed), 0x401])
        out = out + (rms * 10 ** (-noise_db / 20) * rng.standard_normal(out.size)).astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


# --------------------------------------------------------------------------------------------
# recipe and training set
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistillRecipe:
    """Everything that decides a distilled network apart from the audio it is trained on.

    Attributes
    ----------
    loss : {"tags", "penultimate", "both"}
        Which teacher outputs the student is trained on (the other head is left untrained).
    versions : int >= 1
        Renderings of each training track: the original and ``versions - 1`` altered copies.
    per_8s : float > 0
        Fragments per 8 s of audio in each rendering, at random whole-second offsets.
    epochs : int >= 1
        Upper bound; early stopping on the validation fragments usually ends sooner.
    patience : int >= 1
    batch_size : int >= 1
    learning_rate : float in (0, 1)
        Adam's.
    tag_weight : float >= 0
        Weight of the tag loss beside the penultimate loss (``loss="both"``).
    mask : bool
        Mask one run of mel bands and one of frames per training fragment, redrawn every epoch.
    seed : int >= 0
        Seeds the offsets, the augmentation, the weights, dropout, shuffling and masking.
    input : {"corrected", "fine"}
        The student's input (:func:`input_config`); ``"fine"`` widens ``pool1`` so that the
        layers after it keep Table 4.1's sizes (:func:`melrec_lib.nets.architecture.genre_cnn`).
    """

    loss: str = "both"
    versions: int = 3
    per_8s: float = 2.0
    epochs: int = 20
    patience: int = 4
    batch_size: int = 64
    learning_rate: float = 1e-3
    tag_weight: float = 1.0
    mask: bool = True
    seed: int = 0
    input: str = "corrected"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ParameterError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.input not in INPUTS:
            raise ParameterError(f"input must be one of {INPUTS}, got {self.input!r}")
        for name in ("versions", "epochs", "patience", "batch_size"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=1))
        object.__setattr__(self, "seed", check_int(self.seed, "seed"))
        for name, lo, hi in (("per_8s", 0, 64), ("learning_rate", 0, 1), ("tag_weight", -1e-12, 1e6)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo < v < hi:
                raise ParameterError(f"{name} must be a number in ({lo}, {hi}), got {v!r}")
            object.__setattr__(self, name, float(v))
        if not isinstance(self.mask, bool):
            raise ParameterError(f"mask must be True or False, got {self.mask!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """A digest of the recipe (``input`` as :meth:`input_key` puts it)."""
        fields = {k: v for k, v in self.to_dict().items() if k != "input"}
        return stable_hash(fields | self.input_key(), 10)

    def input_key(self) -> dict[str, str]:
        """``input`` for a cache key: ``{}`` at ``"corrected"``, so that the students and training
        sets stored before ``input`` existed keep their keys; ``{"input": name}`` otherwise."""
        return {} if self.input == "corrected" else {"input": self.input}

    @property
    def frames(self) -> int:
        """Input frames per fragment (64, or 256 for ``input="fine"``)."""
        return input_config(self.input).fragment_frames

    def replace(self, **changes: Any) -> "DistillRecipe":
        return dataclasses.replace(self, **changes)


@dataclass
class DistillSet:
    """Fragments with the teacher's targets.

    Attributes
    ----------
    X : np.ndarray [shape=(n, frames, 128), float32]
        Fragments of the recipe's input (time x mel): 64 frames for ``"corrected"``.
    tags : np.ndarray [shape=(n, 50), float32]
    penultimate : np.ndarray [shape=(n, 200), float32]
    index : pd.DataFrame
        ``track_id, corpus, version`` (0: the original audio), ``offset_s``.
    meta : dict
    """

    X: np.ndarray
    tags: np.ndarray
    penultimate: np.ndarray
    index: pd.DataFrame
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.index)
        if not (len(self.X) == len(self.tags) == len(self.penultimate) == n):
            raise ParameterError("DistillSet: X, tags, penultimate and index differ in length")

    def __len__(self) -> int:
        return len(self.index)

    def take(self, mask: np.ndarray) -> "DistillSet":
        """The rows where ``mask`` is true (a copy)."""
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        return DistillSet(
            np.asarray(self.X[rows]),
            self.tags[rows],
            self.penultimate[rows],
            self.index.iloc[rows].reset_index(drop=True),
            dict(self.meta),
        )

    @property
    def hours(self) -> float:
        """Hours of fragment audio (8 s per row, every version counted)."""
        return len(self) * FRAGMENT_SECONDS / 3600

    @classmethod
    def concat(cls, sets: Sequence["DistillSet"]) -> "DistillSet":
        return cls(
            np.concatenate([s.X for s in sets]),
            np.concatenate([s.tags for s in sets]),
            np.concatenate([s.penultimate for s in sets]),
            pd.concat([s.index for s in sets], ignore_index=True),
            {"parts": [s.meta for s in sets]},
        )


def _random_offsets(duration_s: float, per_8s: float, seed: int) -> np.ndarray:
    from melrec_lib.dsp import fragments

    k = max(1, int(round(per_8s * duration_s / FRAGMENT_SECONDS)))
    return np.asarray(fragments.random_offsets(duration_s, k, seed=seed), dtype=float)


def _track_fragments(y: np.ndarray, sr: int, offsets: np.ndarray, input: str) -> tuple[np.ndarray, np.ndarray]:
    """Fragments of input ``input`` at ``offsets``, silent ones left out: ``(X, kept offsets)``."""
    from melrec_lib.dsp import blas, fragments
    from melrec_lib.errors import SilentAudioError

    config = input_config(input)
    with blas.one_blas_thread():
        try:
            return fragments.fragments(y, sr, offsets, config), offsets
        except SilentAudioError:
            keep, parts = [], []
            for i, o in enumerate(offsets):
                try:
                    parts.append(fragments.fragments(y, sr, [o], config))
                    keep.append(i)
                except SilentAudioError:
                    continue
            if not parts:
                return np.zeros((0, *config.fragment_shape), np.float32), offsets[:0]
            return np.concatenate(parts), offsets[keep]


def _set_track(
    track_id: str, path: str, versions: int, per_8s: float, seed: int, max_offset: float, input: str
) -> dict:
    """One track's fragments in every version: ``{"X", "version", "offset_s"}`` or ``{"error"}``."""
    from melrec_lib.dsp import filters
    from melrec_lib.io import audio

    try:
        y, sr = audio.load(path, sr=filters.SAMPLE_RATE)
        duration = len(y) / float(sr)
        Xs, vs, os_ = [], [], []
        for v in range(versions):
            vseed = text_seed(f"melrec-distill:{seed}:{track_id}:{v}", 8) >> 1
            offsets = _random_offsets(duration, per_8s, vseed)
            offsets = offsets[offsets < max_offset]
            if offsets.size == 0:
                continue
            yv = y if v == 0 else augment(y, sr, vseed)
            X, kept = _track_fragments(yv, sr, offsets, input)
            Xs.append(X.astype(np.float32))
            vs.append(np.full(len(kept), v))
            os_.append(kept)
        if not Xs or sum(len(x) for x in Xs) == 0:
            return {"error": f"no fragment ({duration:.1f} s)"}
        return {"X": np.concatenate(Xs), "version": np.concatenate(vs), "offset_s": np.concatenate(os_)}
    except Exception as exc:  # a bad file is skipped, never the whole set
        return {"error": f"{type(exc).__name__}: {exc}"}


def _load_set(folder: Path) -> DistillSet:
    meta = json.loads((folder / "meta.json").read_text())
    return DistillSet(
        np.load(folder / "X.npy", mmap_mode="r"),
        np.load(folder / "tags.npy"),
        np.load(folder / "penultimate.npy"),
        pd.read_csv(folder / "index.csv", dtype={"track_id": str, "corpus": str}),
        meta,
    )


def _stored_set(folder: Path) -> DistillSet | None:
    """The set stored in ``folder``, or None (absent, or unreadable: then it is rebuilt)."""
    if not (folder / "meta.json").is_file():
        return None
    try:
        return _load_set(folder)
    except (OSError, ValueError) as exc:
        warnings.warn(f"{folder}: unreadable training set ({exc}); rebuilding", stacklevel=3)
        discard_folder(folder)
        return None


def _store_set(out: DistillSet, folder: Path) -> DistillSet:
    """Write ``out`` to ``folder`` atomically (an interrupted write leaves no folder) and read it back."""
    with atomic_folder(folder) as tmp:
        np.save(tmp / "X.npy", out.X)
        np.save(tmp / "tags.npy", out.tags)
        np.save(tmp / "penultimate.npy", out.penultimate)
        out.index.to_csv(tmp / "index.csv", index=False)
        (tmp / "meta.json").write_text(json.dumps(out.meta, indent=1))
    return _load_set(folder)


def _tracks_key(manifest: pd.DataFrame) -> list:
    return [[str(t), str(p), *file_stamp(p)] for t, p in zip(manifest["track_id"], manifest["path"])]


def build_set(
    manifest: pd.DataFrame,
    taught: Teacher,
    recipe: DistillRecipe = DistillRecipe(),
    *,
    versions: int | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
    cache: bool = True,
) -> DistillSet:
    """Training fragments of a collection with the teacher's targets, in every version, cached.

    Each track gives ``round(per_8s x duration / 8)`` fragments per version at random
    whole-second offsets (seeded by the recipe's seed, the track and the version); version 0 is
    the original audio, the others :func:`augment` copies.  Targets are the teacher's outputs on
    the original audio (:meth:`Teacher.targets`).  Stored under
    ``processed_dir()/distill/<collection>/set-<key>/`` (key: the recipe's seed, ``versions``,
    ``per_8s`` and ``input``, the tracks' paths, sizes and times, :data:`SET_VERSION`).

    Parameters
    ----------
    manifest : pd.DataFrame
        ``track_id`` and ``path``; tracks the teacher has no patches of are skipped.
    taught : Teacher
    recipe : DistillRecipe
    versions : int, optional
        Overrides ``recipe.versions`` (validation sets: 1, the original audio only).
    n_jobs : int or None
        Worker processes over tracks.
    progress : bool
    cache : bool

    Raises
    ------
    DatasetError
        No track gives a fragment.
    """
    from melrec_lib.io.manifest import check as check_manifest
    from melrec_lib.io.manifest import corpus_name
    from melrec_lib.parallel import parallel_map

    m = check_manifest(manifest, need=("track_id", "path"))
    versions = recipe.versions if versions is None else check_int(versions, "versions", minimum=1)
    m = m[[taught.has(t) for t in m["track_id"].astype(str)]]
    if len(m) == 0:
        raise DatasetError("the teacher has no patches of any track of this manifest")
    name = corpus_name(manifest)
    spec = {
        "set_version": SET_VERSION,
        "versions": versions,
        "per_8s": recipe.per_8s,
        "seed": recipe.seed,
        "teacher": taught.model,
        "tracks": _tracks_key(m),
    }
    spec |= recipe.input_key()
    folder = paths.processed_dir() / "distill" / name / f"set-{stable_hash(spec, 12)}"
    stored = _stored_set(folder) if cache else None
    if stored is not None:
        return stored
    ids = m["track_id"].astype(str).tolist()
    # a fragment must start inside the teacher's patches (musicnn drops a partial last one)
    max_off = {t: int((taught._rows[t].size)) * PATCH_SECONDS for t in ids}
    args = [(t, str(p), versions, recipe.per_8s, recipe.seed, max_off[t], recipe.input) for t, p in zip(ids, m["path"])]
    results = parallel_map(
        _set_track, args, star=True, n_jobs=n_jobs, desc=f"{name}: fragments", unit="track", progress=progress
    )
    Xs, tags, pens, rows, failed = [], [], [], [], {}
    for t, r in zip(ids, results):
        if "error" in r:
            failed[t] = r["error"]
            continue
        tg, pn = taught.targets(t, r["offset_s"])
        Xs.append(r["X"])
        tags.append(tg)
        pens.append(pn)
        rows.append(pd.DataFrame({"track_id": t, "corpus": name, "version": r["version"], "offset_s": r["offset_s"]}))
    if not Xs:
        raise DatasetError(f"{name}: no track gave a fragment (e.g. {next(iter(failed.items()), None)})")
    if failed:
        warnings.warn(f"{name}: {len(failed)} of {len(ids)} tracks skipped", stacklevel=2)
    out = DistillSet(
        np.concatenate(Xs),
        np.concatenate(tags),
        np.concatenate(pens),
        pd.concat(rows, ignore_index=True),
        {
            "corpus": name,
            "n_tracks": len(ids) - len(failed),
            "failed": failed,
            **{k: v for k, v in spec.items() if k != "tracks"},
        },
    )
    return _store_set(out, folder) if cache else out


def mix_plan(track_ids: Sequence[str], mixes: int, *, seed: int = 0) -> pd.DataFrame:
    """Which track each mix of each track is mixed with, at which weight and partner offset.

    Mix ``v`` (1 .. ``mixes``) of track ``t`` draws, from ``seed``, ``t`` and ``v``: a partner
    among the *other* tracks, the weight ``w`` of ``t`` (uniform in 0.3 .. 0.7; the partner gets
    ``1 - w``) and where in the partner the mix starts (a fraction of its length).

    Returns
    -------
    pd.DataFrame
        ``track_id, version, partner, weight, start`` (``start`` in [0, 1)), one row per mix.

    Raises
    ------
    ParameterError
        ``mixes`` < 1, or fewer than two distinct tracks.

    >>> plan = mix_plan(["a", "b", "c"], 2, seed=0)
    >>> len(plan), bool((plan["partner"] != plan["track_id"]).all())
    (6, True)
    """
    mixes = check_int(mixes, "mixes", minimum=1)
    seed = check_int(seed, "seed")
    ids = list(dict.fromkeys(str(t) for t in track_ids))
    if len(ids) < 2:
        raise ParameterError(f"mixing needs at least two distinct tracks, got {len(ids)}")
    rows = []
    for t in ids:
        others = [o for o in ids if o != t]
        for v in range(1, mixes + 1):
            rng = np.random.default_rng(text_seed(f"melrec-distill-mix:{seed}:{t}:{v}", 8))
            rows.append(
                {
                    "track_id": t,
                    "version": v,
                    "partner": others[int(rng.integers(len(others)))],
                    "weight": float(rng.uniform(0.3, 0.7)),
                    "start": float(rng.uniform()),
                }
            )
    return pd.DataFrame(rows)


def mix(y: np.ndarray, partner: np.ndarray, weight: float, start: float) -> np.ndarray:
    """``weight`` of ``y`` and ``1 - weight`` of ``partner``, each at unit RMS, then at ``y``'s RMS.

    The partner is read from ``start`` (a fraction of its length) and looped or cut to ``y``'s
    length; its RMS is taken over that span.  Raises :class:`~melrec_lib.errors.ParameterError` for a weight outside [0, 1], and
    for silent, empty or non-finite audio.

    >>> a, b = np.ones(4, np.float32), np.array([1, -1], np.float32)
    >>> mix(a, b, 0.5, 0.0).astype(float).round(3).tolist()  # [1, 0, 1, 0], brought to a's RMS (1)
    [1.414, 0.0, 1.414, 0.0]
    >>> mix(a, b, 0.5, 0.5).astype(float).round(3).tolist()  # the partner read from its middle: -1, 1, -1, 1
    [0.0, 1.414, 0.0, 1.414]
    """
    y = np.asarray(y, dtype=np.float64)
    b = np.asarray(partner, dtype=np.float64)
    if not (isinstance(weight, (int, float)) and 0 <= weight <= 1) or not (0 <= start < 1):
        raise ParameterError(f"weight must lie in [0, 1] and start in [0, 1), got {weight!r}, {start!r}")
    for name, a in (("y", y), ("partner", b)):
        if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or not np.any(a):
            raise ParameterError(f"{name} must be non-empty, finite, mono and not silent")
    k = int(start * b.size)
    b = np.resize(np.concatenate([b[k:], b[:k]]), y.size)
    rms = lambda a: float(np.sqrt(np.mean(a * a)))  # noqa: E731
    if rms(b) == 0:
        raise ParameterError("the partner is silent over the span it is mixed in")
    out = weight * y / rms(y) + (1 - weight) * b / rms(b)
    level = rms(out)
    return (out * (rms(y) / level if level > 0 else 0.0)).astype(np.float32)


def _mix_track(path: str, partner_path: str, weight: float, start: float, per_8s: float, seed: int, input: str) -> dict:
    """One mix: its fragments and musicnn's input patches of it, or ``{"error"}``."""
    from melrec_lib.dsp import filters
    from melrec_lib.io import audio

    try:
        y, sr = audio.load(path, sr=filters.SAMPLE_RATE)
        b, _ = audio.load(partner_path, sr=filters.SAMPLE_RATE)
        m = mix(y, b, weight, start)
        P = musicnn.patches(musicnn.log_mel(musicnn.resample(m, sr)))
        offsets = _random_offsets(m.size / float(sr), per_8s, seed)
        offsets = offsets[offsets < P.shape[0] * PATCH_SECONDS]
        X, kept = _track_fragments(m, sr, offsets, input)
        if len(X) == 0:
            return {"error": "no fragment"}
        return {"X": X.astype(np.float32), "offset_s": kept, "patches": P}
    except Exception as exc:  # a bad file is skipped, never the whole set
        return {"error": f"{type(exc).__name__}: {exc}"}


def mix_set(
    manifest: pd.DataFrame,
    recipe: DistillRecipe = DistillRecipe(),
    *,
    mixes: int = 1,
    model: str = "MSD_musicnn",
    n_jobs: int | None = None,
    progress: bool = False,
    cache: bool = True,
) -> DistillSet:
    """Fragments of mixes of a collection's tracks, with the teacher's targets *of the mixes*, cached.

    Each track is mixed ``mixes`` times with another track of the same manifest
    (:func:`mix_plan`, :func:`mix`).  Unlike :func:`build_set`'s altered copies, which keep the
    original audio's targets, musicnn is run on each mix: the mix is new music, and the student
    learns what the teacher says about it ("function matching", Beyer et al., *Knowledge
    distillation: a good teacher is patient and consistent*, CVPR 2022).  Fragments as in
    :func:`build_set` (``round(per_8s x duration / 8)`` per mix, random whole-second offsets inside
    the teacher's patches).  ``index`` has ``track_id`` (the track mixed), ``version`` (the mix,
    1 .. ``mixes``) and ``partner``.  Stored under ``processed_dir()/distill/<collection>/mix-<key>/``.

    Raises
    ------
    ParameterError
        ``mixes`` < 1, fewer than two tracks.
    DatasetError
        No mix gives a fragment.
    """
    from melrec_lib.io.manifest import check as check_manifest
    from melrec_lib.io.manifest import corpus_name
    from melrec_lib.parallel import parallel_map

    m = check_manifest(manifest, need=("track_id", "path"))
    ids = m["track_id"].astype(str).tolist()
    plan = mix_plan(ids, mixes, seed=recipe.seed)
    name = corpus_name(manifest)
    spec = {"set_version": SET_VERSION, "mixes": mixes, "per_8s": recipe.per_8s, "seed": recipe.seed}
    spec |= {"teacher": musicnn.check_model(model), "tracks": _tracks_key(m)}
    spec |= recipe.input_key()
    folder = paths.processed_dir() / "distill" / name / f"mix-{stable_hash(spec, 12)}"
    stored = _stored_set(folder) if cache else None
    if stored is not None:
        return stored
    path_of = dict(zip(ids, m["path"].astype(str)))
    Xs, tags, pens, rows, failed = [], [], [], [], {}
    for lo in range(0, len(plan), 16):  # musicnn's patches of 16 mixes at a time are in memory
        chunk = plan.iloc[lo : lo + 16]
        args = [
            (
                path_of[r.track_id],
                path_of[r.partner],
                r.weight,
                r.start,
                recipe.per_8s,
                _mix_seed(recipe, r),
                recipe.input,
            )
            for r in chunk.itertuples()
        ]
        results = parallel_map(_mix_track, args, star=True, n_jobs=n_jobs, desc=f"{name}: mixes", progress=progress)
        for r, res in zip(chunk.itertuples(), results):
            if "error" in res:
                failed[f"{r.track_id}:{r.version}"] = res["error"]
                continue
            out = musicnn.predict(res["patches"], model=model)
            tags.append(fragment_targets(out["taggram"], res["offset_s"]))
            pens.append(fragment_targets(out["penultimate"], res["offset_s"]))
            Xs.append(res["X"])
            rows.append(
                pd.DataFrame(
                    {"track_id": r.track_id, "corpus": name, "version": r.version, "offset_s": res["offset_s"]}
                ).assign(partner=r.partner)
            )
    if not Xs:
        raise DatasetError(f"{name}: no mix gave a fragment (e.g. {next(iter(failed.items()), None)})")
    if failed:
        warnings.warn(f"{name}: {len(failed)} of {len(plan)} mixes skipped", stacklevel=2)
    meta = {"corpus": name, "n_mixes": len(plan) - len(failed), "failed": failed}
    meta |= {k: v for k, v in spec.items() if k != "tracks"}
    out = DistillSet(
        np.concatenate(Xs), np.concatenate(tags), np.concatenate(pens), pd.concat(rows, ignore_index=True), meta
    )
    return _store_set(out, folder) if cache else out


def _mix_seed(recipe: DistillRecipe, row: Any) -> int:
    return text_seed(f"melrec-distill-mix:{recipe.seed}:{row.track_id}:{row.version}:offsets", 8) >> 1


def scoring_set(
    manifest: pd.DataFrame, taught: Teacher, *, input: str = "corrected", progress: bool = False
) -> DistillSet:
    """Every consecutive 8 s fragment (the scoring fragments of input ``input``) with its targets.

    The fragments come from :func:`melrec_lib.dsp.fragment_cache.scoring_fragments` (cached);
    fragments starting after the teacher's last patch are left out.
    """
    from melrec_lib.dsp import fragment_cache
    from melrec_lib.io.manifest import corpus_name

    frags = fragment_cache.scoring_fragments(manifest, input_config(input), progress=progress)
    idx = frags.index.reset_index(drop=True)
    keep = np.zeros(len(idx), dtype=bool)
    tags = np.zeros((len(idx), N_TAGS), np.float32)
    pens = np.zeros((len(idx), N_PENULTIMATE), np.float32)
    for t, g in idx.groupby("track_id", sort=False):
        if not taught.has(t):
            continue
        rows = g.index.to_numpy()
        off = g["offset_s"].to_numpy(float)
        ok = off < taught._rows[str(t)].size * PATCH_SECONDS
        if ok.any():
            tags[rows[ok]], pens[rows[ok]] = taught.targets(t, off[ok])
            keep[rows[ok]] = True
    index = idx.assign(corpus=corpus_name(manifest), version=0)[["track_id", "corpus", "version", "offset_s"]]
    full = DistillSet(np.asarray(frags.X), tags, pens, index, {"corpus": corpus_name(manifest)})
    return full.take(keep)


def holdout_groups(groups: Sequence[str], n: int, *, seed: int = 0) -> list[str]:
    """``n`` of the distinct ``groups`` (e.g. soundtracks) drawn with ``seed``, sorted."""
    distinct = sorted({str(g) for g in groups})
    n = check_int(n, "n")
    if n >= len(distinct):
        raise ParameterError(f"cannot hold out {n} of {len(distinct)} groups: nothing would be left to train on")
    rng = np.random.default_rng([check_int(seed, "seed"), 0x40D])
    return sorted(rng.choice(distinct, size=n, replace=False).tolist())


# --------------------------------------------------------------------------------------------
# the student
# --------------------------------------------------------------------------------------------
def soft_target_loss(y_true, y_pred):
    """Cross-entropy of sigmoid outputs against soft targets, mean over the tags (Keras loss).

    ``-mean_j [t_j log p_j + (1 - t_j) log(1 - p_j)]`` per row, with ``p`` clipped to
    ``[1e-7, 1 - 1e-7]``; the teacher's probabilities ``t`` are the targets.
    """
    from keras import ops

    p = ops.clip(y_pred, 1e-7, 1.0 - 1e-7)
    t = ops.cast(y_true, p.dtype)
    return -ops.mean(t * ops.log(p) + (1.0 - t) * ops.log(1.0 - p), axis=-1)


def student(recipe: DistillRecipe = DistillRecipe()):
    """Table 4.1 (``genre_cnn``'s layers ``conv1`` .. ``dropout4``) with the two teacher heads, compiled.

    Its input has ``recipe.frames`` frames (:func:`input_config`).

    Outputs a dict: ``"tags"`` (50 sigmoid) and ``"penultimate"`` (200 linear, standardised).
    Loss weights follow ``recipe.loss`` (an unused head weighs 0).
    """
    import keras

    base = architecture.genre_cnn(9, seed=recipe.seed, init="thesis", frames=recipe.frames)
    x = base.get_layer("dropout4").output
    glorot = keras.initializers.GlorotUniform
    tags = keras.layers.Dense(
        N_TAGS, activation="sigmoid", kernel_initializer=glorot(seed=recipe.seed + 21), name="tags"
    )(x)
    pen = keras.layers.Dense(N_PENULTIMATE, kernel_initializer=glorot(seed=recipe.seed + 22), name="penultimate")(x)
    model = keras.Model(base.inputs, {"tags": tags, "penultimate": pen}, name="distilled_cnn")
    weights = {
        "tags": {"tags": 1.0, "penultimate": 0.0},
        "penultimate": {"tags": 0.0, "penultimate": 1.0},
        "both": {"tags": recipe.tag_weight, "penultimate": 1.0},
    }[recipe.loss]
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=recipe.learning_rate),
        loss={"tags": soft_target_loss, "penultimate": "mse"},
        loss_weights=weights,
    )
    return model


@dataclass
class Distilled:
    """A trained student: the model, its recipe, the penultimate standardisation, its history."""

    model: Any
    recipe: DistillRecipe
    pen_mean: np.ndarray
    pen_std: np.ndarray
    history: pd.DataFrame
    info: dict = field(default_factory=dict)
    path: Path | None = None

    def key(self) -> str:
        """A digest of the weights (names the embedding caches)."""
        return array_digest(*[np.asarray(w) for w in self.model.get_weights()], n=16)


def _batches(data: DistillSet, z: np.ndarray, recipe: DistillRecipe):
    """Shuffled batches of ``data`` with both heads' targets, masked as the genre CNN's are."""
    from melrec_lib.nets.training import MASK_FRAMES, masked_batches

    targets = {"tags": data.tags, "penultimate": z}
    max_frames = MASK_FRAMES * recipe.frames // architecture.FRAGMENT_FRAMES  # the same seconds at any input
    return masked_batches(data.X, targets, recipe.batch_size, recipe.seed, mask=recipe.mask, max_frames=max_frames)


def train(
    train_set: DistillSet, val_set: DistillSet, recipe: DistillRecipe = DistillRecipe(), *, verbose: int = 0
) -> Distilled:
    """Train a student on ``train_set``, early-stopped on ``val_set``'s loss (best weights restored).

    The penultimate targets are standardised with the training set's per-feature mean and
    standard deviation (kept in the result).  ``info`` records the seconds, the epochs run and
    the hours of fragment audio seen (fragments x 8 s x epochs run; fragments overlap when
    ``per_8s > 1``, so this counts audio as the network saw it, not distinct audio).
    """
    import keras

    if not isinstance(recipe, DistillRecipe):
        raise ParameterError(f"recipe must be a DistillRecipe, got {type(recipe).__name__}")
    if len(train_set) == 0 or len(val_set) == 0:
        raise DatasetError("training and validation sets must both hold fragments")
    keras.utils.set_random_seed(recipe.seed)
    mean = train_set.penultimate.mean(axis=0).astype(np.float32)
    std = train_set.penultimate.std(axis=0)
    # a feature (nearly) constant in training would blow up elsewhere: floor at a tenth of the median
    std = np.maximum(std, 0.1 * float(np.median(std)) + 1e-6).astype(np.float32)
    z_train = (train_set.penultimate - mean) / std
    z_val = (val_set.penultimate - mean) / std
    model = student(recipe)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=recipe.patience, restore_best_weights=True)
    t0 = time.perf_counter()
    hist = model.fit(
        _batches(train_set, z_train, recipe),
        validation_data=(np.asarray(val_set.X), {"tags": val_set.tags, "penultimate": z_val}),
        epochs=recipe.epochs,
        callbacks=[stop],
        verbose=verbose,
    )
    seconds = time.perf_counter() - t0
    history = pd.DataFrame(hist.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    best = int(np.argmin(history["val_loss"].to_numpy())) + 1
    info = {
        "seconds": seconds,
        "epochs_run": len(history),
        "best_epoch": best,
        "n_train": len(train_set),
        "n_val": len(val_set),
        "hours_per_epoch": train_set.hours,
        "hours_seen": train_set.hours * len(history),
    }
    return Distilled(model, recipe, mean, std, history, info)


def _set_key(data: DistillSet) -> str:
    index = pd.util.hash_pandas_object(data.index, index=False).to_numpy()
    return array_digest(data.tags, data.penultimate, index, n=16)


def train_or_load(
    train_set: DistillSet,
    val_set: DistillSet,
    recipe: DistillRecipe = DistillRecipe(),
    *,
    verbose: int = 0,
    cache: bool = True,
) -> Distilled:
    """:func:`train`, stored under ``models_dir()/distilled-cnn-<key>.keras`` and reused.

    The key covers the recipe and both sets' targets and fragment index, so another recipe or
    other training data never reuses a stored student.  A reused student's ``info`` (training
    seconds, epochs, hours seen) is the one recorded when it was trained.
    """
    key = stable_hash([recipe.key(), _set_key(train_set), _set_key(val_set)], 12)
    path = paths.models_dir() / f"distilled-cnn-{key}.keras"
    if cache and path.is_file() and path.with_suffix(".json").is_file():
        out = load(path)
        out.info = {**out.info, "reused": True}
        return out
    out = train(train_set, val_set, recipe, verbose=verbose)
    if cache:
        save(out, path)
    return out


def save(distilled: Distilled, path: str | os.PathLike) -> Path:
    """Store a student as ``<path>.keras`` plus a JSON sidecar (recipe, standardisation, history)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ParameterError(f"model files end in .keras, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        distilled.model.save(tmp)
    side = {
        "recipe": distilled.recipe.to_dict(),
        "pen_mean": distilled.pen_mean.tolist(),
        "pen_std": distilled.pen_std.tolist(),
        "history": distilled.history.to_dict(orient="list"),
        "info": distilled.info,
    }
    with atomic_file(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(side, indent=1, default=float))
    distilled.path = path
    return path


def load(path: str | os.PathLike) -> Distilled:
    """A student stored by :func:`save`.

    Raises
    ------
    ModelNotFoundError
        No model file or sidecar at ``path``.
    """
    import keras

    path = Path(path)
    side_path = path.with_suffix(".json")
    if not path.is_file() or not side_path.is_file():
        raise ModelNotFoundError(f"no distilled model (and sidecar) at {path}")
    side = json.loads(side_path.read_text())
    model = keras.saving.load_model(path, custom_objects={"soft_target_loss": soft_target_loss}, compile=False)
    return Distilled(
        model,
        DistillRecipe(**side["recipe"]),
        np.asarray(side["pen_mean"], np.float32),
        np.asarray(side["pen_std"], np.float32),
        pd.DataFrame(side["history"]),
        side.get("info", {}),
        path,
    )


# --------------------------------------------------------------------------------------------
# using it
# --------------------------------------------------------------------------------------------
_EMBEDDERS: dict[tuple[str, str], Any] = {}


def _embedder(distilled: Distilled, layer: str):
    import keras

    if layer not in EMBEDDING_LAYERS:
        raise ParameterError(f"layer must be one of {EMBEDDING_LAYERS}, got {layer!r}")
    key = (distilled.key(), layer)
    if key not in _EMBEDDERS:
        m = distilled.model
        _EMBEDDERS[key] = keras.Model(m.inputs, m.get_layer(layer).output, name=f"distilled_{layer}")
    return _EMBEDDERS[key]


def _forward(model, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    X = architecture.validate_fragments(X, frames=model.input_shape[1])
    outs = []
    for s in range(0, len(X), batch_size):
        batch = X[s : s + batch_size]
        n = len(batch)
        if n < batch_size and len(X) > batch_size:  # one compiled shape
            batch = np.concatenate([batch, np.zeros((batch_size - n, *batch.shape[1:]), batch.dtype)])
        outs.append(np.asarray(model.predict_on_batch(batch), dtype=np.float32)[:n])
    return np.concatenate(outs)


def predict(distilled: Distilled, X: np.ndarray) -> dict[str, np.ndarray]:
    """The student's ``tags`` (probabilities) and ``penultimate`` (in the teacher's units) for fragments."""
    tags = _forward(_embedder(distilled, "tags"), X)
    z = _forward(_embedder(distilled, "penultimate"), X)
    return {"tags": tags, "penultimate": z * distilled.pen_std + distilled.pen_mean}


def _r2(pred: np.ndarray, true: np.ndarray) -> float:
    """Share of the targets' variance the prediction explains, pooled over outputs (1: exact, 0: each output's mean)."""
    ss_res = float(((true - pred) ** 2).sum())
    ss_tot = float(((true - true.mean(axis=0)) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = (a * b).sum(axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, 1e-12)


def agreement(distilled: Distilled, data: DistillSet) -> dict[str, float]:
    """How closely the student says what the teacher says on ``data``'s fragments.

    Returns
    -------
    dict
        ``tags_r2`` and ``penultimate_r2`` (the share of the teacher's variance the student
        explains, pooled over outputs: 1 exact, 0 no better than each output's mean), ``penultimate_cosine`` (mean cosine of
        predicted and teacher features, both standardised with the training statistics),
        ``top5_overlap`` (share of the teacher's 5 most probable tags among the student's 5),
        ``tags_loss`` (:func:`soft_target_loss`, mean), ``track_penultimate_cosine`` (the
        same cosine on per-track means), ``n_fragments``.
    """
    out = predict(distilled, data.X)
    zt = (data.penultimate - distilled.pen_mean) / distilled.pen_std
    zp = (out["penultimate"] - distilled.pen_mean) / distilled.pen_std
    top_t = np.argsort(-data.tags, axis=1)[:, :5]
    top_p = np.argsort(-out["tags"], axis=1)[:, :5]
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top_t, top_p)])
    p = np.clip(out["tags"], 1e-7, 1 - 1e-7)
    bce = -np.mean(data.tags * np.log(p) + (1 - data.tags) * np.log(1 - p))
    tr = data.index["track_id"].astype(str).to_numpy()
    mt = pd.DataFrame(zt).groupby(tr).mean().to_numpy()
    mp = pd.DataFrame(zp).groupby(tr).mean().to_numpy()
    return {
        "tags_r2": _r2(out["tags"], data.tags),
        "penultimate_r2": _r2(zp, zt),
        "penultimate_cosine": float(np.mean(_cosine(zp, zt))),
        "track_penultimate_cosine": float(np.mean(_cosine(mp, mt))),
        "top5_overlap": float(overlap),
        "tags_loss": float(bce),
        "n_fragments": int(len(data)),
    }


def embed(
    manifest: pd.DataFrame,
    distilled: Distilled,
    *,
    layer: str = "penultimate",
    progress: bool = False,
    cache: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The student's ``layer`` output for every consecutive 8 s fragment of a collection, cached.

    Returns
    -------
    X : np.ndarray [shape=(n_fragments, d), float32]
    track : np.ndarray [shape=(n_fragments,), str]
    """
    from melrec_lib.dsp import fragment_cache
    from melrec_lib.io.manifest import corpus_name

    model = _embedder(distilled, layer)
    frags = fragment_cache.scoring_fragments(manifest, input_config(distilled.recipe.input), progress=progress)
    track = frags.index["track_id"].astype(str).to_numpy()
    out_path = None
    if cache:
        key = stable_hash([distilled.key(), layer, frags.meta.get("cache_key", array_digest(np.asarray(frags.X)))], 16)
        out_path = paths.processed_dir() / "distill" / corpus_name(manifest) / f"embed-{layer}-{key}.npy"
        if out_path.is_file():
            return np.load(out_path), track
    X = _forward(model, np.asarray(frags.X))
    if out_path is not None:
        with atomic_file(out_path) as tmp:
            np.save(tmp, X)
    return X, track


def linear_probe(
    X_train: np.ndarray, y_train: Sequence, X_test: np.ndarray, y_test: Sequence, *, seed: int = 0
) -> float:
    """Accuracy of a logistic regression (standardised inputs) fitted on ``X_train`` and tested on ``X_test``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(
        StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=check_int(seed, "seed"))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(np.asarray(X_train), np.asarray(y_train))
    return float(np.mean(clf.predict(np.asarray(X_test)) == np.asarray(y_test)))


def throughput(
    manifest: pd.DataFrame, distilled: Distilled, *, rounds: int = 2, n_jobs: int | None = 1
) -> dict[str, float]:
    """Tracks per second, from the audio files to the embeddings: the student against musicnn.

    Each round times, one after the other on the same tracks and without caches, musicnn MSD
    (:func:`melrec_lib.nets.musicnn.track_embeddings`, ``cache=False``) and the student
    (:func:`melrec_lib.dsp.fragment_cache.scoring_fragments`, ``cache=False``: audio at 44.1
    kHz, the consecutive fragments of its input; then the ``penultimate`` head).  Both compute
    their spectrograms in ``n_jobs`` worker processes (None: all cores) and run their network
    here; both are compiled in a warm-up first.  Returns the median rates and the median
    per-round ratio (``speedup`` > 1: the student is faster).
    """
    from melrec_lib.dsp import fragment_cache

    rounds = check_int(rounds, "rounds", minimum=1)
    model = _embedder(distilled, "penultimate")
    config = input_config(distilled.recipe.input)

    def run_teacher():
        musicnn.track_embeddings(manifest, corpus_name="throughput", cache=False, progress=False, n_jobs=n_jobs)

    def run_student():
        frags = fragment_cache.scoring_fragments(manifest, config, n_jobs=n_jobs, progress=False, cache=False)
        _forward(model, np.asarray(frags.X))

    run_teacher()
    run_student()
    t_teacher, t_student = [], []
    for _ in range(rounds):
        for fn, acc in ((run_teacher, t_teacher), (run_student, t_student)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    n = len(manifest)
    return {
        "n_tracks": n,
        "teacher_tracks_per_s": n / float(np.median(t_teacher)),
        "student_tracks_per_s": n / float(np.median(t_student)),
        "speedup": float(np.median([a / b for a, b in zip(t_teacher, t_student)])),
        "rounds": rounds,
    }
