"""Rank a music library for the taste of one playlist: the core of ``melrec recommend``.

:func:`recommend` embeds the playlist and every audio file of the library through the
incremental library cache (:class:`melrec_lib.app.library.Store`, one per embedder, named:
``"embeddings"`` and, with the pipeline's ``mfcc``, ``"mfcc"``), decides which library files are
candidates (:func:`select_candidates`: the duplicate policy), trains the user's recommender and
scores the candidates (:func:`melrec_lib.recsys.scoring.score_candidates`, the computation
notebook 08 measures as the pipeline's method) or, in a training-free mode (``centroid``,
``knn``), scores them from the stored track means
(:func:`melrec_lib.recsys.scoring.score_training_free`: notebook 08's ``centroid@<source>`` and
``knn@<source>``); with the pipeline's ``fusion``, the network's scores are rank-averaged with
the centroid's (:func:`melrec_lib.recsys.scoring.rank_average`, notebook 08's
``fusion-<mode>@<source>``); it returns a :class:`Recommendation`: the
ranking, the files left out with their reasons, the caches' sync reports and the pipeline used.
It prints nothing; what it would say while it works (which network, waiting for another run,
what the library sync did) goes to an optional ``log`` callable.  The command line
(:mod:`melrec_lib.app.cli`) only parses arguments, calls it and prints or writes the result.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from melrec_lib.errors import DatasetError, check_int

if TYPE_CHECKING:  # pandas and the pipeline's table load on use (``melrec --help`` stays instant)
    import pandas as pd

    from melrec_lib.app.library import Entry, SyncReport
    from melrec_lib.app.pipeline import Pipeline

__all__ = [
    "POOL_FRAGMENTS",
    "Options",
    "Recommendation",
    "NothingToRankError",
    "Selection",
    "select_candidates",
    "recommend",
]

#: Most negative-pool fragments the per-user fit holds in memory: a library with more is
#: sampled uniformly (without replacement, seeded) down to this many; below it, every fragment.
POOL_FRAGMENTS = 32768

#: The library caches by name, and how a progress bar labels each one's sync.
STORE_LABELS = {"embeddings": "embedding", "mfcc": "MFCC statistics of"}


@dataclass(frozen=True)
class Options:
    """How :func:`recommend` runs (the pipeline aside).

    Attributes
    ----------
    epochs : int > 0, optional
        Recommender epochs (default :data:`melrec_lib.recsys.recommender.EXPERIMENT1_EPOCHS`).
    seed : int >= 0
        Seeds the recommender networks (:func:`melrec_lib.recsys.recommender.ensemble_seeds`)
        and the negative pool's sample.
    per_artist : int > 0, optional
        At most this many tracks of one artist: the file's artist tag, else its artist/album
        folder (the file's folder in the library).
    per_album : int > 0, optional
        At most this many tracks of one album: the file's album tag (with its album artist, else
        its artist), else its folder.
    keep_duplicates : bool
        Rank library files whose decoded audio equals a playlist track's (default: leave out).
    pool_fragments : int > 0
        At most this many negative fragments (:data:`POOL_FRAGMENTS`).
    genre_corpus : str
        The collection a user-trained genre CNN was trained on (without one, the shipped one).
    scheduler : str, optional
        A Dask scheduler address for the per-file work (default ``$MELREC_SCHEDULER``, else
        local processes).
    n_jobs : int > 0, optional
        Local worker processes (default all cores).
    chunk_tracks : int > 0, optional
        Files per cache chunk (:data:`melrec_lib.app.library.CHUNK_TRACKS`).
    progress : bool
        Progress bars while files are embedded.

    Raises
    ------
    ParameterError
        A field out of range.
    """

    epochs: int | None = None
    seed: int = 0
    per_artist: int | None = None
    per_album: int | None = None
    keep_duplicates: bool = False
    pool_fragments: int = POOL_FRAGMENTS
    genre_corpus: str = "melrec-synth"
    scheduler: str | None = None
    n_jobs: int | None = None
    chunk_tracks: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs is not None:
            check_int(self.epochs, "epochs", minimum=1)
        check_int(self.seed, "seed")
        for name in ("per_artist", "per_album"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, minimum=1)
        check_int(self.pool_fragments, "pool_fragments", minimum=1)
        for name in ("n_jobs", "chunk_tracks"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, minimum=1)

    def resolved_epochs(self) -> int:
        """``epochs``, or the default of experiment 1."""
        from melrec_lib.recsys import recommender

        return recommender.EXPERIMENT1_EPOCHS if self.epochs is None else self.epochs


@dataclass(frozen=True)
class Recommendation:
    """What :func:`recommend` found.

    Attributes
    ----------
    ranking : pd.DataFrame
        Columns ``path, score, rank, folder, artist, album, title, track`` (the file's own tags,
        :func:`melrec_lib.io.tags.read`: ``""`` and ``<NA>`` where untagged; and ``tags``: the
        network's three likeliest tags, with a network that tags), best first, after
        ``per_artist`` and ``per_album``; ``path`` as the library has it.
    left_out : tuple of (str, str)
        Every file not used and why: playlist entries not found or unreadable, library files
        that are not audio, could not be embedded, or duplicate a playlist track or each other.
    playlist_sync, library_sync : dict of str to SyncReport
        What each cache (by name, ``"embeddings"``, ``"mfcc"``) did for the playlist and the library.
    pipeline : Pipeline
        The pipeline that ranked.
    embedder : str
        Which network embedded, and where it comes from (``Embedder.describe``).
    playlist : str
        The playlist as named (its sources' file names).
    liked : tuple of str
        The playlist tracks used (resolved paths).
    n_fragments : int
        Their fragments: the recommender's positives.
    library : Path
        The library folder (resolved).
    audio_files : int
        Audio files found in it.
    epochs : int or None
        Recommender epochs; ``None`` in a training-free mode.
    mode : str
        The scoring that ran: a recommender training (``pipeline.mode``, e.g. ``corrected-small``)
        or a training-free scorer (``centroid``, ``knn``).
    """

    ranking: pd.DataFrame
    left_out: tuple[tuple[str, str], ...]
    playlist_sync: dict[str, SyncReport]
    library_sync: dict[str, SyncReport]
    pipeline: Pipeline
    embedder: str
    playlist: str
    liked: tuple[str, ...]
    n_fragments: int
    library: Path
    audio_files: int
    epochs: int | None
    mode: str


class NothingToRankError(DatasetError):
    """The library has no file left to rank; ``left_out`` says why each one was left out."""

    def __init__(self, message: str, left_out: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.left_out = tuple(left_out)


@dataclass(frozen=True)
class Selection:
    """The library files :func:`select_candidates` keeps, and the others with the reason."""

    candidates: tuple[Entry, ...]
    paths: tuple[str, ...]
    left_out: tuple[tuple[str, str], ...]


def select_candidates(
    files: Sequence[str | Path],
    entries: dict[str, Entry],
    failed: dict[str, str],
    liked: Sequence[Entry],
    *,
    root: Path,
    keep_duplicates: bool = False,
) -> Selection:
    """The library files to rank, in ``files``' order, and why each other one is left out.

    A playlist track found in the library is neither ranked nor reported; a file that failed in
    any cache is left out with its reason; a file with the same decoded audio as a playlist
    track (:class:`melrec_lib.app.library.AudioTwins`) is left out unless ``keep_duplicates``;
    of files with the same audio only the first is ranked.

    Parameters
    ----------
    files : sequence of path-like
        The library's audio files, as the library has them (a symlink stays one).
    entries : dict
        Resolved path -> :class:`melrec_lib.app.library.Entry` (the embeddings cache's).
    failed : dict
        Resolved path -> the reason it gave nothing (in any cache).
    liked : sequence of Entry
        The playlist's tracks.
    root : Path
        The library folder (duplicates are named relative to it).
    keep_duplicates : bool

    Returns
    -------
    Selection
    """
    from melrec_lib.app import library

    liked_paths = {e.path for e in liked}
    liked_twins, seen_twins = library.AudioTwins(), library.AudioTwins()
    for e in liked:
        liked_twins.add(e)
    seen_shown: dict[str, str] = {}  # resolved path -> the path as the library has it
    candidates, shown, left_out = [], [], []
    for p in files:
        e = entries[_resolved(p)]
        if e.path in liked_paths:
            continue
        if e.path in failed:
            left_out.append((str(p), failed[e.path]))
        elif not keep_duplicates and (twin := liked_twins.twin(e)):
            left_out.append((str(p), f"same audio as playlist track {Path(twin).name}"))
        elif twin := seen_twins.twin(e):
            left_out.append((str(p), f"same audio as {Path(seen_shown[twin]).relative_to(root)} (ranked once)"))
        else:
            seen_twins.add(e)
            seen_shown[e.path] = str(p)
            candidates.append(e)
            shown.append(str(p))
    return Selection(candidates=tuple(candidates), paths=tuple(shown), left_out=tuple(left_out))


def _resolved(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())


def _folder_of(path: Path, root: Path) -> str:
    """The artist/album folder of a library file: its folder relative to the library (``.`` at the top)."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return path.parent.name
    return rel.parent.as_posix()


def _at_most(ranking: pd.DataFrame, keys: Sequence[str], k: int | None) -> pd.DataFrame:
    """At most ``k`` rows of each key (one per row), in ranking order, ranked again 1..n."""
    if k is None:
        return ranking
    counts: dict[str, int] = {}
    keep = []
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
        keep.append(counts[key] <= k)
    out = ranking[keep].reset_index(drop=True)
    out["rank"] = range(1, len(out) + 1)
    return out


def _artist_key(row) -> str:
    """Whose track it is: the artist tag, else the artist/album folder."""
    return f"artist:{row.artist}" if row.artist else f"folder:{row.folder}"


def _album_key(row, album_artist: str) -> str:
    """Which album it is on: the album tag (with the album artist, else the artist), else the folder."""
    return f"album:{album_artist or row.artist}\x00{row.album}" if row.album else f"folder:{row.folder}"


def _limit(ranking: pd.DataFrame, album_artists: dict[str, str], options: Options) -> pd.DataFrame:
    """``options.per_artist`` then ``options.per_album`` applied to the ranking."""
    ranking = _at_most(ranking, [_artist_key(r) for r in ranking.itertuples(index=False)], options.per_artist)
    keys = [_album_key(r, album_artists[r.path]) for r in ranking.itertuples(index=False)]
    return _at_most(ranking, keys, options.per_album)


def _file_tags(ranking: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The ranking with the ``artist, album, title, track`` of each file's tags; the album artists by path."""
    import pandas as pd

    from melrec_lib.io import tags

    found = {p: tags.read(p) for p in ranking["path"]}
    out = ranking.copy()
    for field in ("artist", "album", "title"):
        out[field] = [getattr(found[p], field) for p in out["path"]]
    out["track"] = pd.array([found[p].track for p in out["path"]], dtype="Int64")
    return out, {p: t.album_artist for p, t in found.items()}


def _sync_all(stores: dict[str, Any], files: Sequence[Any], *, label: str, **kw: Any):
    """Sync ``files`` into every store; per file, the first reason it failed in any of them."""
    reports = {name: st.sync(files, desc=f"{STORE_LABELS[name]} {label}", **kw) for name, st in stores.items()}
    failed: dict[str, str] = {}
    for rep in reports.values():
        for p, r in rep.failed.items():
            failed.setdefault(p, r)
    return reports, failed


def recommend(
    playlist: str | Path | Sequence[str | Path],
    library: str | Path,
    *,
    pipeline: Pipeline | str | None = None,
    options: Options | None = None,
    log: Callable[[str], None] | None = None,
) -> Recommendation:
    """Rank a music library for the taste of one playlist.

    The playlist (M3U/M3U8 files, folders, audio files; :func:`melrec_lib.io.collections.read_playlist`)
    and every audio file of the library are embedded through the library caches (only new or
    changed files are read) with the pipeline's preprocessor, and with its ``mfcc`` their MFCC
    statistics too.  The user's recommender (``pipeline.networks`` of them, of different seeds)
    is trained on the playlist's fragments against the candidates' (at most
    ``options.pool_fragments``, sampled uniformly) and scores the candidates chunk by chunk; a
    training-free ``pipeline.mode`` (``centroid``, ``knn``) scores them from the files' stored
    mean embeddings instead (no network, instant on a warm cache).
    Two runs sharing a cache take turns.  Files that cannot be used each get a reason in
    :attr:`Recommendation.left_out`, never stop the run.

    Parameters
    ----------
    playlist : path-like or sequence of path-like
        M3U/M3U8 files, folders or audio files.
    library : path-like
        The folder of audio files to rank.
    pipeline : Pipeline or str, optional
        A :class:`melrec_lib.app.pipeline.Pipeline`, or a name of
        :data:`melrec_lib.app.pipeline.PIPELINES` (default :data:`~melrec_lib.app.pipeline.DEFAULT_PIPELINE`).
    options : Options, optional
    log : callable, optional
        Given each line of what happens (the network used, waiting for another run's cache,
        what the library sync did).

    Returns
    -------
    Recommendation

    Raises
    ------
    DatasetError
        An empty playlist, a playlist none of whose tracks is usable, no such library folder.
    NothingToRankError
        A library with nothing left to rank (a :class:`DatasetError`; its ``left_out`` says why).
    ModelNotFoundError
        Neither a trained nor a shipped genre CNN for the pipeline (naming ``melrec train``).
    """
    from melrec_lib.app import library as libmod
    from melrec_lib.app import pipeline as pipemod
    from melrec_lib.io import collections

    options = Options() if options is None else options
    say = log or (lambda line: None)
    pipe = pipeline if isinstance(pipeline, pipemod.Pipeline) else pipemod.resolve(pipeline)

    sources = [playlist] if isinstance(playlist, (str, Path)) else list(playlist)
    shown_pl = ", ".join(Path(s).name for s in sources)
    pl = collections.read_playlist(sources)
    if not pl.paths and not pl.missing:
        raise DatasetError(f"{shown_pl}: the playlist is empty (no entries)")
    if not pl.paths:
        shown = "; ".join(pl.missing[:3]) + (" ..." if len(pl.missing) > 3 else "")
        raise DatasetError(f"{shown_pl}: none of its {len(pl.missing)} track(s) could be read: not found: {shown}")
    lib = Path(library).expanduser()
    if not lib.is_dir():
        raise DatasetError(f"{lib}: no such library folder")
    lib = lib.resolve()
    emb = pipemod.embedder(pipe, corpus=options.genre_corpus)  # ModelNotFoundError
    say(emb.describe)

    chunking = {} if options.chunk_tracks is None else {"chunk_tracks": options.chunk_tracks}
    stores = {"embeddings": libmod.Store(emb, **chunking)}
    if pipe.mfcc:  # duplicates are found by the embeddings' audio fingerprints
        stores["mfcc"] = libmod.Store(pipemod.mfcc_embedder(), audio_digests=False, **chunking)
    with contextlib.ExitStack() as held:
        for st in stores.values():  # one run at a time per cache: a second one waits, then uses what this one embedded
            held.enter_context(
                st.locked(on_wait=lambda: say("waiting for another melrec run using the same library cache ..."))
            )
        return _rank(stores, pl, lib, pipe, emb, shown_pl=shown_pl, options=options, say=say)


def _rank(stores, pl, lib: Path, pipe, emb, *, shown_pl: str, options: Options, say) -> Recommendation:
    import numpy as np
    import pandas as pd

    from melrec_lib.io import collections
    from melrec_lib.recsys import metrics, scoring

    epochs = None if pipe.training_free else options.resolved_epochs()
    left_out: list[tuple[str, str]] = [(m, "playlist entry not found") for m in pl.missing]
    kw = {"n_jobs": options.n_jobs, "scheduler": options.scheduler, "progress": options.progress}
    reps_pl, failed_pl = _sync_all(stores, pl.paths, label="playlist", **kw)
    given_pl = {_resolved(p): str(p) for p in pl.paths}  # the stores key files by their resolved path
    left_out += [(given_pl.get(p, p), f"playlist track: {r}") for p, r in failed_pl.items()]
    entries_pl = reps_pl["embeddings"].entries
    liked = [entries_pl[_resolved(p)] for p in pl.paths if _resolved(p) not in failed_pl]
    if not liked:
        why = "; ".join(f"{p}: {r}" for p, r in left_out[:3]) + (" ..." if len(left_out) > 3 else "")
        raise DatasetError(
            f"{shown_pl}: none of its {len(pl.paths) + len(pl.missing)} track(s) could be read"
            + (f": {why}" if why else "")
        )

    audio, other = collections.audio_files(lib)
    reps, failed = _sync_all(stores, audio, label="library", root=lib, **kw)
    seconds = sum(r.seconds for r in reps.values())
    say(f"library {lib}: {len(audio)} audio files; {reps['embeddings'].summary()} ({seconds:.1f} s)")
    left_out += [(str(p), "not an audio file") for p in other]
    chosen = select_candidates(
        audio, reps["embeddings"].entries, failed, liked, root=lib, keep_duplicates=options.keep_duplicates
    )
    left_out += chosen.left_out
    candidates = list(chosen.candidates)
    if not candidates:
        raise NothingToRankError(
            f"{lib}: nothing to rank: the library has no readable audio file (of at least 8 s) outside the playlist",
            left_out,
        )

    store = stores["embeddings"]
    if epochs is None:  # a training-free mode: the stored track means, standardised over these tracks
        scores = scoring.score_training_free(pipe.mode, store, liked, candidates, mfcc_store=stores.get("mfcc"))
    else:
        inputs = scoring.RecommenderInput(store, liked + candidates, mfcc_store=stores.get("mfcc"))
        scores = scoring.score_candidates(
            inputs,
            liked,
            candidates,
            mode=pipe.mode,
            epochs=epochs,
            seed=options.seed,
            networks=pipe.networks,
            pool_fragments=options.pool_fragments,
        )
        if pipe.fusion:  # notebook 08's fusion-<mode>@<source>: the centroid's ranks and the network's
            centroid = scoring.score_training_free("centroid", store, liked, candidates, mfcc_store=stores.get("mfcc"))
            scores = scoring.rank_average(centroid, scores)
    ids = [Path(p).relative_to(lib).as_posix() for p in chosen.paths]
    ranking = metrics.rank(pd.Series(scores, index=ids))
    path_of = dict(zip(ids, chosen.paths))
    ranking.insert(0, "path", [path_of[t] for t in ranking["track_id"]])
    ranking["folder"] = [_folder_of(Path(p), lib) for p in ranking["path"]]
    ranking, album_artists = _file_tags(ranking[["path", "score", "rank", "folder"]])
    if emb.tag_names:
        tags = store.means(candidates, "tags")
        names = np.asarray(emb.tag_names)
        top_tags = {i: ", ".join(names[np.argsort(-row)[:3]]) for i, row in zip(ids, tags)}
        ranking["tags"] = [top_tags[Path(p).relative_to(lib).as_posix()] for p in ranking["path"]]
    return Recommendation(
        ranking=_limit(ranking, album_artists, options),
        left_out=tuple(left_out),
        playlist_sync=reps_pl,
        library_sync=reps,
        pipeline=pipe,
        embedder=emb.describe,
        playlist=shown_pl,
        liked=tuple(e.path for e in liked),
        n_fragments=sum(e.n_fragments for e in liked),
        library=lib,
        audio_files=len(audio),
        epochs=epochs,
        mode=pipe.mode,
    )
