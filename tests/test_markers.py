"""conftest's markers: what ``make test-fast`` (``-m "not notebooks and not slow"``) leaves out."""

from __future__ import annotations

from conftest import pytest_collection_modifyitems


class _Item:
    def __init__(self, *fixturenames):
        self.fixturenames, self.marks = fixturenames, []

    def add_marker(self, mark):
        self.marks.append(mark.name)


def test_notebook_runs_and_smoke_corpus_users_are_marked():
    runs, smoke, unit = _Item("notebook_run", "tmp_path"), _Item("smoke_manifest"), _Item("tmp_path")
    pytest_collection_modifyitems([runs, smoke, unit])
    assert runs.marks == ["notebooks"] and smoke.marks == ["slow"] and unit.marks == []
