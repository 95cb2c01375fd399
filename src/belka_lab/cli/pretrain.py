"""``belka pretrain objective=mlm|ecfp|descriptors``: pretrain a backbone's encoder on every train
and test molecule (no labels); writes ``encoder.pt`` for ``model.init_from``."""

from __future__ import annotations

from omegaconf import DictConfig

from belka_lab.cli.command import hydra_command
from belka_lab.pretraining.pretrain import pretrain


@hydra_command("pretrain")
def main(cfg: DictConfig) -> None:
    pretrain(cfg)
