"""``belka blend runs=[A,B,…] method=mean|rank|optuna``: blend finished runs; the blend is written
like a run (``evaluation/blending.py``)."""

from __future__ import annotations

from omegaconf import DictConfig

from belka_lab.cli.command import hydra_command
from belka_lab.evaluation.blending import run_blend


@hydra_command("blend")
def main(cfg: DictConfig) -> None:
    run_blend(cfg)
