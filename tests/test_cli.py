"""``melrec recommend`` end to end on the smoke corpus, and every error it promises.

The reference for the ranking's contents is the file system itself (every WAV under the library
folder, minus the playlist's files); scores must be probabilities, ranks 1..n by score.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from melrec_lib import cli, corpus


@pytest.fixture(scope="module")
def library(smoke_manifest):
    return corpus.corpus_root("smoke")


@pytest.fixture(scope="module")
def metal_playlist(smoke_manifest, tmp_path_factory):
    """Three metal tracks, written with paths relative to the playlist (plus comments)."""
    folder = tmp_path_factory.mktemp("playlists")
    tracks = sorted(smoke_manifest.loc[smoke_manifest["genre"] == "metal", "path"])[:3]
    rel = [Path(shutil.os.path.relpath(t, folder)) for t in tracks]
    lines = ["#EXTM3U"] + [x for t in rel for x in (f"#EXTINF:30,{t.stem}", str(t))]
    pl = folder / "metal.m3u"
    pl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return pl, [Path(t).resolve() for t in tracks]


def _run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_recommend_end_to_end(smoke_model, library, metal_playlist, tmp_path, capsys):
    pl, liked = metal_playlist
    out_csv = tmp_path / "ranking.csv"
    argv = ["recommend", "--playlist", str(pl), "--library", str(library), "--corpus", "melrec-synth-smoke",
            "--top", "5", "--out", str(out_csv), "--epochs", "3", "--seed", "1", "--quiet"]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    ranking = pd.read_csv(out_csv)
    assert list(ranking.columns) == ["path", "score", "rank"]
    on_disk = {p.resolve() for p in library.rglob("*.wav")}
    assert {Path(p).resolve() for p in ranking["path"]} == on_disk - set(liked)
    assert list(ranking["rank"]) == list(range(1, len(ranking) + 1))
    assert ranking["score"].is_monotonic_decreasing
    assert ranking["score"].between(0, 1, inclusive="neither").all()
    printed = [line for line in out.splitlines() if line.endswith(".wav")]
    assert len(printed) == 5
    assert printed[0].split()[-1] == ranking["path"][0]
    # same seed, same ranking (embeddings now come from the cache)
    out2 = tmp_path / "again.csv"
    argv[argv.index(str(out_csv))] = str(out2)
    assert _run(argv, capsys)[0] == 0
    pd.testing.assert_frame_equal(pd.read_csv(out2), ranking)


def test_thesis_mode_runs(smoke_model, library, metal_playlist, capsys):
    pl, _ = metal_playlist
    code, out, err = _run(["recommend", "--playlist", str(pl), "--library", str(library), "--corpus", "melrec-synth-smoke",
                           "--mode", "thesis", "--epochs", "2", "--quiet"], capsys)
    assert code == 0, err
    assert "thesis recommender" in out


def _expect_error(argv, capsys, *fragments):
    code, out, err = _run(argv, capsys)
    assert code == 2
    last = err.strip().splitlines()[-1].split("\r")[-1]  # after any progress bar
    assert last.startswith("melrec: error: "), err
    for f in fragments:
        assert f in err, err
    return err


def test_error_empty_playlist(library, tmp_path, capsys):
    pl = tmp_path / "empty.m3u"
    pl.write_text("#EXTM3U\n# nothing here\n")
    _expect_error(["recommend", "--playlist", str(pl), "--library", str(library), "--corpus", "melrec-synth-smoke"],
                  capsys, "empty.m3u", "empty")


def test_error_missing_files(library, metal_playlist, tmp_path, capsys):
    _, liked = metal_playlist
    pl = tmp_path / "missing.m3u"
    pl.write_text(f"{liked[0]}\nno/such/track.wav\n")
    _expect_error(["recommend", "--playlist", str(pl), "--library", str(library), "--corpus", "melrec-synth-smoke"],
                  capsys, "not found", "no/such/track.wav")


def test_error_missing_playlist_and_library(library, tmp_path, capsys):
    _expect_error(["recommend", "--playlist", str(tmp_path / "nope.m3u"), "--library", str(library)],
                  capsys, "nope.m3u")
    pl = tmp_path / "one.m3u"
    pl.write_text(f"{next(iter(sorted(library.rglob('*.wav'))))}\n")
    _expect_error(["recommend", "--playlist", str(pl), "--library", str(tmp_path / "no-library")],
                  capsys, "no-library")


def test_error_no_readable_track(smoke_model, library, tmp_path, capsys):
    import soundfile as sf

    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(44100 * 2, np.float32) + 0.1, 44100)  # 2 s: no 8 s fragment
    pl = tmp_path / "unreadable.m3u"
    pl.write_text(f"{bad}\n{short}\n")
    _expect_error(["recommend", "--playlist", str(pl), "--library", str(library), "--corpus", "melrec-synth-smoke"],
                  capsys, "none of its 2 track(s) could be read")


def test_error_nothing_to_rank(smoke_model, metal_playlist, tmp_path, capsys):
    _, liked = metal_playlist
    lib = tmp_path / "lib"
    lib.mkdir()
    copies = [shutil.copy(p, lib / p.name) for p in liked[:2]]
    (lib / "notes.txt").write_text("not audio")
    pl = tmp_path / "all.m3u"
    pl.write_text("\n".join(str(c) for c in copies) + "\n")
    _expect_error(["recommend", "--playlist", str(pl), "--library", str(lib), "--corpus", "melrec-synth-smoke"],
                  capsys, "nothing to rank")


def test_error_no_trained_model(smoke_manifest, library, metal_playlist, capsys):
    pl, _ = metal_playlist
    # this test's data folder holds no trained model
    _expect_error(["recommend", "--playlist", str(pl), "--library", str(library),
                   "--corpus", "melrec-synth", "--config", "corrected"], capsys, "no trained genre CNN",
                  "melrec train --corpus melrec-synth --config corrected")
    _expect_error(["recommend", "--playlist", str(pl), "--library", str(library), "--corpus", "melrec-synth-smoke"],
                  capsys, "melrec train")


def test_error_bad_top(library, metal_playlist, capsys):
    pl, _ = metal_playlist
    _expect_error(["recommend", "--playlist", str(pl), "--library", str(library), "--top", "0"],
                  capsys, "--top")


def test_help_is_instant_and_lists_recommend():
    res = subprocess.run([sys.executable, "-m", "melrec_lib.cli", "recommend", "--help"],
                         capture_output=True, text=True, check=True)
    for opt in ("--playlist", "--library", "--top", "--out", "--epochs", "--seed", "--mode"):
        assert opt in res.stdout
    lazy = subprocess.run([sys.executable, "-c", "import sys; from melrec_lib import cli; cli.build_parser(); "
                           "print('keras' in sys.modules)"], capture_output=True, text=True, check=True)
    assert lazy.stdout.strip() == "False"  # Keras is imported by the sub-command, not by --help


def test_train_passes_its_recipe(smoke_manifest, capsys, monkeypatch):
    from melrec_lib import trained
    from melrec_lib.recipe import GenreRecipe

    assert cli.build_parser().parse_args(["train", "--per-track", "7"]).per_track == 7
    assert cli.build_parser().parse_args(["train"]).per_track is None  # the recipe's default
    code, _, err = _run(["train", "--corpus", "melrec-synth-smoke", "--per-track", "0"], capsys)
    assert code == 2 and "per_track must be a positive integer, got 0" in err
    seen = {}

    class Done:
        path, fragment_accuracy, track_accuracy = "m.keras", 0.5, 0.75

    def fake_ensure(*, corpus, recipe, retrain):
        seen.update(corpus=corpus, recipe=recipe, retrain=retrain)
        return Done()

    monkeypatch.setattr(trained, "ensure", fake_ensure)
    code, out, _ = _run(["train", "--corpus", "melrec-synth-smoke", "--per-track", "3", "--seed", "4"], capsys)
    assert code == 0 and "m.keras" in out and "0.750" in out
    assert seen["recipe"] == GenreRecipe(per_track=3, seed=4) and seen["retrain"] is False
    assert seen["corpus"].attrs["corpus"] == "melrec-synth-smoke" and len(seen["corpus"]) == len(smoke_manifest)
    _run(["train", "--corpus", "melrec-synth-smoke", "--no-augment", "--retrain"], capsys)
    assert seen["recipe"] == GenreRecipe(augment=False) and seen["retrain"] is True
    code, _, err = _run(["train", "--corpus", "polka"], capsys)
    assert code == 2 and "unknown collection 'polka'" in err
