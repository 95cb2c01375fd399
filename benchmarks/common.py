"""What the suites share: the result row, the machine record, the table, the chart, and the
training set-up the step and predict suites measure."""

from __future__ import annotations

import os
import platform
import sys
import textwrap
import time
from pathlib import Path
from typing import TypedDict

import lightning as L

from belka_lab.core import figures

BELKA_TRAIN_ROWS = 295_246_830
BELKA_TEST_MOLECULES, BELKA_TEST_ROWS = 878_022, 1_674_896


class Row(TypedDict, total=False):
    """One measurement: ``what`` was measured, over ``n`` items, at ``per_s`` per second (or a
    ratio, ``ratio=True``), in ``seconds``, with peak resident memory ``peak_rss_gib`` (or, from the
    memory suite, peak anonymous memory ``peak_anon_gib`` and memory-mapped file pages ``peak_mapped_gib``)."""

    what: str
    n: int | None
    per_s: float
    seconds: float
    ratio: bool
    peak_rss_gib: float
    peak_anon_gib: float
    peak_mapped_gib: float
    params: int
    device: str


def machine() -> dict:
    import lightning
    import numpy
    import pyarrow
    import torch

    machine = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,  # the card the numbers came from
    }
    try:
        import nvidia.dali

        machine["dali"] = nvidia.dali.__version__
    except ImportError:
        pass
    return machine


def sync(module) -> None:
    """Wait for queued device work (reading a value back works on every device)."""
    float(next(module.parameters()).detach().sum())


class StepTimer(L.Callback):
    """Wall time of the optimizer steps after the first ``warmup``, counted across epochs (a
    small library's epoch can be shorter than the warm-up), the device's queue drained at both ends."""

    def __init__(self, warmup: int):
        self.warmup, self.t0, self.start_step, self.seconds, self.steps = warmup, None, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.t0 is None and trainer.global_step >= self.warmup:
            sync(pl_module)
            self.start_step, self.t0 = trainer.global_step, time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        if self.t0 is None:
            raise RuntimeError(
                f"training stopped after {trainer.global_step} steps, inside the {self.warmup} warm-up steps"
            )
        sync(pl_module)
        self.seconds = time.perf_counter() - self.t0
        self.steps = trainer.global_step - self.start_step


def autocast(precision: str, device):
    import contextlib

    import torch

    if str(precision).startswith("bf16"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if str(precision).startswith("16"):
        return torch.autocast(device.type, dtype=torch.float16)
    return contextlib.nullcontext()


def training_setup(overrides: list[str], suite: str):
    """(config, prepared data module, module) as training builds them (``belka_lab.run``), for a suite."""
    from hydra import compose, initialize_config_dir

    from belka_lab import run
    from belka_lab.core.config import CONFIG_DIR

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "train", overrides=[f"paths.root_dir={Path.cwd()}", f"paths.output_dir=logs/bench/{suite}", *overrides]
        )
    run.start(cfg)
    dm = run.datamodule(cfg)
    return cfg, dm, run.model(cfg, dm)


def print_table(rows: list[dict]) -> None:
    width = max(52, *(len(r["what"]) for r in rows))
    anon = any("peak_anon_gib" in r for r in rows)
    memory = f"{'anon GiB':>9s} {'mapped GiB':>10s}" if anon else f"{'peak GiB':>9s}"
    print(f"{'measurement':{width}s} {'n':>13s} {'per second':>14s} {'seconds':>9s} {memory}")
    for r in rows:
        n = f"{r['n']:,}" if r.get("n") else ""
        per = (
            ""
            if "per_s" not in r
            else f"{r['per_s']:,.2f}"
            if r.get("ratio")
            else f"{r['per_s']:,.1f}"
            if "speed-up" in r["what"]
            else f"{r['per_s']:,.0f}"
        )
        secs = f"{r['seconds']:.1f}" if "seconds" in r else ""
        if "extrapolated" in r["what"]:
            secs = f"{r['seconds'] / 60:.1f} min"
        if anon:
            peak = f"{r.get('peak_anon_gib', float('nan')):>9.2f} {r.get('peak_mapped_gib', float('nan')):>10.2f}"
        else:
            peak = f"{r['peak_rss_gib']:>9.2f}" if "peak_rss_gib" in r else f"{'':>9s}"
        print(f"{r['what']:{width}s} {n:>13s} {per:>14s} {secs:>9s} {peak}")


def bar_chart(rows: list[dict], title: str, path: Path, key: str = "per_s", label: str = "per second", log=True):
    """Each row's `key` (rates by default, on a log scale) as horizontal bars, one PNG."""

    bars = [r for r in rows if not r.get("ratio") and "speed-up" not in r["what"] and r.get(key)]
    fig, ax = figures.subplots(figsize=(10, 0.6 * len(bars) + 1.2))
    labels = [textwrap.fill(r["what"], 48) for r in bars]
    ax.barh(labels[::-1], [r[key] for r in bars][::-1], color="tab:blue")
    for y, r in enumerate(bars[::-1]):
        ax.text(r[key], y, f" {r[key]:,.0f}" if log else f" {r[key]:,.2f}", va="center", fontsize=7)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    figures.save(fig, path)
    return path
