"""Trainers: DDP on 2 CPU processes (gloo), the TPU trainer's missing extra, the SLURM launcher."""

import os

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from belka_lab.core.config import CONFIG_DIR
from belka_lab.core.errors import InputError
from belka_lab.dataset.store import PreparedDataset
from belka_lab.training.train import train
from helpers import QUIET_TRAINER, belka, compose_run


def test_two_process_ddp_validates_each_molecule_once_and_agrees_with_one_process(tmp_path, tiny_library):
    run = tmp_path / "ddp"
    r = belka(
        "trainer=ddp_cpu",
        f"data.root={tiny_library}",
        f"data.prepared_dir={tmp_path}/prepared",
        "data.synth=null",
        "data.prepare.progress=false",
        f"paths.root_dir={tmp_path}",
        f"hydra.run.dir={run}",
        "trainer.max_epochs=1",
        "data.batch_size=64",
        "data.eval_batch_size=128",
        *QUIET_TRAINER,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 0, r.stderr[-4000:]
    d = PreparedDataset(tmp_path / "prepared")
    val_idx = np.flatnonzero(np.asarray(d.train("fold_stratified")) == 0)
    val = pd.read_parquet(run / "predictions" / "val.parquet")
    assert np.array_equal(val["molecule"].to_numpy(), val_idx)  # gathered from both processes, each molecule once
    logged = pd.read_csv(run / "csv" / "metrics.csv")["val/map"].dropna()
    assert len(logged) == 1
    # the same weights validated by one process: the same mAP
    from belka_lab.models.module import BelkaModule

    ckpt = next((run / "checkpoints").glob("epoch*.ckpt"))
    cfg = compose_run("train", tmp_path, tiny_library, "one", "data.eval_batch_size=128", *QUIET_TRAINER)
    from hydra.utils import instantiate

    dm = instantiate(cfg.data)
    dm.prepare_data()
    model = BelkaModule.load_from_checkpoint(
        ckpt, backbone=instantiate(cfg.model.backbone), optimizer=torch.optim.AdamW, weights_only=False
    )
    import lightning as L

    single = L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    (metrics,) = single.validate(model, datamodule=dm, verbose=False)
    assert metrics["val/map"] == pytest.approx(float(logged.iloc[0]), abs=1e-5)


def test_two_process_ddp_trains_the_network_that_reads_building_blocks(tmp_path, tiny_library):
    """Each process builds the synthon network's block table from the data the first prepared
    before launching the second (its buffers are then broadcast); validation is gathered from
    both, each molecule once."""
    run = tmp_path / "ddp"
    r = belka(
        "trainer=ddp_cpu",
        "model=synthon",
        "model.backbone.hidden=16",
        "model.backbone.heads=2",
        "data.tokenizer.n_bits=256",
        f"data.root={tiny_library}",
        f"data.prepared_dir={tmp_path}/prepared",
        "data.synth=null",
        "data.prepare.progress=false",
        f"paths.root_dir={tmp_path}",
        f"hydra.run.dir={run}",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=4",
        "data.batch_size=64",
        "data.eval_batch_size=128",
        *QUIET_TRAINER,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 0, r.stderr[-4000:]
    d = PreparedDataset(tmp_path / "prepared")
    val = pd.read_parquet(run / "predictions" / "val.parquet")
    assert np.array_equal(val["molecule"].to_numpy(), np.flatnonzero(np.asarray(d.train("fold_stratified")) == 0))
    assert np.isfinite(val[list(d.targets)].to_numpy()).all()


def test_the_tpu_trainer_without_torch_xla_names_the_extra(tmp_path, tiny_library):
    if __import__("importlib").util.find_spec("torch_xla") is not None:
        pytest.skip("torch_xla is installed here")
    with pytest.raises(InputError, match=r"accelerator=tpu needs torch_xla.*\[tpu\] extra"):
        train(compose_run("train", tmp_path, tiny_library, "run", "trainer=tpu"))


@pytest.mark.parametrize("name", ["gpu", "ddp", "ddp_cpu", "tpu"])
def test_every_trainer_config_composes_to_a_lightning_trainer(name):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"trainer={name}"])
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer" and cfg.trainer.use_distributed_sampler is False
    assert {"gpu": "gpu", "ddp": "gpu", "ddp_cpu": "cpu", "tpu": "tpu"}[name] == cfg.trainer.accelerator


def test_the_slurm_launcher_config_composes(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "hydra/launcher=slurm",
                "hydra.launcher.partition=gpu",
                "trainer=ddp",
                "hydra.launcher.gpus_per_node=4",
            ],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher.partition == "gpu" and launcher.gpus_per_node == 4 and launcher.timeout_min == 240
    from hydra.utils import get_class

    assert get_class(launcher._target_).__name__ == "SlurmLauncher"
