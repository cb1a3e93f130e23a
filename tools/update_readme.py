"""Rewrite the result tables of README.md and docs/ (results, performance, distillation) from figures/.

python tools/update_readme.py          # rewrite the generated blocks in place
python tools/update_readme.py --check  # exit 1 if any file differs from the run's files

Every table between ``<!-- begin:NAME -->`` and ``<!-- end:NAME -->`` comes from the files the last
full run wrote (``figures/recorded-results.json`` and the CSVs beside it; melrec_lib.report makes
them); a block no run file can fill is an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from melrec_lib import report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if a file is stale")
    args = ap.parse_args(argv)
    changed = report.update(write=not args.check)
    for target, differs in changed.items():
        if args.check:
            print(f"{target}: {'tables differ from figures/' if differs else 'matches figures/'}")
        else:
            print(f"{target}: {'tables rewritten' if differs else 'already up to date'}")
    return int(args.check and any(changed.values()))


if __name__ == "__main__":
    sys.exit(main())
