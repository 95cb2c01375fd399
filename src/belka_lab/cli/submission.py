"""``belka submission check submission.csv [--test test.parquet]``: validate a submission file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from belka_lab.cli.command import argv_command
from belka_lab.evaluation.submission import check


@argv_command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="belka submission", description="Kaggle submissions: check a file")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="validate a submission file")
    c.add_argument("file")
    c.add_argument("--test", help="test.parquet/.csv whose ids the submission must cover exactly")
    args = parser.parse_args(argv)
    test_ids = None
    if args.test:
        test = Path(args.test)
        test_ids = (
            pd.read_parquet(test, columns=["id"]) if test.suffix == ".parquet" else pd.read_csv(test, usecols=["id"])
        )["id"].to_numpy()
    s = check(args.file, test_ids)
    print(
        f"{args.file}: {len(s)} rows, ids unique, binds in [0, 1]"
        + (", covers the test file exactly" if args.test else "")
    )
    return 0
