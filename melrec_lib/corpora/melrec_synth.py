"""The embedded default corpus **melrec-synth**: nine genres rendered offline from composed MIDI.

The thesis trained its genre CNN on MP3s of 9 genres that cannot be shipped, and nothing may be
downloaded at run time, so the repository renders its own labelled corpus from packages alone:
:mod:`melrec_lib.corpora.synth` composes each track (``pretty_midi``) and plays it with the General MIDI
sound font inside pretty_midi (``tinysoundfont``).  The corpus has the structure real
collections have: artists with a fixed palette (instruments, tempo, keys, swing, mix), at least
two sub-styles per genre, tracks with sections, humanised timing and velocity.

Layout::

    <raw_dir>/melrec-synth[-smoke]/tracks.csv
    <raw_dir>/melrec-synth[-smoke]/<genre>/<artist>/<track_id>.wav   (44.1 kHz, mono, 16-bit)

Examples
--------
>>> from melrec_lib.corpora import melrec_synth
>>> manifest = melrec_synth.build(size="smoke", progress=False)          # doctest: +SKIP
>>> manifest.groupby("genre").size().min()                         # doctest: +SKIP
6
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from melrec_lib import paths
from melrec_lib.cache import atomic_file, digest
from melrec_lib.corpora.synth.compose import TrackSpec, compose
from melrec_lib.corpora.synth.render import SAMPLE_RATE, render_score, stable_int
from melrec_lib.corpora.synth.styles import GENRES, STYLES, SUBSTYLES, ArtistPalette, make_palette
from melrec_lib.corpora.synth.theory import Key
from melrec_lib.errors import DatasetError, ParameterError, check_int
from melrec_lib.io.manifest import read_manifest, write_manifest
from melrec_lib.parallel import parallel_map

__all__ = [
    "GENRES",
    "SUBSTYLES",
    "SIZES",
    "CorpusSize",
    "CORPUS_VERSION",
    "corpus_root",
    "plan",
    "spec_hash",
    "build",
    "load_manifest",
    "example_track",
    "render_track",
    "compose",
    "TrackSpec",
]

#: Bumped whenever the composer or renderer code changes the audio: a rerun then re-renders
#: everything.  (A changed plan -- palette, tempo, key, length -- is caught per track by
#: :func:`spec_hash`, so only the tracks it touches are rendered again.)
CORPUS_VERSION = 4


@dataclass(frozen=True)
class CorpusSize:
    """Shape of a corpus size: artists per genre, tracks per artist, track length range in s."""

    n_artists: int
    n_tracks: int
    duration_s: tuple[float, float]
    folder: str

    @property
    def n_total(self) -> int:
        return len(GENRES) * self.n_artists * self.n_tracks


SIZES: dict[str, CorpusSize] = {
    "default": CorpusSize(n_artists=10, n_tracks=9, duration_s=(30.0, 60.0), folder="melrec-synth"),
    "smoke": CorpusSize(n_artists=3, n_tracks=2, duration_s=(12.0, 20.0), folder="melrec-synth-smoke"),
}


def _size(size: str) -> CorpusSize:
    if size not in SIZES:
        raise ParameterError(f"unknown corpus size {size!r}; choose one of {sorted(SIZES)}")
    return SIZES[size]


def _genre(genre: str) -> str:
    if genre not in GENRES:
        raise ParameterError(f"unknown genre {genre!r}; choose one of {list(GENRES)}")
    return genre


def corpus_root(size: str = "default") -> Path:
    """Folder of the corpus of this ``size``: ``<raw_dir>/melrec-synth`` or ``.../melrec-synth-smoke``.

    Raises
    ------
    ParameterError
        if ``size`` is not a key of :data:`SIZES`.
    """
    return paths.raw_dir() / _size(size).folder


def _seed_check(seed: int) -> int:
    return check_int(seed, "seed")


def plan(size: str = "default", *, seed: int = 0) -> list[TrackSpec]:
    """Every track of the corpus as a :class:`TrackSpec`, in a fixed order (no audio rendered).

    Artist ``k`` of a genre plays sub-style ``SUBSTYLES[genre][k % n]``; its palette comes from
    the seed derived from ``(seed, genre, artist)``, each track's choices from the seed derived
    from ``(seed, genre, artist, track)`` (CRC-32 of the joined names, never Python's ``hash``).

    Parameters
    ----------
    size : {"default", "smoke"}
    seed : int >= 0
        Corpus seed; the same seed gives the same plan (and audio).

    Returns
    -------
    specs : list of TrackSpec [len = SIZES[size].n_total]
    """
    cfg = _size(size)
    seed = _seed_check(seed)
    specs = []
    for genre in GENRES:
        subs = SUBSTYLES[genre]
        for a in range(cfg.n_artists):
            artist = f"{genre}-a{a + 1:02d}"
            palette = make_palette(
                genre, subs[a % len(subs)], artist, np.random.default_rng(stable_int(seed, genre, artist))
            )
            for t in range(cfg.n_tracks):
                track_seed = stable_int(seed, genre, artist, t)
                specs.append(_track_spec(palette, f"{artist}-t{t + 1:02d}", track_seed, cfg))
    return specs


def _track_spec(palette: ArtistPalette, track_id: str, track_seed: int, cfg: CorpusSize) -> TrackSpec:
    rng = np.random.default_rng([track_seed, 1])
    lo, hi = STYLES[palette.genre][palette.substyle].bpm
    tempo = float(np.clip(palette.bpm_center * (1 + rng.uniform(-0.02, 0.02)), lo, hi))
    tonic, mode = palette.keys[int(rng.integers(len(palette.keys)))]
    duration = round(float(rng.uniform(*cfg.duration_s)), 1)
    return TrackSpec(
        track_id=track_id,
        palette=palette,
        tempo_bpm=round(tempo, 1),
        key=Key(tonic, mode),
        duration_s=duration,
        seed=int(track_seed),
    )


def render_track(spec: TrackSpec) -> np.ndarray:
    """Compose and render one track.

    Returns
    -------
    y : np.ndarray [shape=(round(spec.duration_s * 44100),), dtype=float32]
        Mono audio at 44.1 kHz, peak below 1.
    """
    pm = compose(spec)
    return render_score(pm, duration_s=spec.duration_s, palette=spec.palette, room_seed=stable_int(spec.artist, "room"))


def spec_hash(spec: TrackSpec) -> str:
    """12 hex digits of SHA-256 over what determines the track: the spec and its sub-style's idiom."""
    return digest(repr(spec) + repr(STYLES[spec.genre][spec.substyle]), 12)


def _track_path(root: Path, spec: TrackSpec) -> Path:
    return root / spec.genre / spec.artist / f"{spec.track_id}.wav"


def _is_valid(path: Path, spec: TrackSpec) -> bool:
    """True if ``path`` is a readable 44.1 kHz mono 16-bit WAV of the planned length."""
    try:
        info = sf.info(str(path))
    except Exception:  # missing, truncated header, not audio...
        return False
    return (
        info.samplerate == SAMPLE_RATE
        and info.channels == 1
        and info.subtype == "PCM_16"
        and info.frames == int(round(spec.duration_s * SAMPLE_RATE))
    )


def _write_track(spec: TrackSpec, path: Path) -> None:
    y = render_track(spec)
    with atomic_file(path) as tmp:
        sf.write(str(tmp), y, SAMPLE_RATE, subtype="PCM_16", format="WAV")


def _render_batch(batch: list[tuple[TrackSpec, str]]) -> int:
    for spec, path in batch:
        _write_track(spec, Path(path))
    return len(batch)


def _row(spec: TrackSpec, path: Path) -> dict:
    return {
        "track_id": spec.track_id,
        "path": str(path),
        "genre": spec.genre,
        "substyle": spec.substyle,
        "artist": spec.artist,
        "tempo_bpm": spec.tempo_bpm,
        "key": spec.key.name,
        "duration_s": spec.duration_s,
        "seed": spec.seed,
        "corpus_seed": None,
        "version": CORPUS_VERSION,
        "spec_hash": spec_hash(spec),
    }


def build(size: str = "default", *, seed: int = 0, n_jobs: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Render the corpus (only tracks missing, broken or stale) and write its ``tracks.csv``.

    Parameters
    ----------
    size : {"default", "smoke"}
        ``"default"``: 9 genres x 10 artists x 9 tracks of 30-60 s; ``"smoke"``: 9 x 3 x 2 of 12-20 s.
    seed : int >= 0
        Corpus seed: same seed -> byte-identical WAVs.
    n_jobs : int or None
        Parallel worker processes (joblib); None = all cores, 1 = in this process.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    manifest : pd.DataFrame
        The :mod:`~melrec_lib.io.manifest` columns (absolute ``path``) plus ``corpus_seed``,
        ``version`` (:data:`CORPUS_VERSION`) and ``spec_hash``; one row per track in plan order.

    Notes
    -----
    A track is kept when the previous ``tracks.csv`` lists it with the same version and
    ``spec_hash`` and its file is a readable 44.1 kHz mono PCM-16 WAV of the planned length;
    anything else (missing, truncated, stale) is rendered again.  Each WAV is written to a
    temporary file and moved into place (``cache.atomic_file``), and ``tracks.csv`` is removed while
    rendering and written last, so an interrupted build never leaves a manifest that lies.

    Raises
    ------
    ParameterError
        for an unknown size, a negative seed or ``n_jobs < 1``.
    """
    specs = plan(size, seed=seed)
    if n_jobs is not None and (not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1):
        raise ParameterError(f"n_jobs must be None or a positive integer, got {n_jobs!r}")
    root = corpus_root(size)
    root.mkdir(parents=True, exist_ok=True)
    csv = root / "tracks.csv"
    previous = {}
    if csv.is_file():
        try:
            old = read_manifest(csv)
            if {"version", "spec_hash"} <= set(old.columns):
                previous = {r.track_id: (int(r.version), str(r.spec_hash)) for r in old.itertuples()}
        except Exception:
            previous = {}
    todo = []
    for spec in specs:
        path = _track_path(root, spec)
        fresh = previous.get(spec.track_id) == (CORPUS_VERSION, spec_hash(spec))
        if not (fresh and _is_valid(path, spec)):
            todo.append((spec, str(path)))
    if todo:
        # the manifest is only rewritten after the audio, so a crash never leaves it claiming stale files
        if csv.is_file():
            csv.unlink()
        _render_all(todo, n_jobs=n_jobs, progress=progress, desc=f"melrec-synth {size}")
    rows = []
    for spec in specs:
        row = _row(spec, _track_path(root, spec))
        row["corpus_seed"] = int(seed)
        rows.append(row)
    df = pd.DataFrame(rows)
    write_manifest(df, csv)
    return read_manifest(csv)


def _render_all(todo: list, *, n_jobs: int | None, progress: bool, desc: str) -> None:
    # longest first keeps the workers busy until the end; small batches keep the bar moving
    todo = sorted(todo, key=lambda it: -it[0].duration_s)
    batches = [todo[i : i + 4] for i in range(0, len(todo), 4)]
    parallel_map(
        _render_batch,
        batches,
        n_jobs=n_jobs,
        desc=desc,
        unit="track",
        progress=progress,
        weights=[len(b) for b in batches],
    )


def load_manifest(size: str = "default") -> pd.DataFrame:
    """The manifest of a built corpus (absolute paths).

    Raises
    ------
    ParameterError
        for an unknown size.
    DatasetError
        if the corpus has not been built, with the command that builds it.
    """
    csv = corpus_root(size) / "tracks.csv"
    if not csv.is_file():
        raise DatasetError(
            f"the {size!r} melrec-synth corpus is not built ({csv} missing); "
            f"run `melrec corpus --size {size}` (or corpus.build(size={size!r}))"
        )
    return read_manifest(csv)


def example_track(genre: str = "rock", size: str = "smoke") -> Path:
    """Path of the first track of ``genre`` in the corpus of ``size`` (built first if missing).

    Raises
    ------
    ParameterError
        for an unknown genre or size.
    """
    _genre(genre)
    _size(size)
    try:
        df = load_manifest(size)
    except DatasetError:
        df = build(size=size, progress=False)
    path = Path(df.loc[df["genre"] == genre, "path"].iloc[0])
    if not path.is_file():
        df = build(size=size, progress=False)
        path = Path(df.loc[df["genre"] == genre, "path"].iloc[0])
    return path
