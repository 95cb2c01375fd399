"""`python -m benchmarks <suite>` (from the repository root): measured numbers, printed as a table and appended as
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
  pretrain  training molecules/s of each pretraining objective (mlm, ecfp, descriptors) for one
            encoder (model=transformer_small unless overridden), in one process, after --warmup
            steps, over --steps steps; the remaining arguments are Hydra overrides of the
            pretraining config.
  losses    training molecules/s of one backbone under every training loss of conf/loss/
            on the same batches of the simulated selection, in one process;
            the remaining arguments are Hydra overrides of the training config.
  memory    wall time and peak anonymous memory of the documented commands, each in a child
            process (--jobs synth,prepare,train,pretrain,baseline,counts; synth, prepare and counts at --rows).
  screen    belka predict: its streaming path against the in-process prediction pass on the
            same molecules and weights, ONNX Runtime against PyTorch (CNN, CPU), and peak memory
            of `belka predict` over --screen-rows inputs (a small CNN run trained here).
  outputs   what follows training at BELKA's size, on random predictions: the validation
            AP of an epoch's end (--val-molecules, default one of 15 folds of 98.4M), the
            predictions' parquet files, the 1.67M-row submission, the results table and the
            precision-recall plots.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

from benchmarks.common import BELKA_TEST_MOLECULES, bar_chart, machine, print_table

SUITES = (
    "prepare",
    "memory",
    "step",
    "loaders",
    "predict",
    "fingerprints",
    "outputs",
    "pretrain",
    "screen",
    "losses",
)  # one module each


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("suite", choices=sorted(SUITES))
    p.add_argument("--rows", type=int, default=10_000_000, help="synthetic train rows for prepare (3 per molecule)")
    p.add_argument("--encode-n", type=int, default=1_000_000, help="SMILES for the encoder comparison")
    p.add_argument("--loop-n", type=int, default=1_000_000, help="SMILES for the dict-loop reference")
    p.add_argument("--batch-rows", type=int, default=2_000_000)
    p.add_argument("--molecules", type=int, default=1_000_000, help="fingerprints, loaders: synthetic molecules")
    p.add_argument("--batch-size", type=int, default=4096, help="loaders: training batch size")
    p.add_argument(
        "--val-molecules", type=int, default=6_560_000, help="outputs: validation molecules (one of 15 folds of BELKA)"
    )
    p.add_argument(
        "--device", default="cpu", help="outputs: where the epoch-end AP's tensors live (cuda on a GPU machine)"
    )
    p.add_argument(
        "--test-molecules",
        type=int,
        default=BELKA_TEST_MOLECULES,
        help="outputs: test molecules (BELKA's: 1,674,896 rows)",
    )
    p.add_argument("--jobs", default="synth,prepare,train,pretrain,baseline", help="memory: the jobs to run")
    p.add_argument("--models", help="memory: comma-separated model configs to train (default: all)")
    p.add_argument("--n-bb1", type=int, default=400, help="memory: the synthetic library's BB1 pool")
    p.add_argument("--n-amines", type=int, default=900, help="memory: the synthetic library's amine pool")
    p.add_argument("--work-dir", help="where synthetic files are written and reused (default: a new temp dir)")
    p.add_argument("--steps", type=int, default=30, help="step: timed training steps")
    p.add_argument("--warmup", type=int, default=5, help="step: untimed steps first")
    p.add_argument(
        "--repeats", type=int, default=2, help="predict: timed passes after one warm-up pass (the fastest counts)"
    )
    p.add_argument(
        "--screen-rows", default="1000000,10000000", help="screen: input rows for the memory runs ('' to skip)"
    )
    p.add_argument("--jsonl", default="logs/bench.jsonl", help="append results here")
    p.add_argument(
        "overrides", nargs="*", help="step, predict, memory, pretrain: Hydra overrides of the (pre)training config"
    )
    args = p.parse_intermixed_args(argv)
    suite = importlib.import_module(f"benchmarks.{args.suite}")
    rows = suite.run(args)
    print_table(rows)
    record = {
        "suite": args.suite,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "config": vars(args),
        "results": rows,
    }
    Path(args.jsonl).parent.mkdir(parents=True, exist_ok=True)
    with open(args.jsonl, "a") as f:
        f.write(json.dumps(record) + "\n")
    chart = getattr(suite, "CHART", ("per_s", "per second", True))  # (row key, axis label, log scale)
    png = bar_chart(
        rows,
        f"bench {args.suite} ({record['machine'].get('gpu') or str(record['machine']['cpus']) + ' CPU cores'})",
        Path(args.jsonl).with_name(f"{Path(args.jsonl).stem}_{args.suite}.png"),
        *chart,
    )
    print(f"appended to {args.jsonl}; chart {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
