"""melrec_lib.nets.saved: one sidecar schema, reuse only for the same recipe on the same tracks, typed errors."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import SMOKE_RECIPE

from melrec_lib import paths
from melrec_lib.errors import DatasetError, ModelNotFoundError, ParameterError
from melrec_lib.nets import architecture, saved, training
from melrec_lib.nets.recipe import GenreRecipe


def test_model_path_is_named_after_config_and_collection(smoke_manifest):
    assert saved.model_path(corpus=smoke_manifest, config="corrected") == (
        paths.models_dir() / "genre-cnn-corrected-melrec-synth-smoke.keras"
    )
    assert saved.model_path(corpus="soundtracks", config="thesis").name == "genre-cnn-thesis-soundtracks.keras"
    with pytest.raises(ParameterError, match="corpus must be"):
        saved.model_path(corpus=3, config="thesis")


def test_load_missing_names_the_command():
    with pytest.raises(ModelNotFoundError, match="melrec train --corpus melrec-synth --config thesis"):
        saved.load(corpus="melrec-synth", config="thesis")
    with pytest.raises(FileNotFoundError, match="notebook 03"):
        saved.load(corpus="melrec-synth-smoke", config="corrected")


def test_sidecar_schema(smoke_model, smoke_manifest):
    meta = json.loads(smoke_model.path.with_suffix(".json").read_text())
    assert meta["schema"] == saved.SIDECAR_SCHEMA and meta["corpus"] == "melrec-synth-smoke"
    assert GenreRecipe.from_dict(meta["recipe"]) == GenreRecipe(**SMOKE_RECIPE) == smoke_model.recipe
    assert "settings" not in meta  # one record of how it was trained, not two
    assert meta["genres"] == list(training.genres_of(smoke_manifest)) == list(smoke_model.genres)
    assert meta["epochs_run"] == len(meta["history"]["loss"]) == 2
    assert smoke_model.fragment_accuracy == meta["test"]["fragment_accuracy"]
    assert sum(meta["n_tracks"].values()) == len(smoke_manifest)
    assert smoke_model.model.count_params() == architecture.N_PARAMS_9_GENRES
    tables = smoke_model.evaluation_tables()
    assert int(tables["confusion"].to_numpy().sum()) == meta["n_tracks"]["test"]


def test_saved_model_is_reused_only_for_the_same_recipe(smoke_model, smoke_manifest, monkeypatch):
    same = GenreRecipe(**SMOKE_RECIPE)
    assert saved.stale_reasons(corpus=smoke_manifest, recipe=same) == []
    assert saved.stale_reasons(corpus=smoke_manifest, recipe=same.replace(seed=1)) == ["seed: saved 0, wanted 1"]
    assert saved.stale_reasons(corpus=smoke_manifest, recipe=same.replace(per_track=6)) == [
        "per_track: saved 5, wanted 6"
    ]
    fewer = smoke_manifest.iloc[1:]
    assert saved.stale_reasons(corpus=fewer, recipe=same) == [
        "the collection's tracks changed since the model was trained"
    ]

    calls = []
    monkeypatch.setattr(training, "train_on", lambda manifest, *, recipe, progress: calls.append(recipe))
    monkeypatch.setattr(saved, "save", lambda result, *, corpus, recipe: None)
    reused = saved.ensure(corpus=smoke_manifest, recipe=same, progress=False)
    assert calls == [] and reused.recipe == same
    saved.ensure(corpus=smoke_manifest, recipe=same.replace(seed=1), progress=False)
    saved.ensure(corpus=smoke_manifest, recipe=same, retrain=True, progress=False)
    assert [r.seed for r in calls] == [1, 0]  # the seed each retraining was asked for


def test_load_refuses_a_model_of_another_recipe_when_asked(smoke_model, smoke_manifest):
    assert (
        saved.load(corpus=smoke_manifest, config="thesis", recipe=GenreRecipe(**SMOKE_RECIPE)).recipe
        == smoke_model.recipe
    )
    with pytest.raises(DatasetError, match=r"another recipe \(per_track: saved 5, wanted 25.*--retrain"):
        saved.load(corpus=smoke_manifest, config="thesis", recipe=GenreRecipe(**{**SMOKE_RECIPE, "per_track": 25}))


def test_broken_sidecars_are_stale_never_trusted(smoke_model, smoke_manifest):
    recipe = GenreRecipe(**SMOKE_RECIPE)
    sidecar = smoke_model.path.with_suffix(".json")
    record = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**record, "schema": 1}))
    assert "schema 1" in saved.stale_reasons(corpus=smoke_manifest, recipe=recipe)[0]
    sidecar.write_text("{ half a sidecar")
    assert "no readable sidecar" in saved.stale_reasons(corpus=smoke_manifest, recipe=recipe)[0]
    with pytest.raises(DatasetError, match="unreadable sidecar"):
        saved.load(corpus=smoke_manifest, config="thesis")
    sidecar.unlink()
    assert "no readable sidecar" in saved.stale_reasons(corpus=smoke_manifest, recipe=recipe)[0]
    smoke_model.path.unlink()
    assert saved.stale_reasons(corpus=smoke_manifest, recipe=recipe) == [f"no saved model at {smoke_model.path}"]


def test_ensure_refuses_names_and_duplicate_configs(smoke_manifest):
    with pytest.raises(ParameterError, match="manifest"):
        saved.ensure(corpus="melrec-synth-smoke", progress=False)
    with pytest.raises(ParameterError, match="differ in config"):
        saved.ensure_all(corpus=smoke_manifest, recipes=[GenreRecipe(), GenreRecipe(seed=1)], progress=False)


def test_parallel_training_equals_sequential(smoke_manifest, tmp_path):
    """ensure_all trains stale recipes in worker processes; the weights are those of a training here."""
    import numpy as np

    recipes = [GenreRecipe(config=c, epochs=1, per_track=2, seed=3) for c in ("thesis", "corrected")]
    side = saved.ensure_all(corpus=smoke_manifest, recipes=recipes, n_jobs=2, progress=False)
    shutil.rmtree(paths.models_dir())
    here = [saved.ensure(corpus=smoke_manifest, recipe=r, progress=False) for r in recipes]
    for a, b in zip(side, here):
        assert a.recipe == b.recipe and a.metrics["history"] == b.metrics["history"]
        for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
            np.testing.assert_array_equal(wa, wb)
