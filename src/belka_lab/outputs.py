"""What every run leaves in its directory: predictions, submission, results table, plots.

predictions/val.parquet   molecule, fold, BRD4, HSA, sEH (probabilities), label_BRD4, …
predictions/test.parquet  molecule, BRD4, HSA, sEH
submission.csv            id,binds for every test row
results.csv / results.md  AP per protein (and per split group where known), means, and the AP a
                          random ranking would get (the positive rate)
plots/pr_<protein>.png    precision-recall curves, validation and test groups
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from belka_lab import metrics, plots, submission
from belka_lab.data.proteins import PROTEINS
from belka_lab.io import atomic_path


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2))


def val_frame(index: np.ndarray, probs: np.ndarray, labels: np.ndarray, fold: int) -> pd.DataFrame:
    order = np.argsort(index)
    df = pd.DataFrame({"molecule": index[order].astype(np.int64), "fold": np.full(len(index), fold, np.int16)})
    for k, p in enumerate(PROTEINS):
        df[p] = probs[order, k].astype(np.float32)
    for k, p in enumerate(PROTEINS):
        df[f"label_{p}"] = labels[order, k].astype(np.int8)
    return df


def test_frame(index: np.ndarray, probs: np.ndarray, n_molecules: int) -> pd.DataFrame:
    full = np.full((n_molecules, len(PROTEINS)), np.nan, np.float32)
    full[index] = probs
    if np.isnan(full).any():
        raise RuntimeError(f"{int(np.isnan(full).any(axis=1).sum())} test molecules got no prediction")
    df = pd.DataFrame({"molecule": np.arange(n_molecules, dtype=np.int64)})
    for k, p in enumerate(PROTEINS):
        df[p] = full[:, k]
    return df


def results(
    val: pd.DataFrame, split_column: str, fold: int, test_rows: pd.DataFrame | None, test: pd.DataFrame | None
) -> pd.DataFrame:
    """The results table: validation AP per protein + mAP; test AP per split group when labelled."""
    rows = []
    group = f"{split_column}={fold}"
    for p in PROTEINS:
        y = val[f"label_{p}"].to_numpy()
        known = y >= 0
        rows.append(
            {
                "set": "val",
                "group": group,
                "protein": p,
                "rows": int(known.sum()),
                "positives": int((y == 1).sum()),
                "ap": metrics.average_precision(y[known], val.loc[known, p].to_numpy()),
            }
        )
    rows.append(
        {
            "set": "val",
            "group": group,
            "protein": "mean",
            "rows": len(val),
            "positives": None,
            "ap": float(np.nanmean([r["ap"] for r in rows])),
        }
    )
    if test_rows is not None and test is not None and "binds" in test_rows:
        probs = test[list(PROTEINS)].to_numpy()[test_rows["molecule"].to_numpy(), test_rows["protein"].to_numpy()]
        groups = test_rows["split_group"].to_numpy() if "split_group" in test_rows else None
        cells = metrics.ap_table(test_rows["binds"].to_numpy(), probs, test_rows["protein"].to_numpy(), groups)
        rows += [{"set": "test", **r} for r in cells.to_dict("records")]
        rows.append(
            {
                "set": "test",
                "group": "score",
                "protein": "mean",
                "rows": len(test_rows),
                "positives": None,
                "ap": float(np.nanmean(cells["ap"])),
            }
        )
    table = pd.DataFrame(rows, columns=["set", "group", "protein", "rows", "positives", "ap"])
    table["random_ap"] = table["positives"].astype(float) / table["rows"]  # AP of a random ranking
    for s in table["set"].unique():
        cells = (table["set"] == s) & (table["protein"] != "mean")
        table.loc[(table["set"] == s) & (table["protein"] == "mean"), "random_ap"] = table.loc[
            cells, "random_ap"
        ].mean()
    return table


def format_table(table: pd.DataFrame) -> str:
    t = table.copy()
    t["positives"] = t["positives"].map(lambda v: "" if v is None or pd.isna(v) else str(int(v)))
    for col in ("ap", "random_ap"):
        t[col] = t[col].map(lambda v: "nan" if pd.isna(v) else f"{v:.4f}")
    return t.to_string(index=False)


def write_run(
    run_dir: Path,
    val: pd.DataFrame,
    test: pd.DataFrame | None,
    test_rows: pd.DataFrame | None,
    split_column: str,
    fold: int,
    extra: dict | None = None,
) -> pd.DataFrame:
    run_dir = Path(run_dir)
    write_parquet(val, run_dir / "predictions" / "val.parquet")
    if test is not None:
        write_parquet(test, run_dir / "predictions" / "test.parquet")
        submission.write(submission.build(test_rows, test[list(PROTEINS)].to_numpy()), run_dir / "submission.csv")
    table = results(val, split_column, fold, test_rows, test)
    with atomic_path(run_dir / "results.csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(run_dir / "results.md") as tmp:
        tmp.write_text("```\n" + format_table(table) + "\n```\n")
    summary = {"val_map": float(table.query("set == 'val' and protein == 'mean'")["ap"].iloc[0])}
    score = table.query("set == 'test' and group == 'score'")
    if len(score):
        summary["test_score"] = float(score["ap"].iloc[0])
    write_json(run_dir / "results.json", summary | (extra or {}))
    _plot(run_dir, val, test, test_rows)
    return table


def finish_run(run_dir: Path, datamodule, val: pd.DataFrame, test: pd.DataFrame, extra: dict) -> dict:
    """Write a run's outputs for `datamodule`'s fold (recording its prepared data and fold
    column, which blending checks), print the table, return val_map + extra."""
    extra = {
        **extra,
        "prepared_dir": str(Path(datamodule.prepared_dir).resolve()),
        "fold_column": datamodule.fold_column,
    }
    table = write_run(run_dir, val, test, datamodule.store.test_rows(), datamodule.fold_column, datamodule.fold, extra)
    print(f"\nResults ({run_dir}):\n{format_table(table)}\n")
    return {"val_map": float(table.query("set == 'val' and protein == 'mean'")["ap"].iloc[0]), **extra}


def _plot(run_dir: Path, val: pd.DataFrame, test: pd.DataFrame | None, test_rows: pd.DataFrame | None) -> None:
    for k, p in enumerate(PROTEINS):
        y = val[f"label_{p}"].to_numpy()
        curves = {"val": (y[y >= 0], val[p].to_numpy()[y >= 0])}
        if test is not None and test_rows is not None and "binds" in test_rows:
            rows = test_rows[test_rows["protein"] == k]
            probs = test[p].to_numpy()[rows["molecule"].to_numpy()]
            groups = rows["split_group"].to_numpy() if "split_group" in rows else np.full(len(rows), "test", object)
            for g in sorted(set(groups)):
                sel = groups == g
                curves[f"test {g}"] = (rows["binds"].to_numpy()[sel], probs[sel])
        plots.pr_curves(curves, f"{p}: precision-recall", run_dir / "plots" / f"pr_{p}.png")
