"""A count table's enrichment scores and hits, a chunk at a time: ``train/scores.npy`` (the
configured score per target on the scale models regress on) and ``train/labels.npy`` (1 where
the score reaches the threshold, or is in the top ``hit_fraction``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from belka_lab.dataset import enrichment, store
from belka_lab.dataset.count_columns import CountTable, Layout
from belka_lab.dataset.count_spec import CountSpec


def compound_scores(counts: np.ndarray, spec: CountSpec, score: str) -> np.ndarray:
    """float64 [n, T]: the raw ``score`` of each compound for each target (enrichment.py)."""
    out = np.empty((len(counts), spec.n_targets), np.float64)
    for k, cols in enumerate(spec.target_cols):
        k_t, n_t = counts[:, cols].sum(axis=1, dtype=np.int64), spec.reads(cols)
        if score == "normalized_z":
            out[:, k] = enrichment.normalized_z(k_t, n_t, spec.n_compounds)
            continue
        ctrl = spec.control_cols[spec.control_of[k]]
        k_c, n_c = counts[:, ctrl].sum(axis=1, dtype=np.int64), spec.reads(ctrl)
        if score == "ratio":
            out[:, k] = enrichment.ratio(k_t, n_t, k_c, n_c)
        elif score == "ratio_lb":
            out[:, k] = enrichment.ratio_bound(k_t, n_t, k_c, n_c, 2.0)
        else:
            out[:, k] = enrichment.poisson_ratio(k_t, n_t, len(cols), k_c, n_c, len(ctrl))
    return out


def regression_scale(raw: np.ndarray, score: str) -> np.ndarray:
    """What models regress on: log10 of a ratio (floored at 0.01: a bound or a Poisson ratio is 0
    for compounds never read on the target), a z-score as it is."""
    if score == "normalized_z":
        return raw.astype(np.float32)
    return np.log10(np.maximum(raw, 1e-2)).astype(np.float32)


def scores_and_labels(tmp: Path, lay: Layout, totals: np.ndarray, table: CountTable, n: int, chunk: int) -> dict:
    """scores.npy and labels.npy a chunk at a time; the raw scores [n, T] float32 stay in memory
    for the hit threshold (1.2 GB for 100M compounds and three targets)."""
    counts = store.load(tmp / "train" / "counts.npy")
    spec = CountSpec.of_layout(lay, totals, n)
    n_t = len(lay.targets)
    raw = np.empty((n, n_t), np.float32)
    scores = store.NpyAppender(tmp / "train" / "scores.npy", np.float32, (n_t,))
    for lo in range(0, n, chunk):
        part = compound_scores(np.asarray(counts[lo : lo + chunk]), spec, table.score)
        raw[lo : lo + chunk] = part
        scores.append(regression_scale(part, table.score))
    scores.close()
    if table.threshold is not None:
        threshold = {t: float(table.threshold) for t in lay.targets}
    else:
        threshold = {t: float(np.quantile(raw[:, k], 1.0 - table.hit_fraction)) for k, t in enumerate(lay.targets)}
    cut = np.array(list(threshold.values()), np.float32)
    # ties at the quantile (a score most compounds share, such as a lower bound of 0): strictly above it
    strict = np.zeros(n_t, bool)
    if table.threshold is None:
        strict = np.array([(raw[:, k] >= cut[k]).mean() > 0.5 for k in range(n_t)])
    labels = store.NpyAppender(tmp / "train" / "labels.npy", np.int8, (n_t,))
    for lo in range(0, n, chunk):
        r = raw[lo : lo + chunk]
        labels.append(np.where(strict, r > cut, r >= cut).astype(np.int8))
    labels.close()
    return threshold
