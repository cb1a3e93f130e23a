"""Compare the recorded results of a full ``make reproduce`` run with the committed ones.

A refactor that changes a number is caught here (the recommenders' habit of pinning full-size
results): every value each notebook recorded with ``notebook.record`` is compared with
``figures/recorded-results.json`` under ``math.isclose``-style tolerances.  Timings and file
paths are not results and are skipped.  Not part of ``make test`` (it needs a full run).

    python tools/check_results.py                 # build/notebooks vs figures/recorded-results.json
    python tools/check_results.py --rel 1e-3      # looser: e.g. another machine's floating point
    python tools/check_results.py --write         # make the current run the committed reference

Exit status 0 when everything matches, 1 with a list of differences otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from melrec_lib import notebook, paths

#: Recorded keys that measure time or name files: they differ between runs by nature.
VOLATILE = ("elapsed_s", "ms_per_fragment", "_png", "_s_per_")


def volatile(key: str) -> bool:
    return any(v in key for v in VOLATILE)


def collect(folder: Path) -> dict:
    """``{notebook name: records}`` of every executed numbered notebook in ``folder``."""
    out = {}
    for nb in notebook.notebooks():
        executed = folder / nb.name
        if executed.is_file():
            out[nb.stem] = {k: v for k, v in notebook.read_records(executed).items() if not volatile(k)}
    return out


def differences(got, want, *, rel: float, abs_: float, where: str = "") -> list[str]:
    """Every place where ``got`` and ``want`` differ beyond the tolerances (recursively)."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for k in sorted(set(want) | set(got)):
            if volatile(str(k)):
                continue
            if k not in got:
                out.append(f"{where}/{k}: missing in this run")
            elif k not in want:
                out.append(f"{where}/{k}: not in the reference")
            else:
                out += differences(got[k], want[k], rel=rel, abs_=abs_, where=f"{where}/{k}")
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return [f"{where}: {len(got)} values, reference {len(want)}"]
        return [
            d
            for i, (g, w) in enumerate(zip(got, want))
            for d in differences(g, w, rel=rel, abs_=abs_, where=f"{where}[{i}]")
        ]
    if (
        isinstance(want, bool)
        or isinstance(got, bool)
        or not isinstance(want, (int, float))
        or not isinstance(got, (int, float))
    ):
        return [] if got == want else [f"{where}: {got!r}, reference {want!r}"]
    if math.isclose(got, want, rel_tol=rel, abs_tol=abs_) or (math.isnan(got) and math.isnan(want)):
        return []
    return [f"{where}: {got!r}, reference {want!r}"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--executed",
        type=Path,
        default=paths.BUILD / "notebooks",
        help="folder of executed notebooks (default build/notebooks)",
    )
    ap.add_argument("--reference", type=Path, default=paths.FIGURES / "recorded-results.json")
    ap.add_argument("--rel", type=float, default=1e-9, help="relative tolerance (default 1e-9)")
    ap.add_argument("--abs", dest="abs_", type=float, default=1e-12, help="absolute tolerance")
    ap.add_argument("--write", action="store_true", help="write this run's records as the reference")
    args = ap.parse_args(argv)
    got = collect(args.executed)
    if not got:
        print(f"no executed notebooks in {args.executed}: run `make reproduce` first", file=sys.stderr)
        return 1
    if args.write:
        args.reference.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"{sum(map(len, got.values()))} recorded values of {len(got)} notebooks written to {args.reference}")
        return 0
    want = json.loads(args.reference.read_text(encoding="utf-8"))
    diffs = differences(got, want, rel=args.rel, abs_=args.abs_)
    n = sum(map(len, want.values()))
    if diffs:
        print(f"{len(diffs)} difference(s) from {args.reference.name} (rel {args.rel:g}, abs {args.abs_:g}):")
        print("\n".join(f"  {d}" for d in diffs))
        return 1
    print(
        f"all {n} recorded values of {len(want)} notebooks match {args.reference.name} "
        f"(rel {args.rel:g}, abs {args.abs_:g})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
