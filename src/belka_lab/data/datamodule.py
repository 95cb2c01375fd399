"""LightningDataModule over a prepared directory.

Two backends yield the same batches, chosen by ``data.loader``: ``memory`` (the memory-mapped
arrays gathered by batched samplers; on an accelerator the arrays are copied to the device
once and batches gathered there, ``data.resident``) and ``dali`` (TFRecord shards streamed by NVIDIA DALI,
written beside the prepared arrays on first use; see ``data/dali.py``).

Batches arrive as uint8/int8 arrays and are expanded on the device after transfer
(``on_after_batch_transfer``): the model sees ``tokens`` long [B, L], ``mask`` bool [B, L]
(True on characters), ``labels`` float [B, 3], ``label_mask`` bool [B, 3] (False where the
label is unknown) and ``index`` long [B] (molecule row; -1 marks padding in evaluation).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from belka_lab.data.batches import ArrayBatches, OrderedBatches, ShuffledBatches
from belka_lab.data.dali import DaliBatches, DaliOptions, require_dali
from belka_lab.data.ingest import PrepareOptions, is_current, prepare
from belka_lab.data.resident import ResidentBatches, fits_on, load_tables, table_bytes
from belka_lab.data.store import PreparedDataset
from belka_lab.data.synth import SynthConfig, generate
from belka_lab.data.token_cache import TokenizerSpec, build_cache, cache_info
from belka_lab.errors import InputError


class BelkaDataModule(L.LightningDataModule):
    def __init__(
        self,
        prepared_dir: str,
        train_file: str,
        test_file: str,
        split,
        fold: int = 0,
        solution_file: str | None = None,
        synth: dict | None = None,
        prepare: dict | None = None,
        batch_size: int = 1024,
        eval_batch_size: int = 4096,
        num_workers: int = 0,
        pin_memory: bool | str = "auto",
        seed: int = 0,
        root: str | None = None,
        tokenizer: dict | None = None,
        loader: str = "memory",
        dali: dict | None = None,
        resident: bool | str = "auto",
        resident_budget_gb: float = 16.0,
    ):
        super().__init__()
        self.root = Path(root) if root else None  # the directory the file paths default into
        self.prepared_dir = Path(prepared_dir)
        self.train_file, self.test_file = Path(train_file), Path(test_file)
        self.solution_file = Path(solution_file) if solution_file else None
        self.synth = SynthConfig(**{k: tuple(v) if k == "rates" else v for k, v in synth.items()}) if synth else None
        self.prepare_options = PrepareOptions(**(prepare or {}))
        self.split, self.fold = split, int(fold)
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.num_workers, self.seed = int(num_workers), int(seed)
        self.pin_memory = pin_memory if pin_memory == "auto" else bool(pin_memory)
        self.tokenizer = TokenizerSpec(**(tokenizer or {}))
        self.pad_id, self.vocab_size = 0, None  # of the token arrays the models read (set in setup)
        self.store: PreparedDataset | None = None
        self.predict_on = "test"
        if loader not in ("memory", "dali"):
            raise InputError(f"data.loader={loader!r}: choose memory or dali")
        self.loader, self.dali = loader, DaliOptions(**(dali or {}))
        if resident not in (True, False, "auto"):
            raise InputError(f"data.resident={resident!r}: choose auto, true or false")
        self.resident, self.resident_budget_gb = resident, float(resident_budget_gb)
        self._tables: dict[str, dict] = {}  # device-resident arrays per part

    # ------------------------------------------------------------------ data on disk
    def prepare_data(self) -> None:
        """Generate the synthetic library (if configured) and prepare it, unless already current."""
        if self.synth is not None:
            generate(self.train_file.parent, self.synth, progress=self.prepare_options.progress)
        if not is_current(self.prepared_dir, self.train_file, self.test_file, self.solution_file, self.prepare_options):
            prepare(self.train_file, self.test_file, self.prepared_dir, self.solution_file, self.prepare_options)
        if not self.tokenizer.is_char:
            build_cache(self.tokenizer, self.prepared_dir, progress=self.prepare_options.progress)
        if self.loader == "dali":
            require_dali()
            self.write_shards()

    def write_shards(self) -> Path:
        """The TFRecord shards of the prepared data for this tokenizer and split (written unless current)."""
        from belka_lab.data.tfrecord import write_shards

        tokens = self.files("train")["tokens"].name
        return write_shards(self.prepared_dir, tokens, self.split.shard_key, self.dali.shard_records, progress=self.prepare_options.progress)

    def setup(self, stage: str | None = None) -> None:
        if self.store is not None:
            return
        self.store = PreparedDataset(self.prepared_dir)
        self.vocab_size = self.store.vocab_size
        if not self.tokenizer.is_char:
            info = cache_info(self.prepared_dir, "train", self.tokenizer.name)
            if info is None:
                raise InputError(f"{self.prepared_dir}/train has no tokens_{self.tokenizer.name}.npy yet; run prepare_data() first (training does)")
            self.pad_id, self.vocab_size = info["pad_id"], info["vocab_size"]
        self.train_idx, self.val_idx = self.split.indices(self.store, self.fold)
        self.fold_column = self.split.column
        if self.loader == "dali":
            self.setup_shards()

    def setup_shards(self) -> None:
        """Check the shards of this tokenizer and split, and pick those of the fold (loader=dali)."""
        from belka_lab.data.tfrecord import check_shards, read_shard_manifest, shard_dir

        self.shard_root = shard_dir(self.prepared_dir, self.files("train")["tokens"].name, self.split.shard_key)
        manifest = read_shard_manifest(self.shard_root)
        if manifest is None:
            raise InputError(f"{self.shard_root} holds no complete TFRecord shards; run `python -m belka_lab.prepare data.loader=dali` (training writes them too)")
        shards = manifest["shards"]
        check_shards(self.shard_root, shards, self.dali.verify)
        train = [s for s in shards if s["part"] == "train"]
        keys = np.array([s["key"] for s in train])
        use, val = self.split.shard_parts(keys, self.fold)
        self.shards = {
            "train": [s for s, u in zip(train, use) if u], "val": [s for s, v in zip(train, val) if v],
            "test": [s for s in shards if s["part"] == "test"],
        }  # fmt: skip
        self.token_dtype = manifest["tokens"]["dtype"]

    # ------------------------------------------------------------------ loaders
    def _rank(self) -> tuple[int, int]:
        t = self.trainer
        return (t.global_rank, t.world_size) if t is not None else (0, 1)

    def files(self, part: str) -> dict[str, Path]:
        base = self.prepared_dir / part
        files = {"tokens": base / ("tokens.npy" if self.tokenizer.is_char else f"tokens_{self.tokenizer.name}.npy")}
        if part == "train":
            files["labels"] = base / "labels.npy"
        return files

    @property
    def pinned(self) -> bool:
        """Host batches in page-locked memory (asynchronous copies): auto = when training off the CPU."""
        return self._device().type != "cpu" if self.pin_memory == "auto" else self.pin_memory

    def _device(self) -> torch.device:
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def _batches(self, part: str, sampler) -> DataLoader | ResidentBatches:
        """The memory backend's batches of ``part``: gathered on the training device when the
        arrays are resident there (``data.resident``), else by a DataLoader on the host."""
        files = self.files(part)
        device = self._device()
        if self.resident == "auto":  # resident where the device has its own memory and the arrays fit in it
            resident = device.type != "cpu" and fits_on(device, table_bytes(files), self.resident_budget_gb * 2**30)
        else:
            resident = bool(self.resident)
        if not resident:
            return self._loader(ArrayBatches(files), sampler)
        if part not in self._tables or next(iter(self._tables[part].values())).device != device:
            self._tables[part] = load_tables(files, device, progress=self.prepare_options.progress)
        return ResidentBatches(self._tables[part], sampler)

    def _loader(self, dataset, sampler) -> DataLoader:
        return DataLoader(
            dataset, sampler=sampler, batch_size=None, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0, pin_memory=self.pinned,
            generator=torch.Generator().manual_seed(self.seed),  # iterators draw from it, not the global stream
        )  # fmt: skip

    def _dali(self, part: str, batch_size: int, shuffle: bool) -> DaliBatches:
        rank, world = self._rank()
        return DaliBatches(
            self.shard_root, self.shards[part], batch_size, shuffle=shuffle, token_dtype=self.token_dtype, options=self.dali,
            seed=self.seed, rank=rank, world_size=world, device=self._device(),
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader | ResidentBatches | DaliBatches:
        if self.loader == "dali":
            batches = self._dali("train", self.batch_size, shuffle=True)
            done = self._batches_done_in_epoch(len(batches))
            if done:
                batches.skip_once(done)
            return batches
        rank, world = self._rank()
        sampler = ShuffledBatches(self.train_idx, self.batch_size, self.seed, rank, world)
        done = self._batches_done_in_epoch(len(sampler))
        if done:  # resumed from a checkpoint saved inside an epoch: continue after its last batch
            sampler.set_epoch(self.trainer.current_epoch)
            sampler.skip_once(done)
        return self._batches("train", sampler)

    def _batches_done_in_epoch(self, per_epoch: int) -> int:
        """Optimizer steps already taken in the current epoch (one per batch), when resuming."""
        t = self.trainer
        if t is None or not t.global_step or t.accumulate_grad_batches != 1:
            return 0
        return max(0, t.global_step - t.current_epoch * per_epoch) % per_epoch

    def val_dataloader(self) -> DataLoader | ResidentBatches | DaliBatches:
        if self.loader == "dali":
            return self._dali("val", self.eval_batch_size, shuffle=False)
        rank, world = self._rank()
        return self._batches("train", OrderedBatches(self.val_idx, self.eval_batch_size, rank, world))

    def test_molecules_dataloader(self) -> DataLoader | ResidentBatches | DaliBatches:
        if self.loader == "dali":
            return self._dali("test", self.eval_batch_size, shuffle=False)
        rank, world = self._rank()
        n = int(self.store.manifest["counts"]["test_molecules"])
        return self._batches("test", OrderedBatches(np.arange(n), self.eval_batch_size, rank, world))

    def predict_dataloader(self) -> DataLoader | ResidentBatches | DaliBatches:
        """The molecules named by ``predict_on``: "test" (default) or "val"."""
        return self.val_dataloader() if self.predict_on == "val" else self.test_molecules_dataloader()

    # ------------------------------------------------------------------ device-side expansion
    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        tokens = batch["tokens"].long()
        out = {"tokens": tokens, "mask": tokens != self.pad_id, "index": batch["index"]}
        if "labels" in batch:
            labels = batch["labels"]
            out["label_mask"] = labels >= 0
            out["labels"] = labels.clamp_min(0).float()
        return out
