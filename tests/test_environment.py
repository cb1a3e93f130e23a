"""The two install routes (Makefile's .venv and conda's environment.yml) pin the same versions."""

from __future__ import annotations

import os
import re

import pytest

from melrec_lib import paths


def _lock() -> dict[str, str]:
    pins = {}
    for line in (paths.ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, ver = line.strip().split("==")
            pins[name.lower().replace("_", "-")] = ver
    return pins


def test_environment_yml_mirrors_lock():
    lock = _lock()
    text = (paths.ROOT / "environment.yml").read_text()
    pins = re.findall(r"^\s+- ([A-Za-z0-9_.-]+)==([^\s#]+)", text, flags=re.M)
    assert len(pins) >= 15
    for name, ver in pins:
        key = name.lower().replace("_", "-")
        assert key in lock, f"{name} pinned in environment.yml but not in requirements.lock"
        assert lock[key] == ver, f"{name}: environment.yml {ver} != requirements.lock {lock[key]}"
    assert re.search(r"^\s+- -e \.$", text, flags=re.M), "environment.yml must install melrec_lib editable"


@pytest.mark.slow
def test_keras_backend_defaults_to_jax():
    import subprocess
    import sys

    def run(code, **env):
        base = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env={**base, **env}, check=True
        )
        return out.stdout.strip().splitlines()[-1]

    assert run("import melrec_lib, keras; print(keras.backend.backend())") == "jax"
    # a user's choice stands: melrec_lib leaves KERAS_BACKEND as it finds it, and Keras reads the
    # variable when it is imported (https://keras.io/getting_started/#configuring-your-backend)
    assert run("import melrec_lib, os; print(os.environ['KERAS_BACKEND'])", KERAS_BACKEND="numpy") == "numpy", (
        "KERAS_BACKEND must stay overridable"
    )


def test_notebook_progress_bars_are_widgets():
    """tqdm.auto in JupyterLab draws widget bars (not text with a TqdmWarning): ipywidgets is installed."""
    from tqdm.notebook import IProgress

    assert IProgress is not None
