"""Every path the repository uses, derived from the package location.

Notebooks and scripts take their folders from here (never ``../data``), so they run from any
working directory.  Data folders are functions, not constants: ``MELREC_DATA_DIR`` is read at
call time, so tests (and users) can move all generated data elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
FIGURES = ROOT / "figures"
BUILD = ROOT / "build"


def data_dir() -> Path:
    """Root of all generated data: ``$MELREC_DATA_DIR`` if set, else ``<repo>/data``."""
    env = os.environ.get("MELREC_DATA_DIR")
    return Path(env).expanduser().resolve() if env else ROOT / "data"


def raw_dir() -> Path:
    """Audio corpora (immutable once built): ``data/raw``."""
    return data_dir() / "raw"


def external_dir() -> Path:
    """Third-party source files kept as downloaded (e.g. the soundtracks' ``.deb``): ``data/external``."""
    return data_dir() / "external"


def processed_dir() -> Path:
    """Cached fragments and embeddings, rebuildable from raw data + code: ``data/processed``."""
    return data_dir() / "processed"


def models_dir() -> Path:
    """Trained networks: ``$MELREC_MODELS_DIR`` if set, else ``data/models``.

    A separate models folder lets a second set of networks (another seed: ``make seeds``) share
    the corpora and every content-keyed cache of ``data/`` while training its own models.
    """
    env = os.environ.get("MELREC_MODELS_DIR")
    return Path(env).expanduser().resolve() if env else data_dir() / "models"


def figures_dir(override: str | os.PathLike | None = None) -> Path:
    """The folder figures are written to (created if missing).

    Notebooks pass their ``FIGURES_DIR`` parameter; ``None`` means ``<repo>/figures``.
    """
    path = Path(override).expanduser().resolve() if override else FIGURES
    path.mkdir(parents=True, exist_ok=True)
    return path
