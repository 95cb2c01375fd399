"""``belka blend runs=[dir,...] method=mean|rank|optuna``: blend finished runs, scored and
written like a run (``belka_lab/blending.py`` has the methods)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from belka_lab import figures, outputs
from belka_lab.blending import P, blend, check_compatible, load_run
from belka_lab.cli.command import hydra_command
from belka_lab.data.store import PreparedDataset
from belka_lab.errors import InputError
from belka_lab.io import atomic_path


def _row(name: str, table: pd.DataFrame) -> dict:
    """One line per run: val_map, the validation AP per protein (one cell) or per cell (several),
    the test score and the test AP per split group."""
    row = {"run": name}
    val = table[(table["set"] == "val") & (table["protein"] != "mean")]
    row["val_map"] = float(table.query("set == 'val' and protein == 'mean'")["ap"].iloc[0])
    if val["group"].nunique() == 1:
        row |= {f"val_{r['protein']}": r["ap"] for _, r in val.iterrows()}
    else:
        row |= {f"val_{g}": _mean(c["ap"]) for g, c in val.groupby("group", sort=False)}
    score = table.query("set == 'test' and group == 'score'")
    if len(score):
        row["test_score"] = float(score["ap"].iloc[0])
    test = table[(table["set"] == "test") & (table["group"] != "score")]
    for g, cells in test.groupby("group"):
        row[f"test_{g}"] = _mean(cells["ap"])
    return row


def _mean(aps: pd.Series) -> float:
    aps = aps.dropna()
    return float(aps.mean()) if len(aps) else float("nan")


def _plot(table: pd.DataFrame, path: Path) -> None:

    cols = [c for c in ("val_map", "test_score") if c in table]
    fig, ax = figures.subplots(figsize=(max(5, 1.1 * len(table)), 4))
    x = np.arange(len(table))
    for i, c in enumerate(cols):
        ax.bar(x + (i - (len(cols) - 1) / 2) * 0.38, table[c], 0.38, label=c)
    ax.set_xticks(x, table["run"], rotation=20, ha="right", fontsize=8)
    ax.set(ylabel="mean average precision", title="runs and their blend")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    figures.save(fig, path)


def run_blend(cfg: DictConfig) -> pd.DataFrame:
    if not cfg.runs or len(cfg.runs) < 2:
        raise InputError("runs=[dir1,dir2,...]: give at least two finished run directories")
    runs = [load_run(r) for r in cfg.runs]
    check_compatible(runs)
    info = runs[0]["info"]
    prepared = cfg.get("prepared_dir") or info.get("prepared_dir")
    if not prepared:
        raise InputError(
            f"{runs[0]['dir']}/results.json does not name its prepared data: add prepared_dir=<the run's "
            f"data.prepared_dir>"
        )
    store = PreparedDataset(prepared)
    test_rows = store.test_rows()
    split_column, fold = info.get("fold_column", "fold"), int(runs[0]["val"]["fold"].iloc[0])
    val_p, test_p, details = blend(runs, cfg.method, int(cfg.n_trials), int(cfg.seed))

    rows = [_row(r["name"], outputs.results(r["val"], split_column, fold, test_rows, r["test"])) for r in runs]
    base = runs[0]["val"]
    labels = base[[f"label_{p}" for p in P]].to_numpy()
    cell = base["cell"].to_numpy() if "cell" in base else None
    val_df = outputs.val_frame(base["molecule"].to_numpy(), val_p, labels, fold, cell)
    test_df = outputs.test_frame(runs[0]["test"]["molecule"].to_numpy(), test_p, len(runs[0]["test"]))
    out = Path(cfg.paths.output_dir)
    extra = {
        "method": cfg.method,
        "runs": [str(r["dir"]) for r in runs],
        "prepared_dir": str(prepared),
        "fold_column": split_column,
        **details,
    }
    table = outputs.write_run(out, val_df, test_df, test_rows, split_column, fold, extra)
    rows.append(_row(f"blend ({cfg.method})", table))
    summary = pd.DataFrame(rows)
    with atomic_path(out / "blend.csv") as tmp:
        summary.to_csv(tmp, index=False)
    text = summary.to_string(index=False, float_format=lambda v: f"{v:.4f}")
    with atomic_path(out / "blend.md") as tmp:
        tmp.write_text("```\n" + text + "\n```\n")
    _plot(summary, out / "blend.png")
    print(f"\n{text}\n")
    if cfg.method == "optuna":
        w = ", ".join(f"{r['name']} {x:.3f}" for r, x in zip(runs, details["weights"]))
        print(
            f"weights: {w}\nhonest validation mAP (fit on one half, scored on the other): "
            f"{details['honest_val_map']:.4f}; plain mean on the same halves: {details['mean_blend_same_halves']:.4f}"
        )
    print(f"blend written to {out} (submission.csv, blend.csv/md/png, results.*)")
    return summary


@hydra_command("blend")
def main(cfg: DictConfig) -> None:
    run_blend(cfg)
