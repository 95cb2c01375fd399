"""What a run hands to its experiment trackers besides the metrics Lightning logs: the
resolved config at the start, the results table and the PNG plots at the end, and a clean
finish (so each run of a sweep or tuning study is its own tracker run)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import pandas as pd
from omegaconf import DictConfig, OmegaConf


def log_config(loggers: list, cfg: DictConfig) -> None:
    """The whole resolved config (data, model, trainer, …) as the run's hyperparameters."""
    params = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(params)


HEADLINE = ("val_map", "test_score", "val_spearman", "affinity_spearman", "affinity_kendall")


def publish(loggers: list, run_dir: Path) -> None:
    """The run's headline results (``results/<name>``: the test score, the held-out affinities'
    Spearman and Kendall, per group too) to every logger; the results table and every plot to the
    trackers that display them."""
    run_dir = Path(run_dir)
    table = pd.read_csv(run_dir / "results.csv") if (run_dir / "results.csv").exists() else None
    pngs = sorted((run_dir / "plots").glob("*.png"))
    summary = json.loads((run_dir / "results.json").read_text()) if (run_dir / "results.json").exists() else {}
    headline = {
        f"results/{k}": float(v)
        for k, v in summary.items()
        if (k in HEADLINE or k.startswith("affinity_spearman_")) and isinstance(v, (int, float))
    }
    for logger in loggers:
        if "heldout" in summary:  # "none": no held-out affinity file was given
            logger.log_hyperparams({"heldout_affinity_file": summary["heldout"]})
        if headline:
            logger.log_metrics(headline, step=0)
            logger.save()
        if hasattr(logger, "log_table") and hasattr(logger, "log_image"):  # Weights & Biases
            if table is not None:
                logger.log_table(key="results", dataframe=table)
            for png in pngs:
                logger.log_image(key=f"plots/{png.stem}", images=[str(png)])
        elif hasattr(getattr(logger, "experiment", None), "add_image"):  # TensorBoard
            writer = logger.experiment
            if table is not None:
                writer.add_text("results", "```\n" + table.to_string(index=False) + "\n```")
            for png in pngs:
                writer.add_image(f"plots/{png.stem}", matplotlib.image.imread(png)[..., :3], dataformats="HWC")
            writer.flush()


def finish(loggers: list) -> None:
    """Close tracker runs opened by this process (W&B writes its files on finish)."""
    for logger in loggers:
        run = getattr(logger, "_experiment", None)
        if run is not None and callable(getattr(run, "finish", None)):
            run.finish()
