"""pretrain: training molecules/s of each pretraining objective (mlm, ecfp, descriptors) for one
encoder, side by side in one process; the property targets are read from their caches (computed
before the clock starts), so the numbers say what each objective costs per step."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import Row, StepTimer

OBJECTIVES = ("mlm", "ecfp", "descriptors")


def run(args) -> list[Row]:
    from hydra import compose, initialize_config_dir

    from belka_lab import run as belka_run
    from belka_lab.core.config import CONFIG_DIR
    from belka_lab.pretraining.pretrain import build

    rows = []
    for objective in OBJECTIVES:
        with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
            cfg = compose(
                "pretrain",
                overrides=[
                    f"paths.root_dir={Path.cwd()}",
                    f"paths.output_dir=logs/bench/pretrain-{objective}",
                    "model=transformer_small",
                    f"objective={objective}",
                    *args.overrides,
                ],
            )
        belka_run.start(cfg)
        _, dm, module, backbone, _ = build(cfg)  # targets cached here, outside the clock
        timer = StepTimer(args.warmup)
        trainer = belka_run.trainer(
            cfg,
            [timer],
            loggers=[],
            max_epochs=-1,
            max_steps=args.warmup + args.steps,
            limit_val_batches=0,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=False,
        )
        trainer.fit(module, datamodule=dm)
        name = cfg.model.backbone._target_.rsplit(".", 1)[-1]
        settings = " ".join(args.overrides) or "model=transformer_small"
        rows.append(
            {
                "what": f"pretrain objective={objective}: {name} ({settings})",
                "n": timer.steps * dm.batch_size,
                "per_s": timer.steps * dm.batch_size / timer.seconds,
                "params": sum(p.numel() for p in backbone.parameters()),
                "device": str(trainer.strategy.root_device),
            }
        )
    mlm = rows[0]["per_s"]
    rows += [
        {
            "what": f"pretrain: {r['what'].split(':')[0].split('=')[1]} / mlm",
            "n": None,
            "per_s": r["per_s"] / mlm,
            "ratio": True,
        }
        for r in rows[1:]
    ]
    return rows
