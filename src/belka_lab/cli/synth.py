"""`python -m belka_lab synth OUT_DIR [--n-train N] [--n-test N] [--seed S]`: write a synthetic
DEL library in BELKA's Kaggle format (train.parquet, test.parquet, test_solution.parquet)."""

from __future__ import annotations

import argparse
import json

from belka_lab.cli.command import argv_command
from belka_lab.data.synth import SYNTH_MARKER, SynthConfig, generate


@argv_command
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="belka synth", description=__doc__.splitlines()[0])
    p.add_argument("out_dir")
    defaults = SynthConfig()
    p.add_argument("--n-train", type=int, default=defaults.n_train, help="train molecules (3 rows each)")
    p.add_argument("--n-test", type=int, default=defaults.n_test, help="test molecules, split in three groups")
    p.add_argument("--seed", type=int, default=defaults.seed)
    a = p.parse_args(argv)
    out = generate(a.out_dir, SynthConfig(n_train=a.n_train, n_test=a.n_test, seed=a.seed))
    print(json.dumps(json.loads((out / SYNTH_MARKER).read_text()), indent=2))
    return 0
