"""Choosing rows of a library too large to sort: the best by a value, a random sample, the blocks
present in a cycle — each read a chunk of rows at a time, in memory that grows with what is kept,
not with the library."""

from __future__ import annotations

import numpy as np

CHUNK = 4_000_000


def best(values, k: int, chunk: int = CHUNK) -> np.ndarray:
    """Rows of the ``k`` largest finite ``values`` (an array or a memory-mapped column), best first,
    ties in row order — as a stable sort of the whole column would give them."""
    rows, kept = np.zeros(0, np.int64), np.zeros(0, np.float32)
    for lo in range(0, len(values), chunk):
        v = np.asarray(values[lo : lo + chunk], np.float32)
        ok = np.flatnonzero(np.isfinite(v))
        rows, kept = np.concatenate([rows, ok + lo]), np.concatenate([kept, v[ok]])
        order = np.lexsort((rows, -kept))[:k]
        rows, kept = rows[order], kept[order]
    return rows


def finite(values, chunk: int = CHUNK) -> int:
    """How many of ``values`` are finite."""
    return sum(
        int(np.isfinite(np.asarray(values[lo : lo + chunk], np.float32)).sum()) for lo in range(0, len(values), chunk)
    )


def sample(values, k: int, exclude: np.ndarray, seed: int = 0) -> np.ndarray:
    """Up to ``k`` random rows with a finite value, none of ``exclude``, in row order."""
    rng = np.random.default_rng(seed)
    n = len(values)
    want = min(n, 2 * (k + len(exclude)) + 1000)
    while True:  # draw more while too few of the drawn rows have a value (a run predicts only its fold)
        rows = np.sort(rng.choice(n, size=want, replace=False))
        rows = rows[~np.isin(rows, exclude) & np.isfinite(np.asarray(values[rows], np.float32))]
        if len(rows) >= k or want == n:
            return np.sort(rng.permutation(rows)[:k])
        want = min(n, 4 * want)


def present(ids, chunk: int = CHUNK) -> np.ndarray:
    """The distinct values of ``ids``, sorted."""
    seen = np.zeros(0, np.int64)
    for lo in range(0, len(ids), chunk):
        seen = np.union1d(seen, np.unique(np.asarray(ids[lo : lo + chunk])))
    return seen
