"""What a screen found, at a glance: per target, how many molecules reach each probability, by
applicability group — counted part by part while the output is finished (bounded memory), drawn
as ``predict.png`` and summed up as ``hits`` in ``predict.json``.

A hit count per group says how much of a screen's top rests on molecules whose blocks the model
never saw (``non_share``), where its scores are least trustworthy (docs/screening.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from belka_lab.core import figures

EDGES = np.linspace(-6.0, 0.0, 61)  # log10(probability), 0.1 apart; lower values fall in the first bin
THRESHOLDS = (0.5, 0.1)  # hits: molecules at or above these probabilities
ENRICHMENT_EDGES = np.linspace(-2.0, 4.0, 61)  # log10 enrichment (a count model's prediction)
ENRICHMENT_THRESHOLDS = (1.0, 0.5)  # hits: predicted 10× and 3× enriched


class Overview:
    """``probability``: the values are probabilities (histogram of their log10); else log10 enrichment."""

    def __init__(self, targets: tuple[str, ...], probability: bool = True):
        self.targets, self.probability = tuple(targets), probability
        self.edges = EDGES if probability else ENRICHMENT_EDGES
        self.thresholds = THRESHOLDS if probability else ENRICHMENT_THRESHOLDS
        self.counts: dict[str, np.ndarray] = {}  # group → [targets, bins]
        self.hits: dict[str, dict[str, dict[str, int]]] = {}

    def add(self, table: pa.Table) -> None:
        groups = table.column("group").to_numpy(zero_copy_only=False) if "group" in table.column_names else None
        values = np.stack([table.column(p).to_numpy(zero_copy_only=False) for p in self.targets], axis=1)
        for group in ["all"] if groups is None else sorted(set(groups)):
            rows = values if groups is None else values[groups == group]
            edges = self.edges
            counts = self.counts.setdefault(group, np.zeros((len(self.targets), len(edges) - 1), np.int64))
            hits = self.hits.setdefault(group, {p: {f">={t}": 0 for t in self.thresholds} for p in self.targets})
            for k, p in enumerate(self.targets):
                x = rows[:, k]
                x = x[np.isfinite(x)]
                shown = np.log10(np.maximum(x, 1e-12)) if self.probability else x
                counts[k] += np.histogram(np.clip(shown, edges[0], edges[-1]), edges)[0]
                for t in self.thresholds:
                    hits[p][f">={t}"] += int((x >= t).sum())

    def plot(self, path: Path, title: str) -> Path | None:

        if not self.counts:
            return None
        n = len(self.targets)
        fig, axes = figures.subplots(1, n, figsize=(4.2 * n, 3.6), sharey=True, squeeze=False)
        axes = axes[0]
        centres = (self.edges[:-1] + self.edges[1:]) / 2
        for k, (ax, protein) in enumerate(zip(axes, self.targets)):
            for group, counts in sorted(self.counts.items(), key=lambda kv: _order(kv[0])):
                shown = np.where(counts[k] > 0, counts[k], np.nan)  # empty bins drawn as gaps, not as 1
                ax.step(centres, shown, where="mid", label=f"{group} ({counts[k].sum():,})")
            ax.set(yscale="log", xlabel="log10 probability" if self.probability else "log10 enrichment", title=protein)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("molecules")
        axes[-1].legend(fontsize=8)
        fig.suptitle(title, fontsize=9)
        return figures.save(fig, path)


def _order(group: str) -> int:
    return {"share": 0, "partial": 1, "non_share": 2}.get(group, 3)
