"""``belka train`` (= ``python -m belka_lab``): train one model on one fold, predict, write the run's outputs."""

from __future__ import annotations

from omegaconf import DictConfig

from belka_lab.cli.command import hydra_command
from belka_lab.training.train import train


@hydra_command("train")
def main(cfg: DictConfig) -> float | None:
    return train(cfg).get("val_map")
