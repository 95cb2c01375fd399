"""Where the Hydra config tree lives: `conf/` at the repository root (source checkout or
editable install), or `belka_lab/conf` inside an installed wheel."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def config_dir() -> Path:
    for candidate in (_HERE.parents[1] / "conf", _HERE / "conf"):
        if (candidate / "train.yaml").exists():
            return candidate
    raise FileNotFoundError(f"belka_lab's conf/ directory was not found next to {_HERE}; reinstall the package")


CONFIG_DIR = str(config_dir())


def _wandb_offline() -> bool:
    """W&B runs offline unless an API key is configured (or when WANDB_MODE=offline)."""
    import os

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
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except (ImportError, ValueError):
        return None
    return Path(hc.sweep.dir).name if hc.mode == RunMode.MULTIRUN else None


def _register_resolvers() -> None:
    from omegaconf import OmegaConf

    for name, fn in (("belka.wandb_offline", _wandb_offline), ("belka.wandb_group", _wandb_group)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


_register_resolvers()
