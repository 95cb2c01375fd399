"""Pretraining stages run before fine-tuning: ``pretrain_chain`` in a training config.

Each entry is a ``belka pretrain`` stage: ``objective`` (an option of ``conf/objective/``) and any
of the pretrain command's own settings (``trainer: {max_epochs: 2}``, ``freeze_embeddings``,
``pretrain: {val_molecules: …}``). Hydra composes ``conf/pretrain.yaml`` with that objective; the
training run's data, model, trainer, logger and paths take the place of the command's defaults;
the stage's settings come last. Each stage runs in ``<run dir>/pretrain/<n>-<objective>/``. Stage n
starts from stage n-1's ``encoder.pt`` (the first from ``model.init_from`` when set) and the
fine-tuning from the last one's, so ``python -m belka_lab experiment=first_place`` is MLM → ECFP →
fine-tuning in one command. A stage whose ``encoder.pt`` is already in its directory (a resumed
run: ``hydra.run.dir=<run> ckpt_path=last``) is not run again.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from belka_lab.core.config import CONFIG_DIR, compose
from belka_lab.core.errors import InputError
from belka_lab.pretraining.pretrain import pretrain

SHARED = ("paths", "data", "model", "trainer", "logger", "seed", "fold", "compile", "malloc_top_pad_mb")


def objectives() -> list[str]:
    """The options of the ``objective`` config group."""
    return sorted(p.stem for p in (Path(CONFIG_DIR) / "objective").glob("*.yaml"))


def stage_config(cfg: DictConfig, stage: dict, out_dir: Path, init_from: str | None) -> DictConfig:
    """The pretrain command's config for one stage of ``cfg`` (a training config)."""
    settings = dict(stage)
    name = settings.pop("objective")
    own = compose("pretrain", [f"objective={name}"])
    epochs = own.trainer.max_epochs  # the pretrain command's own length, unless the stage says otherwise
    with open_dict(own):
        for key in SHARED:
            if key in cfg:
                own[key] = cfg[key]
        own.trainer.max_epochs = epochs
    place = {"paths": {"output_dir": str(out_dir)}, "model": {"init_from": init_from}, "task_name": "pretrain"}
    return OmegaConf.merge(own, settings, place)


def pretrained(cfg: DictConfig) -> DictConfig:
    """Run ``cfg.pretrain_chain``'s stages (each unless done) and return ``cfg`` with
    ``model.init_from`` set to the last stage's encoder."""
    if not cfg.get("pretrain_chain"):
        return cfg
    stages = OmegaConf.to_container(cfg.pretrain_chain, resolve=False)
    run_dir = Path(cfg.paths.output_dir)
    encoder = cfg.model.get("init_from")
    known = objectives()
    for n, stage in enumerate(stages, 1):
        objective = (stage or {}).get("objective")
        if objective not in known:
            raise InputError(f"pretrain_chain stage {n}: objective={objective!r}; choose one of {', '.join(known)}")
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
