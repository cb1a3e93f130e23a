"""The ``melrec`` command: build a corpus, train the genre CNN, rank a library for a playlist.

All of the command line's glue lives here (argument parsing, reading playlists and libraries,
printing and writing the ranking); the modules below it only compute.  Each sub-command
imports what it needs on use, so ``melrec --help`` is instant (no Keras import).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Sequence

from melrec_lib.errors import DatasetError, MelrecError, check_int

#: Built-in collections by name (``--corpus``): melrec-synth's two sizes.
SYNTH_SIZES = {"melrec-synth": "default", "melrec-synth-smoke": "smoke"}


def load_collection(name: str):
    """The manifest of a built-in collection (``melrec-synth``, ``melrec-synth-smoke``,
    ``soundtracks``) or of a folder of audio files."""
    from melrec_lib.corpora import melrec_synth
    from melrec_lib.io import collections

    if name in SYNTH_SIZES:
        return melrec_synth.load_manifest(SYNTH_SIZES[name])
    if name == "soundtracks":
        from melrec_lib.corpora import soundtracks

        return soundtracks.load_manifest()
    if Path(name).expanduser().is_dir():
        return collections.from_folder(Path(name).expanduser())
    raise DatasetError(
        f"unknown collection {name!r}: use one of {sorted(SYNTH_SIZES) + ['soundtracks']} or a folder of audio files"
    )


def _corpus(args: argparse.Namespace) -> int:
    from melrec_lib.corpora import melrec_synth

    if args.name == "soundtracks":
        from melrec_lib.corpora import soundtracks

        manifest = soundtracks.build(debs=args.debs, n_jobs=args.jobs)
        print(
            f"{len(manifest)} tracks in {soundtracks.corpus_root()} "
            f"({len(manifest.attrs['skipped'])} other audio files skipped: see skipped.csv)"
        )
        return 0
    manifest = melrec_synth.build(size=args.size, seed=args.seed, n_jobs=args.jobs)
    print(f"{len(manifest)} tracks in {melrec_synth.corpus_root(args.size)}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from melrec_lib.nets import saved
    from melrec_lib.nets.recipe import GenreRecipe

    fields = {
        k: v
        for k, v in (("per_track", args.per_track), ("epochs", args.epochs), ("augment", args.augment))
        if v is not None
    }
    recipe = GenreRecipe(config=args.config, seed=args.seed, **fields)
    model = saved.ensure(corpus=load_collection(args.corpus), recipe=recipe, retrain=args.retrain)
    print(
        f"genre CNN at {model.path}: held-out fragment accuracy {model.fragment_accuracy:.3f}, "
        f"track accuracy {model.track_accuracy:.3f}"
    )
    return 0


#: Most negative-pool fragments the per-user fit holds in memory: a library with more is
#: sampled uniformly (without replacement, seeded) down to this many; below it, every fragment.
POOL_FRAGMENTS = 32768


def _folder_of(path: Path, root: Path) -> str:
    """The artist/album folder of a library file: its folder relative to the library (``.`` at the top)."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return path.parent.name
    return rel.parent.as_posix()


def _per_artist(ranking, k: int | None):
    if k is None:
        return ranking
    counts: dict[str, int] = {}
    keep = []
    for folder in ranking["folder"]:
        counts[folder] = counts.get(folder, 0) + 1
        keep.append(counts[folder] <= k)
    out = ranking[keep].reset_index(drop=True)
    out["rank"] = range(1, len(out) + 1)
    return out


def _write_out(ranking, top, out: str, stream) -> None:
    import csv

    path = Path(out).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        ranking.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
        print(f"ranking of {len(ranking)} tracks written to {path}", file=stream)
    elif suffix in (".m3u", ".m3u8"):
        lines = ["#EXTM3U"] + [
            x
            for r in ranking.head(top).itertuples(index=False)
            for x in (f"#EXTINF:-1,{Path(r.path).stem}", str(r.path))
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"playlist of the top {min(top, len(ranking))} written to {path}", file=stream)
    else:
        raise DatasetError(f"--out {out}: write a .csv (the ranking) or a .m3u/.m3u8 (a playlist of the top)")


def recommend(
    *,
    playlist: str | Sequence[str],
    library: str,
    top: int = 20,
    out: str | Sequence[str] | None = None,
    epochs: int | None = None,
    seed: int = 0,
    pipeline: str | None = None,
    preprocessor: str | None = None,
    mode: str | None = None,
    genre_config: str | None = None,
    genre_corpus: str = "melrec-synth",
    cut: str | None = None,
    mfcc: bool | None = None,
    networks: int | None = None,
    per_artist: int | None = None,
    keep_duplicates: bool = False,
    scheduler: str | None = None,
    n_jobs: int | None = None,
    chunk_tracks: int | None = None,
    pool_fragments: int = POOL_FRAGMENTS,
    progress: bool = True,
    stream=None,
):
    """Rank a music library for the taste of one playlist (``melrec recommend``).

    The playlist (M3U/M3U8 files, folders, audio files; :func:`collections.read_playlist`) and every
    audio file of the library are embedded through the incremental library cache
    (:class:`melrec_lib.app.library.Store`: only new or changed files are read), with the pipeline's
    preprocessor (:mod:`melrec_lib.app.pipeline`; default :data:`pipeline.DEFAULT_PIPELINE`, single
    fields overridden by ``preprocessor``, ``genre_config``, ``cut``, ``mode``, ``mfcc``,
    ``networks``), and with the pipeline's ``mfcc`` their MFCC statistics too (a second cache).
    The user's recommender (``networks`` of them, of different seeds) is trained on the playlist's
    fragments against the library's other fragments (at most ``pool_fragments`` of them, sampled
    uniformly) and scores the library chunk by chunk (:mod:`melrec_lib.recsys.scoring`: the computation
    notebook 08 measures as the pipeline's method).  Two runs sharing a cache take turns.
    Files that cannot be used (missing, unreadable, silent, too short, not audio, duplicates of
    playlist tracks or of each other) each get a line in the report, never stop the run.

    Parameters
    ----------
    playlist : str or sequence of str
        M3U/M3U8 files, folders or audio files.
    library : str
        The folder of audio files to rank.
    top : int > 0
        Tracks printed (and written to an ``.m3u`` ``out``).
    out : str or sequence of str, optional
        ``*.csv``: the whole ranking; ``*.m3u``/``*.m3u8``: a playlist of the top.
    per_artist : int > 0, optional
        At most this many tracks of one artist/album folder (the file's folder in the library).
    keep_duplicates : bool
        Rank library files whose decoded audio equals a playlist track's (default: leave out).
    scheduler : str, optional
        A Dask scheduler address for the per-file work (default ``$MELREC_SCHEDULER``, else
        local processes).
    n_jobs : int, optional
        Local worker processes (default all cores).
    chunk_tracks : int, optional
        Files per cache chunk (:data:`melrec_lib.app.library.CHUNK_TRACKS`).

    Returns
    -------
    pd.DataFrame
        Columns ``path, score, rank, folder`` (and ``tags`` with musicnn), best first, after
        ``per_artist``.

    Raises
    ------
    DatasetError
        an empty playlist, a playlist none of whose tracks is usable, a library with nothing left
        to rank, an ``out`` of another type.
    ModelNotFoundError
        neither a trained nor a shipped genre CNN for the pipeline (naming ``melrec train``).
    """
    from melrec_lib.app import library as libmod
    from melrec_lib.app import pipeline as pipemod
    from melrec_lib.io import collections
    from melrec_lib.recsys import recommender

    stream = stream or sys.stdout
    check_int(top, "--top", minimum=1)
    if per_artist is not None:
        check_int(per_artist, "--per-artist", minimum=1)
    epochs = recommender.EXPERIMENT1_EPOCHS if epochs is None else check_int(epochs, "epochs", minimum=1)
    seed = check_int(seed, "seed")
    outs = [] if out is None else [out] if isinstance(out, (str, Path)) else list(out)
    for o in outs:
        if Path(o).suffix.lower() not in (".csv", ".m3u", ".m3u8"):
            raise DatasetError(f"--out {o}: write a .csv (the ranking) or a .m3u/.m3u8 (a playlist of the top)")
    pipe = pipemod.resolve(
        pipeline, preprocessor=preprocessor, config=genre_config, cut=cut, mode=mode, mfcc=mfcc, networks=networks
    )
    cfg = recommender.get_config(pipe.mode)

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
    emb = pipemod.embedder(pipe, corpus=genre_corpus)  # ModelNotFoundError
    print(emb.describe, file=stream)

    skipped: list[tuple[str, str]] = [(m, "playlist entry not found") for m in pl.missing]
    chunking = {} if chunk_tracks is None else {"chunk_tracks": chunk_tracks}
    stores = [libmod.Store(emb, **chunking)]
    if pipe.mfcc:  # duplicates are found by the first store's audio digests
        stores.append(libmod.Store(pipemod.mfcc_embedder(), audio_digests=False, **chunking))
    with contextlib.ExitStack() as held:
        for st in stores:  # one run at a time per cache: a second one waits, then uses what this one embedded
            held.enter_context(
                st.locked(
                    on_wait=lambda: print(
                        "waiting for another melrec run using the same library cache ...", file=stream
                    )
                )
            )
        return _rank_with(
            stores,
            pl,
            lib,
            pipe,
            cfg,
            emb,
            skipped,
            shown_pl=shown_pl,
            top=top,
            outs=outs,
            epochs=epochs,
            seed=seed,
            per_artist=per_artist,
            keep_duplicates=keep_duplicates,
            scheduler=scheduler,
            n_jobs=n_jobs,
            pool_fragments=pool_fragments,
            progress=progress,
            stream=stream,
        )


def _sync_all(stores, files, *, label: str, **kw):
    """Sync ``files`` into every store; per file, the first reason it failed in any of them."""
    names = ["embedding", "MFCC statistics of"]
    reports = [st.sync(files, desc=f"{names[min(i, 1)]} {label}", **kw) for i, st in enumerate(stores)]
    failed: dict[str, str] = {}
    for rep in reports:
        for p, r in rep.failed.items():
            failed.setdefault(p, r)
    return reports, failed


def _resolved(path) -> str:
    return str(Path(path).expanduser().resolve())


def _rank_with(
    stores,
    pl,
    lib,
    pipe,
    cfg,
    emb,
    skipped,
    *,
    shown_pl,
    top,
    outs,
    epochs,
    seed,
    per_artist,
    keep_duplicates,
    scheduler,
    n_jobs,
    pool_fragments,
    progress,
    stream,
):
    import numpy as np
    import pandas as pd

    from melrec_lib.app import library
    from melrec_lib.io import collections
    from melrec_lib.recsys import metrics
    from melrec_lib.recsys import scoring as rankmod

    store = stores[0]
    kw = {"n_jobs": n_jobs, "scheduler": scheduler, "progress": progress}
    reps_pl, failed_pl = _sync_all(stores, pl.paths, label="playlist", **kw)
    rep_pl = reps_pl[0]
    given_pl = {_resolved(p): str(p) for p in pl.paths}  # the stores key files by their resolved path
    skipped += [(given_pl.get(p, p), f"playlist track: {r}") for p, r in failed_pl.items()]
    liked = [rep_pl.entries[_resolved(p)] for p in pl.paths if _resolved(p) not in failed_pl]
    if not liked:
        why = "; ".join(f"{p}: {r}" for p, r in skipped[:3]) + (" ..." if len(skipped) > 3 else "")
        raise DatasetError(
            f"{shown_pl}: none of its {len(pl.paths) + len(pl.missing)} track(s) could be read"
            + (f": {why}" if why else "")
        )

    audio, other = collections.audio_files(lib)
    reps, failed = _sync_all(stores, audio, label="library", root=lib, **kw)
    rep = reps[0]
    print(
        f"library {lib}: {len(audio)} audio files; {rep.summary()} ({sum(r.seconds for r in reps):.1f} s)", file=stream
    )
    skipped += [(str(p), "not an audio file") for p in other]
    liked_paths = {e.path for e in liked}
    liked_twins, seen_twins = library.AudioTwins(), library.AudioTwins()
    for e in liked:
        liked_twins.add(e)
    seen_shown: dict[str, str] = {}  # resolved path -> the path as the library has it
    candidates, shown = [], []  # entries, and each one's path as the library has it (a symlink stays one)
    for p in audio:
        e = rep.entries[_resolved(p)]
        if e.path in liked_paths:
            continue
        if e.path in failed:
            skipped.append((str(p), failed[e.path]))
        elif not keep_duplicates and (twin := liked_twins.twin(e)):
            skipped.append((str(p), f"same audio as playlist track {Path(twin).name}"))
        elif twin := seen_twins.twin(e):
            skipped.append((str(p), f"same audio as {Path(seen_shown[twin]).relative_to(lib)} (ranked once)"))
        else:
            seen_twins.add(e)
            seen_shown[e.path] = str(p)
            candidates.append(e)
            shown.append(str(p))
    if skipped:
        print(f"{len(skipped)} file(s) left out:", file=stream)
        for p, reason in skipped:
            print(f"  {p}: {reason}", file=stream)
    if not candidates:
        raise DatasetError(
            f"{lib}: nothing to rank: the library has no readable audio file (of at least 8 s) outside the playlist"
        )

    inputs = rankmod.RecommenderInput(store, liked + candidates, mfcc_store=stores[1] if pipe.mfcc else None)
    scores = rankmod.score_candidates(
        inputs,
        liked,
        candidates,
        config=cfg,
        epochs=epochs,
        seed=seed,
        networks=pipe.networks,
        pool_fragments=pool_fragments,
    )
    n_fragments = sum(e.n_fragments for e in liked)
    ids = [Path(p).relative_to(lib).as_posix() for p in shown]
    ranking = metrics.rank(pd.Series(scores, index=ids))
    path_of = dict(zip(ids, shown))
    ranking.insert(0, "path", [path_of[t] for t in ranking["track_id"]])
    ranking["folder"] = [_folder_of(Path(p), lib) for p in ranking["path"]]
    ranking = ranking[["path", "score", "rank", "folder"]]
    if emb.tag_names:
        tags = store.means(candidates, "tags")
        names = np.asarray(emb.tag_names)
        top_tags = {i: ", ".join(names[np.argsort(-row)[:3]]) for i, row in zip(ids, tags)}
        ranking["tags"] = [top_tags[Path(p).relative_to(lib).as_posix()] for p in ranking["path"]]
    ranking = _per_artist(ranking, per_artist)

    print(
        f"{len(ranking)} library tracks ranked for {shown_pl} ({len(liked)} playlist track(s), {n_fragments} "
        f"fragments; {pipe.describe()}, {epochs} epochs):",
        file=stream,
    )
    head = ranking.head(top)
    files = [Path(p).relative_to(lib).as_posix() for p in head["path"]]
    width = max([len("artist/folder")] + [len(f) for f in head["folder"]])
    fwidth = max([len("file")] + [len(f) for f in files]) if emb.tag_names else 0
    print(
        f"{'rank':>4}  {'score':<6}  {'artist/folder':<{width}}  {'file':<{fwidth}}"
        + ("  tags" if emb.tag_names else ""),
        file=stream,
    )
    for i, row in enumerate(head.itertuples(index=False)):
        extra = f"  [{row.tags}]" if emb.tag_names else ""
        print(f"{row.rank:4d}  {row.score:.4f}  {row.folder:<{width}}  {files[i]:<{fwidth}}{extra}", file=stream)
    for o in outs:
        _write_out(ranking, top, o, stream)
    return ranking


def _recommend(args: argparse.Namespace) -> int:
    recommend(
        playlist=args.playlist,
        library=args.library,
        top=args.top,
        out=args.out,
        epochs=args.epochs,
        seed=args.seed,
        pipeline=args.pipeline,
        preprocessor=args.preprocessor,
        mode=args.mode,
        genre_config=args.config,
        genre_corpus=args.corpus,
        cut=args.cut,
        mfcc=args.mfcc,
        networks=args.networks,
        per_artist=args.per_artist,
        keep_duplicates=args.keep_duplicates,
        scheduler=args.scheduler,
        n_jobs=args.jobs,
        chunk_tracks=args.chunk_tracks,
        progress=not args.quiet,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from melrec_lib.app.pipeline import PIPELINES, PREPROCESSORS  # light: the table only, no network
    from melrec_lib.recsys.recommender import CONFIGS as RECOMMENDER_MODES  # light: numpy and pandas, no Keras

    parser = argparse.ArgumentParser(prog="melrec", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("corpus", help="build a built-in corpus: melrec-synth (rendered) or soundtracks (real music)")
    p.add_argument(
        "name",
        nargs="?",
        default="melrec-synth",
        choices=["melrec-synth", "soundtracks"],
        help="which built-in corpus: the synthetic one (default) or real game soundtracks from eight Debian packages",
    )
    p.add_argument("--size", default="default", choices=["default", "smoke"], help="melrec-synth: its size")
    p.add_argument(
        "--debs",
        default=None,
        metavar="DIR",
        help="soundtracks: a folder holding the eight .deb files already downloaded "
        "(default: apt-get download into data/external)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=None, help="parallel workers (default: all cores)")
    p.set_defaults(func=_corpus)

    p = sub.add_parser("train", help="train the genre CNN whose conv blocks become the preprocessor")
    p.add_argument(
        "--corpus",
        default="melrec-synth",
        help="the collection to train on: melrec-synth, melrec-synth-smoke or a folder (default melrec-synth)",
    )
    p.add_argument(
        "--config",
        default="thesis",
        choices=["thesis", "corrected"],
        help="spectrogram configuration: the thesis' input or the corrected one",
    )
    p.add_argument("--epochs", type=int, default=None, help="at most this many epochs (default 60, early-stopped)")
    p.add_argument("--per-track", type=int, default=None, help="random 8 s fragments per training track (default 25)")
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mask a random run of mel bands and of frames in every training fragment, "
        "redrawn every epoch (default: on)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--retrain", action="store_true", help="train even if a model trained with this recipe is saved")
    p.set_defaults(func=_train)

    p = sub.add_parser("recommend", help="rank a music library for the taste of one playlist")
    p.add_argument(
        "--playlist",
        required=True,
        nargs="+",
        action="extend",
        help="liked tracks: M3U/M3U8 playlists, folders or audio files (several allowed, "
        "option repeatable); missing or unreadable entries are reported and skipped",
    )
    p.add_argument("--library", required=True, help="a folder of audio files to rank")
    p.add_argument("--top", type=int, default=20, help="how many tracks to print (and to put in an .m3u --out)")
    p.add_argument(
        "--out",
        action="append",
        default=None,
        metavar="FILE",
        help="ranking.csv (the whole ranking) or playlist.m3u/.m3u8 (the top); repeatable",
    )
    p.add_argument(
        "--per-artist", type=int, default=None, metavar="K", help="at most K tracks of one artist/album folder"
    )
    p.add_argument(
        "--keep-duplicates",
        action="store_true",
        help="rank library files whose audio equals a playlist track's (left out by default)",
    )
    p.add_argument("--epochs", type=int, default=None, help="recommender epochs (default 20, as experiment 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--pipeline",
        default=None,
        choices=list(PIPELINES),
        help="a named pipeline (default: the best measured one); the flags below override "
        "single fields of it; 'thesis' = --config thesis --cut pool2 --mode thesis",
    )
    p.add_argument(
        "--preprocessor",
        default=None,
        choices=list(PREPROCESSORS),
        help="what embeds the audio: the genre CNN, or the pretrained musicnn (MSD or MTT tags)",
    )
    p.add_argument(
        "--mode",
        default=None,
        choices=list(RECOMMENDER_MODES),
        help="recommender training: 'thesis' (negatives labelled -1, MSE, SGD), 'corrected' "
        "(labels 0/1, cross-entropy, Adam) or a regularised variant of it "
        "('corrected-small': one hidden layer of 128)",
    )
    p.add_argument("--config", default=None, choices=["thesis", "corrected"], help="the genre CNN's spectrogram input")
    p.add_argument(
        "--corpus",
        default="melrec-synth",
        help="collection your genre CNN was trained on (`melrec train --corpus ...`); without "
        "one, the genre CNN shipped with melrec is used",
    )
    p.add_argument(
        "--cut",
        default=None,
        choices=["pool1", "pool2", "dense1024", "dense128"],
        help="where the genre CNN is cut to make the preprocessor (thesis: pool2)",
    )
    p.add_argument(
        "--mfcc",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="append each track's MFCC statistics to its fragment embeddings (default: as the "
        "pipeline says; on in 'best', off with --mode thesis)",
    )
    p.add_argument(
        "--networks",
        type=int,
        default=None,
        metavar="N",
        help="average the scores of N recommender networks of different seeds (default: as the "
        "pipeline says; 3 in 'best')",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the per-file work on this Dask scheduler (default $MELREC_SCHEDULER, else local processes)",
    )
    p.add_argument("--jobs", type=int, default=None, help="local worker processes (default: all cores)")
    p.add_argument("--chunk-tracks", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=_recommend)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MelrecError as exc:
        print(f"melrec: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
