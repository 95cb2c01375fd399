"""The training step leaves the device alone: no host synchronisation per step."""

import pytest
import torch

from belka_lab.dataset.folds import StratifiedSplit
from belka_lab.loading.datamodule import BelkaDataModule
from belka_lab.training.train import train
from helpers import compose_run, datamodule_on

# Tensor methods that copy a value to the host (and so wait for the device)
SYNCING = ("item", "__float__", "__int__", "__bool__", "__index__", "tolist", "numpy", "cpu")


def _count_syncs(monkeypatch, run) -> int:
    count = [0]
    for name in SYNCING:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, **kwargs):
            count[0] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    try:
        run()
    finally:
        monkeypatch.undo()
    return count[0]


@pytest.mark.parametrize("resident", ["false", "true"])
def test_host_syncs_do_not_grow_with_the_number_of_training_steps(tmp_path, tiny_library, monkeypatch, resident):
    """With the default callbacks, logger, progress bar and optimizer, 30 steps read hardly more
    values back to the host than 10 (a sync per step would add 20; the few extra are the end of
    the run): nothing in the per-step path syncs (on a GPU each would stall the kernel queue)."""

    def fit(steps: int):
        cfg = compose_run(
            "train",
            tmp_path / str(steps),
            tiny_library,
            "run",
            f"+trainer.max_steps={steps}",
            "trainer.max_epochs=1",
            "predict=false",
            "data.batch_size=32",
            f"data.loader.resident={resident}",
            "+trainer.limit_val_batches=0",
        )
        return lambda: train(cfg)

    few, many = _count_syncs(monkeypatch, fit(10)), _count_syncs(monkeypatch, fit(30))
    assert many - few <= 3, (few, many)


def _datamodule(library, prepared) -> BelkaDataModule:
    dm = datamodule_on(
        library,
        prepared,
        split=StratifiedSplit(),
        batch_size=32,
    )
    dm.setup("fit")
    return dm


def test_the_training_step_returns_a_tensor_and_logs_tensors(tiny_library, tiny_prepared):
    from belka_lab.models.cnn import CNN1D
    from belka_lab.models.module import BelkaModule

    dm = _datamodule(tiny_library, tiny_prepared)
    module = BelkaModule(backbone=CNN1D(), optimizer=torch.optim.AdamW)
    logged = {}
    module.log = lambda name, value, **kw: logged.__setitem__(name, value)
    out = module.training_step(dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0), 0)
    assert isinstance(out, torch.Tensor) and out.requires_grad
    assert logged and all(isinstance(v, torch.Tensor) for v in logged.values())


@pytest.mark.gpu
def test_no_cuda_call_in_the_training_step_synchronises(tiny_library, tiny_prepared):
    from belka_lab.loading.batches import ShuffledBatches
    from belka_lab.loading.resident import ResidentBatches, load_tables
    from belka_lab.models.cnn import CNN1D
    from belka_lab.models.module import BelkaModule

    dm = _datamodule(tiny_library, tiny_prepared)
    batches = ResidentBatches(load_tables(dm.files("train"), torch.device("cuda")), ShuffledBatches(dm.train_idx, 32))
    module = BelkaModule(backbone=CNN1D(), optimizer=torch.optim.AdamW).cuda()
    module.log = lambda *a, **k: None
    optimizer = module.configure_optimizers()
    assert optimizer.defaults.get("fused")
    for i, raw in enumerate(batches):
        if i == 2:  # after warm-up (lazy state), every call that waits for the device raises
            torch.cuda.set_sync_debug_mode("error")
        loss = module.training_step(dm.on_after_batch_transfer(raw, 0), i)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i == 6:
            break
    torch.cuda.set_sync_debug_mode("default")
