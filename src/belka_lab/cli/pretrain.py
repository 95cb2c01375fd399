"""``belka pretrain objective=mlm|ecfp|descriptors``: pretraining of a backbone's encoder on every
train and test molecule (no labels).

- ``mlm``: masked-token prediction (``models/mlm.py``);
- ``ecfp``: the molecule's ECFP bits from its tokens (``models/property_pretrain.py``; targets from
  the fingerprint cache, ``data/fingerprints.py``);
- ``descriptors``: standardised RDKit 2D descriptors (``data/descriptors.py``).

``model.init_from=<encoder.pt>`` starts from an earlier stage's encoder, so MLM → ECFP →
fine-tuning is three commands (or one: ``pretrain_chain`` in an experiment, ``cli/chain.py``).
Writes, in the run directory: ``encoder.pt`` (the backbone's weights, for ``model.init_from``),
``results.json`` (validation numbers per epoch), ``pretrain.png`` and the CSV log.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from belka_lab import outputs, plots, run
from belka_lab.cli.command import hydra_command
from belka_lab.data.descriptors import cached_descriptors, config_from
from belka_lab.data.fingerprints import ECFPConfig, cached_ecfp
from belka_lab.data.loader import MemoryLoader
from belka_lab.data.pretrain import PretrainDataModule, Targets
from belka_lab.errors import InputError
from belka_lab.models.init_from import load_encoder, save_encoder
from belka_lab.models.mlm import MaskedLM
from belka_lab.models.property_pretrain import PropertyPretrain

CURVES = {  # objective: (loss, score) of its history, drawn in pretrain.png
    "mlm": ("val_mlm_loss", "val_mlm_accuracy"),
    "ecfp": ("val_ecfp_loss", "val_ecfp_auroc"),
    "descriptors": ("val_descriptors_loss", "val_descriptors_r2"),
}


def targets(cfg: DictConfig, source) -> tuple[Targets | None, int, list[str] | None]:
    """The objective's per-molecule targets (from the caches, computed once), their width and names."""
    objective = cfg.objective
    progress = source.prepare_options.progress
    if objective == "ecfp":
        ecfp = ECFPConfig(**cfg.ecfp)
        cached_ecfp(source.prepared_dir, ecfp, progress=progress)
        base = Path(source.prepared_dir) / "fingerprints" / ecfp.key
        return Targets("bits", base / "train.npy", base / "test.npy", ecfp.n_bits), ecfp.n_bits, None
    if objective == "descriptors":
        options = config_from(OmegaConf.to_container(cfg.descriptors, resolve=True))
        _, info = cached_descriptors(source.prepared_dir, options, progress=progress)
        base = Path(source.prepared_dir) / "descriptors" / options.key
        scale = {"mean": np.asarray(info["mean"], np.float32), "std": np.asarray(info["std"], np.float32)}
        width = len(info["names"])
        return (
            Targets("values", base / "train.npy", base / "test.npy", width, clip=options.clip, **scale),
            width,
            info["names"],
        )
    return None, 0, None


def freeze_embeddings(backbone) -> int:
    """Stop training every embedding table of the backbone (tokens, learned positions as tables);
    the number of parameters frozen. The 1st-place solution trained its ECFP stage this way."""
    from torch import nn

    tables = [m for m in backbone.modules() if isinstance(m, nn.Embedding)]
    if not tables:
        raise InputError(f"freeze_embeddings: {type(backbone).__name__} has no embedding table to freeze")
    for table in tables:
        table.weight.requires_grad_(False)
    return sum(t.weight.numel() for t in tables)


def build(cfg: DictConfig):
    """(source data module, pretraining data module, module, backbone) for ``cfg``: the data made and
    the targets cached, the encoder loaded from ``model.init_from`` when set (the backbone as built,
    not the module's compiled wrapper: what ``encoder.pt`` saves)."""
    objective = cfg.get("objective", "mlm")
    if objective not in CURVES:
        raise InputError(f"objective={objective!r}: choose one of {', '.join(CURVES)}")
    source = run.datamodule(cfg)  # the supervised data module: it makes and prepares the data
    if not isinstance(source.loader, MemoryLoader):
        raise InputError("pretraining reads the prepared arrays of every train and test molecule: use loader=memory")
    target, width, names = targets(cfg, source)
    dm = PretrainDataModule(
        source, cfg.mlm.batch_size, cfg.mlm.eval_batch_size, cfg.mlm.val_molecules, cfg.seed, source.loader, target
    )
    dm.setup("fit")
    backbone = run.backbone(cfg, source)
    init_from = cfg.model.get("init_from")
    report = load_encoder(backbone, init_from) if init_from else None
    if report is not None:
        print(report.summary())
    if cfg.get("freeze_embeddings"):
        frozen = freeze_embeddings(backbone)
        print(f"embeddings frozen: {frozen:,} parameters")
    optimizer = instantiate(cfg.model.optimizer)
    if objective == "mlm":
        module = MaskedLM(backbone, optimizer, cfg.mlm.mask_prob, cfg.seed)
    else:
        module = PropertyPretrain(backbone, optimizer, objective, width, names)
    return source, dm, run.compiled(cfg, module), backbone


def pretrain(cfg: DictConfig) -> dict:
    run.start(cfg)
    t0 = time.time()
    objective = cfg.get("objective", "mlm")
    source, dm, module, backbone = build(cfg)
    init_from = cfg.model.get("init_from")
    trainer = run.trainer(cfg, callbacks=[], enable_checkpointing=False)
    trainer.fit(module, datamodule=dm)

    run_dir = Path(cfg.paths.output_dir)
    result = {
        "objective": objective,
        "model": cfg.model.backbone._target_,
        "params": sum(p.numel() for p in backbone.parameters()),
        "molecules": {"train": len(dm.train_idx), "val": len(dm.val_idx)},
        "init_from": init_from,
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
            loss, score = CURVES[objective]
            name = cfg.model.backbone._target_.rsplit(".", 1)[-1]
            plots.pretrain_curves(
                module.history, loss, score, f"{objective} pretraining: {name}", run_dir / "pretrain.png"
            )
            last = module.history[-1]
            print(f"\n{objective}: " + ", ".join(f"{k} {last[k]:.4f}" for k in (loss, score) if k in last))
        print(
            f"encoder written to {run_dir / 'encoder.pt'}\nnext: python -m belka_lab model=<same model> "
            f"model.init_from={run_dir / 'encoder.pt'} (fine-tune), or pretrain objective=<next> with it"
        )
    return result


@hydra_command("pretrain")
def main(cfg: DictConfig) -> None:
    pretrain(cfg)
