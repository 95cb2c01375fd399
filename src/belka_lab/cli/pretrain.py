"""``belka pretrain``: masked-character pretraining of a backbone's encoder.

Writes, in the run directory: ``encoder.pt`` (the backbone's weights, for
``model.init_from``), ``results.json`` (validation loss/accuracy per epoch), ``mlm.png`` and
the CSV log.
"""

from __future__ import annotations

import time
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from belka_lab import outputs, plots, run
from belka_lab.cli.command import hydra_command
from belka_lab.data.loader import MemoryLoader
from belka_lab.data.mlm import MLMDataModule
from belka_lab.errors import InputError
from belka_lab.models.init_from import save_encoder
from belka_lab.models.mlm import MaskedLM


def pretrain(cfg: DictConfig) -> dict:
    run.start(cfg)
    t0 = time.time()
    source = run.datamodule(cfg)  # the supervised data module: it makes and prepares the data
    if not isinstance(source.loader, MemoryLoader):
        raise InputError("pretraining reads the prepared arrays of every train and test molecule: use loader=memory")
    dm = MLMDataModule(
        source, cfg.mlm.batch_size, cfg.mlm.eval_batch_size, cfg.mlm.val_molecules, cfg.seed, source.loader
    )
    dm.setup("fit")
    backbone = run.backbone(cfg, source)
    module = run.compiled(cfg, MaskedLM(backbone, instantiate(cfg.model.optimizer), cfg.mlm.mask_prob, cfg.seed))
    trainer = run.trainer(cfg, callbacks=[], enable_checkpointing=False)
    trainer.fit(module, datamodule=dm)

    run_dir = Path(cfg.paths.output_dir)
    result = {
        "model": cfg.model.backbone._target_,
        "params": sum(p.numel() for p in backbone.parameters()),
        "molecules": {"train": len(dm.train_idx), "val": len(dm.val_idx)},
        "history": module.history,
        "fit_seconds": round(time.time() - t0, 1),
        "encoder": str(run_dir / "encoder.pt"),
    }
    if trainer.is_global_zero:
        save_encoder(
            run_dir / "encoder.pt",
            backbone,
            OmegaConf.to_container(cfg.model.backbone, resolve=True) | {"vocab_size": source.vocab_size},
        )
        outputs.write_json(run_dir / "results.json", result)
        if module.history:
            plots.mlm_curves(
                module.history,
                f"masked-character pretraining: {cfg.model.backbone._target_.rsplit('.', 1)[-1]}",
                run_dir / "mlm.png",
            )
            last = module.history[-1]
            print(f"\nval masked-character loss {last['val_mlm_loss']:.4f}, accuracy {last['val_mlm_accuracy']:.3f}")
        print(
            f"encoder written to {run_dir / 'encoder.pt'}\nfine-tune: python -m belka_lab model=<same model> "
            f"model.init_from={run_dir / 'encoder.pt'}"
        )
    return result


@hydra_command("pretrain")
def main(cfg: DictConfig) -> None:
    pretrain(cfg)
