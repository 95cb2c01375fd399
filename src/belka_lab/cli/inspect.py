"""``belka inspect data.train_file=FILE`` (or ``data.root=DIR``, or ``data=selection``): what
belka_lab understands of a count table from its first rows, and a guessed mapping when the
configured one does not fit. The built-in selection is simulated first when it is not there yet,
as every command that reads it does."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationToMissingValueError, MissingMandatoryValue

from belka_lab.cli.command import hydra_command
from belka_lab.core.errors import InputError
from belka_lab.dataset.inspect import inspect_table, write_suggestion
from belka_lab.synth.selection import SelectionConfig, simulate


@hydra_command("inspect")
def main(cfg: DictConfig) -> None:
    try:
        table = Path(cfg.data.train_file)
    except (MissingMandatoryValue, InterpolationToMissingValueError):
        raise InputError(
            "give the table to inspect: data.train_file=FILE, or data.root=DIR (it reads DIR/selection.parquet)"
        ) from None
    simulation = OmegaConf.select(cfg, "data.simulate")
    if simulation is not None and not table.exists():
        simulate(table.parent, SelectionConfig(**simulation), OmegaConf.select(cfg, "data.prepare.progress") or False)
    counts = OmegaConf.select(cfg, "data.prepare.counts")
    counts = OmegaConf.to_container(counts, resolve=True) if counts is not None else None
    report = inspect_table(table, counts, rows=cfg.rows, parse=cfg.parse)
    print(report.text())
    if cfg.suggestion_file:
        print(f"\nwrote {write_suggestion(report, cfg.suggestion_file)}")
