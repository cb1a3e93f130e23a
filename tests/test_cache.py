"""melrec_lib.cache and melrec_lib.parallel: stable keys, atomic writes, one ordered parallel loop."""

from __future__ import annotations

import hashlib
import json
import os
import select
from pathlib import Path

import numpy as np
import pytest

from melrec_lib import cache, parallel
from melrec_lib.errors import ParameterError


def test_stable_hash_is_sha256_of_canonical_json():
    obj = {"b": [1, 2.5, "x"], "a": {"z": None, "y": True}}
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    assert cache.stable_hash(obj) == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert cache.stable_hash({"a": {"y": True, "z": None}, "b": [1, 2.5, "x"]}) == cache.stable_hash(obj)
    assert cache.stable_hash([1, 2]) != cache.stable_hash([2, 1])


def test_text_seed_and_digests():
    assert cache.text_seed("rock", 4) == int.from_bytes(hashlib.sha256(b"rock").digest()[:4], "little")
    assert cache.text_seed("u1", 4, algorithm="sha1", byteorder="big") == int(hashlib.sha1(b"u1").hexdigest()[:8], 16)
    assert cache.digest("abc", 12) == hashlib.sha256(b"abc").hexdigest()[:12] == cache.digest(b"abc", 12)
    a = np.arange(6, dtype=np.float32)
    assert cache.array_digest(a) == cache.array_digest(a.copy())
    assert cache.array_digest(a) != cache.array_digest(a.reshape(2, 3))  # the shape is part of the key
    assert cache.array_digest(a) != cache.array_digest(a.astype(np.float64))


def test_file_stamp(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"12345")
    size, mtime = cache.file_stamp(p)
    assert size == 5 and mtime > 0
    assert cache.file_stamp(tmp_path / "missing") == [-1, -1]


def test_atomic_file_replaces_on_success_and_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "sub" / "table.csv"
    with cache.atomic_file(final) as tmp:
        assert tmp.parent == final.parent and tmp.suffix == ".csv" and tmp != final
        tmp.write_text("new")
    assert final.read_text() == "new"
    with pytest.raises(KeyboardInterrupt):
        with cache.atomic_file(final) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert final.read_text() == "new"  # the old content, untouched
    assert sorted(p.name for p in final.parent.iterdir()) == ["table.csv"]


def test_atomic_folder(tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    final = box / "entry"
    with pytest.raises(RuntimeError):
        with cache.atomic_folder(final) as tmp:
            (tmp / "X.npy").write_bytes(b"x")
            raise RuntimeError("killed")
    assert not final.exists() and list(box.iterdir()) == []
    with cache.atomic_folder(final) as tmp:
        (tmp / "meta.json").write_text("{}")
    assert (final / "meta.json").read_text() == "{}" and list(box.iterdir()) == [final]


def test_discard_folder_lets_a_rebuild_replace_an_unreadable_folder(tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    final = box / "entry"
    with cache.atomic_folder(final) as tmp:
        (tmp / "meta.json").write_text("corrupt")
    with cache.atomic_folder(final) as tmp:  # an existing folder is kept: the new copy is dropped
        (tmp / "meta.json").write_text("{}")
    assert (final / "meta.json").read_text() == "corrupt"
    cache.discard_folder(final)
    assert list(box.iterdir()) == []
    cache.discard_folder(final)  # already gone: nothing to do
    with cache.atomic_folder(final) as tmp:
        (tmp / "meta.json").write_text("{}")
    assert (final / "meta.json").read_text() == "{}" and list(box.iterdir()) == [final]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_parallel_map_keeps_order(n_jobs):
    items = list(range(7))
    assert parallel.parallel_map(abs, [-i for i in items], n_jobs=n_jobs, progress=False) == items
    assert parallel.parallel_map(pow, [(i, 2) for i in items], star=True, n_jobs=n_jobs, progress=False) == [
        i * i for i in items
    ]
    assert parallel.parallel_map(abs, [], n_jobs=n_jobs, progress=False) == []


def _mark(folder: str, i: int) -> int:
    (Path(folder) / f"{i:04d}").touch()
    return i


def _mark_progress(folder: str, i: int) -> int:
    """Mark item ``i`` as computed, with the caller's progress (``asked``) when it ran, and say so.

    The caller holds ``done.fifo`` open for reading: each item's 4-byte record is one write, so
    records never interleave (writes up to PIPE_BUF bytes to a FIFO are atomic).
    """
    asked = (Path(folder) / "asked").read_text()
    _write_atomic(Path(folder) / f"{i:04d}", asked)
    fd = os.open(Path(folder) / "done.fifo", os.O_WRONLY)
    try:
        os.write(fd, f"{i:04d}".encode())
    finally:
        os.close(fd)
    return i


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name("." + path.name)
    tmp.write_text(text)
    tmp.rename(path)  # a reader never sees the file half written


class _Done:
    """The items the workers said were computed, read from ``done.fifo`` as they say it."""

    def __init__(self, folder: Path) -> None:
        os.mkfifo(folder / "done.fifo")
        self.fd = os.open(folder / "done.fifo", os.O_RDWR)  # read-write: opening never blocks
        self.items: set[int] = set()

    def wait_for(self, wanted: set[int]) -> None:
        """Block until every item of ``wanted`` is computed (a generous deadline turns a hang into a failure)."""
        while not wanted <= self.items:
            if not select.select([self.fd], [], [], 120.0)[0]:
                raise AssertionError(f"items {sorted(wanted - self.items)} never computed")
            data = os.read(self.fd, 4096)  # whole 4-byte records: every write is one record
            self.items.update(int(data[k : k + 4]) for k in range(0, len(data), 4))

    def close(self) -> None:
        os.close(self.fd)


def _growing_windows():
    sizes = iter(range(1, 1000))
    return lambda: next(sizes)  # windows of 1, 2, 3, ... items


@pytest.mark.parametrize("ahead", [1, 4, 7, 100, "growing"])
def test_parallel_imap_keeps_order_in_windows(ahead):
    if ahead == "growing":
        ahead = _growing_windows()
    items = list(range(23))
    assert list(parallel.parallel_imap(abs, [-i for i in items], n_jobs=2, ahead=ahead)) == items
    assert list(parallel.parallel_imap(pow, [(i, 2) for i in items], star=True, n_jobs=2, ahead=ahead)) == [
        i * i for i in items
    ]
    with pytest.raises(ParameterError, match="ahead"):
        list(parallel.parallel_imap(abs, items, n_jobs=2, ahead=0))
    with pytest.raises(ParameterError, match="ahead"):
        list(parallel.parallel_imap(abs, items, n_jobs=2, ahead=lambda: 0.5))


def test_parallel_imap_computes_a_bounded_number_of_results_ahead_of_a_slow_caller(tmp_path):
    # a caller slower than the workers (melrec's network after the decoding workers) must not
    # gather every result in its process: with ahead=a, while the caller holds an item of window
    # k only windows k and k + 1 have run, i.e. at most 2a - 1 results past the one it asks for.
    # No clock: each worker records how far the caller had asked when it ran (a file the caller
    # writes before asking for the next item), and the caller, holding item i, waits (reading a
    # FIFO the workers write to) until every result it may already have (i + 1 up to the end of
    # the next window) is computed -- time in which an unbounded loop runs further ahead.
    n, a = 40, 4

    def computed(folder):
        return {int(p.name): int(p.read_text()) for p in folder.iterdir() if p.name[0].isdigit()}

    def most_ahead(folder, wait_until, **kw):
        folder.mkdir()
        _write_atomic(folder / "asked", "0")
        done = _Done(folder)
        items = [(str(folder), j) for j in range(n)]
        try:
            for i in parallel.parallel_imap(_mark_progress, items, star=True, n_jobs=2, **kw):
                done.wait_for(set(range(i + 1, min(n, wait_until(i)))))
                _write_atomic(folder / "asked", str(i + 1))
        finally:
            done.close()
        marks = computed(folder)
        assert sorted(marks) == list(range(n))
        return max(j - asked for j, asked in marks.items())

    assert most_ahead(tmp_path / "bounded", lambda i: (i // a + 2) * a, ahead=a) == 2 * a - 1
    # joblib's generator alone: no bound -- while the caller holds item 0, all of them run
    assert most_ahead(tmp_path / "joblib", lambda i: n, ahead=None) == n - 1


def _hold_heap(n: int = 3000, size: int = 100_000) -> np.ndarray:
    """Fill glibc's heap with ``n`` freed blocks of ``size`` bytes (below its mmap threshold),
    kept from being trimmed at the top by one block allocated after them."""
    blocks = [np.ones(size // 8) for _ in range(n)]
    pin = np.ones(size // 8)
    del blocks
    return pin


def test_return_freed_memory_gives_freed_heap_pages_back():
    psutil = pytest.importorskip("psutil")
    from melrec_lib.parallel import return_freed_memory

    me = psutil.Process()
    pin = _hold_heap()
    held = me.memory_info().rss
    if not return_freed_memory():
        pytest.skip("no malloc_trim in this C library")
    assert held - me.memory_info().rss > 200e6, "the 300 MB of freed blocks stayed resident"
    del pin


def _report_then_fill_heap(i: int) -> tuple[int, int]:
    import psutil

    me = psutil.Process()
    start = me.memory_info().rss
    _KEPT.append(_hold_heap())  # like a cache that outlives the task: 300 MB of free heap below it
    return os.getpid(), start


_KEPT: list = []


def test_worker_tasks_give_their_freed_memory_back():
    """A loky worker that keeps a task's freed heap resident looks leaking to loky (300 MB over
    its size after the first task: it is stopped, with a warning); every task returns it."""
    pytest.importorskip("psutil")
    from melrec_lib.parallel import return_freed_memory

    if not return_freed_memory():
        pytest.skip("no malloc_trim in this C library")
    seen: dict[int, list[int]] = {}
    for pid, start in parallel.parallel_map(_report_then_fill_heap, list(range(6)), n_jobs=2, progress=False):
        seen.setdefault(pid, []).append(start)
    assert max(len(v) for v in seen.values()) >= 2, seen
    for starts in seen.values():
        assert max(starts[1:], default=starts[0]) - starts[0] < 150e6, starts


class _Node:
    pass


def _cyclic_garbage(n_blocks: int):
    """A reference cycle holding ``n_blocks`` heap blocks of 100 KB, dropped: only a garbage
    collection frees it.  Returns a weak reference to it."""
    import weakref

    node = _Node()
    node.me, node.blocks = node, [np.ones(12_500) for _ in range(n_blocks)]
    return weakref.ref(node)


def test_a_task_that_leaves_much_behind_gets_a_collection_and_a_small_one_none():
    import gc

    if parallel._resident_bytes() is None:
        pytest.skip("no /proc/self/statm")
    gc.disable()  # only the task wrapper may collect
    try:
        small = parallel._Task(_cyclic_garbage, star=False)(10)  # 1 MB: no collection (it costs)
        small_survived = small() is not None
        big = parallel._Task(_cyclic_garbage, star=False)(3000)  # 300 MB
    finally:
        gc.enable()
    assert small_survived and big() is None


def _pid(_) -> int:
    return os.getpid()


def test_fresh_workers_are_a_calls_own_and_reused_workers_are_not():
    psutil = pytest.importorskip("psutil")

    def children() -> set[int]:
        return {c.pid for c in psutil.Process().children(recursive=True)}

    parallel.parallel_map(_pid, range(4), n_jobs=2, progress=False)
    before = children()  # joblib keeps its workers between calls ...
    assert set(parallel.parallel_map(_pid, range(4), n_jobs=2, progress=False)) <= before  # ... and reuses them
    fresh = set(parallel.parallel_map(_pid, range(4), n_jobs=2, progress=False, fresh_workers=True))
    assert fresh and not fresh & before  # this call's own workers ...
    assert not fresh & children()  # ... stopped when it ended


def test_a_call_that_names_what_it_loads_gets_workers_that_started_with_it():
    """loky measures a worker's size after its first task: a call that keeps networks in its
    workers (``workers_for``) must not inherit workers whose first task was a light one, and
    calls of one name share their workers, unnamed calls in between or not."""
    psutil = pytest.importorskip("psutil")

    def children() -> set[int]:
        return {c.pid for c in psutil.Process().children(recursive=True)}

    light = set(parallel.parallel_map(_pid, range(4), n_jobs=2, progress=False))
    assert light <= children()  # kept for the next call
    named = set(parallel.parallel_map(_pid, range(4), n_jobs=2, progress=False, workers_for="networks"))
    assert named and not named & light  # workers that started with this kind of task
    again = set(parallel.parallel_map(_pid, range(4), n_jobs=2, progress=False, workers_for="networks"))
    assert again <= named | children() and again & named  # the same name: the same workers
    other = set(parallel.parallel_map(_pid, range(4), n_jobs=2, progress=False, workers_for="other"))
    assert not other & (named | again)  # another name: workers of its own
    unnamed = set(parallel.parallel_map(_pid, range(4), n_jobs=2, progress=False))
    assert unnamed & other  # an unnamed call takes whatever workers there are ...
    back = set(parallel.parallel_map(_pid, range(4), n_jobs=2, progress=False, workers_for="other"))
    assert back & unnamed  # ... and changes nothing: their first task is still of that name
    parallel._stop_local_workers()
    parallel.parallel_map(_pid, range(4), n_jobs=2, progress=False)  # new workers, light first
    last = set(parallel.parallel_map(_pid, range(4), n_jobs=2, progress=False, workers_for="other"))
    assert not last & back  # restarted: the workers it found were started by an unnamed call
