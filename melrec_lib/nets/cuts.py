"""Where to cut the genre CNN (notebook 04): feature size, speed and class separation per cut.

The thesis cuts after both convolutional blocks (``pool2``) and argues that cutting deeper
loses the within-genre detail a listener's taste lives in.  :func:`compare_cuts` measures it:
for every cut, k-NN and linear-probe accuracy of genre and sub-style on artists neither the
CNN nor the probe has seen (:func:`probe_scores`) and the time per fragment;
:func:`choose_cut` states the rule that picks the recommender's cut from that table;
:func:`project_2d` draws the embeddings (PCA or t-SNE).
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from melrec_lib.errors import DatasetError, ParameterError, check_int
from melrec_lib.nets import architecture
from melrec_lib.nets.embeddings import embed_fragments, get_preprocessor

#: lbfgs steps of the linear probe (:func:`probe_scores`).
PROBE_ITERATIONS = 300

__all__ = ["PROJECTIONS", "time_per_fragment", "time_cuts", "probe_scores", "compare_cuts", "choose_cut", "project_2d"]


def time_per_fragment(trained: Any, cut: str, X: np.ndarray, *, batch_size: int = 256, repeats: int = 5) -> float:
    """Median seconds per fragment of the preprocessor at ``cut`` (one batch, compiled first)."""
    return time_cuts(trained, [cut], X, batch_size=batch_size, rounds=repeats)[cut]


def time_cuts(
    trained: Any, cuts: Sequence[str], X: np.ndarray, *, batch_size: int = 256, rounds: int = 15
) -> dict[str, float]:
    """Median seconds per fragment of the preprocessor at each cut, timed in turn.

    Every cut is compiled first; then each round times one batch of every cut, starting at a
    different cut each round, so a slow spell of a shared machine falls on all cuts alike
    (timed one after another, a cut a few per cent dearer than the previous one could come out
    cheaper).  The median over ``rounds`` is kept.
    """
    import time

    check_int(rounds, "rounds", minimum=1)
    batch = architecture.validate_fragments(X[:batch_size])
    pres = {cut: get_preprocessor(trained, cut) for cut in cuts}
    for pre in pres.values():
        np.asarray(pre.predict_on_batch(batch))  # compile
    times: dict[str, list[float]] = {cut: [] for cut in pres}
    order = list(pres)
    for r in range(rounds):
        for cut in order[r % len(order) :] + order[: r % len(order)]:
            t0 = time.perf_counter()
            np.asarray(pres[cut].predict_on_batch(batch))
            times[cut].append(time.perf_counter() - t0)
    return {cut: float(np.median(t)) / len(batch) for cut, t in times.items()}


def probe_scores(
    E: np.ndarray,
    labels: Sequence,
    train_mask: np.ndarray,
    *,
    n_neighbors: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """How well features separate classes on held-out rows: k-NN and a linear probe.

    Both are fitted on ``E[train_mask]`` (standardised with the training rows' mean and
    deviation) and scored on the other rows.  k-NN: ``KNeighborsClassifier(n_neighbors)``,
    Euclidean; linear probe: multinomial ``LogisticRegression`` (L2, C=1), a fixed budget of
    :data:`PROBE_ITERATIONS` lbfgs steps (not run to convergence; the budget is part of the
    probe, so sklearn's ConvergenceWarning is not shown).

    Returns ``{"knn_accuracy", "linear_accuracy", "chance"}`` (chance: the majority class'
    share among the held-out rows).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    E = np.asarray(E, dtype=np.float32)
    labels = np.asarray(labels)
    train_mask = np.asarray(train_mask, dtype=bool)
    if E.ndim != 2 or len(E) != len(labels) or len(train_mask) != len(E):
        raise ParameterError(f"E {E.shape}, labels ({len(labels)}) and train_mask ({len(train_mask)}) disagree")
    test_mask = ~train_mask
    if train_mask.sum() < n_neighbors or test_mask.sum() == 0:
        raise ParameterError(
            f"need >= {n_neighbors} training rows and >= 1 held-out row, got "
            f"{int(train_mask.sum())} and {int(test_mask.sum())}"
        )
    if len(set(labels[train_mask])) < 2:
        raise ParameterError("the training rows hold fewer than 2 classes")
    Xtr, ytr, Xte, yte = E[train_mask], labels[train_mask], E[test_mask], labels[test_mask]
    knn = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=n_neighbors)).fit(Xtr, ytr)
    # a fixed budget of PROBE_ITERATIONS lbfgs steps, not a fit to convergence: on the widest
    # cuts (7680 features) convergence takes thousands of steps (minutes per probe), while the
    # held-out accuracy is what is measured; the budget is part of the probe's definition
    lin = make_pipeline(StandardScaler(), LogisticRegression(max_iter=PROBE_ITERATIONS, random_state=seed))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        lin.fit(Xtr, ytr)
    _, counts = np.unique(yte, return_counts=True)
    return {
        "knn_accuracy": float(np.mean(knn.predict(Xte) == yte)),
        "linear_accuracy": float(np.mean(lin.predict(Xte) == yte)),
        "chance": float(counts.max() / counts.sum()),
    }


def compare_cuts(
    fragments: Any,
    trained: Any,
    manifest: pd.DataFrame,
    *,
    cuts: Sequence[str] = architecture.CUTS,
    split: pd.Series | None = None,
    targets: Sequence[str] = ("genre", "substyle"),
    n_neighbors: int = 5,
    seed: int = 0,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Compare preprocessor cuts: feature size, time per fragment, class separation.

    Every fragment is embedded once per cut (``embeddings.embed_fragments``, cached).  Probes
    (:func:`probe_scores`) are fitted on the fragments of the model's training and validation
    artists and scored on its test artists (``trained.split(manifest)`` unless ``split`` is
    given), so a cut is judged on artists neither the CNN nor the probe has seen.

    Returns
    -------
    table : pd.DataFrame
        Index cut; columns ``features``, ``ms_per_fragment`` and, per target ``t``,
        ``{t}_knn_accuracy``, ``{t}_linear_accuracy``, ``{t}_chance``.
    embedded : dict cut -> np.ndarray [shape=(n, features)]
    """
    X = fragments.X if hasattr(fragments, "X") else fragments
    ids = fragments.index["track_id"].astype(str).to_numpy()
    split = trained.split(manifest) if split is None else split
    split_of = pd.Series(np.asarray(split), index=manifest["track_id"].astype(str).to_numpy())
    frag_split = split_of.reindex(ids).to_numpy()
    if pd.isna(frag_split).any():
        raise DatasetError("some fragments' tracks are not in the manifest/split")
    train_mask = frag_split != "test"
    rows, embedded = [], {}
    cost = time_cuts(trained, cuts, np.asarray(X[:256]))
    for cut in cuts:
        E = embed_fragments(fragments, trained, cut=cut, progress=progress)
        embedded[cut] = E
        row = {"cut": cut, "features": E.shape[1], "ms_per_fragment": 1000 * cost[cut]}
        for t in targets:
            labels = fragments.labels(manifest, t)
            for k, v in probe_scores(E, labels, train_mask, n_neighbors=n_neighbors, seed=seed).items():
                row[f"{t}_{k}"] = v
        rows.append(row)
    return pd.DataFrame(rows).set_index("cut"), embedded


def choose_cut(table: pd.DataFrame, *, max_features: int = 2048) -> str:
    """The cut a per-user recommender should use, read off a :func:`compare_cuts` table.

    Rule: among cuts with at most ``max_features`` features (the recommender's first dense
    layer grows with its input, and it is fitted on a few dozen tracks per user), the one
    with the best mean of the sub-style k-NN and linear-probe accuracies (the within-genre
    distinctions a listener's taste lives in; genre alone is too coarse); ties go to the
    smaller cut.  Raises ParameterError if no cut is small enough or the columns are missing.
    """
    need = {"features", "substyle_knn_accuracy", "substyle_linear_accuracy"}
    if not need <= set(table.columns):
        raise ParameterError(f"the table lacks columns {sorted(need - set(table.columns))}")
    small = table[table["features"] <= check_int(max_features, "max_features", minimum=1)]
    if small.empty:
        raise ParameterError(f"no cut has <= {max_features} features: {table['features'].to_dict()}")
    score = small[["substyle_knn_accuracy", "substyle_linear_accuracy"]].mean(axis=1)
    order = pd.DataFrame({"score": -score.round(6), "features": small["features"]})
    return str(order.sort_values(["score", "features"], kind="stable").index[0])


PROJECTIONS = ("pca", "tsne")


def project_2d(E: np.ndarray, *, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Standardised features projected to 2-D ``[shape=(n, 2)]`` (sklearn).

    ``method="pca"``: principal components (linear, fast, shows the main axes of variation);
    ``"tsne"``: t-SNE (perplexity min(30, (n - 1) / 3), PCA initialisation, seeded), which
    shows neighbourhoods -- what a similarity-based recommender sees -- but distorts distances
    between clusters; seconds per thousand fragments.
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    if method not in PROJECTIONS:
        raise ParameterError(f"method must be one of {PROJECTIONS}, got {method!r}")
    E = np.asarray(E, dtype=np.float32)
    if E.ndim != 2 or len(E) < 3 or not np.isfinite(E).all():
        raise ParameterError(f"need a finite (n >= 3, features) array, got shape {E.shape}")
    Z = StandardScaler().fit_transform(E)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(Z)
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    Z = PCA(n_components=min(50, *Z.shape), random_state=seed).fit_transform(Z)
    # one OpenMP thread: the Barnes-Hut gradient's threads busy-wait, so on a shared 2-core
    # machine 90 points took 14 s on two threads against 0.5 s on one; one thread is also
    # the same summation order on every machine
    with threadpool_limits(limits=1):
        tsne = TSNE(n_components=2, perplexity=min(30.0, (len(Z) - 1) / 3), init="pca", random_state=seed)
        return tsne.fit_transform(Z)
