"""Real-collection loaders: small collections in every layout, built on the fly with soundfile.

References: the durations soundfile reports for the files it wrote, FMA's published
``tracks.csv`` header layout (written here as literal text, not by pandas), and the M3U
conventions (``#EXTM3U``, ``#EXTINF``, ``file://`` URIs per RFC 8089).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from melrec_lib.errors import DatasetError, ParameterError
from melrec_lib.io import collections, manifest

SR = 8000
FORMATS = {
    ".wav": dict(format="WAV", subtype="PCM_16"),
    ".flac": dict(format="FLAC", subtype="PCM_16"),
    ".ogg": dict(format="OGG", subtype="VORBIS"),
    ".au": dict(format="AU", subtype="PCM_16"),
    ".mp3": dict(format="MP3", subtype="MPEG_LAYER_III"),
}


def write_tone(path: Path, seconds: float, *, amplitude: float = 0.5, freq: float = 440.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(round(seconds * SR))) / SR
    y = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    sf.write(str(path), y, SR, **FORMATS[path.suffix.lower()])
    return path


def sf_duration(path: Path) -> float:
    info = sf.info(str(path))
    return info.frames / info.samplerate


def skipped_reasons(df: pd.DataFrame) -> dict[str, str]:
    sk = df.attrs["skipped"]
    assert list(sk.columns) == ["path", "reason"]
    return {Path(p).name: r for p, r in zip(sk["path"], sk["reason"])}


# ------------------------------------------------------------------------------------------
# from_folder
# ------------------------------------------------------------------------------------------
@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "music"
    write_tone(root / "rock" / "Band A" / "one.wav", 10)
    write_tone(root / "rock" / "Band A" / "two.FLAC", 9)
    write_tone(root / "jazz" / "trio.ogg", 12)
    write_tone(root / "classical" / "sonata.au", 8.5)
    write_tone(root / "pop" / "hit.mp3", 11)
    write_tone(root / "loose.wav", 10)
    write_tone(root / "rock" / "dup.wav", 10)
    write_tone(root / "rock" / "dup.flac", 10)
    write_tone(root / "rock" / "short.wav", 3)
    write_tone(root / "rock" / "silent.wav", 10, amplitude=0.0)
    write_tone(root / "rock" / "whisper.wav", 10, amplitude=1e-4)  # -80 dBFS: silent
    (root / "jazz" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    (root / "jazz" / "empty.mp3").write_bytes(b"")
    (root / "jazz" / "cover.jpg").write_bytes(b"\xff\xd8 not audio")
    (root / "notes.txt").write_text("not audio")
    write_tone(root / ".hidden" / "ghost.wav", 10)
    write_tone(root / "rock" / "._one.wav", 10)  # macOS AppleDouble companion
    return root


def test_from_folder_rows(folder):
    df = collections.from_folder(folder, progress=False)
    assert list(df.columns[: len(manifest.MANIFEST_COLUMNS)]) == list(manifest.MANIFEST_COLUMNS)
    got = {r.track_id: r for r in df.itertuples()}
    expected = {
        "classical/sonata": ("classical", "classical/sonata.au"),
        "jazz/trio": ("jazz", "jazz/trio.ogg"),
        "loose": (None, "loose.wav"),
        "pop/hit": ("pop", "pop/hit.mp3"),
        "rock/Band A/one": ("rock", "rock/Band A/one.wav"),
        "rock/Band A/two": ("rock", "rock/Band A/two.FLAC"),
        "rock/dup.flac": ("rock", "rock/dup.flac"),
        "rock/dup.wav": ("rock", "rock/dup.wav"),
    }
    assert set(got) == set(expected)
    for tid, (genre, rel) in expected.items():
        row = got[tid]
        assert pd.isna(row.genre) if genre is None else row.genre == genre
        assert Path(row.path).is_absolute()
        assert Path(row.path) == (folder / rel).resolve()
        assert row.duration_s == pytest.approx(sf_duration(folder / rel), abs=1e-3)
    assert list(df["path"]) == sorted(df["path"])


def test_from_folder_skipped(folder):
    df = collections.from_folder(folder, progress=False)
    reasons = skipped_reasons(df)
    assert set(reasons) == {"short.wav", "silent.wav", "whisper.wav", "broken.wav", "empty.mp3"}
    assert reasons["short.wav"].startswith("too short: 3.00 s")
    assert reasons["silent.wav"].startswith("silent: peak -inf dBFS")
    peak = np.max(np.abs(sf.read(str(folder / "rock" / "whisper.wav"))[0]))
    assert reasons["whisper.wav"] == f"silent: peak {20 * np.log10(peak):.1f} dBFS < -60 dBFS"
    assert reasons["broken.wav"].startswith("unreadable")
    assert reasons["empty.mp3"].startswith("unreadable")
    for p in df.attrs["skipped"]["path"]:
        assert Path(p).is_absolute()


def test_from_folder_options(folder):
    quick = collections.from_folder(folder, check_silence=False, progress=False)
    assert {"rock/silent", "rock/whisper"} <= set(quick["track_id"])
    assert "rock/silent.wav" not in skipped_reasons(quick)
    lenient = collections.from_folder(folder, min_duration_s=2.0, progress=False)
    assert "rock/short" in set(lenient["track_id"])
    parallel = collections.from_folder(folder, n_jobs=2, progress=False)
    serial = collections.from_folder(folder, progress=False)
    pd.testing.assert_frame_equal(parallel, serial)
    pd.testing.assert_frame_equal(parallel.attrs["skipped"], serial.attrs["skipped"])


def test_from_folder_ids_stable_when_moved(folder, tmp_path):
    before = collections.from_folder(folder, check_silence=False, progress=False)
    moved = tmp_path / "elsewhere" / "lib"
    moved.parent.mkdir()
    os.rename(folder, moved)
    after = collections.from_folder(moved, check_silence=False, progress=False)
    assert list(before["track_id"]) == list(after["track_id"])


@pytest.mark.parametrize("bad", ["missing", "file"])
def test_from_folder_missing_root(tmp_path, bad):
    target = tmp_path / "nope"
    if bad == "file":
        target.write_text("x")
    with pytest.raises(DatasetError, match="nope"):
        collections.from_folder(target, progress=False)


def test_from_folder_empty_and_bad_parameter(tmp_path):
    (tmp_path / "empty").mkdir()
    df = collections.from_folder(tmp_path / "empty", progress=False)
    assert len(df) == 0 and list(df.columns) == list(manifest.MANIFEST_COLUMNS)
    assert len(df.attrs["skipped"]) == 0
    with pytest.raises(ParameterError, match="min_duration_s"):
        collections.from_folder(tmp_path / "empty", min_duration_s=float("nan"))


# ------------------------------------------------------------------------------------------
# from_gtzan
# ------------------------------------------------------------------------------------------
@pytest.fixture
def gtzan(tmp_path):
    base = tmp_path / "gtzan" / "genres"
    write_tone(base / "blues" / "blues.00000.au", 30)
    write_tone(base / "blues" / "blues.00001.au", 30)
    write_tone(base / "jazz" / "jazz.00001.wav", 30)
    write_tone(base / "jazz" / "jazz.00001.au", 30)  # same clip twice
    (base / "jazz" / "jazz.00054.au").write_bytes(b".snd\x00\x00\x00\x18corrupt")
    write_tone(base / "jazz" / "jazz.00002.au", 5)
    write_tone(base / "jazz" / "blues.00003.au", 30)  # wrong folder
    write_tone(base / "metal" / "readme.wav", 30)
    (base / "bextract_single.mf").write_text("blues/blues.00000.au\tblues\n")
    return base


@pytest.mark.parametrize("level", ["parent", "genres"])
def test_from_gtzan(gtzan, level):
    root = gtzan.parent if level == "parent" else gtzan
    df = collections.from_gtzan(root, progress=False)
    assert list(df["track_id"]) == ["blues.00000", "blues.00001", "jazz.00001"]
    assert list(df["genre"]) == ["blues", "blues", "jazz"]
    assert Path(df["path"].iloc[2]).name == "jazz.00001.au"  # .au sorts before .wav
    np.testing.assert_allclose(df["duration_s"].astype(float), 30.0, atol=1e-3)
    assert df["artist"].isna().all()
    reasons = skipped_reasons(df)
    assert set(reasons) == {"jazz.00001.wav", "jazz.00054.au", "jazz.00002.au", "blues.00003.au", "readme.wav"}
    assert reasons["jazz.00001.wav"] == "duplicate of track jazz.00001"
    assert reasons["jazz.00054.au"].startswith("unreadable")
    assert reasons["jazz.00002.au"].startswith("too short: 5.00 s")
    assert reasons["blues.00003.au"].startswith("not a GTZAN name")
    assert reasons["readme.wav"].startswith("not a GTZAN name")


def test_from_gtzan_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        collections.from_gtzan(tmp_path / "absent")
    (tmp_path / "bare").mkdir()
    with pytest.raises(DatasetError, match="no genre folders"):
        collections.from_gtzan(tmp_path / "bare")
    (tmp_path / "bare" / "genres" / "rock").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no .au/.wav"):
        collections.from_gtzan(tmp_path / "bare")


# ------------------------------------------------------------------------------------------
# from_fma
# ------------------------------------------------------------------------------------------
# The first lines of FMA's fma_metadata/tracks.csv have this shape: a two-row column header
# (group, field) and a third line naming the index; the real file has 52 columns, of which
# these are a representative slice (including list- and text-valued ones with quotes).
FMA_CSV = """\
,album,album,artist,artist,set,set,track,track,track,track
,id,title,id,name,split,subset,duration,genre_top,genres,title
track_id,,,,,,,,,,
2,1,AWOL - A Way Of Life,1,AWOL,training,small,168,Hip-Hop,[21],Food
3,1,AWOL - A Way Of Life,1,AWOL,training,medium,237,Hip-Hop,[21],Electric Ave
5,1,AWOL - A Way Of Life,1,AWOL,validation,small,206,Hip-Hop,[21],This World
10,6,Constant Hitmaker,6,Kurt Vile,test,small,161,Pop,[10],Freeway
20,4,"Niris, the album",4,Nicky Cook,training,large,311,,"[76, 103]",Spiritual Level
134,1,AWOL - A Way Of Life,1,AWOL,training,medium,207,Hip-Hop,[21],Street Music
140,61,Alucard,54,Alec K. Redfearn & the Eyesores,test,small,400,Folk,[17],Queen Of The Wires
141,60,Every Man For Himself,54,Alec K. Redfearn & the Eyesores,training,small,235,Folk,[17],Ohio
"""


@pytest.fixture
def fma(tmp_path):
    meta = tmp_path / "fma_metadata"
    meta.mkdir()
    (meta / "tracks.csv").write_text(FMA_CSV)
    audio = tmp_path / "fma_large"
    for tid in (2, 3, 5, 10, 20, 134):
        write_tone(collections.fma_audio_path(audio, tid), 30)
    write_tone(collections.fma_audio_path(audio, 141), 2)  # a truncated clip
    # 140 has no audio file
    return meta, audio


def test_fma_csv_is_the_real_layout(fma):
    meta, _ = fma
    tracks = pd.read_csv(meta / "tracks.csv", index_col=0, header=[0, 1])
    assert tracks.index.name == "track_id"
    assert tracks.loc[20, ("album", "title")] == "Niris, the album"
    assert tracks.loc[140, ("artist", "name")] == "Alec K. Redfearn & the Eyesores"


def test_fma_audio_path():
    assert collections.fma_audio_path("/d", 2) == Path("/d/000/000002.mp3")
    assert collections.fma_audio_path("/d", 155066) == Path("/d/155/155066.mp3")


@pytest.mark.parametrize(
    "subset, ids",
    [
        ("small", ["000002", "000005", "000010"]),
        ("medium", ["000002", "000003", "000005", "000010", "000134"]),
        ("large", ["000002", "000003", "000005", "000010", "000020", "000134"]),
    ],
)
def test_from_fma_subsets(fma, subset, ids):
    meta, audio = fma
    df = collections.from_fma(meta, audio, subset=subset, progress=False)
    assert list(df["track_id"]) == ids
    reasons = skipped_reasons(df)
    assert reasons["000140.mp3"] == "missing file"
    assert reasons["000141.mp3"].startswith("too short")
    assert len(reasons) == 2  # 140 and 141 are in the small subset, so in every one


def test_from_fma_columns(fma):
    meta, audio = fma
    df = collections.from_fma(meta / "tracks.csv", audio, subset="large", progress=False).set_index("track_id")
    assert df.loc["000002", "genre"] == "Hip-Hop"
    assert df.loc["000010", "genre"] == "Pop"
    assert pd.isna(df.loc["000020", "genre"])
    assert df.loc["000010", "artist"] == "Kurt Vile"
    assert df.loc["000020", "artist"] == "Nicky Cook"
    assert df.loc["000002", "split"] == "train"
    assert df.loc["000005", "split"] == "val"
    assert df.loc["000010", "split"] == "test"
    assert df.loc["000003", "subset"] == "medium"
    assert df.loc["000020", "track_duration_s"] == 311.0
    assert df.loc["000002", "duration_s"] == pytest.approx(sf_duration(collections.fma_audio_path(audio, 2)), abs=1e-3)
    assert Path(df.loc["000134", "path"]) == (audio / "000" / "000134.mp3").resolve()


def test_from_fma_errors(fma, tmp_path):
    meta, audio = fma
    with pytest.raises(ParameterError, match="'tiny'"):
        collections.from_fma(meta, audio, subset="tiny")
    with pytest.raises(DatasetError, match="tracks.csv"):
        collections.from_fma(tmp_path / "nowhere", audio)
    with pytest.raises(DatasetError, match="fma_full"):
        collections.from_fma(meta, tmp_path / "fma_full")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "tracks.csv").write_text(FMA_CSV.replace("genre_top", "genre_best"))
    with pytest.raises(DatasetError, match="genre_top"):
        collections.from_fma(bad, audio)


# ------------------------------------------------------------------------------------------
# read_m3u
# ------------------------------------------------------------------------------------------
@pytest.fixture
def library(tmp_path):
    lib = tmp_path / "lib"
    files = {
        "a": write_tone(lib / "music" / "a.wav", 9),
        "b": write_tone(lib / "music" / "sub dir" / "b.flac", 9),
        "c": write_tone(lib / "music" / "my song.wav", 9),
        "d": write_tone(lib / "music" / "песня.wav", 9),
        "e": write_tone(lib / "music" / "café.wav", 9),
        "abs": write_tone(tmp_path / "other" / "abs.ogg", 9),
    }
    (lib / "lists").mkdir()
    return lib, files


def test_read_m3u8_every_kind_of_entry(library):
    lib, f = library
    uri = f["c"].resolve().as_uri()  # file:///.../my%20song.wav
    assert "%20" in uri
    text = (
        "\n".join(
            [
                "#EXTM3U",
                "#PLAYLIST:liked",
                "#EXTINF:9,Artist A - Song A",
                "../music/a.wav",
                "",
                "   ",
                "#EXTINF:9,Windows style",
                "..\\music\\sub dir\\b.flac",
                "#EXTINF:-1,Encoded URI",
                uri,
                str(f["abs"].resolve()),
                "../music/песня.wav",
                "#EXTINF:100,Gone",
                "../music/nothere.mp3",
                "http://radio.example.com/stream.mp3",
                "C:\\Users\\me\\Music\\x.mp3",
                "file:///definitely/not/here.wav",
                "../music/a.wav",
            ]
        )
        + "\r\n"
    )
    pl_path = lib / "lists" / "liked.m3u8"
    pl_path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    pl = collections.read_m3u(pl_path)
    assert pl.paths == [f[k].resolve() for k in ("a", "b", "c", "abs", "d", "a")]
    assert pl.titles == ["Artist A - Song A", "Windows style", "Encoded URI", None, None, None]
    assert pl.missing == [
        "../music/nothere.mp3",
        "http://radio.example.com/stream.mp3",
        "C:\\Users\\me\\Music\\x.mp3",
        "file:///definitely/not/here.wav",
    ]
    assert pl.source == pl_path.resolve()
    assert len(pl) == 6


def test_read_m3u_latin1_fallback(library):
    lib, f = library
    pl_path = lib / "lists" / "old.m3u"
    pl_path.write_bytes("#EXTINF:9,Caf\u00e9\n../music/caf\u00e9.wav\n".encode("latin-1"))
    pl = collections.read_m3u(pl_path)
    assert pl.paths == [f["e"].resolve()]
    assert pl.titles == ["Caf\u00e9"]


def test_read_m3u_errors(library):
    lib, _ = library
    with pytest.raises(DatasetError, match="absent.m3u"):
        collections.read_m3u(lib / "absent.m3u")
    bad = lib / "lists" / "bad.m3u8"
    bad.write_bytes("caf\u00e9.wav\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="bad.m3u8"):
        collections.read_m3u(bad)
    empty = lib / "lists" / "empty.m3u"
    empty.write_text("#EXTM3U\n")
    assert collections.read_m3u(empty) == collections.Playlist(source=empty.resolve())


def test_from_paths_with_playlist(library):
    lib, f = library
    (lib / "lists" / "p.m3u").write_text("../music/a.wav\n../music/sub dir/b.flac\n../music/a.wav\n")
    pl = collections.read_m3u(lib / "lists" / "p.m3u")
    write_tone(lib / "music" / "x" / "a.wav", 9)
    df = collections.from_paths(pl.paths + [lib / "music" / "x" / "a.wav", lib / "gone.wav"], progress=False)
    assert list(df["track_id"]) == ["music/a", "sub dir/b", "x/a"]
    assert skipped_reasons(df) == {"gone.wav": "missing file"}
