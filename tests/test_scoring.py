"""melrec recommend's scoring from the library cache is notebook 08's method of the same pipeline.

The fused input (embeddings standardised over the library, each fragment followed by its track's
standardised MFCC statistics) is checked against ``baselines``' own ``<source>+mfcc`` rows
built from the same stored numbers; the MFCC store against librosa; the ensemble against the
mean of its networks; the store's lock against a second process holding it.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from melrec_lib.app import library, pipeline
from melrec_lib.errors import DatasetError
from melrec_lib.nets.embeddings import Embedded
from melrec_lib.recsys import benchmark, recommender, scoring


def _noise_fragments(path: str, dim: int) -> np.ndarray:
    """A stand-in preprocessor: 3-7 rows of seeded numbers per file (its name picks them)."""
    rng = np.random.default_rng(sum(Path(path).name.encode()))
    return (rng.normal(2.0, 3.0, size=(int(rng.integers(3, 8)), dim)) * np.arange(1, dim + 1)).astype(np.float32)


def _fake_embedder(dim: int = 6) -> pipeline.Embedder:
    return pipeline.Embedder(
        key=f"fake-{dim}",
        name="fake",
        describe="fake",
        extract=_noise_fragments,
        extract_args=(dim,),
        embed=pipeline._identity,
        dim=dim,
    )


@pytest.fixture
def five_files(small_library):
    return small_library[1]


def test_mfcc_store_holds_librosa_statistics_exactly(five_files, tmp_path):
    import librosa

    store = library.Store(pipeline.mfcc_embedder(), folder=tmp_path / "mfcc")
    rep = store.sync(five_files, n_jobs=1, progress=False)
    assert not rep.failed and rep.new == 5
    got = store.means(store.entries(five_files))
    from threadpoolctl import threadpool_limits

    y, sr = librosa.load(str(five_files[2]), sr=22050, mono=True)
    with threadpool_limits(limits=1, user_api="blas"):  # as in a worker process
        M = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    np.testing.assert_array_equal(got[2], np.concatenate([M.mean(axis=1), M.std(axis=1)]))
    M = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)  # a threaded BLAS: the last bits may differ
    np.testing.assert_allclose(got[2], np.concatenate([M.mean(axis=1), M.std(axis=1)]), rtol=1e-5, atol=1e-5)
    assert got.shape == (5, 40) and got.dtype == np.float32


@pytest.mark.parametrize("chunk_tracks", [2, 5])
def test_fused_input_is_notebook_08s_source_rows(five_files, tmp_path, chunk_tracks):
    """RecommenderInput == baselines' `<source>+mfcc` on an EvalData of the same stored numbers.

    Both stacks build it with scoring.FragmentFusion: with the library in one cache chunk the
    rows are the same bits; read chunk by chunk (chunk_tracks=2) only the summation order of
    the statistics differs.  Both are checked against the standardisation written out here.
    """
    emb, mf = _fake_embedder(), _fake_embedder(4)
    store = library.Store(emb, folder=tmp_path / "e", chunk_tracks=chunk_tracks)
    mstore = library.Store(mf, folder=tmp_path / "m", chunk_tracks=3)
    store.sync(five_files, n_jobs=1, progress=False)
    mstore.sync(five_files, n_jobs=1, progress=False)
    entries = store.entries(five_files)
    inp = scoring.RecommenderInput(store, entries, mfcc_store=mstore)
    ids = [p.stem for p in five_files]
    X, owner = zip(*[(E, o) for E, o in store.iter_fragments(entries)])
    X, owner = np.concatenate(X), np.concatenate(owner)
    M = mstore.means(mstore.entries(five_files))
    data = benchmark.EvalData(
        embeddings={"fake/x": Embedded(X=X, track=np.asarray(ids)[owner], cut="fake/x")},
        mfcc=pd.DataFrame(M, index=ids),
    )
    want = benchmark._source_embedding(data, "fake/x+mfcc", "recommender-corrected@fake/x+mfcc").X
    got = inp.rows(entries)
    if chunk_tracks >= len(five_files):
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # the pieces, written out: fragments standardised over all fragments (population sd), each
    # followed by its track's MFCC statistics standardised over the tracks (sample sd)
    X64, M64 = X.astype(np.float64), M.astype(np.float64)
    Z = (X64 - X64.mean(axis=0)) / X64.std(axis=0)
    T = (M64 - M64.mean(axis=0)) / M64.std(axis=0, ddof=1)
    np.testing.assert_allclose(got, np.concatenate([Z, T[owner]], axis=1), rtol=1e-5, atol=1e-5)
    # a sample carries each row's own track statistics
    sample = inp.sample(entries, size=6, seed=1)
    assert sample.shape == (6, 10) and all(any(np.allclose(r, g, atol=1e-6) for g in got) for r in sample)
    # no MFCC store: the embeddings as stored
    np.testing.assert_array_equal(scoring.RecommenderInput(store, entries).rows(entries), X)


def test_fragment_fusion_statistics_are_numpys_and_a_constant_column_is_kept(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.normal(3.0, 2.0, (37, 4)).astype(np.float32)
    X[:, 2] = 7.0
    whole = scoring.FragmentFusion.over(lambda: [X])
    X64 = X.astype(np.float64)
    np.testing.assert_array_equal(whole.mean, X64.mean(axis=0))  # one block: numpy's bits
    np.testing.assert_array_equal(whole.scale[[0, 1, 3]], X64.std(axis=0)[[0, 1, 3]])
    assert whole.scale[2] == 1.0  # a constant column is divided by 1, not 0
    chunked = scoring.FragmentFusion.over(lambda: [X[:10], X[10:11], X[11:]])
    np.testing.assert_allclose(chunked.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(chunked.scale, whole.scale, rtol=1e-12)
    T = rng.normal(size=(37, 3))
    fused = whole(X, T)
    assert fused.dtype == np.float32 and fused.shape == (37, 7)
    np.testing.assert_array_equal(fused[:, 2], 0.0)
    np.testing.assert_array_equal(fused[:, 4:], T.astype(np.float32))
    with pytest.raises(DatasetError, match="no fragments"):
        scoring.FragmentFusion.over(lambda: [])


def test_a_track_without_mfcc_statistics_is_a_clear_error(five_files, tmp_path):
    store = library.Store(_fake_embedder(), folder=tmp_path / "e")
    mstore = library.Store(_fake_embedder(4), folder=tmp_path / "m")
    store.sync(five_files, n_jobs=1, progress=False)
    mstore.sync(five_files[:4], n_jobs=1, progress=False)
    with pytest.raises(DatasetError, match="no MFCC statistics for 1 track"):
        scoring.RecommenderInput(store, store.entries(five_files), mfcc_store=mstore)


def test_ensemble_is_the_mean_of_its_networks(five_files, tmp_path):
    store = library.Store(_fake_embedder(), folder=tmp_path / "e")
    store.sync(five_files, n_jobs=1, progress=False)
    entries = store.entries(five_files)
    inp = scoring.RecommenderInput(store, entries)
    kw = dict(mode="corrected-small", epochs=2, pool_fragments=1000)
    three = scoring.score_candidates(inp, entries[:2], entries[2:], seed=4, networks=3, **kw)
    singles = [
        scoring.score_candidates(inp, entries[:2], entries[2:], seed=s, networks=1, **kw)
        for s in recommender.ensemble_seeds(4, 3)
    ]
    assert recommender.ensemble_seeds(4, 3) == [4, 4037, 4038]
    np.testing.assert_allclose(three, np.mean(singles, axis=0), rtol=1e-6)
    assert not np.allclose(singles[0], singles[1])  # the seeds differ


def _hold_lock(folder: str, ready, release, letting_go) -> None:
    store = library.Store(_fake_embedder(), folder=folder)
    with store.locked():
        ready.set()
        if release.wait(60):
            letting_go.set()  # still inside the lock: set before the flock is released


def test_a_second_run_waits_for_the_lock_and_then_sees_what_the_first_embedded(five_files, tmp_path):
    ctx = mp.get_context("spawn")
    ready, release, letting_go = ctx.Event(), ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path / "e"), ready, release, letting_go))
    holder.start()
    try:
        assert ready.wait(60)
        store = library.Store(_fake_embedder(), folder=tmp_path / "e")  # its catalog: empty
        # meanwhile another run's two files land in the folder (as the holder would write them)
        other = library.Store(_fake_embedder(), folder=tmp_path / "e")
        other._entries.update(
            {
                e.key: e
                for e in other._write_chunk(
                    [
                        {
                            "key": library.file_key(p),
                            "path": str(p),
                            "status": "",
                            "audio": "",
                            "E": _noise_fragments(str(p), 6),
                            "tags": None,
                        }
                        for p in five_files[:2]
                    ]
                )
            }
        )
        waited = []

        def on_wait():  # the lock is busy: only now let the holder go
            waited.append(letting_go.is_set())
            release.set()

        assert not store._entries
        with store.locked(on_wait=on_wait):
            # held only after the holder let go: it was waited for, not skipped
            assert waited == [False] and letting_go.is_set()
            rep = store.sync(five_files, n_jobs=1, progress=False)  # re-entrant
        assert (rep.cached, rep.new) == (2, 3)  # the catalog was re-read once the lock was held
    finally:
        release.set()
        holder.join(30)
