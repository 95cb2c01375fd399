"""Blending finished runs (``belka blend``): loading and checking them, and the three methods.

Every run (neural or baseline) must have predicted the same validation molecules of the same
fold and the same test set. The blend is scored like a run — validation AP per protein, test
AP per split group where the solution is known — next to each input run, and written like a
run (predictions, ``submission.csv``, results, plots) plus ``blend.csv|md|png|json``.

- ``mean``: the average probability.
- ``rank``: the average of per-protein ranks scaled to (0, 1] (within validation, within test).
- ``optuna``: non-negative weights maximising validation mAP (Optuna TPE, seeded, ``n_trials``;
  every single run and the plain mean are tried first, so it is never worse on the data it is
  fitted on). That score is optimistic; the honest estimate fits on one half of the
  validation molecules and scores on the other, both ways, and is reported next to the plain
  mean on the same halves.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from scipy.stats import rankdata

from belka_lab.core import figures
from belka_lab.core.errors import InputError
from belka_lab.core.io import atomic_path
from belka_lab.dataset import supervision
from belka_lab.dataset.store import PreparedDataset
from belka_lab.evaluation import cells, outputs
from belka_lab.evaluation.metrics import mean_defined


def load_run(run: str | Path) -> dict:
    run = Path(run)
    files = [run / "predictions" / "val.parquet", run / "predictions" / "test.parquet", run / "results.json"]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise InputError(
            f"run {run} has no {', '.join(missing)}: blend finished runs (python -m belka_lab / belka_lab.baseline "
            f"with predict=true)"
        )
    info = json.loads(files[2].read_text())
    return {
        "dir": run,
        "name": run.name,
        "val": pd.read_parquet(files[0]),
        "test": pd.read_parquet(files[1]),
        "info": info,
    }


def check_compatible(runs: list[dict]) -> None:
    first = runs[0]
    for r in runs[1:]:
        a, b = first["val"], r["val"]
        if len(a) != len(b) or not np.array_equal(a["molecule"].to_numpy(), b["molecule"].to_numpy()):
            raise InputError(
                f"runs {first['dir']} and {r['dir']} validated on different molecules ({len(a)} vs {len(b)}): blend "
                f"runs "
                f"of the same split and fold"
            )
        if not np.array_equal(a["fold"].to_numpy(), b["fold"].to_numpy()) or first["info"].get("fold_column") != r[
            "info"
        ].get("fold_column"):
            raise InputError(
                f"runs {first['dir']} and {r['dir']} used different folds: blend runs of the same split and fold"
            )
        if outputs.targets_of(a) != outputs.targets_of(b):
            raise InputError(
                f"runs {first['dir']} and {r['dir']} predict different targets ({', '.join(outputs.targets_of(a))} vs "
                f"{', '.join(outputs.targets_of(b))}): blend runs of the same data"
            )
        dirs = {first["info"].get("prepared_dir"), r["info"].get("prepared_dir")} - {None}
        if len(first["test"]) != len(r["test"]) or len(dirs) > 1:
            raise InputError(
                f"runs {first['dir']} and {r['dir']} predicted different test sets (prepared data "
                f"{first['info'].get('prepared_dir')} vs {r['info'].get('prepared_dir')})"
            )


def ranks(probs: np.ndarray) -> np.ndarray:
    """Per column, ranks scaled to (0, 1] (ties share their mean rank)."""

    return (
        np.stack([rankdata(probs[:, k]) / len(probs) for k in range(probs.shape[1])], axis=1) if len(probs) else probs
    )


def val_map(probs: np.ndarray, labels: np.ndarray, cell: np.ndarray | None = None) -> float:
    """The validation mAP as a run logs it: the mean AP over (target × validation cell); `cell`
    codes each molecule's cell (None: one cell)."""
    cell = np.zeros(len(labels), np.int64) if cell is None else np.asarray(cell)
    n = int(cell.max()) + 1 if len(cell) else 1
    ap = cells.cell_ap(labels, probs, cell, n)
    return float(np.mean(list(ap.values()))) if ap else float("nan")


def cell_codes(val: pd.DataFrame) -> np.ndarray | None:
    """Each validation molecule's cell as a code (None when the run's val.parquet has no cells)."""
    return pd.factorize(val["cell"])[0] if "cell" in val else None


def fit_weights(
    stack: np.ndarray, labels: np.ndarray, n_trials: int, seed: int, cell: np.ndarray | None = None
) -> np.ndarray:
    """Non-negative weights (summing to 1) for stack [runs, N, T] maximising validation mAP."""
    import optuna  # heavy

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n = len(stack)

    def blend_score(w):
        w = np.asarray(w, float)
        return val_map(np.tensordot(w / w.sum(), stack, 1), labels, cell) if w.sum() > 0 else 0.0

    def objective(trial):
        return blend_score([trial.suggest_float(f"w{i}", 0.0, 1.0) for i in range(n)])

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    for i in range(n):  # every single run, then the plain mean, first
        study.enqueue_trial({f"w{j}": float(i == j) for j in range(n)})
    study.enqueue_trial({f"w{j}": 1.0 for j in range(n)})
    study.optimize(objective, n_trials=max(n_trials, n + 1))
    w = np.array([study.best_params[f"w{i}"] for i in range(n)])
    return w / w.sum()


def blend(runs: list[dict], method: str, n_trials: int = 200, seed: int = 42) -> tuple[np.ndarray, np.ndarray, dict]:
    """(validation probabilities, test probabilities, details) of the blend."""
    P = list(outputs.targets_of(runs[0]["val"]))
    val = np.stack([r["val"][P].to_numpy(np.float64) for r in runs])
    test = np.stack([r["test"][P].to_numpy(np.float64) for r in runs])
    if method == "mean":
        return val.mean(0), test.mean(0), {"weights": [1 / len(runs)] * len(runs)}
    if method == "rank":
        return (
            np.mean([ranks(v) for v in val], 0),
            np.mean([ranks(t) for t in test], 0),
            {"weights": [1 / len(runs)] * len(runs)},
        )
    if method != "optuna":
        raise InputError(f"method={method!r}: use mean, rank or optuna")
    labels = runs[0]["val"][[f"label_{p}" for p in P]].to_numpy()
    cell = cell_codes(runs[0]["val"])
    cell = np.zeros(len(labels), np.int64) if cell is None else cell
    half = np.random.default_rng(seed).permutation(len(labels)) < len(labels) // 2
    held_out, mean_held_out = [], []
    for fit_on in (half, ~half):
        w = fit_weights(val[:, fit_on], labels[fit_on], n_trials, seed, cell[fit_on])
        held_out.append(val_map(np.tensordot(w, val[:, ~fit_on], 1), labels[~fit_on], cell[~fit_on]))
        mean_held_out.append(val_map(val[:, ~fit_on].mean(0), labels[~fit_on], cell[~fit_on]))
    w = fit_weights(val, labels, n_trials, seed, cell)
    details = {
        "weights": w.tolist(),
        "n_trials": n_trials,
        "honest_val_map": float(np.mean(held_out)),
        "honest_val_map_halves": held_out,
        "mean_blend_same_halves": float(np.mean(mean_held_out)),
    }
    return np.tensordot(w, val, 1), np.tensordot(w, test, 1), details


# ---------------------------------------------------------------------- a blend run (belka blend)
def _row(name: str, table: pd.DataFrame) -> dict:
    """One line per run: val_map, the validation AP per target (one cell) or per cell (several),
    the test score and the test AP per split group."""
    row = {"run": name}
    val = table[(table["set"] == "val") & (table["protein"] != "mean")]
    row["val_map"] = float(table.query("set == 'val' and protein == 'mean'")["ap"].iloc[0])
    if val["group"].nunique() == 1:
        row |= {f"val_{r['protein']}": r["ap"] for _, r in val.iterrows()}
    else:
        row |= {f"val_{g}": mean_defined(c["ap"]) for g, c in val.groupby("group", sort=False)}
    score = table.query("set == 'test' and group == 'score'")
    if len(score):
        row["test_score"] = float(score["ap"].iloc[0])
    test = table[(table["set"] == "test") & (table["group"] != "score")]
    for g, in_group in test.groupby("group"):
        row[f"test_{g}"] = mean_defined(in_group["ap"])
    return row


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
    data = supervision.of(store.manifest)
    test_rows = store.test_rows()
    split_column, fold = info.get("fold_column", "fold"), int(runs[0]["val"]["fold"].iloc[0])
    val_p, test_p, details = blend(runs, cfg.method, int(cfg.n_trials), int(cfg.seed))

    rows = [_row(r["name"], outputs.results(r["val"], split_column, fold, test_rows, r["test"], data)) for r in runs]
    base = runs[0]["val"]
    targets = outputs.targets_of(base)
    labels = base[[f"label_{p}" for p in targets]].to_numpy()
    cell = base["cell"].to_numpy() if "cell" in base else None
    scored = data.observed_columns(targets)
    observed = base[scored].to_numpy() if scored else None
    val_df = outputs.val_frame(base["molecule"].to_numpy(), val_p, labels, fold, targets, cell, observed)
    test_df = outputs.test_frame(runs[0]["test"]["molecule"].to_numpy(), test_p, len(runs[0]["test"]), targets)
    out = Path(cfg.paths.output_dir)
    extra = {
        "method": cfg.method,
        "runs": [str(r["dir"]) for r in runs],
        "prepared_dir": str(prepared),
        "fold_column": split_column,
        "targets": list(targets),
        **details,
    }
    table = outputs.write_run(out, val_df, test_df, test_rows, split_column, fold, data, extra)
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
