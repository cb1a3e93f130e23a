"""The documents' result tables, generated from the files a full run writes (never typed by hand).

``make reproduce`` leaves every notebook's recorded numbers (``tools/check_results.py --write``
stores them in ``figures/recorded-results.json``), the evaluation summaries
(``figures/nb07-summary.csv``, ``figures/nb08-summary.csv``, ``figures/nb09-summary.csv``) and
the notebooks' run times (``figures/notebook-timings.csv``).  :func:`blocks` turns them into
Markdown tables and :func:`render` puts each between its ``<!-- begin:NAME -->`` /
``<!-- end:NAME -->`` markers; :func:`update` does so in every file of :data:`TARGETS`
(``python tools/update_readme.py``).  A test checks that those files match the run's files and
that every table is shown somewhere.

README is the manual: for notebooks 07 and 08 it shows the *headline* blocks (``nb07-headline``,
``nb08-headline``: the methods of :data:`NB07_HEADLINE` / :data:`NB08_HEADLINE`, in that order);
the full tables (``nb07``, ``nb08``) are in docs/results.md.  For notebook 09 (``nb09-headline``)
it shows the distilled network's rows and :data:`NB09_HEADLINE`; the full table (``nb09``) is in
docs/distillation.md.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from melrec_lib import paths
from melrec_lib.errors import DatasetError

__all__ = [
    "RECORDS",
    "TARGETS",
    "load_records",
    "SPREAD",
    "load_spread",
    "seed_values",
    "genre_table",
    "cut_table",
    "experiments_table",
    "NB07_HEADLINE",
    "NB08_HEADLINE",
    "NB09_HEADLINE",
    "headline_methods",
    "summary_table",
    "per_group_table",
    "library_table",
    "verdict_table",
    "targets_table",
    "timings_table",
    "SPEED",
    "speed_table",
    "blocks",
    "render",
    "markers",
    "update",
]

RECORDS = "recorded-results.json"
#: Written by ``make seeds`` (``tools/seeds.py``): the trained notebooks' records under several seeds.
SPREAD = "seed-spread.json"
#: The Markdown files, relative to the repository root, whose marked blocks are generated.
TARGETS = ("README.md", "docs/results.md", "docs/performance.md", "docs/distillation.md")
#: README's rows of notebook 07's table (melrec-synth), in order: chance, the simplest and the
#: strongest simple baseline on the thesis-input CNN, the thesis' recommender as written and
#: corrected, the corrected recommender on the corrected-input CNN, musicnn's centroid and
#: musicnn with the corrected recommender.
NB07_HEADLINE = (
    "random",
    "mfcc-centroid",
    "logreg",
    "recommender-thesis",
    "recommender-corrected",
    "recommender-corrected@corrected/pool2",
    "centroid@musicnn-msd/penultimate",
    "recommender-corrected@musicnn-msd/penultimate",
)
#: README's rows of notebook 08's table (real music), in order: chance, the MFCC centroid, the
#: peers (musly, bliss), the thesis' pipeline, the ``corrected`` pipeline, musicnn's centroid
#: (the selection rule's start), the previous default and today's; the default the run's
#: records name is added (in bold) if it is not among them.
NB08_HEADLINE = (
    "random",
    "centroid@mfcc",
    "musly-mean",
    "bliss-mean",
    "recommender-thesis@thesis/pool2",
    "recommender-corrected@corrected/dense1024",
    "centroid@musicnn-msd/penultimate",
    "recommender-corrected-small-avg3@musicnn-msd/penultimate+mfcc",
    "recommender-corrected-small@musicnn-msd/penultimate",
)
#: README's rows of notebook 09's table besides the distilled network's own (every ``@distilled/``
#: method of the run): musicnn's centroid, the reference of the issue's target.
NB09_HEADLINE = ("centroid@musicnn-msd/penultimate",)
_MARK = re.compile(r"(<!-- begin:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end:(?P=name) -->)", re.S)


def load_records(figures: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """``{notebook: records}`` from ``figures/recorded-results.json``."""
    path = Path(figures or paths.FIGURES) / RECORDS
    if not path.is_file():
        raise DatasetError(
            f"{path}: no recorded results; run `make reproduce` then `python tools/check_results.py --write`"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def load_spread(figures: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """``figures/seed-spread.json`` (``{"seeds", "records": {notebook: [records per seed]}}``), or
    None when ``make seeds`` has not been run."""
    path = Path(figures or paths.FIGURES) / SPREAD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def seed_values(spread: dict | None, notebook: str, *keys: str) -> list[float] | None:
    """The value at ``records[keys[0]][keys[1]]...`` of ``notebook`` under every seed of ``spread``,
    or None when there is no spread or a seed lacks it."""
    if not spread or notebook not in spread.get("records", {}):
        return None
    out = []
    for records in spread["records"][notebook]:
        value = records
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        out.append(float(value))
    return out


def _spread(values: Sequence[float] | None, nd: int) -> str:
    """``mean ± sample standard deviation`` of ``values`` ("" without values)."""
    if not values:
        return ""
    m = sum(values) / len(values)
    sd = (sum((v - m) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
    return f"{m:.{nd}f} ± {sd:.{nd}f}"


def _seeds_note(spread: dict | None) -> str:
    if not spread:
        return ""
    seeds = ", ".join(str(s) for s in spread["seeds"])
    return (
        f"\nmean ± standard deviation over seeds {seeds} (`make seeds`); in brackets seed 0, "
        "the run whose notebooks, figures and recorded results these are.\n"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _f(x: float, nd: int = 3) -> str:
    return f"{x:.{nd}f}"


def genre_table(records: dict, spread: dict | None = None) -> str:
    """Notebook 03: held-out accuracy of the genre CNN per input (with ``spread``: mean ± sd over
    seeds, seed 0 in brackets)."""
    r = records["03-genre-cnn"]
    nb = "03-genre-cnn"

    def cell(key: str, cfg: str, nd: int = 3) -> str:
        seed0 = _f(r[key][cfg], nd) if nd else str(r[key][cfg])
        values = seed_values(spread, nb, key, cfg)
        return f"{_spread(values, nd if nd else 1)} ({seed0})" if values else seed0

    rows = [
        (
            cfg,
            cell("fragment_accuracy", cfg),
            cell("track_accuracy", cfg),
            cell("val_fragment_accuracy", cfg),
            cell("epochs_run", cfg, 0),
            r["train_fragments"][cfg],
        )
        for cfg in r["fragment_accuracy"]
    ]
    return _table(
        (
            "input",
            "held-out fragment accuracy",
            "held-out track accuracy",
            "validation fragment accuracy",
            "epochs run",
            "training fragments",
        ),
        rows,
    ) + _seeds_note(spread if seed_values(spread, nb, "fragment_accuracy", rows[0][0]) else None)


def cut_table(records: dict, spread: dict | None = None) -> str:
    """Notebook 04: features, genre and sub-style probes (k-NN / linear) per input and cut (with
    ``spread``: mean ± sd over seeds; the chosen cut is seed 0's)."""
    from melrec_lib.nets.architecture import CUTS

    nb = "04-preprocessor-truncation"
    r = records[nb]
    rows = []
    cuts = sorted(r["features"], key=lambda c: CUTS.index(c) if c in CUTS else len(CUTS))

    def probe(key: str, cfg: str, cut: str) -> str:
        return _spread(seed_values(spread, nb, key, cfg, cut), 2) or _f(r[key][cfg][cut], 2)

    for cfg in r["genre_knn"]:
        for cut in cuts:
            width = r["features"][cut]
            mark = "**" if r["chosen_cut"][cfg] == cut else ""
            rows.append(
                (
                    cfg,
                    f"{mark}{cut}{mark}",
                    width,
                    f"{probe('genre_knn', cfg, cut)} / {probe('genre_linear', cfg, cut)}",
                    f"{probe('substyle_knn', cfg, cut)} / {probe('substyle_linear', cfg, cut)}",
                )
            )
    note = ""
    if spread and seed_values(spread, nb, "genre_knn", next(iter(r["genre_knn"])), cuts[0]):
        chosen = {cfg: sorted({rec["chosen_cut"][cfg] for rec in spread["records"][nb]}) for cfg in r["chosen_cut"]}
        note = (
            f"\nProbes: mean ± standard deviation over seeds {', '.join(map(str, spread['seeds']))} "
            "(`make seeds`); the chosen cut in bold is seed 0's (over the seeds: "
            + "; ".join(f"{cfg} {', '.join(c)}" for cfg, c in chosen.items())
            + ").\n"
        )
    return (
        _table(("input", "cut (**chosen**)", "features", "genre k-NN / linear", "sub-style k-NN / linear"), rows)
        + f"\nChance (the largest class' share of the test fragments): genre {_f(r['genre_chance'])}, "
        f"sub-style {_f(r['substyle_chance'])}.\n" + note
    )


def experiments_table(records: dict) -> str:
    """Notebooks 05 and 06: the thesis' two experiments in both recommender modes."""
    e1, e2 = records["05-playlist-similar"], records["06-playlist-diverse"]
    rows = []
    for mode, key1, key2 in (
        ("thesis (faithful)", "max_score", "mean_training_score"),
        ("corrected", "max_score_corrected", "mean_training_score_corrected"),
    ):
        m1 = e1["metrics_thesis" if mode.startswith("thesis") else "metrics_corrected"]
        m2 = e2["metrics_thesis" if mode.startswith("thesis") else "metrics_corrected"]
        rows.append(
            (
                mode,
                _f(e1[key1], 4),
                _f(m1.get("roc_auc", float("nan")), 2),
                _f(e2[key2], 4),
                _f(m2.get("roc_auc", float("nan")), 2),
            )
        )
    return _table(
        (
            "recommender",
            "exp. 1: maximum score (thesis 0.7207)",
            "exp. 1: test ROC-AUC",
            "exp. 2: mean training score (thesis 0.512)",
            "exp. 2: validation ROC-AUC",
        ),
        rows,
    )


def summary_table(
    csv: str | os.PathLike,
    *,
    protocols: Sequence[str] = ("similar", "diverse"),
    methods: Sequence[str] | None = None,
    spread: dict | None = None,
    notebook: str = "07-evaluation",
) -> str:
    """An evaluation summary (``baselines.summarize`` CSV): ROC-AUC [95 % interval] / P@10 per
    protocol; with ``spread``, a column per protocol of the mean ROC-AUC's mean ± sd over seeds."""
    s = _report_rows(csv)
    order = list(dict.fromkeys(s["method"])) if methods is None else list(methods)
    idx = s.set_index(["protocol", "method"])
    with_seeds = spread is not None and any(
        seed_values(spread, notebook, "roc_auc", f"{p}/{m}") for p in protocols for m in order
    )
    rows = []
    for method in order:
        cells = [method]
        for p in protocols:
            if (p, method) in idx.index:
                r = idx.loc[(p, method)]
                cells.append(
                    f"{_f(r['roc_auc'], 2)} [{_f(r['roc_auc_lo'], 2)}, {_f(r['roc_auc_hi'], 2)}] / "
                    f"{_f(r['precision@10'], 2)} (n = {int(r['n_users'])})"
                )
            else:
                cells.append("")
            if with_seeds:
                cells.append(_spread(seed_values(spread, notebook, "roc_auc", f"{p}/{method}"), 3))
        rows.append(cells)
    header = ["method"]
    for p in protocols:
        header.append(f"{p}: ROC-AUC [95 %] / P@10")
        if with_seeds:
            header.append(f"{p}: ROC-AUC over seeds")
    note = (
        f"\nROC-AUC over seeds: mean ± standard deviation of the seeds' means, seeds "
        f"{', '.join(map(str, spread['seeds']))} (`make seeds`: each seed trains its own genre CNNs and "
        "draws its own users); the other columns are seed 0's.\n"
        if with_seeds
        else ""
    )
    return _table(header, rows) + note


def _report_rows(csv: str | os.PathLike) -> pd.DataFrame:
    """A summary CSV's rows of report users: notebook 08 also keeps the rows of the development
    users its settings were chosen on (``split == "dev"``); without a ``split`` column, every row."""
    s = pd.read_csv(csv)
    return s[s["split"] == "report"] if "split" in s.columns else s


def _methods(csv: str | os.PathLike) -> list[str]:
    """The methods of a summary CSV's report users, in order."""
    return list(dict.fromkeys(_report_rows(csv)["method"]))


def headline_methods(csv: str | os.PathLike, headline: Sequence[str], *, default: str | None = None) -> list[str]:
    """The methods of ``headline`` (then ``default``, if it is not among them) that the summary
    ``csv`` holds, in that order: README's rows of a table whose full form is in docs/results.md."""
    present = set(_methods(csv))
    order = list(dict.fromkeys([*headline, *([default] if default else [])]))
    return [m for m in order if m in present]


def _headline_note(shown: Sequence[str], csv: str | os.PathLike) -> str:
    return (
        f"{len(shown)} of the {len(_methods(csv))} methods of `figures/{Path(csv).name}`; "
        "the full table is in docs/results.md.\n"
    )


def _add_note(table: str, note: str) -> str:
    """``table`` with ``note`` as a paragraph below it, or appended to the paragraph it ends with."""
    if table.endswith("|\n"):
        return table + "\n" + note
    return table.rstrip("\n") + " " + note


def per_group_table(csv: str | os.PathLike) -> str:
    """Notebook 08: ROC-AUC per soundtrack (rows; with their library) and method (columns), similar protocol."""
    t = pd.read_csv(csv)
    keys = [c for c in ("library", "group") if c in t.columns] or [t.columns[0]]
    methods = [c for c in t.columns if c not in keys]
    return _table(keys + methods, [[r[k] for k in keys] + [_f(r[m], 2) for m in methods] for _, r in t.iterrows()])


def library_table(
    csv: str | os.PathLike,
    *,
    libraries: Sequence[str] = ("development", "confirmation"),
    protocols: Sequence[str] = ("similar", "diverse"),
    methods: Sequence[str] | None = None,
    highlight: str | None = None,
) -> str:
    """Notebooks 08, 09: report users' ROC-AUC [95 %] per method (rows), library and protocol
    (columns); only ``methods``, in their order, when given; ``highlight``'s name in bold."""
    s = _report_rows(csv)
    idx = s.set_index(["library", "protocol", "method"])
    rows = []
    for method in dict.fromkeys(s["method"]) if methods is None else methods:
        cells = [f"**{method}**" if method == highlight else method]
        for lib in libraries:
            for p in protocols:
                if (lib, p, method) in idx.index:
                    r = idx.loc[(lib, p, method)]
                    cells.append(f"{_f(r['roc_auc'], 2)} [{_f(r['roc_auc_lo'], 2)}, {_f(r['roc_auc_hi'], 2)}]")
                else:
                    cells.append("")
        rows.append(cells)
    n = s.groupby(["library", "protocol"])["n_users"].max()
    header = ["method"] + [f"{lib}, {p} (n = {int(n.get((lib, p), 0))})" for lib in libraries for p in protocols]
    return _table(header, rows)


def verdict_table(csv: str | os.PathLike, *, protocols: Sequence[str] = ("similar", "diverse")) -> str:
    """Notebook 08: the selection rule's steps, mean paired ROC-AUC difference [interval] per protocol."""
    t = pd.read_csv(csv, keep_default_na=False)
    rows = [
        [r["candidate"], r["against"]]
        + [
            f"{float(r[f'{p}: difference']):+.3f} [{float(r[f'{p}: lo']):+.3f}, {float(r[f'{p}: hi']):+.3f}]"
            for p in protocols
        ]
        + ["yes" if str(r["replaces"]) == "True" else "no"]
        for _, r in t.iterrows()
    ]
    header = ["candidate", "against (the current choice)"] + [f"{p}: difference [95 %]" for p in protocols]
    chosen = t["chosen"].iloc[0] if len(t) else ""
    return _table(header + ["replaces"], rows) + f"\nVerdict: **{chosen}**.\n"


def targets_table(csv: str | os.PathLike) -> str:
    """Notebook 08: the targets of the chosen default on the confirmation library's report users."""
    t = pd.read_csv(csv, keep_default_na=False)
    rows = [
        (
            r["target"],
            r["protocol"],
            r["detail"],
            _f(float(r["value"])) if r["value"] != "" else "",
            _f(float(r["needed"]), 2),
            {"True": "yes", "False": "no"}.get(str(r["met"]), "n/a"),
        )
        for _, r in t.iterrows()
    ]
    return _table(("target", "protocol", "reference", "measured", "needed", "met"), rows)


def explore_table(csv: str | os.PathLike, *, protocols: Sequence[str] = ("similar", "diverse")) -> str:
    """Notebook 08, after the verdict: each idea minus the verdict, paired [interval], per users and protocol."""
    t = pd.read_csv(csv)
    rows = []
    for (method, library, split), g in t.groupby(["method", "library", "split"], sort=False):
        by = g.set_index("protocol")
        cells = [f"{by.loc[p, 'difference']:+.3f} [{by.loc[p, 'lo']:+.3f}, {by.loc[p, 'hi']:+.3f}]" for p in protocols]
        rows.append([method, f"{library} / {split}", *cells])
    against = t["against"].iloc[0] if len(t) else ""
    header = ["idea", "library / users"] + [f"{p}: minus the verdict [95 %]" for p in protocols]
    return _table(header, rows) + (f"\nThe verdict: `{against}`.\n" if against else "")


def coherence_table(csv: str | os.PathLike) -> str:
    """Notebook 08, after the verdict: the per-playlist choice by coherence, beside its two methods and the oracle."""
    t = pd.read_csv(csv)
    fixed = {"users", "protocol", "n_users", "choice", "oracle", "share simple"}
    rho = "spearman_coherence_gain"
    simple, complex_ = [c for c in t.columns if c not in fixed | {rho}]
    rows = [
        (
            r["users"],
            r["protocol"],
            int(r["n_users"]),
            _f(r[simple]),
            _f(r[complex_]),
            _f(r["choice"]),
            _f(r["oracle"]),
            f"{100 * r['share simple']:.0f} %",
            "" if pd.isna(r[rho]) else f"{r[rho]:+.2f}",
        )
        for _, r in t.iterrows()
    ]
    header = ("users", "protocol", "n", simple, complex_, "choice", "oracle", "centroid chosen", "Spearman rho")
    return _table(header, rows)


def real_music_findings(records: dict, figures: str | os.PathLike) -> str:
    """Notebook 08's findings as prose, every number read from the run's files: the verdict, its
    confirmation scores beside the centroid, the previous default and the best peer, the worst
    soundtrack and the stretch target."""
    figures = Path(figures)
    rec = records["08-real-music"]
    s = pd.read_csv(figures / "nb08-summary.csv")
    s = s[s["split"] == "report"].set_index(["library", "protocol", "method"])["roc_auc"]
    t = pd.read_csv(figures / "nb08-targets.csv", keep_default_na=False)
    groups = pd.read_csv(figures / "nb08-per-soundtrack.csv")
    chosen, centroid, previous = rec["chosen"]["best"], rec["candidates"][0], rec["pipelines"].get("best")

    def pair(method: str, library: str = "confirmation") -> str:
        got = [s.get((library, p, method)) for p in ("similar", "diverse")]
        return " / ".join("n/a" if v is None else _f(v) for v in got)

    def target(prefix: str, protocol: str = "similar") -> pd.Series | None:
        rows = t[t["target"].str.startswith(prefix) & (t["protocol"] == protocol)]
        return rows.iloc[0] if len(rows) else None

    def verdict(row: pd.Series) -> str:
        if str(row["met"]) == "True":
            return "met"
        return f"missed by {_f(float(row['needed']) - float(row['value']))}" if row["value"] != "" else "not measured"

    out = [
        f"The rule chose `{chosen}`, `melrec recommend`'s default. On the confirmation library's "
        f"report users (seeds {', '.join(map(str, rec['report_seeds']))}) it scores {pair(chosen)} "
        f"(similar / diverse ROC-AUC), against {pair(centroid)} for `{centroid}`"
    ]
    if previous and previous != chosen:
        out[-1] += f", {pair(previous)} for the previous default `{previous}`"
    peers = [target("2:", p) for p in ("similar", "diverse")]
    if all(r is not None and r["value"] != "" for r in peers):
        names = [r["detail"] for r in peers]
        best = (
            f"{pair(names[0])} for the best peer, `{names[0]}`"
            if names[0] == names[1]
            else f"{_f(s.get(('confirmation', 'similar', names[0])))} / {_f(s.get(('confirmation', 'diverse', names[1])))}"
            f" for the best peers, `{names[0]}` (similar) and `{names[1]}` (diverse)"
        )
        out[-1] += (
            f" and {best}: ahead by "
            f"{_f(float(peers[0]['value']))} / {_f(float(peers[1]['value']))} "
            f"(the target asked {_f(float(peers[0]['needed']), 2)})"
        )
    out[-1] += "."
    worst = target("3:")
    if worst is not None:
        where = groups.loc[groups["group"] == worst["detail"], "library"]
        lib = f" ({where.iloc[0]} library)" if len(where) else ""
        out.append(
            f"Its worst soundtrack is `{worst['detail']}`{lib} at {_f(float(worst['value']))}: the "
            f"target of {_f(float(worst['needed']), 2)} is {verdict(worst)}."
        )
    stretch = target("4")
    if stretch is not None:
        out.append(f"The stretch target ({_f(float(stretch['needed']), 2)}, similar) is {verdict(stretch)}.")
    if previous and previous != chosen:
        out.append(
            f"On the development library's report users the previous default scores {pair(previous, 'development')} "
            f"and the default {pair(chosen, 'development')}; the verdict stands, as the rule says."
        )
    return " ".join(out) + "\n"


def timings_table(csv: str | os.PathLike) -> str:
    """Seconds per notebook of the run that wrote ``notebook-timings.csv``."""
    t = pd.read_csv(csv)
    return _table(
        ("notebook", "seconds"),
        [(r.notebook, f"{r.seconds:.0f}") for r in t.itertuples()] + [("total", f"{t['seconds'].sum():.0f}")],
    )


#: Written by ``bench/library_speed.py --json``: melrec, bliss and the original musicnn on full-length tracks.
SPEED = "library-speed.json"


def speed_table(run: dict[str, Any]) -> str:
    """``bench/library_speed.py``'s run (its ``--json`` file) as a table: each cold ``melrec
    recommend`` (the default budget, then each ``--budgets`` one), its library sync and its warm
    rerun, as tracks per second and as ratios against bliss (tracks/s) and the original musicnn
    extractor (audio seconds per second: the extractor ran on a subset); then bliss, the
    extractor, memory and the 500-track warm rerun in a note.

    Raises
    ------
    DatasetError
        A run without melrec's cold time or bliss's.
    """
    sec = run.get("seconds", {})
    if "cold" not in sec or "bliss" not in sec:
        raise DatasetError(f"{SPEED}: no 'cold' or 'bliss' timing in {sorted(sec)}")
    lib = run["library"]
    n, audio = lib["tracks"], lib.get("audio_seconds", lib["hours"] * 3600)
    sub = run.get("musicnn_subset")
    ref = sub["audio_seconds"] / sec["musicnn"] if sub and "musicnn" in sec else None

    def row(label: str, seconds: float, tracks: int, vs_ref: bool = True) -> tuple[str, ...]:
        rate = tracks / seconds
        against = f"{rate / (n / sec['bliss']):.2f}x"
        orig = f"{audio / seconds / ref:.1f}x" if ref and vs_ref else ""
        return (label, f"{seconds:.1f}", f"{rate:.2f}", against, orig)

    rows = [row(f"cold, default budget ({run['default_patches']} patches per track)", sec["cold"], n)]
    budgets = sorted((k for k in sec if k.startswith("cold_patches_")), key=lambda k: -int(k.rsplit("_", 1)[1]))
    rows += [row(f"cold, `--patches {k.rsplit('_', 1)[1]}`", sec[k], n) for k in budgets]
    if "sync" in sec and run.get("sync_files"):
        rows.append(row(f"its library sync alone ({run['sync_files']} files)", sec["sync"], run["sync_files"], False))
    if "warm" in sec:
        rows.append(
            (f"warm rerun (fresh process, {n} tracks cached)", f"{sec['warm']:.1f}", f"{n / sec['warm']:.1f}", "", "")
        )
    table = _table(
        (
            "`melrec recommend`",
            "seconds",
            "tracks/s",
            "against bliss (tracks/s)",
            "against the original musicnn (audio s/s)",
        ),
        rows,
    )
    notes = [
        f"{n} full-length tracks of the development library ({lib['hours']:.2f} h, mean "
        f"{lib['mean_minutes']:.2f} min; {', '.join(f'{v} {k}' for k, v in sorted(lib['formats'].items()))}), "
        f"{run['cores']} cores ({run['cpu']}), {run['date']}, commit {run['commit']}, load {run['load_start']}.",
        f"bliss-audio on {run['cores']} worker processes: {sec['bliss']:.1f} s, {n / sec['bliss']:.2f} tracks/s.",
    ]
    if ref:
        notes.append(
            f"The original musicnn extractor (its own TensorFlow environment) on {sub['tracks']} seeded tracks "
            f"({sub['audio_seconds'] / 60:.1f} min of audio): {sec['musicnn']:.1f} s, {ref:.0f} audio s/s."
        )
    if "cold_peak_mib" in run:
        notes.append(
            f"Peak memory of the default cold run: {run['cold_peak_mib']:,} MiB ({run['cold_tree_peak_mib']:,} MiB with its workers)."
        )
    mem = run.get("memory", {})
    if len(mem) == 2:
        (short_min, short), (long_min, long) = sorted(mem.items(), key=lambda kv: float(kv[0]))
        notes.append(
            f"Cold runs on {short['files']} files of {short_min} min and of {long_min} min: peak "
            f"{short['peak_mib']:,} and {long['peak_mib']:,} MiB."
        )
    if "warm500" in sec:
        notes.append(f"A warm rerun on {run.get('warm_tracks', 500)} tracks (fresh process): {sec['warm500']:.1f} s.")
    return table + "\n" + " ".join(notes) + "\n"


def blocks(figures: str | os.PathLike | None = None) -> dict[str, str]:
    """Every README block that the files in ``figures`` can fill (missing files: no block)."""
    figures = Path(figures or paths.FIGURES)
    out: dict[str, str] = {}
    makers: dict[str, Callable[[], str]] = {}
    spread = load_spread(figures)
    have_records = (figures / RECORDS).is_file()
    records = load_records(figures) if have_records else {}
    if have_records:
        makers.update(
            {
                "nb03": lambda: genre_table(records, spread),
                "nb04": lambda: cut_table(records, spread),
                "nb05-06": lambda: experiments_table(records),
            }
        )
    if (figures / "nb07-summary.csv").is_file():
        nb07 = figures / "nb07-summary.csv"
        makers["nb07"] = lambda: summary_table(nb07, spread=spread)
        head07 = headline_methods(nb07, NB07_HEADLINE)
        makers["nb07-headline"] = lambda: _add_note(
            summary_table(nb07, methods=head07, spread=spread), _headline_note(head07, nb07)
        )
    if (figures / "nb08-summary.csv").is_file():
        nb08 = figures / "nb08-summary.csv"
        two = "library" in pd.read_csv(nb08, nrows=1).columns  # both libraries (an older run: one)
        makers["nb08"] = (lambda: library_table(nb08)) if two else (lambda: summary_table(nb08))
        if two:
            chosen = records.get("08-real-music", {}).get("chosen", {}).get("best")
            head08 = headline_methods(nb08, NB08_HEADLINE, default=chosen)
            makers["nb08-headline"] = lambda: _add_note(
                library_table(nb08, methods=head08, highlight=chosen),
                ("In bold: `melrec recommend`'s default, the selection rule's verdict. " if chosen in head08 else "")
                + _headline_note(head08, nb08),
            )
    if (figures / "nb09-summary.csv").is_file():
        nb09 = figures / "nb09-summary.csv"
        makers["nb09"] = lambda: library_table(nb09)
        head09 = [m for m in _methods(nb09) if "@distilled/" in m] + headline_methods(nb09, NB09_HEADLINE)
        makers["nb09-headline"] = lambda: _add_note(
            library_table(nb09, methods=head09),
            f"{len(head09)} of the {len(_methods(nb09))} methods of `figures/nb09-summary.csv` (notebook 09: "
            "the distilled network's, and musicnn's centroid that its target is measured against); "
            "the full table is in docs/distillation.md.\n",
        )
    if (figures / "nb08-per-soundtrack.csv").is_file():
        makers["nb08-per-soundtrack"] = lambda: per_group_table(figures / "nb08-per-soundtrack.csv")
    for name, make in (
        ("nb08-verdict", verdict_table),
        ("nb08-targets", targets_table),
        ("nb08-explore", explore_table),
        ("nb08-coherence", coherence_table),
    ):
        if (figures / f"{name}.csv").is_file():
            makers[name] = lambda n=name, f=make: f(figures / f"{n}.csv")
    nb08_files = ("nb08-summary.csv", "nb08-targets.csv", "nb08-per-soundtrack.csv")
    if have_records and all((figures / f).is_file() for f in nb08_files):
        if "08-real-music" in records and "library" in pd.read_csv(figures / nb08_files[0], nrows=1).columns:
            makers["nb08-findings"] = lambda: real_music_findings(records, figures)
    if (figures / SPEED).is_file():
        makers["library-speed"] = lambda: speed_table(json.loads((figures / SPEED).read_text()))
    if (figures / "notebook-timings.csv").is_file():
        makers["timings"] = lambda: timings_table(figures / "notebook-timings.csv")
    for name, make in makers.items():
        out[name] = make()
    return out


def render(text: str, tables: dict[str, str]) -> str:
    """``text`` with the body of every ``<!-- begin:NAME -->`` block replaced by ``tables[NAME]``."""
    return _MARK.sub(lambda m: m.group(1) + tables.get(m.group("name"), m.group("body")) + m.group(4), text)


def markers(text: str) -> list[str]:
    """The names of the ``<!-- begin:NAME -->`` ... ``<!-- end:NAME -->`` blocks in ``text``, in order."""
    return [m.group("name") for m in _MARK.finditer(text)]


def update(
    root: str | os.PathLike | None = None,
    figures: str | os.PathLike | None = None,
    *,
    targets: Sequence[str] = TARGETS,
    write: bool = True,
) -> dict[str, bool]:
    """Fill the generated blocks of every file in ``targets`` from the run files in ``figures``.

    Parameters
    ----------
    root : path, optional
        The folder the ``targets`` are relative to (default: the repository root).
    figures : path, optional
        The folder of the run's files (default: ``figures/``).
    targets : sequence of str
        Markdown files relative to ``root``; a missing one is an error.
    write : bool
        Rewrite the files that changed; ``False`` only compares (``--check``).

    Returns
    -------
    dict
        ``{target: changed}``: whether the file's blocks differed from the run's files.

    Raises
    ------
    DatasetError
        A target is missing, or it marks a block that the files in ``figures`` cannot fill
        (a misspelt name, or a run file that is not there).
    """
    root = Path(root or paths.ROOT)
    tables = blocks(figures)
    changed: dict[str, bool] = {}
    for target in targets:
        path = root / target
        if not path.is_file():
            raise DatasetError(f"{path}: no such file to fill with result tables")
        old = path.read_text(encoding="utf-8")
        unknown = sorted(set(markers(old)) - set(tables))
        if unknown:
            raise DatasetError(f"{path}: no run file fills the block(s) {', '.join(unknown)}")
        new = render(old, tables)
        changed[target] = new != old
        if write and new != old:
            path.write_text(new, encoding="utf-8")
    return changed
