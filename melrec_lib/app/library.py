"""The incremental embedding cache of a music library: per-file embeddings kept between runs, read in chunks.

A :class:`Store` holds the fragment embeddings one embedder (:func:`melrec_lib.app.pipeline.embedder`)
made of any file it was given, under ``processed_dir()/library/<embedder key>/``, as immutable
chunk files ``chunk-<hash>.npz`` of up to ``chunk_tracks`` files each:

========  =====================  =============================================================
member    shape, dtype           contents
========  =====================  =============================================================
keys      (m,) str               :func:`file_key`: hash of resolved path, size and mtime
paths     (m,) str               the resolved path
status    (m,) str               ``""`` when embedded, else why the file gave nothing
audio     (m,) str               :func:`audio_fingerprint` (``""`` when it could not be read)
start     (m + 1,) int64         the file's fragment rows are ``E[start[i]:start[i + 1]]``
E         (n_fragments, d) f16   fragment embeddings
means     (m, d) float32         per-file mean embedding (for centroid methods)
tags      (m, t) float32         per-file mean tag probabilities (networks that tag; else t=0)
========  =====================  =============================================================

:meth:`Store.sync` brings the store up to date with a list of files: files whose key is stored
are *cached*; new and changed files (another size or mtime) are read and embedded, in worker
processes or on a Dask cluster (:func:`melrec_lib.parallel.parallel_imap`), and written a chunk
at a time (local workers decode and make fragments, at most two windows of about
:data:`AHEAD_BYTES` ahead, and this process runs the network on batches of them; Dask workers
also run the network, the embedder's ``worker_embed``, so only embeddings travel back); files
under the synced folder that are gone are *removed*, and the old versions of changed files
dropped (a chunk holding such entries is rewritten without them).  Chunks are written with
:func:`melrec_lib.cache.atomic_file`, so an interrupted run (Ctrl-C, a killed process) leaves
every finished chunk usable and at most a hidden temporary file, which the next run deletes:
the next run embeds only what is missing.  Two runs sharing one store take turns: :meth:`Store.sync`
(and whoever holds :meth:`Store.locked`, as ``melrec recommend`` does for its whole run) holds an
exclusive ``flock`` on the store's ``.lock`` file, and re-reads the catalog once it has it, so a
second run waits (saying so) and then uses what the first one embedded.

Reading never needs the whole library in memory: :meth:`Store.iter_fragments` yields one chunk's
embeddings at a time, :meth:`Store.sample_fragments` gathers a bounded uniform sample.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from melrec_lib import paths
from melrec_lib.cache import atomic_file, file_stamp, stable_hash
from melrec_lib.errors import AudioError, ParameterError, check_int

__all__ = [
    "CHUNK_TRACKS",
    "STALE_TEMP_S",
    "FINGERPRINT_FRAMES",
    "file_key",
    "audio_digest",
    "audio_fingerprint",
    "AudioTwins",
    "Entry",
    "SyncReport",
    "Store",
    "store_dir",
]

#: Files per chunk: the unit of work written at once (and lost at most by an interruption).
CHUNK_TRACKS = 64
#: Bytes of decoded fragments local workers may hold ahead of this process's network, per
#: window of files (two windows at most; :func:`melrec_lib.parallel.parallel_imap`'s ``ahead``).
AHEAD_BYTES = 32 * 2**20
#: The most files per window (small fragments: few windows, little per-window overhead).
AHEAD_FILES = 1024
#: Frames of each of the three blocks (start, middle, end) an :func:`audio_fingerprint` hashes.
FINGERPRINT_FRAMES = 4096
_FINGERPRINT_PREFIX = "fp1-"
#: A hidden temporary chunk older than this (seconds) is an interrupted write: deleted.
STALE_TEMP_S = 60.0


def file_key(path: str | os.PathLike) -> str:
    """The cache key of a file: :func:`~melrec_lib.cache.stable_hash` of ``[resolved path, size, mtime_ns]``."""
    resolved = str(Path(path).expanduser().resolve())
    return stable_hash([resolved, *file_stamp(resolved)], 20)


def audio_digest(path: str | os.PathLike) -> str:
    """SHA-256 (20 hex digits) of a file's decoded samples, sample rate and channel count (soundfile).

    Two files with the same decoded audio (a copy, the same PCM in another container or under
    another name) get the same digest; ``""`` when soundfile cannot decode the file.  A WAV
    file is decoded by :func:`melrec_lib.io.wav.read`, which gives soundfile's float32 samples bit
    for bit, in one read (soundfile's block reading took longer than the hashing).
    """
    from melrec_lib.io import wav

    def decode(header) -> str:
        parts, _ = wav.read_spans(header, [(0, header.n_frames)] if header.n_frames else [])
        h = hashlib.sha256(f"{header.sample_rate}/{header.num_channels}".encode())
        for part in parts:  # the whole payload: what wav.read(mono=False) returns
            h.update(memoryview(np.ascontiguousarray(part)).cast("B"))
        return h.hexdigest()[:20]

    return _by_wav_reader(path, decode) or _soundfile_digest(path)


def _by_wav_reader(path: str | os.PathLike, decode: Callable[[Any], str]) -> str | None:
    """``decode(header)`` of a WAV file through melrec's reader (soundfile's float32 samples, bit
    for bit, in fewer reads), or None: not a WAV, or anything unusual for the reader (what it
    would warn of, or an error), which leaves the verdict to soundfile.  The header is read
    ``strict`` rather than under a warnings filter: these run in a Dask worker's threads, where
    a process-wide "error" filter turned another thread's warnings into its failures."""
    from melrec_lib.io import audio, wav

    if not audio._is_wav(Path(path)):
        return None
    try:
        return decode(wav.read_header(path, strict=True))
    except Exception:  # noqa: BLE001 - malformed for our reader: soundfile decides
        return None


def _soundfile_digest(path: str | os.PathLike) -> str:
    import soundfile as sf

    h = hashlib.sha256()
    try:
        with sf.SoundFile(str(path)) as f:
            h.update(f"{f.samplerate}/{f.channels}".encode())
            for block in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
                h.update(np.ascontiguousarray(block).tobytes())
    except Exception:  # noqa: BLE001 - any decoder failure: no digest
        return ""
    return h.hexdigest()[:20]


def _fingerprint_spans(n_frames: int) -> list[tuple[int, int]]:
    """The frames an :func:`audio_fingerprint` reads: the whole file when it is short, else the
    first, middle and last :data:`FINGERPRINT_FRAMES`."""
    b = FINGERPRINT_FRAMES
    if n_frames <= 3 * b:
        return [(0, n_frames)] if n_frames else []
    mid = (n_frames - b) // 2
    return [(0, b), (mid, mid + b), (n_frames - b, n_frames)]


def audio_fingerprint(path: str | os.PathLike) -> str:
    """A cheap identity of a file's decoded audio: ``fp1-`` + SHA-256 (20 hex digits) of its sample
    rate, channel count, frame count and the float32 samples of its first, middle and last
    :data:`FINGERPRINT_FRAMES` frames (the same decoding as :func:`audio_digest`).

    Files with the same decoded audio always get the same fingerprint; two with the same
    fingerprint may still differ between the blocks (a clean and an explicit edit of one song),
    so :class:`AudioTwins` compares the full :func:`audio_digest` of those, and only of those.
    Reads three blocks instead of the whole file: on a 40 s track a fraction of the digest's cost.
    ``""`` when the file cannot be decoded.
    """
    from melrec_lib.io import wav

    def decode(header) -> str:
        parts, _ = wav.read_spans(header, _fingerprint_spans(header.n_frames))
        return _fingerprint(header.sample_rate, header.num_channels, header.n_frames, parts)

    return _by_wav_reader(path, decode) or _soundfile_fingerprint(path)


def _soundfile_fingerprint(path: str | os.PathLike) -> str:
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            parts = []
            for start, stop in _fingerprint_spans(f.frames):
                f.seek(start)
                parts.append(f.read(stop - start, dtype="float32", always_2d=True))
                if len(parts[-1]) != stop - start:
                    return ""  # the decoder gives fewer frames than it announced
            return _fingerprint(f.samplerate, f.channels, f.frames, parts)
    except Exception:  # noqa: BLE001 - any decoder failure: no fingerprint
        return ""


def _fingerprint(sr: int, channels: int, n_frames: int, parts: list[np.ndarray]) -> str:
    h = hashlib.sha256(f"{sr}/{channels}/{n_frames}".encode())
    for part in parts:
        h.update(memoryview(np.ascontiguousarray(part, dtype=np.float32)).cast("B"))
    return _FINGERPRINT_PREFIX + h.hexdigest()[:20]


class AudioTwins:
    """Which files hold the same decoded audio, among those :meth:`add`-ed.

    A file's stored :func:`audio_fingerprint` (an :class:`Entry`'s ``audio``) narrows the
    candidates; the full :func:`audio_digest` decides, computed only for files whose
    fingerprints are equal (memoised).  An entry of a catalogue written before fingerprints
    (its ``audio`` the full digest) gets its fingerprint from the file here.
    """

    def __init__(self) -> None:
        self._by_fingerprint: dict[str, list[str]] = {}
        self._digests: dict[str, str] = {}
        self._legacy: dict[str, str] = {}

    def fingerprint(self, entry: "Entry") -> str:
        """The entry's fingerprint (``""``: its audio could not be read)."""
        if not entry.audio:
            return ""
        if entry.audio.startswith(_FINGERPRINT_PREFIX):
            return entry.audio
        if entry.path not in self._legacy:
            self._legacy[entry.path] = audio_fingerprint(entry.path)
        return self._legacy[entry.path]

    def _digest(self, path: str) -> str:
        if path not in self._digests:
            self._digests[path] = audio_digest(path)
        return self._digests[path]

    def twin(self, entry: "Entry") -> str | None:
        """The path of an added file with the same audio as ``entry``'s file, or None."""
        fp = self.fingerprint(entry)
        for other in self._by_fingerprint.get(fp, ()) if fp else ():
            if other != entry.path and self._digest(other) == self._digest(entry.path) != "":
                return other
        return None

    def add(self, entry: "Entry") -> None:
        """Remember ``entry``'s file for later :meth:`twin` questions."""
        fp = self.fingerprint(entry)
        if fp:
            self._by_fingerprint.setdefault(fp, []).append(entry.path)


class _Weight:
    """What the files taken so far weigh (their fragments' bytes), and so how many files the next
    window of decoding ahead may hold: :data:`AHEAD_BYTES` of them at the mean so far, between 1
    and :data:`AHEAD_FILES`; ``first`` files before anything is known."""

    def __init__(self, first: int) -> None:
        self.first, self.files, self.bytes = first, 0, 0

    def add(self, X: Any) -> None:
        self.files += 1
        self.bytes += 0 if X is None else int(X.nbytes)

    def window(self) -> int:
        if not self.files:
            return self.first
        mean = max(self.bytes / self.files, 1.0)
        return int(min(max(AHEAD_BYTES // mean, 1), AHEAD_FILES))


def _reason(path: str, exc: Exception) -> str:
    """Why ``path`` gave nothing, as its status: an :class:`AudioError`'s message (less a leading
    ``"<path>: "``: the status belongs to the file), any other error's type and message."""
    if not isinstance(exc, AudioError):
        return f"{type(exc).__name__}: {exc}"
    message = str(exc)
    return message[len(path) + 2 :] if message.startswith(f"{path}: ") else message


def _task(path: str, extract: Any, extract_args: tuple, digest: bool = True) -> dict:
    """One file in a worker: its fragments (or why none) and (``digest``) its :func:`audio_fingerprint`.

    ``extract`` raises :class:`~melrec_lib.errors.AudioError` for a file that gives nothing; this
    records the reason (:func:`_reason`), as it does any other error: never raises.
    """
    try:
        X, error = extract(path, *extract_args), None
    except Exception as exc:  # noqa: BLE001 - a bad file is reported, never fatal
        X, error = None, _reason(path, exc)
    return {
        "X": X,
        "E": None,
        "tags": None,
        "error": error,
        "audio": audio_fingerprint(path) if digest and error is None and X is not None else "",
    }


def _chunk_task(paths_: list[str], extract: Any, extract_args: tuple, embed: Any, digest: bool = True) -> list[dict]:
    """:func:`_task` for a chunk of files on a Dask worker, their fragments embedded in ONE call
    of ``embed``, as the client embeds a chunk of files from local workers (the same batches, so
    the same numbers; one network call per file would pad every file to a full batch)."""
    results = [_task(p, extract, extract_args, digest) for p in paths_]
    good = [r for r in results if r["X"] is not None and len(r["X"])]
    if good:
        try:
            E, tags = embed(np.concatenate([r["X"] for r in good]))
        except Exception as exc:  # noqa: BLE001 - reported per file, never fatal
            for r in good:
                r.update(X=None, error=f"{type(exc).__name__}: {exc}", audio="")
            good = []
        at = 0
        for r in good:
            k = len(r["X"])
            r["E"], r["tags"] = E[at : at + k], None if tags is None else tags[at : at + k]
            at += k
    for r in results:
        r["X"] = None
    return results


@dataclass
class Entry:
    """What the store knows of one file."""

    key: str
    path: str
    status: str
    audio: str
    n_fragments: int
    chunk: str
    row: int


@dataclass
class SyncReport:
    """What :meth:`Store.sync` did.

    Attributes
    ----------
    entries : dict
        ``path -> Entry`` for every file synced (embedded or failed).
    new, changed, removed, cached : int
        Files embedded for the first time, re-embedded, dropped, taken from the store.
    failed : dict
        ``path -> reason`` of the synced files that gave no embedding.
    seconds : float
    """

    entries: dict[str, Entry] = field(default_factory=dict)
    new: int = 0
    changed: int = 0
    removed: int = 0
    cached: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        """``embedded 10 new, 0 changed, 2 removed, 488 cached``."""
        return f"embedded {self.new} new, {self.changed} changed, {self.removed} removed, {self.cached} cached"


def store_dir(key: str) -> Path:
    """``processed_dir()/library/<key>``: the store of one embedder."""
    return paths.processed_dir() / "library" / key


class Store:
    """The incremental embedding cache of one embedder (see the module docstring).

    Parameters
    ----------
    embedder : melrec_lib.app.pipeline.Embedder
    folder : path-like, optional
        Default :func:`store_dir` of the embedder's key.
    chunk_tracks : int > 0
        Files per chunk (:data:`CHUNK_TRACKS`).
    audio_digests : bool
        Store each file's :func:`audio_fingerprint` (which, with :class:`AudioTwins`, finds
        duplicates); a second store of the same files (MFCC statistics beside the embeddings)
        need not read them once more.
    """

    def __init__(
        self,
        embedder: Any,
        *,
        folder: str | os.PathLike | None = None,
        chunk_tracks: int = CHUNK_TRACKS,
        audio_digests: bool = True,
    ) -> None:
        self.embedder = embedder
        self.audio_digests = bool(audio_digests)
        self.folder = Path(folder) if folder is not None else store_dir(embedder.key)
        self.chunk_tracks = check_int(chunk_tracks, "chunk_tracks", minimum=1)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_fd: int | None = None
        self._repair()
        self._entries = self._catalog()

    # ---------------------------------------------------------------------------------- lock
    @contextlib.contextmanager
    def locked(self, *, on_wait: Callable[[], None] | None = None) -> Iterator["Store"]:
        """Hold the store's exclusive lock (``flock`` on ``<folder>/.lock``); re-entrant.

        Another process holding it is waited for (``on_wait()`` is called once first, e.g. to
        say so); once held, interrupted writes are cleaned up and the catalog is re-read, so
        what the other process embedded is used.  Without ``fcntl`` (not POSIX) nothing is locked.
        """
        if self._lock_fd is not None:
            yield self
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield self
            return
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._lock_fd = fd
            self._repair(stale_s=0.0)  # no other locking writer is running: any temporary file is dead
            self._entries = self._catalog()
            yield self
        finally:
            self._lock_fd = None
            os.close(fd)  # releases the flock

    # ---------------------------------------------------------------------------------- disk
    def _repair(self, stale_s: float = STALE_TEMP_S) -> None:
        """Delete temporary files interrupted writes left behind (older than ``stale_s`` seconds)."""
        now = time.time()
        for tmp in self.folder.glob(".chunk-*"):
            try:
                if now - tmp.stat().st_mtime >= stale_s:
                    tmp.unlink()
            except OSError:
                pass

    def _chunks(self) -> list[Path]:
        return sorted(self.folder.glob("chunk-*.npz"))

    def _catalog(self) -> dict[str, Entry]:
        """``key -> Entry`` over every readable chunk (an unreadable one is deleted, with a warning)."""
        entries: dict[str, Entry] = {}
        for chunk in self._chunks():
            try:
                with np.load(chunk) as z:
                    keys, paths_, status, audio, start = (z["keys"], z["paths"], z["status"], z["audio"], z["start"])
            except Exception as exc:  # noqa: BLE001 - e.g. a disk that filled up
                warnings.warn(
                    f"{chunk.name}: unreadable library cache chunk ({exc}); its files are embedded again", stacklevel=3
                )
                chunk.unlink(missing_ok=True)
                continue
            for i, k in enumerate(keys):
                entries[str(k)] = Entry(
                    key=str(k),
                    path=str(paths_[i]),
                    status=str(status[i]),
                    audio=str(audio[i]),
                    n_fragments=int(start[i + 1] - start[i]),
                    chunk=chunk.name,
                    row=i,
                )
        return entries

    def _write_chunk(self, rows: list[dict]) -> list[Entry]:
        """Write one chunk of ``{"key", "path", "status", "audio", "E", "tags"}`` rows atomically."""
        d = int(self.embedder.dim)
        t = len(self.embedder.tag_names)
        counts = [0 if r["E"] is None else len(r["E"]) for r in rows]
        start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        E = np.zeros((int(start[-1]), d), np.float16)
        means = np.zeros((len(rows), d), np.float32)
        tags = np.zeros((len(rows), t), np.float32)
        for i, r in enumerate(rows):
            if r["E"] is not None and len(r["E"]):
                E[start[i] : start[i + 1]] = r["E"]
                means[i] = np.asarray(r["E"], np.float32).mean(axis=0)
                if t and r.get("tags") is not None:
                    tags[i] = np.asarray(r["tags"], np.float32).mean(axis=0)
        keys = [r["key"] for r in rows]
        name = f"chunk-{stable_hash(keys, 16)}.npz"
        with atomic_file(self.folder / name) as tmp:
            np.savez(
                tmp,
                keys=np.asarray(keys, str),
                paths=np.asarray([r["path"] for r in rows], str),
                status=np.asarray([r["status"] for r in rows], str),
                audio=np.asarray([r["audio"] for r in rows], str),
                start=start,
                E=E,
                means=means,
                tags=tags,
            )
        return [
            Entry(
                key=r["key"],
                path=r["path"],
                status=r["status"],
                audio=r["audio"],
                n_fragments=counts[i],
                chunk=name,
                row=i,
            )
            for i, r in enumerate(rows)
        ]

    def _compact(self, dead: set[str]) -> None:
        """Rewrite every chunk holding an entry of ``dead`` without them (delete it if none is left).

        The new chunk is written before the old one is deleted: an interruption in between
        leaves the live entries twice, which the catalog reads once.
        """
        by_chunk: dict[str, list[Entry]] = {}
        for e in self._entries.values():
            by_chunk.setdefault(e.chunk, []).append(e)
        for name, entries in by_chunk.items():
            if not any(e.key in dead for e in entries):
                continue
            alive = [e for e in entries if e.key not in dead]
            if alive:
                with np.load(self.folder / name) as z:
                    start, E, tags = z["start"], z["E"], z["tags"]
                    rows = [
                        {
                            "key": e.key,
                            "path": e.path,
                            "status": e.status,
                            "audio": e.audio,
                            "E": E[start[e.row] : start[e.row + 1]],
                            "tags": np.repeat(tags[e.row : e.row + 1], max(e.n_fragments, 1), axis=0),
                        }
                        for e in alive
                    ]
                for entry in self._write_chunk(rows):
                    self._entries[entry.key] = entry
            (self.folder / name).unlink(missing_ok=True)
            for e in entries:
                if e.key in dead:
                    self._entries.pop(e.key, None)

    # ---------------------------------------------------------------------------------- sync
    def sync(
        self,
        files: Sequence[str | os.PathLike],
        *,
        root: str | os.PathLike | None = None,
        n_jobs: int | None = None,
        scheduler: Any = None,
        progress: bool = True,
        desc: str = "embedding",
    ) -> SyncReport:
        """Bring the store up to date with ``files``; embed only what is new or changed.

        Parameters
        ----------
        files : sequence of path-like
            The files wanted (a library's audio files, a playlist's tracks).
        root : path-like, optional
            The folder ``files`` are all of: stored files under it that are no longer in
            ``files`` are removed.  ``None``: nothing is removed (a playlist's files elsewhere).
        n_jobs : int or None
            Local worker processes for decoding and fragments (``None`` = all cores).
        scheduler : str, distributed.Client or None
            A Dask scheduler to run the per-file work on (:func:`melrec_lib.parallel.parallel_imap`;
            default ``$MELREC_SCHEDULER``, else local processes).
        progress : bool
            One progress bar over the files to embed (count, rate, time left).
        desc : str
            Its label.

        Returns
        -------
        SyncReport
        """
        with self.locked():
            return self._sync(files, root=root, n_jobs=n_jobs, scheduler=scheduler, progress=progress, desc=desc)

    def _sync(self, files, *, root, n_jobs, scheduler, progress, desc) -> SyncReport:
        from melrec_lib.parallel import tqdm_class

        t0 = time.perf_counter()
        wanted = {str(Path(p).expanduser().resolve()): None for p in files}
        keys = {p: file_key(p) for p in wanted}
        report, todo, gone = self._plan(keys, root)
        bar = tqdm_class()(total=len(todo), desc=desc, unit="track", disable=not progress or not todo, leave=False)
        pending: list[dict] = []
        try:
            for p, r in zip(todo, self._results(todo, n_jobs=n_jobs, scheduler=scheduler)):
                pending.append(
                    {
                        "key": keys[p],
                        "path": p,
                        "status": r["error"] or "",
                        "audio": r["audio"],
                        "X": r["X"],
                        "E": r["E"],
                        "tags": r["tags"],
                    }
                )
                bar.update(1)
                if len(pending) >= self.chunk_tracks:
                    self._flush(pending)
            self._flush(pending)
        finally:
            bar.close()
        current = set(keys.values())
        self._compact(
            {e.key for e in self._entries.values() if e.path in gone or (e.path in wanted and e.key not in current)}
        )
        for p, k in keys.items():
            e = self._entries[k]
            report.entries[p] = e
            if e.status:
                report.failed[p] = e.status
        report.seconds = time.perf_counter() - t0
        return report

    def _plan(self, keys: dict[str, str], root) -> tuple[SyncReport, list[str], set[str]]:
        """The report's counts, the files to embed (new or changed) and the stored paths under
        ``root`` that are no longer wanted."""
        stored_by_path: dict[str, set[str]] = {}
        for e in self._entries.values():
            stored_by_path.setdefault(e.path, set()).add(e.key)
        report = SyncReport()
        todo = []
        for p, k in keys.items():
            if k in self._entries:
                report.cached += 1
            else:
                todo.append(p)
                if p in stored_by_path:
                    report.changed += 1
                else:
                    report.new += 1
        root_s = str(Path(root).expanduser().resolve()) + os.sep if root is not None else None
        gone = {p for p in stored_by_path if p not in keys and p.startswith(root_s)} if root_s is not None else set()
        report.removed = len(gone)
        return report, todo, gone

    def _results(self, todo: list[str], *, n_jobs, scheduler) -> Iterator[dict]:
        """Each file's result (:func:`_task`'s dict), in ``todo``'s order.

        Local worker processes hand their fragments to this process, which embeds them in
        batches a chunk of files at a time (:meth:`_flush`); at most about two windows of
        :data:`AHEAD_BYTES` are decoded ahead, since a network slower than the decoding workers
        (musicnn's) would otherwise gather every file's patches here.  On a Dask cluster the
        network runs on the workers too, a chunk of files per task, and only embeddings travel.
        """
        from melrec_lib.parallel import parallel_imap, scheduler_address

        emb = self.embedder
        worker_embed = emb.worker_embed if scheduler_address(scheduler) is not None else None
        if worker_embed is None:
            weight = _Weight(first=self.chunk_tracks)
            results = parallel_imap(
                _task,
                [(p, emb.extract, emb.extract_args, self.audio_digests) for p in todo],
                star=True,
                n_jobs=n_jobs,
                scheduler=scheduler,
                ahead=weight.window,
            )
            for r in results:
                weight.add(r["X"])
                yield r
            return
        chunks = [todo[i : i + self.chunk_tracks] for i in range(0, len(todo), self.chunk_tracks)]
        for rs in parallel_imap(
            _chunk_task,
            [(c, emb.extract, emb.extract_args, worker_embed, self.audio_digests) for c in chunks],
            star=True,
            n_jobs=n_jobs,
            scheduler=scheduler,
        ):
            yield from rs

    def _flush(self, pending: list[dict]) -> None:
        """Embed the pending files' fragments in one batch (those a worker has not embedded),
        write them as one chunk, and empty ``pending``."""
        if not pending:
            return
        X = [r.pop("X") for r in pending]
        good = [i for i, x in enumerate(X) if x is not None and len(x) and pending[i]["E"] is None]
        if good:
            E, tags = self.embedder.embed(np.concatenate([X[i] for i in good]))
            offsets = np.cumsum([0] + [len(X[i]) for i in good])
            for j, i in enumerate(good):
                pending[i]["E"] = E[offsets[j] : offsets[j + 1]]
                pending[i]["tags"] = None if tags is None else tags[offsets[j] : offsets[j + 1]]
        for entry in self._write_chunk(pending):
            self._entries[entry.key] = entry
        pending.clear()

    # ---------------------------------------------------------------------------------- reading
    def entries(self, paths_: Iterable[str]) -> list[Entry]:
        """The stored entries of ``paths_`` (current keys; missing ones left out)."""
        out = []
        for p in paths_:
            e = self._entries.get(file_key(p))
            if e is not None:
                out.append(e)
        return out

    def lookup(self, keys: Iterable[str]) -> list[Entry | None]:
        """The stored entry of each :func:`file_key` (``None`` where there is none): the same
        file in another embedder's store has the same key."""
        return [self._entries.get(k) for k in keys]

    def _by_chunk(self, entries: Iterable[Entry]) -> dict[str, list[Entry]]:
        groups: dict[str, list[Entry]] = {}
        for e in entries:
            if e.n_fragments:
                groups.setdefault(e.chunk, []).append(e)
        return groups

    def iter_fragments(self, entries: Iterable[Entry]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(E, owner)`` one chunk at a time: float32 fragment embeddings of ``entries`` in that
        chunk and, per row, the position of its entry in ``entries``."""
        entries = list(entries)
        pos = {e.key: i for i, e in enumerate(entries)}
        for chunk, group in self._by_chunk(entries).items():
            with np.load(self.folder / chunk) as z:
                start, E = z["start"], z["E"]
                parts = [E[start[e.row] : start[e.row + 1]] for e in group]
            owner = np.concatenate([np.full(e.n_fragments, pos[e.key], np.int64) for e in group])
            yield np.concatenate(parts).astype(np.float32), owner

    def fragments(
        self, entries: Iterable[Entry], *, with_owner: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Every fragment embedding of ``entries`` (float32; for small sets such as a playlist).

        ``with_owner=True``: also, per row, the position of its entry in ``entries``.
        """
        parts = list(self.iter_fragments(entries))
        X = np.concatenate([E for E, _ in parts]) if parts else np.zeros((0, int(self.embedder.dim)), np.float32)
        if not with_owner:
            return X
        return X, (np.concatenate([o for _, o in parts]) if parts else np.zeros(0, np.int64))

    def sample_fragments(
        self, entries: Iterable[Entry], *, size: int, seed: int = 0, with_owner: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """At most ``size`` fragment embeddings of ``entries``: all of them when they are no more,
        else a uniform sample without replacement (seeded), gathered chunk by chunk.

        ``with_owner=True``: also, per row, the position of its entry in ``entries``.
        """
        entries = list(entries)
        size = check_int(size, "size", minimum=1)
        total = sum(e.n_fragments for e in entries)
        if total <= size:
            return self.fragments(entries, with_owner=with_owner)
        keep = np.sort(np.random.default_rng(check_int(seed, "seed")).choice(total, size, replace=False))
        base = np.cumsum([0] + [e.n_fragments for e in entries])
        first = {e.key: base[i] for i, e in enumerate(entries)}
        pos = {e.key: i for i, e in enumerate(entries)}
        out, owners = [], []
        for chunk, group in self._by_chunk(entries).items():
            with np.load(self.folder / chunk) as z:
                start, E = z["start"], z["E"]
                for e in group:
                    lo = first[e.key]
                    sel = keep[(keep >= lo) & (keep < lo + e.n_fragments)] - lo
                    if sel.size:
                        out.append(E[start[e.row] + sel].astype(np.float32))
                        owners.append(np.full(sel.size, pos[e.key], np.int64))
        X = np.concatenate(out)
        return (X, np.concatenate(owners)) if with_owner else X

    def means(self, entries: Iterable[Entry], member: str = "means") -> np.ndarray:
        """Per-file mean embeddings (or ``member="tags"``: mean tag probabilities) of ``entries``."""
        if member not in ("means", "tags"):
            raise ParameterError(f"member must be 'means' or 'tags', got {member!r}")
        entries = list(entries)
        width = int(self.embedder.dim) if member == "means" else len(self.embedder.tag_names)
        out = np.zeros((len(entries), width), np.float32)
        pos = {e.key: i for i, e in enumerate(entries)}
        for chunk, group in self._by_chunk(entries).items():
            with np.load(self.folder / chunk) as z:
                M = z[member]
                for e in group:
                    out[pos[e.key]] = M[e.row]
        return out

    def nbytes(self) -> int:
        """Bytes the store's chunk files take on disk."""
        return sum(c.stat().st_size for c in self._chunks())
