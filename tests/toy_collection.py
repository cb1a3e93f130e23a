"""A toy collection for the evaluation tests: sub-styles are clusters of a known centre."""

from __future__ import annotations

import numpy as np
import pandas as pd

from melrec_lib.nets.embeddings import Embedded
from melrec_lib.recsys.benchmark import EvalData


def toy_manifest(n_genres=4, n_artists=4, n_tracks=5):
    rows = []
    for g in range(n_genres):
        for sub in ("x", "y"):
            for a in range(n_artists):
                for t in range(n_tracks):
                    rows.append(
                        {
                            "track_id": f"g{g}{sub}a{a}t{t}",
                            "path": "",
                            "genre": f"g{g}",
                            "substyle": sub,
                            "artist": f"g{g}{sub}-artist{a}",
                        }
                    )
    return pd.DataFrame(rows)


def toy_data(manifest, rng, noise=1.5, d=24, per_track=3):
    centers = {k: rng.normal(0, 1, d) for k in set(zip(manifest["genre"], manifest["substyle"]))}
    X, T = [], []
    for r in manifest.itertuples():
        for _ in range(per_track):
            X.append(centers[(r.genre, r.substyle)] + rng.normal(0, noise, d))
            T.append(r.track_id)
    emb = Embedded(X=np.asarray(X, np.float32), track=np.asarray(T), cut="pool2")
    mfcc = pd.DataFrame(
        np.asarray([centers[(r.genre, r.substyle)][:6] + rng.normal(0, 1, 6) for r in manifest.itertuples()]),
        index=manifest["track_id"],
    )
    return EvalData(embeddings={"pool2": emb}, mfcc=mfcc)
