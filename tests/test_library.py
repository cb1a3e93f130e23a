"""The incremental library cache: chunks, reuse, a killed run, and the per-file work on a Dask LocalCluster."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from melrec_lib import parallel
from melrec_lib.app import library, pipeline
from melrec_lib.errors import AudioError


@pytest.fixture
def embedder(smoke_model):
    return pipeline.embedder(pipeline.resolve("thesis"), corpus="melrec-synth-smoke")


@pytest.fixture
def files(small_library):
    return small_library


def test_sync_stores_float16_chunks_and_reuses_them(embedder, files, tmp_path):
    lib, paths_ = files
    store = library.Store(embedder, folder=tmp_path / "store", chunk_tracks=2)
    rep = store.sync(paths_, root=lib, n_jobs=1, progress=False)
    assert (rep.new, rep.changed, rep.removed, rep.cached) == (5, 0, 0, 0) and not rep.failed
    assert len(list((tmp_path / "store").glob("chunk-*.npz"))) == 3
    entries = store.entries(paths_)
    E = store.fragments(entries)
    # the stored float16 values are the network's float32 output rounded
    X = embedder.extract(paths_[0], *embedder.extract_args)
    ref, _ = embedder.embed(X)
    np.testing.assert_array_equal(E[: len(ref)], ref.astype(np.float16).astype(np.float32))
    np.testing.assert_allclose(store.means(entries[:1])[0], ref.mean(axis=0), rtol=1e-6, atol=1e-6)
    sample = store.sample_fragments(entries, size=7, seed=3)
    assert sample.shape == (7, embedder.dim) and all(any(np.array_equal(r, e) for e in E) for r in sample)
    again = library.Store(embedder, folder=tmp_path / "store", chunk_tracks=2)
    rep = again.sync(paths_, root=lib, n_jobs=1, progress=False)
    assert rep.summary() == "embedded 0 new, 0 changed, 0 removed, 5 cached"
    # a removed file is dropped from disk: its chunk is rewritten without it
    paths_[0].unlink()
    rep = again.sync(paths_[1:], root=lib, n_jobs=1, progress=False)
    assert rep.summary() == "embedded 0 new, 0 changed, 1 removed, 4 cached"
    assert sorted(e.path for e in library.Store(embedder, folder=tmp_path / "store")._catalog().values()) == sorted(
        str(p) for p in paths_[1:]
    )


def _picky_extract(path: str, silent: str, buggy: str) -> np.ndarray:
    """A stand-in extract: refuses ``silent`` (a typed refusal) and ``buggy`` (a bug), reads the rest."""
    name = Path(path).name
    if name == silent:
        raise AudioError(f"{path}: every fragment is silent")
    if name == buggy:
        raise ZeroDivisionError("division by zero")
    return np.full((2, 3), float(len(name)), np.float32)


def test_a_file_that_gives_nothing_is_recorded_with_its_reason(files, tmp_path):
    """extract raises AudioError (or anything) for a bad file; the store records why, never fails."""
    lib, paths_ = files
    emb = pipeline.Embedder(
        key="picky",
        name="picky",
        describe="picky",
        extract=_picky_extract,
        extract_args=(paths_[0].name, paths_[1].name),
        embed=pipeline._identity,
        dim=3,
    )
    store = library.Store(emb, folder=tmp_path / "store")
    rep = store.sync(paths_, root=lib, n_jobs=1, progress=False)
    first, second = (str(p.resolve()) for p in paths_[:2])
    # the file's own path is not repeated in its reason; another error keeps its type
    assert rep.failed == {first: "every fragment is silent", second: "ZeroDivisionError: division by zero"}
    assert [e.n_fragments for e in store.entries(paths_)] == [0, 0, 2, 2, 2]
    assert [e.status for e in library.Store(emb, folder=tmp_path / "store").entries(paths_)][:2] == [
        "every fragment is silent",
        "ZeroDivisionError: division by zero",
    ]


def test_dask_local_cluster_gives_the_same_embeddings(embedder, files, tmp_path):
    from distributed import LocalCluster

    lib, paths_ = files
    local = library.Store(embedder, folder=tmp_path / "local")
    local.sync(paths_, root=lib, n_jobs=1, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        assert list(parallel.parallel_imap(abs, [-3, 1, -2], scheduler=cluster)) == [3, 1, 2]

        # the network runs on the workers (worker_embed): the client's own embed is never called
        def client_embed(X):
            raise AssertionError("embedded in the client, not on the Dask workers")

        remote = library.Store(dataclasses.replace(embedder, embed=client_embed), folder=tmp_path / "dask")
        rep = remote.sync(paths_, root=lib, scheduler=cluster.scheduler_address, progress=False)
    assert rep.new == 5 and not rep.failed
    np.testing.assert_array_equal(remote.fragments(remote.entries(paths_)), local.fragments(local.entries(paths_)))


_CALLS: list[int] = []


def _counting_embed(X, embed):
    _CALLS.append(len(X))
    return embed(X)


def test_dask_workers_embed_a_chunk_of_files_per_call(embedder, files, tmp_path):
    # one network call per chunk of files, not per file (each call pads to a full batch); the
    # batches are the client's, so the numbers are the same as local workers'
    import functools

    from distributed import LocalCluster

    lib, paths_ = files
    local = library.Store(embedder, folder=tmp_path / "local", chunk_tracks=2)
    local.sync(paths_, root=lib, n_jobs=1, progress=False)
    counted = dataclasses.replace(
        embedder, worker_embed=functools.partial(_counting_embed, embed=embedder.worker_embed)
    )
    _CALLS.clear()
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        remote = library.Store(counted, folder=tmp_path / "dask", chunk_tracks=2)
        rep = remote.sync(paths_, root=lib, scheduler=cluster.scheduler_address, progress=False)
    assert rep.new == len(paths_) == 5 and len(_CALLS) == 3  # chunks of 2, 2 and 1 files
    n = [e.n_fragments for e in remote.entries(paths_)]
    assert sorted(_CALLS) == sorted([n[0] + n[1], n[2] + n[3], n[4]])
    np.testing.assert_array_equal(remote.fragments(remote.entries(paths_)), local.fragments(local.entries(paths_)))


def test_scheduler_from_the_environment(monkeypatch):
    monkeypatch.setenv(parallel.SCHEDULER_ENV, "tcp://10.1.2.3:8786")
    assert parallel.scheduler_address() == "tcp://10.1.2.3:8786"
    assert parallel.scheduler_address("local") is None
    monkeypatch.delenv(parallel.SCHEDULER_ENV)
    assert parallel.scheduler_address() is None


def test_a_killed_run_leaves_a_cache_the_next_run_uses(smoke_model, smoke_manifest, tmp_path):
    """SIGKILL in the middle of embedding a library; the rerun embeds only what was not finished."""
    from melrec_lib import paths
    from melrec_lib.app.recommend import Options, recommend

    lib = tmp_path / "lib"
    lib.mkdir()
    tracks = sorted(smoke_manifest["path"])
    for p in tracks[3:23]:
        shutil.copy(p, lib / Path(p).name)
    pl = tmp_path / "liked.m3u"
    pl.write_text("\n".join(tracks[:3]) + "\n")
    argv = [
        "recommend",
        "--playlist",
        str(pl),
        "--library",
        str(lib),
        "--corpus",
        "melrec-synth-smoke",
        "--config",
        "thesis",
        "--cut",
        "pool2",
        "--mode",
        "thesis",
        "--epochs",
        "1",
        "--chunk-tracks",
        "2",
        "--jobs",
        "1",
        "--quiet",
    ]
    store = paths.processed_dir() / "library"
    # the command, with one hook: once its 4th chunk is on disk (the playlist's 2 and 2 of the
    # library's 10) it says so down a pipe and waits -- so the kill falls at a known point, with
    # no clock involved
    ready_r, ready_w = os.pipe()
    child = (
        "import os, sys, threading\n"
        "from melrec_lib.app import cli, library\n"
        "write, written = library.Store._write_chunk, []\n"
        "def hooked(self, rows):\n"
        "    entries = write(self, rows)\n"
        "    written.append(len(rows))\n"
        "    if len(written) == 4:\n"
        f"        os.write({ready_w}, b'ready')\n"
        "        threading.Event().wait()\n"
        "    return entries\n"
        "library.Store._write_chunk = hooked\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", child, *argv],
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=err,
            pass_fds=(ready_w,),
        )
    os.close(ready_w)  # the child holds the only write end: its exit ends the read below
    try:
        said = os.read(ready_r, 16)
        assert said == b"ready", (tmp_path / "stderr.txt").read_text()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        os.close(ready_r)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    done = len(list(store.glob("*/chunk-*.npz"))) * 2 - 4
    assert done == 4  # two library chunks of two tracks
    # the rerun, as the command runs it (the same pipeline and options)
    result = recommend(
        pl,
        lib,
        pipeline=pipeline.resolve(None, config="thesis", cut="pool2", mode="thesis"),
        options=Options(genre_corpus="melrec-synth-smoke", epochs=1, chunk_tracks=2, n_jobs=1, progress=False),
    )
    rep = result.library_sync["embeddings"]
    assert (rep.cached, rep.new) == (done, 20 - done) and rep.changed == rep.removed == 0
    assert len(result.ranking) == 20


def test_worker_embed_pickles_and_gives_the_clients_embeddings(embedder, files):
    """What a Dask worker receives rebuilds the same network from its file (once per process)."""
    import pickle

    _, paths_ = files
    X = embedder.extract(paths_[0], *embedder.extract_args)
    remote = pickle.loads(pickle.dumps(embedder.worker_embed))
    np.testing.assert_allclose(remote(X)[0], embedder.embed(X)[0], rtol=1e-5, atol=1e-6)
    # a Dask worker runs tasks on several threads: concurrent calls must all succeed, alike
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: remote(X)[0], range(16)))
    for o in outs:
        np.testing.assert_array_equal(o, outs[0])
    mn = pipeline.embedder(pipeline.resolve("musicnn-msd"))
    assert pickle.loads(pickle.dumps(mn.worker_embed)).keywords == {"model": "MSD_musicnn"}


def _reference_digest(path) -> str:
    """SHA-256 of soundfile's float32 samples (frames x channels), rate and channel count."""
    import hashlib

    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return hashlib.sha256(f"{sr}/{y.shape[1]}".encode() + y.tobytes()).hexdigest()[:20]


def _reference_fingerprint(path) -> str:
    """The fingerprint from soundfile's whole decode: rate, channels, frames and three blocks."""
    import hashlib

    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    n, b = len(y), library.FINGERPRINT_FRAMES
    blocks = [y] if n <= 3 * b else [y[:b], y[(n - b) // 2 : (n - b) // 2 + b], y[n - b :]]
    h = hashlib.sha256(f"{sr}/{y.shape[1]}/{n}".encode())
    for block in blocks:
        h.update(np.ascontiguousarray(block).tobytes())
    return "fp1-" + h.hexdigest()[:20]


@pytest.mark.parametrize(
    "identity, reference",
    [(library.audio_digest, _reference_digest), (library.audio_fingerprint, _reference_fingerprint)],
    ids=["digest", "fingerprint"],
)
@pytest.mark.parametrize(
    "subtype, channels, frames",
    [("PCM_16", 1, 70001), ("PCM_24", 2, 70001), ("PCM_U8", 1, 70001), ("FLOAT", 2, 70001), ("PCM_16", 1, 9000)],
)
def test_audio_identities_hash_soundfiles_samples(tmp_path, identity, reference, subtype, channels, frames):
    # 70001 frames: more than one 65536-frame block of the digest's soundfile reading, three
    # separate blocks of the fingerprint; 9000: the fingerprint's whole file
    import soundfile as sf

    x = np.random.default_rng(3).uniform(-0.8, 0.8, size=(frames, channels))
    wav, flac = tmp_path / "a.wav", tmp_path / "a.flac"
    sf.write(wav, x, 22050, subtype=subtype)
    assert identity(wav) == reference(wav)
    if identity is library.audio_digest:
        assert library._soundfile_digest(wav) == reference(wav)
    if subtype == "PCM_16":  # the same PCM in another container (soundfile's decoder): the same identity
        pcm = (x * 32767).astype(np.int16)
        sf.write(wav, pcm, 22050, subtype="PCM_16")
        sf.write(flac, pcm, 22050, subtype="PCM_16")
        assert identity(flac) == identity(wav) == reference(flac)
    sf.write(tmp_path / "b.wav", x[::-1], 22050, subtype=subtype)
    assert identity(tmp_path / "b.wav") != identity(wav)


def test_audio_twins_confirm_a_fingerprint_with_the_full_digest(tmp_path):
    import soundfile as sf

    x = (np.random.default_rng(5).uniform(-0.5, 0.5, size=60000) * 32767).astype(np.int16)
    edit = x.copy()
    edit[20000:21000] = 0  # a muted word between the blocks: same length, same three blocks
    for name, y in (("song.wav", x), ("copy.flac", x), ("clean-edit.wav", edit)):
        sf.write(tmp_path / name, y, 44100, subtype="PCM_16")

    def entry(name, audio=None):
        p = str(tmp_path / name)
        return library.Entry(
            key=name,
            path=p,
            status="",
            audio=library.audio_fingerprint(p) if audio is None else audio,
            n_fragments=1,
            chunk="",
            row=0,
        )

    song, copy, edit_e = entry("song.wav"), entry("copy.flac"), entry("clean-edit.wav")
    assert song.audio == copy.audio == edit_e.audio  # the fingerprint alone cannot tell them apart
    twins = library.AudioTwins()
    twins.add(song)
    assert twins.twin(copy) == song.path  # the same samples in another container
    assert twins.twin(edit_e) is None  # the full digest differs
    assert twins.twin(song) is None  # a file is not its own twin
    legacy = entry("copy.flac", audio=library.audio_digest(tmp_path / "copy.flac"))  # a catalogue from before
    assert twins.twin(legacy) == song.path
    assert twins.twin(entry("copy.flac", audio="")) is None  # unreadable audio: never a duplicate


@pytest.mark.parametrize(
    "identity, reference",
    [(library.audio_digest, _reference_digest), (library.audio_fingerprint, _reference_fingerprint)],
    ids=["digest", "fingerprint"],
)
def test_audio_identities_of_an_unusual_wav_leave_the_warning_filters_alone(tmp_path, monkeypatch, identity, reference):
    # a WAV melrec's reader would warn about (ByteRate != SampleRate * BlockAlign) is judged by
    # soundfile; no process-wide warnings filter is set on the way (these run in a Dask worker's
    # threads, where an "error" filter made another thread's DeprecationWarning its failure)
    import warnings

    import soundfile as sf

    path = tmp_path / "br.wav"
    sf.write(path, np.random.default_rng(6).uniform(-0.5, 0.5, 20000), 8000, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    raw[28:32] = (12345).to_bytes(4, "little")  # the fmt chunk's ByteRate
    path.write_bytes(bytes(raw))
    set_filters = []
    monkeypatch.setattr(warnings, "simplefilter", lambda *a, **k: set_filters.append(a))
    monkeypatch.setattr(warnings, "filterwarnings", lambda *a, **k: set_filters.append(a))
    assert identity(path) == reference(path) != ""
    assert set_filters == []


@pytest.mark.parametrize("identity", [library.audio_digest, library.audio_fingerprint], ids=["digest", "fingerprint"])
def test_audio_identity_of_what_cannot_be_decoded_is_empty(tmp_path, identity):
    (tmp_path / "junk.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    (tmp_path / "notes.txt").write_text("not audio")
    assert identity(tmp_path / "junk.wav") == ""
    assert identity(tmp_path / "notes.txt") == ""
    assert identity(tmp_path / "missing.wav") == ""


def test_decoding_ahead_is_sized_by_what_the_files_taken_so_far_weigh():
    # two windows of at most AHEAD_BYTES each are decoded ahead of the network: a window holds
    # AHEAD_BYTES at the mean weight of the files taken so far, 1..AHEAD_FILES files
    w = library._Weight(first=64)
    assert w.window() == 64  # nothing known yet
    for _ in range(3):
        w.add(np.zeros(2**20 // 4, np.float32))  # 1 MiB of fragments per file
    assert w.window() == library.AHEAD_BYTES // 2**20
    w.add(None)  # a file that gave nothing weighs nothing
    assert w.window() == int(library.AHEAD_BYTES // (3 * 2**20 / 4))
    tiny = library._Weight(first=64)
    tiny.add(np.zeros(4, np.float32))
    assert tiny.window() == library.AHEAD_FILES
    huge = library._Weight(first=64)
    huge.add(np.zeros(library.AHEAD_BYTES // 2, np.float64))  # one file of twice the budget
    assert huge.window() == 1
    nothing = library._Weight(first=64)
    nothing.add(None)
    assert nothing.window() == library.AHEAD_FILES
