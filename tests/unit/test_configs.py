"""Every config a user can pick composes: each option of each group with each command's config,
and the cheap ones instantiate. A broken yaml fails here in seconds, not in a user's run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from belka_lab.core.config import CONFIG_DIR, compose, register_resolvers

COMMANDS = ("train", "pretrain", "predict", "export", "baseline", "blend", "tune", "prepare", "analyze", "inspect")
PATHS = ["paths.root_dir=/tmp/belka-configs", "paths.output_dir=/tmp/belka-configs/run"]
NEED = {  # the keys a command cannot compose without (its ??? values)
    "predict": ["run=/tmp/run", "input=/tmp/x.smi"],
    "export": ["run=/tmp/run"],
    "blend": ["runs=[/tmp/a,/tmp/b]"],
    "inspect": ["data.root=/tmp/belka"],
}


def _groups(command: str) -> list[str]:
    """The groups in the command's defaults list (hydra's own excepted)."""
    defaults = OmegaConf.to_container(OmegaConf.load(Path(CONFIG_DIR) / f"{command}.yaml")).get("defaults", [])
    names = [next(iter(d)) if isinstance(d, dict) else d for d in defaults]
    return [n for n in names if n not in ("_self_", "hydra") and (Path(CONFIG_DIR) / n).is_dir()]


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


CASES = [(c, g, o) for c in COMMANDS for g in _groups(c) for o in _options(g)]


def test_every_command_has_groups_and_options():
    assert len(CASES) > 60 and {c for c, _, _ in CASES} == set(COMMANDS)


@pytest.mark.parametrize(("command", "group", "option"), CASES, ids=[f"{c}-{g}={o}" for c, g, o in CASES])
def test_every_option_composes_with_every_command(command, group, option):
    overrides = [*PATHS, *NEED.get(command, []), f"{group}={option}"]
    if group == "tokenizer" and option == "pretrained":
        overrides.append("data.tokenizer.path=/tmp/tok")
    if group == "model" and option == "chemberta":
        overrides.append("tokenizer=bpe")  # it reads its own tokenizer's ids, as experiment=chemberta sets
    if group == "data" and option in ("belka", "counts"):
        overrides.append("data.root=/tmp/belka")
    register_resolvers()  # what the commands do before composing (logger=wandb reads two)
    cfg = compose(command, overrides)
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert resolved  # every interpolation resolves
    if group in ("split", "loader"):  # a package directive puts them under data, where the data module reads them
        assert f"{group}" not in cfg and cfg.data[group] is not None
        instantiate(cfg.data[group])
    if group == "objective":
        assert type(instantiate(cfg.objective)).name == option
    if group == "model":
        backbone = cfg.model.backbone
        assert cfg.model._target_ == "belka_lab.models.module.BelkaModule" and "optimizer" in cfg.model
        reads = get_class(backbone._target_).reads
        if reads == "blocks":  # the block table comes from the data: the config's own arguments alone
            instantiate(backbone, _partial_=True)
        elif reads != "tokenizer":  # what the data would pass: the vocabulary of the codes (or nothing for bits)
            instantiate(
                backbone, **({"vocab_size": 37} if reads == "characters" and "vocab_size" not in backbone else {})
            )
    if group == "trainer" and option in ("cpu", "default", "ddp_cpu"):
        instantiate(cfg.trainer, logger=False, enable_progress_bar=False)


def test_model_files_inherit_the_module_block_and_change_only_what_differs():
    base = OmegaConf.load(Path(CONFIG_DIR) / "base" / "model.yaml")
    for option in _options("model"):
        own = OmegaConf.load(Path(CONFIG_DIR) / "model" / f"{option}.yaml")
        assert "_target_" not in own, option  # the module comes from conf/base/model.yaml
        for key in ("scheduler", "pos_weight"):
            assert key not in own or own[key] != base[key], (option, key)
        assert "loss" not in own, option  # the loss is its own group (conf/loss/)
        composed = compose("train", [*PATHS, f"model={option}"])
        assert composed.model.pos_weight == base.pos_weight and composed.loss._target_.endswith(".BCE")
