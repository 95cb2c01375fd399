"""`python -m belka_lab`: compose → instantiate → fit → predict → write the run's outputs."""

from __future__ import annotations

import time
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from belka_lab import outputs, tracking
from belka_lab.checks import check_accelerator, check_tokenizer, check_tokens, resume_path
from belka_lab.config import CONFIG_DIR
from belka_lab.errors import exits_on_input_error
from belka_lab.runtime import set_malloc_top_pad


def configured(cfg: DictConfig, group: str) -> list:
    """The objects of a config group of named entries (``callbacks``, ``logger``); null entries are switched off."""
    return [instantiate(c) for c in (cfg.get(group) or {}).values() if c is not None]


def train(cfg: DictConfig, callbacks: list | None = None) -> dict:
    """Train one model on one fold and write predictions, submission, results and plots.
    ``callbacks`` are added to the configured ones (e.g. a tuner's pruning callback)."""
    check_accelerator(cfg.trainer)
    set_malloc_top_pad(int(cfg.get("malloc_top_pad_mb", 0)) << 20)
    L.seed_everything(cfg.seed, workers=True)
    t0 = time.time()
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()  # first: a tokenizer trained on the data must exist before the model
    datamodule.setup("fit")
    check_tokenizer(datamodule, cfg.model.backbone._target_)
    model = instantiate(cfg.model)
    check_tokens(datamodule, model.backbone)
    if cfg.get("compile"):
        model.backbone = torch.compile(model.backbone)
    callbacks = configured(cfg, "callbacks") + list(callbacks or [])
    loggers = configured(cfg, "logger")
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    tracking.log_config(loggers, cfg)
    try:
        return _fit_and_predict(cfg, trainer, model, datamodule, loggers, t0)
    finally:
        tracking.finish(loggers)


def _fit_and_predict(cfg: DictConfig, trainer, model, datamodule, loggers: list, t0: float) -> dict:
    run_dir = Path(cfg.paths.output_dir)
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume_path(cfg.get("ckpt_path"), run_dir, model))
    metrics = trainer.callback_metrics
    info = {"params": sum(p.numel() for p in model.backbone.parameters()), "fit_seconds": round(time.time() - t0, 1)}
    if getattr(model, "init_report", None) is not None:
        r = model.init_report
        info["init_from"] = {"path": r.path, "loaded": len(r.loaded), "new": r.new}
    best = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
    if best is not None:
        info["best_val_map"] = float(best)
    if "train/samples_per_s" in metrics:
        info["samples_per_s"] = round(float(metrics["train/samples_per_s"]), 1)
    if not cfg.get("predict", True) or trainer.fast_dev_run:
        result = {"val_map": float(metrics["val/map"]) if "val/map" in metrics else None, **info}
        if trainer.is_global_zero:
            outputs.write_json(run_dir / "results.json", result)
        return result

    ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else None
    ckpt = ckpt or None
    predictions = {}
    for part in ("val", "test"):
        datamodule.predict_on = part
        trainer.predict(model, datamodule=datamodule, ckpt_path=ckpt, return_predictions=False)
        predictions[part] = model.predictions
    val, test = predictions["val"], predictions["test"]
    if not trainer.is_global_zero:
        return {}
    store = datamodule.store
    val_df = outputs.val_frame(val["index"], val["probs"], store.train("labels")[val["index"]], datamodule.fold)
    test_df = outputs.test_frame(test["index"], test["probs"], int(store.manifest["counts"]["test_molecules"]))
    result = outputs.finish_run(run_dir, datamodule, val_df, test_df, {"checkpoint": ckpt, **info, "seconds": round(time.time() - t0, 1)})
    tracking.publish(loggers, run_dir)
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@exits_on_input_error
def main(cfg: DictConfig) -> float | None:
    return train(cfg).get("val_map")


if __name__ == "__main__":
    main()
