"""bench/library_speed.py's helpers: the library it extracts from .deb files, its seeded choice, its arithmetic.

The extraction is checked on eight fake packages written here (``ar`` + ``control.tar.xz`` +
``data.tar.xz``), named and laid out like the development library's: what comes out must be the
packaged bytes themselves (whole files in their own containers), without the sound effects,
the byte-identical copy and the jingle.  Nothing here runs melrec, bliss or musicnn.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from melrec_lib.app.library import SyncReport
from melrec_lib.corpora import soundtracks

SR = 8000
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("library_speed", ROOT / "bench" / "library_speed.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["library_speed"] = module  # its dataclass looks its module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["library_speed"]


def _audio(seconds: float, freq: float, fmt: str, subtype: str, sr: int = SR) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz", preset=0) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _deb(folder: Path, package: str, files: dict[str, bytes]) -> None:
    """A Debian package as dpkg-deb lays it out: an ``ar`` archive of three members."""
    control = f"Package: {package}\nVersion: 1.0-1\nArchitecture: all\nDescription: fake\n test\n".encode()
    out = b"!<arch>\n"
    for name, data in (
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", _tar({"control": control})),
        ("data.tar.xz", _tar(files)),
    ):
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}".encode() + b"`\n"
        out += data + (b"\n" if len(data) % 2 else b"")
    (folder / f"{package}_1.0-1_all.deb").write_bytes(out)


@pytest.fixture()
def packages(tmp_path, monkeypatch):
    """The eight development packages with one track each (several files in three of them)."""
    monkeypatch.setattr(soundtracks, "MIN_DURATION_S", 1.0)  # 40 s in the real library
    debs = tmp_path / "debs"
    debs.mkdir()
    music = {}  # path in package -> bytes, of every file that must come out
    for i, st in enumerate(soundtracks.get_library(soundtracks.DEVELOPMENT).soundtracks):
        rel = st.music[0].replace("*", "x").rstrip("/").removesuffix("x") + f"track{i}.ogg"
        music[f"{st.root}/{rel}"] = _audio(1.5, 200 + 50 * i, "OGG", "VORBIS")
    files = dict(music)
    wz = "usr/share/games/warzone2100/music/"
    music[wz + "album/long.opus"] = files[wz + "album/long.opus"] = _audio(2.0, 440, "OGG", "OPUS", sr=48000)
    files[wz + "album/jingle.ogg"] = _audio(0.5, 500, "OGG", "VORBIS")  # shorter than MIN_DURATION_S
    dr = "usr/share/scummvm/drascula/"
    files[dr + "zz-copy.ogg"] = files[dr + "track3.ogg"]  # the same bytes again: only the first by path
    files["usr/share/games/colobot/sounds/boom.ogg"] = _audio(1.5, 900, "OGG", "VORBIS")  # a sound effect
    for st in soundtracks.get_library(soundtracks.DEVELOPMENT).soundtracks:
        _deb(debs, st.package, {p: b for p, b in files.items() if p.startswith(st.root + "/")})
    return debs, music


def test_extract_tracks_yields_whole_packaged_files(bench, packages, tmp_path):
    debs, music = packages
    dest = tmp_path / "out"
    tracks, dropped = bench.extract_tracks(debs, dest)
    assert len(tracks) == len(music) == 9
    by_bytes = {b: p for p, b in music.items()}
    for t in tracks:
        data = Path(t.path).read_bytes()
        assert data in by_bytes, t.path  # the packaged file itself: not re-encoded, not cut
        assert t.suffix == Path(by_bytes[data]).suffix
        assert Path(t.path).is_relative_to(dest / t.soundtrack)
    opus = next(t for t in tracks if t.suffix == ".opus")
    assert opus.seconds == pytest.approx(2.0, abs=0.02)
    reasons = sorted(r for _, r in dropped)
    assert reasons == ["duplicate bytes", "shorter than 1 s"]
    assert not any(Path(p).exists() for p, _ in dropped)
    assert not list(dest.rglob("boom.ogg"))
    assert [t.path for t in tracks] == sorted(t.path for t in tracks)


def test_link_library_mirrors_the_folders(bench, packages, tmp_path):
    debs, _ = packages
    tracks, _ = bench.extract_tracks(debs, tmp_path / "out")
    out = bench.link_library(tracks[:3], tmp_path / "out", tmp_path / "lib")
    assert [p.relative_to(tmp_path / "lib") for p in out] == [
        Path(t.path).relative_to(tmp_path / "out") for t in tracks[:3]
    ]
    assert all(p.read_bytes() == Path(t.path).read_bytes() for p, t in zip(out, tracks))


def test_choose_is_seeded(bench):
    a = bench.choose(130, 6, 7)
    assert a == bench.choose(130, 6, 7) == sorted(a)
    assert len(set(a)) == 6 and all(0 <= i < 130 for i in a)
    assert a == sorted(np.random.default_rng(7).choice(130, size=6, replace=False).tolist())
    assert bench.choose(5, 5, 1) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        bench.choose(3, 4, 0)


def test_ratio(bench):
    assert bench.ratio(130 / 65.0, 130 / 260.0) == pytest.approx(4.0)  # 65 s against 260 s for 130 tracks
    assert bench.ratio(1.0, 4.0) == 0.25
    with pytest.raises(ValueError):
        bench.ratio(1.0, 0.0)


def test_library_sync_reads_melrec_recommends_line(bench):
    report = SyncReport(new=127, cached=3, seconds=61.25)
    # the line melrec_lib.app.recommend prints after the library's sync
    line = f"library /tmp/lib: 130 audio files; {report.summary()} ({report.seconds:.1f} s)"
    assert bench.library_sync(f"using musicnn\n{line}\n127 library tracks ranked\n") == (127, 61.2)
    with pytest.raises(SystemExit):
        bench.library_sync("no such line\n")
