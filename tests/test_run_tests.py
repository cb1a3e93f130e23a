"""tools/run_tests.py (``make test``): the notebooks' chain and the rest side by side, one status."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "run_tests", Path(__file__).resolve().parents[1] / "tools" / "run_tests.py"
)
rt = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(rt)


@pytest.mark.parametrize(
    ("codes", "status"),
    [
        ((0, 0), 0),
        ((0, 5), 0),  # PYTEST_ARGS named only unit-test files: the notebooks' side selects nothing
        ((5, 0), 0),
        ((5, 5), 5),  # nothing selected at all is pytest's 5, not success
        ((1, 0), 1),
        ((0, 1), 1),  # a failing notebook fails make test
        ((5, 2), 2),
        ((2, 1), 2),  # the first failure's status
    ],
)
def test_one_status_for_both_runs(codes, status):
    assert rt.combined_status(*codes) == status


def test_every_test_that_runs_a_notebook_is_on_the_notebooks_side():
    """conftest marks every user of the ``notebook_run`` fixture ``notebooks``: the unit-test side
    (``-m "not notebooks"``) never starts the chain a second time."""
    from conftest import pytest_collection_modifyitems

    class Item:
        def __init__(self, *fixturenames):
            self.fixturenames, self.marks = fixturenames, []

        def add_marker(self, mark):
            self.marks.append(mark.name)

    runs, unit = Item("notebook_run", "tmp_path"), Item("tmp_path")
    pytest_collection_modifyitems([runs, unit])
    assert "notebooks" in runs.marks and "notebooks" not in unit.marks
