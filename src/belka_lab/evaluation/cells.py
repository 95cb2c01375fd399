"""Validation cells: the leaderboard's shape on the validation fold.

BELKA's score is the mean AP over (target × split group) cells. A split names the cells of
its validation fold (``dataset/folds.py``: one cell for random folds; ``share``, ``partial``,
``non_share`` for building-block folds); this module scores them and says which metric each
logged key averages:

- one cell: ``val/ap_<target>``, ``val/map`` (their mean);
- several: ``val/ap_<target>_<cell>``, ``val/map_<cell>`` (the cell's targets) and ``val/map``
  (every target × cell), the competition's mean.

Targets are the dataset's (the manifest's ``targets``), lower-cased in the keys.

A cell without a positive has no AP. It is not logged and not averaged, and :func:`check` says so
before training; a monitored key that no cell defines is an error.

:class:`ValidationCells` is what the training module is given to score its validation epochs:
the cell of every validation molecule, looked up by molecule row on the device.
"""

from __future__ import annotations

import numpy as np
import torch

from belka_lab.core.errors import InputError, warn
from belka_lab.dataset.folds import CELLS
from belka_lab.dataset.schema import BELKA_TARGETS
from belka_lab.evaluation.metrics import as_tensor, average_precision, check_finite, mean_defined, rank_table


def keys(names: tuple[str, ...], targets: tuple[str, ...]) -> dict[str, list[tuple[int, int]]]:
    """Every metric key the cells log, with the (cell, target) pairs it averages."""
    one = len(names) == 1
    out = {"val/map": [(c, p) for c in range(len(names)) for p in range(len(targets))]}
    for c, name in enumerate(names):
        if not one:
            out[f"val/map_{name}"] = [(c, p) for p in range(len(targets))]
        for p, protein in enumerate(targets):
            out[f"val/ap_{protein.lower()}" + ("" if one else f"_{name}")] = [(c, p)]
    return out


def rank_keys(names: tuple[str, ...], targets: tuple[str, ...]) -> list[str]:
    """The keys a count table's validation logs besides the APs (:meth:`ValidationCells.rank_scores`)."""
    one = len(names) == 1
    per = [f"val/spearman_{t.lower()}" + ("" if one else f"_{n}") for n in names for t in targets]
    return ["val/spearman", "val/top_recall", *per]


def cell_ap(labels, probs, cell, n_cells: int) -> dict[tuple[int, int], float]:
    """AP of each (cell, target) with a positive; ``labels`` [N, T] (-1 unknown), ``probs`` [N, T],
    ``cell`` [N]: arrays, or tensors on the device they were computed on."""
    probs = as_tensor(check_finite(probs))
    labels, cell = (  # a copy of an array: a read-only memory map is not handed to torch
        (x if isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x))).to(probs.device) for x in (labels, cell)
    )
    out = {}
    for c in range(n_cells):
        in_cell = cell == c
        for p in range(probs.shape[1]):
            sel = in_cell & (labels[:, p] >= 0)
            ap = average_precision(labels[sel, p], probs[sel, p])
            if not np.isnan(ap):
                out[(c, p)] = ap
    return out


def values(ap: dict[tuple[int, int], float], names: tuple[str, ...], targets: tuple[str, ...]) -> dict[str, float]:
    """Each key of :func:`keys` whose cells have an AP: the mean over those that do."""
    out = {}
    for key, pairs in keys(names, targets).items():
        have = [ap[pair] for pair in pairs if pair in ap]
        if have:
            out[key] = mean_defined(have)
    return out


def counts(labels: np.ndarray, cell: np.ndarray, n_cells: int) -> dict[tuple[int, int], tuple[int, int]]:
    """(molecules with a known label, positives) of each (cell, target)."""
    labels, cell = np.asarray(labels), np.asarray(cell)
    return {
        (c, p): (int(((cell == c) & (labels[:, p] >= 0)).sum()), int(((cell == c) & (labels[:, p] == 1)).sum()))
        for c in range(n_cells)
        for p in range(labels.shape[1])
    }


def check(
    cell_counts: dict[tuple[int, int], tuple[int, int]],
    names: tuple[str, ...],
    targets: tuple[str, ...],
    where: str,
    monitors,
    say: bool = True,
    ranked: bool = False,
    also=(),
) -> None:
    """Say which cells have no positive (a warning each, when `say`), and stop when a key in `monitors`
    (the checkpoint's, early stopping's) is not logged by these cells or has no cell with a positive.
    ``also``: keys logged besides the cells' (a held-out affinity file's)."""
    advice = (
        "use fewer building-block groups (data.prepare.n_bb_groups), another fold, or a bigger library (or sample)"
        if len(names) > 1 or where.startswith("fold_bb")
        else "use another fold or a bigger library (or sample)"
    )
    for (c, p), (rows, positives) in cell_counts.items():
        if positives == 0 and say:
            cell = targets[p] + ("" if len(names) == 1 else f" × {names[c]}")
            warn(
                f"validation cell {cell} ({where}) has {rows} molecules and no positive: its AP is undefined and left "
                f"out of val/map; {advice}"
            )
    known = keys(names, targets)
    for monitor in monitors:
        others = [*(rank_keys(names, targets) if ranked else []), *also]
        if not monitor.startswith("val/") or monitor == "val/loss" or monitor in others:
            continue
        if monitor not in known:
            raise InputError(
                f"the monitored metric {monitor!r} is not logged by this split's validation cells ({where}); choose "
                f"one of {', '.join([*known, *others])} or val/loss"
            )
        if not any(cell_counts[pair][1] for pair in known[monitor]):
            raise InputError(
                f"the monitored metric {monitor!r} is undefined for the whole run: none of its validation cells "
                f"({where}) has a positive; {advice}, or monitor another metric (callbacks.model_checkpoint.monitor)"
            )


def order(name: str) -> tuple[int, str]:
    """Sort key of a cell name: the leaderboard's order (share, partial, non_share), then by name."""
    return (CELLS.index(name) if name in CELLS else len(CELLS), name)


class ValidationCells:
    """The validation fold's cells: ``names`` (one name: the fold is one cell), ``where`` (the
    fold, as messages name it), the cell of each validation molecule row ``val`` (sorted), and
    the dataset's ``targets``."""

    def __init__(
        self,
        val: np.ndarray,
        cell: np.ndarray,
        names: tuple[str, ...],
        where: str,
        targets: tuple[str, ...],
        ranked: bool = False,
    ):
        self.val, self.cell = np.asarray(val), np.asarray(cell)
        self.names, self.where, self.targets = tuple(names), where, tuple(targets)
        self.ranked = ranked  # a count table: the observed enrichment is ranked too
        self._said_undefined = False
        self._on: dict = {}  # (rows, cells) as tensors per device

    @classmethod
    def of(cls, selection, targets: tuple[str, ...], ranked: bool = False) -> ValidationCells:
        """From a split's :class:`~belka_lab.dataset.folds.Selection` over a dataset with ``targets``
        (``ranked``: with enrichment scores)."""
        return cls(selection.val, selection.cell, selection.names, selection.where, targets, ranked)

    @classmethod
    def single(cls, targets: tuple[str, ...] = BELKA_TARGETS) -> ValidationCells:
        """One cell named ``val``: every validation molecule scored together."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int8), ("val",), "val", targets)

    def of_rows(self, index: torch.Tensor) -> torch.Tensor:
        """The cell (an index into ``names``) of each validation molecule row, where ``index`` is."""
        if len(self.names) == 1:
            return torch.zeros_like(index)
        key = index.device
        if key not in self._on:
            self._on[key] = (
                torch.as_tensor(self.val, dtype=torch.int64, device=key),
                torch.as_tensor(self.cell, dtype=torch.int64, device=key),
            )
        rows, cell = self._on[key]
        return cell[torch.searchsorted(rows, index.long()).clamp_max(len(rows) - 1)]

    def names_of(self, index: np.ndarray) -> np.ndarray:
        """The cell of validation molecule rows as the results table names it: the cell's name, or
        the fold (``fold_stratified=0``) when the fold is one cell."""
        names = self.names if len(self.names) > 1 else (self.where,)
        return np.asarray(names, dtype=object)[self.cell[np.searchsorted(self.val, np.asarray(index))]]

    def scores(self, labels: torch.Tensor, probs: torch.Tensor, index: torch.Tensor) -> dict[str, float]:
        """Every logged key with a defined AP (:func:`values`), from the epoch's gathered predictions."""
        return values(cell_ap(labels, probs, self.of_rows(index), len(self.names)), self.names, self.targets)

    def rank_scores(self, observed: torch.Tensor, predicted: torch.Tensor, index: torch.Tensor) -> dict[str, float]:
        """A count table's epoch: ``val/spearman_<target>`` (per cell: ``…_<cell>``), their mean
        ``val/spearman`` and ``val/top_recall`` (the observed top 1% found in the predicted top 1%)."""
        names = np.asarray(self.names, dtype=object)[self.of_rows(index).cpu().numpy()]
        table = rank_table(observed.float().cpu().numpy(), predicted.float().cpu().numpy(), self.targets, names)
        one = len(self.names) == 1
        out = {}
        for r in table.itertuples():
            if not np.isnan(r.spearman):
                out[f"val/spearman_{r.protein.lower()}" + ("" if one else f"_{r.group}")] = r.spearman
        defined = table["spearman"].dropna()
        out["val/top_recall"] = float(table["top_recall"].mean())
        if len(defined):
            out["val/spearman"] = float(defined.mean())
        else:  # logged as nan, which a checkpoint on it ranks last; said, not silent
            out["val/spearman"] = float("nan")
            if not self._said_undefined:
                warn(
                    f"val/spearman is undefined this epoch: in every validation cell ({self.where}) the observed "
                    f"scores or the predictions are all equal (e.g. a lower bound of 0 for every compound read a few "
                    f"times); a bigger validation fold, data.prepare.counts.score=normalized_z or another monitor "
                    f"(val/loss) gives one"
                )
                self._said_undefined = True
        return out

    def check(self, labels: np.ndarray, monitors, say: bool = True, also=()) -> None:
        """:func:`check` for these cells; ``labels`` [len(val), T] of the validation molecules."""
        cell_counts = counts(labels, self.cell, len(self.names))
        check(cell_counts, self.names, self.targets, self.where, monitors, say, self.ranked, also)
