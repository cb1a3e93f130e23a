"""Shared fixtures: a seeded RNG, and a private data folder for every test.

Every test gets its own ``MELREC_DATA_DIR`` (fresh ``processed/`` and ``models/``), so no test's
outcome depends on files another test wrote.  Only the rendered corpora are shared: ``raw/`` of
every test's folder links to one session folder, so the smoke corpus is rendered once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.pop("MELREC_MODELS_DIR", None)  # models follow each test's MELREC_DATA_DIR


def _share_jax_compilations() -> None:
    """One JAX compilation cache for the session and every process it starts (workers, kernels).

    Many tests train the same small networks: Keras traces a fresh function for every model, but
    the XLA program is the same, and with this cache it is compiled once.  A cached executable is
    the program a fresh compile would give, so no number changes; the folder is the session's own
    (a fresh clone and a rerun compile alike) unless ``JAX_COMPILATION_CACHE_DIR`` is set.
    """
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    import atexit
    import tempfile

    folder = tempfile.mkdtemp(prefix="melrec-test-jax-cache-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # default: only >= 1 s
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


_share_jax_compilations()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261123)


@pytest.fixture(scope="session")
def shared_raw(tmp_path_factory):
    """One ``raw/`` folder for the session: rendered corpora (read-only by convention)."""
    return tmp_path_factory.mktemp("melrec-raw")


def _data_dir(base, shared_raw):
    base.mkdir(parents=True, exist_ok=True)
    if not (base / "raw").exists():
        (base / "raw").symlink_to(shared_raw, target_is_directory=True)
    return base


@contextlib.contextmanager
def data_dir_env(path):
    """Point ``MELREC_DATA_DIR`` at ``path`` for a block (session fixtures, notebook kernels)."""
    old = os.environ.get("MELREC_DATA_DIR")
    os.environ["MELREC_DATA_DIR"] = str(path)
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop("MELREC_DATA_DIR", None)
        else:
            os.environ["MELREC_DATA_DIR"] = old


@pytest.fixture(scope="session", autouse=True)
def _session_data_dir(tmp_path_factory, shared_raw):
    """Session fixtures run before any test's own folder exists: they get a session folder."""
    if os.environ.get("MELREC_TEST_KEEP_DATA_DIR") and "MELREC_DATA_DIR" in os.environ:
        yield
        return
    with data_dir_env(_data_dir(tmp_path_factory.mktemp("melrec-session-data"), shared_raw)):
        yield


@pytest.fixture(autouse=True)
def _private_data_dir(request, tmp_path, shared_raw, monkeypatch):
    """Keep everything a test generates in its own folder (not the user's data/, not other tests')."""
    if os.environ.get("MELREC_TEST_KEEP_DATA_DIR") and "MELREC_DATA_DIR" in os.environ:
        yield
        return
    monkeypatch.setenv("MELREC_DATA_DIR", str(_data_dir(tmp_path / "melrec-data", shared_raw)))
    yield


@pytest.fixture(scope="session")
def notebook_run(tmp_path_factory, shared_raw):
    """Run the numbered notebooks at smoke size, in order, once per session.

    ``notebook_run("03")`` executes every notebook up to the one whose name starts with
    ``"03"`` (later notebooks need what earlier ones built) and returns
    ``(executed_path, records, figures_dir)``.  A failure is remembered and re-raised.  The
    notebooks share one data folder of their own (notebook 04 reads what 03 trained).
    """
    from melrec_lib import notebook as nbmod

    out_dir = tmp_path_factory.mktemp("executed-notebooks")
    figures = out_dir / "figures"
    data = _data_dir(out_dir / "melrec-data", shared_raw)
    done: dict[str, object] = {}

    def _run(prefix: str):
        order = nbmod.notebooks()
        target = [nb for nb in order if nb.name.startswith(prefix)]
        if not target:
            raise LookupError(f"no notebook starts with {prefix!r}")
        for nb in order:
            if nb.name not in done:
                try:
                    with data_dir_env(data):
                        done[nb.name] = nbmod.run(
                            nb,
                            out_dir=out_dir,
                            smoke=True,
                            progress=False,
                            parameters={"FIGURES_DIR": str(figures)},
                        )
                except Exception as exc:  # remembered: later notebooks depend on this one
                    done[nb.name] = exc
            result = done[nb.name]
            if isinstance(result, Exception):
                raise RuntimeError(f"{nb.name} failed at smoke size") from result
            if nb == target[0]:
                return result, nbmod.read_records(result), figures
        raise AssertionError("unreachable")

    _run.data_dir = data  # where the notebooks' models and caches are
    return _run


@pytest.fixture(scope="session")
def smoke_manifest(shared_raw):
    """The smoke-size melrec-synth corpus, rendered once per session into the shared ``raw/``."""
    from melrec_lib.corpora import melrec_synth

    return melrec_synth.build(size="smoke", seed=0, progress=False)  # into the session folder's raw/


#: The recipe of the session's smoke genre CNN: two epochs, five fragments per track.
SMOKE_RECIPE = dict(config="thesis", epochs=2, per_track=5, seed=0)


@pytest.fixture(scope="session")
def _smoke_model_dir(smoke_manifest, tmp_path_factory, shared_raw):
    """A data folder holding a genre CNN trained for two epochs on the smoke corpus (once)."""
    from melrec_lib.nets import saved
    from melrec_lib.nets.recipe import GenreRecipe

    with data_dir_env(_data_dir(tmp_path_factory.mktemp("smoke-model"), shared_raw)) as folder:
        saved.ensure(corpus=smoke_manifest, recipe=GenreRecipe(**SMOKE_RECIPE), progress=False)
    return folder


@pytest.fixture
def smoke_model(_smoke_model_dir, smoke_manifest):
    """That genre CNN, copied into this test's own data folder (the test may change it freely)."""
    from melrec_lib import paths
    from melrec_lib.nets import saved

    target = paths.models_dir()
    target.mkdir(parents=True, exist_ok=True)
    for f in (_smoke_model_dir / "models").iterdir():
        shutil.copy2(f, target / f.name)
    return saved.load(corpus=smoke_manifest, config=SMOKE_RECIPE["config"])


@pytest.fixture
def small_library(smoke_manifest, tmp_path):
    """Five smoke tracks copied into a library folder of this test's own: ``(folder, sorted files)``."""
    import shutil

    lib = tmp_path / "lib"
    lib.mkdir()
    for p in sorted(smoke_manifest["path"])[:5]:
        shutil.copy(p, lib / Path(p).name)
    return lib, sorted(lib.iterdir())


def pytest_collection_modifyitems(items):
    """Tests of the rendered smoke corpus (and so of the smoke CNN trained on it) are ``slow``;
    every test of an executed notebook is ``notebooks``.

    The session renders the corpus, and trains the CNN, before the first of them runs; ``make
    test-fast`` (``-m "not notebooks and not slow"``) leaves them out, and with them that cost.
    ``make test`` runs the notebooks' chain (``-m notebooks``) and the rest in two processes at
    once (``tools/run_tests.py``): a test that runs a notebook must carry the marker.
    """
    for item in items:
        if "smoke_manifest" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
        if "notebook_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.notebooks)
