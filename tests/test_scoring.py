"""melrec recommend's scoring from the library cache is notebook 08's method of the same pipeline.

The fused input (embeddings standardised over the library, each fragment followed by its track's
standardised MFCC statistics) is checked against ``baselines``' own ``<source>+mfcc`` rows
built from the same stored numbers; the MFCC store against librosa; the ensemble against the
mean of its networks; the store's lock against a second process holding it.  The
training-free modes (``--mode centroid``, ``knn``) are checked against ``benchmark``'s
``centroid@<source>+mfcc`` / ``knn@<source>+mfcc`` on the same files and against numpy.
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
from melrec_lib.recsys.users import UserSplit


def _noise_fragments(path: str, dim: int) -> np.ndarray:
    """A stand-in preprocessor: 3-7 rows of seeded numbers per file (its name picks them)."""
    rng = np.random.default_rng(sum(Path(path).name.encode()))
    return (rng.normal(2.0, 3.0, size=(int(rng.integers(3, 8)), dim)) * np.arange(1, dim + 1)).astype(np.float32)


def _synced_stores(files, tmp_path, chunk_tracks):
    """The store of a fake 6-wide embedder (``chunk_tracks`` per chunk) and of a fake 4-wide
    MFCC embedder (3 per chunk) over ``files``, both synced in this process."""
    store = library.Store(_fake_embedder(), folder=tmp_path / "e", chunk_tracks=chunk_tracks)
    mstore = library.Store(_fake_embedder(4), folder=tmp_path / "m", chunk_tracks=3)
    store.sync(files, n_jobs=1, progress=False)
    mstore.sync(files, n_jobs=1, progress=False)
    return store, mstore


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
    store, mstore = _synced_stores(five_files, tmp_path, chunk_tracks)
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


@pytest.fixture
def twelve_files(small_library, tmp_path):
    """Twelve audio files (copies of the five under other names: the fake embedder reads names)."""
    import shutil

    lib = tmp_path / "twelve"
    lib.mkdir()
    for i in range(12):
        src = small_library[1][i % 5]
        shutil.copy(src, lib / f"t{i:02d}{src.suffix}")
    return sorted(lib.iterdir())


@pytest.mark.parametrize("mode", ["centroid", "knn"])
@pytest.mark.parametrize("chunk_tracks", [5, 20])
def test_training_free_mode_is_notebook_08s_method(twelve_files, tmp_path, mode, chunk_tracks):
    """melrec recommend --mode centroid/knn == benchmark's `<mode>@<source>+mfcc` on the same files.

    The research stack gets what its own caches would hold: each file's fragments as the
    (fake) network gives them, in float32, and the MFCC statistics table; melrec recommend reads
    the library cache, chunk by chunk.  Both are then checked against the method written out
    here with numpy: each table standardised over the tracks (sample sd), divided by the square
    root of its width, concatenated; the cosine to the playlist's mean, or the mean cosine to
    the playlist's 3 most similar tracks.
    """
    store, mstore = _synced_stores(twelve_files, tmp_path, chunk_tracks)
    entries = store.entries(twelve_files)
    liked, cands = entries[:4], entries[4:]
    got = scoring.score_training_free(mode, store, liked, cands, mfcc_store=mstore)

    ids = [p.stem for p in twelve_files]
    frags = [_noise_fragments(str(p), 6) for p in twelve_files]
    X = np.concatenate(frags)
    owner = np.repeat(np.arange(len(ids)), [len(f) for f in frags])
    M = mstore.means(mstore.entries(twelve_files))
    data = benchmark.EvalData(
        embeddings={"fake/x": Embedded(X=X, track=np.asarray(ids)[owner], cut="fake/x")},
        mfcc=pd.DataFrame(M, index=ids),
    )
    user = UserSplit(
        name="u",
        protocol="similar",
        seed=0,
        groups=("g",),
        playlist=tuple(ids[:4]),
        heldout=tuple(ids[4:7]),
        pool=tuple(ids[4:]),
        negatives=tuple(ids[7:]),
    )
    want = benchmark.score_user(f"{mode}@fake/x+mfcc", user, data, epochs=1)
    assert list(want.index) == ids[4:]
    np.testing.assert_allclose(got, want.to_numpy(), rtol=1e-6, atol=1e-9)
    assert list(np.argsort(-got, kind="stable")) == list(np.argsort(-want.to_numpy(), kind="stable"))

    # the method written out
    means = np.stack([f.astype(np.float64).mean(axis=0) for f in frags])
    M64 = M.astype(np.float64)
    F = np.concatenate(
        [
            (means - means.mean(axis=0)) / means.std(axis=0, ddof=1) / np.sqrt(6),
            (M64 - M64.mean(axis=0)) / M64.std(axis=0, ddof=1) / np.sqrt(4),
        ],
        axis=1,
    )
    P, C = F[:4], F[4:]
    if mode == "centroid":
        c = P.mean(axis=0)
        ref = C @ c / (np.linalg.norm(C, axis=1) * np.linalg.norm(c))
    else:
        ref = [
            np.mean(sorted((float(x @ p / np.linalg.norm(x) / np.linalg.norm(p)) for p in P), reverse=True)[:3])
            for x in C
        ]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_track_table_reads_the_stored_means_chunk_by_chunk(twelve_files, tmp_path):
    """Only one chunk's means at a time: the table equals numpy on the fragments, with any chunking."""
    tables = []
    for chunk_tracks in (1, 5, 12):
        store = library.Store(_fake_embedder(), folder=tmp_path / f"e{chunk_tracks}", chunk_tracks=chunk_tracks)
        store.sync(twelve_files, n_jobs=1, progress=False)
        entries = store.entries(twelve_files)
        T = scoring.track_table(store, entries + entries[:2])  # a file given twice is one row
        assert list(T.index) == [e.key for e in entries]
        tables.append(T.to_numpy())
    means = np.stack([_noise_fragments(str(p), 6).astype(np.float64).mean(axis=0) for p in twelve_files])
    ref = (means - means.mean(axis=0)) / means.std(axis=0, ddof=1)
    for T in tables:
        np.testing.assert_allclose(T, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(tables[0], tables[2])  # the stored means do not depend on the chunking


def test_knn_scores_the_nearest_tracks_and_centroid_the_middle():
    """Two styles in one playlist: kNN ranks a track of either style above one between them,
    the centroid the other way round; with k >= the playlist, kNN is the mean similarity to all."""
    rng = np.random.default_rng(3)
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    rows = {f"a{i}": a + rng.normal(0, 0.05, 3) for i in range(3)} | {
        f"b{i}": b + rng.normal(0, 0.05, 3) for i in range(3)
    }
    rows |= {"near_a": a + np.array([0.0, 0.0, 0.2]), "between": (a + b) / 2 + np.array([0.0, 0.0, 0.4])}
    F = pd.DataFrame(rows).T
    playlist, cands = [f"a{i}" for i in range(3)] + [f"b{i}" for i in range(3)], ["near_a", "between"]
    knn = scoring.knn_scores(F, playlist, cands, k=3)
    cen = scoring.centroid_scores(F, playlist, cands)
    assert knn["near_a"] > knn["between"] and cen["between"] > cen["near_a"]
    unit = F.to_numpy() / np.linalg.norm(F.to_numpy(), axis=1, keepdims=True)
    U = pd.DataFrame(unit, index=F.index)
    want = [float(np.mean(U.loc[playlist].to_numpy() @ U.loc[c].to_numpy())) for c in cands]
    np.testing.assert_allclose(scoring.knn_scores(F, playlist, cands, k=50).to_numpy(), want, rtol=1e-12)
    with pytest.raises(DatasetError, match="no features"):
        scoring.knn_scores(F, playlist, ["nope"])
    from melrec_lib.errors import ParameterError

    with pytest.raises(ParameterError):
        scoring.knn_scores(F, playlist, cands, k=0)
    with pytest.raises(ParameterError, match="mode must be one of"):
        scoring.score_training_free("corrected", None, [], [])


def test_rank_average_is_the_mean_of_pandas_percent_ranks():
    rng = np.random.default_rng(0)
    a = rng.normal(size=30)
    b = np.round(rng.normal(size=30), 1)  # ties share their mean rank
    want = (pd.Series(a).rank(pct=True) + pd.Series(b).rank(pct=True)) / 2
    np.testing.assert_allclose(scoring.rank_average(a, b), want.to_numpy())
    np.testing.assert_allclose(scoring.rank_average(a), pd.Series(a).rank(pct=True).to_numpy())
    from melrec_lib.errors import ParameterError

    for bad in [(), (a, b[:3]), (a, np.r_[b[:-1], np.nan])]:
        with pytest.raises(ParameterError):
            scoring.rank_average(*bad)
