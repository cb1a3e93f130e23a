"""The patch budget (issue 19, part 3): which patches, that only they are decoded, errors, the cache key.

References that are not the budget's own code: the whole track's patches from
:func:`melrec_lib.nets.musicnn._track_patches` (what notebook 08's cache and every patch embed),
the centres of N equal parts of a track worked out by hand, and the file's own sample count.
"""

from __future__ import annotations

import media
import numpy as np
import pytest
import soundfile as sf

from melrec_lib.app import library, pipeline
from melrec_lib.errors import ParameterError
from melrec_lib.nets import budget, musicnn

# -------------------------------------------------------------------------------------------
# positions
# -------------------------------------------------------------------------------------------


def test_positions_are_the_centres_of_equal_parts():
    # 40 patches (a 120 s excerpt) in 4 parts of 10: the centres 5, 15, 25, 35
    assert budget.positions(40, 4).tolist() == [5, 15, 25, 35]
    # 10 patches in 3 parts of 3 1/3: centres at 1 2/3, 5, 8 1/3 -> patches 1, 5, 8
    assert budget.positions(10, 3).tolist() == [1, 5, 8]
    assert budget.positions(7, 1).tolist() == [3]  # one patch: the middle one


@pytest.mark.parametrize("n", [5, 17, 40, 41, 100, 3600])
@pytest.mark.parametrize("N", [1, 2, 4, 8, 16, 32])
def test_positions_spread_evenly_from_first_to_last(n, N):
    pos = budget.positions(n, N)
    if n <= N:
        assert pos.tolist() == list(range(n))
        return
    assert len(pos) == N and np.all(np.diff(pos) > 0)
    part = n / N
    # the first is half a part from the start, the last half a part from the end
    assert pos[0] == int(part / 2) and pos[-1] == int(n - part / 2)
    # patch p spans [p, p + 1): each holds the centre of its own part, so it overlaps that part,
    # and consecutive ones are about a part apart
    assert all(p <= (i + 0.5) * part < p + 1 for i, p in enumerate(pos))
    assert all(p + 1 > i * part and p < (i + 1) * part for i, p in enumerate(pos))
    assert np.all(np.abs(np.diff(pos) - part) <= 1)


def test_short_tracks_keep_every_patch_and_all_means_all():
    assert budget.positions(3, 8).tolist() == [0, 1, 2]
    assert budget.positions(8, 8).tolist() == list(range(8))
    assert budget.positions(0, 8).tolist() == []
    assert budget.positions(50, "all").tolist() == list(range(50))
    assert budget.positions(50, 0).tolist() == list(range(50))


def test_positions_are_deterministic():
    first = [budget.positions(n, N).tolist() for n in range(0, 60) for N in (1, 3, 8)]
    again = [budget.positions(n, N).tolist() for n in range(0, 60) for N in (1, 3, 8)]
    assert first == again


def test_patch_count_is_musicnns():
    # the whole spectrogram's patches of n samples at 16 kHz, counted by musicnn itself
    for n in (musicnn.MIN_SAMPLES - 1, musicnn.MIN_SAMPLES, 187 * 256 * 2 - 257, 187 * 256 * 2, 16000 * 30 + 7):
        y = np.zeros(n, np.float32)
        want = 0 if n < musicnn.MIN_SAMPLES else len(musicnn.patches(musicnn.log_mel(y)))
        assert budget.patch_count(n) == want, n


# -------------------------------------------------------------------------------------------
# bad budgets
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1, -8, 2.5, 4.0, True, None, "", "x", "-3", "4 patches", [4]])
def test_bad_budgets_raise_parameter_error(bad):
    with pytest.raises(ParameterError, match="patch budget"):
        budget.check_budget(bad)
    with pytest.raises(ParameterError, match="patch budget"):
        pipeline.resolve("musicnn-msd", patches=bad if bad is not None else -1)
    with pytest.raises(ParameterError, match="patch budget"):
        budget.positions(10, bad)


def test_good_budgets_and_the_pipeline_field():
    assert [budget.check_budget(v) for v in ("all", "ALL", " 8 ", "0", 0, 16, np.int64(4))] == [0, 0, 8, 0, 0, 16, 4]
    assert pipeline.resolve("musicnn-msd", patches="all").patches == 0
    assert pipeline.resolve("musicnn-msd", patches="8").patches == 8
    assert pipeline.resolve().patches == pipeline.DEFAULT_PATCHES
    assert "at most 8 patches per track" in pipeline.resolve("musicnn-msd", patches=8).describe()


def test_cli_refuses_a_bad_budget(capsys):
    from melrec_lib.app import cli

    code = cli.main(["recommend", "--playlist", "p.m3u", "--library", ".", "--patches", "-3"])
    assert code != 0
    assert "patch budget" in capsys.readouterr().err


# -------------------------------------------------------------------------------------------
# the subsample equals what the pipeline embeds, and only the spans are decoded
# -------------------------------------------------------------------------------------------


def _sweep(seconds: float, rate: int, channels: int = 2, seed: int = 5) -> np.ndarray:
    """(n, channels): a tone gliding from 200 Hz to 5 kHz over a noise floor, so every 3 s differs."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f = 200 * (25 ** (t / seconds))
    phase = 2 * np.pi * np.cumsum(f) / rate
    x = 0.3 * np.sin(phase)[:, None] + 0.02 * rng.standard_normal((t.size, channels))
    return x.astype(np.float32)


def _closest(P: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each patch of P, the nearest patch of Q (max abs difference) and that difference."""
    d = np.abs(P[:, None] - Q[None]).max(axis=(2, 3))
    return d.argmin(axis=1), d.min(axis=1)


@pytest.mark.parametrize(
    ("name", "rate", "subtype", "exact"),
    [
        ("wav16k.wav", 16000, "PCM_16", True),  # musicnn's own rate: no resampling, read span by span
        ("wav22k.wav", 22050, "PCM_16", False),  # integer PCM at another rate: spans resampled on their own
        ("flac44k.flac", 44100, "PCM_16", False),  # soundfile, seeking
        ("vorbis.ogg", 44100, "VORBIS", False),  # soundfile, seeking in a lossy stream
    ],
)
def test_budget_patches_are_the_whole_tracks_at_the_positions(tmp_path, name, rate, subtype, exact):
    path = tmp_path / name
    sf.write(path, _sweep(31.0, rate), rate, subtype=subtype)
    whole = musicnn._track_patches(path)  # every patch, the whole file decoded
    assert len(whole) == 10
    for N in (1, 3, 4, 9):
        got = budget.track_patches(path, N)
        pos = budget.positions(len(whole), N)
        assert got.shape == (N, musicnn.PATCH_FRAMES, musicnn.N_MELS)
        if exact:
            np.testing.assert_array_equal(got, whole[pos])
        nearest, diff = _closest(got, whole)
        assert nearest.tolist() == pos.tolist()
        assert diff.max() < 5e-3  # soxr's rounding, through float16 mel values
    # a budget of every patch, or more patches than the track has, is the whole decode exactly
    np.testing.assert_array_equal(budget.track_patches(path, "all"), whole)
    np.testing.assert_array_equal(budget.track_patches(path, 10), whole)
    np.testing.assert_array_equal(budget.track_patches(path, 64), whole)


def test_a_pyav_file_decodes_only_around_its_patches(tmp_path):
    path = tmp_path / "alac.m4a"
    media.encode(path, "alac", _sweep(31.0, 44100).T.copy(), 44100)
    whole = musicnn._track_patches(path)
    got = budget.track_patches(path, 3)
    nearest, diff = _closest(got, whole)
    assert nearest.tolist() == budget.positions(len(whole), 3).tolist() and diff.max() < 5e-3


def test_only_the_spans_are_read(tmp_path, monkeypatch):
    """A 20-minute WAV with a budget of 4 reads 4 spans of about 3 s, not the file."""
    path = tmp_path / "long.wav"
    rate = 16000
    sf.write(path, np.zeros((20 * 60 * rate, 1), np.float32) + 0.01, rate, subtype="PCM_16")
    from melrec_lib.io import audio

    read = []
    real = audio.load_spans

    def spy(p, spans, **kw):
        read.extend(b - a for a, b in spans)
        return real(p, spans, **kw)

    monkeypatch.setattr(audio, "load_spans", spy)
    monkeypatch.setattr(musicnn, "load_audio", lambda p: pytest.fail("the whole file was decoded"))
    got = budget.track_patches(path, 4)
    assert got.shape[0] == 4 and len(read) == 4
    assert sum(read) < 4 * 4 * rate  # under 4 s per patch, of 20 minutes


def test_the_subsample_equals_what_the_pipeline_embeds(tmp_path):
    """tools/patch_budget.py subsamples every patch's embeddings; the pipeline embeds the budget."""
    path = tmp_path / "track.wav"
    sf.write(path, _sweep(31.0, 22050), 22050, subtype="PCM_16")
    # notebook 08's cache: every patch embedded, one row per patch (musicnn.track_embeddings)
    import pandas as pd

    manifest = pd.DataFrame({"track_id": ["t"], "path": [str(path)]})
    X, track = musicnn.track_embeddings(manifest, corpus_name="budget-test", progress=False, n_jobs=1, cache=False)
    for N in (3, 4):
        sub, sub_track = budget.subsample(X, track, N)
        emb = pipeline.embedder(pipeline.resolve("musicnn-msd", patches=N))
        mine, _ = emb.embed(emb.extract(str(path), *emb.extract_args))
        assert sub.shape == mine.shape == (N, 200) and set(sub_track) == {"t"}
        np.testing.assert_allclose(mine, sub, atol=2e-3, rtol=0)
        # and not any other rows: every embedded patch is nearest to its own row
        d = np.abs(mine[:, None] - np.asarray(X)[None]).max(axis=2)
        assert d.argmin(axis=1).tolist() == budget.positions(len(X), N).tolist()


def test_subsample_keeps_each_tracks_positions():
    track = np.array(["a"] * 10 + ["b"] * 3 + ["c"] * 40)
    X = np.arange(len(track))[:, None]
    sub, st = budget.subsample(X, track, 4)
    assert st.tolist() == ["a"] * 4 + ["b"] * 3 + ["c"] * 4
    # a: centres of 4 parts of 10 = 1.25, 3.75, 6.25, 8.75; b: all three; c: 5, 15, 25, 35
    assert sub[:, 0].tolist() == [1, 3, 6, 8, 10, 11, 12, 18, 28, 38, 48]
    with pytest.raises(ParameterError, match="consecutive"):
        budget.subsample(X, np.array(["a", "b"] * 26 + ["a"]), 4)


# -------------------------------------------------------------------------------------------
# the library cache keys embeddings by the budget
# -------------------------------------------------------------------------------------------


def test_store_re_embeds_when_the_budget_changes(tmp_path):
    folder = tmp_path / "lib"
    path = folder / "track.wav"
    folder.mkdir()
    sf.write(path, _sweep(31.0, 22050), 22050, subtype="PCM_16")
    stores = {N: library.Store(pipeline.embedder(pipeline.resolve("musicnn-msd", patches=N))) for N in (3, 4, 0)}
    assert len({s.folder for s in stores.values()}) == 3
    for N, rows in ((3, 3), (4, 4), (0, 10)):
        rep = stores[N].sync([path], root=folder, n_jobs=1, progress=False)
        assert (rep.new, rep.cached) == (1, 0), N  # never the other budget's embeddings
        assert stores[N].fragments(stores[N].entries([path])).shape == (rows, 200)
    again = library.Store(pipeline.embedder(pipeline.resolve("musicnn-msd", patches=3)))
    rep = again.sync([path], root=folder, n_jobs=1, progress=False)
    assert (rep.new, rep.cached) == (0, 1)


def test_the_default_budget_is_the_rules_choice_for_the_default_pipeline():
    """``DEFAULT_PATCHES`` is what tools/patch_budget.py's rule chooses from the recorded
    development rows, and those rows were scored with the default pipeline's own method (a
    budget chosen for an earlier default does not carry over: the rule chose 16 for the
    three-network MFCC pipeline and chooses 32 for today's single network)."""
    import importlib.util

    import pandas as pd

    from melrec_lib import paths

    spec = importlib.util.spec_from_file_location("patch_budget", paths.ROOT / "tools" / "patch_budget.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rows = pd.read_csv(paths.ROOT / "figures" / "patch-budget.csv", dtype={"N": str})
    dev = rows[(rows["library"] == "soundtracks") & (rows["split"] == "dev")]
    assert set(dev["method"]) == {pipeline.resolve().method()}
    assert set(dev["protocol"]) == {"similar", "diverse"}
    assert tool.choose(dev) == str(pipeline.DEFAULT_PATCHES)
    # the confirmation rows report the chosen budget against every patch, for the same method
    report = rows[(rows["library"] == "soundtracks-confirmation") & (rows["split"] == "report")]
    assert set(report["method"]) == {pipeline.resolve().method()}
    assert set(report["N"]) == {str(pipeline.DEFAULT_PATCHES), "all"}


def test_notebook_08s_library_data_keeps_the_budgets_patches(monkeypatch):
    """``benchmark.library_data(patches=N)`` hands every musicnn source the rows ``melrec
    recommend --patches N`` embeds (checked against positions worked out by hand), and
    every patch with ``patches=0``."""
    import pandas as pd

    from melrec_lib.nets.embeddings import Embedded
    from melrec_lib.recsys import benchmark

    track = np.array(["a"] * 10 + ["b"] * 3)
    full = np.arange(len(track), dtype=np.float32)[:, None]

    def fake_musicnn(manifest, *, model, layer):
        return Embedded(X=full + (100 if layer == "taggram" else 0), track=track, cut=f"musicnn-msd/{layer}")

    monkeypatch.setattr(benchmark, "musicnn_embedded", fake_musicnn)
    monkeypatch.setattr(benchmark, "mfcc_statistics", lambda manifest, progress: pd.DataFrame())
    manifest = pd.DataFrame({"track_id": ["a", "b"], "path": ["a.wav", "b.wav"]})
    data = benchmark.library_data(manifest, peer_names=[], patches=4)
    pen, tag = data.embeddings["musicnn-msd/penultimate"], data.embeddings["musicnn-msd/taggram"]
    # a: the centres of 4 parts of 10 patches -> 1, 3, 6, 8; b: all three of its patches
    assert pen.X[:, 0].tolist() == [1, 3, 6, 8, 10, 11, 12]
    assert tag.X[:, 0].tolist() == [101, 103, 106, 108, 110, 111, 112]
    assert pen.track.tolist() == ["a"] * 4 + ["b"] * 3
    every = benchmark.library_data(manifest, peer_names=[], patches=0)
    assert every.embeddings["musicnn-msd/penultimate"].X[:, 0].tolist() == list(range(13))
    with pytest.raises(ParameterError, match="patch budget"):
        benchmark.library_data(manifest, peer_names=[], patches=-2)


def test_notebook_08_scores_the_default_at_the_default_budget():
    """Notebook 08's recorded development numbers for the default are the patch-budget run's
    rows at ``DEFAULT_PATCHES`` (same users, same scoring, the same patches): the notebook
    measures what ``melrec recommend`` embeds, not every patch."""
    import json

    import pandas as pd

    from melrec_lib import paths

    recorded = json.loads((paths.ROOT / "figures" / "recorded-results.json").read_text())["08-real-music"]
    assert recorded["patches"] == pipeline.DEFAULT_PATCHES
    rows = pd.read_csv(paths.ROOT / "figures" / "patch-budget.csv", dtype={"N": str})
    dev = rows[(rows["library"] == "soundtracks") & (rows["split"] == "dev")]
    method = pipeline.resolve().method()
    for protocol in ("similar", "diverse"):
        (budget_row,) = dev[(dev["protocol"] == protocol) & (dev["N"] == str(pipeline.DEFAULT_PATCHES))].itertuples()
        assert recorded["roc_auc"][f"dev/{protocol}/{method}"] == pytest.approx(budget_row.roc_auc, abs=1e-4)
