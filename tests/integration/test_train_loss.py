"""The training loss is summed on the device and logged when the loggers write: the logged
numbers must still be the losses of the steps they stand for."""

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from belka_lab.models.train_loss import TrainLoss
from belka_lab.training.train import train
from helpers import QUIET_TRAINER, compose_run


class StepLosses(L.Callback):
    """Every training step's (epoch, loss sum, known labels), from the step's own output and batch."""

    def __init__(self):
        self.rows = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        count = float(batch["label_mask"].sum())
        loss = float(outputs["loss"]) * trainer.accumulate_grad_batches  # Lightning returns it divided by the window
        self.rows.append((trainer.current_epoch, loss * count, count))


@pytest.mark.parametrize("every", [4, 7])
def test_logged_step_and_epoch_losses_are_the_means_of_the_steps_they_cover(tmp_path, tiny_library, every):
    steps = StepLosses()
    cfg = compose_run(
        "train",
        tmp_path,
        tiny_library,
        "run",
        "predict=false",
        "data.batch_size=64",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=17",
        "+trainer.limit_val_batches=2",
        f"trainer.log_every_n_steps={every}",
        *QUIET_TRAINER,
    )
    train(cfg, callbacks=[steps])
    rec = np.array(steps.rows)  # 17 steps per epoch, 34 in all
    assert len(rec) == 34
    csv = pd.read_csv(tmp_path / "run" / "csv" / "metrics.csv")

    epochs = csv.dropna(subset=["train/loss_epoch"]).sort_values("epoch")
    expected = [rec[rec[:, 0] == e, 1].sum() / rec[rec[:, 0] == e, 2].sum() for e in (0, 1)]
    np.testing.assert_allclose(epochs["train/loss_epoch"], expected, rtol=1e-5)  # the whole epoch, tail included

    logged = csv.dropna(subset=["train/loss_step"])
    assert list(logged["step"]) == [s for s in range(every - 1, 34, every)]  # Lightning's own logging steps
    for step, value in zip(logged["step"], logged["train/loss_step"]):
        # the interval since the previous written value; an epoch's start opens a new interval
        first = max(step - every + 1, 17 if step >= 17 else 0)
        cover = rec[first : step + 1]
        assert value == pytest.approx(cover[:, 1].sum() / cover[:, 2].sum(), rel=1e-5), step


def test_without_a_trainer_each_call_logs_the_step_and_the_running_epoch_mean():
    logged = {}

    class Module:
        _trainer = None

        def log(self, name, value, **kw):
            logged[name] = value

    loss = TrainLoss("train/loss")
    loss.update(Module(), torch.tensor(6.0), torch.tensor(3.0), 0)
    assert float(logged["train/loss_step"]) == 2.0
    loss.update(Module(), torch.tensor(2.0), torch.tensor(3.0), 1)
    assert float(logged["train/loss_step"]) == pytest.approx(2 / 3)  # the interval restarted after it was written
    assert float(logged["train/loss_epoch"]) == pytest.approx(8 / 6)  # the epoch did not
    loss.reset()
    loss.update(Module(), torch.tensor(1.0), torch.tensor(4.0), 0)
    assert float(logged["train/loss_epoch"]) == 0.25


def test_with_gradient_accumulation_each_written_value_covers_its_whole_window(tmp_path, tiny_library):
    steps = StepLosses()
    cfg = compose_run(
        "train",
        tmp_path,
        tiny_library,
        "run",
        "predict=false",
        "data.batch_size=64",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=17",
        "+trainer.limit_val_batches=2",
        "trainer.log_every_n_steps=1",
        "+trainer.accumulate_grad_batches=2",
        *QUIET_TRAINER,
    )
    train(cfg, callbacks=[steps])
    rec = np.array(steps.rows)
    windows = [
        rec[e * 17 + i : e * 17 + min(i + 2, 17)] for e in (0, 1) for i in range(0, 17, 2)
    ]  # 8 pairs and the odd last batch
    expected = [w[:, 1].sum() / w[:, 2].sum() for w in windows]
    logged = pd.read_csv(tmp_path / "run" / "csv" / "metrics.csv").dropna(subset=["train/loss_step"])["train/loss_step"]
    np.testing.assert_allclose(logged, expected, rtol=1e-5)
