"""Plotting helpers shared by the notebooks (one module per topic).

Every figure is written by :func:`savefig` under the figures folder, named after the thesis
figure it reproduces (``fig3_1-mel-filterbank.png``) or, for figures the thesis never had,
after the notebook that makes it (``nb07-evaluation.png``).
"""

from __future__ import annotations

import os
from pathlib import Path

from melrec_lib import paths


def savefig(fig, name: str, figures_dir: str | os.PathLike | None = None, *, dpi: int = 120) -> Path:
    """Save ``fig`` as ``<figures_dir>/<name>.png`` (``.png`` added if missing) and return the path."""
    out = paths.figures_dir(figures_dir) / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    return out
