"""A held-out affinity file, scored at every validation epoch.

A count table's prepare can take files of compounds with measured dissociation constants
(``dataset/affinity_file.py``: ``smiles``, ``kd``, a target, optionally a group such as
``seen``/``unseen`` blocks or KinDEL's ``ondna``/``offdna`` set, and whether each compound is in the
library): they become the test part. :class:`HeldOutAffinity` holds its rows and scores the test
part's predictions as Spearman and Kendall with −log Kd (``metrics.affinity_table``): positive when
a higher prediction means a tighter binder. KinDEL's scripts report ``spearmanr(prediction, kd)``,
negative for a good model, and print its negation: the same number as this one. Each validation
epoch logs

- ``val/affinity_spearman``, ``val/affinity_kendall``: the mean over targets, every compound;
- ``val/affinity_spearman_<group>``: the mean over targets within a group;
- ``val/affinity_spearman_lib``, ``…_<group>_lib``: the same over the compounds in the library
  (KinDEL's "lib"; the others are its "all"), where the file says which are.

Any of them can be the checkpoint monitor (``callbacks.model_checkpoint.monitor``, ``mode: max``);
the run's results score the same file once more with the final predictions. Choosing a checkpoint
on the file makes it a validation set: report the held-out number of a file the run did not see.
A kd of 0 kept by ``zero_kd=tightest`` ranks above every other compound.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from belka_lab.evaluation.metrics import affinity_table

PREFIX = "val/affinity_"


class HeldOutAffinity:
    """Rows of a held-out affinity file: ``molecule`` (a test-part row), ``protein`` (an index into
    ``targets``), ``kd``, ``group`` (None when the file has none) and ``library`` (True for a compound
    in the library; None when the file does not say)."""

    def __init__(self, molecule, protein, kd, targets: tuple[str, ...], group=None, library=None):
        self.molecule, self.protein = np.asarray(molecule, np.int64), np.asarray(protein, np.int64)
        kd = np.asarray(kd, np.float64)
        self.kd = np.where(kd > 0, kd, np.nextafter(0.0, 1.0))  # a kept kd of 0: the tightest, with a finite log
        self.targets = tuple(targets)
        self.group = None if group is None else np.asarray([g or "none" for g in group], dtype=object)
        self.library = None if library is None else np.asarray(library, bool)

    @classmethod
    def of_rows(cls, rows: pd.DataFrame, targets: tuple[str, ...]) -> HeldOutAffinity:
        """From the test part's ``rows.parquet`` (``molecule``, ``protein``, ``kd``, and where known
        ``split_group`` and ``in_library``)."""
        group = rows["split_group"].to_numpy() if "split_group" in rows else None
        library = None
        if "in_library" in rows and rows["in_library"].notna().any():
            library = rows["in_library"].fillna(False).to_numpy(bool)
        return cls(rows["molecule"], rows["protein"], rows["kd"], targets, group, library)

    @classmethod
    def of(cls, store) -> HeldOutAffinity | None:
        """The prepared dataset's affinity file (its test part's rows), or None when it has none."""
        if not store.manifest.get("test", {}).get("has_affinity") or store.n_test == 0:
            return None
        return cls.of_rows(store.test_rows(), store.targets)

    def subsets(self) -> list[tuple[str, np.ndarray]]:
        """(name, rows) of each scored subset: ``all``, each group, and with library information
        ``lib`` and ``<group>_lib`` — each left out when it is empty or holds the same rows as one
        before it (a group of library members only is its own ``_lib``)."""
        every = np.ones(len(self.kd), bool)
        groups = sorted(set(self.group)) if self.group is not None else []
        out = [("all", every), *((g, self.group == g) for g in groups)]
        if self.library is not None:
            for name, rows in [
                ("lib", self.library),
                *((f"{g}_lib", (self.group == g) & self.library) for g in groups),
            ]:
                if rows.any() and not any(np.array_equal(rows, seen) for _, seen in out):
                    out.append((name, rows))
        return out

    def keys(self) -> list[str]:
        """Every key :meth:`scores` can log."""
        named = [name for name, _ in self.subsets() if name != "all"]
        return [f"{PREFIX}spearman", f"{PREFIX}kendall", *(f"{PREFIX}spearman_{g}" for g in named)]

    def table(self, predicted: np.ndarray) -> pd.DataFrame:
        """``metrics.affinity_table`` of each of :meth:`subsets` (its ``group``), from the
        predictions [n_test, T] of the test part's molecules."""
        p = np.asarray(predicted, np.float64)[self.molecule, self.protein]
        parts = [
            affinity_table(self.kd[sel], p[sel], self.protein[sel], self.targets).assign(group=name)
            for name, sel in self.subsets()
        ]
        return pd.concat([t for t in parts if len(t)] or parts[:1], ignore_index=True)

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
