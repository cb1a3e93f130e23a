"""The ``melrec`` command: build a corpus, train the genre CNN, rank a library for a playlist.

Only the command line's glue lives here: argument parsing, then printing and writing what the
library returns (``melrec recommend`` calls :func:`melrec_lib.app.recommend.recommend` and prints
its :class:`~melrec_lib.app.recommend.Recommendation`).  Each sub-command imports what it needs on
use, so ``melrec --help`` is instant (no Keras import).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from melrec_lib.errors import DatasetError, MelrecError, check_int

#: Built-in collections by name (``--corpus``): melrec-synth's two sizes.
SYNTH_SIZES = {"melrec-synth": "default", "melrec-synth-smoke": "smoke"}


def load_collection(name: str):
    """The manifest of a built-in collection (``melrec-synth``, ``melrec-synth-smoke``,
    ``soundtracks``, ``soundtracks-confirmation``) or of a folder of audio files."""
    from melrec_lib.corpora import melrec_synth
    from melrec_lib.io import collections

    if name in SYNTH_SIZES:
        return melrec_synth.load_manifest(SYNTH_SIZES[name])
    if name in ("soundtracks", "soundtracks-confirmation"):
        from melrec_lib.corpora import soundtracks

        return soundtracks.load_manifest(library="confirmation" if name.endswith("confirmation") else "development")
    if Path(name).expanduser().is_dir():
        return collections.from_folder(Path(name).expanduser())
    raise DatasetError(
        f"unknown collection {name!r}: use one of "
        f"{sorted(SYNTH_SIZES) + ['soundtracks', 'soundtracks-confirmation']} or a folder of audio files"
    )


def _corpus(args: argparse.Namespace) -> int:
    from melrec_lib.corpora import melrec_synth

    if args.name == "soundtracks":
        from melrec_lib.corpora import soundtracks

        manifest = soundtracks.build(library=args.library, debs=args.debs, n_jobs=args.jobs)
        print(
            f"{len(manifest)} tracks in {soundtracks.corpus_root(args.library)} "
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
            for x in (f"#EXTINF:-1,{_label(r) or Path(r.path).stem}", str(r.path))
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"playlist of the top {min(top, len(ranking))} written to {path}", file=stream)
    else:
        raise DatasetError(f"--out {out}: write a .csv (the ranking) or a .m3u/.m3u8 (a playlist of the top)")


def _print_left_out(left_out, stream) -> None:
    if left_out:
        print(f"{len(left_out)} file(s) left out:", file=stream)
        for p, reason in left_out:
            print(f"  {p}: {reason}", file=stream)


def _label(row) -> str:
    """``"Artist — Title"`` from a ranking row's tags (either alone), ``""`` when it has neither."""
    return " — ".join(p for p in (getattr(row, "artist", ""), getattr(row, "title", "")) if isinstance(p, str) and p)


def print_ranking(result, top: int, stream) -> None:
    """The ranked part of ``melrec recommend``'s output: a header line and the ``top`` tracks.

    Each track shows as ``Artist — Title`` where its file is tagged, else as its file name
    relative to the library."""
    ranking, lib = result.ranking, result.library
    tagged = "tags" in ranking.columns
    print(
        f"{len(ranking)} library tracks ranked for {result.playlist} ({len(result.liked)} playlist track(s), "
        f"{result.n_fragments} fragments; {result.pipeline.describe()}"
        + ("):" if result.epochs is None else f", {result.epochs} epochs):"),
        file=stream,
    )
    head = ranking.head(top)
    labels = [_label(r) for r in head.itertuples(index=False)]
    files = [lab or Path(p).relative_to(lib).as_posix() for lab, p in zip(labels, head["path"])]
    what = "artist — title / file" if any(labels) else "file"
    width = max([len("artist/folder")] + [len(f) for f in head["folder"]])
    fwidth = max([len(what)] + [len(f) for f in files]) if tagged else 0
    print(
        f"{'rank':>4}  {'score':<6}  {'artist/folder':<{width}}  {what:<{fwidth}}" + ("  tags" if tagged else ""),
        file=stream,
    )
    for i, row in enumerate(head.itertuples(index=False)):
        extra = f"  [{row.tags}]" if tagged else ""
        print(f"{row.rank:4d}  {row.score:.4f}  {row.folder:<{width}}  {files[i]:<{fwidth}}{extra}", file=stream)


def _recommend(args: argparse.Namespace, stream=None) -> int:
    """``melrec recommend``: the flags to :func:`melrec_lib.app.recommend.recommend`, its result printed and written."""
    from melrec_lib.app import pipeline as pipemod
    from melrec_lib.app.recommend import NothingToRankError, Options, recommend

    stream = stream or sys.stdout
    check_int(args.top, "--top", minimum=1)
    if args.per_artist is not None:
        check_int(args.per_artist, "--per-artist", minimum=1)
    if args.per_album is not None:
        check_int(args.per_album, "--per-album", minimum=1)
    options = Options(
        epochs=args.epochs,
        seed=args.seed,
        per_artist=args.per_artist,
        per_album=args.per_album,
        keep_duplicates=args.keep_duplicates,
        genre_corpus=args.corpus,
        scheduler=args.scheduler,
        n_jobs=args.jobs,
        chunk_tracks=args.chunk_tracks,
        progress=not args.quiet,
    )
    outs = list(args.out or [])
    for o in outs:
        if Path(o).suffix.lower() not in (".csv", ".m3u", ".m3u8"):
            raise DatasetError(f"--out {o}: write a .csv (the ranking) or a .m3u/.m3u8 (a playlist of the top)")
    pipe = pipemod.resolve(
        args.pipeline,
        preprocessor=args.preprocessor,
        config=args.config,
        cut=args.cut,
        mode=args.mode,
        mfcc=args.mfcc,
        networks=args.networks,
        patches=args.patches,
        fusion=args.fusion,
    )
    try:
        result = recommend(
            args.playlist, args.library, pipeline=pipe, options=options, log=lambda line: print(line, file=stream)
        )
    except NothingToRankError as exc:
        _print_left_out(exc.left_out, stream)
        raise
    _print_left_out(result.left_out, stream)
    print_ranking(result, args.top, stream)
    for o in outs:
        _write_out(result.ranking, args.top, o, stream)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from melrec_lib.app.pipeline import PIPELINES, PREPROCESSORS  # light: the table only, no network
    from melrec_lib.recsys.recommender import CONFIGS as RECOMMENDER_MODES  # light: numpy and pandas, no Keras
    from melrec_lib.recsys.scoring import KNN_K, TRAINING_FREE  # light: numpy

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
    p.add_argument(
        "--library",
        default="development",
        choices=["development", "confirmation"],
        help="soundtracks: the development library (collection soundtracks, default) or the confirmation one "
        "(soundtracks-confirmation, seven other packages: only to confirm and report)",
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
        "--per-artist",
        type=int,
        default=None,
        metavar="K",
        help="at most K tracks of one artist (the artist tag, else the file's artist/album folder)",
    )
    p.add_argument(
        "--per-album",
        type=int,
        default=None,
        metavar="K",
        help="at most K tracks of one album (the album tag, else the file's folder)",
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
        help="a named pipeline (default: the one notebook 08's selection rule chose); the flags below override "
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
        choices=list(RECOMMENDER_MODES) + list(TRAINING_FREE),
        help="how the library is scored: a per-user recommender trained on the playlist, 'thesis' "
        "(negatives labelled -1, MSE, SGD), 'corrected' (labels 0/1, cross-entropy, Adam) or a "
        "regularised variant of it ('corrected-small': one hidden layer of 128); or, training "
        "nothing (instant on a warm cache), on the pipeline's track-mean features standardised "
        "over playlist and library: 'centroid' (cosine to the playlist's centroid) or 'knn' "
        f"(mean cosine to the playlist's {KNN_K} nearest tracks)",
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
        "--fusion",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rank-average the per-user network's scores with the centroid's on the same "
        "features (default: as the pipeline says; off with --mode thesis)",
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
        "--patches",
        default=None,
        metavar="N",
        help="musicnn: embed at most N 3 s patches per track, spread evenly, decoding only those "
        "(a long file costs what a short one does); 0 or 'all': every patch (default: the "
        "pipeline's, chosen on the development library)",
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
