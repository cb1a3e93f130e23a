"""The ``melrec`` command: build the corpus, train the genre CNN, rank a library for a playlist.

Each sub-command imports its module on use, so ``melrec --help`` is instant (no Keras import).
"""
from __future__ import annotations

import argparse
import sys

from .errors import MelrecError


def _corpus(args: argparse.Namespace) -> int:
    from . import corpus

    manifest = corpus.build(size=args.size, seed=args.seed, n_jobs=args.jobs)
    print(f"{len(manifest)} tracks in {corpus.corpus_root(args.size)}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from . import genre

    path = genre.train_default(corpus_size=args.corpus, config=args.config, epochs=args.epochs, seed=args.seed,
                               per_track=args.per_track, augment=args.augment)
    print(f"genre CNN saved to {path}")
    return 0


def _recommend(args: argparse.Namespace) -> int:
    from . import recommender

    recommender.recommend_command(
        playlist=args.playlist,
        library=args.library,
        top=args.top,
        out=args.out,
        epochs=args.epochs,
        seed=args.seed,
        mode=args.mode,
        genre_config=args.config,
        genre_corpus=args.corpus,
        cut=args.cut,
        progress=not args.quiet,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="melrec", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("corpus", help="render the synthetic 9-genre corpus (melrec-synth)")
    p.add_argument("--size", default="default", choices=["default", "smoke"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=None, help="parallel workers (default: all cores)")
    p.set_defaults(func=_corpus)

    p = sub.add_parser("train", help="train the genre CNN whose conv blocks become the preprocessor")
    p.add_argument("--corpus", default="default", choices=["default", "smoke"])
    p.add_argument("--config", default="thesis", choices=["thesis", "corrected"],
                   help="spectrogram configuration: the thesis' input or the corrected one")
    p.add_argument("--epochs", type=int, default=None, help="at most this many epochs (default 60, early-stopped)")
    p.add_argument("--per-track", type=int, default=None,
                   help="random 8 s fragments per training track (default 25)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="mask a random run of mel bands and of frames in every training fragment, "
                        "redrawn every epoch (default: on)")
    p.add_argument("--seed", type=int, default=0)
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
    p.add_argument("--corpus", default="default", choices=["default", "smoke"],
                   help="corpus the genre CNN was trained on (`melrec train --corpus ...`)")
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
