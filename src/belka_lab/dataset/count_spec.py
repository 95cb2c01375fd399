"""What training, the tree baselines and the analysis read of a prepared count table: where each
sample's replicates sit in ``counts`` [N, S], each column's summed reads, and what a target's
reads are compared with (its control, the load, or an even share). Built from the manifest."""

from __future__ import annotations

import numpy as np

from belka_lab.dataset.count_columns import Layout


class CountSpec:
    """Where each sample's replicates sit in a batch's ``counts`` [B, S] and how deep each was read.
    (A plain class: Hydra would turn a dataclass argument into a config node.)"""

    def __init__(
        self,
        target_cols,
        control_cols,
        control_of,
        load_col,
        totals,
        n_compounds,
        target_names=None,
        target_rounds=None,
    ):
        self.target_cols: list[list[int]] = [list(c) for c in target_cols]  # per target
        self.control_cols: list[list[int]] = [list(c) for c in control_cols]  # per control
        self.control_of: list[int | None] = list(control_of)  # per target: its control's index, or None
        self.load_col: int | None = load_col
        self.totals: list[float] = [float(x) for x in totals]  # per count column: its summed reads
        self.n_compounds = int(n_compounds)
        self.target_names: list[str] = list(target_names or [f"target {t}" for t in range(len(self.target_cols))])
        # per target, the selection round of each of its columns; None: one round (every column 1)
        self.target_rounds: list[list[int]] | None = [list(r) for r in target_rounds] if target_rounds else None

    @classmethod
    def of_layout(cls, lay: Layout, totals, n_compounds: int) -> CountSpec:
        """From a :class:`~belka_lab.dataset.count_columns.Layout` and each column's summed reads."""
        controls = list(lay.controls)
        return cls(
            target_cols=list(lay.targets.values()),
            control_cols=[lay.controls[c] for c in controls],
            control_of=[controls.index(c) if c is not None else None for c in lay.control_of.values()],
            load_col=lay.load,
            totals=totals,
            n_compounds=n_compounds,
            target_names=list(lay.targets),
            target_rounds=[lay.rounds[t] for t in lay.targets] if lay.rounds else None,
        )

    @classmethod
    def of(cls, manifest: dict) -> CountSpec:
        """From a prepared count table's manifest (``supervision.of`` knows whether it is one): its
        layout as prepare wrote it (``Layout.of_json``), in the manifest's target order."""
        table = manifest["count_table"]
        lay = Layout.of_json(table)
        lay.targets = {t: lay.targets[t] for t in manifest["targets"]}
        lay.control_of = {t: lay.control_of[t] for t in manifest["targets"]}
        lay.rounds = {t: lay.rounds[t] for t in manifest["targets"]} if lay.rounds else None
        return cls.of_layout(lay, table["totals"], int(manifest["sizes"]["train_molecules"]))

    def reads(self, cols) -> float:
        """The reads of count columns ``cols`` (a sample's replicates) summed over the library: the
        one place a sample's depth is added up."""
        return float(sum(self.totals[c] for c in cols))

    def null_reads(self, counts: np.ndarray, t: int, pseudo: float = 0.0) -> np.ndarray:
        """float64 [n]: the reads target ``t`` would give each compound at enrichment 1 — its
        control's reads (+ ``pseudo``) scaled to the target's depth; without a control, its load's
        share of the target's reads; without a load either, an even share (the target's reads ÷
        the compounds)."""
        n_t = self.reads(self.target_cols[t])
        c = self.control_of[t]
        if c is not None:
            ctrl = self.control_cols[c]
            return (counts[:, ctrl].sum(axis=1) + pseudo) * (n_t / self.reads(ctrl))
        if self.load_col is not None:
            return (counts[:, self.load_col] + pseudo) * (n_t / self.totals[self.load_col])
        return np.full(len(counts), n_t / self.n_compounds)

    def reference(self, t: int) -> str:
        """What target ``t``'s reads are compared with: its control, the load, or an even share."""
        if self.control_of[t] is not None:
            return "control"
        return "load" if self.load_col is not None else "even share"

    @property
    def n_targets(self) -> int:
        return len(self.target_cols)

    @property
    def n_controls(self) -> int:
        return len(self.control_cols)
