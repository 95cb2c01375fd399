"""Fold assignment and train/validation selection.

``fold_stratified``: the reference write-up's StratifiedKFold(15, shuffle=True,
random_state=42) on the number of proteins a molecule binds.

``fold_bb``: building-block-disjoint folds. Every building block (one id space across the
three positions) is assigned to one of ``n_groups`` groups at random. A molecule whose
three blocks all fall in group g has ``fold_bb = g``; a molecule mixing groups has -1.
Validating on fold g uses the molecules with ``fold_bb == g`` and trains only on
molecules with no block in group g, so no building block is on both sides. The price is
that about 1 - (1 - 1/n_groups)^3 of the molecules sit out each fold's training.
"""

from __future__ import annotations

import numpy as np

from belka_lab.errors import InputError


def stratified_folds(labels: np.ndarray, n_splits: int = 15, seed: int = 42, chunk: int = 1 << 22) -> np.ndarray:
    """int8 fold per molecule; unknown labels (-1) count as not binding.

    The same folds as scikit-learn's ``StratifiedKFold(n_splits, shuffle=True, random_state=seed)``
    on the number of proteins a molecule binds (tested equal), computed in int8 arrays a chunk of
    `labels` at a time: about 3 bytes a molecule instead of scikit-learn's ~60, so BELKA's 98M
    molecules fit in a small memory. Data too small to stratify (every label-sum class rarer than
    n_splits) falls back to shuffled KFold, and fewer molecules than folds to a seeded round-robin.
    """
    n = len(labels)
    y = np.empty(n, np.int8)
    for i in range(0, n, chunk):
        y[i : i + chunk] = np.clip(np.asarray(labels[i : i + chunk]), 0, 1).sum(axis=1)
    fold = np.full(n, -1, dtype=np.int8)
    if n < n_splits:
        fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % n_splits
        return fold
    present = [v for v in range(labels.shape[1] + 1) if (y == v).any()]
    counts = {v: int((y == v).sum()) for v in present}
    if max(counts.values()) < n_splits:
        from sklearn.model_selection import KFold

        for k, (_, val) in enumerate(KFold(n_splits, shuffle=True, random_state=seed).split(y)):
            fold[val] = k
        return fold
    # scikit-learn's procedure: classes in order of first appearance; each class's share of every
    # fold is the round-robin over the class-sorted molecules; one shuffle per class, in that order
    classes = sorted(present, key=lambda v: int(np.argmax(y == v)))
    rng = np.random.RandomState(seed)
    start = 0
    for v in classes:
        end = start + counts[v]
        allocation = [(end - 1 - i) // n_splits - (start - 1 - i) // n_splits for i in range(n_splits)]
        folds_for_class = np.repeat(np.arange(n_splits, dtype=np.int8), allocation)
        rng.shuffle(folds_for_class)  # the same permutation as on scikit-learn's int64 array: it depends on length only
        fold[y == v] = folds_for_class
        start = end
    return fold


def building_block_groups(n_blocks: int, n_groups: int = 5, seed: int = 42) -> np.ndarray:
    """Group (0..n_groups-1) of each building-block id."""
    if not 2 <= n_groups <= 8:
        raise InputError(f"n_bb_groups must be between 2 and 8 (got {n_groups})")
    return np.random.default_rng(seed).integers(0, n_groups, n_blocks).astype(np.int8)


def bb_folds(bb_ids: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fold_bb int8, bb_group_mask uint8) per molecule from its block ids [N, 3]."""
    g = groups[bb_ids]
    mask = np.bitwise_or.reduce(np.left_shift(np.uint8(1), g.astype(np.uint8)), axis=1).astype(np.uint8)
    fold = np.where((g == g[:, :1]).all(axis=1), g[:, 0], -1).astype(np.int8)
    return fold, mask


class StratifiedSplit:
    """Validate on ``fold_stratified == fold``, train on the rest."""

    column = "fold_stratified"
    shard_key = "fold_stratified"  # TFRecord shards are grouped by fold

    def shard_parts(self, keys: np.ndarray, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """(train, validation) selections over shard keys."""
        return keys != fold, keys == fold

    def indices(self, store, fold: int) -> tuple[np.ndarray, np.ndarray]:
        folds = np.asarray(store.train(self.column))
        n = int(store.manifest["folds"][self.column]["n_folds"])
        _check_fold(fold, n, self.column)
        return np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)


class BuildingBlockSplit:
    """Validate on ``fold_bb == fold``; train on molecules with no block in that group."""

    column = "fold_bb"
    shard_key = "bb_group_mask"  # TFRecord shards are grouped by the block groups a molecule touches

    def shard_parts(self, keys: np.ndarray, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """(train, validation) selections over shard keys: fold_bb == g exactly when the mask is 1 << g."""
        return (keys & (1 << fold)) == 0, keys == (1 << fold)

    def indices(self, store, fold: int) -> tuple[np.ndarray, np.ndarray]:
        n = int(store.manifest["folds"][self.column]["n_folds"])
        _check_fold(fold, n, self.column)
        folds = np.asarray(store.train(self.column))
        mask = np.asarray(store.train("bb_group_mask"))
        return np.flatnonzero((mask & (1 << fold)) == 0), np.flatnonzero(folds == fold)


def _check_fold(fold: int, n: int, column: str) -> None:
    if not 0 <= fold < n:
        raise InputError(f"fold={fold} does not exist for {column}: choose 0..{n - 1}")
