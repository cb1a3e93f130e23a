"""The methods that rank a user's candidates, and the evaluation of all of them on many users.

Every method returns a score per candidate track (:func:`score_user`): random; cosine
similarity to the playlist centroid on MFCC statistics (librosa) or on preprocessor embeddings
(:func:`~melrec_lib.recsys.scoring.centroid_scores`), or to the playlist's nearest tracks (:func:`~melrec_lib.recsys.scoring.knn_scores`; both are
:mod:`melrec_lib.recsys.scoring`'s, the code of ``melrec recommend --mode centroid/knn``);
logistic regression on embeddings (:func:`logreg_scores`, sklearn);
the thesis-faithful and the corrected per-user recommender (:func:`recommender_scores`), also
on every other cut point.  :func:`evaluate_methods` runs them on simulated users
(:mod:`melrec_lib.recsys.users`) and :func:`summarize` gives means and bootstrap intervals.

The same methods run on any *feature source* of :attr:`EvalData.embeddings` (any name:
``"thesis/pool2"``, ``"corrected/dense1024"``, ``"musicnn-msd/taggram"``, ...) under the names
``<method>@<source>`` (:func:`parse_method`): ``centroid@<source>``, ``knn@<source>``,
``logreg@<source>``, ``recommender-<config>@<source>`` for every :data:`recommender.CONFIGS` entry, optionally
``-c<percent>`` (trained on soft labels pulled that far towards the playlist centroid's
ranking: :func:`~melrec_lib.recsys.recommender.centroid_labels`), ``-e<epochs>`` (its own number
of epochs) and ``-avg<n>`` (the mean track score of ``n`` networks of different seeds), and
``fusion-<config>...@<source>``: the rank average (:func:`~melrec_lib.recsys.scoring.rank_average`)
of ``centroid@<source>`` and ``recommender-<config>...@<source>``, what ``melrec recommend`` runs
for a pipeline with ``fusion``.  A centroid source may be a fusion ``a+b`` of sources (``mfcc``
included): each standardised track table divided by the square root of its width, concatenated,
so every source weighs the same in the cosine.  For logreg and the recommenders, ``z:<source>``
is the source's fragments standardised over all fragments, and ``a+b`` (``z:a+b``) appends to
every standardised fragment of ``a`` the standardised track features of ``b`` (its track means,
or ``mfcc``): a fragment-level fusion.  ``mean:<source>`` gives the recommenders one row per
track, the mean of its fragments, instead of one per fragment.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from melrec_lib.cache import text_seed
from melrec_lib.dsp import mfcc
from melrec_lib.errors import DatasetError, ParameterError, check_int
from melrec_lib.nets import architecture
from melrec_lib.nets.embeddings import Embedded
from melrec_lib.recsys import peers, recommender, scoring
from melrec_lib.recsys.metrics import METRICS, confidence_interval, ranking_metrics
from melrec_lib.recsys.scoring import centroid_scores  # melrec recommend's own scorers
from melrec_lib.recsys.users import UserSplit

__all__ = [
    "BASE_METHODS",
    "EvalData",
    "mfcc_statistics",
    "logreg_scores",
    "recommender_scores",
    "method_names",
    "score_user",
    "evaluate_methods",
    "needs_fresh_workers",
    "summarize",
    "SOURCE_METHODS",
    "parse_method",
    "fusion_parts",
    "source_method_names",
    "musicnn_embedded",
    "library_data",
    "by_group",
    "group_users",
    "workers_kind",
]

#: Every method :func:`score_user` knows; ``recommender-corrected-<cut>`` exist for each cut.
BASE_METHODS = (
    "random",
    "mfcc-centroid",
    "embedding-centroid",
    "logreg",
    "recommender-thesis",
    "recommender-corrected",
)

#: The methods that run on any feature source, as ``<method>@<source>`` (recommenders:
#: ``recommender-<config>`` for every entry of ``recommender.CONFIGS``).
SOURCE_METHODS = ("centroid", "knn", "logreg", "recommender", "fusion")

_RECOMMENDER = re.compile(
    r"^(?P<kind>recommender|fusion)-(?P<config>.+?)(?:-c(?P<centroid>[0-9]+))?"
    r"(?:-e(?P<epochs>[0-9]+))?(?:-avg(?P<avg>[0-9]+))?$"
)


def _mfcc_row(path: str, n_mfcc: int, sr: int) -> np.ndarray:
    return mfcc.statistics(path, n_mfcc=n_mfcc, sr=sr)


def mfcc_statistics(
    manifest: pd.DataFrame,
    *,
    n_mfcc: int = 20,
    sr: int = 22050,
    n_jobs: int | None = None,
    progress: bool = True,
    cache: bool = True,
) -> pd.DataFrame:
    """Mean and standard deviation over time of each MFCC of every track (librosa), cached.

    Parameters
    ----------
    manifest : pd.DataFrame
        ``track_id`` and ``path``; its collection name names the cache folder:
        ``processed_dir()/<name>/mfcc-<key>.csv``, keyed by ``n_mfcc``, ``sr`` and every file's
        path, size and modification time.
    n_mfcc : int > 0
    sr : int > 0
        Audio is loaded with ``librosa.load(path, sr=sr, mono=True)``.
    n_jobs : int or None
        Worker processes over files (``None``: all cores).

    Returns
    -------
    pd.DataFrame [shape=(n_tracks, 2 * n_mfcc)]
        Indexed by track id; columns ``mfcc0_mean .. mfcc{n-1}_mean, mfcc0_std, ...``.

    Raises
    ------
    AudioError
        naming a file that cannot be read.
    """
    import os

    from melrec_lib import paths
    from melrec_lib.cache import atomic_file, file_stamp, stable_hash
    from melrec_lib.errors import AudioError
    from melrec_lib.io.manifest import check as check_manifest
    from melrec_lib.io.manifest import corpus_name
    from melrec_lib.parallel import parallel_map

    m = check_manifest(manifest, need=("track_id", "path"))
    check_int(n_mfcc, "n_mfcc", minimum=1)
    for p in m["path"]:
        if not os.path.isfile(p):
            raise AudioError(f"{p}: cannot read (no such file)")
    key = stable_hash([n_mfcc, sr, list(m["track_id"]), [[str(p), *file_stamp(p)] for p in m["path"]]])
    out_path = paths.processed_dir() / corpus_name(m) / f"mfcc-{key}.csv"
    if cache and out_path.is_file():
        return pd.read_csv(out_path, index_col="track_id", dtype={"track_id": str})
    cols = mfcc.column_names(n_mfcc)
    rows = parallel_map(
        _mfcc_row,
        [(str(p), n_mfcc, sr) for p in m["path"]],
        star=True,
        n_jobs=n_jobs,
        desc="MFCC statistics",
        unit="track",
        progress=progress,
    )
    df = pd.DataFrame(np.asarray(rows, dtype=np.float64), index=pd.Index(m["track_id"], name="track_id"), columns=cols)
    if cache:
        with atomic_file(out_path) as tmp:
            df.to_csv(tmp)
    return df


@dataclass
class EvalData:
    """Everything the methods read: fragment embeddings per cut and MFCC statistics per track,
    and the peers' tables (:func:`melrec_lib.recsys.peers.peer_features`) for their methods."""

    embeddings: dict[str, Embedded]
    mfcc: pd.DataFrame | None = None
    peers: dict[str, pd.DataFrame] | None = None

    def track_features(self, kind: str) -> pd.DataFrame:
        """Per-track feature table, standardised over all tracks: ``"mfcc"``, a source name, or
        a fusion ``"a+b"`` (each table divided by the square root of its width, concatenated)."""
        key = f"_std_{kind}"
        if key not in self.__dict__ and "+" in kind:  # melrec recommend's own fusion (scoring)
            self.__dict__[key] = scoring.fused_tracks([(p, self.track_features(p)) for p in kind.split("+")])
        if key not in self.__dict__:
            if kind != "mfcc" and kind not in self.embeddings:
                raise ParameterError(f"no feature source {kind!r} (have 'mfcc' and {sorted(self.embeddings)})")
            if kind == "mfcc":
                if self.mfcc is None:
                    raise ParameterError("no MFCC statistics loaded (EvalData.mfcc is None)")
                T = self.mfcc
            else:
                T = self.embeddings[kind].track_means()
            self.__dict__[key] = scoring.standardised_tracks(T)
        return self.__dict__[key]


def logreg_scores(
    emb: Embedded,
    playlist: Sequence[str],
    pool: Sequence[str],
    candidates: Sequence[str],
    *,
    C: float = 0.1,
    seed: int = 0,
) -> pd.Series:
    """Logistic regression (sklearn, standardised inputs, balanced classes) on fragment embeddings.

    Positives: the playlist's fragments; negatives: the pool's.  A track's score is the mean
    predicted probability of its fragments.  The solver runs on one BLAS thread, so the scores
    are the same in this process and in a worker of :func:`evaluate_methods` (a multi-threaded
    BLAS sums in another order and lbfgs stops elsewhere).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    P, _ = emb.take(playlist)
    N, _ = emb.take(pool)
    X = np.concatenate([P, N])
    y = np.r_[np.ones(len(P)), np.zeros(len(N))]
    clf = make_pipeline(
        StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed)
    )
    T, tracks = emb.take(candidates)
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")  # convergence chatter on tiny smoke data
        clf.fit(X, y)
        proba = clf.predict_proba(T)[:, 1]
    return recommender.track_scores(proba, tracks)


def recommender_scores(
    emb: Embedded,
    playlist: Sequence[str],
    pool: Sequence[str],
    candidates: Sequence[str],
    *,
    mode: "str | recommender.RecommenderConfig",
    epochs: int,
    seed: int = 0,
    labels: np.ndarray | None = None,
) -> pd.Series:
    """The per-user recommender (thesis or corrected mode) trained on the playlist's fragments
    (``labels``: soft targets of the playlist's then the pool's rows, :func:`recommender.fit`)."""
    P, _ = emb.take(playlist)
    N, _ = emb.take(pool)
    rec = recommender.fit(P, N, epochs=epochs, mode=mode, seed=seed, labels=labels)
    T, tracks = emb.take(candidates)
    return rec.score_tracks(T, tracks)


def method_names(cuts: Sequence[str] = ()) -> list[str]:
    """:data:`BASE_METHODS` plus ``recommender-corrected-<cut>`` for each extra cut."""
    return list(BASE_METHODS) + [f"recommender-corrected-{c}" for c in cuts if c != architecture.DEFAULT_CUT]


def score_user(
    method: str, user: UserSplit, data: EvalData, *, epochs: int, seed: int = 0, memo: dict | None = None
) -> pd.Series:
    """Scores of ``user``'s candidates by ``method`` (see :func:`method_names`).

    ``memo`` (optional): a dict of this user's scores by method name, filled and read, so that a
    fusion reuses the networks its recommender already trained for the same user and seed.
    """
    if memo is not None and (method, seed) in memo:
        return memo[(method, seed)]
    scores = _score_user(method, user, data, epochs=epochs, seed=seed, memo=memo)
    if memo is not None:
        memo[(method, seed)] = scores
    return scores


def _score_user(
    method: str, user: UserSplit, data: EvalData, *, epochs: int, seed: int, memo: dict | None
) -> pd.Series:
    cand = user.candidates
    if method == "random":
        rng = np.random.default_rng([seed, text_seed(user.name, 4, algorithm="sha1", byteorder="big")])
        return pd.Series(rng.random(len(cand)), index=pd.Index(cand, name="track_id"), name="score")
    if method == "mfcc-centroid":
        return centroid_scores(data.track_features("mfcc"), user.playlist, cand)
    if method == "embedding-centroid":
        return centroid_scores(data.track_features(architecture.DEFAULT_CUT), user.playlist, cand)
    if method == "logreg":
        return logreg_scores(data.embeddings[architecture.DEFAULT_CUT], user.playlist, user.pool, cand, seed=seed)
    if method in ("recommender-thesis", "recommender-corrected"):
        return recommender_scores(
            data.embeddings[architecture.DEFAULT_CUT],
            user.playlist,
            user.pool,
            cand,
            mode=method.split("-")[1],
            epochs=epochs,
            seed=seed,
        )
    if method in peers.PEER_METHODS:  # bliss and musly: musly-mean, bliss-mean, bliss-centroid
        return peers.score(method, data.peers, user.playlist, cand)
    if "@" in method:
        return _score_source_method(method, user, data, epochs=epochs, seed=seed, memo=memo)
    if method.startswith("recommender-corrected-"):
        cut = method[len("recommender-corrected-") :]
        if cut not in data.embeddings:
            raise ParameterError(f"method {method!r}: no embeddings for cut {cut!r} (have {sorted(data.embeddings)})")
        return recommender_scores(
            data.embeddings[cut], user.playlist, user.pool, cand, mode="corrected", epochs=epochs, seed=seed
        )
    raise ParameterError(f"unknown method {method!r}; choose from {method_names(tuple(data.embeddings))}")


def parse_method(method: str) -> dict[str, Any]:
    """The parts of a ``<method>@<source>`` name.

    Returns
    -------
    dict
        ``kind`` (``"centroid"``, ``"knn"``, ``"logreg"``, ``"recommender"`` or ``"fusion"``),
        ``source``, and for a recommender or a fusion ``config`` (a :data:`recommender.CONFIGS` name), ``epochs`` (int or None:
        the evaluation's), ``avg`` (networks averaged, 1 by default) and ``centroid`` (the
        weight of the centroid's ranks in the labels, 0 by default).

    Raises
    ------
    ParameterError
        if the name has no ``@``, an empty source, an unknown method or recommender config.

    Examples
    --------
    >>> parse_method("recommender-corrected-e40-avg3@corrected/dense1024")["epochs"]
    40
    >>> parse_method("fusion-corrected-small@musicnn-msd/penultimate")["kind"]
    'fusion'
    >>> parse_method("recommender-corrected-small-c50@musicnn-msd/penultimate")["centroid"]
    0.5
    """
    if not isinstance(method, str) or method.count("@") != 1:
        raise ParameterError(f"method {method!r}: expected '<method>@<source>'")
    base, source = method.split("@")
    if not source or any(not p for p in source.split("+")):
        raise ParameterError(f"method {method!r}: empty feature source")
    if base in ("centroid", "knn", "logreg"):
        return {"kind": base, "source": source}
    hit = _RECOMMENDER.match(base)
    if hit is None:
        raise ParameterError(
            f"method {method!r}: unknown method {base!r}; choose centroid, knn, logreg or "
            f"recommender-<config> or fusion-<config> with config in {tuple(recommender.CONFIGS)}"
        )
    config = hit["config"]
    if config not in recommender.CONFIGS:
        raise ParameterError(
            f"method {method!r}: unknown recommender config {config!r}; choose from {tuple(recommender.CONFIGS)}"
        )
    epochs = int(hit["epochs"]) if hit["epochs"] else None
    avg = int(hit["avg"]) if hit["avg"] else 1
    if (epochs is not None and epochs < 1) or avg < 1:
        raise ParameterError(f"method {method!r}: epochs and avg must be >= 1")
    centroid = int(hit["centroid"]) if hit["centroid"] else 0
    if centroid > 100:
        raise ParameterError(f"method {method!r}: the centroid weight -c<percent> must be 0 to 100")
    if centroid and recommender.CONFIGS[config].loss != "bce":
        raise ParameterError(f"method {method!r}: soft labels (-c) need a binary cross-entropy config")
    return {
        "kind": hit["kind"],
        "source": source,
        "config": config,
        "epochs": epochs,
        "avg": avg,
        "centroid": centroid / 100,
    }


def fusion_parts(method: str) -> tuple[str, str]:
    """The two methods a ``fusion-...@<source>`` rank-averages: the centroid and the network.

    >>> fusion_parts("fusion-corrected-small-avg3@musicnn-msd/penultimate+mfcc")
    ('centroid@musicnn-msd/penultimate+mfcc', 'recommender-corrected-small-avg3@musicnn-msd/penultimate+mfcc')
    """
    spec = parse_method(method)
    if spec["kind"] != "fusion":
        raise ParameterError(f"method {method!r} is not a fusion-<config>@<source>")
    return f"centroid@{spec['source']}", "recommender" + method[len("fusion") :]


def source_method_names(
    sources: Sequence[str],
    *,
    kinds: Sequence[str] = ("centroid", "logreg", "recommender-thesis", "recommender-corrected"),
) -> list[str]:
    """``<kind>@<source>`` for every kind and source (sources outer, in the given order)."""
    names = [f"{k}@{s}" for s in sources for k in kinds]
    for n in names:
        parse_method(n)
    return names


def _source_embedding(data: EvalData, source: str, method: str) -> Embedded:
    """The fragment rows a logreg/recommender source names (built once per EvalData).

    ``z:<source>`` and ``<source>+<b>...`` are :class:`melrec_lib.recsys.scoring.FragmentFusion`
    over the whole collection's fragments, followed by ``b``'s standardised track features
    (:meth:`EvalData.track_features`): the fusion ``melrec recommend`` runs.
    """
    from melrec_lib.recsys.scoring import FragmentFusion

    key = f"_frag_{source}"
    if key in data.__dict__:
        return data.__dict__[key]
    if source.startswith("mean:"):  # one row per track: the mean of its fragments
        means = _source_embedding(data, source[len("mean:") :], method).track_means()
        data.__dict__[key] = Embedded(
            X=means.to_numpy(np.float32), track=means.index.to_numpy().astype(str), cut=source
        )
        return data.__dict__[key]
    parts = source.split("+")
    first = parts[0][2:] if parts[0].startswith("z:") else parts[0]
    if first not in data.embeddings:
        raise ParameterError(f"method {method!r}: no fragment embeddings {first!r} (have {sorted(data.embeddings)})")
    emb = data.embeddings[first]
    if len(parts) == 1 and not parts[0].startswith("z:"):
        return emb
    tracks = []
    for other in parts[1:]:
        T = data.track_features(other)  # standardised over tracks
        missing = sorted(set(emb.track) - set(T.index))
        if missing:
            raise DatasetError(f"method {method!r}: no {other!r} features for track(s) {missing[:5]}")
        tracks.append(T.loc[emb.track].to_numpy(np.float64))
    fusion = FragmentFusion.over(lambda: [emb.X])  # the collection in memory: one block
    fused = Embedded(X=fusion(emb.X, *tracks), track=emb.track, cut=source)
    data.__dict__[key] = fused
    return fused


def _score_source_method(
    method: str, user: UserSplit, data: EvalData, *, epochs: int, seed: int, memo: dict | None = None
) -> pd.Series:
    spec = parse_method(method)
    cand = user.candidates
    if spec["kind"] == "fusion":  # melrec recommend's fusion: scoring.rank_average of its two parts
        parts = [  # each part's scores in the candidates' order (a network's come in its own)
            score_user(m, user, data, epochs=epochs, seed=seed, memo=memo).reindex(cand) for m in fusion_parts(method)
        ]
        return pd.Series(scoring.rank_average(*parts), index=pd.Index(cand, name="track_id"), name="score")
    if spec["kind"] in scoring.SCORERS:  # centroid, knn: what melrec recommend --mode runs
        return scoring.SCORERS[spec["kind"]](data.track_features(spec["source"]), user.playlist, cand)
    emb = _source_embedding(data, spec["source"], method)
    if spec["kind"] == "logreg":
        return logreg_scores(emb, user.playlist, user.pool, cand, seed=seed)
    config = recommender.CONFIGS[spec["config"]]
    n_epochs = spec["epochs"] or epochs
    labels = None
    if spec["centroid"]:  # soft labels: the centroid's ranks in the same features, by track
        features = data.track_features(_centroid_source(spec["source"]))
        tracks = list(dict.fromkeys(list(user.playlist) + list(user.pool)))
        rank = pd.Series(scoring.rank_average(centroid_scores(features, user.playlist, tracks)), index=tracks)
        positive, pool = emb.rows(user.playlist), emb.rows(user.pool)  # the rows recommender_scores takes
        owner = np.concatenate([emb.track[positive], emb.track[pool]])
        is_positive = np.arange(len(owner)) < len(positive)
        labels = recommender.centroid_labels(is_positive, rank.loc[owner].to_numpy(), spec["centroid"])
    runs = [
        recommender_scores(emb, user.playlist, user.pool, cand, mode=config, epochs=n_epochs, seed=s, labels=labels)
        for s in recommender.ensemble_seeds(seed, spec["avg"])
    ]
    return runs[0] if len(runs) == 1 else (sum(runs) / len(runs)).rename("score")


def _centroid_source(source: str) -> str:
    """The track features whose centroid a ``-c`` recommender's labels follow: ``source``
    without its ``mean:`` and ``z:`` prefixes (``a+b`` stays a fusion).

    >>> _centroid_source("mean:z:musicnn-msd/penultimate+mfcc")
    'musicnn-msd/penultimate+mfcc'
    """
    for prefix in ("mean:", "z:"):
        source = source[len(prefix) :] if source.startswith(prefix) else source
    return source


def musicnn_embedded(
    manifest: pd.DataFrame,
    *,
    model: str = "MSD_musicnn",
    layer: str = "penultimate",
    progress: bool = False,
    n_jobs: int | None = None,
    time_block: int = 1,
) -> Embedded:
    """musicnn features of a collection (one row per 3 s patch) as :class:`Embedded`, cached.

    ``melrec_lib.nets.musicnn.track_embeddings`` under the collection's own name; ``cut`` names the
    source, e.g. ``"musicnn-msd/taggram"``, or ``"musicnn-msd-t8/penultimate"`` for the network run
    on time-blurred input (``time_block=8``, :func:`melrec_lib.nets.musicnn.blur_time`).
    """
    from melrec_lib.io.manifest import corpus_name
    from melrec_lib.nets import musicnn

    X, track = musicnn.track_embeddings(
        manifest,
        model=model,
        layer=layer,
        corpus_name=corpus_name(manifest),
        progress=progress,
        n_jobs=n_jobs,
        time_block=time_block,
    )
    short = model.split("_")[0].lower() + (f"-t{time_block}" if time_block != 1 else "")
    return Embedded(X=np.asarray(X, np.float32), track=np.asarray(track).astype(str), cut=f"musicnn-{short}/{layer}")


def library_data(
    manifest: pd.DataFrame,
    *,
    genre_sources: Sequence[str] = (),
    genre_corpus: Any = None,
    default_recipes: bool = True,
    musicnn_models: Sequence[str] = ("MSD_musicnn",),
    peer_names: Sequence[str] = tuple(peers.PEERS),
    patches: Any = 0,
    log: Any = print,
) -> EvalData:
    """Everything notebook 08's methods read for one library, from the caches where they are.

    Parameters
    ----------
    manifest : pd.DataFrame
        The library (``track_id``, ``path``; its collection name names the caches).
    genre_sources : sequence of str
        ``<config>/<cut>`` of the genre CNNs to embed with (``"thesis/pool2"``).
    genre_corpus : str or pd.DataFrame, optional
        What the genre CNNs were trained on (:func:`melrec_lib.nets.saved.load`); ``None``: the
        manifest itself.
    default_recipes : bool
        Refuse a genre CNN saved with another recipe than ``GenreRecipe(config=...)``.
    musicnn_models : sequence of str
        Each model's penultimate features (``musicnn-<msd|mtt>/penultimate``); the first one's
        tag probabilities too (``.../taggram``).
    peer_names : sequence of str
        The peers (:data:`melrec_lib.recsys.peers.PEERS`) to analyse; one that is not installed
        is skipped, and ``log`` says so and how to install it.
    patches : int or str
        musicnn patches kept per track (:func:`melrec_lib.nets.budget.subsample`: the positions
        ``melrec recommend --patches N`` embeds); ``0`` or ``"all"``: every patch.
    log : callable
        Receives one line per skipped peer.

    Returns
    -------
    EvalData
        ``embeddings`` by source name, ``mfcc`` statistics, ``peers``' tables (those installed).
    """
    from melrec_lib.errors import MissingDependencyError
    from melrec_lib.nets import budget, embeddings, saved
    from melrec_lib.nets.recipe import GenreRecipe

    budget.check_budget(patches)

    sources: dict[str, Embedded] = {}
    cnns: dict[str, Any] = {}
    for src in genre_sources:
        cfg, cut = src.split("/")
        if cfg not in cnns:
            recipe = GenreRecipe(config=cfg) if default_recipes else None
            cnns[cfg] = saved.load(corpus=manifest if genre_corpus is None else genre_corpus, config=cfg, recipe=recipe)
        sources[src] = embeddings.embed(manifest, cnns[cfg], cut=cut, progress=False)
    for i, model in enumerate(musicnn_models):
        for layer in ("penultimate", "taggram") if i == 0 else ("penultimate",):
            mn = musicnn_embedded(manifest, model=model, layer=layer)
            X, track = budget.subsample(mn.X, mn.track, patches)
            sources[mn.cut] = Embedded(X=X, track=track, cut=mn.cut)
    tables: dict[str, pd.DataFrame] = {}
    for peer in peer_names:
        try:
            tables.update(peers.peer_features(manifest, peers=[peer], progress=False))
        except MissingDependencyError as exc:
            log(f"skipping the peer {peer}: {exc}")
    return EvalData(embeddings=sources, mfcc=mfcc_statistics(manifest, progress=False), peers=tables)


def by_group(
    results: pd.DataFrame, users: Sequence[UserSplit], *, metric: str = "roc_auc", level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Mean and bootstrap interval of ``metric`` per (liked group, method), over users.

    A user counts for every group it likes (one per user in the similar protocol).

    Returns
    -------
    pd.DataFrame
        ``group, method, n_users, <metric>, <metric>_lo, <metric>_hi``.
    """
    if metric not in results.columns:
        raise ParameterError(f"no metric {metric!r} in the results")
    groups = {u.name: u.groups for u in users}
    missing = sorted(set(results["user"]) - set(groups))
    if missing:
        raise ParameterError(f"results of unknown users, e.g. {missing[0]!r}")
    rows = [dict(r, group=g) for r in results[["user", "method", metric]].to_dict("records") for g in groups[r["user"]]]
    df = pd.DataFrame(rows)
    out = []
    for (group, method), g in df.groupby(["group", "method"], sort=True):
        mean, lo, hi = confidence_interval(g[metric].to_numpy(), level=level, seed=seed)
        out.append(
            {
                "group": str(group),
                "method": method,
                "n_users": len(g),
                metric: mean,
                f"{metric}_lo": lo,
                f"{metric}_hi": hi,
            }
        )
    return pd.DataFrame(out)


def group_users(
    results: pd.DataFrame, users: Sequence[UserSplit], group: str, methods: Sequence[str], *, metric: str = "roc_auc"
) -> pd.DataFrame:
    """Every user who likes ``group``, with its held-out tracks and each method's ``metric``.

    What a per-group mean (:func:`by_group`) rests on: for a small group, a few held-out tracks.

    Returns
    -------
    pd.DataFrame
        ``user, protocol, seed, playlist`` (its size), ``held out`` (the held-out liked tracks,
        comma-separated) and one column per method, one row per user.

    Raises
    ------
    ParameterError
        No user likes ``group``, or a method has no results for one of them.
    """
    mine = [u for u in users if group in u.groups]
    if not mine:
        raise ParameterError(f"no user likes the group {group!r}")
    values = results[results["method"].isin(methods)].set_index(["user", "method"])[metric]
    rows = []
    for u in mine:
        row = {
            "user": u.name,
            "protocol": u.protocol,
            "seed": u.seed,
            "playlist": len(u.playlist),
            "held out": ", ".join(u.heldout),
        }
        for m in methods:
            if (u.name, m) not in values.index:
                raise ParameterError(f"no {metric} of {m!r} for user {u.name!r}")
            row[m] = float(values[(u.name, m)])
        rows.append(row)
    return pd.DataFrame(rows)


def _user_rows(user: UserSplit, data: EvalData, methods: Sequence[str], epochs: int, k: int) -> list[dict]:
    rows = []
    memo: dict = {}  # a fusion reuses its parts' scores of this user
    for method in methods:
        scores = score_user(method, user, data, epochs=epochs, seed=user.seed, memo=memo)
        rows.append(
            {
                "protocol": user.protocol,
                "seed": user.seed,
                "user": user.name,
                "method": method,
                **ranking_metrics(scores, user.heldout, k=k),
                "n_playlist": len(user.playlist),
                "n_heldout": len(user.heldout),
                "n_candidates": len(user.candidates),
            }
        )
    return rows


def evaluate_methods(
    users: Sequence[UserSplit],
    data: EvalData,
    *,
    methods: Sequence[str],
    epochs: int,
    k: int = 10,
    n_jobs: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Every method on every user: one row per (user, method) with the metrics.

    Users are independent (each method's randomness is seeded by the user), so they are scored
    in worker processes (``n_jobs``; ``None``: all cores, ``1``: here) with the same result.

    Returns
    -------
    pd.DataFrame
        ``protocol, seed, user, method, roc_auc, precision@k, ndcg@k, n_playlist, n_heldout,
        n_candidates``, users in the given order.
    """
    from melrec_lib.parallel import parallel_map

    check_int(epochs, "epochs", minimum=1)
    per_user = parallel_map(
        _user_rows,
        [(u, data, list(methods), epochs, k) for u in users],
        star=True,
        n_jobs=n_jobs,
        desc="evaluation",
        unit="fit",
        progress=progress,
        weights=[len(methods)] * len(users),
        fresh_workers=needs_fresh_workers(data),
        workers_for=workers_kind(methods),
    )
    return pd.DataFrame([row for rows in per_user for row in rows])


def workers_kind(methods: Sequence[str]) -> str:
    """What :func:`evaluate_methods`' worker processes hold: ``"networks"`` where a method trains
    a Keras network (a recommender, a fusion), else ``"scores"`` (centroids, kNN, logreg, peers).

    Workers are kept between calls of the same kind and restarted for another
    (:func:`melrec_lib.parallel.parallel_imap`'s ``workers_for``).  loky measures a worker's size
    after its first task and stops it, with a warning ("A worker stopped while some jobs were
    given to the executor"), once it grows 300 MB beyond: a worker started for centroids (about
    190 MB) that then imports Keras and compiles networks (about 800 MB) would be stopped so.

    >>> workers_kind(["centroid@a", "random"]), workers_kind(["centroid@a", "fusion-corrected@a"])
    ('scores', 'networks')
    """
    for m in methods:
        if m.startswith(("recommender", "fusion")):
            return "networks"
    return "scores"


#: The largest fragment table above which :func:`evaluate_methods` runs on workers of its own.
FRESH_WORKERS_ABOVE = 64 * 2**20


def needs_fresh_workers(data: EvalData) -> bool:
    """Whether ``data``'s users should be scored on worker processes of their own
    (:func:`melrec_lib.parallel.parallel_imap`'s ``fresh_workers``).

    A worker keeps the compiled networks and training tables' memory of every input shape it
    has fitted; with fragment tables of hundreds of MB (notebook 07's 7,680-wide ``pool1``) that
    grows past the 300 MB over its first task's size at which loky stops a worker as leaking,
    with a warning, when the worker first served another call.  Workers of its own cost a
    start-up (imports) per call, which small tables (the tests, smoke runs) need not pay.
    """
    return max((e.X.nbytes for e in data.embeddings.values()), default=0) > FRESH_WORKERS_ABOVE


def summarize(
    results: pd.DataFrame, *, metrics: Sequence[str] = METRICS, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Mean and bootstrap interval of each metric per (protocol, method), over users.

    Returns
    -------
    pd.DataFrame
        ``protocol, method, n_users`` and ``<metric>, <metric>_lo, <metric>_hi`` per metric.
    """
    if len(results) == 0:
        raise ParameterError("no results to summarise")
    out = []
    order = list(dict.fromkeys(results["method"]))
    for (protocol, method), g in results.groupby(["protocol", "method"], sort=False):
        row: dict[str, Any] = {"protocol": protocol, "method": method, "n_users": len(g)}
        for metric in metrics:
            mean, lo, hi = confidence_interval(g[metric].to_numpy(), level=level, seed=seed)
            row.update({metric: mean, f"{metric}_lo": lo, f"{metric}_hi": hi})
        out.append(row)
    df = pd.DataFrame(out)
    df["_o"] = df["method"].map(order.index)
    return df.sort_values(["protocol", "_o"]).drop(columns="_o").reset_index(drop=True)
