"""The one figure helper: matplotlib's file backend is chosen here, once, and every PNG the
project draws is saved through :func:`save` (laid out, written under a temporary name, closed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from belka_lab.core.io import atomic_path  # noqa: E402

subplots = plt.subplots


def save(fig, path: str | Path, dpi: int = 110, tight: bool = True) -> Path:
    """``tight=False``: the figure is laid out already (a colorbar shared by several axes)."""
    if tight:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return Path(path)
