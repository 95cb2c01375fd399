"""`python -m belka_lab synth OUT_DIR [--n-train N] [--n-test N] [--seed S] [--n-bb1 N] [--n-amines N]
[--other-core own_library|shared_blocks]`:
write a synthetic DEL library in BELKA's Kaggle format (train.parquet, test.parquet, test_solution.parquet).

The building-block pools bound how many distinct molecules exist: the defaults (300 BB1, 700 amines, a
fifth of each held out for the non_share test group) give 75M distinct train molecules; BELKA's 98.4M
need larger pools, e.g. ``--n-bb1 400 --n-amines 900``."""

from __future__ import annotations

import argparse
import json

from belka_lab.cli.command import argv_command
from belka_lab.synth.config import OTHER_CORE_RULES, SynthConfig
from belka_lab.synth.generate import SYNTH_MARKER, generate


@argv_command
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="belka synth", description=__doc__.splitlines()[0])
    p.add_argument("out_dir")
    defaults = SynthConfig()
    p.add_argument("--n-train", type=int, default=defaults.n_train, help="train molecules (3 rows each)")
    p.add_argument("--n-test", type=int, default=defaults.n_test, help="test molecules, split in three groups")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--n-bb1", type=int, default=defaults.n_bb1, help="BB1 (amino acid) pool size")
    p.add_argument("--n-amines", type=int, default=defaults.n_amines, help="BB2/BB3 (amine) pool size")
    p.add_argument(
        "--other-core",
        choices=OTHER_CORE_RULES,
        default=defaults.other_core,
        help="the other_core test group: another library with its own blocks and rule (own_library, like kin0) "
        "or the main library's blocks on another core (shared_blocks, belka_lab 0.3.0)",
    )
    a = p.parse_args(argv)
    cfg = SynthConfig(
        n_train=a.n_train, n_test=a.n_test, seed=a.seed, n_bb1=a.n_bb1, n_amines=a.n_amines, other_core=a.other_core
    )
    out = generate(a.out_dir, cfg)
    print(json.dumps(json.loads((out / SYNTH_MARKER).read_text()), indent=2))
    return 0
