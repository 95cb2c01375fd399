"""Molecules that occur again later in a train file: found by hashing their token rows, merged
into their first occurrence (labels combined, conflicting labels named), and repeated row ids
counted. Memory stays bounded on BELKA's 98M molecules (16 bytes a molecule)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from belka_lab.core.errors import InputError, preview
from belka_lab.dataset import store


def hash_rows(tokens: np.ndarray) -> np.ndarray:
    """64-bit hash of each token row: splitmix64 over the row's 18 little-endian words."""
    padded = np.zeros((len(tokens), 144), np.uint8)
    padded[:, : tokens.shape[1]] = tokens
    words = padded.view(np.uint64)
    h = np.zeros(len(tokens), np.uint64)
    with np.errstate(over="ignore"):
        for k in range(words.shape[1]):
            z = (h ^ words[:, k]) + np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = z ^ (z >> np.uint64(31))
    return h


def merge_repeats(path: Path, tmp: Path, chunk: int) -> dict:
    """Merge molecules that appeared in non-consecutive rows; returns counts for the manifest.

    Memory: the 64-bit hash of every molecule and one sorted copy (16 bytes a molecule); only the
    molecules whose hash occurs twice are looked at further."""
    tokens = store.load(tmp / "train" / "tokens.npy")
    n = len(tokens)
    h = np.empty(n, np.uint64)
    for i in range(0, n, chunk):
        h[i : i + chunk] = hash_rows(np.asarray(tokens[i : i + chunk]))
    hs = np.sort(h)
    again = np.unique(hs[1:][hs[1:] == hs[:-1]])  # hashes of more than one molecule
    del hs
    if not len(again):
        return {"repeated_molecules_merged": 0, "duplicate_rows": 0}
    cand = np.concatenate([i + np.flatnonzero(np.isin(h[i : i + chunk], again)) for i in range(0, n, chunk)])
    hc = h[cand]
    del h
    order = np.argsort(hc, kind="stable")  # equal hashes: the earliest molecule first
    starts = np.concatenate([[True], hc[order][1:] != hc[order][:-1]])
    rep = np.empty(len(cand), np.int64)
    rep[order] = cand[order][np.flatnonzero(starts)][np.cumsum(starts) - 1]
    is_member = rep != cand
    members, rep = cand[is_member], rep[is_member]  # ascending molecule rows, and the first of their kind
    collided = ~(np.asarray(tokens[members]) == np.asarray(tokens[rep])).all(axis=1)
    if collided.any():  # equal hashes, different molecules: resolve those groups by exact bytes
        for r in np.unique(rep[collided]):
            first = {np.asarray(tokens[r]).tobytes(): int(r)}
            for j in np.flatnonzero(rep == r):
                rep[j] = first.setdefault(np.asarray(tokens[members[j]]).tobytes(), int(members[j]))
        merged_away = rep != members
        members, rep = members[merged_away], rep[merged_away]
        if len(members) == 0:
            return {"repeated_molecules_merged": 0, "duplicate_rows": 0}
    labels = np.array(store.load(tmp / "train" / "labels.npy"))
    reps = np.unique(rep)
    k = np.searchsorted(reps, rep)
    merged = labels[reps]
    np.maximum.at(merged, k, labels[members])
    lowest = np.where(labels[reps] < 0, 2, labels[reps]).astype(np.int8)
    np.minimum.at(lowest, k, np.where(labels[members] < 0, 2, labels[members]).astype(np.int8))
    conflict = ((merged >= 0) & (lowest <= 1) & (merged != lowest)).any(axis=1)
    first_ids = store.load(tmp / "train" / "first_row_id.npy")
    if conflict.any():
        bad = np.asarray(first_ids[members[conflict[k]]])
        raise InputError(
            f"{path}: {conflict.sum()} molecules appear again later with different `binds` for the same protein (first "
            f"row ids of the repeats {preview(bad.tolist())}); keep one label per molecule and protein"
        )
    rows_per_pair = (labels[reps] >= 0).astype(np.int64)
    np.add.at(rows_per_pair, k, (labels[members] >= 0).astype(np.int64))
    duplicate_rows = int((rows_per_pair - 1).clip(0).sum())
    labels[reps] = merged
    keep = np.ones(n, bool)
    keep[members] = False
    for name, data in [
        ("labels", labels),
        ("tokens", tokens),
        ("bb_ids", store.load(tmp / "train" / "bb_ids.npy")),
        ("first_row_id", first_ids),
    ]:
        out = store.NpyAppender(tmp / "train" / f"{name}.npy.new", data.dtype, data.shape[1:])
        for i in range(0, n, chunk):
            out.append(np.asarray(data[i : i + chunk])[keep[i : i + chunk]])
        out.close()
    del tokens, first_ids
    for name in ("labels", "tokens", "bb_ids", "first_row_id"):
        os.replace(tmp / "train" / f"{name}.npy.new", tmp / "train" / f"{name}.npy")
    return {"repeated_molecules_merged": int(len(members)), "duplicate_rows": duplicate_rows}


def repeated_ids(ids: np.ndarray, chunk: int) -> tuple[int, list[int]]:
    """(rows whose id appeared in an earlier row, up to 5 such ids) over the int64 ids of every row.

    Kaggle's ids are dense (0..N-1): one flag a byte over their span finds repeats in one pass; sparse ids
    are sorted instead (8 bytes a row)."""
    n = len(ids)
    if n == 0:
        return 0, []
    lo, hi = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    for i in range(0, n, chunk):
        part = np.asarray(ids[i : i + chunk])
        lo, hi = min(lo, int(part.min())), max(hi, int(part.max()))
    repeated, examples = 0, []
    if hi - lo < 4 * n:
        seen = np.zeros(hi - lo + 1, bool)
        for i in range(0, n, chunk):
            u, cnt = np.unique(np.asarray(ids[i : i + chunk]) - lo, return_counts=True)
            before = seen[u]
            repeated += int(np.where(before, cnt, cnt - 1).sum())
            examples.extend((u[before | (cnt > 1)][:5] + lo).tolist())
            seen[u] = True
    else:
        s = np.sort(np.asarray(ids))
        again = s[1:] == s[:-1]
        repeated, examples = int(again.sum()), np.unique(s[1:][again])[:5].tolist()
    return repeated, sorted(set(examples))[:5]
