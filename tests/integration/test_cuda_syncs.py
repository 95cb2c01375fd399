"""scripts/cuda_syncs.py's bookkeeping, on the CPU: CUDA's sync debugging is stood in for by
planted calls that warn as a synchronising CUDA call does while the watch has it switched on."""

import importlib.util
import warnings
from pathlib import Path

import lightning as L
import torch

from belka_lab.training.train import train
from helpers import QUIET_TRAINER, compose_run

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "cuda_syncs.py"
MODE = {"now": "default"}


def synchronising_call():
    if MODE["now"] == "warn":
        warnings.warn("called a synchronizing CUDA operation", stacklevel=2)


class Planted(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        synchronising_call()  # in every training step

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        synchronising_call()  # validation is not watched

    def on_train_epoch_end(self, trainer, pl_module):
        synchronising_call()  # at each epoch's end


def test_syncs_are_counted_by_place_and_phase_after_the_warm_up_only(tmp_path, tiny_library, monkeypatch):
    spec = importlib.util.spec_from_file_location("cuda_syncs", SCRIPT)
    cuda_syncs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cuda_syncs)
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", lambda m: MODE.__setitem__("now", m))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    cfg = compose_run(
        "train",
        tmp_path,
        tiny_library,
        "run",
        "predict=false",
        "data.batch_size=128",
        "trainer.max_epochs=-1",
        "+trainer.max_steps=30",
        "+trainer.limit_val_batches=2",
        "+trainer.check_val_every_n_epoch=2",
        *QUIET_TRAINER,
    )
    watch = cuda_syncs.watch_syncs(
        cfg, 8, lambda cfg, callbacks: train(cfg, callbacks=[Planted(), *callbacks])
    )  # its epoch-end hook runs first
    per_epoch = 21  # 2,700-odd training molecules at batch 128
    assert (watch.start, watch.steps) == (8, 22)
    counts = {(phase, where.split(" < ")[1].split(" ")[1]): n for (phase, where), n in watch.places.items()}
    assert counts == {
        ("training step", "on_train_batch_end"): 22,
        ("epoch end", "on_train_epoch_end"): 30 // per_epoch + 1,
    }, watch.places
    assert MODE["now"] == "default"  # switched off at the end
