"""Pretraining stages run before fine-tuning: ``pretrain_chain`` in a training config.

Each entry is a ``belka pretrain`` stage (``objective`` and any of its settings, e.g.
``trainer: {max_epochs: 2}``), run on the training run's data, tokenizer and model, in
``<run dir>/pretrain/<n>-<objective>/``. Stage n starts from stage n-1's ``encoder.pt`` (the
first from ``model.init_from`` when set) and the fine-tuning from the last one's, so
``python -m belka_lab experiment=first_place`` is MLM → ECFP → fine-tuning in one command. A
stage whose ``encoder.pt`` is already in its directory (a resumed run: ``hydra.run.dir=<run>
ckpt_path=last``) is not run again.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from belka_lab.config import CONFIG_DIR
from belka_lab.errors import InputError


def stage_config(cfg: DictConfig, stage: dict, out_dir: Path, init_from: str | None) -> DictConfig:
    """The pretrain command's config for one stage: the training config (data, tokenizer, model,
    trainer), ``conf/pretrain.yaml``'s own settings, then the stage's."""
    own = OmegaConf.load(Path(CONFIG_DIR) / "pretrain.yaml")
    own.pop("defaults", None)
    base = OmegaConf.masked_copy(cfg, [k for k in cfg if k not in ("pretrain_chain", "callbacks")])
    place = {"paths": {"output_dir": str(out_dir)}, "model": {"init_from": init_from}, "task_name": "pretrain"}
    return OmegaConf.merge(base, own, stage, place)


def pretrained(cfg: DictConfig) -> DictConfig:
    """Run ``cfg.pretrain_chain``'s stages (each unless done) and return ``cfg`` with
    ``model.init_from`` set to the last stage's encoder."""
    from belka_lab.cli.pretrain import CURVES, pretrain

    if not cfg.get("pretrain_chain"):
        return cfg
    stages = OmegaConf.to_container(cfg.pretrain_chain, resolve=False)
    run_dir = Path(cfg.paths.output_dir)
    encoder = cfg.model.get("init_from")
    for n, stage in enumerate(stages, 1):
        objective = (stage or {}).get("objective")
        if objective not in CURVES:
            raise InputError(f"pretrain_chain stage {n}: objective={objective!r}; choose one of {', '.join(CURVES)}")
        out = run_dir / "pretrain" / f"{n}-{objective}"
        done = out / "results.json"
        if (out / "encoder.pt").exists() and done.exists() and json.loads(done.read_text())["objective"] == objective:
            print(f"pretrain stage {n} ({objective}): {out / 'encoder.pt'} exists, reused")
        else:
            print(f"pretrain stage {n} of {len(stages)}: {objective}" + (f", from {encoder}" if encoder else ""))
            pretrain(stage_config(cfg, stage, out, encoder))
        encoder = str(out / "encoder.pt")
    with open_dict(cfg):
        cfg.model.init_from = encoder
    print(f"fine-tuning from {encoder}")
    return cfg
