"""Compare the recorded results of a full ``make reproduce`` run with the committed ones, in two tiers.

Every value each notebook recorded with ``notebook.record`` (read back from the executed notebooks
in ``build/notebooks/``) is compared with ``figures/recorded-results.json``.  Timings and file
paths are not results and are skipped; top-level keys starting with ``_`` are not notebooks
(``_machine`` describes the machine that wrote the file).  Not part of ``make test`` (it needs a
full run).  ``docs/reproducibility.md`` explains how to read the output.

Tiers.  **exact** (same machine: CPU model, OpenBLAS core type and the library versions of
:data:`MACHINE_FIELDS` equal the recorded ``_machine``): every value equal, floats within
``--rel`` (default 1e-12) / ``--abs`` (default 0).  **cross-machine** (anything differs): one rule
per value, from the table below.  ``--tier exact|cross`` forces a tier.

Rules, one per value (the constants are defined below the imports):

  rule              applies to; accepts                                              fails in
  ----------------  ---------------------------------------------------------------  ----------
  structure         strings, booleans, dict keys, list lengths, untrained integers   both tiers
                    (counts, shapes, sizes), configuration floats (STRUCTURE): equal
  exact             every other value in the exact tier: equal, floats within        exact tier
                    --rel (default EXACT_REL = 1e-12) / --abs (default 0)
  seed-range        a trained number whose path is in every seed's records of        cross tier
                    figures/seed-spread.json: v in [min - m, max + m] over the seeds
                    and the recorded value, m = max(max - min, floor); floors:
                    trained integers (TRAINED_INTS): FLOOR_INT = 2,
                    metrics in [0, 1] (FRACTIONS): FLOOR_FRACTION = 0.01,
                    other reals (losses, scores): FLOOR_REAL_REL = 1 % of max |v|
  roc-auc-interval  a roc_auc mean with a recorded roc_auc_interval [lo, hi] and no  cross tier
                    seed spread: v in [lo - h, hi + h], h = (hi - lo) / 2
  dsp-float32       floats of the notebooks without training (DSP_NOTEBOOKS):        cross tier
                    |v - recorded| <= DSP_REL * |recorded|, DSP_REL = 1e-5
  rounding-bound    values that measure float32 rounding against another             cross tier
                    implementation (ROUNDING_MEASURES): 0 <= v <= 1e-4
  categorical       trained categorical outcomes (CATEGORICAL): a difference is      never
                    reported as "drift: categorical outcome" (it follows from the
                    numbers above it)
  unchecked         a trained number with no seed spread, interval or DSP rule:      never
                    reported and counted as "unchecked (no tolerance known)"

Why DSP_REL = 1e-5: a mel band is a float32 sum of up to ~1378 DFT-bin products.  Each addition
rounds by at most float32's epsilon 1.19e-7, so reordering the sum (another BLAS kernel) moves it
by at most ~1378 * 1.19e-7 = 1.6e-4 relative in the worst case and by ~sqrt(1378) * 1.19e-7 =
4.4e-6 when the rounding errors have random signs; 1e-5 is about twice the latter.
Why ROUNDING_BOUND: librosa's own float32 rounding depends on the machine too, so only an upper
bound is a property of our code.

    python tools/check_results.py                 # build/notebooks vs figures/recorded-results.json
    python tools/check_results.py --tier cross    # force the cross-machine tier
    python tools/check_results.py --verbose       # every value with its rule
    python tools/check_results.py --write         # make the current run (and machine) the reference

Exit status 0 when nothing breaks (drift within the tolerances is fine), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from melrec_lib import notebook, paths  # noqa: E402

#: Recorded keys that measure time or name files: they differ between runs by nature.
VOLATILE = ("elapsed_s", "ms_per_fragment", "_png", "_s_per_", "seconds", "tracks_per_s", "speedup")

# --- the cross-machine tolerances (the table above) -------------------------------------------------
EXACT_REL = 1e-12  #: the exact tier's default relative tolerance for floats
FLOOR_INT = 2  #: seed-range margin floor of a trained integer (e.g. epochs_run)
FLOOR_FRACTION = 0.01  #: seed-range margin floor of a metric in [0, 1]
FLOOR_REAL_REL = 0.01  #: seed-range margin floor of another trained real, relative to its max |v|
DSP_REL = 1e-5  #: relative tolerance of a pure DSP / parsing float (float32 rounding)
ROUNDING_BOUND = 1e-4  #: upper bound of a value that measures float32 rounding

#: Notebooks without training: their floats follow the dsp-float32 rule.
DSP_NOTEBOOKS = ("01-wav-parsing", "02-dft-mel-spectrogram")
# Path patterns below match "notebook/key/subkey[index]" from the start (re.match).
#: Values that measure float32 rounding against another implementation.
ROUNDING_MEASURES = (r"02-dft-mel-spectrogram/(librosa_max_rel_diff|fragments_vs_literal_max_abs_diff)$",)
#: Trained categorical outcomes: exact in the exact tier, reported as drift in the cross tier.
CATEGORICAL = (
    r"04-preprocessor-truncation/chosen_cut/",
    r"05-playlist-similar/test_liked\[",
    r"06-playlist-diverse/validation_liked\[",
    r"08-real-music/(chosen/|default$)",
    # the rule's walk and the targets' verdicts follow from the trained numbers too
    r"08-real-music/verdict\[\d+\]/(against|replaces|wins in|loses in)$",
    r"08-real-music/targets/.*/met$",
)
#: Integers that are trained outcomes (every other integer is structure).
TRAINED_INTS = (r"03-genre-cnn/epochs_run/", r"05-playlist-similar/within_20_percent$")
#: Floats that are configuration or counts of the data, not outcomes: structure.
STRUCTURE = (
    r"03-genre-cnn/learning_rate/",
    r"04-preprocessor-truncation/(genre|substyle)_chance$",
)
#: Trained metrics in [0, 1] (the FLOOR_FRACTION floor); other trained floats are reals.
FRACTIONS = (r"[^/]+/(.*accuracy|.*_knn|.*_linear|roc_auc|ndcg|precision|metrics_|per_soundtrack)",)

#: The machine description's fields, in the order the tier's reason names them.
MACHINE_FIELDS = {
    "cpu_model": "CPU model",
    "blas_core": "OpenBLAS core type",
    "python": "python version",
    "numpy": "numpy version",
    "scipy": "scipy version",
    "jax": "jax version",
    "jaxlib": "jaxlib version",
    "keras": "keras version",
    "librosa": "librosa version",
    "scikit-learn": "scikit-learn version",
    "ducc0": "ducc0 version",
}


def volatile(key: str) -> bool:
    return any(v in key for v in VOLATILE)


def _matches(patterns: tuple[str, ...], where: str) -> bool:
    return any(re.match(p, where) for p in patterns)


# --- the machine ------------------------------------------------------------------------------------
def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The processor's ``model name`` from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def blas_core() -> str | None:
    """The OpenBLAS core type numpy's BLAS runs (threadpoolctl's ``architecture``), or ``None``."""
    import numpy  # noqa: F401  (loads numpy's OpenBLAS so threadpoolctl sees it)

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    found = [i for i in threadpool_info() if i.get("internal_api") == "openblas"]
    numpys = [i for i in found if "numpy" in str(i.get("filepath", ""))]
    return (numpys or found or [{}])[0].get("architecture")


def describe_machine() -> dict[str, str | None]:
    """What decides a run's last bits: CPU model, BLAS core type and library versions.

    Returns
    -------
    dict
        One entry per key of :data:`MACHINE_FIELDS`; a library that is not installed is ``None``.
    """
    from importlib import metadata

    out: dict[str, str | None] = {
        "cpu_model": cpu_model(),
        "blas_core": blas_core(),
        "python": platform.python_version(),
    }
    for name in list(MACHINE_FIELDS)[3:]:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def choose_tier(recorded: dict | None, here: dict, forced: str | None = None) -> tuple[str, str]:
    """``("exact" | "cross", why)``: exact when every field of :data:`MACHINE_FIELDS` is equal.

    >>> choose_tier({"cpu_model": "A"}, {"cpu_model": "B"})
    ('cross', "CPU model differs: 'A' recorded, 'B' here")
    """
    if forced:
        return forced, f"--tier {forced} given"
    if not recorded:
        return "cross", "the reference records no machine description: no _machine entry"
    differ = [
        f"{label} differs: {recorded.get(k)!r} recorded, {here.get(k)!r} here"
        for k, label in MACHINE_FIELDS.items()
        if recorded.get(k) != here.get(k)
    ]
    if differ:
        return "cross", "; ".join(differ)
    return "exact", "same machine: CPU model, OpenBLAS core type and library versions equal the recorded ones"


# --- reading --------------------------------------------------------------------------------------
def collect(folder: Path) -> dict:
    """``{notebook name: records}`` of every executed numbered notebook in ``folder``."""
    out = {}
    for nb in notebook.notebooks():
        executed = folder / nb.name
        if executed.is_file():
            out[nb.stem] = {k: v for k, v in notebook.read_records(executed).items() if not volatile(k)}
    return out


def notebooks_of(records: dict) -> dict:
    """The notebooks of a results file: every top-level key not starting with ``_``."""
    return {k: v for k, v in records.items() if not k.startswith("_")}


def _at(tree: Any, path: tuple) -> Any:
    """The value at ``path`` (dict keys and list indices) in ``tree``; ``KeyError`` if absent."""
    for step in path:
        if isinstance(step, int) and isinstance(tree, list) and step < len(tree):
            tree = tree[step]
        elif isinstance(step, str) and isinstance(tree, dict) and step in tree:
            tree = tree[step]
        else:
            raise KeyError(path)
    return tree


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def seed_values(spread: dict | None, nb: str, path: tuple) -> list[float] | None:
    """The value at ``path`` in every seed's records of notebook ``nb``; ``None`` unless all have a number."""
    runs = (spread or {}).get("records", {}).get(nb)
    if not runs:
        return None
    try:
        values = [_at(run, path) for run in runs]
    except KeyError:
        return None
    return values if all(_number(v) for v in values) else None


# --- comparing ------------------------------------------------------------------------------------
MISSING, EXTRA = "missing in this run", "not in the reference"  #: a key's or notebook's absence


@dataclass(frozen=True)
class Finding:
    """One compared value: where, under which rule, and whether it is ``ok``, ``fail``, ``drift``
    (a categorical outcome changed: reported, not failing) or ``unchecked``."""

    where: str
    rule: str
    status: str
    got: Any
    accepted: str


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else repr(v)


def _within(got: Any, lo: float, hi: float, rule: str, where: str) -> Finding:
    ok = _number(got) and lo <= got <= hi
    return Finding(where, rule, "ok" if ok else "fail", got, f"[{_fmt(lo)}, {_fmt(hi)}]")


def _equal(got: Any, want: Any, rel: float, abs_: float) -> bool:
    if _number(got) and _number(want):
        if isinstance(got, float) and isinstance(want, float) and math.isnan(got) and math.isnan(want):
            return True
        return got == want or math.isclose(got, want, rel_tol=rel, abs_tol=abs_)
    return type(got) is type(want) and got == want


def seed_range(got: Any, want: Any, seeds: list, where: str, *, integer: bool) -> Finding:
    """The seed-range rule: ``[min - m, max + m]`` over the seeds and the recorded value."""
    values = [*seeds, want]
    lo, hi = min(values), max(values)
    if integer:
        margin = max(FLOOR_INT, hi - lo)
    elif _matches(FRACTIONS, where):
        margin = max(FLOOR_FRACTION, hi - lo)
    else:
        margin = max(FLOOR_REAL_REL * max(abs(v) for v in values), hi - lo)
    return _within(got, lo - margin, hi + margin, "seed-range", where)


def judge_leaf(got: Any, want: Any, where: str, *, tier: str, ctx: dict) -> Finding:
    """The rule for one recorded value (not a dict or list) and its outcome in ``tier``.

    ``ctx`` holds ``rel``, ``abs`` (the exact tier's tolerances), ``spread`` (the seed-spread
    file or ``None``), ``nb``, ``path`` (the value's keys and indices in the notebook's records)
    and ``intervals`` (the reference's ``roc_auc_interval`` of the notebook, or ``{}``).
    """
    categorical = _matches(CATEGORICAL, where)
    untrained_int = isinstance(want, int) and not _matches(TRAINED_INTS, where)
    if not categorical and (not _number(want) or untrained_int or _matches(STRUCTURE, where)):
        ok = _equal(got, want, ctx["rel"], ctx["abs"]) and not (isinstance(want, int) and isinstance(got, float))
        return Finding(where, "structure", "ok" if ok else "fail", got, f"== {want!r}")
    if tier == "cross" and categorical:
        same = _equal(got, want, 0.0, 0.0)
        return Finding(
            where, "categorical", "ok" if same else "drift", got, f"== {want!r} (drift: categorical outcome)"
        )
    if tier == "exact":
        ok = _equal(got, want, ctx["rel"], ctx["abs"])
        return Finding(where, "exact", "ok" if ok else "fail", got, f"== {_fmt(want)}")
    nb, path = ctx["nb"], ctx["path"]
    if nb in DSP_NOTEBOOKS:
        if _matches(ROUNDING_MEASURES, where):
            return _within(got, 0.0, ROUNDING_BOUND, "rounding-bound", where)
        return _within(got, want - abs(want) * DSP_REL, want + abs(want) * DSP_REL, "dsp-float32", where)
    seeds = seed_values(ctx["spread"], nb, path)
    if seeds is not None:
        return seed_range(got, want, seeds, where, integer=isinstance(want, int))
    interval = ctx["intervals"].get(path[1]) if len(path) == 2 and path[0] == "roc_auc" else None
    if interval is not None and len(interval) == 2:
        lo, hi = interval
        half = (hi - lo) / 2
        return _within(got, lo - half, hi + half, "roc-auc-interval", where)
    return Finding(where, "unchecked", "unchecked", got, "unchecked (no tolerance known)")


def compare(got: Any, want: Any, *, tier: str, ctx: dict, path: tuple = ()) -> list[Finding]:
    """A :class:`Finding` for every value of ``want`` (and every key or length that differs)."""
    where = ctx["nb"] + "".join(f"[{p}]" if isinstance(p, int) else f"/{p}" for p in path)
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for k in sorted(set(want) | set(got)):
            if volatile(str(k)):
                continue
            if k not in got:
                out.append(Finding(f"{where}/{k}", "structure", "fail", None, MISSING))
            elif k not in want:
                out.append(Finding(f"{where}/{k}", "structure", "fail", got[k], EXTRA))
            else:
                out += compare(got[k], want[k], tier=tier, ctx=ctx, path=(*path, k))
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return [Finding(where, "structure", "fail", f"{len(got)} values", f"{len(want)} values")]
        return [
            f for i, (g, w) in enumerate(zip(got, want)) for f in compare(g, w, tier=tier, ctx=ctx, path=(*path, i))
        ]
    if isinstance(want, (dict, list)) or isinstance(got, (dict, list)):
        return [Finding(where, "structure", "fail", got, f"== {want!r}")]
    return [judge_leaf(got, want, where, tier=tier, ctx={**ctx, "path": path})]


def check(
    got: dict, want: dict, *, tier: str, spread: dict | None = None, rel: float = EXACT_REL, abs_: float = 0.0
) -> dict[str, list[Finding]]:
    """``{notebook: findings}`` for every notebook of the reference (and of this run)."""
    got, want = notebooks_of(got), notebooks_of(want)
    out = {}
    for nb in sorted(set(want) | set(got)):
        if nb not in got:
            out[nb] = [Finding(nb, "structure", "fail", None, MISSING)]
        elif nb not in want:
            out[nb] = [Finding(nb, "structure", "fail", "(records)", EXTRA)]
        else:
            intervals = want[nb].get("roc_auc_interval") if isinstance(want[nb], dict) else None
            ctx = {"rel": rel, "abs": abs_, "spread": spread, "nb": nb, "intervals": intervals or {}}
            out[nb] = compare(got[nb], want[nb], tier=tier, ctx=ctx)
    return out


def report(findings: dict[str, list[Finding]], *, verbose: bool = False) -> tuple[list[str], bool]:
    """The lines to print and whether anything failed."""
    lines, totals = [], Counter()
    for nb, fs in findings.items():
        rules = Counter(f.rule for f in fs)
        status = Counter(f.status for f in fs)
        totals.update(status)
        lines.append(f"{nb}: " + ", ".join(f"{rule} {n}" for rule, n in sorted(rules.items())))
        for f in fs:
            if verbose or f.status in ("fail", "drift"):
                tag = {"ok": "ok", "fail": "FAIL", "drift": "drift", "unchecked": "unchecked"}[f.status]
                what = f.accepted if f.accepted in (MISSING, EXTRA) else f"got {_fmt(f.got)}, accepted {f.accepted}"
                lines.append(f"  {tag:9} {f.where}  [{f.rule}]  {what}")
        if status["unchecked"] and not verbose:
            lines.append(f"  {status['unchecked']} value(s) unchecked (no tolerance known)")
    failed = totals["fail"] > 0
    lines.append(
        f"verdict: {'FAIL' if failed else 'PASS'}: {sum(totals.values())} values, "
        f"{totals['ok']} within their rule, {totals['fail']} failing, "
        f"{totals['drift']} categorical drift(s), {totals['unchecked']} unchecked (no tolerance known)"
    )
    return lines, failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--executed",
        type=Path,
        default=paths.BUILD / "notebooks",
        help="folder of executed notebooks (default build/notebooks)",
    )
    ap.add_argument("--reference", type=Path, default=paths.FIGURES / "recorded-results.json")
    ap.add_argument(
        "--seeds",
        type=Path,
        default=paths.FIGURES / "seed-spread.json",
        help="records of notebooks 03-07 under several seeds (`make seeds`; default figures/seed-spread.json)",
    )
    ap.add_argument("--tier", choices=("exact", "cross"), help="force a tier (default: chosen by the machine)")
    ap.add_argument("--rel", type=float, default=EXACT_REL, help="exact tier: relative tolerance (default 1e-12)")
    ap.add_argument("--abs", dest="abs_", type=float, default=0.0, help="exact tier: absolute tolerance (default 0)")
    ap.add_argument("--verbose", action="store_true", help="list every value with its rule")
    ap.add_argument("--write", action="store_true", help="write this run's records and machine as the reference")
    args = ap.parse_args(argv)
    got = collect(args.executed)
    if not got:
        print(f"no executed notebooks in {args.executed}: run `make reproduce` first", file=sys.stderr)
        return 1
    here = describe_machine()
    if args.write:
        text = json.dumps({**got, "_machine": here}, indent=1, sort_keys=True) + "\n"
        args.reference.write_text(text, encoding="utf-8")
        print(f"{sum(map(len, got.values()))} recorded values of {len(got)} notebooks written to {args.reference}")
        return 0
    want = json.loads(args.reference.read_text(encoding="utf-8"))
    tier, why = choose_tier(want.get("_machine"), here, args.tier)
    print(f"tier: {'exact' if tier == 'exact' else 'cross-machine'} ({why})")
    spread = None
    if tier == "cross":
        if args.seeds.is_file():
            spread = json.loads(args.seeds.read_text(encoding="utf-8"))
            print(f"seed spread: {args.seeds} (seeds {spread.get('seeds')})")
        else:
            print(f"seed spread: none ({args.seeds} missing; `make seeds` writes it)")
    findings = check(got, want, tier=tier, spread=spread, rel=args.rel, abs_=args.abs_)
    lines, failed = report(findings, verbose=args.verbose)
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
