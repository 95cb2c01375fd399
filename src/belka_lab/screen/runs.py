"""Reading a finished run directory: its composed config, its results, its data module (over the
prepared data it was trained on, nothing generated), its checkpoint, its training building blocks."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from belka_lab.core.errors import InputError
from belka_lab.core.io import atomic_path
from belka_lab.dataset.read import read_json, read_yaml
from belka_lab.screen.applicability import training_blocks

# classes of belka_lab 0.5.0 and earlier that a run's config names, and where they are now
MOVED = {
    "belka_lab.data.datamodule.": "belka_lab.loading.datamodule.",
    "belka_lab.data.loader.": "belka_lab.loading.loader.",
    "belka_lab.data.dali.": "belka_lab.loading.dali.",
    "belka_lab.data.folds.": "belka_lab.dataset.folds.",
}


def _moved(node) -> None:
    """Rewrite, in place, every ``_target_`` naming a class that moved."""
    if isinstance(node, DictConfig):
        target = node.get("_target_")
        if isinstance(target, str):
            for old, new in MOVED.items():
                if target.startswith(old):
                    node["_target_"] = new + target[len(old) :]
        for key in node:
            _moved(node._get_node(key))
    elif isinstance(node, ListConfig):
        for item in node:
            _moved(item)


def run_config(run_dir: Path) -> DictConfig:
    """The run's composed config, resolved: ``config.yaml`` (written by train and baseline), or
    for older runs Hydra's ``.hydra/config.yaml`` resolved against the run's own paths. Classes
    that have moved since the run was made are named where they are now."""
    cfg = _saved_config(run_dir)
    _moved(cfg)
    return cfg


def _saved_config(run_dir: Path) -> DictConfig:
    saved = run_dir / "config.yaml"
    if saved.exists():
        return read_yaml(saved, "run config")
    hydra_dir = run_dir / ".hydra"
    if not (hydra_dir / "config.yaml").exists():
        raise InputError(f"{run_dir} has no config.yaml: give the directory of a finished train or baseline run")
    cfg = read_yaml(hydra_dir / "config.yaml", "run config")
    runtime = read_yaml(hydra_dir / "hydra.yaml", "run config").hydra.runtime
    cfg.paths.root_dir = os.environ.get("BELKA_LAB_ROOT", runtime.cwd)
    cfg.paths.output_dir = str(run_dir)
    return cfg


def run_results(run_dir: Path) -> dict:
    f = run_dir / "results.json"
    if not f.exists():
        raise InputError(
            f"{run_dir} has no results.json: give the directory of a finished train, baseline or blend run"
        )
    return read_json(f, "run's results")


def run_data(cfg: DictConfig, run_dir: Path):
    """The run's data module, set up over its prepared data (nothing generated or prepared)."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    data["loader"] = {"_target_": "belka_lab.loading.loader.MemoryLoader"}
    if not Path(data["prepared_dir"], "manifest.json").exists():
        raise InputError(
            f"run {run_dir} was trained on {data['prepared_dir']}, which is not here: predict reads its "
            f"tokenizer and training building blocks (or export the run and predict with model_file=)"
        )
    dm = instantiate(data, _convert_="all")
    dm.setup()
    return dm


def cached_blocks(run_dir: Path, dm) -> list[str]:
    f = run_dir / "training_blocks.json"
    if f.exists():
        return read_json(f, "training building blocks")
    blocks = training_blocks(dm)
    with atomic_path(f) as tmp:
        tmp.write_text(json.dumps(blocks))
    return blocks


def checkpoint(run_dir: Path, results: dict) -> Path:
    named = results.get("checkpoint")
    candidates = [Path(named), run_dir / "checkpoints" / Path(named).name] if named else []
    candidates.append(run_dir / "checkpoints" / "last.ckpt")
    for c in candidates:
        if c.exists():
            return c
    raise InputError(f"run {run_dir} has no checkpoint (looked for {', '.join(map(str, candidates))})")
