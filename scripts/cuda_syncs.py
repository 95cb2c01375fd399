"""Where a training run on a CUDA GPU makes the host wait for the device.

    python scripts/cuda_syncs.py [--warmup 20] [--steps 100] [training overrides, e.g. model=cnn data.batch_size=4096]

Runs the framework's training (``belka_lab.training.train.train``, ``trainer=gpu``, no prediction) with
``torch.cuda.set_sync_debug_mode("warn")`` switched on after the warm-up steps and off during
validation: every operation that waits for the device then warns, and each warning is counted
by the Python line that caused it and by when it happened (inside a training step, or at an
epoch's end). A per-step synchronisation shows as a count close to the number of steps; the
goal is none inside steps. Run from the repository root; scripts/gpu_check.sh calls it.
"""

from __future__ import annotations

import argparse
import collections
import sys
import traceback
import warnings
from pathlib import Path

import lightning as L
import torch


class SyncWatch(L.Callback):
    """Switches CUDA's sync debugging on after ``warmup`` optimizer steps (off while validating)
    and records where each synchronising call came from."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.steps, self.phase = warmup, None, 0, None
        self.places: collections.Counter = collections.Counter()

    def _on(self, phase: str) -> None:
        if self.start is not None:
            self.phase = phase
            torch.cuda.set_sync_debug_mode("warn")

    def _off(self) -> None:
        torch.cuda.set_sync_debug_mode("default")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.start is None and trainer.global_step >= self.warmup:
            torch.cuda.synchronize()
            self.start = trainer.global_step
        self._on("training step")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        batches = trainer.num_training_batches
        last = (isinstance(batches, int) and batch_idx + 1 >= batches) or 0 < trainer.max_steps <= trainer.global_step
        if last:  # the epoch's steps are done (or training's): what follows is its end
            self._on("epoch end")

    def on_validation_start(self, trainer, pl_module):
        self._off()

    def on_validation_end(self, trainer, pl_module):
        self._on("epoch end")

    def on_train_end(self, trainer, pl_module):
        self._off()
        self.steps = trainer.global_step - (self.start or trainer.global_step)

    def record(self, message, category, filename, lineno, file=None, line=None) -> None:
        """A `warnings.showwarning` replacement: sync warnings counted, others printed as usual."""
        if "synchroniz" not in str(message):
            return _show(message, category, filename, lineno, file, line)
        frames = [
            f for f in traceback.extract_stack()[:-1] if "/torch/" not in f.filename and "warnings" not in f.filename
        ]
        where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames[-3:][::-1])
        self.places[(self.phase, where)] += 1


_show = warnings.showwarning


def watch_syncs(cfg, warmup: int, train) -> SyncWatch:
    watch = SyncWatch(warmup)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = watch.record
        train(cfg, callbacks=[watch])
    return watch


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="scripts/cuda_syncs.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("overrides", nargs="*")
    args = p.parse_intermixed_args(argv)
    if not torch.cuda.is_available():
        print("cuda_syncs: no CUDA device here; this check is for a CUDA GPU", file=sys.stderr)
        return 2

    from hydra import compose, initialize_config_dir

    from belka_lab.core.config import CONFIG_DIR
    from belka_lab.training.train import train

    overrides = [
        f"paths.root_dir={Path.cwd()}",
        "paths.output_dir=logs/cuda_syncs",
        "trainer=gpu",
        "predict=false",
        "trainer.max_epochs=-1",
        f"+trainer.max_steps={args.warmup + args.steps}",
        *args.overrides,
    ]
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    watch = watch_syncs(cfg, args.warmup, train)
    in_steps = sum(n for (phase, _), n in watch.places.items() if phase == "training step")
    print(
        f"\nCUDA synchronisations after {args.warmup} warm-up steps, over {watch.steps} training steps "
        f"({' '.join(args.overrides) or 'defaults'}):"
    )
    print(f"  inside training steps: {in_steps} ({in_steps / max(watch.steps, 1):.2f} per step)")
    print(f"  at epoch ends (validation not watched): {sum(watch.places.values()) - in_steps}")
    for (phase, where), n in watch.places.most_common(12):
        print(f"  {n:6d}  {phase:13s}  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
