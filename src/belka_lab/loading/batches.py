"""Batched index samplers and the array view they index.

A sampler yields a whole batch of molecule indices at a time, and the dataset gathers
that batch from the memory-mapped arrays in one fancy-indexing call: no per-item
``__getitem__``. Each process of a distributed run takes a disjoint, equally long share.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from belka_lab.core.errors import InputError


def _permutation(key: tuple[int, int], indices: np.ndarray) -> np.ndarray:
    return np.random.default_rng(list(key)).permutation(indices)


class _DrawnAhead:
    """The next epoch's permutation, drawn in a thread while this epoch trains (numpy releases
    the GIL while it shuffles; BELKA's 98.4M indices take seconds)."""

    def __init__(self, key: tuple[int, int], indices: np.ndarray):
        self.key, self.result = key, None
        self.thread = threading.Thread(target=self._draw, args=(indices,), daemon=True, name="belka-next-permutation")
        self.thread.start()

    def _draw(self, indices: np.ndarray) -> None:
        self.result = _permutation(self.key, indices)

    def take(self) -> np.ndarray:
        self.thread.join()
        return self.result


class ShuffledBatches:
    """Training batches: a fresh permutation per epoch (seed + epoch), fixed size, drop_last.

    ``skip_once(n)`` makes the next pass start at its n-th batch (resuming inside an epoch);
    later passes are whole again. With ``draw_ahead`` the next epoch's permutation is drawn in
    the background (one more index array in memory), so an epoch does not start with seconds
    of shuffling while the accelerator waits; the batches are the same either way."""

    def __init__(
        self,
        indices: np.ndarray,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        draw_ahead: bool = True,
    ):
        self.indices = np.asarray(indices, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        self._skip = 0
        self.draw_ahead, self._ahead, self.drawn_ahead_used = draw_ahead, None, 0
        if len(self) == 0:
            raise InputError(
                f"{len(self.indices)} training molecules cannot fill one batch of {batch_size} per process; lower "
                f"data.batch_size"
            )

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
        perm = self._epoch_permutation()
        n = len(self) * self.batch_size
        mine = perm[self.rank * n : (self.rank + 1) * n].reshape(-1, self.batch_size)
        skip, self._skip = self._skip, 0
        return np.sort(mine[skip:], axis=1) if sort else mine[skip:]

    def _epoch_permutation(self) -> np.ndarray:
        key = (self.seed, self.epoch)
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.key == key:
            perm = ahead.take()
            self.drawn_ahead_used += 1
        else:
            perm = _permutation(key, self.indices)
        if self.draw_ahead:
            self._ahead = _DrawnAhead((self.seed, self.epoch + 1), self.indices)
        return perm

    def __getstate__(self) -> dict:
        return self.__dict__ | {"_ahead": None}  # a thread does not travel to another process

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
