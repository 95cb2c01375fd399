"""`python -m belka_lab.pretrain`: masked-character pretraining of a backbone's encoder.

Writes, in the run directory: ``encoder.pt`` (the backbone's weights, for
``model.init_from``), ``results.json`` (validation loss/accuracy per epoch), ``mlm.png`` and
the CSV log.
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from belka_lab import outputs, plots
from belka_lab.checks import check_tokenizer, check_tokens
from belka_lab.config import CONFIG_DIR
from belka_lab.data.mlm import MLMDataModule
from belka_lab.errors import InputError, exits_on_input_error
from belka_lab.models.init_from import save_encoder
from belka_lab.models.mlm import MaskedLM
from belka_lab.runtime import set_malloc_top_pad


def pretrain(cfg: DictConfig) -> dict:
    set_malloc_top_pad(int(cfg.get("malloc_top_pad_mb", 0)) << 20)
    L.seed_everything(cfg.seed, workers=True)
    t0 = time.time()
    source = instantiate(cfg.data)
    dm = MLMDataModule(source, cfg.mlm.batch_size, cfg.mlm.eval_batch_size, cfg.mlm.val_molecules, cfg.seed, source.num_workers, source.pin_memory)
    dm.prepare_data()  # first: a tokenizer trained on the data must exist before the model
    dm.setup("fit")
    check_tokenizer(source, cfg.model.backbone._target_)
    backbone = instantiate(cfg.model.backbone)
    check_tokens(source, backbone)
    try:
        module = MaskedLM(backbone, instantiate(cfg.model.optimizer), cfg.mlm.mask_prob, cfg.seed)
    except TypeError as e:
        raise InputError(f"{e}; pretrainable models: transformer, transformer_large, mamba, chemberta") from e
    if cfg.get("compile"):
        module.backbone = torch.compile(module.backbone)
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    trainer = instantiate(cfg.trainer, logger=loggers or False, enable_checkpointing=False)
    trainer.fit(module, datamodule=dm)

    run_dir = Path(cfg.paths.output_dir)
    result = {
        "model": cfg.model.backbone._target_, "params": sum(p.numel() for p in backbone.parameters()),
        "molecules": {"train": len(dm.train_idx), "val": len(dm.val_idx)}, "history": module.history,
        "fit_seconds": round(time.time() - t0, 1), "encoder": str(run_dir / "encoder.pt"),
    }  # fmt: skip
    if trainer.is_global_zero:
        save_encoder(run_dir / "encoder.pt", backbone, OmegaConf.to_container(cfg.model.backbone, resolve=True))
        outputs.write_json(run_dir / "results.json", result)
        if module.history:
            plots.mlm_curves(module.history, f"masked-character pretraining: {cfg.model.backbone._target_.rsplit('.', 1)[-1]}", run_dir / "mlm.png")
            last = module.history[-1]
            print(f"\nval masked-character loss {last['val_mlm_loss']:.4f}, accuracy {last['val_mlm_accuracy']:.3f}")
        print(f"encoder written to {run_dir / 'encoder.pt'}\nfine-tune: python -m belka_lab model=<same model> model.init_from={run_dir / 'encoder.pt'}")
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="pretrain")
@exits_on_input_error
def main(cfg: DictConfig) -> None:
    pretrain(cfg)


if __name__ == "__main__":
    main()
