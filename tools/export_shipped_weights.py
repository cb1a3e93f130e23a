"""Write the genre-CNN preprocessor that ships in the package (melrec_lib/weights/) from a trained model.

Usage::

    python tools/export_shipped_weights.py [--data-dir data] [--corpus melrec-synth]
                                           [--config corrected] [--cut dense1024] [--dtype float16]

Reads ``<data-dir>/models/genre-cnn-<config>-<corpus>.keras`` (what ``make reproduce`` or
``melrec train`` saved), writes ``melrec_lib/weights/genre-cnn-<config>-<cut>.npz`` and its ``.json``
sidecar (:func:`melrec_lib.nets.shipped.export_preprocessor`), then loads them back and prints the
float16 copy's relative error on the reference fragment and whether the recipe is the code's default.
Defaults come from :data:`melrec_lib.app.pipeline.DEFAULT_PIPELINE`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(root / "data"), help="the data folder holding models/")
    parser.add_argument("--corpus", default="melrec-synth", help="the collection the model was trained on")
    parser.add_argument("--config", default=None, help="spectrogram input (default: the default pipeline's)")
    parser.add_argument("--cut", default=None, help="the last layer stored (default: the default pipeline's)")
    parser.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    parser.add_argument("--folder", default=None, help="write here instead of melrec_lib/weights/")
    args = parser.parse_args(argv)
    os.environ["MELREC_DATA_DIR"] = str(Path(args.data_dir).expanduser().resolve())

    from melrec_lib.app import pipeline
    from melrec_lib.nets import saved, shipped

    default = pipeline.resolve()
    config, cut = args.config or default.config, args.cut or default.cut
    model = saved.load(corpus=args.corpus, config=config)
    npz = shipped.export_preprocessor(model, cut=cut, dtype=args.dtype, folder=args.folder)
    meta = shipped.find(config=config, cut=cut, folder=npz.parent)
    err = shipped.check(shipped.load(config=config, cut=cut, folder=npz.parent, check_recipe=False))
    size = npz.stat().st_size + npz.with_suffix(".json").stat().st_size
    print(
        f"wrote {npz} and its sidecar: {size / 2**20:.2f} MiB, {args.dtype}; reference fragment relative "
        f"error {err:.2e} (limit {shipped.REFERENCE_RTOL:g})"
    )
    reasons = shipped.stale_reasons(meta)
    print(
        "recipe: the code's default" if not reasons else "recipe differs from the code's default: " + "; ".join(reasons)
    )
    return 0 if not reasons else 1


if __name__ == "__main__":
    sys.exit(main())
