"""PNG plots of a run: precision-recall curves per protein."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from belka_lab.core import figures
from belka_lab.evaluation.metrics import curve_area, pr_curve

CURVE_POINTS = 4000  # per drawn curve: far more than a 600-pixel-wide axis shows


def pr_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str, path: str | Path) -> Path:
    """One PNG; `curves` maps a legend label to (binary labels, scores). The dashed line is
    the precision of a random ranking on the first curve's data."""
    fig, ax = figures.subplots(figsize=(5.5, 4.5))
    first = next(iter(curves.values()), None)
    if first is not None and len(first[0]):
        ax.axhline(float(np.mean(first[0] == 1)), color="grey", linestyle="--", linewidth=1, label="random ranking")
    for label, (y, p) in curves.items():
        if len(y) == 0 or not (y == 1).any():
            ax.plot([], [], " ", label=f"{label}: no positive, AP undefined")
            continue
        curve = pr_curve(y, p)
        ap = curve_area(*curve)
        precision, recall = (v.numpy() for v in curve)
        keep = _drawn_points(recall)
        ax.step(
            np.r_[0.0, recall[keep]],
            np.r_[precision[0], precision[keep]],
            where="pre",
            label=f"{label} (AP {ap:.3f}, {int((y == 1).sum())} pos)",
        )
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return figures.save(fig, path)


def _drawn_points(recall: np.ndarray, limit: int = CURVE_POINTS) -> np.ndarray:
    """Indices of the curve's points worth drawing: where recall grows (a positive was
    ranked; between positives precision only falls), thinned evenly to ``limit``; first and
    last kept. A validation fold of BELKA has millions of distinct scores."""
    grows = np.flatnonzero(np.diff(recall, prepend=0.0) > 0)
    keep = np.unique(np.r_[0, grows, len(recall) - 1])
    if len(keep) > limit:
        keep = keep[np.unique(np.linspace(0, len(keep) - 1, limit).round().astype(int))]
    return keep
