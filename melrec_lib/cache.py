"""Stable content keys and atomic writes: the one way melrec names and stores a cache entry.

* :func:`stable_hash` — a short SHA-256 hex digest of any JSON-able value (sorted keys), the
  same across processes and Python versions (never ``hash()``).
* :func:`file_stamp` — ``[size, mtime_ns]`` of a file, the cheap part of a cache key.
* :func:`atomic_file` / :func:`atomic_folder` — write into a temporary sibling and rename it
  into place, so a run interrupted midway (Ctrl-C, a killed process) never leaves a half-written
  entry: the next run sees either the old state or the complete new one.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator


def stable_hash(obj: Any, n: int = 16) -> str:
    """The first ``n`` hex digits of the SHA-256 of ``obj`` as canonical JSON.

    Dict keys are sorted and values that JSON cannot hold are written with ``str``, so equal
    values give equal keys in every process.

    >>> stable_hash({"b": 1, "a": [1, 2]}) == stable_hash({"a": [1, 2], "b": 1})
    True
    >>> len(stable_hash("x", n=12))
    12
    """
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def file_stamp(path: str | os.PathLike) -> list[int]:
    """``[size, mtime_ns]`` of ``path``; ``[-1, -1]`` when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return [-1, -1]
    return [int(st.st_size), int(st.st_mtime_ns)]


def _temporary_sibling(final: Path) -> Path:
    return final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def atomic_file(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success it replaces ``final`` atomically.

    On an exception the temporary file is removed and ``final`` is left as it was.
    The temporary name keeps ``final``'s suffix, so writers that add one (``np.save``) do not.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(final).with_suffix(final.suffix or ".tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_folder(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``final``; on success it is renamed to ``final``.

    If ``final`` appeared meanwhile (a concurrent identical build) the new copy is discarded.
    On an exception the temporary folder is removed.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(final)
    tmp.mkdir()
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
