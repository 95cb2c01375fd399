"""Lightning callbacks of the framework's own."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

from belka_lab.core.curves import training_curves
from belka_lab.core.io import atomic_path


class Throughput(L.Callback):
    """Training molecules per second over each epoch, after `warmup` batches; logs
    ``train/samples_per_s`` once per epoch (no per-step host synchronisation)."""

    def __init__(self, warmup: int = 5):
        self.warmup = warmup
        self._t0: float | None = None
        self._samples = 0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t0, self._samples = None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.warmup:
            self._t0 = time.perf_counter()
        if self._t0 is not None:
            self._samples += len(batch["index"])

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._t0 is not None and self._samples:
            rate = self._samples / (time.perf_counter() - self._t0)
            pl_module.log("train/samples_per_s", rate, on_epoch=True, on_step=False)


class ResumeCheckpoint(Checkpoint):
    """Keeps ``<dirpath>/last.ckpt`` = the latest training state: written every
    ``every_n_steps`` optimizer steps and at the end of every epoch (after its validation),
    under a temporary name and then renamed. A run killed at any point resumes from it with
    ``hydra.run.dir=<its run dir> ckpt_path=last`` (or ``ckpt_path=<dir>/checkpoints/last.ckpt``);
    the data module continues inside the epoch and the module restores its random-number
    states, so on a CPU the resumed run ends where the uninterrupted one would.

    When a validation runs after the step that is due (``trainer.val_check_interval``), the state
    is written after it, once the best checkpoint has been chosen: a state written before it would
    resume past a validation that never ran (Lightning counts it as done), and choose another best
    checkpoint. (A ``Checkpoint``, so Lightning calls it after ``ModelCheckpoint``.)"""

    def __init__(self, dirpath: str, every_n_steps: int = 1000):
        self.dirpath, self.every_n_steps = dirpath, int(every_n_steps)
        self._after_validation: int | None = None  # the step whose state waits for its validation

    def _save(self, trainer) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run:
            return
        with atomic_path(Path(self.dirpath) / "last.ckpt", commit=trainer.is_global_zero) as tmp:
            trainer.save_checkpoint(tmp)  # every process takes part; the strategy writes on one
        trainer.strategy.barrier()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0:
            if _validates_now(trainer):
                self._after_validation = trainer.global_step
            else:
                self._save(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._after_validation is not None and self._after_validation == trainer.global_step:
            self._after_validation = None
            self._save(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        per_epoch = trainer.num_training_batches
        if (
            trainer.accumulate_grad_batches == 1
            and isinstance(per_epoch, int)
            and per_epoch
            and trainer.global_step % per_epoch
        ):
            return  # stopped inside the epoch (max_steps, max_time): the last step checkpoint stands
        self._save(trainer)


def _validates_now(trainer) -> bool:
    """Whether a validation runs at the end of the batch that just ended (Lightning's own rule)."""
    loop = trainer.fit_loop.epoch_loop
    check = getattr(loop, "_should_check_val_fx", None)
    if check is None or trainer.sanity_checking:
        return False
    return bool(check(trainer.fit_loop._data_fetcher))


class EpochCurves(L.Callback):
    """Keeps the metrics of every validation (and each epoch's training loss) and draws
    ``plots/curves.png`` — losses and validation AP against epochs trained, so validations inside an
    epoch (``trainer.val_check_interval``) fall between whole epochs — when fitting ends, on the
    main process."""

    def __init__(self, path: str):
        self.path = path
        self.history: list[dict] = []

    @staticmethod
    def _epochs(trainer) -> float:
        per_epoch = trainer.num_training_batches
        if isinstance(per_epoch, int) and per_epoch and trainer.accumulate_grad_batches == 1:
            return trainer.global_step / per_epoch
        return float(trainer.current_epoch + 1)

    def _record(self, trainer, keys) -> None:
        metrics = trainer.callback_metrics
        row = {"epoch": round(self._epochs(trainer), 4), **{k: float(metrics[k]) for k in keys if k in metrics}}
        if len(row) == 1:
            return
        if self.history and self.history[-1]["epoch"] == row["epoch"]:
            self.history[-1] |= row
        else:
            self.history.append(row)

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._record(trainer, [k for k in trainer.callback_metrics if k.startswith("val/")])

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._record(trainer, ["train/loss_epoch"])

    def on_fit_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and self.history and not trainer.sanity_checking:
            training_curves(self.history, type(pl_module.backbone).__name__, self.path)
