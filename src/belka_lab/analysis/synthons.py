"""Mono- and disynthon tables: what the compounds sharing one building block (or a pair) read
together.

A DEL chemist looks at building blocks, not only compounds: a block (monosynthon) or a pair of
blocks from two cycles (disynthon) that enriches across many of its compounds is a stronger
signal than one compound's few reads. For each target and each set of ``order`` cycles, the
compounds are grouped by their blocks there and their reads summed; the group's enrichment is
del_qsar's R of the summed reads (``dataset/enrichment.py``: the control's reads carry how many
compounds, and how much of each, the group holds), with the interval between the R at which its
z statistic is +2 and −2. A target whose count table names no control is read against the
library load the same way (``reads_load``); without a load either, against an even share of its
reads (``expected_reads``: the group's compounds / N of them, known exactly, so the interval is the
limit of del_qsar's as the control's depth grows). ``reference`` says which, per row. Without read
counts (a BELKA-style file of binds) a group's value is its hit rate with a Clopper–Pearson 95%
interval.

Groups are formed on the prepared integer arrays (``train/bb_ids.npy``: one global block id per
cycle) with ``np.bincount`` over a combined key, in chunks of rows: no strings, and memory that
does not grow with the library (``benchmarks memory --jobs synthons``). A run's predictions, where
given, add the mean predicted value of the group's predicted compounds (``predicted``): the model
smooths sparse counts, which is what a chemist reads it for.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import beta

from belka_lab.dataset import enrichment
from belka_lab.dataset.count_spec import CountSpec

CHUNK = 4_000_000  # rows summed at a time


def cycle_sets(n_cycles: int, order: int) -> list[tuple[int, ...]]:
    """Every set of ``order`` cycles (0-based), in order: (0,), (1,), … or (0, 1), (0, 2), …"""
    return list(combinations(range(n_cycles), order))


def _sums(bb_ids, columns: np.ndarray, cycles: tuple[int, ...], n_bb: int, predicted=None, chunk: int = CHUNK):
    """Per key of the blocks in ``cycles`` (row-major over ``n_bb`` ids per cycle): compounds, the
    summed ``columns`` [N, K] and, with ``predicted`` [N, T] (NaN: not predicted), the summed
    predictions and how many there were."""
    bins = n_bb ** len(cycles)
    n = np.zeros(bins, np.int64)
    sums = np.zeros((columns.shape[1], bins), np.float64)
    p_sum = p_n = None
    if predicted is not None:
        p_sum, p_n = np.zeros((predicted.shape[1], bins)), np.zeros((predicted.shape[1], bins), np.int64)
    for lo in range(0, len(bb_ids), chunk):
        ids = np.asarray(bb_ids[lo : lo + chunk][:, list(cycles)], np.int64)
        key = np.zeros(len(ids), np.int64)
        for c in range(len(cycles)):
            key = key * n_bb + ids[:, c]
        n += np.bincount(key, minlength=bins)
        block = np.asarray(columns[lo : lo + chunk])  # integer counts: one column at a time becomes float
        for j in range(block.shape[1]):
            sums[j] += np.bincount(key, weights=block[:, j].astype(np.float64), minlength=bins)
        if predicted is not None:
            p = np.asarray(predicted[lo : lo + chunk], np.float64)
            for t in range(p.shape[1]):
                have = ~np.isnan(p[:, t])
                p_sum[t] += np.bincount(key[have], weights=p[have, t], minlength=bins)
                p_n[t] += np.bincount(key[have], minlength=bins)
    return n, sums, p_sum, p_n


def _blocks_of(keys: np.ndarray, n_cycles_in_key: int, n_bb: int) -> np.ndarray:
    """The block ids [K, n] a combined key was made of."""
    out = np.zeros((len(keys), n_cycles_in_key), np.int64)
    rest = keys.copy()
    for c in range(n_cycles_in_key - 1, -1, -1):
        out[:, c], rest = rest % n_bb, rest // n_bb
    return out


def table(
    bb_ids,
    targets: tuple[str, ...],
    order: int,
    *,
    counts=None,
    spec: CountSpec | None = None,
    labels=None,
    predicted=None,
    block_smiles: dict[int, str] | None = None,
    min_compounds: int = 1,
    chunk: int = CHUNK,
) -> pd.DataFrame:
    """The ``order``-synthon table of a library: one row per (target, cycles, blocks) present, ranked
    within each (target, cycles) by the lower end of the value's interval.

    ``bb_ids`` [N, C] block ids; with ``counts`` [N, S] and ``spec`` the value is the enrichment of the
    summed reads (``reads_target``, ``reference`` and its ``reads_control``, ``reads_load`` or
    ``expected_reads``, ``enrichment``, ``enrichment_lo``, ``enrichment_hi``), else ``labels``
    [N, T] (1 binds, 0 not, -1 unknown) give ``positives``, ``hit_rate`` and its interval.
    ``predicted`` [N, T] (NaN where a compound was not predicted) adds ``predicted`` and
    ``predicted_compounds``."""
    if counts is None and labels is None:
        raise ValueError("a synthon table needs read counts (with their spec) or labels")
    n_cycles = bb_ids.shape[1]
    if not 1 <= order <= n_cycles:
        raise ValueError(f"order {order}: the library has {n_cycles} cycles")
    n_bb = int(np.asarray(bb_ids[: min(len(bb_ids), chunk)]).max(initial=0)) + 1
    for lo in range(chunk, len(bb_ids), chunk):
        n_bb = max(n_bb, int(np.asarray(bb_ids[lo : lo + chunk]).max()) + 1)
    if counts is not None:
        cols = [c for t in range(len(targets)) for c in spec.target_cols[t]]
        cols += [c for k in range(spec.n_controls) for c in spec.control_cols[k]]
        if spec.load_col is not None and "load" in {spec.reference(t) for t in range(len(targets))}:
            cols.append(spec.load_col)  # summed last: the reference of targets without a control
        columns = _Columns(counts, cols)
    else:
        columns = _Labels(labels)
    names = np.array([(block_smiles or {}).get(b, "") for b in range(n_bb)], dtype=object)
    frames = []
    for cycles in cycle_sets(n_cycles, order):
        n, sums, p_sum, p_n = _sums(bb_ids, columns, cycles, n_bb, predicted, chunk)
        present = np.flatnonzero(n >= max(1, min_compounds))
        blocks = _blocks_of(present, len(cycles), n_bb)
        for t, name in enumerate(targets):
            f = pd.DataFrame({"target": np.full(len(present), name, object)})
            f["cycles"] = "+".join(str(c + 1) for c in cycles)
            for j, c in enumerate(cycles):
                f[f"bb_{c + 1}"] = blocks[:, j]
                if block_smiles is not None:
                    f[f"block_{c + 1}"] = names[blocks[:, j]]
            f["compounds"] = n[present]
            if counts is not None:
                f = _enrichment(f, sums, present, spec, t)
                rank = "enrichment_lo"
            else:
                f = _hit_rate(f, sums, present, t)
                rank = "hit_rate_lo"
            if predicted is not None:
                have = p_n[t, present]
                with np.errstate(invalid="ignore", divide="ignore"):
                    f["predicted"] = np.where(have > 0, p_sum[t, present] / np.maximum(have, 1), np.nan)
                f["predicted_compounds"] = have
            frames.append(f.sort_values([rank, "compounds"], ascending=False, kind="stable"))
    out = pd.concat(frames, ignore_index=True)
    for c in range(n_cycles):  # a cycle outside a row's set: block -1, no SMILES
        if f"bb_{c + 1}" in out:
            out[f"bb_{c + 1}"] = out[f"bb_{c + 1}"].fillna(-1).astype(np.int64)
        if f"block_{c + 1}" in out:
            out[f"block_{c + 1}"] = out[f"block_{c + 1}"].fillna("")
    out.insert(2, "rank", out.groupby(["target", "cycles"]).cumcount() + 1)
    return out


class _Columns:
    """Rows of chosen columns of a count array, read a chunk at a time."""

    def __init__(self, counts, cols: list[int]):
        self.counts, self.cols = counts, cols
        self.shape = (len(counts), len(cols))

    def __getitem__(self, rows: slice) -> np.ndarray:
        return np.asarray(self.counts[rows])[:, self.cols]


class _Labels:
    """Per target: known (label ≥ 0) and positive (label = 1), as columns to sum."""

    def __init__(self, labels):
        self.labels = labels
        self.shape = (len(labels), 2 * labels.shape[1])

    def __getitem__(self, rows: slice) -> np.ndarray:
        y = np.asarray(self.labels[rows])
        return np.concatenate([(y >= 0), (y == 1)], axis=1)


def _enrichment(f: pd.DataFrame, sums: np.ndarray, present: np.ndarray, spec: CountSpec, t: int):
    start = sum(len(spec.target_cols[i]) for i in range(t))
    k_t = sums[start : start + len(spec.target_cols[t]), present].sum(0)
    n_t = spec.reads(spec.target_cols[t])
    f["reads_target"] = k_t.astype(np.int64)
    f["reference"] = against = spec.reference(t)
    if against == "even share":
        return _against_share(f, k_t, n_t, f["compounds"].to_numpy() / spec.n_compounds)
    if against == "control":
        c = spec.control_of[t]
        c_start = sum(len(x) for x in spec.target_cols) + sum(len(spec.control_cols[i]) for i in range(c))
        k_c = sums[c_start : c_start + len(spec.control_cols[c]), present].sum(0)
        n_c = spec.reads(spec.control_cols[c])
        f["reads_control"] = k_c.astype(np.int64)
    else:
        k_c, n_c = sums[-1, present], spec.reads([spec.load_col])  # the load: summed last
        f["reads_load"] = k_c.astype(np.int64)
    f["enrichment"] = enrichment.ratio(k_t, n_t, k_c, n_c)
    f["enrichment_lo"] = enrichment.ratio_bound(k_t, n_t, k_c, n_c, 2.0)
    f["enrichment_hi"] = enrichment.ratio_bound(k_t, n_t, k_c, n_c, -2.0)
    return f


def _against_share(f: pd.DataFrame, k_t: np.ndarray, n_t: float, share: np.ndarray) -> pd.DataFrame:
    """Enrichment against an exactly known reference, the group's ``share`` of the library:
    R = [(k_t + 3/8)/n_t] / share, and the R at which z = 2(√(k_t + 3/8) − √(R·n_t·share)) is ±2
    (del_qsar's z with a control of unbounded depth)."""
    expected = n_t * share
    root = np.sqrt(np.asarray(k_t, np.float64) + enrichment.PSEUDO)
    f["expected_reads"] = expected
    f["enrichment"] = root**2 / expected
    f["enrichment_lo"] = np.maximum(root - 1.0, 0.0) ** 2 / expected
    f["enrichment_hi"] = (root + 1.0) ** 2 / expected
    return f


def _hit_rate(f: pd.DataFrame, sums: np.ndarray, present: np.ndarray, t: int):
    n_targets = sums.shape[0] // 2
    known, pos = sums[t, present], sums[n_targets + t, present]
    f["known"], f["positives"] = known.astype(np.int64), pos.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        f["hit_rate"] = np.where(known > 0, pos / np.maximum(known, 1), np.nan)
    f["hit_rate_lo"] = np.where(pos > 0, beta.ppf(0.025, np.maximum(pos, 1), known - pos + 1), 0.0)
    f["hit_rate_hi"] = np.where(pos < known, beta.ppf(0.975, pos + 1, np.maximum(known - pos, 1)), 1.0)
    return f
