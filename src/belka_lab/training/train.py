"""Training one model on one fold (``belka train``): build → pretraining stages → fit → predict →
the run's outputs."""

from __future__ import annotations

import time
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig

from belka_lab import run
from belka_lab.core import tracking
from belka_lab.core.checks import resume_path
from belka_lab.evaluation import outputs
from belka_lab.evaluation.predictions import Predictions
from belka_lab.loading.datamodule import PREDICT_SETS
from belka_lab.pretraining import chain


def train(cfg: DictConfig, callbacks: list | None = None) -> dict:
    """Train one model on one fold and write predictions, submission, results and plots.
    ``callbacks`` are added to the configured ones (e.g. a tuner's pruning callback)."""
    run.start(cfg)
    t0 = time.time()
    cfg = chain.pretrained(cfg)  # pretrain_chain's stages first, when the config has them
    datamodule = run.datamodule(cfg)
    model = run.compiled(cfg, run.model(cfg, datamodule))
    predictions = Predictions(PREDICT_SETS)
    loggers = run.configured(cfg, "logger")
    trainer = run.trainer(cfg, [*run.configured(cfg, "callbacks"), *(callbacks or []), predictions], loggers)
    tracking.log_config(loggers, cfg)
    try:
        return _fit_and_predict(cfg, trainer, model, datamodule, predictions, loggers, t0)
    finally:
        tracking.finish(loggers)


def _best_checkpoint(trainer) -> ModelCheckpoint | None:
    """The callback that chooses the best checkpoint (``callbacks.model_checkpoint``), if configured;
    not ``last.ckpt``'s writer, which Lightning also counts as a checkpoint callback."""
    return next((c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)), None)


def _fit_and_predict(
    cfg: DictConfig, trainer, model, datamodule, predictions: Predictions, loggers: list, t0: float
) -> dict:
    run_dir = Path(cfg.paths.output_dir)
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume_path(cfg.get("ckpt_path"), run_dir, model))
    metrics = trainer.callback_metrics
    if trainer.is_global_zero:
        outputs.write_config(run_dir, cfg)  # what belka predict and belka export rebuild the model from
    info = {"params": sum(p.numel() for p in model.backbone.parameters()), "fit_seconds": round(time.time() - t0, 1)}
    if model.init_report is not None:
        r = model.init_report
        info["init_from"] = {"path": r.path, "loaded": len(r.loaded), "new": r.new}
    chooser = _best_checkpoint(trainer)
    best = chooser.best_model_score if chooser else None
    if best is not None:  # the best checkpoint's monitored value: best_val_map, best_val_spearman, …
        info["best_" + chooser.monitor.replace("/", "_")] = float(best)
    if "train/samples_per_s" in metrics:
        info["samples_per_s"] = round(float(metrics["train/samples_per_s"]), 1)
    if not cfg.get("predict", True) or trainer.fast_dev_run:
        result = {"val_map": float(metrics["val/map"]) if "val/map" in metrics else None, **info}
        if trainer.is_global_zero:
            outputs.write_json(run_dir / "results.json", result)
        return result

    ckpt = (chooser.best_model_path if chooser else None) or None
    trainer.predict(model, datamodule=datamodule, ckpt_path=ckpt, return_predictions=False)
    if not trainer.is_global_zero:
        return {}
    val, test = predictions.sets["val"], predictions.of("test", datamodule.n_test, len(datamodule.targets))
    store = datamodule.store
    val_df = outputs.val_frame(
        val["index"],
        val["values"],
        store.train("labels")[val["index"]],
        datamodule.fold,
        datamodule.targets,
        datamodule.cells.names_of(val["index"]),
        datamodule.supervision.observed(store, val["index"]),
    )
    test_df = outputs.test_frame(test["index"], test["values"], datamodule.n_test, datamodule.targets)
    result = outputs.finish_run(
        run_dir, datamodule, val_df, test_df, {"checkpoint": ckpt, **info, "seconds": round(time.time() - t0, 1)}
    )
    tracking.publish(loggers, run_dir)
    return result
