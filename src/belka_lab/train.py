"""`python -m belka_lab`: compose → instantiate → fit → predict → write the run's outputs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig

from belka_lab import outputs
from belka_lab.config import CONFIG_DIR
from belka_lab.errors import EXIT_INPUT_ERROR, InputError
from belka_lab.runtime import set_malloc_top_pad


def check_tokenizer(datamodule, backbone_target: str) -> None:
    """Before building the model: it must read the ids the data module serves (characters, or
    its own tokenizer's for models that declare ``own_tokenizer``)."""
    cls = get_class(backbone_target)
    own = getattr(cls, "own_tokenizer", False)
    if own and datamodule.tokenizer.is_char:
        raise InputError(f"{cls.__name__} reads its own tokenizer's ids: add tokenizer=pretrained tokenizer.path=<its dir> or tokenizer=bpe (see experiment=chemberta)")
    if not own and not datamodule.tokenizer.is_char:
        raise InputError(f"{cls.__name__} reads character codes: use tokenizer=char (not {datamodule.tokenizer.name})")


def check_tokens(datamodule, backbone) -> None:
    """After building it: padding id and vocabulary agree with the token arrays."""
    pad = getattr(backbone, "pad_token_id", 0)
    if pad != datamodule.pad_id:
        raise InputError(f"tokenizer {datamodule.tokenizer.path} pads with id {datamodule.pad_id} but the model with {pad}: use the model's own tokenizer")
    vocab = getattr(backbone, "vocab_size", None)
    if vocab is not None and datamodule.vocab_size > vocab:
        raise InputError(f"{datamodule.prepared_dir} uses {datamodule.vocab_size} token codes but the model embeds {vocab}; set model.backbone.vocab_size={datamodule.vocab_size}")


def resume_path(ckpt_path: str | None, run_dir: Path, model) -> str | None:
    """The checkpoint to resume from, checked against the model before training starts:
    ``last`` means ``<run dir>/checkpoints/last.ckpt``; a checkpoint of another model or size
    is refused with the tensors that differ."""
    if not ckpt_path:
        return None
    path = run_dir / "checkpoints" / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
    if not path.is_file():
        hint = "resume in the run's own directory: hydra.run.dir=<run dir> ckpt_path=last" if ckpt_path == "last" else "give an existing .ckpt file"
        raise InputError(f"ckpt_path={ckpt_path}: {path} does not exist; {hint}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    except Exception as e:
        raise InputError(f"ckpt_path={ckpt_path}: {path} is not a training checkpoint of this framework ({type(e).__name__}: {str(e)[:200]})") from e
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if k in state and state[k].shape != v.shape]
    if missing or wrong:
        detail = "; ".join(wrong[:3] + [f"missing {k}" for k in missing[:3]])
        raise InputError(f"ckpt_path={ckpt_path}: {path} was trained with another model, size or vocabulary ({detail}); resume with the overrides it was trained with")
    return str(path)


def train(cfg: DictConfig) -> dict:
    """Train one model on one fold and write predictions, submission, results and plots."""
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
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    run_dir = Path(cfg.paths.output_dir)
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume_path(cfg.get("ckpt_path"), run_dir, model))
    metrics = trainer.callback_metrics
    info = {"params": sum(p.numel() for p in model.backbone.parameters()), "fit_seconds": round(time.time() - t0, 1)}
    if getattr(model, "init_report", None) is not None:
        r = model.init_report
        info["init_from"] = {"path": r.path, "loaded": len(r.loaded), "new": r.new}
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
    extra = {"checkpoint": ckpt, **info, "seconds": round(time.time() - t0, 1), "prepared_dir": str(Path(datamodule.prepared_dir).resolve()), "fold_column": datamodule.fold_column}
    table = outputs.write_run(run_dir, val_df, test_df, store.test_rows(), datamodule.fold_column, datamodule.fold, extra)
    print(f"\nResults ({run_dir}):\n{outputs.format_table(table)}\n")
    return {"val_map": float(table.query("set == 'val' and protein == 'mean'")["ap"].iloc[0]), **extra}


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        result = train(cfg)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(EXIT_INPUT_ERROR)
    return result.get("val_map")


if __name__ == "__main__":
    main()
