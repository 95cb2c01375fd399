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

from belka_lab import cells
from belka_lab.data.proteins import PROTEINS
from belka_lab.errors import InputError

P = list(PROTEINS)


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
        dirs = {first["info"].get("prepared_dir"), r["info"].get("prepared_dir")} - {None}
        if len(first["test"]) != len(r["test"]) or len(dirs) > 1:
            raise InputError(
                f"runs {first['dir']} and {r['dir']} predicted different test sets (prepared data "
                f"{first['info'].get('prepared_dir')} vs {r['info'].get('prepared_dir')})"
            )


def ranks(probs: np.ndarray) -> np.ndarray:
    """Per column, ranks scaled to (0, 1] (ties share their mean rank)."""
    from scipy.stats import rankdata

    return (
        np.stack([rankdata(probs[:, k]) / len(probs) for k in range(probs.shape[1])], axis=1) if len(probs) else probs
    )


def val_map(probs: np.ndarray, labels: np.ndarray, cell: np.ndarray | None = None) -> float:
    """The validation mAP as a run logs it: the mean AP over (protein × validation cell); `cell`
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
    """Non-negative weights (summing to 1) for stack [runs, N, 3] maximising validation mAP."""
    import optuna

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
