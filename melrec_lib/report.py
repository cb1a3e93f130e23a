"""The documents' result tables, generated from the files a full run writes (never typed by hand).

``make reproduce`` leaves every notebook's recorded numbers (``tools/check_results.py --write``
stores them in ``figures/recorded-results.json``), the evaluation summaries
(``figures/nb07-summary.csv``, ``figures/nb08-summary.csv``) and the notebooks' run times
(``figures/notebook-timings.csv``).  :func:`blocks` turns them into Markdown tables and
:func:`render` puts each between its ``<!-- begin:NAME -->`` / ``<!-- end:NAME -->`` markers;
:func:`update` does so in every file of :data:`TARGETS` (README.md, docs/results.md,
docs/performance.md; ``python tools/update_readme.py``).  A test checks that those files match
the run's files and that every table is shown somewhere.
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
    "genre_table",
    "cut_table",
    "experiments_table",
    "summary_table",
    "per_group_table",
    "timings_table",
    "blocks",
    "render",
    "markers",
    "update",
]

RECORDS = "recorded-results.json"
#: The Markdown files, relative to the repository root, whose marked blocks are generated.
TARGETS = ("README.md", "docs/results.md", "docs/performance.md")
_MARK = re.compile(r"(<!-- begin:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end:(?P=name) -->)", re.S)


def load_records(figures: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """``{notebook: records}`` from ``figures/recorded-results.json``."""
    path = Path(figures or paths.FIGURES) / RECORDS
    if not path.is_file():
        raise DatasetError(
            f"{path}: no recorded results; run `make reproduce` then `python tools/check_results.py --write`"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _f(x: float, nd: int = 3) -> str:
    return f"{x:.{nd}f}"


def genre_table(records: dict) -> str:
    """Notebook 03: held-out accuracy of the genre CNN per input."""
    r = records["03-genre-cnn"]
    rows = [
        (
            cfg,
            _f(r["fragment_accuracy"][cfg]),
            _f(r["track_accuracy"][cfg]),
            _f(r["val_fragment_accuracy"][cfg]),
            r["epochs_run"][cfg],
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
    )


def cut_table(records: dict) -> str:
    """Notebook 04: features, genre and sub-style probes (k-NN / linear) per input and cut."""
    from melrec_lib.nets.architecture import CUTS

    r = records["04-preprocessor-truncation"]
    rows = []
    cuts = sorted(r["features"], key=lambda c: CUTS.index(c) if c in CUTS else len(CUTS))
    for cfg in r["genre_knn"]:
        for cut in cuts:
            width = r["features"][cut]
            mark = "**" if r["chosen_cut"][cfg] == cut else ""
            rows.append(
                (
                    cfg,
                    f"{mark}{cut}{mark}",
                    width,
                    f"{_f(r['genre_knn'][cfg][cut], 2)} / {_f(r['genre_linear'][cfg][cut], 2)}",
                    f"{_f(r['substyle_knn'][cfg][cut], 2)} / {_f(r['substyle_linear'][cfg][cut], 2)}",
                )
            )
    return (
        _table(("input", "cut (**chosen**)", "features", "genre k-NN / linear", "sub-style k-NN / linear"), rows)
        + f"\nChance (the largest class' share of the test fragments): genre {_f(r['genre_chance'])}, "
        f"sub-style {_f(r['substyle_chance'])}.\n"
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
    csv: str | os.PathLike, *, protocols: Sequence[str] = ("similar", "diverse"), methods: Sequence[str] | None = None
) -> str:
    """An evaluation summary (``baselines.summarize`` CSV): ROC-AUC [95 % interval] / P@10 per protocol."""
    s = pd.read_csv(csv)
    if "split" in s.columns:  # notebook 08: settings chosen on "dev" users, reported on the rest
        s = s[s["split"] == "report"]
    order = list(dict.fromkeys(s["method"])) if methods is None else list(methods)
    idx = s.set_index(["protocol", "method"])
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
        rows.append(cells)
    return _table(["method"] + [f"{p}: ROC-AUC [95 %] / P@10" for p in protocols], rows)


def per_group_table(csv: str | os.PathLike) -> str:
    """Notebook 08: ROC-AUC per soundtrack (rows) and method (columns), similar protocol."""
    t = pd.read_csv(csv, index_col=0)
    return _table(
        [t.index.name or "group"] + list(t.columns), [[g] + [_f(v, 2) for v in row] for g, row in t.iterrows()]
    )


def timings_table(csv: str | os.PathLike) -> str:
    """Seconds per notebook of the run that wrote ``notebook-timings.csv``."""
    t = pd.read_csv(csv)
    return _table(
        ("notebook", "seconds"),
        [(r.notebook, f"{r.seconds:.0f}") for r in t.itertuples()] + [("total", f"{t['seconds'].sum():.0f}")],
    )


def blocks(figures: str | os.PathLike | None = None) -> dict[str, str]:
    """Every README block that the files in ``figures`` can fill (missing files: no block)."""
    figures = Path(figures or paths.FIGURES)
    out: dict[str, str] = {}
    makers: dict[str, Callable[[], str]] = {}
    if (figures / RECORDS).is_file():
        records = load_records(figures)
        makers.update(
            {
                "nb03": lambda: genre_table(records),
                "nb04": lambda: cut_table(records),
                "nb05-06": lambda: experiments_table(records),
            }
        )
    for name in ("nb07", "nb08"):
        if (figures / f"{name}-summary.csv").is_file():
            makers[name] = lambda n=name: summary_table(figures / f"{n}-summary.csv")
    if (figures / "nb08-per-soundtrack.csv").is_file():
        makers["nb08-per-soundtrack"] = lambda: per_group_table(figures / "nb08-per-soundtrack.csv")
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
