"""The notebooks follow the house rules, and every one of them runs at smoke size under papermill."""

from __future__ import annotations

import ast
import json
import re

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
        n = len([l for l in src.splitlines() if l.strip() and not l.strip().startswith("#")])
        assert n <= 20, f"{nb.name}: a {n}-line code cell belongs in melrec_lib"


@pytest.mark.notebooks
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_runs_at_smoke_size(nb, notebook_run):
    executed, records, figures = notebook_run(nb.name[:2])
    assert executed.is_file()
    assert records, f"{nb.name} recorded no results"
