"""The named pipelines, and the genre-CNN weights that ship in the package (export, load, check)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from melrec_lib.app import cli, pipeline
from melrec_lib.errors import ModelNotFoundError, ParameterError
from melrec_lib.nets import architecture, shipped
from melrec_lib.nets.recipe import GenreRecipe


def test_pipeline_table():
    assert pipeline.PIPELINES["thesis"] == pipeline.Pipeline(
        preprocessor="genre-cnn", config="thesis", cut="pool2", mode="thesis"
    )
    assert pipeline.DEFAULT_PIPELINE in pipeline.PIPELINES
    assert pipeline.resolve() == pipeline.PIPELINES[pipeline.DEFAULT_PIPELINE]
    assert pipeline.resolve("thesis", cut="dense1024", mode=None) == pipeline.Pipeline(
        preprocessor="genre-cnn", config="thesis", cut="dense1024", mode="thesis"
    )
    # the thesis, spelled out flag by flag, is the thesis pipeline whatever the default is
    assert pipeline.resolve(None, config="thesis", cut="pool2", mode="thesis") == pipeline.PIPELINES["thesis"]
    with pytest.raises(ParameterError, match="polka"):
        pipeline.resolve("polka")
    with pytest.raises(ParameterError, match="cut must be one of"):
        pipeline.resolve("thesis", cut="conv9")
    # fields of the best pipeline: MFCC fusion and three networks, kept by other overrides
    assert pipeline.resolve("best", config="thesis", cut="pool2").mfcc
    assert pipeline.resolve("best", config="thesis", cut="pool2").networks == 3
    assert pipeline.resolve(None, mode="thesis", networks=2).networks == 2
    # the default: the selection rule's verdict, one regularised network on musicnn's features
    assert pipeline.resolve().method() == "recommender-corrected-small@musicnn-msd/penultimate"
    with pytest.raises(ParameterError, match="networks"):
        pipeline.resolve(None, networks=0)
    with pytest.raises(ParameterError, match="mfcc must be"):
        pipeline.Pipeline(mfcc="yes")
    args = cli.build_parser().parse_args(
        ["recommend", "--playlist", "x", "--library", "y", "--no-mfcc", "--networks", "5"]
    )
    assert args.mfcc is False and args.networks == 5
    args = cli.build_parser().parse_args(
        ["recommend", "--playlist", "a.m3u", "b.wav", "--playlist", "c", "--library", "x", "--pipeline", "thesis"]
    )
    assert args.playlist == ["a.m3u", "b.wav", "c"] and args.pipeline == "thesis"


def test_fusion_pipelines_are_notebook_08s_fusion_methods():
    from melrec_lib.recsys import benchmark

    fused = pipeline.resolve("musicnn-msd", mode="corrected-small", fusion=True, networks=3, mfcc=True)
    assert fused.method() == "fusion-corrected-small-avg3@musicnn-msd/penultimate+mfcc"
    assert benchmark.parse_method(fused.method())["kind"] == "fusion"
    assert "rank-averaged with the centroid" in fused.describe()
    # the thesis and the training-free modes turn it off; asked for with them, it is an error
    assert not pipeline.resolve("thesis").fusion
    assert pipeline.resolve(None, config="thesis", cut="pool2", mode="thesis") == pipeline.PIPELINES["thesis"]
    assert not dataclasses_replace(fused, fusion=False).method().startswith("fusion")
    assert not pipeline.resolve(None, mode="centroid").fusion
    with pytest.raises(ParameterError, match="fusion needs a recommender mode"):
        pipeline.Pipeline(mode="knn", fusion=True)
    with pytest.raises(ParameterError, match="fusion must be"):
        pipeline.Pipeline(fusion=1)


def dataclasses_replace(pipe, **fields):
    import dataclasses

    return dataclasses.replace(pipe, **fields)


def test_default_pipeline_is_the_one_notebook_08_chose_on_its_development_users():
    """Changing the default without a notebook-08 run that chose it fails here (and the reverse)."""
    import json

    from melrec_lib import paths

    recorded = json.loads((paths.FIGURES / "recorded-results.json").read_text())["08-real-music"]
    assert recorded["chosen"]["best"] == pipeline.resolve().method()
    assert recorded["default"] == pipeline.resolve().method()


@pytest.fixture
def exported(smoke_model, tmp_path):
    """The smoke genre CNN exported at dense1024 into a folder of its own."""
    folder = tmp_path / "weights"
    folder.mkdir()
    return shipped.export_preprocessor(smoke_model, cut="dense1024", folder=folder), smoke_model


def test_export_load_reproduces_reference(exported):
    npz, model = exported
    assert npz.stat().st_size < 10 * 2**20
    meta = shipped.find(config="thesis", cut="pool2", folder=npz.parent)  # earlier cuts are reachable
    assert meta is not None and shipped.find(config="thesis", cut="dense128", folder=npz.parent) is None
    assert shipped.find(config="corrected", cut="pool2", folder=npz.parent) is None
    assert meta["recipe"] == model.recipe.to_dict() and meta["genres"] == list(model.genres)
    assert meta["corpus"] == "melrec-synth-smoke" and meta["corpus_fingerprint"]
    loaded = shipped.load(config="thesis", cut="dense1024", folder=npz.parent, check_recipe=False)
    assert shipped.check(loaded) <= shipped.REFERENCE_RTOL
    X = shipped.reference_fragment("thesis")
    full = np.asarray(architecture.preprocessor(model.model, "dense1024").predict_on_batch(X))
    got = np.asarray(loaded.model.predict_on_batch(X))
    assert np.linalg.norm(got - full) <= shipped.REFERENCE_RTOL * np.linalg.norm(full)
    at_pool2 = shipped.load(config="thesis", cut="pool2", folder=npz.parent, check_recipe=False)
    np.testing.assert_allclose(
        np.asarray(at_pool2.model.predict_on_batch(X)),
        np.asarray(architecture.preprocessor(model.model, "pool2").predict_on_batch(X)),
        rtol=1e-2,
        atol=1e-2 * float(np.abs(full).max()),
    )


def test_a_changed_reference_or_recipe_fails_loudly(exported, tmp_path):
    import json

    npz, _ = exported
    meta = shipped.find(config="thesis", cut="dense1024", folder=npz.parent)
    # the smoke recipe (2 epochs, 5 fragments per track) is not the code's default recipe
    reasons = shipped.stale_reasons(meta)
    assert any(r.startswith("epochs:") for r in reasons) and any(r.startswith("per_track:") for r in reasons)
    with pytest.warns(UserWarning, match="another recipe"):
        shipped.load(config="thesis", cut="dense1024", folder=npz.parent)
    sidecar = npz.with_suffix(".json")
    record = json.loads(sidecar.read_text())
    record["reference"]["embedding"] = [v + 1.0 for v in record["reference"]["embedding"]]
    sidecar.write_text(json.dumps(record))
    with pytest.raises(ParameterError, match="reference fragment"):
        shipped.check(shipped.load(config="thesis", cut="dense1024", folder=npz.parent, check_recipe=False))


def test_recommend_uses_shipped_weights_without_a_trained_model(exported, monkeypatch):
    from melrec_lib import paths

    npz, _ = exported
    monkeypatch.setattr(shipped, "FOLDER", npz.parent)
    pipe = pipeline.resolve("thesis")
    assert "using your genre CNN" in pipeline.embedder(pipe, corpus="melrec-synth-smoke").describe
    shutil.rmtree(paths.models_dir())  # no user-trained model: the shipped one
    with pytest.warns(UserWarning, match="another recipe"):
        emb = pipeline.embedder(pipe, corpus="melrec-synth-smoke")
    assert emb.describe.startswith("using the genre CNN shipped with melrec (thesis input, cut pool2")
    with pytest.raises(ModelNotFoundError, match="melrec train"):
        pipeline.embedder(pipeline.resolve("thesis", config="corrected"), corpus="melrec-synth-smoke")


def test_shipped_file_matches_the_code():
    """The weights committed in melrec_lib/weights/: they load, reproduce their reference, and were
    trained with the code's default recipe (a changed default in GenreRecipe fails here)."""
    found = shipped.available()
    if not found:
        pytest.skip("no shipped weights committed yet (tools/export_shipped_weights.py writes them)")
    for meta in found:
        assert shipped.stale_reasons(meta) == [], (
            f"{meta['path']}: retrain and re-export ({shipped.stale_reasons(meta)})"
        )
        loaded = shipped.load(config=meta["recipe"]["config"], cut=meta["cut"])
        assert shipped.check(loaded) <= shipped.REFERENCE_RTOL
        recipe = GenreRecipe.from_dict(meta["recipe"])
        assert loaded.config.key() == recipe.spectrogram.key()
        assert sum(p.stat().st_size for p in (loaded.path, loaded.path.with_suffix(".json"))) < 10 * 2**20
