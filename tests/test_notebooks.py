"""The notebooks follow the house rules, and every one of them runs at smoke size under papermill."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from melrec_lib import notebook as nbmod

NOTEBOOKS = nbmod.notebooks()
IDS = [nb.stem for nb in NOTEBOOKS]


def _code_cells(nb_path):
    return [c for c in json.loads(nb_path.read_text())["cells"] if c["cell_type"] == "code"]


def test_there_are_numbered_notebooks():
    assert NOTEBOOKS, "no notebooks/NN-name.ipynb found"
    for nb in NOTEBOOKS:
        assert re.fullmatch(r"\d\d-[a-z0-9]+(-[a-z0-9]+)*\.ipynb", nb.name), nb.name


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs(nb):
    for cell in _code_cells(nb):
        assert not cell.get("outputs"), f"{nb.name} is stored with outputs"
        assert cell.get("execution_count") is None, f"{nb.name} is stored with execution counts"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_imports_then_parameters(nb):
    cells = _code_cells(nb)
    first = "".join(cells[0]["source"])
    assert "melrec_lib" in first, f"{nb.name}: first code cell must import from melrec_lib"
    assert "parameters" in cells[1].get("metadata", {}).get("tags", []), (
        f"{nb.name}: 2nd code cell must be tagged 'parameters'"
    )
    params = nbmod.default_parameters(nb)
    assert params and all(re.fullmatch(r"[A-Z][A-Z0-9_]*", k) for k in params), params
    assert "FIGURES_DIR" in params, f"{nb.name}: needs a FIGURES_DIR parameter"
    smoke = nbmod.smoke_parameters(nb)
    assert set(smoke) <= set(params)
    noted = {line.split("=")[0].strip() for line in "".join(cells[1]["source"]).splitlines() if "smoke:" in line}
    assert noted == set(smoke), f"{nb.name}: smoke notes not understood for {sorted(noted - set(smoke))}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_no_relative_paths_and_short_cells(nb):
    for cell in _code_cells(nb):
        src = "".join(cell["source"])
        assert "../" not in src, f"{nb.name}: paths must come from melrec_lib.paths, not '../'"
        ast.parse(src)  # valid Python
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            continue  # settings, one per line (a list of candidates is long, not logic)
        n = len([l for l in src.splitlines() if l.strip() and not l.strip().startswith("#")])
        assert n <= 20, f"{nb.name}: a {n}-line code cell belongs in melrec_lib"


@pytest.mark.notebooks
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_runs_at_smoke_size(nb, notebook_run):
    executed, records, figures = notebook_run(nb.name[:2])
    assert executed.is_file()
    assert records, f"{nb.name} recorded no results"


def _markdown_and_comments(nb_path):
    for cell in json.loads(nb_path.read_text())["cells"]:
        src = "".join(cell["source"])
        yield src if cell["cell_type"] == "markdown" else "\n".join(re.findall(r"#.*", src))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_narration_cites_no_tracker(nb):
    """The text explains the work; it does not point at issue numbers or their target letters."""
    for text in _markdown_and_comments(nb):
        hit = re.search(r"\bissues? #?\d+|\btargets? \([a-z]\)|#\d{2,}\b", text, flags=re.IGNORECASE)
        assert hit is None, f"{nb.name}: {hit.group(0)!r}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_kernelspec_is_the_installed_kernels(nb):
    """JupyterLab marks a notebook modified on opening when its stored kernel name differs."""
    from jupyter_client.kernelspec import KernelSpecManager

    stored = json.loads(nb.read_text())["metadata"]["kernelspec"]
    installed = KernelSpecManager().get_kernel_spec(stored["name"])
    assert stored["display_name"] == installed.display_name and stored["language"] == installed.language


def test_the_library_never_chooses_a_matplotlib_backend():
    """``matplotlib.use`` in the library would replace JupyterLab's inline backend (no figures)."""
    root = Path(nbmod.__file__).parent
    for py in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(py.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "use":
                owner = ast.unparse(node.func.value)
                assert "matplotlib" not in owner and owner != "mpl", f"{py}: {ast.unparse(node)}"
            if isinstance(node, ast.ImportFrom) and node.module == "matplotlib":
                assert "use" not in {a.name for a in node.names}, f"{py}: imports matplotlib.use"


_SAVEFIG = re.compile(r"""savefig\(\s*\w+\s*,\s*["']([^"']+)["']""")


def _images(cell) -> int:
    return sum(
        "image/png" in out.get("data", {})
        for out in cell.get("outputs", [])
        if out.get("output_type") in ("display_data", "execute_result")
    )


@pytest.mark.notebooks
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_every_saved_figure_shows_where_it_is_made(nb, notebook_run):
    """Each cell shows as many images as figures it saves (no figure lost, none drawn twice)."""
    executed, _, figures = notebook_run(nb.name[:2])
    cells = [c for c in json.loads(Path(executed).read_text())["cells"] if c["cell_type"] == "code"]
    saved = [_SAVEFIG.findall("".join(c["source"])) for c in cells]
    for cell, names in zip(cells, saved):
        src = "".join(cell["source"]).strip().splitlines()[0]
        assert _images(cell) == len(names), f"{nb.name}, cell starting {src!r}: {_images(cell)} images, saves {names}"
        for name in names:
            assert (Path(figures) / f"{name}.png").is_file(), name
    assert sum(map(len, saved)) == sum(map(_images, cells))


@pytest.mark.notebooks
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_executed_copy_holds_no_progress_bars_and_short_records(nb, notebook_run):
    """Progress bars go to the terminal; a record shows one short line, not its values."""
    executed, records, _ = notebook_run(nb.name[:2])
    for cell in json.loads(Path(executed).read_text())["cells"]:
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", ""))
            assert "\r" not in text and not re.search(r"\d+%\|", text), f"{nb.name}: a progress bar: {text[:120]!r}"
            assert "application/vnd.jupyter.widget-view+json" not in out.get("data", {}), f"{nb.name}: a widget"
            if nbmod.RECORD_MIME in out.get("data", {}):
                line = "".join(out["data"]["text/plain"])
                assert "\n" not in line and len(line) <= 100 and "/" not in line, line
