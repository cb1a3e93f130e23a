"""Real music collections as manifests: a folder tree, GTZAN, FMA, and M3U playlists.

Every loader returns the manifest table of :mod:`melrec_lib.io.manifest` (columns ``track_id, path,
genre, substyle, artist, tempo_bpm, key, duration_s, seed``; absent ones empty; ``path``
absolute), so the fragment cache, the genre network and the recommender treat the synthetic
corpus and a user's own music alike.

A collection is never all-or-nothing: files that cannot be read, are silent, or are shorter than
one 8-second fragment are left out of the manifest and listed, with the reason, in
``df.attrs["skipped"]`` (a DataFrame with columns ``path, reason``).  Only a missing root (or
metadata file) raises :class:`~melrec_lib.errors.DatasetError`.

Examples
--------
>>> from melrec_lib.io import collections
>>> df = collections.from_folder("~/Music/by-genre", progress=False)    # doctest: +SKIP
>>> df.attrs["skipped"]                                              # doctest: +SKIP
>>> pl = collections.read_m3u("~/Music/liked.m3u8")                      # doctest: +SKIP
>>> pl.paths, pl.missing                                             # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import soundfile as sf

from melrec_lib.cache import stable_hash
from melrec_lib.errors import DatasetError, ParameterError
from melrec_lib.io import manifest as _manifest
from melrec_lib.parallel import parallel_map

__all__ = [
    "MIN_DURATION_S",
    "SILENCE_DBFS",
    "FMA_SUBSETS",
    "Playlist",
    "audio_extensions",
    "from_folder",
    "from_gtzan",
    "from_fma",
    "from_paths",
    "read_m3u",
    "PLAYLIST_EXTENSIONS",
    "audio_files",
    "read_playlist",
]

#: Shortest usable track: one thesis fragment, 64 frames x 1/8 s (thesis 3.4).
MIN_DURATION_S = 8.0
#: A file whose peak level is below this (dB relative to full scale) counts as silent.
SILENCE_DBFS = -60.0
#: FMA's nested subsets, smallest first (small is part of medium, medium of large).
FMA_SUBSETS = ("small", "medium", "large")
#: FMA's split names mapped onto the names :func:`melrec_lib.corpora.splits.artist_split` uses.
FMA_SPLITS = {"training": "train", "validation": "val", "test": "test"}

_FMA_COLUMNS = {
    ("set", "subset"): "subset",
    ("set", "split"): "split",
    ("track", "genre_top"): "genre",
    ("artist", "name"): "artist",
    ("track", "duration"): "track_duration_s",
}


# --------------------------------------------------------------------------------------------
# probing single files
# --------------------------------------------------------------------------------------------
def audio_extensions() -> tuple[str, ...]:
    """The audio file extensions the loaders pick up, lower case without the dot.

    Taken from ``melrec_lib.io.audio.AUDIO_EXTENSIONS`` (the formats :func:`audio.load` reads):
    soundfile's (wav, flac, ogg, mp3, au, aif, aiff) and PyAV's (m4a, opus, wma, ape, wv, mka, ...).

    >>> {"m4a", "opus", "flac", "wma"} <= set(audio_extensions())
    True
    """
    from melrec_lib.io.audio import AUDIO_EXTENSIONS

    return tuple(sorted({str(e).lower().lstrip(".") for e in AUDIO_EXTENSIONS}))


def _header_duration(path: Path) -> float:
    """Duration in seconds from the file header (no decoding)."""
    try:
        from melrec_lib.io.audio import info as _info
    except ImportError:
        _info = None
    if _info is not None:
        return float(_info(path).duration_s)
    meta = sf.info(str(path))
    return float(meta.frames) / float(meta.samplerate) if meta.samplerate else 0.0


def _peak_dbfs(path: Path) -> float:
    """Peak level of the whole file in dBFS (``-inf`` for digital silence), read in blocks."""
    peak = 0.0
    try:
        with sf.SoundFile(str(path)) as f:
            for block in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
                if block.size:
                    peak = max(peak, float(np.max(np.abs(block))))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        # a format soundfile cannot decode but melrec's own loader can (e.g. odd WAV headers)
        from melrec_lib.io.audio import load

        y, _ = load(path, sr=11025)
        peak = float(np.max(np.abs(y))) if np.size(y) else 0.0
    if not np.isfinite(peak):
        raise DatasetError(f"{path}: samples are not finite")
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def _probe(path: Path, min_duration_s: float, check_silence: bool) -> tuple[float | None, str | None]:
    """``(duration_s, None)`` for a usable file, ``(None, reason)`` otherwise. Never raises."""
    try:
        duration = _header_duration(path)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "unreadable"
        return None, f"unreadable: {type(exc).__name__}: {exc}".strip()
    if not np.isfinite(duration) or duration <= 0:
        return None, "unreadable: no audio frames"
    if duration < min_duration_s:
        return None, f"too short: {duration:.2f} s < {min_duration_s:g} s"
    if check_silence:
        try:
            level = _peak_dbfs(path)
        except Exception as exc:  # noqa: BLE001
            return None, f"unreadable: {type(exc).__name__}: {exc}".strip()
        if level < SILENCE_DBFS:
            shown = "-inf" if math.isinf(level) else f"{level:.1f}"
            return None, f"silent: peak {shown} dBFS < {SILENCE_DBFS:g} dBFS"
    return duration, None


def _probe_all(
    paths: list[Path],
    *,
    min_duration_s: float,
    check_silence: bool,
    n_jobs: int | None,
    progress: bool,
    desc: str,
) -> list[tuple[float | None, str | None]]:
    return parallel_map(
        _probe,
        [(p, min_duration_s, check_silence) for p in paths],
        star=True,
        n_jobs=n_jobs,
        desc=desc,
        unit="file",
        progress=progress,
    )


def _check_common(min_duration_s: float) -> None:
    if not (isinstance(min_duration_s, (int, float)) and np.isfinite(min_duration_s) and min_duration_s >= 0):
        raise ParameterError(f"min_duration_s must be a finite number >= 0, got {min_duration_s!r}")


def _finish(
    rows: list[dict],
    skipped: list[tuple[str, str]],
    *,
    min_duration_s: float,
    check_silence: bool,
    n_jobs: int | None,
    progress: bool,
    desc: str,
    root: Path | None = None,
) -> pd.DataFrame:
    """Probe every candidate row, keep the usable ones, attach the ``skipped`` table.

    A collection read from a folder is named after it (``<folder>-<hash of its full path>``,
    :func:`melrec_lib.io.manifest.named`), which names its caches; a list of files stays unnamed.
    """
    probes = _probe_all(
        [Path(r["path"]) for r in rows],
        min_duration_s=min_duration_s,
        check_silence=check_silence,
        n_jobs=n_jobs,
        progress=progress,
        desc=desc,
    )
    kept = []
    for row, (duration, reason) in zip(rows, probes):
        if reason is None:
            kept.append({**row, "duration_s": round(duration, 6)})
        else:
            skipped.append((row["path"], reason))
    df = pd.DataFrame(kept) if kept else _manifest.empty_manifest()
    df = _manifest.conform(df)
    df.attrs["skipped"] = pd.DataFrame(skipped, columns=list(_manifest.SKIPPED_COLUMNS))
    if root is not None:
        root = Path(root).resolve()
        _manifest.named(df, f"{_manifest.safe_name(root.name)}-{stable_hash(str(root), 8)}")
    return df


def _existing_dir(root: str | os.PathLike, what: str) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder ({what})")
    return root.resolve()


def _is_hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _dedupe_ids(rows: list[dict], key: str = "track_id") -> None:
    """Where two files would share a track_id (``a/x.wav`` and ``a/x.mp3``), keep the extension."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r[key]] = counts.get(r[key], 0) + 1
    for r in rows:
        if counts[r[key]] > 1:
            r[key] = r[key] + Path(r["path"]).suffix.lower()


# --------------------------------------------------------------------------------------------
# loaders
# --------------------------------------------------------------------------------------------
def from_folder(
    root: str | os.PathLike,
    *,
    check_silence: bool = True,
    min_duration_s: float = MIN_DURATION_S,
    n_jobs: int | None = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """Every audio file under ``root``, labelled by the first folder below ``root``.

    Parameters
    ----------
    root : path-like
        The collection's folder, e.g. ``Music/rock/Artist/Album/01.mp3`` under ``Music``.
        Files whose extension is in :func:`audio_extensions` (any case) are taken; other files,
        and hidden files or folders (name starting with ``.``), are ignored.
    check_silence : bool
        Decode each file once to find silent ones (peak below :data:`SILENCE_DBFS`).  Costs a
        full read of every file; ``False`` checks headers only.
    min_duration_s : number >= 0
        Shorter files are skipped (default: one 8 s fragment).
    n_jobs : int or None
        Parallel workers for probing (joblib; ``None`` = all cores).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    manifest : pd.DataFrame
        One row per usable file, sorted by path: ``track_id`` = path relative to ``root``
        without extension, POSIX separators (stable across machines; when two files differ only
        in extension, both keep it); ``genre`` = first folder under ``root`` (empty for files
        directly in ``root``); ``duration_s`` from the header.  ``attrs["skipped"]`` lists the
        rest as ``path, reason``.

    Raises
    ------
    DatasetError
        if ``root`` is not a folder.
    """
    _check_common(min_duration_s)
    root = _existing_dir(root, "collection root")
    exts = set(audio_extensions())
    rows = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if _is_hidden(rel) or path.suffix.lower().lstrip(".") not in exts:
            continue
        rows.append(
            {
                "track_id": rel.with_suffix("").as_posix(),
                "path": str(path),
                "genre": rel.parts[0] if len(rel.parts) > 1 else None,
            }
        )
    _dedupe_ids(rows)
    return _finish(
        rows,
        [],
        min_duration_s=min_duration_s,
        check_silence=check_silence,
        n_jobs=n_jobs,
        progress=progress,
        desc=f"probing {root.name}",
        root=root,
    )


_GTZAN_RE = re.compile(r"^(?P<genre>[^.]+)\.(?P<number>\d+)\.(?P<ext>au|wav)$", re.IGNORECASE)


def from_gtzan(
    root: str | os.PathLike,
    *,
    check_silence: bool = True,
    min_duration_s: float = MIN_DURATION_S,
    n_jobs: int | None = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """The GTZAN genre collection (``genres/<genre>/<genre>.000NN.au``, 10 x 100 clips of 30 s).

    Parameters
    ----------
    root : path-like
        The folder that contains ``genres/``, or ``genres/`` itself.
    check_silence, min_duration_s, n_jobs, progress
        As in :func:`from_folder`.

    Returns
    -------
    manifest : pd.DataFrame
        ``track_id`` = file stem (``"blues.00000"``), ``genre`` = folder name, ``duration_s``
        from the header.  GTZAN has no artist column, so ``artist`` is empty and
        :func:`melrec_lib.corpora.splits.artist_split` treats every clip as its own artist: GTZAN's
        known artist repetition (Sturm 2013) is NOT removed by that split.  Audio files whose
        name does not follow ``<genre>.<number>.(au|wav)`` with the folder's genre, and the
        second of two files with the same stem (``.au`` and ``.wav``), are listed in
        ``attrs["skipped"]``, as are unreadable (GTZAN's ``jazz.00054``), silent and short ones.

    Raises
    ------
    DatasetError
        if ``root`` is missing or holds no genre folder.
    """
    _check_common(min_duration_s)
    root = _existing_dir(root, "GTZAN root")
    base = root / "genres" if (root / "genres").is_dir() else root
    exts = set(audio_extensions())
    genre_dirs = sorted(d for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not genre_dirs:
        raise DatasetError(f"{base}: no genre folders (expected genres/<genre>/<genre>.000NN.au)")
    rows, skipped, seen = [], [], set()
    for gdir in genre_dirs:
        for path in sorted(p for p in gdir.iterdir() if p.is_file()):
            if path.name.startswith(".") or path.suffix.lower().lstrip(".") not in exts:
                continue
            m = _GTZAN_RE.match(path.name)
            if m is None or m["genre"].lower() != gdir.name.lower():
                skipped.append((str(path), f"not a GTZAN name: expected {gdir.name}.NNNNN.au"))
                continue
            track_id = f"{m['genre']}.{m['number']}"
            if track_id in seen:
                skipped.append((str(path), f"duplicate of track {track_id}"))
                continue
            seen.add(track_id)
            rows.append({"track_id": track_id, "path": str(path.resolve()), "genre": gdir.name})
    if not rows and not skipped:
        raise DatasetError(f"{base}: genre folders hold no .au/.wav files")
    return _finish(
        rows,
        skipped,
        min_duration_s=min_duration_s,
        check_silence=check_silence,
        n_jobs=n_jobs,
        progress=progress,
        desc="probing GTZAN",
        root=root,
    )


def fma_audio_path(audio_dir: str | os.PathLike, track_id: int) -> Path:
    """FMA's audio layout: ``audio_dir/TID[:3]/TID.mp3`` with ``TID`` the 6-digit id."""
    tid = f"{int(track_id):06d}"
    return Path(audio_dir) / tid[:3] / f"{tid}.mp3"


def _nonempty(value) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def from_fma(
    metadata_dir: str | os.PathLike,
    audio_dir: str | os.PathLike,
    subset: str = "small",
    *,
    check_silence: bool = True,
    min_duration_s: float = MIN_DURATION_S,
    n_jobs: int | None = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """The Free Music Archive data set (Defferrard et al. 2017): ``fma_metadata`` + ``fma_<subset>``.

    Parameters
    ----------
    metadata_dir : path-like
        The ``fma_metadata`` folder holding ``tracks.csv`` (or the path of ``tracks.csv``).
        ``tracks.csv`` has a two-row column header (``pd.read_csv(..., index_col=0,
        header=[0, 1])``); used are ``('set', 'subset')``, ``('set', 'split')``,
        ``('track', 'genre_top')``, ``('artist', 'name')``, ``('track', 'duration')``.
    audio_dir : path-like
        The folder of ``TID[:3]/TID.mp3`` files (``fma_small``, ``fma_medium``, ...).
    subset : {"small", "medium", "large"}
        FMA's subsets are nested: ``"medium"`` includes every ``"small"`` track.
    check_silence, min_duration_s, n_jobs, progress
        As in :func:`from_folder`.

    Returns
    -------
    manifest : pd.DataFrame
        ``track_id`` = 6-digit id (``"000002"``), ``genre`` = ``genre_top`` (empty where FMA
        has none), ``artist`` = artist name, ``duration_s`` = the audio file's duration (FMA's
        clips are 30 s excerpts); extra columns ``split`` (FMA's own split, renamed
        ``"train"/"val"/"test"`` like :func:`melrec_lib.corpora.splits.artist_split`), ``subset``
        and ``track_duration_s`` (the full track's length from the metadata).  Missing,
        unreadable, silent and short files are in ``attrs["skipped"]``.

    Raises
    ------
    DatasetError
        if ``tracks.csv`` or ``audio_dir`` is missing, or a needed column is absent.
    ParameterError
        if ``subset`` is not one of :data:`FMA_SUBSETS`.
    """
    _check_common(min_duration_s)
    if subset not in FMA_SUBSETS:
        raise ParameterError(f"subset must be one of {FMA_SUBSETS}, got {subset!r}")
    csv = Path(metadata_dir).expanduser()
    if csv.is_dir():
        csv = csv / "tracks.csv"
    if not csv.is_file():
        raise DatasetError(f"{csv}: no such FMA metadata file (expected fma_metadata/tracks.csv)")
    audio_dir = _existing_dir(audio_dir, "FMA audio folder")
    try:
        tracks = pd.read_csv(csv, index_col=0, header=[0, 1], low_memory=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DatasetError(f"{csv}: not an FMA tracks.csv ({exc})") from exc
    missing = [c for c in _FMA_COLUMNS if c not in tracks.columns]
    if missing:
        raise DatasetError(f"{csv}: FMA tracks.csv lacks column(s) {missing}")
    subsets = tracks[("set", "subset")].astype(pd.CategoricalDtype(categories=list(FMA_SUBSETS), ordered=True))
    chosen = tracks.loc[subsets.notna() & (subsets <= subset)]
    rows = []
    for tid, rec in chosen.iterrows():
        try:
            tid_int = int(tid)
        except (TypeError, ValueError):
            raise DatasetError(f"{csv}: track id {tid!r} is not an integer") from None
        split = _nonempty(rec[("set", "split")])
        duration = pd.to_numeric(rec[("track", "duration")], errors="coerce")
        rows.append(
            {
                "track_id": f"{tid_int:06d}",
                "path": str(fma_audio_path(audio_dir, tid_int)),
                "genre": _nonempty(rec[("track", "genre_top")]),
                "artist": _nonempty(rec[("artist", "name")]),
                "split": FMA_SPLITS.get(split, split),
                "subset": _nonempty(rec[("set", "subset")]),
                "track_duration_s": float(duration) if pd.notna(duration) else None,
            }
        )
    present, skipped = [], []
    for r in rows:
        if Path(r["path"]).is_file():
            present.append(r)
        else:
            skipped.append((r["path"], "missing file"))
    return _finish(
        present,
        skipped,
        min_duration_s=min_duration_s,
        check_silence=check_silence,
        n_jobs=n_jobs,
        progress=progress,
        desc=f"probing fma_{subset}",
        root=audio_dir,
    )


def from_paths(
    paths: Iterable[str | os.PathLike],
    *,
    check_silence: bool = True,
    min_duration_s: float = MIN_DURATION_S,
    n_jobs: int | None = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """A manifest of arbitrary files, e.g. ``read_m3u(...).paths`` (a user's liked tracks).

    ``track_id`` is the file stem, made unique with the parent folder names where stems repeat;
    no genre.  Repeated paths are kept once.  Unusable files go to ``attrs["skipped"]``.
    """
    _check_common(min_duration_s)
    unique = list(dict.fromkeys(Path(p).expanduser().resolve() for p in paths))
    ids = [p.stem for p in unique]
    depth = 1
    while len(set(ids)) < len(ids) and depth < 64:
        ids = ["/".join(p.with_suffix("").parts[-(depth + 1) :]) for p in unique]
        depth += 1
    rows, skipped = [], []
    for tid, p in zip(ids, unique):
        if p.is_file():
            rows.append({"track_id": tid, "path": str(p)})
        else:
            skipped.append((str(p), "missing file"))
    _dedupe_ids(rows)
    return _finish(
        rows,
        skipped,
        min_duration_s=min_duration_s,
        check_silence=check_silence,
        n_jobs=n_jobs,
        progress=progress,
        desc="probing files",
    )


# --------------------------------------------------------------------------------------------
# playlists
# --------------------------------------------------------------------------------------------
@dataclass
class Playlist:
    """An M3U/M3U8 playlist resolved against the file system.

    Attributes
    ----------
    paths : list of Path
        Entries that exist, absolute, in playlist order (repeats kept).
    missing : list of str
        Entries that do not resolve to an existing file (as written in the playlist),
        including URLs (``http://...``) and undecodable ``file://`` URIs.
    titles : list of str or None
        The ``#EXTINF`` title of each entry of ``paths`` (same length), ``None`` if absent.
    source : Path or None
        The playlist file.
    """

    paths: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    titles: list[str | None] = field(default_factory=list)
    source: Path | None = None

    def __len__(self) -> int:
        return len(self.paths)


_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
_DRIVE_RE = re.compile(r"^/?[A-Za-z]:/")


def _entry_path(entry: str, base: Path) -> Path | None:
    """Resolve one playlist entry to a candidate path (``None`` for non-file URLs)."""
    if entry.lower().startswith("file:"):
        parsed = urllib.parse.urlparse(entry)
        text = urllib.parse.unquote(parsed.path)
        if parsed.netloc and parsed.netloc.lower() != "localhost":
            text = f"//{parsed.netloc}{text}"  # UNC host; will not exist here
    elif _SCHEME_RE.match(entry):
        return None
    else:
        text = entry
    text = text.replace("\\", "/")
    if _DRIVE_RE.match(text):  # a Windows drive path: only meaningful on Windows
        return Path(text.lstrip("/")) if os.name == "nt" else Path(text)
    p = Path(text).expanduser()
    return p if p.is_absolute() else base / p


def read_m3u(path: str | os.PathLike) -> Playlist:
    """Read an M3U or M3U8 playlist.

    Parameters
    ----------
    path : path-like
        The playlist.  Decoded as UTF-8 (a byte-order mark is tolerated); an ``.m3u`` that is not
        valid UTF-8 is read as Latin-1 (the legacy M3U encoding).  Lines starting with ``#`` are
        comments (``#EXTM3U``, ``#EXTINF:<seconds>,<title>`` - whose title is kept - and any
        other); entries may be relative to the playlist's folder, absolute, ``file://`` URIs
        (percent-encoded) or use Windows ``\\`` separators.

    Returns
    -------
    Playlist
        Existing files in ``paths`` (with ``titles``), the rest in ``missing``.  Unknown entries
        are reported, never fatal.

    Raises
    ------
    DatasetError
        if the playlist file does not exist, or an ``.m3u8`` is not valid UTF-8.
    """
    src = Path(path).expanduser()
    if not src.is_file():
        raise DatasetError(f"{src}: no such playlist")
    raw = src.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if src.suffix.lower() == ".m3u8":
            raise DatasetError(f"{src}: an .m3u8 playlist must be UTF-8 ({exc})") from exc
        text = raw.decode("latin-1")
    base = src.resolve().parent
    out = Playlist(source=src.resolve())
    title: str | None = None
    for line in text.splitlines():
        entry = line.strip()
        if not entry:
            continue
        if entry.startswith("#"):
            if entry.upper().startswith("#EXTINF:"):
                _, _, rest = entry.partition(",")
                title = rest.strip() or None
            continue
        candidate = _entry_path(entry, base)
        if candidate is not None and candidate.is_file():
            out.paths.append(candidate.resolve())
            out.titles.append(title)
        else:
            out.missing.append(entry)
        title = None
    return out


#: File extensions read as M3U playlists by :func:`read_playlist`.
PLAYLIST_EXTENSIONS = (".m3u", ".m3u8")


def audio_files(root: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """The files under a folder, split into audio files and the rest (hidden ones ignored), sorted.

    Returns
    -------
    audio, other : list of Path
        Resolved paths; ``audio`` are those whose extension is in :func:`audio_extensions`.
    """
    root = _existing_dir(root, "music folder")
    exts = set(audio_extensions())
    audio, other = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            (audio if p.suffix.lower().lstrip(".") in exts else other).append(p)
    return sorted(audio), sorted(other)


def read_playlist(sources: Iterable[str | os.PathLike]) -> Playlist:
    """A playlist as people have one: M3U/M3U8 files, folders and single audio files, in order.

    Parameters
    ----------
    sources : iterable of path-like
        Each one an ``.m3u``/``.m3u8`` playlist (:func:`read_m3u`), a folder (every audio file
        under it, sorted) or an audio file.

    Returns
    -------
    Playlist
        ``paths`` the files found (repeats removed, first occurrence kept), ``missing`` every
        entry that is not an existing file (with the playlist it came from), ``source`` the
        first source when there is one only.

    Raises
    ------
    DatasetError
        No source given.  A missing source is listed in ``missing``, never fatal here.
    """
    sources = [Path(s).expanduser() for s in sources]
    if not sources:
        raise DatasetError("no playlist given: name an M3U/M3U8 file, a folder or audio files")
    out = Playlist(source=sources[0].resolve() if len(sources) == 1 else None)
    exts = set(audio_extensions())
    for src in sources:
        if src.is_dir():
            for p in audio_files(src)[0]:
                out.paths.append(p)
                out.titles.append(None)
        elif src.suffix.lower() in PLAYLIST_EXTENSIONS and src.is_file():
            pl = read_m3u(src)
            out.paths += pl.paths
            out.titles += pl.titles
            out.missing += [f"{m} (in {src.name})" for m in pl.missing]
        elif src.is_file() and src.suffix.lower().lstrip(".") in exts:
            out.paths.append(src.resolve())
            out.titles.append(None)
        elif src.is_file():
            out.missing.append(f"{src} (not an audio file or playlist)")
        else:
            out.missing.append(str(src))
    seen: set[Path] = set()
    keep = [i for i, p in enumerate(out.paths) if not (p in seen or seen.add(p))]
    out.paths = [out.paths[i] for i in keep]
    out.titles = [out.titles[i] for i in keep]
    return out
