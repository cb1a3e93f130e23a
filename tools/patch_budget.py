"""Choose ``melrec recommend``'s patch budget (issue 19, part 3): at most N musicnn patches per track.

The rule, fixed before any confirmation number was computed:

    On the DEVELOPMENT library (``soundtracks``), notebook 08's development users (seeds 0, 1, 2,
    8 users per protocol and seed), both protocols (similar, diverse), the default pipeline's
    method (``pipeline.resolve().method()``) scored by ``benchmark.evaluate_methods`` as
    notebook 08 does (20 epochs), with each track's musicnn patches subsampled to the N a
    budget keeps (``melrec_lib.nets.budget.subsample``: the positions ``melrec recommend
    --patches N`` embeds).  The default budget is the smallest N of the list whose mean ROC-AUC
    is at most 0.005 below that of every patch (the paired mean difference, N minus all,
    >= -0.005) in BOTH protocols; if none is, every patch.

Then, and only then, the chosen N and every patch are reported on the CONFIRMATION library
(``soundtracks-confirmation``, notebook 08's report users, seeds 3-8) and on melrec-synth, whatever
they say.  Each run adds its rows to ``figures/patch-budget.csv`` (library, split, protocol, N,
n_users, roc_auc with its interval, the paired difference against every patch with its
interval), replacing earlier rows of the same library and split:

    python tools/patch_budget.py --library soundtracks --split dev            # chooses, prints N
    python tools/patch_budget.py --library soundtracks-confirmation --split report --budgets 8 all
    python tools/patch_budget.py --library melrec-synth --split report --budgets 8 all

Everything uses ``MELREC_DATA_DIR``'s caches (the musicnn patch embeddings of every patch and the
MFCC statistics, computed there when missing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from melrec_lib.app import pipeline  # noqa: E402
from melrec_lib.nets import budget  # noqa: E402
from melrec_lib.nets.embeddings import Embedded  # noqa: E402
from melrec_lib.recsys import benchmark, selection, users  # noqa: E402
from melrec_lib.recsys.metrics import confidence_interval  # noqa: E402

#: notebook 08's users and training (its parameters cell)
DEV_SEEDS = [0, 1, 2]
REPORT_SEEDS = [3, 4, 5, 6, 7, 8]
N_USERS = 8
EPOCHS = 20
BUDGETS = ["4", "8", "16", "32", "all"]
#: the rule: a budget may lose at most this much mean ROC-AUC against every patch, in both protocols
TOLERANCE = 0.005
CSV = ROOT / "figures" / "patch-budget.csv"
COLUMNS = [
    "library",
    "split",
    "protocol",
    "N",
    "n_users",
    "roc_auc",
    "roc_auc_lo",
    "roc_auc_hi",
    "difference",
    "difference_lo",
    "difference_hi",
    "method",
]


def label(N: int) -> str:
    """``"all"`` for every patch, else the count as text."""
    return "all" if N == budget.ALL else str(N)


def load_manifest(library: str) -> pd.DataFrame:
    """``soundtracks``, ``soundtracks-confirmation`` or ``melrec-synth[:size]``."""
    if library.startswith("melrec-synth"):
        from melrec_lib.corpora import melrec_synth

        return melrec_synth.load_manifest(library.partition(":")[2] or "default")
    from melrec_lib.corpora import soundtracks

    names = {soundtracks.NAME: soundtracks.DEVELOPMENT, soundtracks.CONFIRMATION_NAME: "confirmation"}
    return soundtracks.load_manifest(names.get(library, library))


def evaluate(
    manifest: pd.DataFrame,
    split_users: list,
    budgets: list[int],
    *,
    method: str,
    epochs: int = EPOCHS,
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """Per-user results of ``method`` with each budget's patches (one row per user and budget).

    The musicnn embeddings of every patch are computed once (cached); each budget keeps the
    rows :func:`melrec_lib.nets.budget.subsample` picks.  ``method`` column: the budget's label.
    """
    full = benchmark.musicnn_embedded(manifest, model="MSD_musicnn", layer="penultimate")
    mfcc = benchmark.mfcc_statistics(manifest, progress=False) if "mfcc" in method else None
    out = []
    for N in budgets:
        X, track = budget.subsample(full.X, full.track, N)
        data = benchmark.EvalData(embeddings={full.cut: Embedded(X=X, track=track, cut=full.cut)}, mfcc=mfcc)
        res = benchmark.evaluate_methods(
            split_users, data, methods=[method], epochs=epochs, n_jobs=n_jobs, progress=False
        )
        print(f"  N={label(N)}: {len(X)} patch rows; mean ROC-AUC by protocol:", flush=True)
        print(res.groupby("protocol")["roc_auc"].mean().round(4).to_string(), flush=True)
        out.append(res.assign(method=label(N), pipeline_method=method))
    return pd.concat(out, ignore_index=True)


def summarize(results: pd.DataFrame, *, library: str, split: str, method: str) -> pd.DataFrame:
    """One row per (protocol, budget): mean ROC-AUC and its interval, the paired difference
    against every patch (``selection.paired_differences``) and its bootstrap interval."""
    rows = []
    for protocol in dict.fromkeys(results["protocol"]):
        g = results[results["protocol"] == protocol]
        for N in dict.fromkeys(g["method"]):
            auc = g.loc[g["method"] == N, "roc_auc"].to_numpy()
            mean, lo, hi = confidence_interval(auc)
            diff = selection.paired_differences(results, N, "all", protocol=protocol)
            d, dlo, dhi = confidence_interval(diff.to_numpy())
            rows.append([library, split, protocol, N, len(auc), mean, lo, hi, d, dlo, dhi, method])
    return pd.DataFrame(rows, columns=COLUMNS)


def choose(summary: pd.DataFrame, tolerance: float = TOLERANCE) -> str:
    """The rule: the smallest budget whose paired mean difference against every patch is
    >= -tolerance in every protocol of ``summary``; ``"all"`` if none is.

    >>> s = pd.DataFrame({"protocol": ["a", "a", "b", "b"], "N": ["4", "8", "4", "8"],
    ...                   "difference": [-0.01, -0.004, -0.001, 0.002]})
    >>> choose(s)
    '8'
    """
    ok = summary.groupby("N")["difference"].min() >= -tolerance
    counts = sorted((int(n) for n in ok.index[ok] if n != "all"))
    return str(counts[0]) if counts else "all"


def write(summary: pd.DataFrame, path: Path = CSV) -> None:
    """Add ``summary`` to the CSV, replacing earlier rows of the same library and split."""
    if path.is_file():
        old = pd.read_csv(path, dtype={"N": str})
        keep = ~(old["library"].isin(summary["library"]) & old["split"].isin(summary["split"]))
        summary = pd.concat([old[keep], summary], ignore_index=True)
    summary.to_csv(path, index=False, float_format="%.4f")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--library", default="soundtracks")
    ap.add_argument("--split", choices=("dev", "report"), default="dev")
    ap.add_argument("--budgets", nargs="+", default=BUDGETS)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--n-users", type=int, default=N_USERS)
    ap.add_argument("--n-jobs", type=int, default=None)
    ap.add_argument("--raw", type=Path, default=None, help="also write the per-user results here")
    ap.add_argument("--csv", type=Path, default=CSV)
    args = ap.parse_args(argv)

    budgets = list(dict.fromkeys(budget.check_budget(b) for b in args.budgets))
    if budget.ALL not in budgets:
        budgets.append(budget.ALL)  # the reference every budget is paired against
    method = pipeline.resolve().method()
    manifest = load_manifest(args.library)
    seeds = DEV_SEEDS if args.split == "dev" else REPORT_SEEDS
    split_users = users.library_all(manifest, seeds=seeds, n_users=args.n_users)
    print(f"{args.library} ({len(manifest)} tracks), {args.split} users: {len(split_users)}; method {method}")
    results = evaluate(manifest, split_users, budgets, method=method, epochs=args.epochs, n_jobs=args.n_jobs)
    if args.raw is not None:
        results.assign(library=args.library, split=args.split).to_csv(args.raw, index=False)
    summary = summarize(results, library=args.library, split=args.split, method=method)
    write(summary, args.csv)
    with pd.option_context("display.width", 200):
        print(summary.drop(columns=["method", "library"]).round(4).to_string(index=False))
    if args.split == "dev":
        print(f"the rule (difference >= -{TOLERANCE} in both protocols) chooses N = {choose(summary)}")
    else:
        print("report split: not used to choose")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
