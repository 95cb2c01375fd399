"""A screen from its config (``belka predict run=<dir> input=<molecules>``): the scorer, the
processes and the job built from ``conf/predict.yaml``, the screen run, its summary written."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from belka_lab import run
from belka_lab.evaluation import outputs
from belka_lab.screen import scorers
from belka_lab.screen.reader import Columns
from belka_lab.screen.screening import Job, processes, screen, summary_line


def predict(cfg: DictConfig) -> dict | None:
    run.quiet()
    scorer = scorers.load(
        run=cfg.run,
        runs=OmegaConf.to_container(cfg.runs) if cfg.runs else None,
        weights=OmegaConf.to_container(cfg.weights) if cfg.weights else None,
        model_file=cfg.model_file,
        batch_size=cfg.batch_size,
        precision=cfg.precision,
    )
    fabric = processes(cfg.trainer, cfg.precision or scorer.precision)
    columns = Columns(
        smiles=cfg.smiles_column,
        id=cfg.id_column,
        passthrough=tuple(cfg.passthrough or ()),
        blocks=tuple(cfg.block_columns or ()),
    )
    policy = cfg.on_invalid
    policy = "nan" if isinstance(policy, float) and policy != policy else str(policy)  # YAML reads `nan` as a float
    job = Job(str(cfg.input), str(cfg.output), columns, int(cfg.chunk_rows), policy, bool(cfg.progress))
    summary = screen(job, scorer, fabric)
    if summary is not None:
        overview = summary.pop("overview")
        overview.plot(Path(cfg.paths.output_dir) / "predict.png", f"{scorer.what}: {cfg.input}")
        outputs.write_json(f"{cfg.paths.output_dir}/predict.json", summary)
        print(summary_line(summary))
    return summary
