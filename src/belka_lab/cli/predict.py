"""``belka predict run=<dir> input=<molecules>``: score a molecule file with a finished run, a
blend or an exported model."""

from __future__ import annotations

from omegaconf import DictConfig

from belka_lab.cli.command import hydra_command
from belka_lab.screen.predict import predict


@hydra_command("predict")
def main(cfg: DictConfig) -> None:
    predict(cfg)
