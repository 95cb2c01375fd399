"""Batches for pretraining (``belka pretrain``): every molecule of a prepared directory, train
and test alike (no labels are read), with a small held-out share for validation.

Each batch has the molecules' tokens and, for the property objectives, their ``targets`` row:
ECFP bits (``objective=ecfp``: packed bits from ``features/fingerprints.py``'s cache, unpacked on the
device) or standardised RDKit descriptors (``objective=descriptors``, ``features/descriptors.py``;
NaN where undefined). Targets are read from the caches as the tokens are, so the training loop
never calls RDKit.

Molecules are numbered 0..n_train-1 (train) then n_train..n_train+n_test-1 (test); the
samplers are the supervised data module's (shuffled fixed-size batches, padded ordered
evaluation batches, disjoint shares per process).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from belka_lab.dataset.store import PreparedDataset
from belka_lab.loading.batches import OrderedBatches, ShuffledBatches
from belka_lab.loading.loader import MemoryLoader


def _gather(train: np.ndarray, test: np.ndarray, index: np.ndarray, fill) -> np.ndarray:
    """Rows of train (0..len-1) then test (len..) by global number; index -1 gives `fill`."""
    out = np.full((len(index), *train.shape[1:]), fill, dtype=train.dtype)
    in_train = (index >= 0) & (index < len(train))
    in_test = index >= len(train)
    out[in_train] = train[index[in_train]]
    out[in_test] = test[index[in_test] - len(train)]
    return out


class Targets:
    """A per-molecule target array for train and test (``.npy`` files) and how to read it:
    ``bits`` (packed uint8, unpacked on the device; ``valid`` marks the molecules that have
    fingerprints) or ``values`` (float32, standardised by ``mean``/``std`` and clipped)."""

    def __init__(self, kind: str, train: Path, test: Path, width: int, **scale):
        self.kind, self.files, self.width, self.scale = kind, (Path(train), Path(test)), int(width), scale

    def rows(self, arrays: tuple[np.ndarray, np.ndarray], index: np.ndarray) -> np.ndarray:
        if self.kind == "bits":
            return _gather(*arrays, index, 0)
        values = _gather(*arrays, index, np.nan).astype(np.float32)
        s = self.scale
        return np.clip((values - s["mean"]) / s["std"], -s["clip"], s["clip"]).astype(np.float32)


class TokenRows(Dataset):
    """Gathers token rows (and target rows) by global molecule number from the train and test
    arrays; index -1 gives a row of padding."""

    def __init__(self, train_tokens: Path, test_tokens: Path, pad_id: int = 0, targets: Targets | None = None):
        self.files, self.pad_id, self.targets = (Path(train_tokens), Path(test_tokens)), int(pad_id), targets
        self._arrays = None

    def _open(self):
        if self._arrays is None:
            tokens = tuple(np.load(f, mmap_mode="r") for f in self.files)
            targets = tuple(np.load(f, mmap_mode="r") for f in self.targets.files) if self.targets else None
            self._arrays = (tokens, targets)
        return self._arrays

    def __len__(self) -> int:
        return sum(len(a) for a in self._open()[0])

    def __getitem__(self, index: np.ndarray) -> dict[str, torch.Tensor]:
        tokens, targets = self._open()
        index = np.asarray(index)
        out = {"tokens": torch.from_numpy(_gather(*tokens, index, self.pad_id)), "index": torch.from_numpy(index)}
        if targets is not None:
            out["targets"] = torch.from_numpy(self.targets.rows(targets, index))
        return out

    def __getstate__(self):
        return {"files": self.files, "pad_id": self.pad_id, "targets": self.targets, "_arrays": None}


class PretrainDataModule(L.LightningDataModule):
    def __init__(
        self,
        source,
        batch_size: int = 512,
        eval_batch_size: int = 2048,
        val_molecules: int = 4096,
        seed: int = 0,
        loader: MemoryLoader | None = None,
        targets: Targets | None = None,
    ):
        """`source` is the supervised data module (BelkaDataModule): it generates/prepares the data;
        ``loader`` its memory loader's host options (workers, page-locked batches); ``targets`` the
        property objective's per-molecule targets (None for masked-token pretraining)."""
        super().__init__()
        self.source, self.targets = source, targets
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.val_molecules, self.seed = int(val_molecules), int(seed)
        self.loader = loader or MemoryLoader()
        self.store: PreparedDataset | None = None

    def prepare_data(self) -> None:
        self.source.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        if self.store is not None:
            return
        self.source.setup(stage)  # which token arrays (tokenizer), their padding id and vocabulary
        self.store = self.source.store
        counts = self.store.manifest["sizes"]
        n = int(counts["train_molecules"]) + int(counts["test_molecules"])
        perm = np.random.default_rng(self.seed).permutation(n)
        n_val = min(self.val_molecules, n // 10)
        self.val_idx, self.train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])

    def _rank(self) -> tuple[int, int]:
        t = self.trainer
        return (t.global_rank, t.world_size) if t is not None else (0, 1)

    def _loader(self, sampler) -> DataLoader:
        files = self.source.files
        rows = TokenRows(files("train")["tokens"], files("test")["tokens"], self.source.pad_id, self.targets)
        return DataLoader(
            rows,
            sampler=sampler,
            batch_size=None,
            num_workers=self.loader.num_workers,
            persistent_workers=self.loader.num_workers > 0,
            pin_memory=self.loader.pinned(
                self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
            ),
            generator=torch.Generator().manual_seed(self.seed),
        )

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank()
        return self._loader(ShuffledBatches(self.train_idx, self.batch_size, self.seed, rank, world))

    def val_dataloader(self) -> DataLoader:
        rank, world = self._rank()
        return self._loader(OrderedBatches(self.val_idx, self.eval_batch_size, rank, world))

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        tokens = batch["tokens"].long()
        out = {"tokens": tokens, "mask": tokens != self.source.pad_id, "index": batch["index"]}
        if "targets" in batch:
            t = batch["targets"]
            out["targets"] = unpack_bits(t, self.targets.width) if self.targets.kind == "bits" else t
        return out


def unpack_bits(packed: torch.Tensor, width: int) -> torch.Tensor:
    """uint8 [B, W/8] packed as ``np.packbits`` does (most significant bit first) → float [B, width]."""
    shifts = torch.arange(7, -1, -1, device=packed.device, dtype=torch.uint8)
    bits = (packed.unsqueeze(-1) >> shifts) & 1
    return bits.reshape(len(packed), -1)[:, :width].float()
