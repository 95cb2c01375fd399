"""loaders: records/s of the memory loader (host, workers, device-resident) and the DALI loader
over one epoch, next to the bare CNN step."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row


def _epoch_rate(loader) -> tuple[float, float]:
    """(records/s, seconds) of one pass over a loader, touching every batch's tensors."""
    t = time.perf_counter()
    n = 0
    for batch in loader:
        n += len(batch["index"])
        int(batch["tokens"][-1, 0])  # the batch is really there
    seconds = time.perf_counter() - t
    return n / seconds, seconds


def run(args) -> list[Row]:
    import torch

    from belka_lab.dataset.folds import StratifiedSplit
    from belka_lab.loading.dali import DaliLoader
    from belka_lab.loading.datamodule import BelkaDataModule
    from belka_lab.loading.loader import MemoryLoader
    from belka_lab.synth.config import SynthConfig
    from belka_lab.synth.generate import generate

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="belka-bench-"))
    n = args.molecules
    lib = generate(work / f"synthetic-{n}", SynthConfig(n_train=n, n_test=10_000, seed=0, n_bb1=400, n_amines=900))
    rows = []

    def module(loader) -> BelkaDataModule:
        dm = BelkaDataModule(
            prepared_dir=str(lib / "prepared"),
            train_file=str(lib / "train.parquet"),
            test_file=str(lib / "test.parquet"),
            split=StratifiedSplit(),
            batch_size=args.batch_size,
            loader=loader,
            prepare={"progress": False, "n_bb_groups": 5},
        )
        dm.prepare_data()
        return dm

    memory = module(MemoryLoader())
    memory.setup("fit")
    from belka_lab.loading.tfrecord import read_shard_manifest, shard_dir

    out = shard_dir(memory.prepared_dir, "tokens.npy", "fold_stratified")
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    DaliLoader().write_shards(memory.feed)
    write = time.perf_counter() - t
    total = n + 10_000
    size = sum(s["bytes"] for s in read_shard_manifest(out)["shards"])
    rows.append(
        {
            "what": f"TFRecord shards written ({size / 2**20:,.0f} MiB)",
            "n": total,
            "per_s": total / write,
            "seconds": write,
        }
    )
    for workers, resident in ((0, False), (2, False), (0, True)):
        dm = module(MemoryLoader(num_workers=workers, resident=resident))
        dm.setup("fit")
        loader = dm.train_dataloader()
        _epoch_rate(loader)  # page cache, worker start-up, copying to the device: outside the timing
        per_s, seconds = _epoch_rate(loader)
        how = "arrays resident on the device (cpu here)" if resident else f"{workers} workers"
        rows.append(
            {
                "what": f"memory backend, {how}, batch {args.batch_size}",
                "n": len(loader) * args.batch_size,
                "per_s": per_s,
                "seconds": seconds,
            }
        )
    dali = module(DaliLoader(num_threads=os.cpu_count()))
    t = time.perf_counter()
    dali.setup("fit")
    check = time.perf_counter() - t
    rows.append(
        {
            "what": "DALI: shard checks before reading (verify=checksum)",
            "n": total,
            "per_s": total / check,
            "seconds": check,
        }
    )
    loader = dali.train_dataloader()
    first, first_s = _epoch_rate(loader)
    per_s, seconds = _epoch_rate(loader)
    rows.append(
        {
            "what": f"DALI backend, first epoch (pipeline build, buffer fill), batch {args.batch_size}",
            "n": len(loader) * args.batch_size,
            "per_s": first,
            "seconds": first_s,
        }
    )
    rows.append(
        {
            "what": f"DALI backend, next epoch, {dali.loader.num_threads} threads, batch {args.batch_size}",
            "n": len(loader) * args.batch_size,
            "per_s": per_s,
            "seconds": seconds,
        }
    )
    rows.append({"what": "memory (0 workers) / DALI", "n": None, "per_s": rows[1]["per_s"] / per_s, "ratio": True})

    from belka_lab.core.runtime import set_malloc_top_pad
    from belka_lab.models.cnn import CNN1D
    from belka_lab.models.losses import masked_bce

    set_malloc_top_pad(1 << 30)  # as training does
    net = CNN1D()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    raw = next(iter(memory.train_dataloader()))
    batch = memory.on_after_batch_transfer({k: v[:512] for k, v in raw.items()}, 0)
    for i in range(13):
        if i == 3:
            t = time.perf_counter()
        total_loss, count = masked_bce(net(batch["tokens"], batch["mask"]), batch["labels"], batch["label_mask"])
        opt.zero_grad()
        (total_loss / count).backward()
        opt.step()
    rows.append(
        {
            "what": "bare CNN training step on this machine, batch 512 (consumer)",
            "n": 10 * 512,
            "per_s": 10 * 512 / (time.perf_counter() - t),
        }
    )
    return rows
