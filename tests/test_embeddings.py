"""melrec_lib.nets.embeddings: the frozen preprocessor's features equal the cut model's, cached by content."""

from __future__ import annotations

import numpy as np
import pytest

from melrec_lib import paths
from melrec_lib.errors import ParameterError
from melrec_lib.nets import architecture, embeddings
from melrec_lib.nets.recipe import GenreRecipe
from melrec_lib.nets.saved import TrainedGenreModel


@pytest.fixture(scope="module")
def untrained():
    """An untrained genre CNN as a model in memory (the cache keys its weights)."""
    return TrainedGenreModel(
        model=architecture.genre_cnn(3, seed=0, init="glorot"), recipe=GenreRecipe(), genres=("a", "b", "c")
    )


def test_embeddings_cached_and_equal_to_the_cut(untrained, rng, monkeypatch, tmp_path):
    monkeypatch.setenv("MELREC_DATA_DIR", str(tmp_path))  # an empty cache
    X = rng.uniform(-1, 1, size=(23, 64, 128)).astype(np.float32)
    E = embeddings.embed_fragments(X, untrained, cut="pool2", batch_size=10, progress=False)
    assert E.shape == (len(X), 1792) and E.dtype == np.float32
    ref = architecture.preprocessor(untrained.model, "pool2").predict(X, verbose=0)
    np.testing.assert_allclose(E, ref, rtol=1e-5, atol=1e-6)
    files = list((paths.processed_dir() / "embeddings").glob("*-pool2-*.npy"))
    assert len(files) == 1
    # the second call reads the cache: the preprocessor is never built again
    monkeypatch.setattr(embeddings, "get_preprocessor", lambda *a, **k: pytest.fail("cache not used"))
    np.testing.assert_array_equal(embeddings.embed_fragments(X, untrained, cut="pool2", progress=False), E)
    with pytest.raises(pytest.fail.Exception):  # other fragments: a different key, recomputed
        embeddings.embed_fragments(X[:3] + 0.5, untrained, cut="pool2", progress=False)


def test_errors(untrained):
    with pytest.raises(ParameterError, match="cut"):
        embeddings.embed_fragments(np.zeros((2, 64, 128), np.float32), untrained, cut="conv9")
    with pytest.raises(ParameterError, match="NaN"):
        embeddings.embed_fragments(np.full((2, 64, 128), np.nan, np.float32), untrained)
    with pytest.raises(ParameterError, match="builder"):
        embeddings.embed(
            __import__("pandas").DataFrame({"track_id": ["a"], "path": ["x.wav"]}), untrained, builder="random"
        )


def test_embedded_take_and_track_means():
    E = embeddings.Embedded(
        X=np.arange(12, dtype=np.float32).reshape(6, 2), track=np.array(["b", "a", "b", "c", "a", "b"]), cut="pool2"
    )
    X, t = E.take(["a", "c"])
    assert t.tolist() == ["a", "c", "a"] and X[:, 0].tolist() == [2.0, 6.0, 8.0]
    means = E.track_means()
    assert list(means.index) == ["a", "b", "c"]
    np.testing.assert_allclose(means.loc["b"].to_numpy(), [(0 + 4 + 10) / 3, (1 + 5 + 11) / 3])
