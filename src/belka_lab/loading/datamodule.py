"""LightningDataModule over a prepared directory.

It makes the data exist (the synthetic library when configured, the prepared directory, a
tokenizer's ids) and says which molecules train, validate (and in which validation cell, the
split's :class:`~belka_lab.dataset.folds.Selection`) and are predicted; how batches are
read is its ``loader`` (the ``loader`` config group: ``memory`` or ``dali``, see ``loading/loader.py``).

Batches arrive as uint8/int8 arrays and are expanded on the device after transfer
(``on_after_batch_transfer``): the model sees ``tokens`` long [B, L], ``mask`` bool [B, L]
(True on characters), ``labels`` float [B, T], ``label_mask`` bool [B, T] (False where the
label is unknown) and ``index`` long [B] (molecule row; -1 marks padding in evaluation).
Prediction (``trainer.predict``) runs over :data:`PREDICT_SETS`, one dataloader each.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np

from belka_lab.core.errors import InputError
from belka_lab.dataset import supervision
from belka_lab.dataset.prepare import PrepareOptions, is_current, prepare
from belka_lab.dataset.read import find_input
from belka_lab.dataset.store import PreparedDataset, arrays, read_manifest
from belka_lab.dataset.supervision import Supervision
from belka_lab.evaluation.affinity import HeldOutAffinity
from belka_lab.evaluation.cells import ValidationCells
from belka_lab.features import inputs
from belka_lab.loading.loader import Feed, Loader, MemoryLoader, Place
from belka_lab.synth.config import SynthConfig
from belka_lab.synth.generate import generate
from belka_lab.synth.selection import SelectionConfig
from belka_lab.synth.selection import simulate as simulate_selection
from belka_lab.tokens.characters import PAD
from belka_lab.tokens.spec import TokenizerConfig, TokenSpec

PREDICT_SETS = ("val", "test")  # the prediction pass's dataloaders, in this order


class BelkaDataModule(L.LightningDataModule):
    def __init__(
        self,
        prepared_dir: str,
        train_file: str,
        test_file: str | None,
        split,
        fold: int = 0,
        solution_file: str | None = None,
        synth: dict | None = None,
        simulate: dict | None = None,
        prepare: dict | None = None,
        batch_size: int = 1024,
        eval_batch_size: int = 4096,
        seed: int = 0,
        root: str | None = None,
        tokenizer: dict | None = None,
        loader: Loader | None = None,
    ):
        super().__init__()
        self.root = Path(root) if root else None  # the directory the file paths default into
        self.prepared_dir = Path(prepared_dir)
        self.train_file = Path(train_file)
        self.test_file = Path(test_file) if test_file else None  # a count table's affinity file is optional
        self.solution_file = Path(solution_file) if solution_file else None
        self.synth = SynthConfig(**{k: tuple(v) if k == "rates" else v for k, v in synth.items()}) if synth else None
        self.simulation = SelectionConfig(**simulate) if simulate else None
        self.prepare_options = PrepareOptions(**(prepare or {}))
        self.split, self.fold = split, int(fold)
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.seed = int(seed)
        self.tokenizer = TokenizerConfig(**(tokenizer or {}))
        self.pad_id, self.vocab_size = PAD, None  # of the token arrays the models read (set in setup)
        self.store: PreparedDataset | None = None
        self._supervision: Supervision | None = None  # what runs on this data learn from (set in setup)
        self.affinity: HeldOutAffinity | None = None  # a count table's held-out affinity file (set in setup)
        self._checked_for = None
        self._feed_cache: Feed | None = None  # the trainer whose monitors were checked against the validation cells
        if loader is not None and not all(hasattr(loader, m) for m in ("prepare", "setup", "train", "evaluate")):
            raise InputError(f"loader={loader!r}: choose memory or dali (the loader config group)")
        self.loader = loader if loader is not None else MemoryLoader()

    # ------------------------------------------------------------------ data on disk
    def prepare_data(self) -> None:
        """Generate the synthetic library or simulate the selection (if configured) and prepare it,
        unless already current; then what the tokenizer and the loader read."""
        if self.synth is not None:
            generate(self.train_file.parent, self.synth, progress=self.prepare_options.progress)
        if self.simulation is not None:
            simulate_selection(self.train_file.parent, self.simulation, progress=self.prepare_options.progress)
        self.train_file = find_input(self.train_file, "train_file")
        if self.test_file is not None:
            self.test_file = find_input(self.test_file, "test_file")
        if not is_current(self.prepared_dir, self.train_file, self.test_file, self.solution_file, self.prepare_options):
            prepare(self.train_file, self.test_file, self.prepared_dir, self.solution_file, self.prepare_options)
        inputs.make(self.tokenizer, self.prepared_dir, progress=self.prepare_options.progress)
        self.loader.prepare(self.feed)

    def setup(self, stage: str | None = None) -> None:
        if self.store is None:
            self._load()
        if self.trainer is not None and stage in (None, "fit") and self._checked_for is not self.trainer:
            self.check_cells()  # the run's monitors are known once a trainer holds the data module
            self._checked_for = self.trainer

    def _load(self) -> None:
        self.store = PreparedDataset(self.prepared_dir)
        self.pad_id, self.vocab_size = inputs.described(self.tokenizer, self.prepared_dir, self.store.vocab_size)
        self._supervision = supervision.of(self.store.manifest)
        self.selection = self.split.select(self.store, self.fold)
        self.train_idx, self.val_idx = self.selection.train, self.selection.val
        self.fold_column = self.split.column
        self.cells = ValidationCells.of(self.selection, self.targets, ranked=self.supervision.ranked)
        self.affinity = HeldOutAffinity.of(self.store)
        self.feed = self._feed()
        self.loader.setup(self.feed)

    # ------------------------------------------------------------------ validation cells
    def check_cells(self) -> None:
        """Warn about validation cells without a positive; stop when a monitored metric is undefined."""
        trainer = self.trainer
        monitors = [cb.monitor for cb in trainer.callbacks if isinstance(getattr(cb, "monitor", None), str)]
        labels = np.asarray(self.store.train("labels")[self.selection.val])
        # warnings from the main process; every process stops on an error
        also = self.affinity.keys() if self.affinity is not None else []
        self.cells.check(labels, monitors, say=trainer.is_global_zero, also=also)

    # ------------------------------------------------------------------ what the loaders are handed
    @property
    def n_test(self) -> int:
        return self.store.n_test

    @property
    def targets(self) -> tuple[str, ...]:
        """The dataset's targets (its manifest's), in the order of the label columns and model outputs."""
        return self.store.targets

    @property
    def supervision(self) -> Supervision:
        """What runs on this data learn from: labels, or a count table's reads (its manifest says)."""
        if self._supervision is not None:
            return self._supervision
        return supervision.of(read_manifest(self.prepared_dir))

    def files(self, part: str) -> dict[str, Path]:
        """The arrays the models read for ``part`` (train or test): tokens (what the tokenizer
        reads: features/inputs.py), and for train what the run learns from (labels; a count
        table's scores and reads too)."""
        files = arrays(self.prepared_dir, part, "tokens", self.supervision.arrays)
        return files | {"tokens": inputs.file(self.tokenizer, self.prepared_dir, part)}

    def _feed(self) -> Feed:
        """The loader's view: the arrays, and after setup the molecules of each part."""
        set_up = self.store is not None
        return Feed(
            prepared_dir=self.prepared_dir,
            files={part: self.files(part) for part in ("train", "test")},
            split=self.split,
            fold=self.fold,
            batch_size=self.batch_size,
            eval_batch_size=self.eval_batch_size,
            seed=self.seed,
            progress=self.prepare_options.progress,
            train_idx=self.train_idx if set_up else None,
            val_idx=self.val_idx if set_up else None,
            n_test=self.n_test if set_up else 0,
        )

    def block_table(self) -> inputs.BlockTable:
        """The prepared building blocks, their ECFP bits, and which the training molecules hold (set up first)."""
        return inputs.block_table(self.tokenizer, self.prepared_dir, self.store.train("bb_ids"), self.train_idx)

    @property
    def token_spec(self) -> TokenSpec:
        """What the models of this data read (set up first)."""
        return TokenSpec.of_data(self.files("train")["tokens"], self.tokenizer, self.pad_id, self.vocab_size)

    @property
    def feed(self) -> Feed:
        if self._feed_cache is None or (self.store is not None and self._feed_cache.train_idx is None):
            self._feed_cache = self._feed()
        return self._feed_cache

    @feed.setter
    def feed(self, value: Feed) -> None:
        self._feed_cache = value

    def place(self) -> Place:
        """This process, its device and the training's progress (a lone process on the CPU without a trainer)."""
        t = self.trainer
        if t is None:
            return Place()
        return Place(
            t.global_rank,
            t.world_size,
            t.strategy.root_device,
            t.current_epoch,
            t.global_step,
            t.accumulate_grad_batches,
        )

    # ------------------------------------------------------------------ Lightning's loaders
    def train_dataloader(self):
        return self.loader.train(self.feed, self.place())

    def val_dataloader(self):
        """The validation fold; with a held-out affinity file, its compounds (the test part) too."""
        val = self.loader.evaluate(self.feed, self.place(), "val")
        return val if self.affinity is None else [val, self.loader.evaluate(self.feed, self.place(), "test")]

    @property
    def predict_sets(self) -> tuple[str, ...]:
        """The sets of :data:`PREDICT_SETS` that have molecules (a count table may have no test part)."""
        return tuple(part for part in PREDICT_SETS if part == "val" or self.n_test)

    def predict_dataloader(self) -> list:
        """One dataloader per set of :attr:`predict_sets`."""
        return [self.loader.evaluate(self.feed, self.place(), part) for part in self.predict_sets]

    # ------------------------------------------------------------------ device-side expansion
    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        tokens = batch["tokens"].long()
        out = {"tokens": tokens, "mask": tokens != self.pad_id, "index": batch["index"]}
        if "labels" in batch:
            labels = batch["labels"]
            out["label_mask"] = labels >= 0
            out["labels"] = labels.clamp_min(0).float()
        for name in sorted(batch.keys() - {"tokens", "labels", "index"}):  # the rest of Supervision.arrays
            out[name] = batch[name].float()
        return out
