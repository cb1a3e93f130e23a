"""melrec: content-based music recommendation with neural networks.

A tested reproduction of L. I. Leshukov's diploma thesis (WAV -> DFT -> mel spectrogram ->
genre CNN -> frozen "preprocessor" -> per-user recommender), with a corrected pipeline and
honest evaluation beside the faithful one.

The sub-packages read as the pipeline, each importing only those before it:
``io`` (WAV, any audio, collections and manifests) -> ``dsp`` (filter banks, DFT, fragments,
the fragment cache, MFCCs) and ``corpora`` (melrec-synth, the soundtracks, splits) -> ``nets``
(the Table 4.1 network, its recipe, training, saved and shipped models, embeddings, cuts,
musicnn) -> ``recsys`` (the per-user recommender, scoring, users, metrics, the benchmark of
methods, the thesis' experiments) -> ``app`` (pipelines, the library cache, ``recommend``, the
command line).  ``paths``, ``errors``, ``cache``, ``parallel``, ``notebook``, ``report`` and
``plots`` sit beside them.  Importing the package is cheap: sub-modules (and Keras) are imported
on first use, e.g. ``from melrec_lib.io import wav``.  Keras 3 runs on the JAX backend unless the
environment variable ``KERAS_BACKEND`` says otherwise; it is set here, before anything in
this package imports keras.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

__version__ = "0.1.0"
