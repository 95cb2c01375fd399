"""Device-resident batches: the arrays live on the training device, batches are gathered there.

On a GPU, BELKA's 98.4M molecules × 142 uint8 tokens (14 GB) plus labels fit in memory; the
memory backend then copies them to the device once and draws every batch with an
``index_select`` on the device — no worker processes, no per-batch host→device copy, no
host round-trip. The batch order is the host path's exactly: the same samplers (one
permutation per epoch, seeded, each batch sorted — on the device), their index arrays moved
to the device once per pass.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from belka_lab.core.progress import bar as progress_bar
from belka_lab.loading.batches import OrderedBatches, ShuffledBatches


def load_tables(
    files: dict, device: torch.device, chunk_rows: int = 1 << 22, progress: bool = False
) -> dict[str, torch.Tensor]:
    """The .npy arrays in ``files`` as tensors on ``device``, copied in chunks (no full host copy)."""
    tables = {}
    for name, path in files.items():
        array = np.load(path, mmap_mode="r")
        out = torch.empty(array.shape, dtype=_torch_dtype(array.dtype), device=device)
        copied = progress_bar(len(array), f"{name} → {device}", "row", progress and len(array) > chunk_rows)
        for start in range(0, len(array), chunk_rows):
            with warnings.catch_warnings():  # the read-only memory map is only read from
                warnings.simplefilter("ignore", UserWarning)
                chunk = torch.from_numpy(np.ascontiguousarray(array[start : start + chunk_rows]))
            out[start : start + chunk_rows].copy_(chunk)
            copied.update(len(chunk))
        copied.close()
        tables[name] = out
    return tables


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(1, dtype=dtype)).dtype


def fits_on(device: torch.device, nbytes: int, budget_bytes: float) -> bool:
    """Whether arrays of ``nbytes`` may live on ``device``: within the budget and at most half
    of the device's free memory. A device that cannot report its memory (e.g. an XLA device)
    keeps them on the host."""
    if nbytes > budget_bytes:
        return False
    # torch.accelerator's query where this torch has it, else the device module's own (torch.<type>.mem_get_info)
    query = getattr(torch.accelerator, "get_memory_info", None) or getattr(
        getattr(torch, device.type, None), "mem_get_info", None
    )
    try:
        free, _ = query(device)
    except (AttributeError, RuntimeError, TypeError, ValueError, NotImplementedError):
        return False
    return nbytes <= free // 2


def table_bytes(files: dict) -> int:
    total = 0
    for path in files.values():
        array = np.load(path, mmap_mode="r")
        total += array.nbytes
    return total


class ResidentBatches:
    """An iterable of batch dicts gathered on the device from resident tables.

    ``sampler`` is the host path's sampler (exposed as ``.sampler`` so the trainer sets its
    epoch); evaluation padding (index -1) gathers row 0 and keeps index -1, as on the host."""

    def __init__(self, tables: dict[str, torch.Tensor], sampler: ShuffledBatches | OrderedBatches):
        self.tables, self.sampler = tables, sampler
        self.batch_sampler = None  # the trainer inspects loaders' samplers like a DataLoader's
        self.device = next(iter(tables.values())).device

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        if isinstance(
            self.sampler, ShuffledBatches
        ):  # each batch sorted on the device (seconds per BELKA epoch on the host)
            rows = torch.from_numpy(self.sampler.epoch_batches(sort=False)).to(self.device).sort(dim=1).values
        else:
            rows = torch.from_numpy(np.ascontiguousarray(self.sampler.batches)).to(self.device)  # one copy per pass
        for index in rows:
            safe = index.clamp_min(0)
            batch = {name: table.index_select(0, safe) for name, table in self.tables.items()}
            batch["index"] = index
            yield batch
