"""Shared fixtures: a seeded RNG and a private data folder for every test session."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261123)


@pytest.fixture(scope="session", autouse=True)
def _private_data_dir(tmp_path_factory):
    """Keep everything the tests generate out of the user's data/ folder."""
    if "MELREC_DATA_DIR" in os.environ and os.environ.get("MELREC_TEST_KEEP_DATA_DIR"):
        yield
        return
    old = os.environ.get("MELREC_DATA_DIR")
    os.environ["MELREC_DATA_DIR"] = str(tmp_path_factory.mktemp("melrec-data"))
    yield
    if old is None:
        os.environ.pop("MELREC_DATA_DIR", None)
    else:
        os.environ["MELREC_DATA_DIR"] = old


@pytest.fixture(scope="session")
def notebook_run(tmp_path_factory):
    """Run the numbered notebooks at smoke size, in order, once per session.

    ``notebook_run("03")`` executes every notebook up to the one whose name starts with
    ``"03"`` (later notebooks need what earlier ones built) and returns
    ``(executed_path, records, figures_dir)``.  A failure is remembered and re-raised.
    """
    from melrec_lib import notebook as nbmod

    out_dir = tmp_path_factory.mktemp("executed-notebooks")
    figures = out_dir / "figures"
    done: dict[str, object] = {}

    def _run(prefix: str):
        order = nbmod.notebooks()
        target = [nb for nb in order if nb.name.startswith(prefix)]
        if not target:
            raise LookupError(f"no notebook starts with {prefix!r}")
        for nb in order:
            if nb.name not in done:
                try:
                    done[nb.name] = nbmod.run(
                        nb, out_dir=out_dir, smoke=True, progress=False,
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

    return _run


@pytest.fixture(scope="session")
def smoke_manifest():
    """The smoke-size melrec-synth corpus, built once per session (in the private data dir)."""
    from melrec_lib import corpus

    return corpus.build(size="smoke", seed=0, progress=False)


@pytest.fixture(scope="session")
def smoke_model(smoke_manifest):
    """A genre CNN trained for a couple of epochs on the smoke corpus (thesis configuration)."""
    from melrec_lib import genre

    genre.train_default(corpus_size="smoke", config="thesis", epochs=2, seed=0, per_track=5)
    return genre.load_trained(config="thesis", corpus_size="smoke")
