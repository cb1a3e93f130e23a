"""Mutated files of every container: each one is read or refused with AudioError, never a crash or a hang.

A short file of each format of ``media.FORMATS`` (AAC and ALAC in MP4, raw ADTS, Opus in Ogg
(.opus, read by soundfile, and .oga, by PyAV) and WebM, MP3, FLAC native, in Ogg and in
Matroska, WMA, WavPack, ALAC in CAF, PCM WAV and AIFF: encoded by FFmpeg through PyAV; Ogg
Vorbis by soundfile) is mutated :data:`PER_FORMAT` times,
seeded: bytes overwritten (mostly in the headers), a lying 32-bit size, a block zeroed, cut,
deleted or doubled.  Two worker processes decode them with :func:`melrec_lib.io.audio.load` and
then :func:`~melrec_lib.io.audio.load_spans`, under an address-space limit
(:data:`MEMORY_LIMIT`, so an allocation a lying header asks for fails instead of taking the
machine); the parent waits :data:`HANG_S` for each answer (a hang, not a speed bound).  Every
outcome must be "read" (float32 samples, a positive rate) or an AudioError naming the file;
anything else (another exception, a dead worker, no answer) fails the test and names the mutant.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from media import FORMATS, write

PER_FORMAT = 200
MEMORY_LIMIT = 3 * 2**30
#: Seconds without an answer from a worker that count as a hang (a decode takes milliseconds).
HANG_S = 60.0
SEED = 20261206

WORKER = textwrap.dedent(
    """
    import json, os, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    import numpy as np
    from melrec_lib.errors import AudioError
    from melrec_lib.io import audio

    def outcome(path):
        try:
            y, sr = audio.load(path, sr=None, mono=False)
            if y.dtype != np.float32 or y.ndim != 2 or y.shape[0] == 0 or sr <= 0:
                return f"bad result {{y.dtype}} {{y.shape}} {{sr}}"
            n = y.shape[0]
            audio.load_spans(path, [(0, min(n, 100)), (n // 2, n // 2 + 1)], sr=sr)
            return "read"
        except AudioError as exc:
            return "refused" if os.path.basename(path) in str(exc) else f"AudioError without the name: {{exc}}"
        except BaseException as exc:
            return f"raised {{type(exc).__name__}}: {{exc}}"

    with open(sys.argv[1]) as tasks:
        for line in tasks:
            path = line.rstrip()
            print(json.dumps([path, outcome(path)]), flush=True)
    """
)


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    kind = rng.integers(6)
    head = min(len(b), 1024)
    if kind == 0:  # a few bytes overwritten, mostly in the headers
        for _ in range(rng.integers(1, 9)):
            pos = rng.integers(head) if rng.random() < 0.6 else rng.integers(len(b))
            b[pos] = rng.integers(256)
    elif kind == 1:  # a 32-bit size or count that lies
        pos = rng.integers(max(1, min(len(b), 512) - 4))
        value = rng.choice([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFF, 0x10000])
        b[pos : pos + 4] = int(value).to_bytes(4, rng.choice(["little", "big"]))
    elif kind == 2:  # cut
        del b[rng.integers(len(b)) :]
    elif kind == 3:  # a block zeroed
        pos = rng.integers(len(b))
        end = min(len(b), pos + rng.integers(1, 257))
        b[pos:end] = bytes(end - pos)
    elif kind == 4:  # a block deleted
        pos = rng.integers(len(b))
        del b[pos : pos + rng.integers(1, 513)]
    else:  # a block doubled
        pos = rng.integers(len(b))
        block = b[pos : pos + rng.integers(1, 513)]
        b[pos:pos] = block
    return bytes(b)


def _start(code: str, paths: list[str], folder, k: int) -> subprocess.Popen:
    """A worker running ``code`` on the paths (listed in a file: no pipe to fill), stderr to a file."""
    tasks, log = folder / f"tasks-{k}.txt", folder / f"stderr-{k}.txt"
    tasks.write_text("".join(p + "\n" for p in paths))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(tasks)], stdout=subprocess.PIPE, stderr=err, text=True, env=env
        )
    proc.log = log
    return proc


def _run(workers: list[subprocess.Popen], queues: list[list[str]]) -> dict[str, str]:
    """Each path's outcome as its worker reports it, or the failure of the worker on it."""
    results: dict[str, str] = {}
    pending = {w.stdout.fileno(): (w, list(q)) for w, q in zip(workers, queues) if q}
    while pending:
        ready, _, _ = select.select(list(pending), [], [], HANG_S)
        if not ready:  # no answer from anyone for HANG_S: the next path of each worker hangs
            for w, queue in pending.values():
                results[queue[0]] = f"no answer in {HANG_S:.0f} s (hang)"
                w.kill()
            break
        for fd in ready:
            w, queue = pending[fd]
            line = w.stdout.readline()
            if not line:  # the worker died on its next path
                w.wait()
                results[queue[0]] = f"worker died (exit {w.returncode}): {w.log.read_text()[-2000:]}"
                del pending[fd]
                continue
            path, outcome = json.loads(line)
            assert path == queue.pop(0)
            results[path] = outcome
            if not queue:
                del pending[fd]
    return results


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-originals")
    return {name: write(folder, name, 0.3, seed=7) for name in FORMATS}


def test_mutated_files_are_read_or_refused(originals, tmp_path):
    rng = np.random.default_rng(SEED)
    paths = []
    for name, src in originals.items():
        data = src.read_bytes()
        for i in range(PER_FORMAT):
            path = tmp_path / f"{name}-{i}{src.suffix}"
            path.write_bytes(_mutate(data, rng))
            paths.append(str(path))
    assert len(paths) >= 3000
    queues = [paths[0::2], paths[1::2]]
    workers = [_start(WORKER.format(limit=MEMORY_LIMIT), q, tmp_path, k) for k, q in enumerate(queues)]
    started = time.monotonic()
    try:
        results = _run(workers, queues)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
            w.wait()
    elapsed = time.monotonic() - started
    bad = {os.path.basename(p): r for p, r in results.items() if r not in ("read", "refused")}
    assert not bad, dict(list(bad.items())[:20])
    assert set(results) == set(paths)
    # both outcomes occur for the mutants of each format (mutations that matter, decoders that read)
    for name in FORMATS:
        outcomes = {r for p, r in results.items() if os.path.basename(p).startswith(f"{name}-")}
        assert outcomes == {"read", "refused"}, (name, outcomes)
    print(f"{len(paths)} mutants in {elapsed:.1f} s")


def test_a_worker_that_hangs_or_dies_is_reported(monkeypatch, tmp_path):
    """The harness itself: a worker that never answers, and one that dies, each fail their path."""
    monkeypatch.setattr(sys.modules[__name__], "HANG_S", 5.0)
    sleeper = _start("import time; time.sleep(600)", ["a"], tmp_path, 0)
    dier = _start("import os; os.abort()", ["b"], tmp_path, 1)
    try:
        results = _run([sleeper, dier], [["a"], ["b"]])
    finally:
        for w in (sleeper, dier):
            if w.poll() is None:
                w.kill()
            w.wait()
    assert "hang" in results["a"] and "died" in results["b"]
