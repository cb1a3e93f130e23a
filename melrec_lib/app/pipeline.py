"""The named recommendation pipelines (one table) and the embedders that carry them out.

A pipeline is four choices (:class:`Pipeline`): the **preprocessor** that turns audio into
fragment embeddings (the genre CNN cut at a layer, or a pretrained musicnn), the genre CNN's
spectrogram **config** and **cut**, and the recommender's training **mode**
(:data:`melrec_lib.recsys.recommender.CONFIGS`).  :data:`PIPELINES` names the ones worth naming;
:func:`resolve` takes a name and single-field overrides (``melrec recommend --pipeline thesis
--cut dense1024``).  :data:`DEFAULT_PIPELINE` is what ``melrec recommend`` uses without flags.

An **embedder** (:func:`embedder`) is a loaded preprocessor in the form the library cache
(:mod:`melrec_lib.app.library`) runs: ``extract`` (a picklable function and its arguments, run per
file in worker processes or on a Dask cluster: decode, make fragments or patches; a file that gives
none raises :class:`~melrec_lib.errors.AudioError` naming why, which the cache records) and ``embed``
(the network, run in this process on batches), with a content ``key`` that names its cache.
For the genre CNN it prefers a model the user trained (``melrec train``, in
``paths.models_dir()``) and otherwise takes the one that ships in the package
(:mod:`melrec_lib.nets.shipped`); ``describe`` is the one line saying which.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from melrec_lib.errors import AudioError, ParameterError

__all__ = [
    "PREPROCESSORS",
    "Pipeline",
    "PIPELINES",
    "DEFAULT_PIPELINE",
    "DEFAULT_PATCHES",
    "resolve",
    "Embedder",
    "embedder",
    "mfcc_embedder",
]

#: What can turn audio into embeddings.
PREPROCESSORS = ("genre-cnn", "musicnn-msd", "musicnn-mtt")
_MUSICNN_MODELS = {"musicnn-msd": "MSD_musicnn", "musicnn-mtt": "MTT_musicnn"}

#: musicnn's patch budget of every pipeline unless given (``melrec recommend --patches``; 0: every
#: patch): the smallest of 4, 8, 16, 32 within 0.005 mean ROC-AUC of every patch in both protocols
#: on the development library's development users, for the default pipeline's method
#: (``tools/patch_budget.py``, ``figures/patch-budget.csv``; docs/results.md, "A patch budget per
#: track").  A test applies the rule to the recorded rows.
DEFAULT_PATCHES = 32


@dataclass(frozen=True)
class Pipeline:
    """One way from audio to a ranking.

    Attributes
    ----------
    preprocessor : {"genre-cnn", "musicnn-msd", "musicnn-mtt"}
    config : {"thesis", "corrected"}
        The genre CNN's spectrogram input (ignored by musicnn, which has its own).
    cut : {"pool1", "pool2", "dense1024", "dense128"}
        Where the genre CNN is cut (ignored by musicnn: its 200 penultimate features).
    mode : str
        The per-user recommender's training (a key of :data:`melrec_lib.recsys.recommender.CONFIGS`),
        or a scorer that trains nothing (:data:`melrec_lib.recsys.scoring.TRAINING_FREE`:
        ``"centroid"``, ``"knn"``, on the standardised track means).
    mfcc : bool
        Append each track's MFCC statistics (:mod:`melrec_lib.dsp.mfcc`) to every fragment embedding
        of it, both standardised over the library (notebook 08's ``<source>+mfcc``).
    networks : int > 0
        Average the track scores of this many recommender networks of different seeds
        (:func:`melrec_lib.recsys.recommender.ensemble_seeds`; notebook 08's ``-avg<n>``); 1 for
        a training-free mode.
    fusion : bool
        Rank-average the per-user network's track scores with the centroid's on the same
        features (:func:`melrec_lib.recsys.scoring.rank_average`; notebook 08's
        ``fusion-<mode>@<source>``): the centroid is strongest on one coherent style, the network
        on several.  Needs a training ``mode``.
    patches : int >= 0 or "all"
        musicnn's patch budget (:mod:`melrec_lib.nets.budget`): at most this many 3 s patches per
        track, spread evenly, only their samples decoded; ``0`` or ``"all"`` (stored as 0) is
        every patch.  Ignored by the genre CNN (its 8 s fragments).  Default :data:`DEFAULT_PATCHES`.
    """

    preprocessor: str = "genre-cnn"
    config: str = "corrected"
    cut: str = "dense1024"
    mode: str = "corrected"
    mfcc: bool = False
    networks: int = 1
    patches: int = DEFAULT_PATCHES
    fusion: bool = False

    def __post_init__(self) -> None:
        from melrec_lib.dsp import fragments
        from melrec_lib.errors import check_int
        from melrec_lib.nets import architecture, budget
        from melrec_lib.recsys import recommender, scoring

        object.__setattr__(self, "patches", budget.check_budget(self.patches))  # "all" -> 0

        for flag in ("mfcc", "fusion"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise ParameterError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        check_int(self.networks, "networks", minimum=1)

        if self.preprocessor not in PREPROCESSORS:
            raise ParameterError(f"preprocessor must be one of {PREPROCESSORS}, got {self.preprocessor!r}")
        if self.config not in fragments.CONFIGS:
            raise ParameterError(f"config must be one of {tuple(fragments.CONFIGS)}, got {self.config!r}")
        if self.cut not in architecture.CUTS:
            raise ParameterError(f"cut must be one of {architecture.CUTS}, got {self.cut!r}")
        if self.mode not in recommender.CONFIGS and self.mode not in scoring.TRAINING_FREE:
            raise ParameterError(
                f"mode must be one of {tuple(recommender.CONFIGS) + scoring.TRAINING_FREE}, got {self.mode!r}"
            )
        if self.training_free and self.networks != 1:
            raise ParameterError(f"mode {self.mode!r} trains no networks: networks must be 1, got {self.networks}")
        if self.training_free and self.fusion:
            raise ParameterError(
                f"mode {self.mode!r} trains no network to fuse with the centroid: fusion needs a recommender mode"
            )

    @property
    def training_free(self) -> bool:
        """Whether ``mode`` scores without training (:data:`melrec_lib.recsys.scoring.TRAINING_FREE`)."""
        from melrec_lib.recsys import scoring

        return self.mode in scoring.TRAINING_FREE

    def describe(self) -> str:
        """``genre CNN (corrected input, cut dense1024), corrected recommender`` and the like."""
        if self.preprocessor == "genre-cnn":
            pre = f"genre CNN ({self.config} input, cut {self.cut})"
        else:
            pre = f"musicnn {_MUSICNN_MODELS[self.preprocessor].split('_')[0]} (penultimate layer)"
            if self.patches:
                pre = pre[:-1] + f", at most {self.patches} patches per track)"
        extras = " + MFCC statistics" if self.mfcc else ""
        if self.training_free:
            from melrec_lib.recsys.scoring import KNN_K

            how = {
                "centroid": "cosine to the playlist's centroid",
                "knn": f"mean cosine to the playlist's {KNN_K} nearest tracks",
            }[self.mode]
            return f"{pre}{extras}, {self.mode} mode (track means, {how}; no training)"
        nets = f", mean of {self.networks} networks" if self.networks > 1 else ""
        fused = ", rank-averaged with the centroid" if self.fusion else ""
        return f"{pre}{extras}, {self.mode} recommender{nets}{fused}"

    def source(self) -> str:
        """The feature source of notebooks 07/08 this pipeline embeds with (``musicnn-msd/penultimate+mfcc``)."""
        base = f"{self.config}/{self.cut}" if self.preprocessor == "genre-cnn" else f"{self.preprocessor}/penultimate"
        return base + ("+mfcc" if self.mfcc else "")

    def method(self) -> str:
        """This pipeline as a method of the notebooks' evaluation (:func:`melrec_lib.recsys.benchmark.parse_method`).

        ``recommender-<mode>[-avg<networks>]@<source>`` (``fusion-...`` with ``fusion``), or
        ``<mode>@<source>`` for a training-free mode (``centroid@musicnn-msd/penultimate+mfcc``):
        notebook 08 scores exactly this name, so its numbers are those of the pipeline
        ``melrec recommend`` runs.

        >>> resolve("best").method()
        'recommender-corrected-small-avg3@musicnn-msd/penultimate+mfcc'
        >>> resolve("thesis").method()
        'recommender-thesis@thesis/pool2'
        """
        if self.training_free:
            return f"{self.mode}@{self.source()}"
        avg = f"-avg{self.networks}" if self.networks > 1 else ""
        kind = "fusion" if self.fusion else "recommender"
        return f"{kind}-{self.mode}{avg}@{self.source()}"


#: The named pipelines: the thesis' own, and the corrected ones.  ``thesis`` reproduces the
#: thesis exactly (its input, its cut, its recommender training).
PIPELINES: dict[str, Pipeline] = {
    "thesis": Pipeline(preprocessor="genre-cnn", config="thesis", cut="pool2", mode="thesis"),
    "corrected": Pipeline(preprocessor="genre-cnn", config="corrected", cut="dense1024", mode="corrected"),
    "musicnn-msd": Pipeline(preprocessor="musicnn-msd", mode="corrected"),
    "musicnn-mtt": Pipeline(preprocessor="musicnn-mtt", mode="corrected"),
    # the previous default, the best of an earlier contest of about 30 candidates on one
    # library: musicnn's penultimate features with MFCC statistics appended, the regularised
    # per-user network (one hidden layer), track scores averaged over three seeds
    "best": Pipeline(preprocessor="musicnn-msd", mode="corrected-small", mfcc=True, networks=3),
    # the verdict of notebook 08's selection rule (recsys.selection.select) on the development
    # library's development users: musicnn's penultimate features and one regularised per-user
    # network; no candidate after it won by more than its paired interval
    "musicnn-msd-small": Pipeline(preprocessor="musicnn-msd", mode="corrected-small"),
}

#: The pipeline ``melrec recommend`` uses without ``--pipeline``: the verdict of notebook 08's
#: selection rule (its recorded ``chosen.best`` is this pipeline's :meth:`Pipeline.method`, a
#: test checks it); it needs no training of the genre CNN.
DEFAULT_PIPELINE = "musicnn-msd-small"


def resolve(name: str | None = None, **overrides: Any) -> Pipeline:
    """The pipeline ``name`` (default :data:`DEFAULT_PIPELINE`) with single fields overridden.

    ``None`` values in ``overrides`` are ignored, so command-line flags can be passed as they are.
    A ``config`` or ``cut`` override on a musicnn pipeline selects the genre CNN (without an
    explicit ``preprocessor``), and ``mode="thesis"`` (the thesis' recommender) turns the MFCC
    fusion and the centroid fusion off and uses one network unless ``mfcc``/``fusion``/``networks``
    are given: ``--config thesis --cut pool2 --mode thesis`` is the thesis.  A training-free mode
    (``"centroid"``, ``"knn"``) keeps the pipeline's features, sets ``networks`` to 1 and
    ``fusion`` off.

    >>> resolve("thesis", cut="dense1024").cut
    'dense1024'
    """
    name = DEFAULT_PIPELINE if name is None else name
    if name not in PIPELINES:
        raise ParameterError(f"unknown pipeline {name!r}; choose one of {tuple(PIPELINES)}")
    fields = {f.name for f in dataclasses.fields(Pipeline)}
    unknown = set(overrides) - fields
    if unknown:
        raise ParameterError(f"unknown pipeline field(s) {sorted(unknown)}; fields are {sorted(fields)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    base = PIPELINES[name]
    if base.preprocessor != "genre-cnn" and "preprocessor" not in given and {"config", "cut"} & set(given):
        given["preprocessor"] = "genre-cnn"  # a genre-CNN input or cut asks for the genre CNN
    if given.get("mode") == "thesis":  # the thesis' recommender: its own features, one network
        given.setdefault("mfcc", False)
        given.setdefault("networks", 1)
        given.setdefault("fusion", False)
    from melrec_lib.recsys.scoring import TRAINING_FREE  # light: numpy only

    if given.get("mode") in TRAINING_FREE:  # centroid, knn: the pipeline's features, no network
        given.setdefault("networks", 1)
        given.setdefault("fusion", False)
    return dataclasses.replace(base, **given)


# --------------------------------------------------------------------------------------------
# embedders
# --------------------------------------------------------------------------------------------
@dataclass
class Embedder:
    """A loaded preprocessor in the form :mod:`melrec_lib.app.library` runs.

    Attributes
    ----------
    key : str
        Content key of everything that decides an embedding (weights, cut, input config).
    name : str
        A short human name (``genre CNN (corrected input, cut dense1024)``).
    describe : str
        One line saying which network is used and where it comes from.
    extract : callable
        ``extract(path, *extract_args) -> array``: picklable, per file (decoding, fragments or
        patches); a file that gives none raises :class:`~melrec_lib.errors.AudioError` with the
        reason (the library cache records it as the file's status).
    extract_args : tuple
    embed : callable
        ``embed(batch) -> (embeddings [shape=(n, dim)], tags [shape=(n, n_tags)] or None)``.
    dim : int
    tag_names : tuple of str
        Names of the ``tags`` columns (empty when the network gives none).
    worker_embed : callable or None
        A picklable ``embed`` that loads the network in the process it runs in (once per
        process): on a Dask cluster the library cache runs it on the workers, beside
        ``extract``, so only embeddings travel back to the client.  Same output as ``embed``.
    """

    key: str
    name: str
    describe: str
    extract: Callable[..., Any]
    extract_args: tuple
    embed: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
    dim: int
    tag_names: tuple[str, ...] = ()
    worker_embed: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]] | None = None


def _genre_fragments(path: str, config: Any) -> np.ndarray:
    """Consecutive 8 s fragments of one file (``fragment_cache.track_fragments``).

    Raises
    ------
    AudioError
        The file gives none (unreadable, too short, silent): the reason.
    """
    from melrec_lib.dsp import fragment_cache

    X, reason = fragment_cache.track_fragments(path, config)
    if X is None:
        raise AudioError(reason)
    return X


def _musicnn_patches(path: str, patches: int = 0) -> np.ndarray:
    """musicnn's 3 s log-mel patches of one file, at most ``patches`` of them (0: all), spread
    evenly and only their samples decoded (:func:`melrec_lib.nets.budget.track_patches`).

    Raises
    ------
    AudioError
        A missing or unreadable file, or one shorter than one patch: the reason.
    """
    from melrec_lib.nets import budget

    return budget.track_patches(path, patches)


def _keras_embed(pre: Any, batch_size: int = 256) -> Callable[[np.ndarray], tuple[np.ndarray, None]]:
    """Batches through a Keras preprocessor, padded to one shape (one compilation)."""

    def embed(X: np.ndarray) -> tuple[np.ndarray, None]:
        X = np.asarray(X, np.float32)
        out = np.empty((len(X), int(pre.output_shape[-1])), np.float32)
        for s in range(0, len(X), batch_size):
            batch = X[s : s + batch_size]
            n = len(batch)
            if n < batch_size:
                batch = np.concatenate([batch, np.zeros((batch_size - n, *batch.shape[1:]), batch.dtype)])
            out[s : s + n] = np.asarray(pre.predict_on_batch(batch))[:n]
        return out, None

    return embed


@functools.lru_cache(maxsize=4)
def _worker_preprocessor(kind: str, where: str, config: str, cut: str):
    """The genre CNN's preprocessor, loaded once per process: a saved model, or the shipped weights."""
    from melrec_lib.nets import architecture, shipped

    if kind == "trained":
        return architecture.preprocessor(architecture.load(where), cut)
    return shipped.load(config=config, cut=cut, check_recipe=False).model


#: One network call at a time per process: a Dask worker runs tasks on several threads, and a
#: Keras/JAX model called from two threads at once fails ("Buffer has been deleted or donated").
_NETWORK_LOCK = threading.Lock()


def _genre_worker_embed(X: np.ndarray, kind: str, where: str, config: str, cut: str) -> tuple[np.ndarray, None]:
    """:func:`_keras_embed` of :func:`_worker_preprocessor` (picklable, thread-safe: runs on Dask workers)."""
    with _NETWORK_LOCK:
        return _keras_embed(_worker_preprocessor(kind, where, config, cut))(X)


def _genre_cnn(pipe: Pipeline, corpus: str) -> Embedder:
    from melrec_lib.cache import digest
    from melrec_lib.dsp import fragment_cache
    from melrec_lib.nets import architecture, embeddings, saved, shipped

    name = f"genre CNN ({pipe.config} input, cut {pipe.cut})"
    path = saved.model_path(corpus=corpus, config=pipe.config)
    found = None if path.is_file() else shipped.find(config=pipe.config, cut=pipe.cut)
    if found is None:
        model = saved.load(corpus=corpus, config=pipe.config)  # ModelNotFoundError names `melrec train`
        pre = embeddings.get_preprocessor(model, pipe.cut)
        key, config = f"{model.key()}-{pipe.cut}", model.config
        describe = f"using your genre CNN trained on {corpus} ({path}), {pipe.config} input, cut {pipe.cut}"
        worker = functools.partial(
            _genre_worker_embed, kind="trained", where=str(path), config=pipe.config, cut=pipe.cut
        )
    else:
        loaded = shipped.load(config=pipe.config, cut=pipe.cut)
        pre, key, config = loaded.model, loaded.key(), loaded.config
        describe = (
            f"using the genre CNN shipped with melrec ({pipe.config} input, cut {pipe.cut}, trained on "
            f"{loaded.meta.get('corpus') or 'melrec-synth'}; `melrec train` makes your own)"
        )
        worker = functools.partial(_genre_worker_embed, kind="shipped", where="", config=pipe.config, cut=pipe.cut)
    return Embedder(
        # the fragments' cache version too: a change to how fragments are computed re-embeds
        key=digest(f"genre-cnn/{key}/{config.key()}/fragments-{fragment_cache.CACHE_VERSION}", 16),
        name=name,
        describe=describe,
        extract=_genre_fragments,
        extract_args=(config,),
        embed=_keras_embed(pre),
        dim=architecture.CUT_SIZES[pipe.cut],
        worker_embed=worker,
    )


def _musicnn_embed(X: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    """musicnn's penultimate features and tag probabilities of a batch of patches."""
    from melrec_lib.nets import musicnn

    with _NETWORK_LOCK:
        out = musicnn.predict(np.asarray(X, np.float32), model=model)
    return np.asarray(out["penultimate"], np.float32), np.asarray(out["taggram"], np.float32)


def _musicnn(pipe: Pipeline) -> Embedder:
    from melrec_lib.cache import digest
    from melrec_lib.nets import musicnn

    model = _MUSICNN_MODELS[pipe.preprocessor]
    prefix = musicnn.checkpoint_prefix(model)  # ModelNotFoundError when the wheel is missing
    stamp = [[p.name, p.stat().st_size] for p in sorted(Path(prefix).iterdir()) if p.is_file()]

    embed = functools.partial(_musicnn_embed, model=model)  # picklable: the same on Dask workers
    # the budget is in the key (every patch keeps the key it always had): another budget re-embeds
    budget = f"/patches-{pipe.patches}" if pipe.patches else ""
    per_track = f", at most {pipe.patches} patches per track" if pipe.patches else ""
    return Embedder(
        key=digest(f"musicnn/{model}/{musicnn.CACHE_VERSION}/{stamp}{budget}", 16),
        name=f"musicnn {model}",
        describe=f"using the pretrained musicnn {model} (penultimate features; tags from its taggram){per_track}",
        extract=_musicnn_patches,
        extract_args=(pipe.patches,),
        embed=embed,
        dim=200,
        tag_names=tuple(musicnn.TAGS[model]),
        worker_embed=embed,
    )


def embedder(pipe: Pipeline, *, corpus: str = "melrec-synth") -> Embedder:
    """The loaded preprocessor of ``pipe``.

    Parameters
    ----------
    pipe : Pipeline
    corpus : str
        For the genre CNN: the collection a user-trained model was trained on
        (``melrec train --corpus``); when no such model is saved, the shipped one is used.

    Raises
    ------
    ModelNotFoundError
        No user-trained and no shipped genre CNN for ``pipe.config`` reaching ``pipe.cut``
        (naming ``melrec train``), or musicnn's checkpoint files are not installed.
    """
    if pipe.preprocessor == "genre-cnn":
        return _genre_cnn(pipe, corpus)
    return _musicnn(pipe)


def _mfcc_row(path: str) -> np.ndarray:
    """One file's MFCC statistics as a one-row "fragment" (:func:`melrec_lib.dsp.mfcc.statistics`).

    Raises
    ------
    AudioError
        The file cannot be decoded (the reason).
    """
    from melrec_lib.dsp import mfcc

    # no warnings filter here: it is process-wide, and this runs in a Dask worker's threads
    return mfcc.statistics(path)[None, :]


def _identity(X: np.ndarray) -> tuple[np.ndarray, None]:
    return np.asarray(X, np.float32), None


def mfcc_embedder() -> Embedder:
    """The MFCC statistics of a file (:mod:`melrec_lib.dsp.mfcc`) as an embedder of one row per file.

    The library cache stores them like embeddings; :meth:`melrec_lib.app.library.Store.means` gives
    them back in float32, exactly as computed (the float16 fragment copy is not used).  The key
    names librosa's version, whose loader and MFCC they are.
    """
    from importlib.metadata import version

    from melrec_lib.cache import digest
    from melrec_lib.dsp import mfcc

    key = digest(f"mfcc/{mfcc.N_MFCC}/{mfcc.SAMPLE_RATE}/librosa-{version('librosa')}/soxr-{version('soxr')}", 16)
    return Embedder(
        key=key,
        name="MFCC statistics",
        describe=f"MFCC-{mfcc.N_MFCC} mean/std per track (librosa)",
        extract=_mfcc_row,
        extract_args=(),
        embed=_identity,
        dim=2 * mfcc.N_MFCC,
    )
