"""Batched index samplers and the array view they index.

A sampler yields a whole batch of molecule indices at a time, and the dataset gathers
that batch from the memory-mapped arrays in one fancy-indexing call: no per-item
``__getitem__``. Each process of a distributed run takes a disjoint, equally long share.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


class ShuffledBatches:
    """Training batches: a fresh permutation per epoch (seed + epoch), fixed size, drop_last.

    ``skip_once(n)`` makes the next pass start at its n-th batch (resuming inside an epoch);
    later passes are whole again."""

    def __init__(self, indices: np.ndarray, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.indices = np.asarray(indices, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        self._skip = 0
        if len(self) == 0:
            raise ValueError(f"{len(self.indices)} training molecules cannot fill one batch of {batch_size} per process; lower data.batch_size")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def skip_once(self, batches: int) -> None:
        self._skip = int(batches)

    def __len__(self) -> int:
        return len(self.indices) // (self.batch_size * self.world_size)

    def epoch_batches(self, sort: bool = True) -> np.ndarray:
        """This process's batches of the current epoch, [batches, batch_size], each sorted
        (sorted gathers read the memory map in order; ``sort=False`` leaves that to the
        caller, e.g. on a device); a pending ``skip_once`` is applied."""
        perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.indices)
        n = len(self) * self.batch_size
        mine = perm[self.rank * n : (self.rank + 1) * n].reshape(-1, self.batch_size)
        skip, self._skip = self._skip, 0
        return np.sort(mine[skip:], axis=1) if sort else mine[skip:]

    def __iter__(self):
        yield from self.epoch_batches()


class OrderedBatches:
    """Evaluation batches in order, every batch full: the last is padded with index -1."""

    def __init__(self, indices: np.ndarray, batch_size: int, rank: int = 0, world_size: int = 1):
        indices = np.asarray(indices, dtype=np.int64)
        per_rank = -(-len(indices) // world_size)
        n_batches = max(1, -(-per_rank // batch_size))
        padded = np.full(n_batches * batch_size * world_size, -1, np.int64)
        padded[: len(indices)] = indices
        self.batches = padded.reshape(world_size, n_batches, batch_size)[rank]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        yield from self.batches


class ArrayBatches(torch.utils.data.Dataset):
    """Gathers a batch of rows from .npy arrays; arrays are memory-mapped lazily per process."""

    def __init__(self, files: dict[str, Path]):
        self.files = {k: Path(v) for k, v in files.items()}
        self._arrays: dict[str, np.ndarray] | None = None

    def _open(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {k: np.load(v, mmap_mode="r") for k, v in self.files.items()}
        return self._arrays

    def __len__(self) -> int:
        return len(self._open()["tokens"])

    def __getitem__(self, index: np.ndarray) -> dict[str, torch.Tensor]:
        arrays = self._open()
        rows = np.where(index >= 0, index, 0)
        batch = {k: torch.from_numpy(np.ascontiguousarray(a[rows])) for k, a in arrays.items()}
        batch["index"] = torch.from_numpy(np.asarray(index))
        return batch

    def __getstate__(self):
        return {"files": self.files, "_arrays": None}
