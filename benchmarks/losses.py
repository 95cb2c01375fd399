"""losses: training molecules/s of one backbone under every training loss, on the same batches of a
count table, in one process: what learning from counts costs against BCE."""

from __future__ import annotations

import time

from benchmarks.common import Row, sync, training_setup


def run(args) -> list[Row]:
    import torch
    from omegaconf import open_dict

    from belka_lab import run as build
    from belka_lab.core.config import compose
    from belka_lab.models.losses import names
    from belka_lab.models.optim import build_optimizer

    overrides = ["data=selection", *args.overrides]
    cfg, dm, _ = training_setup(overrides, "losses")
    loader = iter(dm.train_dataloader())
    batches = [dm.on_after_batch_transfer(next(loader), 0) for _ in range(min(8, args.steps))]
    rows: list[Row] = []
    for loss in ["bce", *(n for n in names() if n != "bce")]:  # every loss of conf/loss/, bce first
        with open_dict(cfg):
            cfg.loss = compose("train", [f"loss={loss}"]).loss
        torch.manual_seed(0)
        module = build.model(cfg, dm).train()
        opt = build_optimizer(module.optimizer_factory, module.param_groups())
        for i in range(args.warmup + args.steps):
            if i == args.warmup:
                sync(module)
                t0 = time.perf_counter()
            b = batches[i % len(batches)]
            total, count = module.loss(module(b["tokens"], b["mask"]), b)
            opt.zero_grad(set_to_none=True)
            (total / count.clamp_min(1.0)).backward()
            opt.step()
        sync(module)
        per_s = args.steps * dm.batch_size / (time.perf_counter() - t0)
        rows.append({"what": f"train step, loss={loss}", "n": args.steps * dm.batch_size, "per_s": per_s})
    bce = rows[0]["per_s"]
    rows += [
        {"what": f"{r['what'].split('=')[1]} / bce", "n": None, "per_s": r["per_s"] / bce, "ratio": True}
        for r in rows[1:]
    ]
    return rows
