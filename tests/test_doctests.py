"""The ``>>>`` examples in melrec_lib's docstrings run, and print what they say.

Every module of the package is imported and searched with :class:`doctest.DocTestFinder`; each
module with examples is one test.  They run in a folder of their own holding the files the
examples name: ``track.wav`` (30 s of 16-bit mono PCM at 44.1 kHz, written by soundfile, not
by melrec) and ``track.mp3`` (the same samples, MP3).  Examples that need a corpus, a checkpoint
or minutes keep ``# doctest: +SKIP``; :func:`test_examples_are_found` guards against a finder
that silently finds nothing.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import numpy as np
import pytest
import soundfile as sf

import melrec_lib

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(melrec_lib.__path__, "melrec_lib."))


def _examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    return [t for t in tests if t.examples]


def _with_examples() -> list[str]:
    """Modules whose source has ``>>>`` (read as text: nothing is imported at collection)."""
    names = []
    for name in _module_names():
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            with open(spec.origin, encoding="utf-8") as f:
                if ">>>" in f.read():
                    names.append(name)
    return names


@pytest.fixture(scope="module")
def example_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("doctest-files")
    t = np.arange(30 * 44100) / 44100
    y = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    sf.write(folder / "track.wav", y, 44100, subtype="PCM_16")
    sf.write(folder / "track.mp3", y, 44100, format="MP3")
    return folder


def test_examples_are_found():
    names = _with_examples()
    assert len(names) >= 14, names
    assert "melrec_lib.io.wav" in names and "melrec_lib.cache" in names
    assert sum(len(t.examples) for t in _examples("melrec_lib.cache")) >= 1


#: Modules whose examples build and fit a Keras network (seconds of compiling each).
SLOW = {"melrec_lib.nets.architecture", "melrec_lib.recsys.recommender"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in _with_examples()]
)
def test_docstring_examples(name, example_files, monkeypatch):
    monkeypatch.chdir(example_files)
    tests = _examples(name)
    assert tests, f"{name} has '>>>' in its source but DocTestFinder finds no example"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see the output above)"
