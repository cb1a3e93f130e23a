"""The typed errors of melrec.  Every bad input ends in one of these, never a NaN or an IndexError.

All derive from :class:`MelrecError`; those about bad values also derive from ``ValueError`` and
those about missing files from ``FileNotFoundError``, so callers may catch either family.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


class MelrecError(Exception):
    """Base class of every error raised on purpose by melrec."""


class ParameterError(MelrecError, ValueError):
    """A parameter is out of its valid range or of the wrong type (librosa's convention)."""


class AudioError(MelrecError, ValueError):
    """An audio file cannot be read or decoded; the message names the file."""


class SilentAudioError(AudioError):
    """The audio (or one 8 s fragment of it) is silent, so it cannot be normalised."""


class DatasetError(MelrecError, ValueError):
    """A collection, manifest or playlist is malformed or empty."""


class ModelNotFoundError(MelrecError, FileNotFoundError):
    """A trained model is needed but has not been trained yet; the message says how to train it."""


class MissingDependencyError(MelrecError, ImportError):
    """An optional package a method needs is not installed; the message says how to install it."""


def check_int(value: Any, name: str, *, minimum: int = 0) -> int:
    """``value`` as a Python int if it is an integer >= ``minimum``, else a ParameterError naming it.

    Python and NumPy integers are accepted; ``bool`` is refused (``True`` is not a count).
    The one integer check every module uses, so all of them word their errors alike.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        what = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ParameterError(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_array(X: Any, name: str, *, trailing: tuple[int, ...] | None = None, min_ndim: int = 2) -> np.ndarray:
    """``X`` as a non-empty, finite float32 array of shape ``(n, ...)``, else a ParameterError naming it.

    Parameters
    ----------
    X : array-like
    name : str
        How the message calls it ("fragments", "positives", ...).
    trailing : tuple of int, optional
        The required shape of one row; a single row of exactly that shape gets a batch axis.
    min_ndim : int
        Fewest dimensions, the batch axis included (without ``trailing``).

    The one array check of melrec: fragments (``models``), embeddings (``recommender``) and
    feature tables all pass through it, so all refuse bad input in the same words.
    """
    try:
        arr = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be a numeric array, got {type(X).__name__}") from exc
    if trailing is not None:
        trailing = tuple(trailing)
        if arr.shape == trailing:
            arr = arr[None]
        if arr.ndim != len(trailing) + 1 or arr.shape[1:] != trailing:
            want = "(n, " + ", ".join(str(t) for t in trailing) + ")"
            raise ParameterError(f"{name} must have shape {want}, got {arr.shape}")
    elif arr.ndim < min_ndim:
        raise ParameterError(f"{name} must have shape (n, features...), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ParameterError(f"{name} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} contains NaN or infinite values")
    return arr
