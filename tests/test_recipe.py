"""melrec_lib.nets.recipe: the frozen GenreRecipe validates, resolves its defaults and diffs field by field."""

from __future__ import annotations

import dataclasses

import pytest

from melrec_lib.dsp import fragments
from melrec_lib.errors import ParameterError
from melrec_lib.nets.recipe import GenreRecipe


def test_defaults_and_init_resolution():
    r = GenreRecipe()
    assert (r.config, r.per_track, r.augment, r.epochs, r.patience, r.batch_size, r.optimizer, r.seed) == (
        "thesis",
        25,
        True,
        60,
        10,
        32,
        "adam",
        0,
    )
    # the thesis' [-1, 1] normalisation needs Glorot on the Conv1D shapes; the log input keeps the thesis' init
    assert r.init == "glorot" and GenreRecipe(config="corrected").init == "thesis"
    assert GenreRecipe(config="corrected", init="glorot").init == "glorot"
    # Adam's rate: lower on the thesis' input, which collapses at 1e-3; SGD keeps Keras' default
    assert (r.learning_rate, GenreRecipe(config="corrected").learning_rate) == (3e-4, 1e-3)
    assert GenreRecipe(optimizer="sgd").learning_rate == 0.01 and GenreRecipe(learning_rate=5e-4).learning_rate == 5e-4
    assert r.spectrogram is fragments.CONFIGS["thesis"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.seed = 3


def test_key_is_stable_and_covers_every_field():
    r = GenreRecipe()
    assert r.key() == GenreRecipe().key() and len(r.key()) == 10
    keys = {
        r.replace(**{f.name: v}).key()
        for f, v in zip(dataclasses.fields(GenreRecipe), ["corrected", 5, False, 3, 2, 16, "sgd", "thesis", 1e-4, 1])
    }
    assert len(keys) == 10 and r.key() not in keys


def test_round_trip_through_a_sidecar_record():
    r = GenreRecipe(config="corrected", per_track=7, seed=3)
    record = r.to_dict()
    assert record["config_key"] == fragments.CONFIGS["corrected"].key()
    assert GenreRecipe.from_dict(record) == r


def test_a_sidecar_from_before_learning_rates_were_recorded_is_not_todays_recipe():
    """Such models were trained at Adam's 1e-3 whatever the input: not today's thesis-input 3e-4."""
    old = {k: v for k, v in GenreRecipe(config="thesis").to_dict().items() if k != "learning_rate"}
    assert GenreRecipe.from_dict(old).learning_rate == 1e-3
    assert GenreRecipe(config="thesis").diff(GenreRecipe.from_dict(old)) == [
        "learning_rate: saved 0.001, wanted 0.0003"
    ]
    assert GenreRecipe.from_dict({**old, "optimizer": "sgd"}).learning_rate == 0.01


def test_diff_names_each_changed_field():
    saved = GenreRecipe(per_track=5, epochs=2)
    assert GenreRecipe(per_track=5, epochs=2).diff(saved) == []
    assert GenreRecipe(per_track=6, epochs=2).diff(saved) == ["per_track: saved 5, wanted 6"]
    lines = GenreRecipe(config="corrected", per_track=5, epochs=2).diff(saved)
    assert [line.split(":")[0] for line in lines] == ["config", "init", "learning_rate", "config_key"]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"config": "nope"}, "unknown spectrogram config"),
        ({"per_track": 0}, "per_track"),
        ({"epochs": 2.5}, "epochs"),
        ({"seed": -1}, "seed"),
        ({"augment": 1}, "augment"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"init": "he"}, "init"),
        ({"batch_size": True}, "batch_size"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"learning_rate": "fast"}, "learning_rate"),
    ],
)
def test_bad_fields_raise(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        GenreRecipe(**kwargs)
