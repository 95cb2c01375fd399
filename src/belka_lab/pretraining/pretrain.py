"""Pretraining a backbone's encoder on every train and test molecule, without labels
(``belka pretrain objective=mlm|ecfp|descriptors``; the objectives are ``pretraining/objectives.py``).

``model.init_from=<encoder.pt>`` starts from an earlier stage's encoder, so MLM → ECFP →
fine-tuning is three commands (or one: ``pretrain_chain`` in a training config,
``pretraining/chain.py``). Writes, in the run directory: ``encoder.pt`` (the backbone's weights,
for ``model.init_from``), ``results.json`` (validation numbers per epoch), ``pretrain.png`` and the
CSV log.
"""

from __future__ import annotations

import time
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from belka_lab import run
from belka_lab.core.curves import pretrain_curves
from belka_lab.core.errors import InputError
from belka_lab.evaluation.outputs import write_json
from belka_lab.loading.loader import MemoryLoader
from belka_lab.loading.pretrain import PretrainDataModule
from belka_lab.models.init_from import load_encoder, save_encoder


def freeze_embeddings(backbone: nn.Module) -> int:
    """Stop training every embedding table of the backbone (tokens, learned positions as tables);
    the number of parameters frozen. The 1st-place solution trained its ECFP stage this way."""
    tables = [m for m in backbone.modules() if isinstance(m, nn.Embedding)]
    if not tables:
        raise InputError(f"freeze_embeddings: {type(backbone).__name__} has no embedding table to freeze")
    for table in tables:
        table.weight.requires_grad_(False)
    return sum(t.weight.numel() for t in tables)


def build(cfg: DictConfig):
    """(source data module, pretraining data module, module, backbone, objective) for ``cfg``: the
    data made and the targets cached, the encoder loaded from ``model.init_from`` when set (the
    backbone as built, not the module's compiled wrapper: what ``encoder.pt`` saves)."""
    objective = instantiate(cfg.objective)
    source = run.datamodule(cfg)  # the supervised data module: it makes and prepares the data
    if not isinstance(source.loader, MemoryLoader):
        raise InputError("pretraining reads the prepared arrays of every train and test molecule: use loader=memory")
    target = objective.targets(source.prepared_dir, source.prepare_options.progress)
    batches = cfg.pretrain
    dm = PretrainDataModule(
        source, batches.batch_size, batches.eval_batch_size, batches.val_molecules, cfg.seed, source.loader, target
    )
    dm.setup("fit")
    run.check_init_from(cfg, source)
    backbone = run.backbone(cfg, source)
    init_from = cfg.model.get("init_from")
    report = load_encoder(backbone, init_from) if init_from else None
    if report is not None:
        print(report.summary())
    if cfg.get("freeze_embeddings"):
        frozen = freeze_embeddings(backbone)
        print(f"embeddings frozen: {frozen:,} parameters")
    module = objective.module(backbone, instantiate(cfg.model.optimizer), cfg.seed)
    return source, dm, run.compiled(cfg, module), backbone, objective


def pretrain(cfg: DictConfig) -> dict:
    run.start(cfg)
    t0 = time.time()
    source, dm, module, backbone, objective = build(cfg)
    init_from = cfg.model.get("init_from")
    trainer = run.trainer(cfg, callbacks=[], enable_checkpointing=False)
    trainer.fit(module, datamodule=dm)

    run_dir = Path(cfg.paths.output_dir)
    result = {
        "objective": objective.name,
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
            tokens={"name": source.tokenizer.name, "vocab_size": int(source.vocab_size)},
        )
        write_json(run_dir / "results.json", result)
        if module.history:
            loss, score = objective.curves
            name = cfg.model.backbone._target_.rsplit(".", 1)[-1]
            title = f"{objective.name} pretraining: {name}"
            pretrain_curves(module.history, loss, score, title, run_dir / "pretrain.png")
            last = module.history[-1]
            print(f"\n{objective.name}: " + ", ".join(f"{k} {last[k]:.4f}" for k in (loss, score) if k in last))
        print(
            f"encoder written to {run_dir / 'encoder.pt'}\nnext: python -m belka_lab model=<same model> "
            f"model.init_from={run_dir / 'encoder.pt'} (fine-tune), or pretrain objective=<next> with it"
        )
    return result
