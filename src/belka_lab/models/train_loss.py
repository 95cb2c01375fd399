"""The training loss, summed on the device and handed to Lightning's logging only when it is
written: every ``log_every_n_steps`` (the mean over those steps, ``<name>_step``) and at the
epoch's last batch (the epoch's mean over known labels, ``<name>_epoch``).

Calling ``LightningModule.log`` costs about a millisecond of host work (it walks its result
metric's state to move it to the value's device); once per step that is a large share of a
fast model's step on a GPU. Adding to a device tensor costs two kernel launches and never
waits for the device.
"""

from __future__ import annotations

import torch


class TrainLoss:
    def __init__(self, name: str):
        self.name = name
        self.sums: torch.Tensor | None = None  # [interval loss sum, interval count, epoch loss sum, epoch count]

    def reset(self) -> None:
        """At each epoch's start: the epoch mean covers that epoch alone."""
        self.sums = None

    def update(self, module, total: torch.Tensor, count: torch.Tensor, batch_idx: int) -> None:
        """Add one step's (loss sum, label count); log what the loggers will write after this step."""
        pair = torch.stack([total.detach().float(), count.detach().float()])
        both = torch.cat([pair, pair])
        self.sums = both if self.sums is None else self.sums.add_(both)
        trainer = module._trainer
        last = trainer is None or _last_batch(trainer, batch_idx)
        # the loggers write after an optimizer step (the last batch of an accumulation window)
        # when Lightning's own test says so
        stepping = trainer is None or last or (batch_idx + 1) % trainer.accumulate_grad_batches == 0
        if stepping and (trainer is None or trainer._logger_connector.should_update_logs):
            module.log(
                f"{self.name}_step",
                self.sums[0] / self.sums[1].clamp_min(1.0),
                on_step=True,
                on_epoch=False,
                batch_size=1,
            )
            self.sums[:2].zero_()
        if last:
            module.log(
                f"{self.name}_epoch",
                self.sums[2] / self.sums[3].clamp_min(1.0),
                on_step=False,
                on_epoch=True,
                batch_size=1,
            )


def _last_batch(trainer, batch_idx: int) -> bool:
    """The epoch's last training batch: the loader's end, or the step that reaches max_steps."""
    batches = trainer.num_training_batches
    end_of_epoch = isinstance(batches, int) and batch_idx + 1 >= batches
    return end_of_epoch or 0 < trainer.max_steps <= trainer.global_step + 1
