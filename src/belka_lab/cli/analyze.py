"""``belka analyze runs=[<run dir>,…]``: synthon tables, cube plots, a diverse hit list with its
uncertainty and ``report.html`` for a prepared library and the runs trained on it."""

from __future__ import annotations

from omegaconf import DictConfig

from belka_lab.analysis.analyze import run_analysis
from belka_lab.cli.command import hydra_command


@hydra_command("analyze")
def main(cfg: DictConfig) -> None:
    run_analysis(cfg)
