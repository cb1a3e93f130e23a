"""melrec: content-based music recommendation with neural networks.

A tested reproduction of L. I. Leshukov's diploma thesis (WAV -> DFT -> mel spectrogram ->
genre CNN -> frozen "preprocessor" -> per-user recommender), with a corrected pipeline and
honest evaluation beside the faithful one.

Importing the package is cheap: sub-modules (and Keras) are imported on first use, e.g.
``from melrec_lib import wav, spectrogram``.  Keras 3 runs on the JAX backend unless the
environment variable ``KERAS_BACKEND`` says otherwise; it is set here, before anything in
this package imports keras.
"""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

__version__ = "0.1.0"
