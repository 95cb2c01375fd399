"""How the data module's batches are read: a strategy chosen by the ``loader`` config group.

A loader has ``prepare(dm)`` (after the prepared data exists: write what it reads), ``setup(dm)``,
``train(dm)`` (the training batches of the current epoch) and ``evaluate(dm, part)`` (the
molecules of ``val`` or ``test`` in order, padding marked with index -1). Two exist:
:class:`MemoryLoader` (``loader=memory``, here) and :class:`belka_lab.loading.dali.DaliLoader`
(``loader=dali``). Both yield the same batches (uint8 ``tokens``, int8 ``labels``, int64 ``index``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader

from belka_lab.core.errors import InputError
from belka_lab.loading.batches import ArrayBatches, OrderedBatches, ShuffledBatches
from belka_lab.loading.resident import ResidentBatches, fits_on, load_tables, table_bytes

if TYPE_CHECKING:
    from collections.abc import Iterable

    from belka_lab.loading.datamodule import BelkaDataModule


class Loader(Protocol):
    name: str

    def prepare(self, dm: BelkaDataModule) -> None: ...

    def setup(self, dm: BelkaDataModule) -> None: ...

    def train(self, dm: BelkaDataModule) -> Iterable[dict]: ...

    def evaluate(self, dm: BelkaDataModule, part: str) -> Iterable[dict]: ...


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
            raise InputError(f"loader.resident={resident!r}: choose auto, true or false")
        self.num_workers = int(num_workers)
        self.pin_memory = pin_memory if pin_memory == "auto" else bool(pin_memory)
        self.resident, self.resident_budget_gb = resident, float(resident_budget_gb)
        self._tables: dict[str, dict] = {}  # device-resident arrays per part

    def prepare(self, dm: BelkaDataModule) -> None:
        pass

    def setup(self, dm: BelkaDataModule) -> None:
        pass

    def train(self, dm: BelkaDataModule) -> DataLoader | ResidentBatches:
        rank, world = dm.rank()
        sampler = ShuffledBatches(dm.train_idx, dm.batch_size, dm.seed, rank, world)
        done = dm.batches_done_in_epoch(len(sampler))
        if done:  # resumed from a checkpoint saved inside an epoch: continue after its last batch
            sampler.set_epoch(dm.trainer.current_epoch)
            sampler.skip_once(done)
        return self._batches(dm, "train", sampler)

    def evaluate(self, dm: BelkaDataModule, part: str) -> DataLoader | ResidentBatches:
        rank, world = dm.rank()
        rows = dm.val_idx if part == "val" else np.arange(dm.n_test)
        return self._batches(
            dm, "train" if part == "val" else "test", OrderedBatches(rows, dm.eval_batch_size, rank, world)
        )

    def pinned(self, device: torch.device) -> bool:
        """Host batches in page-locked memory (asynchronous copies): auto = when training off the CPU."""
        return device.type != "cpu" if self.pin_memory == "auto" else self.pin_memory

    def _batches(self, dm: BelkaDataModule, part: str, sampler) -> DataLoader | ResidentBatches:
        """Batches of ``part``: gathered on the training device when the arrays are resident
        there, else by a DataLoader on the host."""
        files = dm.files(part)
        device = dm.device()
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
                generator=torch.Generator().manual_seed(dm.seed),  # iterators draw from it, not the global stream
            )
        if part not in self._tables or next(iter(self._tables[part].values())).device != device:
            self._tables[part] = load_tables(files, device, progress=dm.prepare_options.progress)
        return ResidentBatches(self._tables[part], sampler)
