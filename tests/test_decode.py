"""melrec_lib.io.decode's formats where the library reads them: a collection in every common
format is listed whole by melrec_lib.io.collections, and the MFCC statistics of PyAV's formats
are librosa's on a WAV of the same samples.  (The decoder's own tests are in test_audio.py,
beside soundfile's, and test_decode_fuzz.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from media import FORMATS, write

from melrec_lib.dsp import mfcc
from melrec_lib.io import audio, collections, decode


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """``rock/<format>.<ext>`` for every format, 1.5 s each, plus three files no decoder can use."""
    root = tmp_path_factory.mktemp("library")
    (root / "rock").mkdir()
    paths = {}
    for i, name in enumerate(FORMATS):  # rock/aac-m4a.m4a, rock/alac-m4a.m4a, ...: one stem each
        paths[name] = write(root / "rock", name, 1.5, seed=i, filename=name + Path(FORMATS[name][0]).suffix)
    m4a = paths["aac-m4a"].read_bytes()
    (root / "broken").mkdir()
    (root / "broken" / "protected.m4a").write_bytes(m4a.replace(b"mp4a", b"drms"))
    (root / "broken" / "cut.m4a").write_bytes(m4a[: len(m4a) // 3])
    (root / "broken" / "noise.oga").write_bytes(
        np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    )
    (root / "rock" / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    return root, paths


def test_a_folder_of_every_format_is_listed_whole(library):
    root, paths = library
    found, other = collections.audio_files(root)
    assert {p.name for p in other} == {"cover.jpg"}
    assert {p.name for p in found} == {p.name for p in paths.values()} | {"protected.m4a", "cut.m4a", "noise.oga"}
    manifest = collections.from_folder(root, min_duration_s=1.0, progress=False)
    assert sorted(manifest["track_id"]) == sorted(f"rock/{name}" for name in FORMATS)
    assert (manifest["genre"] == "rock").all()
    assert np.allclose(manifest["duration_s"], 1.5, atol=0.1)
    skipped = dict(
        zip(manifest.attrs["skipped"]["path"].map(lambda p: p.rsplit("/", 1)[-1]), manifest.attrs["skipped"]["reason"])
    )
    assert set(skipped) == {"protected.m4a", "cut.m4a", "noise.oga"}
    assert "DRM-protected" in skipped["protected.m4a"]
    assert all(reason.startswith("unreadable: AudioError") for reason in skipped.values())


@pytest.mark.parametrize("name", [n for n in FORMATS if audio.by_pyav(FORMATS[n][0])])
def test_mfcc_of_pyav_formats_equal_librosa_on_the_same_samples(library, tmp_path, name):
    _, paths = library
    x, rate = decode.read(paths[name])
    sf.write(tmp_path / "same.wav", x, rate, subtype="FLOAT")  # librosa.load reads this one with soundfile
    np.testing.assert_allclose(
        mfcc.statistics(paths[name]), mfcc.statistics(tmp_path / "same.wav"), rtol=1e-5, atol=1e-4
    )


def test_mfcc_of_soundfile_formats_is_librosa_load(library):
    import librosa

    _, paths = library
    for name in ("flac", "vorbis-ogg", "mp3", "pcm-aiff"):
        y, _ = librosa.load(paths[name], sr=mfcc.SAMPLE_RATE, mono=True)
        M = librosa.feature.mfcc(y=y, sr=mfcc.SAMPLE_RATE, n_mfcc=mfcc.N_MFCC)
        ref = np.concatenate([M.mean(axis=1), M.std(axis=1)])  # on all BLAS threads: the last bits differ
        np.testing.assert_allclose(mfcc.statistics(paths[name]), ref, rtol=1e-6, atol=1e-5)
