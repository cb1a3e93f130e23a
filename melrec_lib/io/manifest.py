"""The track manifest: one table shape shared by the synthetic corpus and every real-collection loader.

In memory, ``path`` holds absolute paths; ``tracks.csv`` on disk stores them relative to the
CSV's own folder, so a corpus folder can be moved as a whole.

A manifest *is* the collection everywhere in melrec (the ``corpus`` argument of every function
that needs one).  Its name, which names its caches (``processed/<name>/``) and its trained
models, travels with it in ``df.attrs["corpus"]`` (set by every loader, kept by pandas through
row selections); :func:`corpus_name` reads it, or derives one from the tracks' paths, so no
caller ever passes a cache name by hand.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import pandas as pd

from melrec_lib.cache import atomic_file, stable_hash
from melrec_lib.errors import DatasetError, ParameterError

MANIFEST_COLUMNS = (
    "track_id",
    "path",
    "genre",
    "substyle",
    "artist",
    "tempo_bpm",
    "key",
    "duration_s",
    "seed",
)
SKIPPED_COLUMNS = ("path", "reason")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def empty_manifest() -> pd.DataFrame:
    """A manifest with the standard columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in MANIFEST_COLUMNS})


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with exactly the manifest columns (missing ones empty), in order.

    Raises
    ------
    DatasetError
        if ``track_id`` or ``path`` is missing, or ``track_id`` repeats.
    """
    for col in ("track_id", "path"):
        if col not in df.columns:
            raise DatasetError(f"manifest has no {col!r} column (columns: {list(df.columns)})")
    if df["track_id"].duplicated().any():
        dup = df.loc[df["track_id"].duplicated(), "track_id"].iloc[0]
        raise DatasetError(f"manifest repeats track_id {dup!r}")
    out = df.copy()
    for col in MANIFEST_COLUMNS:
        if col not in out.columns:
            out[col] = None
    out = out[list(MANIFEST_COLUMNS) + [c for c in out.columns if c not in MANIFEST_COLUMNS]]
    out.attrs = dict(df.attrs)
    return out.reset_index(drop=True)


def write_manifest(df: pd.DataFrame, csv_path: str | os.PathLike) -> Path:
    """Write ``df`` to ``csv_path`` atomically, with paths relative to the CSV's folder."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    out = conform(df)
    base = csv_path.parent.resolve()
    out["path"] = [os.path.relpath(Path(p).resolve(), base) for p in out["path"]]
    with atomic_file(csv_path) as tmp:
        out.to_csv(tmp, index=False)
    return csv_path


def read_manifest(csv_path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``tracks.csv`` written by :func:`write_manifest`; ``path`` comes back absolute.

    The collection is named after the CSV's folder (``melrec-synth-default``, ``soundtracks``).
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: no such manifest")
    df = pd.read_csv(csv_path, dtype={"track_id": str, "key": str})
    df = conform(df)
    base = csv_path.parent.resolve()
    df["path"] = [str((base / p).resolve()) for p in df["path"]]
    return named(df, safe_name(base.name))


def safe_name(text: str) -> str:
    """``text`` made a plain folder name: runs of other characters become ``-``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-._")
    return name or "collection"


def named(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """``df`` with its collection name set (``df.attrs["corpus"]``); returns ``df`` itself.

    Raises
    ------
    ParameterError
        if ``name`` is not a plain folder name (letters, digits, ``. _ -``).
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ParameterError(f"a collection name must be a plain folder name (letters, digits, . _ -), got {name!r}")
    df.attrs["corpus"] = name
    return df


def corpus_name(df: pd.DataFrame) -> str:
    """The collection's name: ``df.attrs["corpus"]``, else ``tracks-<hash of the paths>``.

    The derived name depends only on the set of files, so the same unnamed selection of
    files always finds the same caches.
    """
    name = df.attrs.get("corpus") if isinstance(df, pd.DataFrame) else None
    if name:
        return str(name)
    paths = sorted(str(Path(p).resolve()) for p in check(df, need=("path",))["path"])
    return f"tracks-{stable_hash(paths, 12)}"


def check(df: pd.DataFrame, *, need: Sequence[str] = ("track_id", "path")) -> pd.DataFrame:
    """A validated copy of a manifest: ``need`` columns present, rows, unique str ``track_id``.

    The one manifest check of melrec (fragment cache, training, embeddings, evaluation).
    ``attrs`` (the collection name) are kept.

    Raises
    ------
    ParameterError
        if ``df`` is not a DataFrame.
    DatasetError
        if a needed column is missing, there are no rows, or a ``track_id`` repeats.
    """
    if not isinstance(df, pd.DataFrame):
        raise ParameterError(f"manifest must be a DataFrame, not {type(df).__name__}")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DatasetError(f"manifest lacks column(s) {missing} (columns: {list(df.columns)})")
    if len(df) == 0:
        raise DatasetError("manifest is empty: no tracks")
    out = df.copy()
    if "track_id" in out.columns:
        out["track_id"] = out["track_id"].astype(str)
        dup = out["track_id"].duplicated()
        if dup.any():
            raise DatasetError(f"manifest repeats track_id {out.loc[dup, 'track_id'].iloc[0]!r}")
    out.attrs = dict(df.attrs)
    return out.reset_index(drop=True)
