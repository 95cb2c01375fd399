"""The Hydra config tree: where ``conf/`` is, composing a config from code, and the resolvers the
configs use.

``conf/`` is at the repository root (source checkout or editable install), or ``belka_lab/conf``
inside an installed wheel. :func:`register_resolvers` adds ``${belka.wandb_offline:}`` and
``${belka.wandb_group:}`` (read by ``conf/logger/wandb.yaml``); the commands and
:func:`belka_lab.run.start` call it, nothing registers at import.
"""

from __future__ import annotations

import os
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from belka_lab.core.errors import InputError

_HERE = Path(__file__).resolve().parent
_PACKAGE = _HERE.parent


def config_dir() -> Path:
    for candidate in (_PACKAGE.parents[1] / "conf", _PACKAGE / "conf"):
        if (candidate / "train.yaml").exists():
            return candidate
    raise FileNotFoundError(f"belka_lab's conf/ directory was not found next to {_PACKAGE}; reinstall the package")


CONFIG_DIR = str(config_dir())


# keys of earlier versions → what to write now
RENAMED = {
    "model.loss": "loss",
    "model.focal.gamma": "loss.gamma",
    "model.focal.alpha": "loss.alpha",
    "model.count_beta": "loss.beta",
    "data.prepare.counts.counts": "data.prepare.counts.pattern",
}


def check_overrides(overrides) -> None:
    """One clear error for an override an earlier version took: the training loss is the ``loss``
    group now (``loss=zip``, ``loss.beta=0.5``, ``loss.alpha=0.25``); the count columns'
    regular expression is ``data.prepare.counts.pattern``."""
    for override in overrides:
        key, _, value = str(override).partition("=")
        key = key.lstrip("+~")
        if key in RENAMED:
            why = "the training loss is a config group of its own now (conf/loss/)"
            why = why if RENAMED[key].startswith("loss") else "renamed"
            raise InputError(f"{override}: {why}: write {RENAMED[key]}={value}")


def compose(name: str, overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """``conf/<name>.yaml`` with ``overrides``, composed by Hydra: inside a running command (its
    config search path) or from plain code."""
    check_overrides(overrides)
    if GlobalHydra.instance().is_initialized():
        return hydra_compose(name, overrides=list(overrides))
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return hydra_compose(name, overrides=list(overrides))


def _wandb_offline() -> bool:
    """W&B runs offline unless an API key is configured (or when WANDB_MODE=offline)."""
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun"):
        return True
    if os.environ.get("WANDB_API_KEY"):
        return False
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" not in netrc.read_text()
    except OSError:
        return True


def _wandb_group() -> str | None:
    """The jobs of one Hydra multirun share a group: the sweep directory's name."""
    try:
        hc = HydraConfig.get()
    except ValueError:
        return None
    return Path(hc.sweep.dir).name if hc.mode == RunMode.MULTIRUN else None


def register_resolvers() -> None:
    for name, fn in (("belka.wandb_offline", _wandb_offline), ("belka.wandb_group", _wandb_group)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
