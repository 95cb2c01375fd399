"""Lightning callbacks of the framework's own."""

from __future__ import annotations

import time

import lightning as L


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
