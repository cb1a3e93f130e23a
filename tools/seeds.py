"""Run the trained notebooks again under other seeds and write their spread: ``make seeds``.

One seed's numbers look firmer than they are: the genre CNN's held-out accuracy, the cut probes
and the simulated users' ROC-AUCs move with the seed (and with another machine's last bits, which
act like another seed).  After ``make reproduce`` (seed 0, in ``build/notebooks``), this runs
notebooks 03-07 once more per extra seed -- the genre CNNs trained anew, then everything that
uses them -- and writes ``figures/seed-spread.json``:

    {"seeds": [0, 1, 2],
     "records": {"03-genre-cnn": [<records of seed 0>, <of seed 1>, <of seed 2>], ...},
     "parameters": {"1": {"03-genre-cnn": {"SEED": 1}, ...}, ...}}

where each ``<records>`` has the structure of ``figures/recorded-results.json[notebook]``.
README's generated tables show mean ± standard deviation over these seeds
(``melrec_lib.report``), and ``tools/check_results.py`` takes its cross-machine tolerances from
them.

Each extra seed trains its own networks into ``build/seeds/seed-<n>/models``
(``MELREC_MODELS_DIR``) and shares everything else of ``data/`` with seed 0: the corpora are read
only, and every cache is keyed by its content (the embeddings by the network's weights) and
written atomically, so seeds share them safely and reuse what seed-independent work (fragments,
musicnn, MFCCs) seed 0 already cached.  The seeds' chains run
side by side in separate processes (``--jobs``); each chain's notebooks run in order.  Executed
copies go to ``build/seeds/seed-<n>/notebooks``, their figures to ``build/seeds/seed-<n>/figures``
(figures/ keeps seed 0's).

    python tools/seeds.py                  # seeds 1 and 2, two chains at once
    python tools/seeds.py --seeds 1 2 3 --jobs 1
    python tools/seeds.py --notebooks 07-evaluation   # only 07, with the seeds' networks of before
    python tools/seeds.py --collect        # only (re)write figures/seed-spread.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from melrec_lib import notebook, paths  # noqa: E402

#: The notebooks that train something, in order (04-07 use 03's genre CNNs).
TRAINED = ("03-genre-cnn", "04-preprocessor-truncation", "05-playlist-similar", "06-playlist-diverse", "07-evaluation")
SPREAD = "seed-spread.json"


def seed_parameters(stem: str, seed: int) -> dict:
    """The parameters that make notebook ``stem`` run under ``seed`` (seed 0 = the stored defaults).

    Notebook 07 draws its users and recommender seeds from ``SEEDS`` (``[0, 1]`` by default):
    seed ``n`` takes ``[2n, 2n + 1]``, so every seed's users are new ones.
    """
    if stem == "07-evaluation":
        return {"SEEDS": [2 * seed, 2 * seed + 1]}
    return {"SEED": seed}


def seed_dir(seed: int) -> Path:
    return paths.BUILD / "seeds" / f"seed-{seed}"


def _models_dir(seed: int) -> Path:
    """``build/seeds/seed-<n>/models``: the seed's own networks (``MELREC_MODELS_DIR``)."""
    models = seed_dir(seed) / "models"
    models.mkdir(parents=True, exist_ok=True)
    return models


def run_chain(seed: int, notebooks: tuple[str, ...] = TRAINED) -> None:
    """``notebooks`` (default 03-07) under ``seed``, in order, in this process (``--chain``)."""
    os.environ["MELREC_MODELS_DIR"] = str(_models_dir(seed))  # the kernels inherit it
    out, figures = seed_dir(seed) / "notebooks", seed_dir(seed) / "figures"
    for stem in notebooks:
        nb = paths.NOTEBOOKS / f"{stem}.ipynb"
        params = {**seed_parameters(stem, seed), "FIGURES_DIR": str(figures)}
        t0 = time.perf_counter()
        print(f"== seed {seed}: {stem} {params}", flush=True)
        notebook.run(nb, out_dir=out, parameters=params, progress=False)
        print(f"   seed {seed}: {stem} done ({time.perf_counter() - t0:.0f} s)", flush=True)


def _records(executed: Path, expected: dict) -> dict:
    """The records of one executed notebook, after checking it ran with ``expected`` parameters
    (papermill writes the injected ones into the copy's metadata) and to its end."""
    if not executed.is_file():
        raise SystemExit(f"{executed}: missing -- run `make reproduce` (seed 0) and `make seeds` first")
    meta = json.loads(executed.read_text()).get("metadata", {}).get("papermill", {})
    given = {k: v for k, v in meta.get("parameters", {}).items() if k != "FIGURES_DIR"}
    if given != expected:
        raise SystemExit(f"{executed}: ran with parameters {given}, expected {expected} (a smoke or partial run?)")
    if meta.get("exception"):
        raise SystemExit(f"{executed}: the run stopped with an exception")
    return notebook.read_records(executed)


def collect(seeds: list[int], notebooks: tuple[str, ...] = TRAINED) -> dict:
    """``{"seeds", "records", "parameters"}`` of ``notebooks`` from build/notebooks (seed 0) and
    build/seeds."""
    records, parameters = {}, {}
    for seed in seeds:
        folder = paths.BUILD / "notebooks" if seed == 0 else seed_dir(seed) / "notebooks"
        parameters[str(seed)] = {}
        for stem in notebooks:
            expected = {} if seed == 0 else seed_parameters(stem, seed)
            records.setdefault(stem, []).append(_records(folder / f"{stem}.ipynb", expected))
            parameters[str(seed)][stem] = expected
    return {"seeds": seeds, "records": records, "parameters": parameters}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="extra seeds (seed 0 is make reproduce's)")
    ap.add_argument("--jobs", type=int, default=2, help="seeds' chains run side by side (default 2)")
    ap.add_argument("--collect", action="store_true", help="only write figures/seed-spread.json")
    ap.add_argument(
        "--notebooks",
        nargs="+",
        default=list(TRAINED),
        help="run (in order) only these notebooks (default: 03-07; a later one reuses the networks an "
        "earlier run of the seed trained), or with --collect collect only these",
    )
    ap.add_argument("--chain", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    unknown = set(args.notebooks) - set(TRAINED)
    if unknown:
        ap.error(f"--notebooks: not among {TRAINED}: {sorted(unknown)}")
    chosen = tuple(n for n in TRAINED if n in args.notebooks)
    if args.chain is not None:
        run_chain(args.chain, chosen)
        return 0
    if any(s <= 0 for s in args.seeds):
        ap.error("extra seeds must be positive (seed 0 is the main run)")
    if not args.collect:
        t0 = time.perf_counter()

        def chain(seed: int) -> int:
            return subprocess.run([sys.executable, __file__, "--chain", str(seed), "--notebooks", *chosen]).returncode

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            codes = list(pool.map(chain, args.seeds))
        if any(codes):
            print(f"seeds: a chain failed (exit codes {dict(zip(args.seeds, codes))})", file=sys.stderr)
            return 1
        print(f"seeds {args.seeds}: {time.perf_counter() - t0:.0f} s")
    # the spread file holds every trained notebook: a run of some of them collects all
    spread = collect([0, *sorted(set(args.seeds))], chosen if args.collect else TRAINED)
    out = paths.FIGURES / SPREAD
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(spread, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out.relative_to(ROOT)}: seeds {spread['seeds']}, notebooks {', '.join(spread['records'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
