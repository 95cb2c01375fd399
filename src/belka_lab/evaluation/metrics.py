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
from scipy.stats import kendalltau, pearsonr, spearmanr


def check_finite(p, what: str = "predictions"):
    """Reject non-finite values (a ranking metric reads any finite score: probabilities or log
    enrichment). A tensor is checked where it is and returned as it is; anything else is returned
    as a float64 array."""
    if not isinstance(p, torch.Tensor):
        p = np.asarray(p, dtype=np.float64)
    bad = ~torch.isfinite(as_tensor(p))
    if bool(bad.any()):
        rows = torch.unique(torch.nonzero(bad)[:, 0])[:5].tolist()
        raise ValueError(f"{what}: {int(bad.sum())} values are not finite numbers (first rows {rows})")
    return p


def rank_table(
    observed: np.ndarray, predicted: np.ndarray, targets: tuple[str, ...], group: np.ndarray | None = None, top=0.01
) -> pd.DataFrame:
    """Per (group, target): Spearman and Pearson of the predictions with the observed enrichment
    ([N, T] each), and the recall of the observed top ``top`` fraction within the predicted top
    fraction. Groups with fewer than 3 compounds are left out (no correlation is defined)."""
    observed, predicted = np.asarray(observed, np.float64), np.asarray(check_finite(predicted), np.float64)
    group = np.asarray(group, dtype=object) if group is not None else np.full(len(observed), "all", dtype=object)
    out = []
    for g in sorted(set(group)):
        sel = group == g
        if sel.sum() < 3:
            continue
        for k, name in enumerate(targets):
            o, p = observed[sel, k], predicted[sel, k]
            n_top = max(1, int(round(top * len(o))))
            top_o = set(np.argsort(-o, kind="stable")[:n_top].tolist())
            top_p = set(np.argsort(-p, kind="stable")[:n_top].tolist())
            constant = np.ptp(o) == 0 or np.ptp(p) == 0
            out.append(
                {
                    "group": g,
                    "protein": name,
                    "rows": int(sel.sum()),
                    "spearman": float("nan") if constant else float(spearmanr(o, p).statistic),
                    "pearson": float("nan") if constant else float(pearsonr(o, p).statistic),
                    "top_recall": len(top_o & top_p) / n_top,
                }
            )
    return pd.DataFrame(out, columns=["group", "protein", "rows", "spearman", "pearson", "top_recall"])


def affinity_table(kd: np.ndarray, predicted: np.ndarray, target: np.ndarray, targets, group=None) -> pd.DataFrame:
    """Per (group, target) of a held-out affinity file: Spearman and Kendall of the predictions
    with −log Kd (a higher prediction should mean a tighter binder), over its compounds."""
    kd, predicted, target = np.asarray(kd, np.float64), np.asarray(predicted, np.float64), np.asarray(target)
    group = np.asarray(group, dtype=object) if group is not None else np.full(len(kd), "all", dtype=object)
    out = []
    for g in [*sorted(set(group)), *(["all"] if len(set(group)) > 1 else [])]:
        for k, name in enumerate(targets):
            sel = (target == k) & ((group == g) if g != "all" or len(set(group)) == 1 else True)
            if sel.sum() < 3:
                continue
            y, p = -np.log10(kd[sel]), predicted[sel]
            constant = np.ptp(y) == 0 or np.ptp(p) == 0
            out.append(
                {
                    "group": g,
                    "protein": name,
                    "rows": int(sel.sum()),
                    "spearman": float("nan") if constant else float(spearmanr(y, p).statistic),
                    "kendall": float("nan") if constant else float(kendalltau(y, p).statistic),
                }
            )
    return pd.DataFrame(out, columns=["group", "protein", "rows", "spearman", "kendall"])


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
    y, p, protein = np.asarray(y), check_finite(p), np.asarray(protein)
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
