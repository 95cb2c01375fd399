"""``belka tune tune=<space> [training overrides…]``: an Optuna search over training overrides."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from belka_lab.cli.command import hydra_command
from belka_lab.training.tune import tune


@hydra_command("tune")
def main(cfg: DictConfig) -> None:
    tune(cfg, list(HydraConfig.get().overrides.task))
