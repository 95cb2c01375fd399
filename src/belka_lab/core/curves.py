"""Curves of a training run against time: the losses and validation metrics a run logged, drawn
when it ends (``plots/curves.png`` of a training run, ``pretrain.png`` of a pretraining run)."""

from __future__ import annotations

from pathlib import Path

from belka_lab.core import figures


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
        if ax.get_legend_handles_labels()[0]:  # nothing logged yet (a run stopped in its first epoch): no legend
            ax.legend(fontsize=8)
    fig.suptitle(title)
    return figures.save(fig, path)
