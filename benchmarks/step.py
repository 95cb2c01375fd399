"""step: training molecules/s of one backbone through the framework and in a bare PyTorch loop, in the same process."""

from __future__ import annotations

import time

from benchmarks.common import Row, StepTimer, autocast, sync, training_setup


def run(args) -> list[Row]:
    import copy

    import torch
    from lightning.pytorch.callbacks import Checkpoint

    from belka_lab import run
    from belka_lab.core.callbacks import ResumeCheckpoint
    from belka_lab.models.optim import build_optimizer, param_groups

    cfg, dm, module = training_setup(args.overrides, "step")
    bare_net, bare_loss = copy.deepcopy(module.backbone), copy.deepcopy(module.loss)  # the run's loss
    if cfg.get("compile"):
        module.backbone, bare_net = torch.compile(module.backbone), torch.compile(bare_net)
    steps, warmup = args.steps, args.warmup

    # the run as configured (callbacks, loggers, progress bar), less what writes checkpoints
    callbacks = [cb for cb in run.configured(cfg, "callbacks") if not isinstance(cb, Checkpoint | ResumeCheckpoint)]
    timer = StepTimer(warmup)
    trainer = run.trainer(
        cfg,
        [*callbacks, timer],
        max_epochs=-1,
        max_steps=warmup + steps,
        limit_val_batches=0,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=dm)
    framework = timer.steps * dm.batch_size / timer.seconds

    device = trainer.strategy.root_device  # Lightning moves the module back to the CPU after fit
    bare_net = bare_net.to(device).train()  # same initial weights as the framework's copy
    bare_loss = bare_loss.to(device)
    from belka_lab.loading.resident import ResidentBatches

    resident = isinstance(dm.train_dataloader(), ResidentBatches)  # batches gathered on the device
    loader = iter(dm.train_dataloader())
    batches = [
        dm.on_after_batch_transfer({k: v.to(device) for k, v in next(loader).items()}, 0) for _ in range(min(8, steps))
    ]
    opt = build_optimizer(module.optimizer_factory, param_groups(bare_net.named_parameters()))  # as the framework does
    precision = cfg.trainer.get("precision", "32-true")
    for i in range(warmup + steps):
        if i == warmup:
            sync(bare_net)
            t0 = time.perf_counter()
        b = batches[i % len(batches)]
        with autocast(precision, device):
            logits = bare_net(b["tokens"], b["mask"])
        total, count = bare_loss(logits, b)
        opt.zero_grad(set_to_none=True)
        (total / count.clamp_min(1.0)).backward()
        opt.step()
    sync(bare_net)
    bare = steps * dm.batch_size / (time.perf_counter() - t0)
    name = cfg.model.backbone._target_.rsplit(".", 1)[-1]
    params = sum(p.numel() for p in bare_net.parameters())
    what = f"{name} ({' '.join(args.overrides) or 'defaults'}){', resident data' if resident else ''}"
    return [
        {
            "what": f"step, bare PyTorch: {what}",
            "n": steps * dm.batch_size,
            "per_s": bare,
            "params": params,
            "device": str(device),
        },
        {
            "what": f"step, framework: {what}",
            "n": timer.steps * dm.batch_size,
            "per_s": framework,
            "params": params,
            "device": str(device),
        },
        {"what": "step: framework / bare", "n": None, "per_s": framework / bare, "ratio": True},
    ]
