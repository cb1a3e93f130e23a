"""The ``melrec`` command: build a corpus, train the genre CNN, rank a library for a playlist.

All of the command line's glue lives here (argument parsing, reading playlists and libraries,
printing and writing the ranking); the modules below it only compute.  Each sub-command
imports what it needs on use, so ``melrec --help`` is instant (no Keras import).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import DatasetError, MelrecError, check_int

#: Built-in collections by name (``--corpus``): melrec-synth's two sizes.
SYNTH_SIZES = {"melrec-synth": "default", "melrec-synth-smoke": "smoke"}


def load_collection(name: str):
    """The manifest of a built-in collection (``melrec-synth``, ``melrec-synth-smoke``,
    ``soundtracks``) or of a folder of audio files."""
    from . import corpus, datasets

    if name in SYNTH_SIZES:
        return corpus.load_manifest(SYNTH_SIZES[name])
    if name == "soundtracks":
        from . import soundtracks

        return soundtracks.load_manifest()
    if Path(name).expanduser().is_dir():
        return datasets.from_folder(Path(name).expanduser())
    raise DatasetError(f"unknown collection {name!r}: use one of {sorted(SYNTH_SIZES) + ['soundtracks']} "
                       f"or a folder of audio files")


def _corpus(args: argparse.Namespace) -> int:
    from . import corpus

    if args.name == "soundtracks":
        from . import soundtracks

        manifest = soundtracks.build(debs=args.debs, n_jobs=args.jobs)
        print(f"{len(manifest)} tracks in {soundtracks.corpus_root()} "
              f"({len(manifest.attrs['skipped'])} other audio files skipped: see skipped.csv)")
        return 0
    manifest = corpus.build(size=args.size, seed=args.seed, n_jobs=args.jobs)
    print(f"{len(manifest)} tracks in {corpus.corpus_root(args.size)}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from . import trained
    from .recipe import GenreRecipe

    fields = {k: v for k, v in (("per_track", args.per_track), ("epochs", args.epochs),
                                ("augment", args.augment)) if v is not None}
    recipe = GenreRecipe(config=args.config, seed=args.seed, **fields)
    model = trained.ensure(corpus=load_collection(args.corpus), recipe=recipe, retrain=args.retrain)
    print(f"genre CNN at {model.path}: held-out fragment accuracy {model.fragment_accuracy:.3f}, "
          f"track accuracy {model.track_accuracy:.3f}")
    return 0


def recommend(
    *,
    playlist: str,
    library: str,
    top: int = 20,
    out: str | None = None,
    epochs: int | None = None,
    seed: int = 0,
    mode: str = "corrected",
    genre_config: str = "thesis",
    genre_corpus: str = "melrec-synth",
    cut: str = "pool2",
    progress: bool = True,
    stream=None,
):
    """Rank a music library for the taste of one playlist (``melrec recommend``).

    Reads the playlist (``datasets.read_m3u``), embeds every track of the library with the
    trained preprocessor (consecutive 8 s fragments; fragments and embeddings are cached
    between runs), trains the user's recommender on the playlist's fragments against the
    fragments of the rest of the library, and returns (prints, writes) the ranking of the
    library's tracks that are not in the playlist.

    Returns
    -------
    pd.DataFrame
        Columns ``path, score, rank``, best first.

    Raises
    ------
    DatasetError
        an empty playlist, a playlist with missing entries or none readable, a library with
        nothing left to rank.
    ModelNotFoundError
        no trained genre model yet (naming ``melrec train``).
    """
    from . import datasets, embeddings, recommender, trained

    stream = stream or sys.stdout
    check_int(top, "--top", minimum=1)
    epochs = recommender.EXPERIMENT1_EPOCHS if epochs is None else check_int(epochs, "epochs", minimum=1)
    seed = check_int(seed, "seed")
    cfg = recommender.get_config(mode)

    pl = datasets.read_m3u(playlist)
    if not pl.paths and not pl.missing:
        raise DatasetError(f"{playlist}: the playlist is empty (no entries)")
    if pl.missing:
        shown = ", ".join(repr(m) for m in pl.missing[:3]) + (" ..." if len(pl.missing) > 3 else "")
        raise DatasetError(f"{playlist}: {len(pl.missing)} playlist entr{'y' if len(pl.missing) == 1 else 'ies'} "
                           f"not found: {shown}")
    lib = Path(library).expanduser()
    if not lib.is_dir():
        raise DatasetError(f"{lib}: no such library folder")
    model = trained.load(corpus=genre_corpus, config=genre_config)  # ModelNotFoundError

    liked = datasets.from_paths(pl.paths, progress=progress)
    if len(liked) == 0:
        skipped = liked.attrs.get("skipped")
        why = ""
        if skipped is not None and len(skipped):
            why = ": " + "; ".join(f"{Path(p).name}: {r}" for p, r in skipped.head(3).itertuples(index=False))
        raise DatasetError(f"{playlist}: none of its {len(pl.paths)} track(s) could be read{why}")
    candidates = datasets.from_folder(lib, progress=progress)
    liked_paths = {Path(p).resolve() for p in liked["path"]}
    candidates = candidates[~candidates["path"].map(lambda p: Path(p).resolve() in liked_paths)]
    candidates = candidates.reset_index(drop=True)
    if len(candidates) == 0:
        raise DatasetError(f"{lib}: nothing to rank: the library has no readable audio file (of at least "
                           f"8 s) outside the playlist")
    P = embeddings.embed(liked, model, cut=cut, progress=progress)
    N = embeddings.embed(candidates, model, cut=cut, progress=progress)
    rec = recommender.fit(P.X, N.X, epochs=epochs, config=cfg, seed=seed)
    ranking = recommender.rank(rec.score_tracks(N.X, N.track))
    path_of = dict(zip(candidates["track_id"].astype(str), candidates["path"]))
    ranking.insert(0, "path", [str(path_of[t]) for t in ranking["track_id"]])
    ranking = ranking[["path", "score", "rank"]]
    print(f"{len(ranking)} library tracks ranked for {Path(playlist).name} ({len(liked)} playlist "
          f"track(s), {len(P.X)} fragments; {cfg.name} recommender, {epochs} epochs):", file=stream)
    for row in ranking.head(top).itertuples(index=False):
        print(f"{row.rank:4d}  {row.score:.4f}  {row.path}", file=stream)
    if out is not None:
        out = Path(out).expanduser()
        out.parent.mkdir(parents=True, exist_ok=True)
        ranking.to_csv(out, index=False)
        print(f"ranking written to {out}", file=stream)
    return ranking


def _recommend(args: argparse.Namespace) -> int:
    recommend(playlist=args.playlist, library=args.library, top=args.top, out=args.out, epochs=args.epochs,
              seed=args.seed, mode=args.mode, genre_config=args.config, genre_corpus=args.corpus, cut=args.cut,
              progress=not args.quiet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="melrec", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("corpus", help="build a built-in corpus: melrec-synth (rendered) or soundtracks (real music)")
    p.add_argument("name", nargs="?", default="melrec-synth", choices=["melrec-synth", "soundtracks"],
                   help="which built-in corpus: the synthetic one (default) or real game soundtracks from "
                        "eight Debian packages")
    p.add_argument("--size", default="default", choices=["default", "smoke"], help="melrec-synth: its size")
    p.add_argument("--debs", default=None, metavar="DIR",
                   help="soundtracks: a folder holding the eight .deb files already downloaded "
                        "(default: apt-get download into data/external)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=None, help="parallel workers (default: all cores)")
    p.set_defaults(func=_corpus)

    p = sub.add_parser("train", help="train the genre CNN whose conv blocks become the preprocessor")
    p.add_argument("--corpus", default="melrec-synth",
                   help="the collection to train on: melrec-synth, melrec-synth-smoke or a folder "
                        "(default melrec-synth)")
    p.add_argument("--config", default="thesis", choices=["thesis", "corrected"],
                   help="spectrogram configuration: the thesis' input or the corrected one")
    p.add_argument("--epochs", type=int, default=None, help="at most this many epochs (default 60, early-stopped)")
    p.add_argument("--per-track", type=int, default=None,
                   help="random 8 s fragments per training track (default 25)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="mask a random run of mel bands and of frames in every training fragment, "
                        "redrawn every epoch (default: on)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--retrain", action="store_true",
                   help="train even if a model trained with this recipe is saved")
    p.set_defaults(func=_train)

    p = sub.add_parser("recommend", help="rank a music library for the taste of one playlist")
    p.add_argument("--playlist", required=True, help="an M3U/M3U8 playlist of liked tracks")
    p.add_argument("--library", required=True, help="a folder of audio files to rank")
    p.add_argument("--top", type=int, default=20, help="how many tracks to print")
    p.add_argument("--out", default=None, help="write the full ranking (path, score, rank) to this CSV")
    p.add_argument("--epochs", type=int, default=None, help="recommender epochs (default 20, as experiment 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", default="corrected", choices=["thesis", "corrected"],
                   help="recommender training: 'thesis' (negatives labelled -1, MSE, SGD) or "
                        "'corrected' (labels 0/1, cross-entropy, Adam; default)")
    p.add_argument("--config", default="thesis", choices=["thesis", "corrected"],
                   help="spectrogram configuration of the trained genre CNN to use")
    p.add_argument("--corpus", default="melrec-synth",
                   help="collection the genre CNN was trained on (`melrec train --corpus ...`)")
    p.add_argument("--cut", default="pool2", choices=["pool1", "pool2", "dense1024", "dense128"],
                   help="where the genre CNN is cut to make the preprocessor (thesis: pool2)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
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
