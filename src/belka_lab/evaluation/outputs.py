"""What every run leaves in its directory: predictions, submission, results table, plots.

predictions/val.parquet   molecule, fold, cell, one column per target (BRD4, HSA, sEH …: probabilities), label_<target>…
predictions/test.parquet  molecule, one column per target
submission.csv            id,binds for every test row (a Kaggle-format test file)
results.csv / results.md  AP per target and validation cell (``evaluation/cells.py``) or test split group, means,
                          and the AP a random ranking would get (the positive rate)
plots/pr_<target>.png     precision-recall curves, validation cells and test groups

The targets are the dataset's; a frame names them by its ``label_<target>`` columns (:func:`targets_of`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from belka_lab.core.io import atomic_path
from belka_lab.dataset import affinity_file
from belka_lab.dataset.supervision import Supervision
from belka_lab.evaluation import affinity, cells, metrics, plots, submission
from belka_lab.evaluation.affinity import HeldOutAffinity


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2))


def write_config(run_dir: Path, cfg) -> None:
    """``<run>/config.yaml``: the run's composed config with every interpolation resolved."""

    with atomic_path(Path(run_dir) / "config.yaml") as tmp:
        tmp.write_text(OmegaConf.to_yaml(cfg, resolve=True))


def targets_of(val: pd.DataFrame) -> tuple[str, ...]:
    """The targets of a validation frame, in its column order."""
    return tuple(c.removeprefix("label_") for c in val.columns if c.startswith("label_"))


def val_frame(
    index: np.ndarray,
    values: np.ndarray,
    labels: np.ndarray,
    fold: int,
    targets: tuple[str, ...],
    cell: np.ndarray | None = None,
    scores: np.ndarray | None = None,
) -> pd.DataFrame:
    """Validation predictions by molecule row; ``cell`` names each molecule's validation cell;
    ``scores`` (a count table's) are the observed enrichment, written as ``score_<target>``."""
    order = np.argsort(index)
    df = pd.DataFrame({"molecule": index[order].astype(np.int64), "fold": np.full(len(index), fold, np.int16)})
    if cell is not None:
        df["cell"] = np.asarray(cell, dtype=object)[order]
    for k, p in enumerate(targets):
        df[p] = values[order, k].astype(np.float32)
    for k, p in enumerate(targets):
        df[f"label_{p}"] = labels[order, k].astype(np.int8)
    if scores is not None:
        for k, p in enumerate(targets):
            df[f"score_{p}"] = np.asarray(scores)[order, k].astype(np.float32)
    return df


def test_frame(index: np.ndarray, values: np.ndarray, n_molecules: int, targets: tuple[str, ...]) -> pd.DataFrame:
    full = np.full((n_molecules, len(targets)), np.nan, np.float32)
    full[index] = values
    if np.isnan(full).any():
        raise RuntimeError(f"{int(np.isnan(full).any(axis=1).sum())} test molecules got no prediction")
    df = pd.DataFrame({"molecule": np.arange(n_molecules, dtype=np.int64)})
    for k, p in enumerate(targets):
        df[p] = full[:, k]
    return df


def results(
    val: pd.DataFrame,
    split_column: str,
    fold: int,
    test_rows: pd.DataFrame | None,
    test: pd.DataFrame | None,
    data: Supervision,
) -> pd.DataFrame:
    """The results table: validation AP per target and cell + their mean (the competition's mean over
    the cells with a positive); test AP per split group when labelled; with ``data``'s observed
    scores, their rank correlation with the predictions."""
    where = f"{split_column}={fold}"
    targets = targets_of(val)
    cell = val["cell"].to_numpy() if "cell" in val else np.full(len(val), where, dtype=object)
    y = np.concatenate([val[f"label_{p}"].to_numpy() for p in targets])
    probs = np.concatenate([val[p].to_numpy() for p in targets])
    protein = np.repeat(np.arange(len(targets)), len(val))
    table = metrics.ap_table(y, probs, protein, targets, np.tile(cell, len(targets)))
    order = sorted(range(len(table)), key=lambda i: (cells.order(table["group"].iloc[i]), i))
    rows = [{"set": "val", **r} for r in table.iloc[order].to_dict("records")]
    rows.append(
        {
            "set": "val",
            "group": where,
            "protein": "mean",
            "rows": len(val),
            "positives": None,
            "ap": metrics.mean_defined([r["ap"] for r in rows]),
        }
    )
    if test_rows is not None and test is not None and "binds" in test_rows:
        probs = test[list(targets)].to_numpy()[test_rows["molecule"].to_numpy(), test_rows["protein"].to_numpy()]
        groups = test_rows["split_group"].to_numpy() if "split_group" in test_rows else None
        table = metrics.ap_table(test_rows["binds"].to_numpy(), probs, test_rows["protein"].to_numpy(), targets, groups)
        rows += [{"set": "test", **r} for r in table.to_dict("records")]
        rows.append(
            {
                "set": "test",
                "group": "score",
                "protein": "mean",
                "rows": len(test_rows),
                "positives": None,
                "ap": metrics.mean_defined(table["ap"]),
            }
        )
    columns = ["set", "group", "protein", "rows", "positives", "ap"]
    scored = data.observed_columns(targets)
    if scored:  # a count table: rank correlation with the observed enrichment
        observed = val[scored].to_numpy()
        ranked = metrics.rank_table(observed, val[list(targets)].to_numpy(), targets, cell)
        rows = _merge(rows, ranked, "val")
        defined = ranked["spearman"].dropna()
        for r in rows:
            if r["set"] == "val" and r["protein"] == "mean":
                r["spearman"] = float(defined.mean()) if len(defined) else float("nan")
                r["top_recall"] = float(ranked["top_recall"].mean())
        columns += ["spearman", "pearson", "top_recall"]
    if test_rows is not None and test is not None and "kd" in test_rows:  # a held-out affinity file
        held = HeldOutAffinity.of_rows(test_rows, targets)
        table = held.table(test[list(targets)].to_numpy())
        rows += [{"set": "affinity", **r} for r in table.to_dict("records")]
        overall = affinity.summary(table)
        rows.append(
            {
                "set": "affinity",
                "group": "all",
                "protein": "mean",
                "rows": len(test_rows),
                "spearman": overall.get("spearman", float("nan")),
                "kendall": overall.get("kendall", float("nan")),
            }
        )
        columns += [c for c in ("spearman", "kendall") if c not in columns]
    table = pd.DataFrame(rows, columns=columns)
    table["random_ap"] = table["positives"].astype(float) / table["rows"]  # AP of a random ranking
    for s in table["set"].unique():
        per_cell = (table["set"] == s) & (table["protein"] != "mean")
        table.loc[(table["set"] == s) & (table["protein"] == "mean"), "random_ap"] = table.loc[
            per_cell, "random_ap"
        ].mean()
    return table


def _merge(rows: list[dict], ranked: pd.DataFrame, set_name: str) -> list[dict]:
    """The AP rows with the rank metrics of their (group, target) added."""
    by = {(r.group, r.protein): r for r in ranked.itertuples()}
    for r in rows:
        got = by.get((r["group"], r["protein"]))
        if r["set"] == set_name and got is not None:
            r |= {"spearman": got.spearman, "pearson": got.pearson, "top_recall": got.top_recall}
    return rows


def format_table(table: pd.DataFrame) -> str:
    """The table as text; an AP that cannot be computed (no positive in the cell) reads ``n/a``
    and a line under the table says why."""
    t = table.copy()
    t["positives"] = t["positives"].map(lambda v: "" if v is None or pd.isna(v) else str(int(v)))
    affinity = t["set"] == "affinity"  # rank correlations with Kd: no AP
    for col in ("ap", "random_ap", "spearman", "pearson", "top_recall", "kendall"):
        if col in t:
            blank = "n/a" if col == "ap" else ""
            t[col] = [("" if a else blank) if pd.isna(v) else f"{v:.4f}" for v, a in zip(t[col], affinity)]
    t["rows"] = t["rows"].map(lambda v: "" if pd.isna(v) else str(int(v)))
    text = t.to_string(index=False)
    if table.loc[table["set"] != "affinity", "ap"].isna().any():
        text += "\nn/a: the cell has no positive, so its AP is undefined; means are over the cells that have one"
    return text


def write_run(
    run_dir: Path,
    val: pd.DataFrame,
    test: pd.DataFrame | None,
    test_rows: pd.DataFrame | None,
    split_column: str,
    fold: int,
    data: Supervision,
    extra: dict | None = None,
) -> pd.DataFrame:
    run_dir = Path(run_dir)
    write_parquet(val, run_dir / "predictions" / "val.parquet")
    if test is not None:
        write_parquet(test, run_dir / "predictions" / "test.parquet")
    if test is not None and data.submission:  # BELKA's submission: of Kaggle-format test rows only
        submission.write(
            submission.build(test_rows, test[list(targets_of(val))].to_numpy()), run_dir / "submission.csv"
        )
    table = results(val, split_column, fold, test_rows, test, data)
    with atomic_path(run_dir / "results.csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(run_dir / "results.md") as tmp:
        tmp.write_text("```\n" + format_table(table) + "\n```\n")
    summary = headline(table)
    write_json(run_dir / "results.json", summary | (extra or {}))
    _plot(run_dir, val, test, test_rows)
    return table


def headline(table: pd.DataFrame) -> dict:
    """The results table's summary numbers: val_map, test_score (labelled Kaggle test rows);
    val_spearman (a count table); affinity_spearman and affinity_kendall overall and per group
    (``affinity_spearman_unseen``) of a held-out affinity file."""
    mean = table[table["protein"] == "mean"]
    out = {"val_map": float(mean.query("set == 'val'")["ap"].iloc[0])}
    score = table.query("set == 'test' and group == 'score'")
    if len(score):
        out["test_score"] = float(score["ap"].iloc[0])
    if "spearman" in table and mean.query("set == 'val'")["spearman"].notna().any():
        out["val_spearman"] = float(mean.query("set == 'val'")["spearman"].iloc[0])
    per_target = table[(table["set"] == "affinity") & (table["protein"] != "mean")]
    if len(per_target):
        out |= affinity.summary(per_target, "affinity_")
        if "affinity_spearman" not in out:  # said, not left out silently
            out["affinity_undefined"] = UNRANKED
    return out


UNRANKED = (
    "The held-out affinities cannot be ranked: the run predicts one value for every compound of the file (e.g. "
    "model=synthon given a file without the table's block columns, which sees none of their blocks)."
)
NO_HELDOUT = (
    "No held-out affinity file was given (data.test_file): the results rank the observed enrichment of the "
    "validation fold only, and nothing is scored against measured affinities."
)


def finish_run(run_dir: Path, datamodule, val: pd.DataFrame, test: pd.DataFrame, extra: dict) -> dict:
    """Write a run's outputs for `datamodule`'s fold (recording its prepared data and fold
    column, which blending checks), print the table, return val_map + extra."""
    extra = {
        **extra,
        "prepared_dir": str(Path(datamodule.prepared_dir).resolve()),
        "fold_column": datamodule.fold_column,
        "targets": list(datamodule.targets),
    }
    manifest, data = datamodule.store.manifest, datamodule.supervision
    note = ""
    if data.lacks_heldout(manifest):
        extra["heldout"] = "none"
        note = f"{NO_HELDOUT}\n"
    read_in = manifest.get("test", {}).get("affinity")  # what each held-out affinity file gave
    if read_in:
        extra["affinity_files"] = read_in["files"]
        note += "".join(f"affinity file {affinity_file.describe(r, read_in)}\n" for r in read_in["files"])
    rows = datamodule.store.test_rows()
    table = write_run(run_dir, val, test, rows, datamodule.fold_column, datamodule.fold, data, extra)
    head = headline(table)
    if "affinity_undefined" in head:
        note += f"{UNRANKED}\n"
    print(f"\nResults ({run_dir}):\n{format_table(table)}\n{note}")
    return {**head, **extra}


def _plot(run_dir: Path, val: pd.DataFrame, test: pd.DataFrame | None, test_rows: pd.DataFrame | None) -> None:
    cell = val["cell"].to_numpy() if "cell" in val else np.full(len(val), "", dtype=object)
    for k, p in enumerate(targets_of(val)):
        y = val[f"label_{p}"].to_numpy()
        curves = {}
        for name in sorted(set(cell), key=cells.order):
            sel = (cell == name) & (y >= 0)
            curves[f"val {name}".strip() if len(set(cell)) > 1 else "val"] = (y[sel], val[p].to_numpy()[sel])
        if test is not None and test_rows is not None and "binds" in test_rows:
            rows = test_rows[test_rows["protein"] == k]
            probs = test[p].to_numpy()[rows["molecule"].to_numpy()]
            groups = rows["split_group"].to_numpy() if "split_group" in rows else np.full(len(rows), "test", object)
            for g in sorted(set(groups)):
                sel = groups == g
                curves[f"test {g}"] = (rows["binds"].to_numpy()[sel], probs[sel])
        plots.pr_curves(curves, f"{p}: precision-recall", run_dir / "plots" / f"pr_{p}.png")
