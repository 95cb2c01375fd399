"""The competition metric and its parts.

BELKA's score: ``sklearn.metrics.average_precision_score`` for each (protein × split group)
cell of the test rows, then the plain mean over the cells present. A cell without any
positive has no defined AP; it is reported as NaN and left out of the mean.

AP is computed here with sklearn's definition (precision at each distinct score, weighted by
the recall it adds; tied scores form one threshold) in torch, on the device the predictions
are on: a validation fold of BELKA (6.6M molecules) is one sort on the GPU at each epoch's
end instead of seconds of host time, and on the CPU one sort instead of sklearn's several.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def check_probabilities(p, what: str = "predictions"):
    """Reject non-finite values and values outside [0, 1]. A tensor is checked where it is and
    returned as it is; anything else is returned as a float64 array."""
    if not isinstance(p, torch.Tensor):
        p = np.asarray(p, dtype=np.float64)
    bad = as_tensor(p)
    bad = ~torch.isfinite(bad) | (bad < 0) | (bad > 1)
    if bool(bad.any()):
        rows = torch.unique(torch.nonzero(bad)[:, 0])[:5].tolist()
        raise ValueError(f"{what}: {int(bad.sum())} values are not probabilities in [0, 1] (first rows {rows})")
    return p


def pr_curve(y, p) -> tuple[torch.Tensor, torch.Tensor]:
    """(precision, recall) at each distinct score, highest score first — sklearn's
    ``precision_recall_curve`` in reverse, without its closing (1, 0) point. ``y``: 1 is a
    positive, anything else a negative; arrays or tensors (on any device) of equal length."""
    y, p = as_tensor(y), as_tensor(p)
    order = torch.argsort(p, descending=True)
    scores, hits = p[order], y.to(p.device)[order] == 1
    last = torch.ones_like(scores, dtype=torch.bool)  # the last position of each distinct score
    last[:-1] = scores[1:] != scores[:-1]
    true_pos = torch.cumsum(hits, 0, dtype=torch.float64)[last]
    ranked = torch.arange(1, len(scores) + 1, dtype=torch.float64, device=scores.device)[last]
    return true_pos / ranked, true_pos / true_pos[-1]


def curve_area(precision: torch.Tensor, recall: torch.Tensor) -> float:
    """AP from ``pr_curve``'s output: each threshold's precision times the recall it adds."""
    return float((torch.diff(recall, prepend=recall.new_zeros(1)) * precision).sum())


def average_precision(y, p) -> float:
    """sklearn's ``average_precision_score``; NaN when there is no positive."""
    y = as_tensor(y)
    if len(y) == 0 or not bool((y == 1).any()):
        return float("nan")
    return curve_area(*pr_curve(y, p))


def as_tensor(x) -> torch.Tensor:
    """A tensor view of an array (copied only when it is read-only, e.g. a pandas column)."""
    if isinstance(x, torch.Tensor):
        return x
    x = np.asarray(x)
    return torch.from_numpy(x if x.flags.writeable else x.copy())


def ap_table(
    y: np.ndarray, p: np.ndarray, protein: np.ndarray, targets: tuple[str, ...], group: np.ndarray | None = None
) -> pd.DataFrame:
    """One row per (group, target) cell present: rows, positives, AP; ``protein`` indexes ``targets``.
    Rows with y < 0 are ignored."""
    y, p, protein = np.asarray(y), check_probabilities(p), np.asarray(protein)
    group = np.asarray(group, dtype=object) if group is not None else np.full(len(y), "all", dtype=object)
    known = y >= 0
    out = []
    for g in sorted(set(group[known])):
        for k, name in enumerate(targets):
            sel = known & (group == g) & (protein == k)
            if sel.any():
                out.append(
                    {
                        "group": g,
                        "protein": name,
                        "rows": int(sel.sum()),
                        "positives": int((y[sel] == 1).sum()),
                        "ap": average_precision(y[sel], p[sel]),
                    }
                )
    return pd.DataFrame(out, columns=["group", "protein", "rows", "positives", "ap"])


def mean_defined(values) -> float:
    """The competition's mean: over the APs that are defined (a cell without a positive has none);
    NaN only when none is, which the results table shows as ``n/a`` with the reason."""
    values = np.asarray(values, dtype=float)
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if len(defined) else float("nan")


def competition_score(
    y: np.ndarray, p: np.ndarray, protein: np.ndarray, targets: tuple[str, ...], group: np.ndarray | None = None
) -> float:
    """Mean AP over the (target × split group) cells present (NaN cells left out)."""
    return mean_defined(ap_table(y, p, protein, targets, group)["ap"]) if len(y) else float("nan")
