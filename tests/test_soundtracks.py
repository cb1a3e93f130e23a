"""soundtracks: fake Debian packages (real .deb files made here) through fetch, unpack, select, convert.

Every test builds from packages written by this file (``ar`` + ``control.tar.xz`` +
``data.tar.*`` holding short synthesized audio at 8 kHz), named like the eight real packages and
laid out like them, so the real selection table is what is tested.  No network, no real apt:
a fake ``apt-get`` script on ``PATH`` stands in for it.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from melrec_lib.corpora import soundtracks
from melrec_lib.errors import DatasetError, ParameterError
from melrec_lib.io import audio

SR = 8000  # source rate of the fake files: small packages, and every track is resampled
# the policy scaled down (40 s minimum, 120 s excerpt in the real corpus), so the fake tracks are short
MIN_DURATION_S, EXCERPT_S = 4.0, 6.0
REAL_POLICY = (soundtracks.MIN_DURATION_S, soundtracks.EXCERPT_S, soundtracks.SAMPLE_RATE)


@pytest.fixture(autouse=True)
def _small_policy(monkeypatch):
    monkeypatch.setattr(soundtracks, "MIN_DURATION_S", MIN_DURATION_S)
    monkeypatch.setattr(soundtracks, "EXCERPT_S", EXCERPT_S)


# --------------------------------------------------------------------------------------------
# making fake packages
# --------------------------------------------------------------------------------------------
def _signal(seconds: float, freq: float, *, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.4 * np.sin(2 * np.pi * freq * t) + 0.02 * noise).astype(np.float32)


def _encode(y: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS"}[fmt]
    if subtype == "PCM_16":  # exact samples: a WAV and a FLAC of one signal decode alike
        y = np.round(y * 32767).astype(np.int16)
    sf.write(buf, y, SR, format=fmt, subtype=subtype)
    return buf.getvalue()


def _tar(files: dict[str, bytes], compression: str, links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    kwargs = {"preset": 0} if compression == "xz" else {}
    with tarfile.open(fileobj=buf, mode=f"w:{compression}" if compression else "w", **kwargs) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo("./" + name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
        for name, target in sorted((links or {}).items()):
            info = tarfile.TarInfo("./" + name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


def _ar(members: list[tuple[str, bytes]]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}".encode() + b"`\n"
        out += data + (b"\n" if len(data) % 2 else b"")
    return out


def make_deb(
    folder: Path,
    package: str,
    files: dict[str, bytes],
    *,
    version: str = "1.0-1",
    compression: str = "xz",
    links: dict[str, str] | None = None,
) -> Path:
    control = f"Package: {package}\nVersion: {version}\nArchitecture: all\nDescription: fake\n test\n"
    deb = _ar(
        [
            ("debian-binary", b"2.0\n"),
            ("control.tar.xz", _tar({"control": control.encode()}, "xz")),
            (f"data.tar.{compression}" if compression else "data.tar", _tar(files, compression, links)),
        ]
    )
    path = folder / f"{package}_{version}_all.deb"
    path.write_bytes(deb)
    return path


def fake_packages(folder: Path) -> dict[str, Path]:
    """The eight packages, each with the files that exercise one rule."""
    folder.mkdir(parents=True, exist_ok=True)
    s = lambda sec, f, seed: _signal(sec, f, seed=seed)  # noqa: E731
    drascula2 = s(4.2, 330, 7)
    track1 = _encode(s(4.3, 300, 8), "OGG")
    d = "usr/share/scummvm/drascula/"
    wz = "usr/share/games/warzone2100/music/"
    debs = {
        "warzone2100-music": make_deb(
            folder,
            "warzone2100-music",
            {
                wz + "menu.wav": _encode(s(10, 220, 1), "WAV"),  # longer than the excerpt
                wz + "albums/original_soundtrack/track1.ogg": _encode(s(4.5, 440, 2), "OGG"),
                wz + "albums/legacy_soundtrack/track4.flac": _encode(s(4.4, 550, 3), "FLAC"),
                wz + "albums/legacy_soundtrack/album.json": b'{"title": "not audio"}',
            },
            version="4.3.3-3",
        ),
        "singularity-music": make_deb(
            folder,
            "singularity-music",
            {
                "usr/share/games/singularity/music/A New Journey.ogg": _encode(s(4.1, 660, 4), "OGG"),
                "usr/share/games/singularity/music/win/Apex.ogg": _encode(s(1, 770, 5), "OGG"),  # too short
            },
        ),
        # gzip instead of xz, as some packages are built
        "planetblupi-music-ogg": make_deb(
            folder,
            "planetblupi-music-ogg",
            {
                "usr/share/planetblupi/music/music000.ogg": _encode(s(4.2, 880, 6), "OGG"),
            },
            compression="gz",
        ),
        "drascula-music": make_deb(
            folder,
            "drascula-music",
            {
                d + "audio/track1.ogg": track1,
                d + "de/track1.ogg": track1,  # byte-identical language copies, as in the real package
                d + "en/track1.ogg": track1,
                d + "audio/track2.wav": _encode(drascula2, "WAV"),
                d + "fr/track2.flac": _encode(drascula2, "FLAC"),  # other bytes, same decoded audio
                d + "readme.txt": b"not audio",
            },
            links={d + "it/track1.ogg": "../audio/track1.ogg"},
        ),
        "colobot-common-sounds": make_deb(
            folder,
            "colobot-common-sounds",
            {
                "usr/share/games/colobot/music/music002.ogg": _encode(s(4.3, 500, 9), "OGG"),
                "usr/share/games/colobot/sounds/click.wav": _encode(s(0.5, 1000, 10), "WAV"),
            },
        ),
        "freedroidrpg-data": make_deb(
            folder,
            "freedroidrpg-data",
            {
                "usr/share/freedroidrpg/data/sound/music/town.ogg": _encode(s(4.4, 600, 11), "OGG"),
                "usr/share/freedroidrpg/data/base/titles/StartOfGame.ogg": _encode(s(4.1, 610, 12), "OGG"),
            },
        ),
        "megaglest-data": make_deb(
            folder,
            "megaglest-data",
            {
                "usr/share/games/megaglest/techs/megapack/factions/egypt/music/egypt.ogg": _encode(
                    s(4.5, 700, 13), "OGG"
                ),
                "usr/share/games/megaglest/tilesets/forest/sounds/night.ogg": _encode(s(5, 710, 14), "OGG"),
                "usr/share/games/megaglest/techs/megapack/factions/egypt/units/x/sounds/hit.wav": _encode(
                    s(0.5, 720, 15), "WAV"
                ),
            },
        ),
        "asc-music": make_deb(
            folder,
            "asc-music",
            {
                "usr/share/games/asc/music/frontiers.ogg": _encode(s(4.6, 800, 16), "OGG"),
                "usr/share/games/asc/music/silence.wav": _encode(np.zeros(int(4.1 * SR), np.float32), "WAV"),
            },
        ),
    }
    return debs


@pytest.fixture(scope="module")
def debs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("debs")
    fake_packages(folder)
    return folder


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MELREC_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _build(**kw) -> pd.DataFrame:
    return soundtracks.build(n_jobs=1, progress=False, **kw)


def _wav_bytes(df: pd.DataFrame) -> dict[str, bytes]:
    return {r.track_id: Path(r.path).read_bytes() for r in df.itertuples()}


# --------------------------------------------------------------------------------------------
# the .deb reader
# --------------------------------------------------------------------------------------------
def test_read_control_and_data(debs):
    deb = debs / "warzone2100-music_4.3.3-3_all.deb"
    control = soundtracks.read_control(deb)
    assert control["Package"] == "warzone2100-music" and control["Version"] == "4.3.3-3"
    assert control["Description"] == "fake\ntest"
    names = {soundtracks._member_path(m.name) for m, _ in soundtracks.iter_data(deb) if m.isfile()}
    assert "usr/share/games/warzone2100/music/menu.wav" in names


def test_dpkg_deb_agrees_with_the_python_reader(debs, tmp_path):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed")
    deb = debs / "drascula-music_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    for m, tar in soundtracks.iter_data(deb):
        if m.isfile():
            path = soundtracks._member_path(m.name)
            assert tar.extractfile(m).read() == (tmp_path / path).read_bytes()


def test_not_a_deb(tmp_path):
    bad = tmp_path / "x_1_all.deb"
    bad.write_bytes(b"hello")
    with pytest.raises(soundtracks.PackageFetchError, match="not a Debian package"):
        soundtracks.read_control(bad)


@pytest.mark.skipif(
    shutil.which("zstd") is None or shutil.which("dpkg-deb") is None, reason="needs the zstd and dpkg-deb tools"
)
def test_zstd_data_via_dpkg_deb(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "zstandard", None)  # as on a machine without the package
    raw = _tar({"usr/share/games/asc/music/a.ogg": b"bytes"}, "")
    zst = subprocess.run(["zstd", "-q", "-c"], input=raw, stdout=subprocess.PIPE, check=True).stdout
    control = _tar({"control": b"Package: asc-music\nVersion: 9\n"}, "xz")
    deb = tmp_path / "asc-music_9_all.deb"
    deb.write_bytes(_ar([("debian-binary", b"2.0\n"), ("control.tar.xz", control), ("data.tar.zst", zst)]))
    got = {
        soundtracks._member_path(m.name): tar.extractfile(m).read()
        for m, tar in soundtracks.iter_data(deb)
        if m.isfile()
    }
    assert got == {"usr/share/games/asc/music/a.ogg": b"bytes"}
    monkeypatch.setattr(soundtracks.shutil, "which", lambda name: None)
    with pytest.raises(soundtracks.PackageFetchError, match="zstandard.*dpkg-deb"):
        list(soundtracks.iter_data(deb))


# --------------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------------
EXPECTED = {
    "warzone2100-menu",
    "warzone2100-track1",
    "warzone2100-track4",
    "singularity-a-new-journey",
    "planetblupi-music000",
    "drascula-track1",
    "drascula-track2",
    "colobot-music002",
    "freedroidrpg-town",
    "megaglest-egypt",
    "asc-frontiers",
}


def test_build_selects_dedups_and_skips(debs, data_dir):
    df = _build(debs=debs)
    assert set(df["track_id"]) == EXPECTED
    by = df.set_index("track_id")
    assert by.loc["warzone2100-track1", "substyle"] == "original"
    assert by.loc["warzone2100-track4", "substyle"] == "legacy"
    assert by.loc["warzone2100-track4", "composer"] == "LupusMechanicus"
    assert by.loc["warzone2100-track1", "source"] == "warzone2100-music 4.3.3-3"
    assert by.loc["megaglest-egypt", "substyle"] == "egypt"
    assert by.loc["drascula-track1", "source_path"] == "usr/share/scummvm/drascula/audio/track1.ogg"
    genres = {st.name: st.genre for st in soundtracks.SOUNDTRACKS}
    assert (df["genre"] == df["soundtrack"].map(genres)).all()
    assert (df["artist"] == df["soundtrack"]).all()
    assert df["license"].notna().all() and (df["license"] != "").all()

    reasons = df.attrs["skipped"].set_index("path")["reason"]
    d = "usr/share/scummvm/drascula/"
    assert reasons[d + "de/track1.ogg"] == f"duplicate: same file bytes as {d}audio/track1.ogg"
    assert reasons[d + "en/track1.ogg"].startswith("duplicate: same file bytes")
    assert reasons[d + "it/track1.ogg"].startswith("duplicate: a link")
    assert reasons[d + "fr/track2.flac"] == "duplicate: same decoded audio as drascula-track2"
    assert reasons["usr/share/games/singularity/music/win/Apex.ogg"].startswith("too short: 1.0 s < 4 s")
    assert (
        reasons["usr/share/games/megaglest/tilesets/forest/sounds/night.ogg"]
        == "not music: ambience (tilesets/*/sounds)"
    )
    assert reasons["usr/share/games/colobot/sounds/click.wav"].startswith("not music: sound effect")
    assert reasons["usr/share/freedroidrpg/data/base/titles/StartOfGame.ogg"].startswith("not music: outside")
    assert reasons["usr/share/games/asc/music/silence.wav"].startswith("silent")
    assert not any(p.endswith((".txt", ".json")) for p in reasons.index)  # non-audio files are ignored
    assert set(reasons.index).isdisjoint(df["source_path"])

    for r in df.itertuples():
        info = sf.info(r.path)
        assert (info.samplerate, info.channels, info.subtype) == (44100, 1, "PCM_16")
        assert info.frames == round(r.duration_s * 44100)
        assert Path(r.path).parent.name == r.soundtrack
        assert r.duration_s == pytest.approx(min(r.source_duration_s, EXCERPT_S))

    root = soundtracks.corpus_root()
    assert root == data_dir / "raw" / "soundtracks"
    assert (root / "skipped.csv").is_file()
    again = soundtracks.load_manifest()
    pd.testing.assert_frame_equal(again.reset_index(drop=True), df.reset_index(drop=True))
    assert len(again.attrs["skipped"]) == len(df.attrs["skipped"])


def test_excerpt_is_the_central_part(debs, data_dir):
    df = _build(debs=debs).set_index("track_id")
    row = df.loc["warzone2100-menu"]
    assert row["source_duration_s"] == pytest.approx(10.0)
    assert row["duration_s"] == pytest.approx(EXCERPT_S)
    assert row["offset_s"] == pytest.approx(2.0)
    # the central EXCERPT_S of the same decode + resample as audio.load, rounded like pcm_s16le
    deb = debs / "warzone2100-music_4.3.3-3_all.deb"
    src = data_dir.parent / "menu.wav"
    for m, tar in soundtracks.iter_data(deb):
        if m.name.endswith("/menu.wav"):
            src.write_bytes(tar.extractfile(m).read())
    y, sr = audio.load(src, sr=44100)
    start = int(round(2.0 * sr))
    want = np.clip(np.rint(y[start : start + int(EXCERPT_S * sr)].astype(np.float64) * 32768), -32768, 32767)
    got, _ = sf.read(row["path"], dtype="int16")
    np.testing.assert_array_equal(got, want.astype(np.int16))


def test_same_packages_same_bytes(debs, tmp_path, monkeypatch):
    monkeypatch.setenv("MELREC_DATA_DIR", str(tmp_path / "a"))
    a = _build(debs=debs)
    bytes_a = _wav_bytes(a)
    csv_a = (soundtracks.corpus_root() / "tracks.csv").read_bytes()
    skipped_a = (soundtracks.corpus_root() / "skipped.csv").read_bytes()
    monkeypatch.setenv("MELREC_DATA_DIR", str(tmp_path / "b"))
    b = _build(debs=debs)
    assert _wav_bytes(b) == bytes_a
    assert (soundtracks.corpus_root() / "tracks.csv").read_bytes() == csv_a
    assert (soundtracks.corpus_root() / "skipped.csv").read_bytes() == skipped_a


def test_rebuild_reuses_and_repairs(debs, data_dir):
    df = _build(debs=debs)
    before = _wav_bytes(df)
    stamps = {r.track_id: os.stat(r.path).st_mtime_ns for r in df.itertuples()}
    again = _build(debs=debs)
    assert {r.track_id: os.stat(r.path).st_mtime_ns for r in again.itertuples()} == stamps
    # a truncated WAV (an interrupted copy, a bad disk) is converted again, to the same bytes
    broken = Path(df.set_index("track_id").loc["colobot-music002", "path"])
    broken.write_bytes(broken.read_bytes()[:1000])
    stray = soundtracks.corpus_root() / "colobot" / "old-track.wav"
    stray.write_bytes(b"left over")
    repaired = _build(debs=debs)
    assert _wav_bytes(repaired) == before
    assert not stray.exists()


def test_a_failed_build_leaves_no_manifest(debs, data_dir, monkeypatch):
    _build(debs=debs)
    csv = soundtracks.corpus_root() / "tracks.csv"
    csv.write_text(csv.read_text())  # still the old build's
    monkeypatch.setattr(soundtracks, "BUILD_VERSION", soundtracks.BUILD_VERSION + 1)  # every package stale

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(soundtracks, "_convert", boom)
    with pytest.raises(KeyboardInterrupt):
        _build(debs=debs)
    assert not csv.exists()
    with pytest.raises(DatasetError, match="not built.*melrec corpus soundtracks"):
        soundtracks.load_manifest()
    leftovers = [p for p in soundtracks.corpus_root().rglob("*") if ".tmp" in p.name]
    assert leftovers == []


# --------------------------------------------------------------------------------------------
# fetching
# --------------------------------------------------------------------------------------------
FAKE_APT = r"""#!/bin/sh
# a stand-in for apt-get: logs its calls; `download` copies $FAKE_DEBS/<pkg>_*.deb into the cwd
echo "$@" >> "$FAKE_LOG"
if [ "$1" = update ]; then touch "$FAKE_UPDATED"; exit 0; fi
if [ "$1" = download ]; then
  shift
  if [ -n "$FAKE_NEEDS_UPDATE" ] && [ ! -e "$FAKE_UPDATED" ]; then
    for p in "$@"; do echo "E: Unable to locate package $p" >&2; done; exit 100
  fi
  for p in "$@"; do cp "$FAKE_DEBS"/"$p"_*.deb . || exit 100; done
  exit 0
fi
exit 1
"""


@pytest.fixture
def fake_apt(tmp_path, monkeypatch, debs):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "apt-get"
    script.write_text(FAKE_APT)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "apt.log"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}/usr/bin:/bin")
    monkeypatch.setenv("FAKE_DEBS", str(debs))
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_UPDATED", str(tmp_path / "updated"))
    return log


def test_fetch_downloads_once_into_external(fake_apt, data_dir):
    df = _build()
    assert set(df["track_id"]) == EXPECTED
    cached = sorted(p.name for p in (data_dir / "external").glob("*.deb"))
    assert len(cached) == len(soundtracks.PACKAGES)
    assert fake_apt.read_text().splitlines() == ["download " + " ".join(soundtracks.PACKAGES)]
    assert not [p for p in (data_dir / "external").iterdir() if p.is_dir()]  # no temporary folder left
    _build()
    assert len(fake_apt.read_text().splitlines()) == 1  # the cache is used, apt not called again


def test_unable_to_locate_package_as_user(fake_apt, data_dir, monkeypatch):
    monkeypatch.setenv("FAKE_NEEDS_UPDATE", "1")
    monkeypatch.setattr(soundtracks, "_is_root", lambda: False)
    with pytest.raises(soundtracks.PackageFetchError) as err:
        _build()
    msg = str(err.value)
    assert "Unable to locate package warzone2100-music" in msg
    assert "package lists were never fetched" in msg and "apt-get update" in msg and "root" in msg
    assert "--debs DIR" in msg
    assert "update" not in fake_apt.read_text().split()  # a user process never runs it


def test_unable_to_locate_package_as_root_updates_once(fake_apt, data_dir, monkeypatch):
    monkeypatch.setenv("FAKE_NEEDS_UPDATE", "1")
    monkeypatch.setattr(soundtracks, "_is_root", lambda: True)
    df = _build()
    assert len(df) == len(EXPECTED)
    calls = [line.split()[0] for line in fake_apt.read_text().splitlines()]
    assert calls == ["download", "update", "download"]


def test_no_apt_names_the_packages_and_debs(tmp_path, data_dir, monkeypatch):
    empty = tmp_path / "nothing"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(soundtracks.PackageFetchError) as err:
        _build()
    msg = str(err.value)
    assert "apt-get is not available" in msg and "--debs DIR" in msg
    for package in soundtracks.PACKAGES:
        assert package in msg
    assert isinstance(err.value, DatasetError)


def test_debs_folder_errors(debs, tmp_path, data_dir):
    with pytest.raises(soundtracks.PackageFetchError, match="no such folder"):
        _build(debs=tmp_path / "missing")
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(debs / "asc-music_1.0-1_all.deb", partial)
    with pytest.raises(soundtracks.PackageFetchError, match="lacks the Debian package.*warzone2100-music"):
        _build(debs=partial)
    shutil.copy(debs / "asc-music_1.0-1_all.deb", partial / "asc-music_2.0-1_all.deb")
    with pytest.raises(soundtracks.PackageFetchError, match="2 files of package asc-music"):
        soundtracks.fetch(debs=partial, packages=["asc-music"])


def test_wrong_package_in_file(debs, tmp_path, data_dir):
    mixed = tmp_path / "mixed"
    shutil.copytree(debs, mixed)
    os.replace(mixed / "asc-music_1.0-1_all.deb", mixed / "asc-music_1.0-1_all.deb.bak")
    shutil.copy(mixed / "colobot-common-sounds_1.0-1_all.deb", mixed / "asc-music_1.0-1_all.deb")
    with pytest.raises(soundtracks.PackageFetchError, match="holds package 'colobot-common-sounds'"):
        _build(debs=mixed)


def test_parameters_and_not_built(data_dir):
    with pytest.raises(ParameterError, match="n_jobs"):
        soundtracks.build(n_jobs=0)
    with pytest.raises(DatasetError, match="not built.*--debs DIR"):
        soundtracks.load_manifest()


def test_one_table_holds_the_eight_packages():
    assert soundtracks.PACKAGES == (
        "warzone2100-music",
        "singularity-music",
        "planetblupi-music-ogg",
        "drascula-music",
        "colobot-common-sounds",
        "freedroidrpg-data",
        "megaglest-data",
        "asc-music",
    )
    for st in soundtracks.SOUNDTRACKS:
        assert st.genre and st.reason and st.license and st.composer


def test_the_real_policy():
    # the fixture above scales the policy down for speed; these are the real corpus' values
    assert REAL_POLICY == (40.0, 120.0, 44100)


def test_an_undecodable_music_file_is_skipped(tmp_path, data_dir):
    folder = tmp_path / "debs"
    fake_packages(folder)
    make_deb(
        folder,
        "asc-music",
        {
            "usr/share/games/asc/music/broken.ogg": b"OggS but not really",
            "usr/share/games/asc/music/frontiers.ogg": _encode(_signal(4.6, 800, seed=16), "OGG"),
        },
    )
    df = _build(debs=folder)
    reason = df.attrs["skipped"].set_index("path").loc["usr/share/games/asc/music/broken.ogg", "reason"]
    assert reason.startswith("unreadable: AudioError: the file") and "melrec-soundtracks-" not in reason
    assert "asc-frontiers" in set(df["track_id"])


# --------------------------------------------------------------------------------------------
# the confirmation library: seven other packages through the same machinery
# --------------------------------------------------------------------------------------------
def fake_confirmation_packages(folder: Path) -> dict[str, Path]:
    """The seven confirmation packages, laid out like the real ones (paths as `dpkg-deb -c` lists them)."""
    folder.mkdir(parents=True, exist_ok=True)
    s = lambda sec, f, seed: _signal(sec, f, seed=seed)  # noqa: E731
    naev = "usr/share/naev/dat/snd/"
    stk = "usr/share/games/supertuxkart/data/"
    uh = "usr/share/unknown-horizons/content/audio/"
    flare = "usr/share/games/flare/mods/"
    wm = "usr/share/games/warmux/"
    apnee = s(4.4, 330, 107)
    return {
        "naev-data": make_deb(
            folder,
            "naev-data",
            {
                naev + "music/combat1.ogg": _encode(s(4.5, 300, 101), "OGG"),
                naev + "music/agriculture.ogg": _encode(s(4.3, 310, 102), "OGG"),
                naev + "music/blackmoor_tides.ogg": _encode(s(4.2, 320, 103), "OGG"),
                naev + "music/launch2.ogg": _encode(s(1.5, 330, 104), "OGG"),  # a jingle: too short
                naev + "music/checkgain.sh": b"#!/bin/sh\n",
                naev + "sounds/laser.wav": _encode(s(0.4, 900, 105), "WAV"),
            },
            version="0.8.2-1",
        ),
        # the music folder is data/music, beside sfx/ and the race tracks' own folders
        "supertuxkart-data": make_deb(
            folder,
            "supertuxkart-data",
            {
                stk + "music/celtic.ogg": _encode(s(4.6, 350, 106), "OGG"),
                stk + "music/celtic_fast.ogg": _encode(s(4.3, 360, 108), "OGG"),
                stk + "music/celtic.music": b'<music title="Scottish bagpipes" file="celtic.ogg"/>',
                stk + "sfx/boost.ogg": _encode(s(0.5, 950, 109), "OGG"),
                stk + "tracks/cave/beneath_the_rabbit_hole.ogg": _encode(s(4.4, 370, 110), "OGG"),
            },
            version="1.4+dfsg-2",
        ),
        "unknown-horizons": make_deb(
            folder,
            "unknown-horizons",
            {
                uh + "music/Peer Gynt Suite No. 1, Op. 46 - I. Morning.ogg": _encode(s(4.5, 392, 111), "OGG"),
                uh + "music/menu/main_theme.ogg": _encode(s(4.2, 400, 112), "OGG"),
                uh + "music/waves.ogg": _encode(s(4.1, 410, 113), "OGG"),
                uh + "sounds/build.ogg": _encode(s(0.6, 970, 114), "OGG"),
                uh + "voice/en/0/new_world/hello.ogg": _encode(s(2.0, 420, 115), "OGG"),
            },
            version="2019.1-6",
        ),
        "flare-game": make_deb(
            folder,
            "flare-game",
            {
                flare + "fantasycore/music/battle_theme.ogg": _encode(s(4.7, 430, 116), "OGG"),
                flare + "fantasycore/music/wind_ambient.ogg": _encode(s(5.0, 440, 117), "OGG"),
                flare + "fantasycore/soundfx/steps/step1.ogg": _encode(s(0.3, 990, 118), "OGG"),
                flare + "empyrean_campaign/soundfx/environment/fire.ogg": _encode(s(1.0, 450, 119), "OGG"),
            },
            version="1.14-1",
        ),
        "warmux-data": make_deb(
            folder,
            "warmux-data",
            {
                wm + "music/ingame/Olivier_Militon.-.Apnee.ogg": _encode(apnee, "FLAC"),
                # other bytes, the same decoded audio: one track
                wm + "music/ingame/Olivier_Militon.-.Apnee2.ogg": _encode(apnee, "WAV"),
                wm + "music/ingame/circux.ogg": _encode(s(4.5, 460, 120), "OGG"),
                wm + "music/ingame/old_tune.xm": b"Extended Module: old tune\x1a",  # a tracker module
                wm + "music/ingame/ingame.m3u": b"circux.ogg\n",
                wm + "music/menu/Divertissement_pour_flute.ogg": _encode(s(4.2, 470, 121), "OGG"),
                wm + "sound/default/misc/frog_music.ogg": _encode(s(4.4, 480, 122), "OGG"),
            },
            version="1:11.04.1+repack2-4",
        ),
        "openclonk-data": make_deb(
            folder,
            "openclonk-data",
            {
                "usr/share/games/openclonk/Music.ocg/@CrushedIceCocktail.ogg": _encode(s(4.3, 490, 123), "OGG"),
                "usr/share/games/openclonk/Music.ocg/Cavern.ogg": _encode(s(8.3, 500, 124), "OGG"),  # > excerpt
                "usr/share/games/openclonk/Music.ocg/authors.txt": b"K-Pone  IslandDreams, Motorway, ...\n",
                "usr/share/games/openclonk/Sound.ocg": b"a packed group file, not audio",
            },
            version="8.1-3",
        ),
        "extremetuxracer-data": make_deb(
            folder,
            "extremetuxracer-data",
            {
                "usr/share/games/etr/music/race1-jt.ogg": _encode(s(4.4, 510, 125), "OGG"),
                "usr/share/games/etr/music/freezingpoint.ogg": _encode(s(4.8, 520, 126), "OGG"),
                "usr/share/games/etr/music/lostrace-ks.ogg": _encode(s(1.2, 530, 127), "OGG"),
                "usr/share/games/etr/sounds/snow_sliding.wav": _encode(s(1.0, 540, 128), "WAV"),
            },
            version="0.8.2-1",
        ),
    }


@pytest.fixture(scope="module")
def confirmation_debs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("confirmation-debs")
    fake_confirmation_packages(folder)
    return folder


CONFIRMATION_EXPECTED = {
    "naev-combat1",
    "naev-agriculture",
    "naev-blackmoor-tides",
    "supertuxkart-celtic",
    "supertuxkart-celtic-fast",
    "unknownhorizons-peer-gynt-suite-no-1-op-46-i-morning",
    "unknownhorizons-main-theme",
    "unknownhorizons-waves",
    "flare-battle-theme",
    "warmux-olivier-militon-apnee",
    "warmux-circux",
    "warmux-divertissement-pour-flute",
    "openclonk-crushedicecocktail",
    "openclonk-cavern",
    "extremetuxracer-race1-jt",
    "extremetuxracer-freezingpoint",
}


def _confirm(**kw) -> pd.DataFrame:
    return soundtracks.build(library="confirmation", n_jobs=1, progress=False, **kw)


def test_confirmation_build_selects_labels_and_skips(confirmation_debs, data_dir):
    df = _confirm(debs=confirmation_debs)
    assert set(df["track_id"]) == CONFIRMATION_EXPECTED
    by = df.set_index("track_id")
    # composers and licences as the packages' copyright files, .music files and credits state them
    assert tuple(by.loc["naev-combat1", ["substyle", "composer", "license"]]) == ("askyel", "Askyel", "CC-BY-SA-3.0")
    assert tuple(by.loc["naev-agriculture", ["composer", "license"]]) == ("Vega Strike", "GPL-2+")
    assert by.loc["naev-blackmoor-tides", "license"] == "GPL-3+"  # the copyright file's `Files: *`
    assert by.loc["naev-combat1", "source"] == "naev-data 0.8.2-1"
    assert by.loc["supertuxkart-celtic-fast", "substyle"] == "last-lap"
    assert by.loc["supertuxkart-celtic-fast", "license"] == "GPL-3+"  # not listed apart: `Files: *`
    assert tuple(by.loc["supertuxkart-celtic", ["composer", "license"]]) == ("0zone0ne and Krobonil", "CC-BY-SA-3.0")
    assert by.loc["supertuxkart-celtic", "source_path"] == "usr/share/games/supertuxkart/data/music/celtic.ogg"
    assert by.loc["unknownhorizons-main-theme", "substyle"] == "menu"
    assert by.loc["unknownhorizons-peer-gynt-suite-no-1-op-46-i-morning", "composer"].startswith("Edvard Grieg")
    assert by.loc["warmux-olivier-militon-apnee", "composer"] == "Olivier Militon"
    assert by.loc["warmux-circux", "composer"] == "Sebastien Sabouret"  # authors.xml: "Musics: *ux"
    assert by.loc["warmux-circux", "source"] == "warmux-data 1:11.04.1+repack2-4"
    assert by.loc["openclonk-cavern", "license"].startswith("CC-BY-3.0")
    assert by.loc["extremetuxracer-race1-jt", "composer"] == "Joseph Toscano"  # music/readme
    assert by.loc["extremetuxracer-freezingpoint", "composer"] == "Grady O'Connell"
    genres = {st.name: st.genre for st in soundtracks.CONFIRMATION_SOUNDTRACKS}
    assert (df["genre"] == df["soundtrack"].map(genres)).all()
    assert (df["artist"] == df["soundtrack"]).all()
    assert df["license"].str.len().gt(0).all() and df["source"].str.len().gt(0).all()

    reasons = df.attrs["skipped"].set_index("path")["reason"]
    wm = "usr/share/games/warmux/"
    assert reasons[wm + "music/ingame/old_tune.xm"].startswith("unreadable format: .xm")
    assert (
        reasons[wm + "music/ingame/Olivier_Militon.-.Apnee2.ogg"]
        == "duplicate: same decoded audio as warmux-olivier-militon-apnee"
    )
    assert reasons[wm + "sound/default/misc/frog_music.ogg"].startswith("not music: sound effect")
    assert reasons["usr/share/naev/dat/snd/music/launch2.ogg"].startswith("too short: 1.5 s < 4 s")
    assert reasons["usr/share/naev/dat/snd/sounds/laser.wav"].startswith("not music: outside")
    stk = "usr/share/games/supertuxkart/data/"
    assert reasons[stk + "tracks/cave/beneath_the_rabbit_hole.ogg"].startswith("not taken: a race track's")
    assert reasons[stk + "sfx/boost.ogg"] == "not music: sound effect (sfx/)"
    flare = "usr/share/games/flare/mods/"
    assert reasons[flare + "fantasycore/music/wind_ambient.ogg"].startswith("not music: ambience")
    assert reasons[flare + "fantasycore/soundfx/steps/step1.ogg"] == "not music: sound effect (soundfx/)"
    assert reasons[flare + "empyrean_campaign/soundfx/environment/fire.ogg"].startswith("not music: outside")
    uh = "usr/share/unknown-horizons/content/audio/"
    assert reasons[uh + "voice/en/0/new_world/hello.ogg"] == "not music: voice-over (voice/)"
    assert reasons[uh + "sounds/build.ogg"] == "not music: sound effect (sounds/)"
    assert reasons["usr/share/games/etr/music/lostrace-ks.ogg"].startswith("too short")
    assert not any(p.endswith((".txt", ".m3u", ".music", ".sh", ".ocg")) for p in reasons.index)
    assert set(reasons.index).isdisjoint(df["source_path"])
    assert set(df.attrs["skipped"]["package"]) <= set(soundtracks.CONFIRMATION_PACKAGES)

    for r in df.itertuples():
        info = sf.info(r.path)
        assert (info.samplerate, info.channels, info.subtype) == (44100, 1, "PCM_16")
        assert Path(r.path).parent.name == r.soundtrack

    root = soundtracks.corpus_root("confirmation")
    assert root == data_dir / "raw" / "soundtracks-confirmation"
    assert not (data_dir / "raw" / "soundtracks").exists()  # the development library is untouched
    again = soundtracks.load_manifest(library="confirmation")
    pd.testing.assert_frame_equal(again.reset_index(drop=True), df.reset_index(drop=True))


def test_confirmation_decodes_like_audio_load(confirmation_debs, data_dir):
    # the excerpt of a confirmation track is the same decode + resample as audio.load, rounded like pcm_s16le
    row = _confirm(debs=confirmation_debs).set_index("track_id").loc["openclonk-cavern"]
    src = data_dir.parent / "Cavern.ogg"
    for m, tar in soundtracks.iter_data(confirmation_debs / "openclonk-data_8.1-3_all.deb"):
        if m.name.endswith("/Cavern.ogg"):
            src.write_bytes(tar.extractfile(m).read())
    y, sr = audio.load(src, sr=44100)
    start = (len(y) - int(round(EXCERPT_S * sr))) // 2
    assert start > 0 and row["offset_s"] == pytest.approx(start / sr)
    assert row["source_duration_s"] == pytest.approx(8.3, abs=1e-3) and row["duration_s"] == pytest.approx(EXCERPT_S)
    want = np.clip(np.rint(y[start : start + int(EXCERPT_S * sr)].astype(np.float64) * 32768), -32768, 32767)
    got, _ = sf.read(row["path"], dtype="int16")
    np.testing.assert_array_equal(got, want.astype(np.int16))


def test_both_libraries_side_by_side(debs, confirmation_debs, tmp_path, data_dir, monkeypatch):
    dev = _build(debs=debs)
    dev_bytes, dev_csv = _wav_bytes(dev), (soundtracks.corpus_root() / "tracks.csv").read_bytes()
    conf = _confirm(debs=confirmation_debs)
    assert set(dev["track_id"]) == EXPECTED and set(conf["track_id"]) == CONFIRMATION_EXPECTED
    # building the confirmation library leaves the development one as it was, and the reverse
    assert _wav_bytes(soundtracks.load_manifest()) == dev_bytes
    assert (soundtracks.corpus_root("development") / "tracks.csv").read_bytes() == dev_csv
    assert soundtracks.load_manifest("development")["track_id"].tolist() == dev["track_id"].tolist()
    conf_bytes = _wav_bytes(conf)
    _build(debs=debs)
    assert _wav_bytes(soundtracks.load_manifest("confirmation")) == conf_bytes
    # the same packages give the same bytes in another data folder
    monkeypatch.setenv("MELREC_DATA_DIR", str(tmp_path / "other"))
    assert _wav_bytes(_confirm(debs=confirmation_debs)) == conf_bytes
    first_skipped = data_dir / "raw" / "soundtracks-confirmation" / "skipped.csv"
    assert (soundtracks.corpus_root("confirmation") / "skipped.csv").read_bytes() == first_skipped.read_bytes()


def test_confirmation_is_fetched_like_development(fake_apt, data_dir, monkeypatch, confirmation_debs):
    monkeypatch.setenv("FAKE_DEBS", str(confirmation_debs))
    df = _confirm()
    assert set(df["track_id"]) == CONFIRMATION_EXPECTED
    assert fake_apt.read_text().splitlines() == ["download " + " ".join(soundtracks.CONFIRMATION_PACKAGES)]
    cached = sorted(p.name.split("_")[0] for p in (data_dir / "external").glob("*.deb"))
    assert cached == sorted(soundtracks.CONFIRMATION_PACKAGES)


def test_confirmation_errors_name_the_confirmation_command(tmp_path, data_dir, monkeypatch):
    with pytest.raises(DatasetError, match="not built.*melrec corpus soundtracks --library confirmation"):
        soundtracks.load_manifest(library="confirmation")
    empty = tmp_path / "nothing"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(soundtracks.PackageFetchError) as err:
        _confirm()
    msg = str(err.value)
    assert "--library confirmation --debs DIR" in msg and "apt-get download naev-data supertuxkart-data" in msg
    for bad in ("dev", "soundtracks", None):
        with pytest.raises(ParameterError, match="library must be one of"):
            soundtracks.build(library=bad)
        with pytest.raises(ParameterError, match="library must be one of"):
            soundtracks.load_manifest(library=bad)


def test_the_two_libraries_are_a_pair():
    libs = soundtracks.LIBRARIES
    assert set(libs) == {soundtracks.DEVELOPMENT, soundtracks.CONFIRMATION} == {"development", "confirmation"}
    assert libs["development"].name == "soundtracks"  # recorded results and caches are keyed on it
    assert libs["confirmation"].name == "soundtracks-confirmation"
    assert libs["development"].soundtracks is soundtracks.SOUNDTRACKS
    assert set(soundtracks.PACKAGES).isdisjoint(soundtracks.CONFIRMATION_PACKAGES)
    names = [st.name for lib in libs.values() for st in lib.soundtracks]
    assert len(names) == len(set(names))  # a soundtrack (= artist) belongs to one library only


def test_confirmation_table_is_the_issues_packages_and_folders():
    # issue 23, section 1: exactly these packages and music folders (below usr/share/...)
    want = {
        "naev-data": "naev/dat/snd/music",
        "supertuxkart-data": "games/supertuxkart/data/music",
        "unknown-horizons": "unknown-horizons/content/audio/music",
        "flare-game": "games/flare/mods/fantasycore/music",
        "warmux-data": "games/warmux/music",
        "openclonk-data": "games/openclonk/Music.ocg",
        "extremetuxracer-data": "games/etr/music",
    }
    assert soundtracks.CONFIRMATION_PACKAGES == tuple(want)
    for st in soundtracks.CONFIRMATION_SOUNDTRACKS:
        assert st.genre and st.reason and st.license and st.composer
        folder = "usr/share/" + want[st.package]
        for pattern in st.music:  # every music pattern lies in the issue's folder
            assert f"{st.root}/{pattern}".startswith(folder + "/")


def test_cli_builds_the_confirmation_library(confirmation_debs, data_dir, capsys):
    from melrec_lib.app import cli

    argv = ["corpus", "soundtracks", "--library", "confirmation", "--debs", str(confirmation_debs), "--jobs", "1"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    root = data_dir / "raw" / "soundtracks-confirmation"
    assert f"{len(CONFIRMATION_EXPECTED)} tracks in {root}" in out
    assert set(soundtracks.load_manifest("confirmation")["track_id"]) == CONFIRMATION_EXPECTED
    assert not (data_dir / "raw" / "soundtracks").exists()
    assert cli.build_parser().parse_args(["corpus", "soundtracks"]).library == "development"
