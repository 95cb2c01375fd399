"""``belka report <multirun dir>``: one table and chart of a sweep's runs (``evaluation/report.py``)."""

from __future__ import annotations

import argparse

from belka_lab.cli.command import argv_command
from belka_lab.evaluation.report import report


@argv_command
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="belka report", description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir")
    report(p.parse_args(argv).sweep_dir)
    return 0
