"""The package layout reads as the pipeline: imports flow one way, app -> recsys -> nets -> dsp/corpora -> io.

Every ``import`` of a melrec_lib module (top-level or inside a function) is read from the source
with :mod:`ast`, so a lazy import that runs the wrong way is caught as well as a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import melrec_lib

PACKAGE = Path(melrec_lib.__file__).parent

#: The rank of each part: a module may import modules of its own rank or lower.
#: ``dsp`` and ``corpora`` stand side by side and do not import each other.
RANKS = {
    "paths": 0,
    "errors": 0,
    "cache": 0,
    "parallel": 0,
    "io": 1,
    "dsp": 2,
    "corpora": 2,
    "nets": 3,
    "recsys": 4,
    "app": 5,
    "notebook": 6,
    "report": 6,
    "plots": 6,  # presentation: reads from every layer
}
SIDE_BY_SIDE = {("dsp", "corpora"), ("corpora", "dsp")}


def _part(module: str) -> str:
    """``melrec_lib.dsp.spectrum`` -> ``dsp``; ``melrec_lib`` itself -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def _imports(module: str, text: str, *, is_package: bool = False) -> list[str]:
    """The melrec_lib modules that ``text`` (the source of ``module``) imports, absolute."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("melrec_lib")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("melrec_lib"):
                found += [f"{name}.{a.name}" if name == "melrec_lib" else name for a in node.names]
    return found


def _sources():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _violations(module: str, text: str, *, is_package: bool = False) -> list[str]:
    own = _part(module)
    if not own:
        return []
    if own not in RANKS:
        return [f"{module}: a new top-level part; give it a rank in RANKS"]
    bad = []
    for target in _imports(module, text, is_package=is_package):
        other = _part(target)
        if other in ("", own):
            continue
        if other not in RANKS:
            bad.append(f"{module} imports {target}, which is not a part of the layout")
        elif (own, other) in SIDE_BY_SIDE:
            bad.append(f"{module} imports {target}: dsp and corpora stand side by side")
        elif RANKS[other] > RANKS[own]:
            bad.append(f"{module} ({own}) imports {target} ({other}): imports flow from app down to io")
    return bad


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path):
    assert _violations(_module(path), path.read_text(), is_package=path.name == "__init__.py") == []


def test_the_checker_sees_upward_and_sideways_imports():
    """The rule is not vacuous: io importing the recommender (top level) and the command line
    (lazily, relative), and dsp importing a corpus, are each reported; io importing errors is not."""
    text = (
        "from melrec_lib.recsys import recommender\nfrom melrec_lib.errors import AudioError\n\n"
        "def f():\n    from ..app import cli\n"
    )
    bad = _violations("melrec_lib.io.wav", text)
    assert len(bad) == 2 and "melrec_lib.recsys" in bad[0] and "melrec_lib.app" in bad[1]
    assert _violations("melrec_lib.dsp.mfcc", "from melrec_lib.corpora import splits\n") != []
    assert _violations("melrec_lib.app.cli", "from melrec_lib.io import wav\nfrom .library import Store\n") == []
