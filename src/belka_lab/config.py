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
