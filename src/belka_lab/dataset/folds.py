"""Fold assignment and train/validation selection.

``fold_stratified``: the reference write-up's StratifiedKFold(15, shuffle=True,
random_state=42) on the number of proteins a molecule binds.

``fold_bb``: building-block-disjoint folds. Every building block (one id space across the
three positions) is assigned to one of ``n_groups`` groups at random. A molecule whose
three blocks all fall in group g has ``fold_bb = g``; a molecule mixing groups has -1.
Validating on fold g trains only on molecules with no block in group g, so no held-out
building block is seen in training, and scores the validation molecules in the
leaderboard's cells (:class:`BuildingBlockSplit`): ``non_share`` (``fold_bb == g``),
``partial`` (a sample of the molecules with some, not all, blocks in g) and ``share`` (a
sample of the molecules with no block in g, taken out of training).

``disynthon`` (:class:`DisynthonSplit`, KinDEL's): a share of the pairs of building blocks of
each two cycles is held out; every molecule with a held pair validates, and no molecule sharing
any pair of blocks with a validation molecule trains.

A split's :meth:`select` returns a :class:`Selection`: the train and validation molecules
and each validation molecule's cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold

from belka_lab.core.errors import InputError, warn


@dataclass(frozen=True)
class Selection:
    """Which molecules train and validate, and the validation cell of each validation molecule.

    ``cell`` is int8 aligned with ``val`` (an index into ``names``). With one name the
    validation fold is one cell, scored per protein; with several, each (protein, cell) is
    scored apart and the validation mAP is the mean over the cells, as on the leaderboard."""

    train: np.ndarray
    val: np.ndarray
    cell: np.ndarray
    names: tuple[str, ...]
    where: str  # the fold, as the results table and messages name it: "fold_bb=0"


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
    """Validate on ``fold_stratified == fold``, train on the rest; the validation fold is one cell."""

    column = "fold_stratified"
    shard_key = "fold_stratified"  # TFRecord shards are grouped by fold

    def shard_parts(self, keys: np.ndarray, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """(train, validation) selections over shard keys."""
        return keys != fold, keys == fold

    def select(self, store, fold: int) -> Selection:
        folds = np.asarray(store.train(self.column))
        n = int(store.manifest["folds"][self.column]["n_folds"])
        _check_fold(fold, n, self.column)
        val = np.flatnonzero(folds == fold)
        where = f"{self.column}={fold}"
        return Selection(np.flatnonzero(folds != fold), val, np.zeros(len(val), np.int8), (where,), where)


CELLS = ("share", "partial", "non_share")  # BuildingBlockSplit's cells, in the leaderboard's order


class BuildingBlockSplit:
    """Train on molecules with no block in group ``fold``; validate in the leaderboard's cells.

    - ``non_share``: molecules whose blocks (every cycle's) are all in the group (``fold_bb == fold``);
    - ``partial``: a random sample of the molecules with some but not all blocks in the group,
      ``partial`` times as many as ``non_share`` (never trained on: they hold unseen blocks);
    - ``share``: a random sample of the molecules with no block in the group, ``share`` times as
      many as ``non_share``, taken out of training (blocks seen, molecules not).

    ``share=0 partial=0`` is the split of belka_lab 0.3.0: validation is ``non_share`` alone
    and training keeps every molecule without a held-out block. Samples are drawn with
    ``seed`` and the fold, so every run of a fold validates on the same molecules."""

    column = "fold_bb"
    shard_key = "bb_group_mask"  # TFRecord shards are grouped by the block groups a molecule touches

    def __init__(self, share: float = 1.0, partial: float = 1.0, seed: int = 0):
        if share < 0 or partial < 0:
            raise InputError(f"data.split.share={share}, data.split.partial={partial}: sample sizes must be >= 0")
        self.share, self.partial, self.seed = float(share), float(partial), int(seed)

    @property
    def samples(self) -> bool:
        """Whether a cell is a sample of molecules (a selection TFRecord shards cannot express)."""
        return self.share > 0 or self.partial > 0

    def shard_parts(self, keys: np.ndarray, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """(train, validation) selections over shard keys: fold_bb == g exactly when the mask is 1 << g."""
        if self.samples:
            raise InputError(
                "loader=dali reads whole shards, and split=bb's share and partial cells are samples of molecules; "
                "validate on non_share alone with data.split.share=0 data.split.partial=0, or use loader=memory"
            )
        return (keys & (1 << fold)) == 0, keys == (1 << fold)

    def select(self, store, fold: int) -> Selection:
        n = int(store.manifest["folds"][self.column]["n_folds"])
        _check_fold(fold, n, self.column)
        mask = np.asarray(store.train("bb_group_mask"))
        bit = np.uint8(1 << fold)
        non_share = np.flatnonzero(mask == bit)
        if len(non_share) == 0:
            raise InputError(
                f"fold_bb={fold} holds no molecule whose blocks are all in group {fold}: there is nothing to "
                f"validate on; use fewer building-block groups (data.prepare.n_bb_groups) or a bigger library"
            )
        unseen = np.flatnonzero(mask & bit)
        partial_pool = np.setdiff1d(unseen, non_share, assume_unique=True)
        train = np.flatnonzero((mask & bit) == 0)
        rng = np.random.default_rng([self.seed, fold])
        share = _sample(rng, train, self.share * len(non_share))
        partial = _sample(rng, partial_pool, self.partial * len(non_share))
        if len(share) > 0.25 * len(train):
            warn(
                f"split=bb fold {fold}: the share cell takes {len(share)} of the {len(train)} molecules training could "
                f"use ({len(share) / len(train):.0%}); lower split.share, or use more building-block groups "
                f"(data.prepare.n_bb_groups)"
            )
        train = np.setdiff1d(train, share, assume_unique=True)
        if len(train) == 0:
            raise InputError(
                f"split=bb fold {fold} leaves nothing to train on: the share cell takes all {len(share)} molecules "
                f"without a block of group {fold}; lower data.split.share (0: no share cell), or use more "
                f"building-block groups (data.prepare.n_bb_groups) or a bigger library"
            )
        parts = [(name, idx) for name, idx in zip(CELLS, (share, partial, non_share)) if len(idx)]
        val = np.concatenate([idx for _, idx in parts])
        cell = np.concatenate([np.full(len(idx), k, np.int8) for k, (_, idx) in enumerate(parts)])
        order = np.argsort(val, kind="stable")
        return Selection(train, val[order], cell[order], tuple(name for name, _ in parts), f"{self.column}={fold}")


class DisynthonSplit:
    """Validate on the molecules holding a held-out disynthon; train on those sharing no pair of
    building blocks (of the same two cycles) with any validation molecule.

    For each pair of cycles, every disynthon present gets a uniform number (``seed``); fold f holds
    those in [f·fraction, (f + 1)·fraction), so folds are disjoint and there are ⌊1/fraction⌋ of
    them. Molecules that share a pair with validation but hold none are in neither set: the
    selection says how many. One validation cell."""

    column = "disynthon"
    shard_key = None

    def __init__(self, fraction: float = 0.02, seed: int = 0):
        if not 0.0 < fraction <= 0.5:
            raise InputError(f"data.split.fraction={fraction}: hold between 0 and half of the disynthons")
        self.fraction, self.seed = float(fraction), int(seed)

    def shard_parts(self, keys: np.ndarray, fold: int):
        raise InputError("loader=dali reads whole shards, which split=disynthon does not define; use loader=memory")

    def _keys(self, bb: np.ndarray, i: int, j: int, n_blocks: int) -> np.ndarray:
        return bb[:, i].astype(np.int64) * n_blocks + bb[:, j]

    def select(self, store, fold: int) -> Selection:
        n_folds = int(1.0 / self.fraction)
        _check_fold(fold, n_folds, self.column)
        bb = np.asarray(store.train("bb_ids"))
        n_blocks = int(store.manifest["sizes"]["building_blocks"])
        pairs = [(i, j) for i in range(bb.shape[1]) for j in range(i + 1, bb.shape[1])]
        val = np.zeros(len(bb), bool)
        for p, (i, j) in enumerate(pairs):
            keys = self._keys(bb, i, j, n_blocks)
            present = np.unique(keys)
            u = np.random.default_rng([self.seed, p]).random(len(present))
            held = present[(u >= fold * self.fraction) & (u < (fold + 1) * self.fraction)]
            val |= np.isin(keys, held)
        if not val.any():
            raise InputError(f"disynthon={fold} holds no molecule: raise data.split.fraction or use a bigger library")
        shared = np.zeros(len(bb), bool)
        for i, j in pairs:
            keys = self._keys(bb, i, j, n_blocks)
            shared |= np.isin(keys, np.unique(keys[val]))
        train = np.flatnonzero(~shared)
        val_idx = np.flatnonzero(val)
        left_out = int(shared.sum() - val.sum())
        if len(train) == 0:
            raise InputError(
                f"disynthon={fold}: every molecule shares a pair of blocks with validation; lower data.split.fraction"
            )
        if left_out > len(train):
            warn(
                f"split=disynthon fold {fold}: {left_out} molecules share a pair of blocks with validation and are "
                f"left out, more than the {len(train)} that train; lower data.split.fraction"
            )
        where = f"{self.column}={fold}"
        return Selection(train, val_idx, np.zeros(len(val_idx), np.int8), (where,), where)


def _sample(rng: np.random.Generator, pool: np.ndarray, size: float) -> np.ndarray:
    """A sorted random sample of round(size) rows of `pool` (all of it when it is smaller)."""
    k = min(len(pool), int(round(size)))
    return np.sort(rng.choice(pool, k, replace=False)) if k else pool[:0]


def _check_fold(fold: int, n: int, column: str) -> None:
    if not 0 <= fold < n:
        raise InputError(f"fold={fold} does not exist for {column}: choose 0..{n - 1}")
