"""`python -m belka_lab report <multirun dir>`: one table of the runs of a sweep.

Reads every run directory below the given one (``results.json``, ``results.csv`` and
Hydra's ``.hydra/overrides.yaml``), prints the runs sorted by validation mAP with their
overrides, parameter count and training throughput, and writes ``summary.csv`` and
``summary.png`` (validation mAP against parameters) into the multirun directory.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import yaml

from belka_lab import figures
from belka_lab.cli.command import argv_command
from belka_lab.errors import InputError
from belka_lab.io import atomic_path

COLUMNS = ["run", "overrides", "val_map", "test_score", "params", "samples_per_s", "fit_seconds"]


def collect(sweep_dir: str | Path) -> pd.DataFrame:
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise InputError(f"{sweep_dir} is not a directory; give the multirun directory Hydra printed")
    rows = []
    for results in sorted(sweep_dir.rglob("results.json")):
        run = results.parent
        data = json.loads(results.read_text())
        overrides_file = run / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else []
        row = {"run": str(run.relative_to(sweep_dir)), "overrides": " ".join(overrides or [])}
        row |= {k: data.get(k) for k in COLUMNS[2:]}
        table = run / "results.csv"
        if table.exists():
            cells = pd.read_csv(table)
            test = cells[(cells["set"] == "test") & (cells["protein"] != "mean")]
            for group, frame in test.groupby("group"):
                row[f"test_{group}"] = frame["ap"].mean()
        rows.append(row)
    if not rows:
        raise InputError(f"{sweep_dir} holds no run with results.json; did the sweep finish?")
    df = pd.DataFrame(rows)
    df.insert(2, "varied", _varied(df["overrides"]))
    return df.sort_values("val_map", ascending=False, na_position="last").reset_index(drop=True)


def _varied(overrides: pd.Series) -> list[str]:
    """The overrides that differ between runs (what the sweep changed)."""
    parsed = [dict(o.split("=", 1) for o in text.split() if "=" in o) for text in overrides]
    keys = sorted({k for p in parsed for k in p})
    varying = [k for k in keys if len({p.get(k) for p in parsed}) > 1]
    return [" ".join(f"{k.split('.')[-1]}={p.get(k)}" for k in varying) for p in parsed]


def plot(df: pd.DataFrame, path: Path) -> None:
    from matplotlib.ticker import NullFormatter

    fig, ax = figures.subplots(figsize=(6.5, 4.5))
    ok = df.dropna(subset=["val_map", "params"])
    ax.scatter(ok["params"], ok["val_map"])
    for _, r in ok.iterrows():
        ax.annotate(
            r["varied"] or r["run"], (r["params"], r["val_map"]), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )
    ax.set(xscale="log", xlabel="parameters", ylabel="validation mAP", title="validation mAP against model size")
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor log labels overlap
    ax.grid(alpha=0.3)
    figures.save(fig, path)


@argv_command
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="belka report", description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir")
    args = p.parse_args(argv)
    df = collect(args.sweep_dir)
    out = Path(args.sweep_dir)
    with atomic_path(out / "summary.csv") as tmp:
        df.to_csv(tmp, index=False)
    plot(df, out / "summary.png")
    with pd.option_context("display.width", 200):
        print(df.drop(columns=["overrides"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nwrote {out / 'summary.csv'} and {out / 'summary.png'}")
    return 0
