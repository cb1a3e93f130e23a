"""``melrec recommend`` end to end on the smoke corpus, and every error it promises.

One test runs the command and reads what it prints and writes; the others call its core,
:func:`melrec_lib.app.recommend.recommend`, and read the :class:`Recommendation` it returns.
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
from media import FORMATS, tag, write

from melrec_lib.app import cli, pipeline
from melrec_lib.app.recommend import Options, recommend
from melrec_lib.corpora import melrec_synth


@pytest.fixture(scope="module")
def library(smoke_manifest):
    return melrec_synth.corpus_root("smoke")


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


#: The smoke genre CNN is trained on the thesis' input; the default pipeline's is corrected.
SMOKE = ["--pipeline", "corrected", "--corpus", "melrec-synth-smoke", "--config", "thesis", "--cut", "pool2"]


def _smoke_pipeline(**overrides):
    """The pipeline of ``SMOKE``'s flags (and any other field)."""
    return pipeline.resolve("corrected", config="thesis", cut="pool2", **overrides)


def _options(**fields):
    return Options(genre_corpus="melrec-synth-smoke", progress=False, **fields)


def _run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_recommend_end_to_end(smoke_model, library, metal_playlist, tmp_path, capsys):
    pl, liked = metal_playlist
    out_csv = tmp_path / "ranking.csv"
    argv = [
        "recommend",
        "--playlist",
        str(pl),
        "--library",
        str(library),
        *SMOKE,
        "--top",
        "5",
        "--out",
        str(out_csv),
        "--epochs",
        "3",
        "--seed",
        "1",
        "--quiet",
    ]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    ranking = pd.read_csv(out_csv)
    assert list(ranking.columns) == ["path", "score", "rank", "folder", "artist", "album", "title", "track"]
    assert ranking[["artist", "album", "title", "track"]].isna().all().all()  # untagged WAVs: empty
    on_disk = {p.resolve() for p in library.rglob("*.wav")}
    assert {Path(p).resolve() for p in ranking["path"]} == on_disk - set(liked)
    assert list(ranking["rank"]) == list(range(1, len(ranking) + 1))
    assert ranking["score"].is_monotonic_decreasing
    assert ranking["score"].between(0, 1, inclusive="neither").all()
    printed = [line for line in out.splitlines() if line.endswith(".wav")]
    assert len(printed) == 5
    rank, score, folder, file = printed[0].split()
    assert (int(rank), file) == (1, Path(ranking["path"][0]).relative_to(library.resolve()).as_posix())
    assert folder == ranking["folder"][0] == Path(file).parent.as_posix()
    assert "using your genre CNN trained on melrec-synth-smoke" in out
    n = len(on_disk) - len(liked)  # the playlist's tracks are embedded first, then found in the cache
    assert f"{len(on_disk)} audio files; embedded {n} new, 0 changed, 0 removed, {len(liked)} cached" in out
    # same seed, same ranking (embeddings now come from the cache)
    out2 = tmp_path / "again.csv"
    argv[argv.index(str(out_csv))] = str(out2)
    code, out, _ = _run(argv, capsys)
    assert code == 0
    assert f"embedded 0 new, 0 changed, 0 removed, {len(on_disk)} cached" in out
    pd.testing.assert_frame_equal(pd.read_csv(out2), ranking)


def test_thesis_mode_runs(smoke_model, library, metal_playlist):
    pl, liked = metal_playlist
    result = recommend(pl, library, pipeline="thesis", options=_options(epochs=2))
    assert result.pipeline == pipeline.PIPELINES["thesis"] and result.epochs == 2
    assert result.pipeline.describe() == "genre CNN (thesis input, cut pool2), thesis recommender"
    assert result.embedder.startswith("using your genre CNN trained on melrec-synth-smoke")
    assert len(result.ranking) == len(list(library.rglob("*.wav"))) - len(liked)


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
    _expect_error(["recommend", "--playlist", str(pl), "--library", str(library), *SMOKE], capsys, "empty.m3u", "empty")


def test_missing_entries_are_reported_and_skipped(smoke_model, library, metal_playlist, tmp_path, capsys):
    _, liked = metal_playlist
    pl = tmp_path / "missing.m3u"
    pl.write_text(f"{liked[0]}\nno/such/track.wav\n")
    result = recommend(pl, library, pipeline=_smoke_pipeline(), options=_options(epochs=1))
    assert ("no/such/track.wav (in missing.m3u)", "playlist entry not found") in result.left_out
    assert result.liked == (str(liked[0]),) and result.playlist == "missing.m3u"
    only_missing = tmp_path / "gone.m3u"
    only_missing.write_text("no/such/track.wav\n")
    _expect_error(
        ["recommend", "--playlist", str(only_missing), "--library", str(library), *SMOKE],
        capsys,
        "none of its 1 track(s) could be read",
        "no/such/track.wav",
    )


def test_error_missing_playlist_and_library(library, tmp_path, capsys):
    _expect_error(
        ["recommend", "--playlist", str(tmp_path / "nope.m3u"), "--library", str(library)], capsys, "nope.m3u"
    )
    pl = tmp_path / "one.m3u"
    pl.write_text(f"{next(iter(sorted(library.rglob('*.wav'))))}\n")
    _expect_error(["recommend", "--playlist", str(pl), "--library", str(tmp_path / "no-library")], capsys, "no-library")


def test_error_no_readable_track(smoke_model, library, tmp_path, capsys):
    import soundfile as sf

    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(44100 * 2, np.float32) + 0.1, 44100)  # 2 s: no 8 s fragment
    pl = tmp_path / "unreadable.m3u"
    pl.write_text(f"{bad}\n{short}\n")
    _expect_error(
        ["recommend", "--playlist", str(pl), "--library", str(library), *SMOKE],
        capsys,
        "none of its 2 track(s) could be read",
    )


def test_error_nothing_to_rank(smoke_model, metal_playlist, tmp_path, capsys):
    _, liked = metal_playlist
    lib = tmp_path / "lib"
    lib.mkdir()
    copies = [shutil.copy(p, lib / p.name) for p in liked[:2]]
    (lib / "notes.txt").write_text("not audio")
    pl = tmp_path / "all.m3u"
    pl.write_text("\n".join(str(c) for c in copies) + "\n")
    _expect_error(["recommend", "--playlist", str(pl), "--library", str(lib), *SMOKE], capsys, "nothing to rank")


def test_error_no_trained_model(smoke_manifest, library, metal_playlist, capsys, monkeypatch, tmp_path):
    from melrec_lib.nets import shipped

    pl, _ = metal_playlist
    # this test's data folder holds no trained model, and no weights ship here
    monkeypatch.setattr(shipped, "FOLDER", tmp_path / "no-shipped-weights")
    (tmp_path / "no-shipped-weights").mkdir()
    _expect_error(
        [
            "recommend",
            "--playlist",
            str(pl),
            "--library",
            str(library),
            "--pipeline",
            "corrected",
            "--corpus",
            "melrec-synth",
            "--config",
            "corrected",
        ],
        capsys,
        "no trained genre CNN",
        "melrec train --corpus melrec-synth --config corrected",
    )
    _expect_error(["recommend", "--playlist", str(pl), "--library", str(library), *SMOKE], capsys, "melrec train")


def test_error_bad_top(library, metal_playlist, capsys):
    pl, _ = metal_playlist
    _expect_error(["recommend", "--playlist", str(pl), "--library", str(library), "--top", "0"], capsys, "--top")


def test_help_is_instant_and_lists_recommend():
    res = subprocess.run(
        [sys.executable, "-m", "melrec_lib.app.cli", "recommend", "--help"], capture_output=True, text=True, check=True
    )
    for opt in (
        "--playlist",
        "--library",
        "--top",
        "--out",
        "--epochs",
        "--seed",
        "--mode",
        "--pipeline",
        "--preprocessor",
        "--per-artist",
        "--per-album",
        "--scheduler",
        "--quiet",
    ):
        assert opt in res.stdout
    lazy = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from melrec_lib.app import cli; cli.build_parser(); print('keras' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert lazy.stdout.strip() == "False"  # Keras is imported by the sub-command, not by --help


def test_train_passes_its_recipe(smoke_manifest, capsys, monkeypatch):
    from melrec_lib.nets import saved
    from melrec_lib.nets.recipe import GenreRecipe

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

    monkeypatch.setattr(saved, "ensure", fake_ensure)
    code, out, _ = _run(["train", "--corpus", "melrec-synth-smoke", "--per-track", "3", "--seed", "4"], capsys)
    assert code == 0 and "m.keras" in out and "0.750" in out
    assert seen["recipe"] == GenreRecipe(per_track=3, seed=4) and seen["retrain"] is False
    assert seen["corpus"].attrs["corpus"] == "melrec-synth-smoke" and len(seen["corpus"]) == len(smoke_manifest)
    _run(["train", "--corpus", "melrec-synth-smoke", "--no-augment", "--retrain"], capsys)
    assert seen["recipe"] == GenreRecipe(augment=False) and seen["retrain"] is True
    code, _, err = _run(["train", "--corpus", "polka"], capsys)
    assert code == 2 and "unknown collection 'polka'" in err


@pytest.fixture
def messy_library(metal_playlist, library, tmp_path):
    """A small library with one of each kind of bad file beside six good tracks in two folders."""
    import soundfile as sf

    _, liked = metal_playlist
    lib = tmp_path / "messy"
    good = sorted(p for p in library.rglob("*.wav") if p.resolve() not in set(liked))[:6]
    for i, p in enumerate(good):
        (lib / f"artist{i % 2}").mkdir(parents=True, exist_ok=True)
        shutil.copy(p, lib / f"artist{i % 2}" / p.name)
    (lib / "bad").mkdir()
    (lib / "bad" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    sf.write(lib / "bad" / "silent.wav", np.zeros(44100 * 10, np.float32), 44100)
    sf.write(lib / "bad" / "short.wav", 0.1 * np.ones(44100 * 2, np.float32), 44100)
    (lib / "bad" / "cover.jpg").write_bytes(b"\xff\xd8\xff not audio")
    shutil.copy(liked[0], lib / "bad" / "liked-copy.wav")  # same audio as a playlist track
    shutil.copy(good[0], lib / "bad" / "good-copy.wav")  # the same audio twice in the library
    return lib, good


def test_messy_library_reports_every_bad_file(smoke_model, metal_playlist, messy_library, tmp_path):
    pl, _ = metal_playlist
    lib, good = messy_library
    result = recommend(pl, lib, pipeline=_smoke_pipeline(), options=_options(epochs=2))
    report = dict(result.left_out)
    assert len(report) == len(result.left_out) == 6  # one reason per file
    bad = lib.resolve() / "bad"
    assert "RIFF" in report[str(bad / "broken.wav")] or "Error" in report[str(bad / "broken.wav")]
    assert "silent" in report[str(bad / "silent.wav")]
    assert "too short" in report[str(bad / "short.wav")]
    assert report[str(bad / "cover.jpg")] == "not an audio file"
    assert report[str(bad / "liked-copy.wav")].startswith("same audio as playlist track")
    assert "ranked once" in report[str(bad / "good-copy.wav")]
    ranking = result.ranking
    assert sorted(Path(p).name for p in ranking["path"]) == sorted(p.name for p in good)
    assert list(ranking["rank"]) == list(range(1, 7)) and ranking["score"].is_monotonic_decreasing
    m3u = tmp_path / "top.m3u"
    cli._write_out(ranking, 3, str(m3u), stream=sys.stdout)
    lines = m3u.read_text().splitlines()
    assert lines[0] == "#EXTM3U" and [x for x in lines if not x.startswith("#")] == list(ranking["path"][:3])
    # --per-artist 1: one track of each of the two artist folders, the best of each
    again = recommend(pl, lib, pipeline=_smoke_pipeline(), options=_options(epochs=2, per_artist=1))
    assert sorted(again.ranking["folder"]) == ["artist0", "artist1"]
    best = ranking.groupby("folder", sort=False).head(1).reset_index(drop=True)
    assert list(again.ranking["path"]) == list(best["path"]) and list(again.ranking["rank"]) == [1, 2]
    assert result.audio_files == again.audio_files == 11
    assert again.library_sync["embeddings"].summary() == "embedded 0 new, 0 changed, 0 removed, 11 cached"
    # keep_duplicates: the copy of a playlist track is ranked too
    kept = recommend(pl, lib, pipeline=_smoke_pipeline(), options=_options(epochs=2, keep_duplicates=True))
    assert str(bad / "liked-copy.wav") in set(kept.ranking["path"]) and len(kept.ranking) == 7


def test_playlist_as_folder_and_files_and_incremental(smoke_model, metal_playlist, messy_library, tmp_path):
    import os

    _, liked = metal_playlist
    lib, good = messy_library
    folder = tmp_path / "liked"
    folder.mkdir()
    shutil.copy(liked[1], folder / liked[1].name)
    playlist = [folder, liked[2], tmp_path / "nope.wav"]
    result = recommend(playlist, lib, pipeline=_smoke_pipeline(), options=_options(epochs=1))
    assert len(result.liked) == 2 and (str(tmp_path / "nope.wav"), "playlist entry not found") in result.left_out
    # one file added, one changed, one removed: only two are read again
    shutil.copy(liked[2], lib / "artist0" / "added.wav")
    changed = lib / "artist1" / good[1].name
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    (lib / "bad" / "short.wav").unlink()
    again = recommend(playlist, lib, pipeline=_smoke_pipeline(), options=_options(epochs=1))
    assert again.library_sync["embeddings"].summary() == "embedded 1 new, 1 changed, 1 removed, 9 cached"


def test_out_of_another_kind_is_an_error(library, metal_playlist, tmp_path, capsys):
    pl, _ = metal_playlist
    _expect_error(
        ["recommend", "--playlist", str(pl), "--library", str(library), "--out", str(tmp_path / "r.xlsx")],
        capsys,
        "r.xlsx",
        ".csv",
    )


def test_default_pipeline_needs_no_training(library, metal_playlist):
    """Right after install: no trained model anywhere, the default (musicnn, regularised) pipeline ranks."""
    from melrec_lib import paths

    assert pipeline.resolve() == pipeline.PIPELINES["musicnn-msd-small"]
    best = pipeline.resolve()
    assert best.preprocessor.startswith("musicnn") and best.mode == "corrected-small"
    assert not best.mfcc and best.networks == 1 and not best.fusion
    pl, liked = metal_playlist
    result = recommend(pl, library, options=Options(epochs=2, progress=False))
    assert not paths.models_dir().exists() or not list(paths.models_dir().glob("*.keras"))
    assert result.pipeline == best and set(result.library_sync) == {"embeddings"}
    assert result.pipeline.describe() == (
        "musicnn MSD (penultimate layer, at most 32 patches per track), corrected-small recommender"
    )
    ranking = result.ranking
    assert list(ranking.columns) == ["path", "score", "rank", "folder", "artist", "album", "title", "track", "tags"]
    assert len(ranking) == len(list(library.rglob("*.wav"))) - len(liked)
    assert ranking["score"].between(0, 1, inclusive="neither").all() and ranking["score"].is_monotonic_decreasing


def test_a_library_of_symlinks_is_ranked_under_its_own_paths(smoke_model, smoke_manifest, tmp_path):
    """Files linked into the library (and a linked playlist track) rank under the library's paths."""
    tracks = sorted(smoke_manifest["path"])
    lib = tmp_path / "links"
    for t in tracks[:8]:
        (lib / Path(t).parent.name).mkdir(parents=True, exist_ok=True)
        (lib / Path(t).parent.name / Path(t).name).symlink_to(t)
    liked = tmp_path / "liked.wav"
    liked.symlink_to(tracks[0])
    result = recommend(liked, lib, pipeline=_smoke_pipeline(mode="thesis"), options=_options(epochs=1))
    ranking = result.ranking
    assert len(ranking) == 7 and all(str(p).startswith(str(lib)) for p in ranking["path"])
    assert (lib / Path(tracks[0]).parent.name / Path(tracks[0]).name).as_posix() not in set(ranking["path"])


@pytest.fixture
def formats_library(tmp_path):
    """One 9 s file of every format of media.FORMATS in two folders, some tagged (mutagen):
    artist "Ana" has two albums over both folders, "Bo" one; the rest carry no tags."""
    lib = tmp_path / "formats"
    names = list(FORMATS)
    for i, name in enumerate(names):
        write(lib / f"folder{i % 2}", name, 9.0, seed=i, filename=name + Path(FORMATS[name][0]).suffix)
    files = {name: lib / f"folder{i % 2}" / (name + Path(FORMATS[name][0]).suffix) for i, name in enumerate(names)}
    tagged = {
        "aac-m4a": dict(artist="Ana", album="First", title="Morning", track=1),
        "alac-m4a": dict(artist="Ana", album="First", title="Noon", track=2),
        "opus": dict(artist="Ana", album="Second", title="Evening", track=1),
        "wma": dict(artist="Ana", album="Second", title="Night", track=2),
        "flac": dict(artist="Bo", album="Only", title="Rain", track=7),
        "wavpack": dict(artist="Bo", album="Only", title="Snow", track=8),
    }
    for name, fields in tagged.items():
        tag(files[name], **fields)
    return lib, files, tagged


def test_a_library_of_every_format_is_ranked_whole_with_its_tags(smoke_model, formats_library, tmp_path, capsys):
    lib, files, tagged = formats_library
    liked = files["pcm-wav"]
    out_csv = tmp_path / "ranking.csv"
    argv = ["recommend", "--playlist", str(liked), "--library", str(lib), *SMOKE, "--epochs", "1", "--quiet"]
    code, out, err = _run([*argv, "--top", "20", "--out", str(out_csv)], capsys)
    assert code == 0, err
    ranking = pd.read_csv(out_csv, keep_default_na=False)
    assert sorted(Path(p).name for p in ranking["path"]) == sorted(p.name for n, p in files.items() if n != "pcm-wav")
    assert "left out" not in out
    by_name = {Path(p).name: row for p, row in zip(ranking["path"], ranking.itertuples(index=False))}
    for name, path in files.items():
        if name == "pcm-wav":
            continue
        row, want = by_name[path.name], tagged.get(name, {})
        assert (row.artist, row.album, row.title) == (
            want.get("artist", ""),
            want.get("album", ""),
            want.get("title", ""),
        )
        assert str(row.track) == str(want.get("track", ""))
    # the printed table: "Artist — Title" for the tagged files, the file name for the others
    printed = [line for line in out.splitlines() if line[:4].strip().isdigit()]
    assert len(printed) == len(files) - 1 and "artist — title / file" in out
    for name, path in files.items():
        if name in tagged:
            assert sum(f"{tagged[name]['artist']} — {tagged[name]['title']}" in line for line in printed) == 1
        elif name != "pcm-wav":
            assert sum(line.rstrip().endswith(path.relative_to(lib).as_posix()) for line in printed) == 1
    # --per-artist 1: one of Ana's four, one of Bo's two, and one per folder of the untagged rest
    code, out, err = _run([*argv, "--per-artist", "1", "--out", str(tmp_path / "a.csv")], capsys)
    assert code == 0, err
    a = pd.read_csv(tmp_path / "a.csv", keep_default_na=False)
    keys = [r.artist or f"folder:{r.folder}" for r in a.itertuples(index=False)]
    assert sorted(keys) == ["Ana", "Bo", "folder:folder0", "folder:folder1"]
    assert a["rank"].tolist() == [1, 2, 3, 4]
    best = ranking.assign(key=[r.artist or f"folder:{r.folder}" for r in ranking.itertuples(index=False)])
    assert a["path"].tolist() == best.groupby("key", sort=False).head(1)["path"].tolist()
    # --per-album 1: one of each album (First, Second, Only) and one per folder of the rest
    code, out, err = _run([*argv, "--per-album", "1", "--out", str(tmp_path / "b.csv")], capsys)
    assert code == 0, err
    b = pd.read_csv(tmp_path / "b.csv", keep_default_na=False)
    keys = [r.album or f"folder:{r.folder}" for r in b.itertuples(index=False)]
    assert sorted(keys) == ["First", "Only", "Second", "folder:folder0", "folder:folder1"]
    # the .m3u names tagged tracks by their tags
    m3u = tmp_path / "top.m3u"
    code, _, err = _run([*argv, "--top", "20", "--out", str(m3u)], capsys)
    assert code == 0, err
    text = m3u.read_text(encoding="utf-8")
    assert "#EXTINF:-1,Bo — Rain" in text and "#EXTINF:-1,mp3\n" in text


def test_training_free_modes_train_nothing_and_say_so(
    smoke_model, library, metal_playlist, tmp_path, capsys, monkeypatch
):
    """--mode centroid / knn rank with no network fit; the output and the result name the mode.

    The reference for the centroid ranking is written out here with numpy from the library
    cache's stored per-file mean embeddings: standardised over the playlist's and the library's
    tracks (sample sd; a constant column divided by 1), cosine to the playlist's mean.
    """
    from melrec_lib.app import library as libmod
    from melrec_lib.recsys import recommender

    def no_training(*args, **kwargs):
        raise AssertionError("a training-free mode trained a network")

    real_fit = recommender.fit
    monkeypatch.setattr(recommender, "fit", no_training)
    pl, liked = metal_playlist
    out_csv = tmp_path / "centroid.csv"
    argv = ["recommend", "--playlist", str(pl), "--library", str(library), *SMOKE, "--mode", "centroid"]
    code, out, err = _run([*argv, "--out", str(out_csv), "--quiet"], capsys)
    assert code == 0, err
    header = next(line for line in out.splitlines() if "library tracks ranked for" in line)
    assert "centroid mode (track means, cosine to the playlist's centroid; no training)" in header
    assert "epochs" not in header
    ranking = pd.read_csv(out_csv)
    on_disk = {p.resolve() for p in library.rglob("*.wav")}
    assert {Path(p).resolve() for p in ranking["path"]} == on_disk - set(liked)
    assert list(ranking["rank"]) == list(range(1, len(ranking) + 1)) and ranking["score"].is_monotonic_decreasing

    # the cosine written out, from the stored means of the same cache
    pipe = _smoke_pipeline(mode="centroid")
    store = libmod.Store(pipeline.embedder(pipe, corpus="melrec-synth-smoke"))
    files = [str(p) for p in liked] + [str(Path(p).resolve()) for p in ranking["path"]]
    T = store.means(store.entries(files)).astype(np.float64)
    sd = T.std(axis=0, ddof=1)
    assert (sd == 0).any()  # units the smoke CNN never fires: a constant column is divided by 1
    Z = (T - T.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    c = Z[: len(liked)].mean(axis=0)
    C = Z[len(liked) :]
    np.testing.assert_allclose(
        ranking["score"], C @ c / (np.linalg.norm(C, axis=1) * np.linalg.norm(c)), rtol=1e-9, atol=1e-12
    )

    result = recommend(pl, library, pipeline=_smoke_pipeline(mode="knn", mfcc=True), options=_options(epochs=2))
    assert (result.mode, result.epochs) == ("knn", None) and set(result.library_sync) == {"embeddings", "mfcc"}
    assert result.pipeline.method() == "knn@thesis/pool2+mfcc"
    assert len(result.ranking) == len(on_disk) - len(liked)
    assert result.ranking["score"].between(-1, 1).all() and result.ranking["score"].is_monotonic_decreasing
    monkeypatch.setattr(recommender, "fit", real_fit)  # a recommender mode trains, and is recorded too
    assert recommend(pl, library, pipeline="thesis", options=_options(epochs=1)).mode == "thesis"

    # a training-free mode has no networks to average
    _expect_error([*argv[:-1], "knn", "--networks", "3"], capsys, "trains no networks")


def test_fusion_ranks_by_the_mean_of_the_centroids_and_the_networks_ranks(smoke_model, library, metal_playlist, capsys):
    """--fusion: each file's rank under the network and under the centroid (pandas' pct ranks), averaged.

    The two references are the command's own other modes on the same cache and seed: the
    network alone (same seed, same epochs) and ``--mode centroid``.
    """
    pl, _ = metal_playlist
    opts = _options(epochs=2, seed=3)
    fused = recommend(pl, library, pipeline=_smoke_pipeline(mode="corrected-small", fusion=True), options=opts)
    net = recommend(pl, library, pipeline=_smoke_pipeline(mode="corrected-small"), options=opts)
    cen = recommend(pl, library, pipeline=_smoke_pipeline(mode="centroid"), options=opts)
    assert fused.pipeline.method() == "fusion-corrected-small@thesis/pool2"
    by_path = lambda r: r.ranking.set_index("path")["score"]  # noqa: E731
    want = (by_path(net).rank(pct=True) + by_path(cen).rank(pct=True)) / 2
    got = by_path(fused)
    np.testing.assert_allclose(got.to_numpy(), want.loc[got.index].to_numpy())
    assert got.is_monotonic_decreasing
    argv = ["recommend", "--playlist", str(pl), "--library", str(library), *SMOKE]
    assert cli.build_parser().parse_args([*argv, "--fusion"]).fusion is True
    assert cli.build_parser().parse_args([*argv, "--no-fusion"]).fusion is False
    _expect_error([*argv, "--mode", "centroid", "--fusion"], capsys, "fusion needs a recommender mode")
