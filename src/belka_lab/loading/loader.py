"""How the data module's batches are read: a strategy chosen by the ``loader`` config group.

A loader never sees the data module. It is handed a :class:`Feed` (the arrays' files, the
molecules of each part, the batch sizes, the split) and, for batches, a :class:`Place` (this
process's rank among how many, its device, how far the epoch got). It has ``prepare(feed)``
(after the prepared data exists: write what it reads), ``setup(feed)``, ``train(feed, place)`` (the
training batches of the current epoch) and ``evaluate(feed, place, part)`` (the molecules of
``val`` or ``test`` in order, padding marked with index -1). Two exist: :class:`MemoryLoader`
(``loader=memory``, here) and :class:`belka_lab.loading.dali.DaliLoader` (``loader=dali``). Both
yield the same batches (uint8 ``tokens``, int8 ``labels``, int64 ``index``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader

from belka_lab.core.errors import InputError
from belka_lab.loading.batches import ArrayBatches, OrderedBatches, ShuffledBatches
from belka_lab.loading.resident import ResidentBatches, fits_on, load_tables, table_bytes


@dataclass
class Feed:
    """What a loader reads. ``files[part]`` names the arrays of ``train`` and ``test`` (tokens, and
    labels for train); the molecule rows are known after the data module's setup."""

    prepared_dir: Path
    files: dict[str, dict[str, Path]]
    split: Any  # the split (its fold column family); DALI shards are keyed by it
    fold: int
    batch_size: int
    eval_batch_size: int
    seed: int
    progress: bool
    train_idx: np.ndarray | None = None
    val_idx: np.ndarray | None = None
    n_test: int = 0


@dataclass(frozen=True)
class Place:
    """Where batches go: this process among ``world``, its device, and how far training got."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    epoch: int = 0
    global_step: int = 0
    accumulate: int = 1

    def batches_done_in_epoch(self, per_epoch: int) -> int:
        """Optimizer steps already taken in the current epoch (one per batch), when resuming."""
        if not self.global_step or self.accumulate != 1:
            return 0
        return max(0, self.global_step - self.epoch * per_epoch) % per_epoch


class Loader(Protocol):
    name: str

    def prepare(self, feed: Feed) -> None: ...

    def setup(self, feed: Feed) -> None: ...

    def train(self, feed: Feed, place: Place) -> Iterable[dict]: ...

    def evaluate(self, feed: Feed, place: Place, part: str) -> Iterable[dict]: ...


class MemoryLoader:
    """The memory-mapped arrays gathered by batched samplers. On an accelerator the arrays are
    copied to the device once and batches gathered there (``resident``); otherwise a DataLoader
    reads them on the host (``num_workers``, page-locked with ``pin_memory``)."""

    name = "memory"

    def __init__(
        self,
        num_workers: int = 0,
        pin_memory: bool | str = "auto",
        resident: bool | str = "auto",
        resident_budget_gb: float = 16.0,
    ):
        if resident not in (True, False, "auto"):
            raise InputError(f"data.loader.resident={resident!r}: choose auto, true or false")
        self.num_workers = int(num_workers)
        self.pin_memory = pin_memory if pin_memory == "auto" else bool(pin_memory)
        self.resident, self.resident_budget_gb = resident, float(resident_budget_gb)
        self._tables: dict[str, dict] = {}  # device-resident arrays per part

    def prepare(self, feed: Feed) -> None:
        pass

    def setup(self, feed: Feed) -> None:
        pass

    def train(self, feed: Feed, place: Place) -> DataLoader | ResidentBatches:
        sampler = ShuffledBatches(feed.train_idx, feed.batch_size, feed.seed, place.rank, place.world)
        done = place.batches_done_in_epoch(len(sampler))
        if done:  # resumed from a checkpoint saved inside an epoch: continue after its last batch
            sampler.set_epoch(place.epoch)
            sampler.skip_once(done)
        return self._batches(feed, place, "train", sampler)

    def evaluate(self, feed: Feed, place: Place, part: str) -> DataLoader | ResidentBatches:
        rows = feed.val_idx if part == "val" else np.arange(feed.n_test)
        sampler = OrderedBatches(rows, feed.eval_batch_size, place.rank, place.world)
        return self._batches(feed, place, "train" if part == "val" else "test", sampler)

    def pinned(self, device: torch.device) -> bool:
        """Host batches in page-locked memory (asynchronous copies): auto = when training off the CPU."""
        return device.type != "cpu" if self.pin_memory == "auto" else self.pin_memory

    def _batches(self, feed: Feed, place: Place, part: str, sampler) -> DataLoader | ResidentBatches:
        """Batches of ``part``: gathered on the training device when the arrays are resident
        there, else by a DataLoader on the host."""
        files = feed.files[part]
        device = place.device
        if self.resident == "auto":  # resident where the device has its own memory and the arrays fit in it
            resident = device.type != "cpu" and fits_on(device, table_bytes(files), self.resident_budget_gb * 2**30)
        else:
            resident = bool(self.resident)
        if not resident:
            return DataLoader(
                ArrayBatches(files),
                sampler=sampler,
                batch_size=None,
                num_workers=self.num_workers,
                persistent_workers=self.num_workers > 0,
                pin_memory=self.pinned(device),
                generator=torch.Generator().manual_seed(feed.seed),  # iterators draw from it, not the global stream
            )
        if part not in self._tables or next(iter(self._tables[part].values())).device != device:
            self._tables[part] = load_tables(files, device, progress=feed.progress)
        return ResidentBatches(self._tables[part], sampler)
