"""Plotting helpers shared by the notebooks (one module per topic).

Every figure is written by :func:`savefig` under the figures folder, named after the thesis
figure it reproduces (``fig3_1-mel-filterbank.png``) or, for figures the thesis never had,
after the notebook that makes it (``nb07-evaluation.png``).  In a notebook, :func:`savefig` is
also the one way a figure is shown: it displays the saved file in the cell that made it.
:mod:`melrec_lib.plots.listen` embeds short audio excerpts the same way.

The library never chooses a matplotlib backend (no ``matplotlib.use``): JupyterLab's inline
backend, a script's default or ``MPLBACKEND`` stay in charge.
"""

from __future__ import annotations

import os
from pathlib import Path

from melrec_lib import paths


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (where ``display`` draws into the cell's output)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def savefig(
    fig, name: str, figures_dir: str | os.PathLike | None = None, *, dpi: int = 120, show: bool | None = None
) -> Path:
    """Save ``fig`` as ``<figures_dir>/<name>.png`` (``.png`` added if missing) and return the path.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    name : str
        File name, without the folder.
    figures_dir : path-like or None
        Folder (default: ``paths.figures_dir()``, the repository's ``figures/``).
    dpi : int
        Resolution of the PNG.
    show : bool or None
        Display the saved PNG in the current cell and close ``fig`` (so the inline backend
        does not draw it a second time).  None: only inside a Jupyter kernel.

    Returns
    -------
    Path
        The PNG written.
    """
    out = paths.figures_dir(figures_dir) / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    if _in_kernel() if show is None else show:
        import matplotlib.pyplot as plt
        from IPython.display import Image, display

        display(Image(filename=str(out)))
        plt.close(fig)
    return out
