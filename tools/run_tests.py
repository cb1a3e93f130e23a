"""``make test``: the notebooks' smoke chain and the other tests in two pytest processes at once.

The notebooks run one after another (each reads what the ones before it wrote), about three
minutes of mostly one core; the unit tests are four minutes of mostly one core.  Side by side on
the 2-core machine they take about as long as the longer of the two, instead of their sum.
(pytest-xdist's ``--dist loadgroup``, the usual way to keep such a chain on one worker, does not
group under pytest 9: it renames ``item._nodeid``, which pytest 9 no longer reads.)

    python tools/run_tests.py [PYTEST ARGS ...]     # make test (PYTEST_ARGS= passes arguments)

The unit tests' output streams to the terminal; the notebooks' is written to
``build/test-notebooks.log`` and printed after it.  The exit status is the first failure's
(pytest's 5, "no tests collected", counts as success when the arguments select only one side).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_TESTS = 5  # pytest's exit status when the arguments select no test


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    pytest = [sys.executable, "-m", "pytest"]
    log = ROOT / "build" / "test-notebooks.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # one JAX compilation cache for both processes (tests/conftest.py makes one per session
    # otherwise): the two sides train the same small networks, each compiled once
    cache = None
    if "JAX_COMPILATION_CACHE_DIR" not in env:
        cache = tempfile.mkdtemp(prefix="melrec-test-jax-cache-")
        env.update(
            JAX_COMPILATION_CACHE_DIR=cache,
            JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
            JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        )
    try:
        with open(log, "w", encoding="utf-8") as out:
            notebooks = subprocess.Popen(
                [*pytest, "-m", "notebooks", *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
            try:
                units = subprocess.run([*pytest, "-m", "not notebooks", *args], cwd=ROOT, env=env).returncode
            finally:
                nb = notebooks.wait()
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
    print(f"\n===== the notebooks' smoke chain ({log.relative_to(ROOT)}) =====", flush=True)
    sys.stdout.write(log.read_text(encoding="utf-8", errors="replace"))
    return combined_status(units, nb)


def combined_status(*codes: int) -> int:
    """One exit status for several pytest runs: the first failure's; 0 if every run passed or
    selected nothing (and at least one ran tests); 5 if none selected anything."""
    failures = [c for c in codes if c not in (0, NO_TESTS)]
    if failures:
        return failures[0]
    return NO_TESTS if all(c == NO_TESTS for c in codes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
