"""The track manifest: one table shape shared by the synthetic corpus and every real-collection loader.

In memory, ``path`` holds absolute paths; ``tracks.csv`` on disk stores them relative to the
CSV's own folder, so a corpus folder can be moved as a whole.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .errors import DatasetError

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
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    out.to_csv(tmp, index=False)
    os.replace(tmp, csv_path)
    return csv_path


def read_manifest(csv_path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``tracks.csv`` written by :func:`write_manifest`; ``path`` comes back absolute."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: no such manifest")
    df = pd.read_csv(csv_path, dtype={"track_id": str, "key": str})
    df = conform(df)
    base = csv_path.parent.resolve()
    df["path"] = [str((base / p).resolve()) for p in df["path"]]
    return df
