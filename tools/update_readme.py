"""Rewrite README.md's result tables from the files of the last full run (figures/).

python tools/update_readme.py          # rewrite the blocks in place
python tools/update_readme.py --check  # exit 1 if README differs from the files
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from melrec_lib import paths, report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    readme = paths.ROOT / "README.md"
    old = readme.read_text(encoding="utf-8")
    new = report.render(old, report.blocks())
    if args.check:
        print("README matches figures/" if new == old else "README's tables differ from figures/")
        return int(new != old)
    readme.write_text(new, encoding="utf-8")
    print("README.md tables rewritten" if new != old else "README.md already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
