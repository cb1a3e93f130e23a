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

    path = genre.train_default(corpus_size=args.corpus, epochs=args.epochs, seed=args.seed)
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
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_train)

    p = sub.add_parser("recommend", help="rank a music library for the taste of one playlist")
    p.add_argument("--playlist", required=True, help="an M3U/M3U8 playlist of liked tracks")
    p.add_argument("--library", required=True, help="a folder of audio files to rank")
    p.add_argument("--top", type=int, default=20, help="how many tracks to print")
    p.add_argument("--out", default=None, help="write the full ranking (path, score, rank) to this CSV")
    p.add_argument("--epochs", type=int, default=None, help="recommender epochs")
    p.add_argument("--seed", type=int, default=0)
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
