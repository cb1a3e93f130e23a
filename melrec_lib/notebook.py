"""Run the numbered notebooks with papermill, and read back the numbers they record.

* :func:`record` — called inside a notebook: stores key results in the cell output as a JSON
  bundle (the idea of recommenders' ``store_metadata``), so tests assert on numbers, not pixels.
* :func:`smoke_parameters` — the smoke-size values, read from the ``# smoke: <value>`` comment
  on each line of the notebook's ``parameters`` cell: one source of truth for both sizes.
* :func:`run` / ``python -m melrec_lib.notebook`` — execute notebooks in numeric order into the
  git-ignored ``build/notebooks`` folder (stored notebooks stay free of outputs).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from melrec_lib import paths
from melrec_lib.errors import ParameterError

RECORD_MIME = "application/vnd.melrec.record+json"
_SMOKE_RE = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=[^#]*#.*?\bsmoke:\s*(.+?)\s*$")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def record_line(names: list[str], width: int = 100) -> str:
    """The one line a reader sees for a :func:`record` call: how many values, and their names.

    >>> record_line(["sample_rate", "n_frames"])
    'recorded 2 values: sample_rate, n_frames'
    >>> len(record_line([f"value_{i}" for i in range(40)])) <= 100
    True
    """
    import textwrap

    head = f"recorded {len(names)} value{'s' if len(names) != 1 else ''}: "
    return head + textwrap.shorten(", ".join(names), width=max(width - len(head), 20), placeholder=" ...")


def record(**values: Any) -> None:
    """Record named results in the running notebook's output (read back by :func:`read_records`).

    The values travel as JSON under :data:`RECORD_MIME`; the cell shows one short line
    (:func:`record_line`) instead of the values: the tables and figures above it show them.
    """
    from IPython.display import display

    data = {k: _jsonable(v) for k, v in values.items()}
    display({RECORD_MIME: data, "text/plain": record_line(list(data))}, raw=True)


def read_records(nb_path: str | os.PathLike) -> dict[str, Any]:
    """Every value recorded with :func:`record` in an executed notebook (later values win)."""
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    out: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if RECORD_MIME in data:
                out.update(data[RECORD_MIME])
    return out


def notebooks(folder: str | os.PathLike | None = None) -> list[Path]:
    """The numbered notebooks ``NN-name.ipynb`` in reading order."""
    folder = Path(folder) if folder else paths.NOTEBOOKS
    return sorted(p for p in folder.glob("[0-9][0-9]-*.ipynb"))


def parameters_cell(nb_path: str | os.PathLike) -> dict:
    """The cell tagged ``parameters`` of a stored notebook."""
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    raise ParameterError(f"{nb_path}: no cell tagged 'parameters'")


def default_parameters(nb_path: str | os.PathLike) -> dict[str, Any]:
    """The parameter names and default values of a notebook (literal assignments only)."""
    source = "".join(parameters_cell(nb_path)["source"])
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def smoke_parameters(nb_path: str | os.PathLike) -> dict[str, Any]:
    """The smoke-size values noted as ``NAME = value  # smoke: other`` in the parameters cell.

    The note may follow other words of the comment (``# at most 60; smoke: 2``); it runs to
    the end of the line and must be a Python literal.
    """
    out = {}
    for line in "".join(parameters_cell(nb_path)["source"]).splitlines():
        m = _SMOKE_RE.match(line.strip())
        if m:
            try:
                out[m.group(1)] = ast.literal_eval(m.group(2))
            except (ValueError, SyntaxError) as exc:
                raise ParameterError(
                    f"{nb_path}: smoke value of {m.group(1)} is not a literal: {m.group(2)!r}"
                ) from exc
    return out


def run(
    nb_path: str | os.PathLike,
    *,
    out_dir: str | os.PathLike | None = None,
    parameters: dict[str, Any] | None = None,
    smoke: bool = False,
    progress: bool = True,
    stream: bool = False,
) -> Path:
    """Execute one notebook with papermill; returns the path of the executed copy.

    Parameters
    ----------
    nb_path : path to a stored notebook
    out_dir : folder for the executed copy (default ``build/notebooks``)
    parameters : values overriding the ``parameters`` cell
    smoke : start from the notebook's smoke-size values (``# smoke:`` comments)
    progress : papermill's bar of executed cells
    stream : echo what the cells print (training epochs, messages) to this process'
        stdout/stderr while they run, so a long cell says what it is doing

    Progress bars are drawn as text on this process' terminal, never into the cells: the
    kernel runs with ``$MELREC_PROGRESS=text`` (:func:`melrec_lib.parallel.tqdm_class`) and
    ``$MELREC_PROGRESS_FILE`` naming this process' standard error, which its worker processes
    write to as well, so the executed copy holds what a reader reads, not thousands of bar
    redraws.
    """
    import papermill as pm

    nb_path = Path(nb_path).resolve()
    out_dir = Path(out_dir) if out_dir else paths.BUILD / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    params = dict(smoke_parameters(nb_path)) if smoke else {}
    params.update(parameters or {})
    out = out_dir / nb_path.name
    from melrec_lib.parallel import PROGRESS_ENV, PROGRESS_FILE_ENV

    before = {k: os.environ.get(k) for k in (PROGRESS_ENV, PROGRESS_FILE_ENV)}
    # the kernel inherits it: text bars on the terminal (a widget would be stored in the copy)
    os.environ[PROGRESS_ENV] = "text"
    # ... this process' standard error, for the kernel's worker processes too (theirs is the
    # kernel's capture pipe, which would store the bars in the copy)
    os.environ[PROGRESS_FILE_ENV] = _worker_progress_file()
    try:
        pm.execute_notebook(
            str(nb_path),
            str(out),
            parameters=params,
            kernel_name="python3",
            progress_bar=progress,
            cwd=str(out_dir),  # deliberately not notebooks/: paths must come from melrec_lib
            **({"stdout_file": sys.stdout, "stderr_file": sys.stderr} if stream else {}),
        )
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return out


def _worker_progress_file() -> str:
    """Where the kernel's worker processes draw their bars: this process' standard error if it
    is a terminal or a pipe (``/proc/<pid>/fd/2``); else nowhere (``os.devnull``).  A regular
    file is left out: the workers would open it anew and append, and this process, writing at
    its own offset, would overwrite what they appended."""
    import stat

    terminal = Path(f"/proc/{os.getpid()}/fd/2")
    try:
        mode = terminal.stat().st_mode
    except OSError:
        return os.devnull
    return str(terminal) if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) else os.devnull


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m melrec_lib.notebook", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: all, in numeric order)")
    parser.add_argument("--smoke", action="store_true", help="use the smoke-size parameters")
    parser.add_argument("--out", default=None, help="folder for executed copies (default build/notebooks)")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a parameter (VALUE is a Python literal, else a string)",
    )
    args = parser.parse_args(argv)
    params = {}
    for name, value in args.parameter:
        try:
            params[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[name] = value
    todo = [Path(p) for p in args.notebooks] or notebooks()
    for nb in todo:
        t0 = time.perf_counter()
        print(f"== {nb.name}", flush=True)
        out = run(nb, out_dir=args.out, parameters=params, smoke=args.smoke, progress=False, stream=True)
        seconds = time.perf_counter() - t0
        print(f"   -> {out} ({seconds:.1f} s)", flush=True)
        if not args.smoke and not params:
            record_timing(nb.stem, seconds)
    return 0


def record_timing(name: str, seconds: float, figures_dir: str | os.PathLike | None = None) -> Path:
    """Store how long a default-size run of notebook ``name`` took in ``figures/notebook-timings.csv``."""
    import pandas as pd

    from melrec_lib.cache import atomic_file

    csv = paths.figures_dir(figures_dir) / "notebook-timings.csv"
    table = pd.read_csv(csv) if csv.is_file() else pd.DataFrame(columns=["notebook", "seconds"])
    table = pd.concat([table[table["notebook"] != name], pd.DataFrame([{"notebook": name, "seconds": seconds}])])
    with atomic_file(csv) as tmp:
        table.sort_values("notebook").to_csv(tmp, index=False, float_format="%.1f")
    return csv


if __name__ == "__main__":
    sys.exit(main())
