"""A held-out affinity file, scored at every validation epoch.

A count table's prepare can take a file of compounds with measured dissociation constants
(``smiles, target, kd``, optionally a group such as ``seen``/``unseen`` blocks): they become the
test part. :class:`HeldOutAffinity` holds its rows and scores the test part's predictions as
Spearman and Kendall with −log Kd (``metrics.affinity_table``), so that each validation epoch logs

- ``val/affinity_spearman``, ``val/affinity_kendall``: the mean over targets, every compound;
- ``val/affinity_spearman_<group>``: the mean over targets within a group.

Any of them can be the checkpoint monitor (``callbacks.model_checkpoint.monitor``, ``mode: max``);
the run's results score the same file once more with the final predictions. Choosing a checkpoint
on the file makes it a validation set: report the held-out number of a file the run did not see.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from belka_lab.evaluation.metrics import affinity_table

PREFIX = "val/affinity_"


class HeldOutAffinity:
    """Rows of a held-out affinity file: ``molecule`` (a test-part row), ``protein`` (an index into
    ``targets``), ``kd`` and ``group`` (None when the file has none)."""

    def __init__(self, molecule, protein, kd, targets: tuple[str, ...], group=None):
        self.molecule, self.protein = np.asarray(molecule, np.int64), np.asarray(protein, np.int64)
        self.kd, self.targets = np.asarray(kd, np.float64), tuple(targets)
        self.group = None if group is None else np.asarray([g or "none" for g in group], dtype=object)

    @classmethod
    def of(cls, store) -> HeldOutAffinity | None:
        """The prepared dataset's affinity file (its test part's rows), or None when it has none."""
        if not store.manifest.get("test", {}).get("has_affinity") or store.n_test == 0:
            return None
        rows = store.test_rows()
        group = rows["split_group"].to_numpy() if "split_group" in rows else None
        return cls(rows["molecule"], rows["protein"], rows["kd"], store.targets, group)

    def keys(self) -> list[str]:
        """Every key :meth:`scores` can log."""
        groups = sorted(set(self.group)) if self.group is not None else []
        return [f"{PREFIX}spearman", f"{PREFIX}kendall", *(f"{PREFIX}spearman_{g}" for g in groups)]

    def table(self, predicted: np.ndarray) -> pd.DataFrame:
        """``metrics.affinity_table`` of the predictions [n_test, T] of the test part's molecules."""
        p = np.asarray(predicted, np.float64)[self.molecule, self.protein]
        return affinity_table(self.kd, p, self.protein, self.targets, self.group)

    def scores(self, predicted: torch.Tensor, index: torch.Tensor) -> dict[str, float]:
        """The epoch's keys from the test part's gathered predictions (``predicted`` [M, T] of the
        molecules ``index``); a correlation that is undefined (a constant prediction) is not logged."""
        full = np.full((int(self.molecule.max()) + 1, len(self.targets)), np.nan)
        index = index.cpu().numpy()
        keep = index < len(full)
        full[index[keep]] = predicted.float().cpu().numpy()[keep]
        missing = np.isnan(full[self.molecule, self.protein])
        if missing.any():
            raise ValueError(
                f"the affinity file's compounds were not all predicted ({int(missing.sum())} rows missing)"
            )
        return summary(self.table(full), PREFIX)


def summary(table: pd.DataFrame, prefix: str = "") -> dict[str, float]:
    """Of an :func:`~belka_lab.evaluation.metrics.affinity_table`: ``spearman`` and ``kendall`` (the
    mean over targets of every compound) and ``spearman_<group>`` (the mean over targets in a
    group), each prefixed; keys without a defined value are left out."""
    out = {}
    overall = table[table["group"] == "all"] if (table["group"] == "all").any() else table
    for name in ("spearman", "kendall"):
        values = overall[name].dropna()
        if len(values):
            out[f"{prefix}{name}"] = float(values.mean())
    for g, rows in table[table["group"] != "all"].groupby("group"):
        values = rows["spearman"].dropna()
        if len(values) and g != "all":
            out[f"{prefix}spearman_{g}"] = float(values.mean())
    return out
