"""The distilled network: its targets, loss, training, augmentation and storage (melrec_lib.nets.distill)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from melrec_lib.errors import DatasetError, ModelNotFoundError, ParameterError
from melrec_lib.nets import distill

# musicnn's patch: 187 frames at hop 256 and 16 kHz; librosa's own conversion, not ours
PATCH_S = 187 * 256 / 16000


def _dense_mean(rows: np.ndarray, offset: float, step: float = 1e-4) -> np.ndarray:
    """The time average of the piecewise-constant teacher output over [offset, offset + 8),
    sampled every ``step`` s, counting only the time that some whole patch covers."""
    t = offset + (np.arange(int(round(8 / step))) + 0.5) * step
    k = np.floor(t / PATCH_S).astype(int)
    k = k[k < len(rows)]
    return np.asarray(rows, np.float64)[k].mean(axis=0)


def test_patch_seconds_match_librosa():
    librosa = pytest.importorskip("librosa")
    assert distill.PATCH_SECONDS == pytest.approx(librosa.frames_to_time(187, sr=16000, hop_length=256))


@pytest.mark.parametrize("offset", [0.0, 1.0, 5.0, 13.0, 20.0])
def test_fragment_targets_are_the_time_average_of_the_patches(offset, rng):
    rows = rng.uniform(size=(9, 7))  # 9 patches cover 26.9 s
    got = distill.fragment_targets(rows, [offset])[0]
    np.testing.assert_allclose(got, _dense_mean(rows, offset), atol=2e-4)


def test_fragment_at_a_patch_boundary_is_the_mean_of_its_whole_patches(rng):
    rows = rng.normal(size=(12, 4))
    # a fragment starting at patch 3 covers patches 3 and 4 whole and 2.016 s of patch 5
    got = distill.fragment_targets(rows, [3 * PATCH_S])[0]
    w = np.array([PATCH_S, PATCH_S, 8 - 2 * PATCH_S])
    np.testing.assert_allclose(got, (w[:, None] * rows[3:6]).sum(0) / 8, rtol=1e-5)


def test_fragment_after_the_last_patch_is_refused():
    with pytest.raises(DatasetError):
        distill.fragment_targets(np.ones((2, 3)), [3 * PATCH_S])
    with pytest.raises(ParameterError):
        distill.patch_overlap([-1.0], 3)
    with pytest.raises(ParameterError):
        distill.fragment_targets(np.ones((0, 3)), [0.0])


def test_soft_target_loss_is_the_binary_cross_entropy_formula(rng):
    import keras

    p = rng.uniform(0.01, 0.99, size=(6, 50)).astype(np.float32)
    t = rng.uniform(0, 1, size=(6, 50)).astype(np.float32)
    expected = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p), axis=1)
    got = keras.ops.convert_to_numpy(distill.soft_target_loss(t, p))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # minimal, for a fixed target, where the prediction equals it
    q = np.clip(t, 0.01, 0.99)
    at_target = keras.ops.convert_to_numpy(distill.soft_target_loss(q, q))
    assert np.all(at_target <= keras.ops.convert_to_numpy(distill.soft_target_loss(q, p)) + 1e-6)


def test_recipe_and_holdout_refuse_bad_values():
    with pytest.raises(ParameterError):
        distill.DistillRecipe(loss="genre")
    with pytest.raises(ParameterError):
        distill.DistillRecipe(versions=0)
    with pytest.raises(ParameterError):
        distill.DistillRecipe(per_8s=0)
    with pytest.raises(ParameterError):
        distill.holdout_groups(["a", "b", "a"], 2)
    assert distill.holdout_groups(list("abcdef"), 2, seed=3) == distill.holdout_groups(list("fedcba"), 2, seed=3)
    assert distill.DistillRecipe().key() != distill.DistillRecipe(seed=1).key()
    with pytest.raises(ParameterError, match="input"):
        distill.DistillRecipe(input="coarse")
    with pytest.raises(ParameterError, match="input"):
        distill.input_config("coarse")


def test_fine_input_is_the_corrected_pipeline_at_1_32_s():
    from melrec_lib.dsp import fragments

    fine, corrected = distill.input_config("fine"), distill.input_config("corrected")
    assert corrected == fragments.get_config("corrected")
    assert fine.frame_duration == 1 / 32 and fine.fragment_shape == (256, 128)
    assert dataclasses.replace(fine, frame_duration=corrected.frame_duration, name=corrected.name) == corrected
    recipe = distill.DistillRecipe(input="fine")
    assert recipe.frames == 256 and distill.DistillRecipe().frames == 64
    assert recipe.key() != distill.DistillRecipe().key()
    # "corrected" is left out of the key: a recipe hashed before the field existed keeps its key
    from melrec_lib.cache import stable_hash

    old = {k: v for k, v in dataclasses.asdict(distill.DistillRecipe()).items() if k != "input"}
    assert distill.DistillRecipe().key() == stable_hash(old, 10)


def test_augmentation_is_seeded_and_changes_the_audio():
    pytest.importorskip("pedalboard")
    sr = 44100
    t = np.arange(3 * sr) / sr
    y = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    a, b, c = distill.augment(y, sr, 5), distill.augment(y, sr, 5), distill.augment(y, sr, 6)
    assert a.shape == y.shape and a.dtype == np.float32 and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a, y)
    assert distill.augmentation_plan(5) == distill.augmentation_plan(5)
    plans = [dict(distill.augmentation_plan(s)) for s in range(200)]
    assert all(-6 <= p["gain"]["gain_db"] <= 6 for p in plans)
    assert all(abs(p["pitch"]["semitones"]) <= 1 for p in plans if "pitch" in p)
    assert 0.3 < np.mean(["reverb" in p for p in plans]) < 0.7  # drawn with probability 0.5
    with pytest.raises(ParameterError):
        distill.augment(np.array([np.nan], np.float32), sr, 0)


def test_gain_alone_scales_the_audio():
    """The gain effect is 20 log10 of the amplitude ratio (pedalboard's documented dB gain)."""
    pb = pytest.importorskip("pedalboard")
    y = np.full(1000, 0.1, np.float32)
    out = pb.Pedalboard([pb.Gain(gain_db=6.0)])(y[None, :], 44100.0)[0]
    np.testing.assert_allclose(out, 0.1 * 10 ** (6 / 20), rtol=1e-5)


def _toy_set(rng, n=96):
    """Fragments whose targets are functions of their content (learnable)."""
    X = rng.normal(size=(n, 64, 128)).astype(np.float32)
    level = X[:, :, :8].mean(axis=(1, 2))
    tags = 1 / (1 + np.exp(-np.outer(level * 20, np.linspace(-1, 1, 50))))
    pen = np.outer(level, np.linspace(0, 3, 200)) + 0.1
    index = pd.DataFrame({"track_id": [f"t{i // 4}" for i in range(n)], "corpus": "toy", "version": 0, "offset_s": 0.0})
    return distill.DistillSet(X, tags.astype(np.float32), pen.astype(np.float32), index)


@pytest.mark.slow
def test_training_reduces_the_loss_and_is_seeded(rng, tmp_path):
    data = _toy_set(rng)
    recipe = distill.DistillRecipe(epochs=4, patience=4, batch_size=16, mask=False, seed=3)
    first = distill.train(data, data, recipe)
    loss = first.history["loss"].to_numpy()
    assert loss[-1] < loss[0]
    again = distill.train(data, data, recipe)
    np.testing.assert_allclose(again.history["loss"], loss, rtol=1e-5)
    assert first.info["hours_seen"] == pytest.approx(len(data) * 8 / 3600 * first.info["epochs_run"])
    # stored and read back: the same outputs and recipe
    path = distill.save(first, tmp_path / "student.keras")
    back = distill.load(path)
    assert back.recipe == recipe
    np.testing.assert_allclose(
        distill.predict(back, data.X[:5])["penultimate"], distill.predict(first, data.X[:5])["penultimate"], rtol=1e-5
    )
    agree = distill.agreement(first, data)
    assert agree["n_fragments"] == len(data) and -1 <= agree["penultimate_cosine"] <= 1
    with pytest.raises(ModelNotFoundError):
        distill.load(tmp_path / "absent.keras")


def test_agreement_scores_a_perfect_and_a_mean_prediction():
    true = np.array([[1.0, 2.0], [3.0, 0.0], [5.0, 4.0]])
    assert distill._r2(true, true) == pytest.approx(1.0)
    assert distill._r2(np.tile(true.mean(0), (3, 1)), true) == pytest.approx(0.0)


def test_build_set_targets_and_versions(tmp_path, rng):
    pytest.importorskip("pedalboard")
    sr = 44100
    paths = []
    for i in range(2):
        t = np.arange(int(21 * sr)) / sr
        y = 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t) + 0.01 * rng.normal(size=t.size)
        p = tmp_path / f"t{i}.wav"
        sf.write(p, y.astype(np.float32), sr, subtype="PCM_16")
        paths.append(str(p))
    manifest = pd.DataFrame({"track_id": ["a", "b"], "path": paths})
    manifest.attrs["corpus"] = "toy-distill"
    n_patches = 7  # 21 s at 16 kHz: (1 + 336000 // 256 - 187) // 187 + 1
    teach = distill.Teacher(
        tags=rng.uniform(size=(2 * n_patches, 50)).astype(np.float32),
        penultimate=rng.normal(size=(2 * n_patches, 200)).astype(np.float32),
        track=np.repeat(["a", "b"], n_patches),
    )
    recipe = distill.DistillRecipe(versions=2, per_8s=1.0, seed=1)
    data = distill.build_set(manifest, teach, recipe, n_jobs=1)
    assert set(data.index["version"]) == {0, 1}
    assert data.X.shape[1:] == (64, 128) and np.all(np.isfinite(data.X))
    for r, row in enumerate(data.index.itertuples()):
        rows = teach.tags[teach.track == row.track_id]
        np.testing.assert_allclose(data.tags[r], _dense_mean(rows, row.offset_s), atol=2e-4)
    again = distill.build_set(manifest, teach, recipe, n_jobs=1)  # from the cache
    np.testing.assert_array_equal(np.asarray(again.X), np.asarray(data.X))
    # version 0 is the original audio's fragment at that offset, version 1 an altered one
    from melrec_lib.dsp import fragments
    from melrec_lib.io import audio

    for r, row in enumerate(data.index.itertuples()):
        y, sr_ = audio.load(paths[0 if row.track_id == "a" else 1], sr=sr)
        clean = fragments.fragments(y, sr_, [row.offset_s], "corrected")[0]
        assert np.allclose(data.X[r], clean, atol=1e-5) == (row.version == 0)


def test_build_set_of_the_fine_input(tmp_path, rng):
    """The fine input's set: 256 frames of 1/32 s per fragment, the fragments of that config."""
    from melrec_lib.dsp import fragments
    from melrec_lib.io import audio

    sr = 44100
    t = np.arange(int(21 * sr)) / sr
    path = tmp_path / "a.wav"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 330 * t) + 0.01 * rng.normal(size=t.size)).astype(np.float32), sr)
    manifest = pd.DataFrame({"track_id": ["a"], "path": [str(path)]})
    manifest.attrs["corpus"] = "toy-distill-fine"
    teach = distill.Teacher(
        tags=rng.uniform(size=(7, 50)).astype(np.float32),
        penultimate=rng.normal(size=(7, 200)).astype(np.float32),
        track=np.repeat(["a"], 7),
    )
    fine = distill.build_set(manifest, teach, distill.DistillRecipe(versions=1, per_8s=1.0, input="fine"), n_jobs=1)
    coarse = distill.build_set(manifest, teach, distill.DistillRecipe(versions=1, per_8s=1.0), n_jobs=1)
    assert fine.X.shape[1:] == (256, 128) and coarse.X.shape[1:] == (64, 128)
    pd.testing.assert_frame_equal(fine.index, coarse.index)  # the same offsets, another input
    np.testing.assert_array_equal(fine.tags, coarse.tags)
    y, _ = audio.load(str(path), sr=sr)
    ref = fragments.fragments(y, sr, fine.index["offset_s"].to_numpy(), distill.input_config("fine"))
    np.testing.assert_allclose(fine.X, ref, atol=1e-6)


def test_fine_student_takes_256_frames(rng):
    recipe = distill.DistillRecipe(input="fine")
    model = distill.student(recipe)
    assert tuple(model.input_shape) == (None, 256, 128)
    net = distill.Distilled(model, recipe, np.zeros(200, np.float32), np.ones(200, np.float32), pd.DataFrame())
    X = rng.uniform(-1, 1, size=(2, 256, 128)).astype(np.float32)
    out = distill.predict(net, X)
    assert out["tags"].shape == (2, 50) and out["penultimate"].shape == (2, 200)
    with pytest.raises(ParameterError):
        distill.predict(net, X[:, :64])  # the corrected input's 64 frames


def test_mix_plan_is_seeded_and_never_mixes_a_track_with_itself():
    ids = ["a", "b", "c", "d"]
    plan = distill.mix_plan(ids, 3, seed=5)
    assert len(plan) == 12 and (plan["partner"] != plan["track_id"]).all()
    assert plan["weight"].between(0.3, 0.7).all() and plan["start"].between(0, 1, inclusive="left").all()
    pd.testing.assert_frame_equal(plan, distill.mix_plan(ids, 3, seed=5))
    assert not plan.equals(distill.mix_plan(ids, 3, seed=6))


def test_mix_is_the_weighted_sum_at_the_tracks_level(rng):
    y, b = rng.normal(size=1000), 3 * rng.normal(size=300)
    out = distill.mix(y, b, 0.25, 0.5).astype(np.float64)
    looped = np.resize(np.roll(b, -150), 1000)
    # out = c (0.25 y / rms(y) + 0.75 looped / rms(looped)), at the RMS of y
    basis = np.stack([y, looped], axis=1)
    coef, *_ = np.linalg.lstsq(basis, out, rcond=None)
    np.testing.assert_allclose(basis @ coef, out, atol=1e-5)
    rms = lambda a: np.sqrt(np.mean(a**2))  # noqa: E731
    assert coef[0] * rms(y) / (coef[1] * rms(looped)) == pytest.approx(0.25 / 0.75, rel=1e-5)
    assert rms(out) == pytest.approx(rms(y), rel=1e-5)


def test_mix_refuses_bad_input():
    with pytest.raises(ParameterError, match="two distinct"):
        distill.mix_plan(["a", "a"], 1)
    with pytest.raises(ParameterError):
        distill.mix_plan(["a", "b"], 0)
    with pytest.raises(ParameterError, match="weight"):
        distill.mix(np.ones(8), np.ones(4), 1.5, 0.0)
    with pytest.raises(ParameterError, match="silent"):
        distill.mix(np.ones(8), np.zeros(4), 0.5, 0.0)
    with pytest.raises(ParameterError, match="finite"):
        distill.mix(np.ones(8), np.array([1.0, np.nan]), 0.5, 0.0)
    with pytest.raises(ParameterError, match="silent over the span"):
        distill.mix(np.ones(2), np.array([0.0, 0.0, 0.0, 1.0]), 0.5, 0.0)


def test_mix_set_targets_are_the_teachers_of_the_mix(tmp_path, rng):
    """Fragments of each mix, and musicnn's outputs on it as librosa computes musicnn's input."""
    import librosa

    from melrec_lib.dsp import fragments
    from melrec_lib.nets import musicnn

    sr = 44100
    paths = []
    for i, f0 in enumerate((220.0, 587.0)):
        t = np.arange(int(12 * sr)) / sr
        y = 0.3 * np.sin(2 * np.pi * f0 * t) * (1 + 0.8 * np.sign(np.sin(2 * np.pi * (1 + 3 * i) * t)))
        sf.write(tmp_path / f"m{i}.wav", (y + 0.01 * rng.normal(size=t.size)).astype(np.float32), sr)
        paths.append(str(tmp_path / f"m{i}.wav"))
    manifest = pd.DataFrame({"track_id": ["a", "b"], "path": paths})
    manifest.attrs["corpus"] = "toy-mix"
    recipe = distill.DistillRecipe(per_8s=1.0, seed=3)
    data = distill.mix_set(manifest, recipe, mixes=1, n_jobs=1)
    assert sorted(data.index["track_id"].unique()) == ["a", "b"] and set(data.index["version"]) == {1}
    audio = {t: sf.read(p, dtype="float32")[0] for t, p in zip(["a", "b"], paths)}
    for r in distill.mix_plan(["a", "b"], 1, seed=3).itertuples():
        m = distill.mix(audio[r.track_id], audio[r.partner], r.weight, r.start)
        y16 = librosa.resample(m, orig_sr=sr, target_sr=16000, res_type="soxr_hq")
        mel = librosa.feature.melspectrogram(y=y16, sr=16000, n_fft=512, hop_length=256, n_mels=96).T
        S = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
        n = (len(S) - 187) // 187 + 1
        tags = musicnn.predict(S[: n * 187].reshape(n, 187, 96))["taggram"]
        alone = musicnn.predict(
            musicnn.patches(musicnn.log_mel(librosa.resample(audio[r.track_id], orig_sr=sr, target_sr=16000)))
        )
        for row in np.flatnonzero(data.index["track_id"] == r.track_id):
            off = float(data.index["offset_s"][row])
            np.testing.assert_allclose(data.tags[row], _dense_mean(tags, off), atol=2e-3)
            assert np.abs(data.tags[row] - _dense_mean(alone["taggram"], off)).max() > 0.02  # the mix is taught
            np.testing.assert_allclose(data.X[row], fragments.fragments(m, sr, [off], "corrected")[0], atol=1e-5)
    again = distill.mix_set(manifest, recipe, mixes=1, n_jobs=1)  # from the cache
    np.testing.assert_array_equal(np.asarray(again.X), np.asarray(data.X))
    pd.testing.assert_frame_equal(again.index, data.index)
    # a stored set that cannot be read (here: a truncated file) is rebuilt, with a warning
    expected, stored = np.array(data.X), Path(again.X.filename)
    del data, again  # memory maps of the file truncated below
    stored.write_bytes(stored.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable training set"):
        rebuilt = distill.mix_set(manifest, recipe, mixes=1, n_jobs=1)
    np.testing.assert_array_equal(np.asarray(rebuilt.X), expected)
