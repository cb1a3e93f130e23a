"""Stable content keys and atomic writes: the one way melrec names and stores a cache entry.

* :func:`stable_hash` — a short SHA-256 hex digest of any JSON-able value (sorted keys), the
  same across processes and Python versions (never ``hash()``); :func:`digest` of bytes or
  text, :func:`array_digest` of numpy arrays, :func:`text_seed` an integer seed from a name.
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

import numpy as np


def digest(data: bytes | str, n: int = 16) -> str:
    """The first ``n`` hex digits of the SHA-256 of ``data`` (a str is hashed as UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:n]


def array_digest(*arrays: Any, n: int = 20) -> str:
    """A content key of numpy arrays: their shapes, dtypes and bytes (SHA-256)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype.str}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:n]


def text_seed(text: str, nbytes: int = 8, *, algorithm: str = "sha256", byteorder: str = "little") -> int:
    """An integer seed derived from ``text``: the first ``nbytes`` of its hash as an integer.

    Stable across processes and Python versions (never ``hash()``).  The algorithm and byte
    order are parameters only so that seeds fixed by earlier releases keep their values.

    >>> text_seed("rock", 4) == int.from_bytes(hashlib.sha256(b"rock").digest()[:4], "little")
    True
    """
    return int.from_bytes(hashlib.new(algorithm, text.encode("utf-8")).digest()[:nbytes], byteorder)


def stable_hash(obj: Any, n: int = 16) -> str:
    """The first ``n`` hex digits of the SHA-256 of ``obj`` as canonical JSON.

    Dict keys are sorted and values that JSON cannot hold are written with ``str``, so equal
    values give equal keys in every process.

    >>> stable_hash({"b": 1, "a": [1, 2]}) == stable_hash({"a": [1, 2], "b": 1})
    True
    >>> len(stable_hash("x", n=12))
    12
    """
    return digest(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str), n)


def file_stamp(path: str | os.PathLike) -> list[int]:
    """``[size, mtime_ns]`` of ``path``; ``[-1, -1]`` when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return [-1, -1]
    return [int(st.st_size), int(st.st_mtime_ns)]


def _temporary_sibling(final: Path) -> Path:
    return final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def discard_folder(folder: str | os.PathLike) -> None:
    """Remove a stored folder found unreadable, so that a rebuilt one can take its place.

    :func:`atomic_folder` keeps a ``final`` folder that already exists (a concurrent identical
    build), so a rebuild over an unreadable one would be discarded and the unreadable one read
    again.  The folder is renamed aside first (one atomic step: no reader sees half of it), then
    deleted.  A folder already gone (another process discarded it) is not an error.
    """
    folder = Path(folder)
    trash = _temporary_sibling(folder)
    try:
        os.rename(folder, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success it replaces ``final`` atomically.

    On an exception the temporary file is removed and ``final`` is left as it was.
    The temporary name keeps ``final``'s suffix, so writers that add one (``np.save``) do not.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{final.suffix or '.tmp'}"
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
