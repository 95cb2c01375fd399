"""PNG plots of a run: precision-recall curves per protein."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from belka_lab import figures
from belka_lab.metrics import curve_area, pr_curve

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


def pretrain_curves(history: list[dict], loss_key: str, score_key: str, title: str, path: str | Path) -> Path:
    """A pretraining objective's validation loss (left axis) and score (right axis) against
    training steps, one PNG."""
    steps = [h["step"] for h in history]
    fig, ax = figures.subplots(figsize=(5.5, 4))
    ax.plot(steps, [h.get(loss_key) for h in history], "o-", color="C0", label=loss_key)
    ax.set(xlabel="training step", ylabel=f"validation {loss_key}", title=title)
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(steps, [h.get(score_key) for h in history], "s--", color="C1", label=score_key)
    ax2.set(ylabel=f"validation {score_key}", ylim=(0, 1))
    fig.legend(loc="upper center", ncol=2, fontsize=8, bbox_to_anchor=(0.5, 0.93))
    return figures.save(fig, path)


def training_curves(history: list[dict], title: str, path: str | Path) -> Path:
    """Against epochs trained: training and validation loss (left); validation mAP with the mAP of
    each validation cell, or with each protein's AP when the fold is one cell (right)."""
    fig, (left, right) = figures.subplots(1, 2, figsize=(10, 4))

    def draw(ax, key, style, **kw):
        points = [(h["epoch"], h[key]) for h in history if key in h]
        if points:
            ax.plot(*zip(*points), style, label=key, **kw)

    draw(left, "train/loss_epoch", "o-")
    draw(left, "val/loss", "s--")
    left.set(xlabel="epochs trained", ylabel="BCE", title="loss")
    keys = sorted({k for h in history for k in h})
    per_cell = [k for k in keys if k.startswith("val/map_")]
    draw(right, "val/map", "o-", linewidth=2)
    for key in per_cell or [k for k in keys if k.startswith("val/ap_")]:
        draw(right, key, "--" if per_cell else ":", linewidth=1)
    right.set(xlabel="epochs trained", ylabel="average precision", title="validation")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return figures.save(fig, path)
