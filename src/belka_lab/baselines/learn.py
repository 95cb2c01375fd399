"""What a tree baseline learns (``baseline.learn``) — the trees' losses: LightGBM's objective and
validation metric, and what the predictions are. What each mode reads of the data is the
library's ``Supervision.learnt``."""

from __future__ import annotations

from dataclasses import dataclass

from belka_lab.dataset.supervision import Values


@dataclass(frozen=True)
class Learn:
    """What a LightGBM model learns (``baseline.learn``): LightGBM's objective and validation
    metric, and what its predictions are."""

    objective: str
    metric: str
    labels: bool = False  # int8 labels, -1 unknown (skipped), positives weighed against negatives
    offset: bool = False  # (reads, log offset): the raw score is ln enrichment

    @property
    def values(self) -> Values:
        return Values.of(self.labels)


LEARN = {
    "labels": Learn("binary", "average_precision", labels=True),
    "scores": Learn("regression", "l2"),
    "counts": Learn("poisson", "poisson", offset=True),
}
