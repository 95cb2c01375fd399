"""Token batches for masked-language-model pretraining: every molecule of a prepared
directory, train and test alike (no labels are read), with a small held-out share for
validation loss and accuracy.

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

from belka_lab.data.batches import OrderedBatches, ShuffledBatches
from belka_lab.data.loader import MemoryLoader
from belka_lab.data.store import PreparedDataset


class TokenRows(Dataset):
    """Gathers token rows by global molecule number from the train and test arrays; index -1
    gives a row of padding."""

    def __init__(self, train_tokens: Path, test_tokens: Path, pad_id: int = 0):
        self.files, self.pad_id = (Path(train_tokens), Path(test_tokens)), int(pad_id)
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def _open(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:
            self._arrays = tuple(np.load(f, mmap_mode="r") for f in self.files)
        return self._arrays

    def __len__(self) -> int:
        return sum(len(a) for a in self._open())

    def __getitem__(self, index: np.ndarray) -> dict[str, torch.Tensor]:
        train, test = self._open()
        index = np.asarray(index)
        out = np.full((len(index), train.shape[1]), self.pad_id, dtype=train.dtype)
        in_train = (index >= 0) & (index < len(train))
        in_test = index >= len(train)
        out[in_train] = train[index[in_train]]
        out[in_test] = test[index[in_test] - len(train)]
        return {"tokens": torch.from_numpy(out), "index": torch.from_numpy(index)}

    def __getstate__(self):
        return {"files": self.files, "pad_id": self.pad_id, "_arrays": None}


class MLMDataModule(L.LightningDataModule):
    def __init__(
        self,
        source,
        batch_size: int = 512,
        eval_batch_size: int = 2048,
        val_molecules: int = 4096,
        seed: int = 0,
        loader: MemoryLoader | None = None,
    ):
        """`source` is the supervised data module (BelkaDataModule): it generates/prepares the data;
        ``loader`` its memory loader's host options (workers, page-locked batches)."""
        super().__init__()
        self.source = source
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
        counts = self.store.manifest["counts"]
        n = int(counts["train_molecules"]) + int(counts["test_molecules"])
        perm = np.random.default_rng(self.seed).permutation(n)
        n_val = min(self.val_molecules, n // 10)
        self.val_idx, self.train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])

    def _rank(self) -> tuple[int, int]:
        t = self.trainer
        return (t.global_rank, t.world_size) if t is not None else (0, 1)

    def _loader(self, sampler) -> DataLoader:
        files = self.source.files
        rows = TokenRows(files("train")["tokens"], files("test")["tokens"], self.source.pad_id)
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
        return {"tokens": tokens, "mask": tokens != self.source.pad_id, "index": batch["index"]}
