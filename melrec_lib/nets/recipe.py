"""The genre-CNN training recipe: one frozen dataclass that trains, names, saves and reuses a model.

A trained genre CNN is a manifest (the collection it learnt from) plus a :class:`GenreRecipe`.
The recipe is what :func:`melrec_lib.nets.training.train_on` takes, what the model's sidecar records,
and what decides whether a saved model may be reused: "is it stale?" is a field-by-field diff
(:meth:`GenreRecipe.diff`), never a hand-kept list of keyword arguments.

The defaults are the repository's recipe for the genre CNN; the notebooks and the command
line change single fields (``GenreRecipe(config="corrected", per_track=5)``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from melrec_lib.cache import stable_hash
from melrec_lib.errors import ParameterError, check_int

__all__ = ["GenreRecipe", "OPTIMIZERS", "INITS"]

OPTIMIZERS = ("adam", "sgd")
INITS = ("thesis", "glorot")


@dataclass(frozen=True)
class GenreRecipe:
    """Everything that decides a trained genre CNN, apart from the data it is trained on.

    Attributes
    ----------
    config : str
        Spectrogram preset of the input (``fragments.CONFIGS``: ``"thesis"`` or
        ``"corrected"``); the model's file name carries it.
    per_track : int > 0
        Random 8 s fragments drawn per training track (the thesis used 1000 fragments in
        all; notebook 03 records what more fragments buy).
    augment : bool
        Band/frame masking of every training fragment, redrawn every epoch
        (:func:`melrec_lib.nets.training.mask_fragments`).
    epochs : int > 0
        Upper bound of epochs; training is early-stopped on the validation artists.
    patience : int > 0
        Epochs without a better validation loss before stopping.
    batch_size : int > 0
    optimizer : {"adam", "sgd"}
        Adam (learning rate 1e-3) or the thesis' plain SGD (Keras defaults).
    init : {"thesis", "glorot"} or None
        Convolution-kernel initialisation (``models.genre_cnn``).  ``None`` resolves to
        ``"glorot"`` for inputs with the thesis' [-1, 1] normalisation (with the thesis'
        initialisation that input never leaves the uniform output: notebook 03 explains) and to
        ``"thesis"`` otherwise.
    learning_rate : float > 0 or None
        ``None`` resolves to the optimiser's usual rate (Adam 1e-3, SGD 0.01), except Adam on
        the thesis' [-1, 1] normalisation: 3e-4, because at 1e-3 that input can collapse to
        the uniform output in the first epoch (notebook 03's learning-rate probe records it).
    seed : int >= 0
        Seeds the artist split, the fragment offsets, the initial weights, dropout, shuffling
        and masking: the same recipe on the same manifest gives the same model.
    """

    config: str = "thesis"
    per_track: int = 25
    augment: bool = True
    epochs: int = 60
    patience: int = 10
    batch_size: int = 32
    optimizer: str = "adam"
    init: str | None = None
    learning_rate: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        from melrec_lib.dsp import fragments

        cfg = fragments.get_config(self.config)  # ParameterError for an unknown preset
        if not isinstance(self.config, str):
            raise ParameterError(f"config must be a preset name {tuple(fragments.CONFIGS)}, got {self.config!r}")
        for name in ("per_track", "epochs", "patience", "batch_size"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=1))
        object.__setattr__(self, "seed", check_int(self.seed, "seed"))
        if not isinstance(self.augment, bool):
            raise ParameterError(f"augment must be True or False, got {self.augment!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ParameterError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.init is None:
            object.__setattr__(self, "init", "glorot" if cfg.normalization == "thesis" else "thesis")
        if self.init not in INITS:
            raise ParameterError(f"init must be one of {INITS} or None, got {self.init!r}")
        if self.learning_rate is None:
            thesis_input = cfg.normalization == "thesis"
            object.__setattr__(
                self, "learning_rate", 0.01 if self.optimizer == "sgd" else 3e-4 if thesis_input else 1e-3
            )
        if (
            isinstance(self.learning_rate, bool)
            or not isinstance(self.learning_rate, (int, float))
            or not 0 < self.learning_rate < 1
        ):
            raise ParameterError(f"learning_rate must be a number in (0, 1) or None, got {self.learning_rate!r}")
        object.__setattr__(self, "learning_rate", float(self.learning_rate))

    @property
    def spectrogram(self):
        """The :class:`melrec_lib.dsp.fragments.SpectrogramConfig` of the input."""
        from melrec_lib.dsp import fragments

        return fragments.get_config(self.config)

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON values, plus ``config_key`` (the spectrogram's content key)."""
        return {**dataclasses.asdict(self), "config_key": self.spectrogram.key()}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> "GenreRecipe":
        """The recipe a sidecar recorded (unknown keys, e.g. ``config_key``, are ignored).

        A sidecar written before ``learning_rate`` was recorded was trained at the rate of that
        time, Keras' default for Adam (1e-3; 0.01 for SGD) whatever the input, not at today's
        default: it reads back as that rate, so it is not mistaken for a model of today's recipe.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in record.items() if k in names}
        if "learning_rate" not in fields:
            fields["learning_rate"] = 0.01 if fields.get("optimizer", "adam") == "sgd" else 1e-3
        return cls(**fields)

    def key(self) -> str:
        """A short stable hash of every field and of the spectrogram configuration's content."""
        return stable_hash(self.to_dict(), 10)

    def replace(self, **changes: Any) -> "GenreRecipe":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def diff(self, other: "GenreRecipe") -> list[str]:
        """One line per field where ``other`` (e.g. a saved model's recipe) differs from this one."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{k}: saved {theirs[k]!r}, wanted {v!r}" for k, v in mine.items() if theirs.get(k) != v]
