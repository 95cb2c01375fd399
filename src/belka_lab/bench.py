"""`python -m belka_lab.bench <suite>`: measured numbers, printed as a table and appended as
one JSON line (machine, versions, settings, results) to --jsonl.

Suites
  prepare   SMILES/s of the encoder vs the notebook's dict loop on the same strings; wall
            time and peak memory of prepare on a synthetic train file, extrapolated to
            BELKA's 295M rows.
  step      training molecules/s of one backbone through the framework (Trainer.fit with
            BelkaModule, the data module and the configured callbacks, loggers and progress
            bar, less checkpoint writing) and in a bare PyTorch loop over batches already
            on the device, in the same process; the remaining arguments are Hydra overrides
            of the training config (e.g. `model=se_xception trainer=gpu data.batch_size=1024`).
  loaders   training records/s of the memory backend and the DALI backend (TFRecord shards)
            over one epoch of the same prepared synthetic data (--molecules), in one process,
            next to the bare CNN training step on this machine (the fastest model's appetite).
  predict   test-set molecules/s of the prediction pass (Trainer.predict of a model of the
            config over the data's test molecules), extrapolated to BELKA's 878,022 test
            molecules (1,674,896 rows); the remaining arguments are Hydra overrides.
  fingerprints  ECFP4 of --molecules synthetic molecules on all cores.
  outputs   what follows training at BELKA's size, on random predictions: the validation
            AP of an epoch's end (--val-molecules, default one of 15 folds of 98.4M), the
            predictions' parquet files, the 1.67M-row submission, the results table and the
            precision-recall plots.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L

BELKA_TRAIN_ROWS = 295_246_830
BELKA_TEST_MOLECULES, BELKA_TEST_ROWS = 878_022, 1_674_896


def _machine() -> dict:
    import lightning
    import numpy
    import pyarrow
    import torch

    machine = {
        "python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
        "numpy": numpy.__version__, "pyarrow": pyarrow.__version__, "torch": torch.__version__, "lightning": lightning.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,  # the card the numbers came from
    }  # fmt: skip
    try:
        import nvidia.dali

        machine["dali"] = nvidia.dali.__version__
    except ImportError:
        pass
    return machine


def bench_encoder(smiles, loop_sample: int) -> list[dict]:
    import pyarrow as pa

    from belka_lab.data.encode import encode_arrow, encode_dict_loop

    arr = pa.array(smiles, pa.string())
    encode_arrow(arr[:1000])  # compile outside the timing
    t = time.perf_counter()
    fast, _ = encode_arrow(arr)
    fast_rate = len(arr) / (time.perf_counter() - t)
    sample = smiles[:loop_sample]
    t = time.perf_counter()
    slow = encode_dict_loop(sample)
    loop_rate = len(sample) / (time.perf_counter() - t)
    assert (fast[: len(sample)] == slow).all()
    return [
        {"what": "encode: Arrow buffers (belka_lab)", "n": len(arr), "per_s": fast_rate},
        {"what": "encode: notebook dict loop", "n": len(sample), "per_s": loop_rate},
        {"what": "encode: speed-up", "n": None, "per_s": fast_rate / loop_rate},
    ]


def _prepare_child(train: str, test: str, out: str, batch_rows: int) -> None:
    from belka_lab.data.ingest import PrepareOptions, prepare

    prepare(train, test, out, options=PrepareOptions(batch_rows=batch_rows, progress=False))


def suite_prepare(args) -> list[dict]:
    import pyarrow.parquet as pq

    from belka_lab.data.synth import SynthConfig, generate

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="belka-bench-"))
    n_mol = -(-args.rows // 3)
    lib = generate(work / f"synthetic-{n_mol}", SynthConfig(n_train=n_mol, n_test=30_000, seed=0, n_bb1=400, n_amines=900))
    smiles = pq.read_table(lib / "train.parquet", columns=["molecule_smiles"]).column(0).slice(0, 3 * args.encode_n)
    smiles = smiles.to_pylist()[::3][: args.encode_n]
    rows = bench_encoder(smiles, args.loop_n)

    out = work / "prepared"
    code = f"from belka_lab.bench import _prepare_child; _prepare_child({str(lib / 'train.parquet')!r}, {str(lib / 'test.parquet')!r}, {str(out)!r}, {args.batch_rows})"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    wall = time.perf_counter() - t
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    n_rows = 3 * n_mol
    rows += [
        {"what": f"prepare: {n_rows:,} train rows (wall s)", "n": n_rows, "per_s": n_rows / wall, "seconds": wall, "peak_rss_gib": peak_gib},
        {"what": "prepare: BELKA 295M rows, extrapolated (min)", "n": BELKA_TRAIN_ROWS, "per_s": n_rows / wall, "seconds": BELKA_TRAIN_ROWS / (n_rows / wall)},
    ]
    return rows


def _sync(module) -> None:
    """Wait for queued device work (reading a value back works on every device)."""
    float(next(module.parameters()).detach().sum())


class StepTimer(L.Callback):
    """Wall time of the optimizer steps after the first ``warmup``, counted across epochs (a
    small library's epoch can be shorter than the warm-up), the device's queue drained at both ends."""

    def __init__(self, warmup: int):
        self.warmup, self.t0, self.start_step, self.seconds, self.steps = warmup, None, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.t0 is None and trainer.global_step >= self.warmup:
            _sync(pl_module)
            self.start_step, self.t0 = trainer.global_step, time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        if self.t0 is None:
            raise RuntimeError(f"training stopped after {trainer.global_step} steps, inside the {self.warmup} warm-up steps")
        _sync(pl_module)
        self.seconds = time.perf_counter() - self.t0
        self.steps = trainer.global_step - self.start_step


def _autocast(precision: str, device):
    import contextlib

    import torch

    if str(precision).startswith("bf16"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if str(precision).startswith("16"):
        return torch.autocast(device.type, dtype=torch.float16)
    return contextlib.nullcontext()


def _training_setup(overrides: list[str], suite: str):
    """(config, prepared data module, module) as training builds them, for a suite."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from belka_lab.config import CONFIG_DIR
    from belka_lab.runtime import set_malloc_top_pad

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.root_dir={Path.cwd()}", f"paths.output_dir=logs/bench/{suite}", *overrides])
    set_malloc_top_pad(int(cfg.get("malloc_top_pad_mb", 0)) << 20)
    L.seed_everything(cfg.seed)
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    return cfg, dm, instantiate(cfg.model)


def suite_step(args) -> list[dict]:
    import copy

    import torch
    from hydra.utils import instantiate
    from lightning.pytorch.callbacks import Checkpoint

    from belka_lab.callbacks import ResumeCheckpoint
    from belka_lab.models.module import fused_kwargs, masked_bce
    from belka_lab.train import configured

    cfg, dm, module = _training_setup(args.overrides, "step")
    bare_net = copy.deepcopy(module.backbone)
    if cfg.get("compile"):
        module.backbone, bare_net = torch.compile(module.backbone), torch.compile(bare_net)
    steps, warmup = args.steps, args.warmup

    # the run as configured (callbacks, loggers, progress bar), less what writes checkpoints
    callbacks = [cb for cb in configured(cfg, "callbacks") if not isinstance(cb, Checkpoint | ResumeCheckpoint)]
    timer = StepTimer(warmup)
    trainer = instantiate(
        cfg.trainer, max_epochs=-1, max_steps=warmup + steps, limit_val_batches=0, logger=configured(cfg, "logger") or False,
        callbacks=[*callbacks, timer], enable_checkpointing=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(module, datamodule=dm)
    framework = timer.steps * dm.batch_size / timer.seconds

    device = trainer.strategy.root_device  # Lightning moves the module back to the CPU after fit
    bare_net = bare_net.to(device).train()  # same initial weights as the framework's copy
    from belka_lab.data.resident import ResidentBatches

    resident = isinstance(dm.train_dataloader(), ResidentBatches)  # batches gathered on the device
    loader = iter(dm.train_dataloader())
    batches = [dm.on_after_batch_transfer({k: v.to(device) for k, v in next(loader).items()}, 0) for _ in range(min(8, steps))]
    opt = module.optimizer_factory(params=bare_net.parameters(), **fused_kwargs(module.optimizer_factory, bare_net.parameters()))  # as the framework does
    precision = cfg.trainer.get("precision", "32-true")
    for i in range(warmup + steps):
        if i == warmup:
            _sync(bare_net)
            t0 = time.perf_counter()
        b = batches[i % len(batches)]
        with _autocast(precision, device):
            logits = bare_net(b["tokens"], b["mask"])
        total, count = masked_bce(logits, b["labels"], b["label_mask"])
        opt.zero_grad(set_to_none=True)
        (total / count.clamp_min(1.0)).backward()
        opt.step()
    _sync(bare_net)
    bare = steps * dm.batch_size / (time.perf_counter() - t0)
    name = cfg.model.backbone._target_.rsplit(".", 1)[-1]
    params = sum(p.numel() for p in bare_net.parameters())
    what = f"{name} ({' '.join(args.overrides) or 'defaults'}){', resident data' if resident else ''}"
    return [
        {"what": f"step, bare PyTorch: {what}", "n": steps * dm.batch_size, "per_s": bare, "params": params, "device": str(device)},
        {"what": f"step, framework: {what}", "n": timer.steps * dm.batch_size, "per_s": framework, "params": params, "device": str(device)},
        {"what": "step: framework / bare", "n": None, "per_s": framework / bare, "ratio": True},
    ]


def suite_predict(args) -> list[dict]:
    from hydra.utils import instantiate

    cfg, dm, module = _training_setup(args.overrides, "predict")
    if cfg.get("compile"):
        import torch

        module.backbone = torch.compile(module.backbone)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[], enable_progress_bar=False, enable_model_summary=False, default_root_dir="logs/bench/predict")
    seconds = []
    for _ in range(args.repeats + 1):  # the first pass warms up (kernels, compilation, page cache)
        t = time.perf_counter()
        trainer.predict(module, datamodule=dm, return_predictions=False)
        seconds.append(time.perf_counter() - t)
    n = len(module.predictions["index"])
    best = min(seconds[1:])
    name = cfg.model.backbone._target_.rsplit(".", 1)[-1]
    what = f"{name} ({' '.join(args.overrides) or 'defaults'}), batch {dm.eval_batch_size}"
    return [
        {"what": f"predict: {what}", "n": n, "per_s": n / best, "seconds": best, "device": str(trainer.strategy.root_device)},
        {"what": f"predict: BELKA test, {BELKA_TEST_MOLECULES:,} molecules = {BELKA_TEST_ROWS:,} rows (extrapolated)", "n": BELKA_TEST_MOLECULES,
         "per_s": n / best, "seconds": BELKA_TEST_MOLECULES / (n / best)},
    ]  # fmt: skip


def suite_fingerprints(args) -> list[dict]:
    """ECFP4 (2048 bits) of --molecules synthetic molecules, all cores, as the baselines compute them."""
    import pyarrow.parquet as pq

    from belka_lab.data.fingerprints import ECFPConfig, ecfp
    from belka_lab.data.synth import SynthConfig, generate

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="belka-bench-"))
    n = args.molecules
    lib = generate(work / f"synthetic-{n}", SynthConfig(n_train=n, n_test=1000, seed=0, n_bb1=400, n_amines=900))
    smiles = pq.read_table(lib / "train.parquet", columns=["molecule_smiles"]).column(0).to_pylist()[::3][:n]
    ecfp(smiles[:2000], ECFPConfig(workers=1))  # imports outside the timing
    t = time.perf_counter()
    bits, _ = ecfp(smiles, ECFPConfig(), progress=True)
    seconds = time.perf_counter() - t
    return [{"what": f"ECFP4 2048 bits, {os.cpu_count()} processes: {len(smiles):,} molecules (s)", "n": len(bits), "per_s": len(bits) / seconds, "seconds": seconds}]


def _epoch_rate(loader) -> tuple[float, float]:
    """(records/s, seconds) of one pass over a loader, touching every batch's tensors."""
    t = time.perf_counter()
    n = 0
    for batch in loader:
        n += len(batch["index"])
        int(batch["tokens"][-1, 0])  # the batch is really there
    seconds = time.perf_counter() - t
    return n / seconds, seconds


def suite_loaders(args) -> list[dict]:
    import torch

    from belka_lab.data.datamodule import BelkaDataModule
    from belka_lab.data.folds import StratifiedSplit
    from belka_lab.data.synth import SynthConfig, generate

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="belka-bench-"))
    n = args.molecules
    lib = generate(work / f"synthetic-{n}", SynthConfig(n_train=n, n_test=10_000, seed=0, n_bb1=400, n_amines=900))
    rows = []

    def module(loader: str, workers: int = 0) -> BelkaDataModule:
        dm = BelkaDataModule(
            prepared_dir=str(lib / "prepared"), train_file=str(lib / "train.parquet"), test_file=str(lib / "test.parquet"),
            split=StratifiedSplit(), batch_size=args.batch_size, num_workers=workers, loader=loader,
            prepare={"progress": False, "n_bb_groups": 5}, dali={"num_threads": os.cpu_count()},
        )  # fmt: skip
        dm.prepare_data()
        return dm

    memory = module("memory")
    memory.setup("fit")
    from belka_lab.data.tfrecord import read_shard_manifest, shard_dir

    out = shard_dir(memory.prepared_dir, "tokens.npy", "fold_stratified")
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    memory.write_shards()
    write = time.perf_counter() - t
    total = n + 10_000
    size = sum(s["bytes"] for s in read_shard_manifest(out)["shards"])
    rows.append({"what": f"TFRecord shards written ({size / 2**20:,.0f} MiB)", "n": total, "per_s": total / write, "seconds": write})
    for workers, resident in ((0, False), (2, False), (0, True)):
        dm = memory if workers == 0 and not resident else module("memory", workers)
        dm.resident = resident
        dm.setup("fit")
        loader = dm.train_dataloader()
        _epoch_rate(loader)  # page cache, worker start-up, copying to the device: outside the timing
        per_s, seconds = _epoch_rate(loader)
        how = "arrays resident on the device (cpu here)" if resident else f"{workers} workers"
        rows.append({"what": f"memory backend, {how}, batch {args.batch_size}", "n": len(loader) * args.batch_size, "per_s": per_s, "seconds": seconds})
    dali = module("dali")
    t = time.perf_counter()
    dali.setup("fit")
    check = time.perf_counter() - t
    rows.append({"what": "DALI: shard checks before reading (verify=checksum)", "n": total, "per_s": total / check, "seconds": check})
    loader = dali.train_dataloader()
    first, first_s = _epoch_rate(loader)
    per_s, seconds = _epoch_rate(loader)
    rows.append({"what": f"DALI backend, first epoch (pipeline build, buffer fill), batch {args.batch_size}", "n": len(loader) * args.batch_size, "per_s": first, "seconds": first_s})
    rows.append({"what": f"DALI backend, next epoch, {dali.dali.num_threads} threads, batch {args.batch_size}", "n": len(loader) * args.batch_size, "per_s": per_s, "seconds": seconds})
    rows.append({"what": "memory (0 workers) / DALI", "n": None, "per_s": rows[1]["per_s"] / per_s, "ratio": True})

    from belka_lab.models.cnn import CNN1D
    from belka_lab.models.module import masked_bce
    from belka_lab.runtime import set_malloc_top_pad

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
    rows.append({"what": "bare CNN training step on this machine, batch 512 (consumer)", "n": 10 * 512, "per_s": 10 * 512 / (time.perf_counter() - t)})
    return rows


def suite_outputs(args) -> list[dict]:
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.metrics import average_precision_score

    from belka_lab import outputs, submission
    from belka_lab.data.proteins import PROTEINS
    from belka_lab.metrics import molecule_ap

    rng = np.random.default_rng(0)
    n_val, n_test = args.val_molecules, args.test_molecules
    n_rows = 2 * n_test if n_test != BELKA_TEST_MOLECULES else BELKA_TEST_ROWS
    index = rng.permutation(n_val * 15)[:n_val]
    labels = (rng.random((n_val, 3)) < 0.005).astype(np.int8)  # BELKA's positive rate
    probs = np.clip(rng.random((n_val, 3), dtype=np.float32) * 0.5 + labels * 0.4, 0, 1)
    test_probs = rng.random((n_test, 3), dtype=np.float32)
    test_rows = pd.DataFrame({  # about two proteins per test molecule, as in BELKA
        "id": np.arange(n_rows, dtype=np.int64) + BELKA_TRAIN_ROWS,
        "molecule": np.repeat(np.arange(n_test), 2)[:n_rows],
        "protein": np.tile([0, 2], n_test)[:n_rows],
    })  # fmt: skip
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="belka-bench-"))
    rows, t = [], time.perf_counter()

    def timed(what: str, n: int) -> None:
        nonlocal t
        seconds = time.perf_counter() - t
        rows.append({"what": what, "n": n, "per_s": n / seconds, "seconds": seconds})
        t = time.perf_counter()

    for k in range(3):
        average_precision_score(labels[:, k], probs[:, k])
    timed(f"validation AP, sklearn's average_precision_score (reference), {n_val:,} x 3", n_val)
    molecule_ap(labels, probs)
    timed(f"validation AP at an epoch's end (belka_lab, arrays), {n_val:,} x 3", n_val)
    device = torch.device(args.device)
    on_device = torch.from_numpy(labels).to(device), torch.from_numpy(probs).to(device)
    t = time.perf_counter()  # the copy is not part of it: in training the predictions are already there
    molecule_ap(*on_device)
    timed(f"validation AP at an epoch's end (belka_lab, tensors on {device.type}), {n_val:,} x 3", n_val)
    val = outputs.val_frame(index, probs, labels, 0)
    outputs.write_parquet(val, work / "val.parquet")
    test = outputs.test_frame(np.arange(n_test), test_probs, n_test)
    outputs.write_parquet(test, work / "test.parquet")
    timed("predictions/val.parquet + test.parquet", n_val + n_test)
    submission.write(submission.build(test_rows, test[list(PROTEINS)].to_numpy()), work / "submission.csv")
    timed(f"submission.csv, {n_rows:,} rows", n_rows)
    outputs.results(val, "fold_stratified", 0, test_rows, test)
    timed("results table (validation AP per protein)", n_val)
    outputs._plot(work, val, test, test_rows)
    timed("precision-recall plots, 3 proteins", n_val)
    total = sum(r["seconds"] for r in rows[3:])
    rows.append({"what": "after training: the files, the table and the plots", "n": n_val, "per_s": n_val / total, "seconds": total})
    rows.append({"what": f"validation AP: sklearn / belka_lab (tensors on {device.type})", "n": None, "per_s": rows[0]["seconds"] / rows[2]["seconds"], "ratio": True})
    return rows


SUITES = {"prepare": suite_prepare, "step": suite_step, "loaders": suite_loaders, "predict": suite_predict, "fingerprints": suite_fingerprints, "outputs": suite_outputs}


def _print(rows: list[dict]) -> None:
    width = max(52, *(len(r["what"]) for r in rows))
    print(f"{'measurement':{width}s} {'n':>13s} {'per second':>14s} {'seconds':>9s} {'peak GiB':>9s}")
    for r in rows:
        n = f"{r['n']:,}" if r.get("n") else ""
        per = f"{r['per_s']:,.2f}" if r.get("ratio") else f"{r['per_s']:,.1f}" if "speed-up" in r["what"] else f"{r['per_s']:,.0f}"
        secs = f"{r['seconds']:.1f}" if "seconds" in r else ""
        if "extrapolated" in r["what"]:
            secs = f"{r['seconds'] / 60:.1f} min"
        peak = f"{r['peak_rss_gib']:.2f}" if "peak_rss_gib" in r else ""
        print(f"{r['what']:{width}s} {n:>13s} {per:>14s} {secs:>9s} {peak:>9s}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m belka_lab.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", choices=sorted(SUITES))
    p.add_argument("--rows", type=int, default=10_000_000, help="synthetic train rows for prepare (3 per molecule)")
    p.add_argument("--encode-n", type=int, default=1_000_000, help="SMILES for the encoder comparison")
    p.add_argument("--loop-n", type=int, default=1_000_000, help="SMILES for the dict-loop reference")
    p.add_argument("--batch-rows", type=int, default=2_000_000)
    p.add_argument("--molecules", type=int, default=1_000_000, help="fingerprints, loaders: synthetic molecules")
    p.add_argument("--batch-size", type=int, default=4096, help="loaders: training batch size")
    p.add_argument("--val-molecules", type=int, default=6_560_000, help="outputs: validation molecules (one of 15 folds of BELKA)")
    p.add_argument("--device", default="cpu", help="outputs: where the epoch-end AP's tensors live (cuda on a GPU machine)")
    p.add_argument("--test-molecules", type=int, default=BELKA_TEST_MOLECULES, help="outputs: test molecules (BELKA's: 1,674,896 rows)")
    p.add_argument("--work-dir", help="where synthetic files are written and reused (default: a new temp dir)")
    p.add_argument("--steps", type=int, default=30, help="step: timed training steps")
    p.add_argument("--warmup", type=int, default=5, help="step: untimed steps first")
    p.add_argument("--repeats", type=int, default=2, help="predict: timed passes after one warm-up pass (the fastest counts)")
    p.add_argument("--jsonl", default="logs/bench.jsonl", help="append results here")
    p.add_argument("overrides", nargs="*", help="step, predict: Hydra overrides of the training config")
    args = p.parse_intermixed_args(argv)
    rows = SUITES[args.suite](args)
    _print(rows)
    record = {"suite": args.suite, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": _machine(), "config": vars(args), "results": rows}
    Path(args.jsonl).parent.mkdir(parents=True, exist_ok=True)
    with open(args.jsonl, "a") as f:
        f.write(json.dumps(record) + "\n")
    png = _bar_chart(rows, f"bench {args.suite} ({record['machine'].get('gpu') or str(record['machine']['cpus']) + ' CPU cores'})",
                     Path(args.jsonl).with_name(f"{Path(args.jsonl).stem}_{args.suite}.png"))  # fmt: skip
    print(f"appended to {args.jsonl}; chart {png}")
    return 0


def _bar_chart(rows: list[dict], title: str, path: Path) -> Path:
    """The rates of a suite's rows as horizontal bars (log scale), one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from belka_lab.io import atomic_path

    rates = [r for r in rows if not r.get("ratio") and "speed-up" not in r["what"] and r.get("per_s")]
    import textwrap

    fig, ax = plt.subplots(figsize=(10, 0.6 * len(rates) + 1.2))
    labels = [textwrap.fill(r["what"], 48) for r in rates]
    ax.barh(labels[::-1], [r["per_s"] for r in rates][::-1], color="tab:blue")
    for y, r in enumerate(rates[::-1]):
        ax.text(r["per_s"], y, f" {r['per_s']:,.0f}", va="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("per second")
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())
