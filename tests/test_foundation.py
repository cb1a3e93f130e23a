"""paths, manifest and the notebook runner's helpers."""

from __future__ import annotations

import json
import os

import nbformat
import pandas as pd
import pytest

from melrec_lib import notebook, paths
from melrec_lib.errors import DatasetError, ParameterError
from melrec_lib.io import manifest


def test_data_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MELREC_DATA_DIR", str(tmp_path))
    assert paths.data_dir() == tmp_path.resolve()
    assert paths.models_dir() == tmp_path.resolve() / "models"
    monkeypatch.setenv("MELREC_MODELS_DIR", str(tmp_path / "seed-1"))
    assert paths.models_dir() == (tmp_path / "seed-1").resolve()
    assert paths.processed_dir() == tmp_path.resolve() / "processed"  # only the models move
    monkeypatch.delenv("MELREC_DATA_DIR")
    assert paths.data_dir() == paths.ROOT / "data"


def test_manifest_roundtrip_relative_on_disk(tmp_path):
    audio = tmp_path / "rock" / "a1" / "t1.wav"
    audio.parent.mkdir(parents=True)
    audio.write_bytes(b"")
    df = pd.DataFrame({"track_id": ["t1"], "path": [str(audio)], "genre": ["rock"]})
    csv = tmp_path / "tracks.csv"
    manifest.write_manifest(df, csv)
    on_disk = pd.read_csv(csv)
    assert list(on_disk.columns) == list(manifest.MANIFEST_COLUMNS)
    assert on_disk.loc[0, "path"] == "rock/a1/t1.wav"
    back = manifest.read_manifest(csv)
    assert back.loc[0, "path"] == str(audio.resolve())
    assert back.loc[0, "genre"] == "rock"


def test_manifest_rejects_bad_tables(tmp_path):
    with pytest.raises(DatasetError, match="track_id"):
        manifest.conform(pd.DataFrame({"path": ["x"]}))
    with pytest.raises(DatasetError, match="repeats track_id 'a'"):
        manifest.conform(pd.DataFrame({"track_id": ["a", "a"], "path": ["x", "y"]}))
    with pytest.raises(DatasetError, match="no such manifest"):
        manifest.read_manifest(tmp_path / "missing.csv")


def _write_nb(path, params_src, then=None):
    """A numbered notebook: imports, ``params_src`` as the parameters cell, a record, then the
    code ``then`` as a last cell (if given)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("from melrec_lib import notebook"),
        nbformat.v4.new_code_cell(params_src, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("notebook.record(n=N_TRACKS * 2, name=NAME)"),
    ]
    if then is not None:
        nb.cells.append(nbformat.v4.new_code_cell(then))
    nbformat.write(nb, path)


def test_smoke_and_default_parameters(tmp_path):
    nb = tmp_path / "01-x.ipynb"
    _write_nb(nb, 'N_TRACKS = 100  # smoke: 3\nNAME = "full"  # smoke: "tiny"\nFIGURES_DIR = None\n')
    assert notebook.default_parameters(nb) == {"N_TRACKS": 100, "NAME": "full", "FIGURES_DIR": None}
    assert notebook.smoke_parameters(nb) == {"N_TRACKS": 3, "NAME": "tiny"}
    worded = tmp_path / "03-z.ipynb"  # the note after other words of the comment
    _write_nb(worded, "EPOCHS = None  # None: at most 60, early-stopped; smoke: 2\nSEED = 0  # not smoke-noted\n")
    assert notebook.smoke_parameters(worded) == {"EPOCHS": 2}
    bad = tmp_path / "02-y.ipynb"
    _write_nb(bad, "N = 1  # smoke: not a literal(\n")
    with pytest.raises(ParameterError, match="not a literal"):
        notebook.smoke_parameters(bad)


def test_record_is_read_back_from_an_executed_notebook(tmp_path):
    nb = tmp_path / "01-x.ipynb"
    _write_nb(nb, 'N_TRACKS = 100  # smoke: 3\nNAME = "full"  # smoke: "tiny"\nFIGURES_DIR = None\n')
    out = notebook.run(nb, out_dir=tmp_path / "out", smoke=True, progress=False)
    assert notebook.read_records(out) == {"n": 6, "name": "tiny"}
    stored = json.loads(nb.read_text())
    assert not any(c.get("outputs") for c in stored["cells"] if c["cell_type"] == "code")


def test_streamed_runs_echo_text_progress_bars_and_jupyterlab_gets_widgets(tmp_path, capfd, monkeypatch):
    """The runner's kernel draws text bars (echoed to this terminal); elsewhere tqdm's auto flavour."""
    import tqdm.auto
    import tqdm.std

    from melrec_lib import parallel

    monkeypatch.delenv(parallel.PROGRESS_ENV, raising=False)
    assert parallel.tqdm_class() is tqdm.auto.tqdm
    monkeypatch.setenv(parallel.PROGRESS_ENV, "text")
    assert issubclass(parallel.tqdm_class(), tqdm.std.tqdm)  # text bars, written to the terminal
    monkeypatch.delenv(parallel.PROGRESS_ENV)
    nb = tmp_path / "01-bar.ipynb"
    _write_nb(
        nb,
        "N_TRACKS = 3\nNAME = 'x'\n",
        then="from melrec_lib.parallel import parallel_map\nparallel_map(abs, [-1, 2, -3], n_jobs=1, desc='bars')",
    )
    notebook.run(nb, out_dir=tmp_path / "out", progress=False, stream=True)
    err = capfd.readouterr().err
    assert "bars: 100%" in err and "3/3" in err
    assert "bars:" not in (tmp_path / "out" / nb.name).read_text()  # on the terminal only, not in the copy
    assert parallel.PROGRESS_ENV not in os.environ  # restored after the run


def test_bars_of_the_kernels_worker_processes_stay_out_of_the_copy(tmp_path):
    """A worker's standard error is the kernel's capture pipe: its bars go to the runner's
    terminal or pipe through ``$MELREC_PROGRESS_FILE`` (notebook 03's full run trains in two
    workers), and nowhere when the runner writes to a regular file."""
    import re
    import subprocess
    import sys

    nb = tmp_path / "01-workers.ipynb"
    _write_nb(
        nb,
        "N_TRACKS = 3\nNAME = 'x'\n",
        then="from melrec_lib.parallel import parallel_map, tqdm_class\n"
        "def work(n):\n"
        "    for _ in tqdm_class()(range(n), desc='worker bar'):\n"
        "        pass\n"
        "    return n\n"
        "parallel_map(work, [2, 3], n_jobs=2, progress=False, fresh_workers=True)",
    )
    run = (
        f"from melrec_lib import notebook; notebook.run({str(nb)!r}, out_dir={str(tmp_path / 'out')!r}, progress=False)"
    )
    piped = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, check=True)  # a pipe
    outputs = [o for c in nbformat.read(tmp_path / "out" / nb.name, as_version=4).cells for o in c.get("outputs", [])]
    assert outputs and "worker bar" not in json.dumps(outputs)  # never in the copy ...
    assert "worker bar: 100%" in piped.stderr and "3/3" in piped.stderr  # ... but on the runner's pipe
    # a runner writing to a regular file: the workers draw nowhere (appending there would be
    # overwritten by the runner, which writes at its own offset)
    where = "from melrec_lib.notebook import _worker_progress_file; print(_worker_progress_file())"
    with open(tmp_path / "runner.log", "w") as f:
        to_file = subprocess.run([sys.executable, "-c", where], stdout=subprocess.PIPE, stderr=f, text=True, check=True)
    to_pipe = subprocess.run([sys.executable, "-c", where], capture_output=True, text=True, check=True)
    assert to_file.stdout.strip() == os.devnull
    assert re.fullmatch(r"/proc/\d+/fd/2", to_pipe.stdout.strip())


def test_check_int_accepts_integers_and_names_bad_values():
    import numpy as np

    from melrec_lib.errors import check_int

    assert check_int(np.int64(3), "k", minimum=1) == 3 and type(check_int(np.int64(3), "k")) is int
    assert check_int(0, "seed") == 0
    with pytest.raises(ParameterError, match="seed must be a non-negative integer, got -1"):
        check_int(-1, "seed")
    with pytest.raises(ParameterError, match="k must be a positive integer, got True"):
        check_int(True, "k", minimum=1)
    with pytest.raises(ParameterError, match=r"n_genres must be an integer >= 2, got 1\.0"):
        check_int(1.0, "n_genres", minimum=2)
