"""``belka baseline baseline=lgbm|rf``: ECFP fingerprints + a tree model per protein, on the
training runs' folds, with their outputs."""

from __future__ import annotations

from omegaconf import DictConfig

from belka_lab.baselines.fit import fit_baseline
from belka_lab.cli.command import hydra_command


@hydra_command("baseline")
def main(cfg: DictConfig) -> float | None:
    return fit_baseline(cfg)["val_map"]
