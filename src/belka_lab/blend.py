"""`python -m belka_lab.blend runs=[dir,...] method=mean|rank|optuna`: blend finished runs.

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

import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from belka_lab import metrics, outputs
from belka_lab.config import CONFIG_DIR
from belka_lab.data.proteins import PROTEINS
from belka_lab.data.store import PreparedDataset
from belka_lab.errors import InputError, exits_on_input_error
from belka_lab.io import atomic_path

P = list(PROTEINS)


def load_run(run: str | Path) -> dict:
    run = Path(run)
    files = [run / "predictions" / "val.parquet", run / "predictions" / "test.parquet", run / "results.json"]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise InputError(f"run {run} has no {', '.join(missing)}: blend finished runs (python -m belka_lab / belka_lab.baseline with predict=true)")
    info = json.loads(files[2].read_text())
    if "fold_column" not in info and (run / "results.csv").exists():  # runs written before results.json named it
        group = pd.read_csv(run / "results.csv").query("set == 'val'")["group"].iloc[0]
        info["fold_column"] = str(group).split("=")[0]
    return {"dir": run, "name": run.name, "val": pd.read_parquet(files[0]), "test": pd.read_parquet(files[1]), "info": info}


def check_compatible(runs: list[dict]) -> None:
    first = runs[0]
    for r in runs[1:]:
        a, b = first["val"], r["val"]
        if len(a) != len(b) or not np.array_equal(a["molecule"].to_numpy(), b["molecule"].to_numpy()):
            raise InputError(f"runs {first['dir']} and {r['dir']} validated on different molecules ({len(a)} vs {len(b)}): blend runs of the same split and fold")
        if not np.array_equal(a["fold"].to_numpy(), b["fold"].to_numpy()) or first["info"].get("fold_column") != r["info"].get("fold_column"):
            raise InputError(f"runs {first['dir']} and {r['dir']} used different folds: blend runs of the same split and fold")
        dirs = {first["info"].get("prepared_dir"), r["info"].get("prepared_dir")} - {None}
        if len(first["test"]) != len(r["test"]) or len(dirs) > 1:
            raise InputError(f"runs {first['dir']} and {r['dir']} predicted different test sets (prepared data {first['info'].get('prepared_dir')} vs {r['info'].get('prepared_dir')})")


def ranks(probs: np.ndarray) -> np.ndarray:
    """Per column, ranks scaled to (0, 1] (ties share their mean rank)."""
    from scipy.stats import rankdata

    return np.stack([rankdata(probs[:, k]) / len(probs) for k in range(probs.shape[1])], axis=1) if len(probs) else probs


def val_map(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(metrics.molecule_ap(labels, probs)["map"])


def fit_weights(stack: np.ndarray, labels: np.ndarray, n_trials: int, seed: int) -> np.ndarray:
    """Non-negative weights (summing to 1) for stack [runs, N, 3] maximising validation mAP."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n = len(stack)

    def blend_score(w):
        w = np.asarray(w, float)
        return val_map(np.tensordot(w / w.sum(), stack, 1), labels) if w.sum() > 0 else 0.0

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
    val = np.stack([r["val"][P].to_numpy(np.float64) for r in runs])
    test = np.stack([r["test"][P].to_numpy(np.float64) for r in runs])
    if method == "mean":
        return val.mean(0), test.mean(0), {"weights": [1 / len(runs)] * len(runs)}
    if method == "rank":
        return np.mean([ranks(v) for v in val], 0), np.mean([ranks(t) for t in test], 0), {"weights": [1 / len(runs)] * len(runs)}
    if method != "optuna":
        raise InputError(f"method={method!r}: use mean, rank or optuna")
    labels = runs[0]["val"][[f"label_{p}" for p in P]].to_numpy()
    half = np.random.default_rng(seed).permutation(len(labels)) < len(labels) // 2
    held_out, mean_held_out = [], []
    for fit_on in (half, ~half):
        w = fit_weights(val[:, fit_on], labels[fit_on], n_trials, seed)
        held_out.append(val_map(np.tensordot(w, val[:, ~fit_on], 1), labels[~fit_on]))
        mean_held_out.append(val_map(val[:, ~fit_on].mean(0), labels[~fit_on]))
    w = fit_weights(val, labels, n_trials, seed)
    details = {
        "weights": w.tolist(), "n_trials": n_trials,
        "honest_val_map": float(np.mean(held_out)), "honest_val_map_halves": held_out,
        "mean_blend_same_halves": float(np.mean(mean_held_out)),
    }  # fmt: skip
    return np.tensordot(w, val, 1), np.tensordot(w, test, 1), details


def _row(name: str, table: pd.DataFrame) -> dict:
    row = {"run": name}
    for _, r in table.iterrows():
        if r["set"] == "val":
            row["val_map" if r["protein"] == "mean" else f"val_{r['protein']}"] = r["ap"]
        elif r["group"] == "score":
            row["test_score"] = r["ap"]
    test = table[(table["set"] == "test") & (table["group"] != "score")]
    for g, cells in test.groupby("group"):
        row[f"test_{g}"] = float(np.nanmean(cells["ap"]))
    return row


def _plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [c for c in ("val_map", "test_score") if c in table]
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(table)), 4))
    x = np.arange(len(table))
    for i, c in enumerate(cols):
        ax.bar(x + (i - (len(cols) - 1) / 2) * 0.38, table[c], 0.38, label=c)
    ax.set_xticks(x, table["run"], rotation=20, ha="right", fontsize=8)
    ax.set(ylabel="mean average precision", title="runs and their blend")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def run_blend(cfg: DictConfig) -> pd.DataFrame:
    if not cfg.runs or len(cfg.runs) < 2:
        raise InputError("runs=[dir1,dir2,...]: give at least two finished run directories")
    runs = [load_run(r) for r in cfg.runs]
    check_compatible(runs)
    info = runs[0]["info"]
    prepared = cfg.get("prepared_dir") or info.get("prepared_dir")
    if not prepared:
        raise InputError(f"{runs[0]['dir']}/results.json does not name its prepared data: add prepared_dir=<the run's data.prepared_dir>")
    store = PreparedDataset(prepared)
    test_rows = store.test_rows()
    split_column, fold = info.get("fold_column", "fold"), int(runs[0]["val"]["fold"].iloc[0])
    val_p, test_p, details = blend(runs, cfg.method, int(cfg.n_trials), int(cfg.seed))

    rows = [_row(r["name"], outputs.results(r["val"], split_column, fold, test_rows, r["test"])) for r in runs]
    base = runs[0]["val"]
    val_df = outputs.val_frame(base["molecule"].to_numpy(), val_p, base[[f"label_{p}" for p in P]].to_numpy(), fold)
    test_df = outputs.test_frame(runs[0]["test"]["molecule"].to_numpy(), test_p, len(runs[0]["test"]))
    out = Path(cfg.paths.output_dir)
    extra = {"method": cfg.method, "runs": [str(r["dir"]) for r in runs], "prepared_dir": str(prepared), "fold_column": split_column, **details}
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
        print(f"weights: {w}\nhonest validation mAP (fit on one half, scored on the other): {details['honest_val_map']:.4f}; plain mean on the same halves: {details['mean_blend_same_halves']:.4f}")
    print(f"blend written to {out} (submission.csv, blend.csv/md/png, results.*)")
    return summary


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="blend")
@exits_on_input_error
def main(cfg: DictConfig) -> None:
    run_blend(cfg)


if __name__ == "__main__":
    main()
