"""The competition metric and its parts.

BELKA's score: ``sklearn.metrics.average_precision_score`` for each (protein × split group)
cell of the test rows, then the plain mean over the cells present. A cell without any
positive has no defined AP; it is reported as NaN and left out of the mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from belka_lab.data.proteins import PROTEINS


def check_probabilities(p: np.ndarray, what: str = "predictions") -> np.ndarray:
    """Reject non-finite values and values outside [0, 1]."""
    p = np.asarray(p, dtype=np.float64)
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])[:5].tolist()
        raise ValueError(f"{what}: {int(bad.sum())} values are not probabilities in [0, 1] (first rows {rows})")
    return p


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    y = np.asarray(y)
    if len(y) == 0 or not (y == 1).any():
        return float("nan")
    return float(average_precision_score(y, p))


def ap_table(y: np.ndarray, p: np.ndarray, protein: np.ndarray, group: np.ndarray | None = None) -> pd.DataFrame:
    """One row per (group, protein) cell present: rows, positives, AP. Rows with y < 0 are ignored."""
    y, p, protein = np.asarray(y), check_probabilities(p), np.asarray(protein)
    group = np.asarray(group, dtype=object) if group is not None else np.full(len(y), "all", dtype=object)
    known = y >= 0
    out = []
    for g in sorted(set(group[known])):
        for k, name in enumerate(PROTEINS):
            sel = known & (group == g) & (protein == k)
            if sel.any():
                out.append({"group": g, "protein": name, "rows": int(sel.sum()), "positives": int((y[sel] == 1).sum()), "ap": average_precision(y[sel], p[sel])})
    return pd.DataFrame(out, columns=["group", "protein", "rows", "positives", "ap"])


def competition_score(y: np.ndarray, p: np.ndarray, protein: np.ndarray, group: np.ndarray | None = None) -> float:
    """Mean AP over the (protein × split group) cells present (NaN cells left out)."""
    return float(np.nanmean(ap_table(y, p, protein, group)["ap"].to_numpy())) if len(y) else float("nan")


def molecule_ap(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Per-protein AP and their mean ('map') for molecule-level [N, 3] labels (-1 = unknown)."""
    labels, probs = np.asarray(labels), check_probabilities(probs)
    out = {}
    for k, name in enumerate(PROTEINS):
        known = labels[:, k] >= 0
        out[name] = average_precision(labels[known, k], probs[known, k])
    vals = [v for v in out.values() if not np.isnan(v)]
    out["map"] = float(np.mean(vals)) if vals else float("nan")
    return out
