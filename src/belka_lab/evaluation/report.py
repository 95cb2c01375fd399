"""The report of a sweep (``belka report <multirun dir>``): one table of its runs.

Reads every run directory below the given one (``results.json``, ``results.csv`` and
Hydra's ``.hydra/overrides.yaml``), prints the runs sorted by validation mAP with their
overrides, parameter count and training throughput, and writes ``summary.csv`` and
``summary.png`` (validation mAP against parameters) into the multirun directory.

When the runs have several seeds or validation cells it also answers whether validation picks
the winner: ``recipes.csv|png`` (each recipe, i.e. the overrides but ``seed``: mean ± sd of the
validation cells and test groups over its seeds) and ``agreement.csv`` (Spearman's rank
correlation, across runs, of each validation cell with the matching test group, and whether
the recipe best on a validation cell is the best on its test group).

A held-out affinity file's numbers (``affinity_spearman…`` of ``results.json``) are columns too.
KinDEL's benchmark (``split=kindel``, a multirun over ``data.split.index=1,2,3,4,5``): the split
index is a replicate like the seed, and ``kindel.csv`` is KinDEL's table — Spearman on the
held-out sets, ``lib`` / ``all`` × on-DNA / off-DNA, mean ± sd over the splits with KinDEL's
``np.std`` (ddof 0), positive for a model that ranks tight binders high (the sign KinDEL prints).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from matplotlib.ticker import NullFormatter
from scipy.stats import spearmanr

from belka_lab.core import figures
from belka_lab.core.errors import InputError
from belka_lab.core.io import atomic_path

COLUMNS = ["run", "overrides", "val_map", "test_score", "params", "samples_per_s", "fit_seconds"]
REPLICATES = ("seed", "data.split.index")  # overrides that repeat a recipe rather than change it
KINDEL = {  # KinDEL's table, in its order: column → the results.json key
    "lib_on": "affinity_spearman_ondna_lib",
    "lib_off": "affinity_spearman_offdna_lib",
    "all_on": "affinity_spearman_ondna",
    "all_off": "affinity_spearman_offdna",
}


def collect(sweep_dir: str | Path) -> pd.DataFrame:
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise InputError(f"{sweep_dir} is not a directory; give the multirun directory Hydra printed")
    rows = []
    for results in sorted(sweep_dir.rglob("results.json")):
        run = results.parent
        data = json.loads(results.read_text())
        if "encoder" in data:  # a pretraining stage inside a run (pretrain_chain), not a run
            continue
        overrides_file = run / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else []
        row = {"run": str(run.relative_to(sweep_dir)), "overrides": " ".join(overrides or [])}
        row |= {k: data.get(k) for k in COLUMNS[2:]}
        row |= {k: v for k, v in data.items() if k.startswith("affinity_") and isinstance(v, (int, float))}
        table = run / "results.csv"
        if table.exists():
            cells = pd.read_csv(table)
            for kind in ("val", "test"):
                part = cells[(cells["set"] == kind) & (cells["protein"] != "mean")]
                if kind == "val" and part["group"].nunique() < 2:
                    continue  # one validation cell: val_map says it
                for group, frame in part.groupby("group"):
                    row[f"{kind}_{group}"] = frame["ap"].mean()
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

    def short(value: str) -> str:  # a path by its last two parts: pretrain/ecfp/encoder.pt → ecfp/encoder.pt
        return "/".join(value.split("/")[-2:]) if "/" in value else value

    return [" ".join(f"{k.split('.')[-1]}={short(p[k])}" for k in varying if k in p) for p in parsed]


PAIRS = [  # (validation column, test column) that should rank runs alike
    ("val_map", "test_score"),
    ("val_share", "test_share"),
    ("val_partial", "test_non_share"),
    ("val_non_share", "test_non_share"),
    ("val_non_share", "test_other_core"),
]


def recipes(df: pd.DataFrame) -> pd.DataFrame:
    """Mean ± sd over seeds (and KinDEL's split indices) of every val_*/test_*/affinity_* column,
    one row per recipe (the overrides but :data:`REPLICATES`)."""
    df = df.assign(recipe=_recipes(df))
    short = dict(zip(df["recipe"], _varied(df["recipe"])))
    cols = [c for c in df if c.startswith(("val_", "test_", "affinity_"))]
    stats = df.groupby("recipe")[cols].agg(["mean", "std"])
    stats.columns = [f"{c}_{s}" for c, s in stats.columns]
    out = stats.reset_index()
    out.insert(1, "varied", out["recipe"].map(short))
    out.insert(2, "seeds", df.groupby("recipe").size().reindex(out["recipe"]).to_numpy())
    return out


def _recipes(df: pd.DataFrame) -> list[str]:
    """Each run's recipe: its overrides but :data:`REPLICATES`."""
    parsed = [dict(o.split("=", 1) for o in text.split() if "=" in o) for text in df["overrides"]]
    return [" ".join(f"{k}={v}" for k, v in sorted(p.items()) if k not in REPLICATES) for p in parsed]


def kindel_table(df: pd.DataFrame) -> pd.DataFrame | None:
    """KinDEL's table of a sweep: per recipe, its runs and each column of :data:`KINDEL` as
    ``<column>_mean`` and ``<column>_sd`` over the runs (``np.std``, ddof 0, as KinDEL's
    ``results.py``); None when no run scored KinDEL's held-out sets."""
    present = {name: key for name, key in KINDEL.items() if key in df}
    if not present:
        return None
    df = df.assign(recipe=_recipes(df))
    short = dict(zip(df["recipe"], _varied(df["recipe"])))
    rows = []
    for recipe, runs in df.groupby("recipe", sort=False):
        row = {"recipe": recipe, "varied": short[recipe], "runs": len(runs)}
        for name, key in present.items():
            values = runs[key].dropna().to_numpy(float)
            row[f"{name}_mean"] = float(values.mean()) if len(values) else float("nan")
            row[f"{name}_sd"] = float(values.std()) if len(values) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def agreement(df: pd.DataFrame, by_recipe: pd.DataFrame) -> pd.DataFrame:
    """For each (validation, test) pair present: Spearman's rho across runs, and the recipe that
    is best on each side (by mean over seeds)."""

    rows = []
    for val, test in PAIRS:
        if val not in df or test not in df:
            continue
        ok = df[[val, test]].dropna()
        rho = spearmanr(ok[val], ok[test]).statistic if len(ok) > 2 else float("nan")
        best_val = by_recipe.loc[by_recipe[f"{val}_mean"].idxmax(), "varied"]
        best_test = by_recipe.loc[by_recipe[f"{test}_mean"].idxmax(), "varied"]
        rows.append(
            {
                "validation": val,
                "test": test,
                "runs": len(ok),
                "spearman": rho,
                "best_on_validation": best_val,
                "best_on_test": best_test,
                "validation_picks_it": best_val == best_test,
            }
        )
    return pd.DataFrame(rows)


def plot_recipes(by_recipe: pd.DataFrame, path: Path) -> Path | None:
    """Grouped bars: each recipe's validation cells and test groups, mean ± sd over its seeds
    (``path``; None, and no file, when the runs have neither)."""

    cols = [c[: -len("_mean")] for c in by_recipe if c.endswith("_mean") and c != "val_map_mean"]
    cols = [c for c in cols if c.startswith("val_")] + [c for c in cols if c.startswith("test_") and c != "test_score"]
    if not cols:
        return None
    fig, ax = figures.subplots(figsize=(max(7, 1.4 * len(by_recipe) * len(cols) / 3), 4.5))
    x = np.arange(len(by_recipe))
    width = 0.8 / max(len(cols), 1)
    for i, c in enumerate(cols):
        ax.bar(
            x + (i - (len(cols) - 1) / 2) * width,
            by_recipe[f"{c}_mean"],
            width,
            yerr=by_recipe[f"{c}_std"].fillna(0),
            capsize=2,
            label=c,
            hatch="//" if c.startswith("test_") else None,
        )
    ax.set_xticks(x, by_recipe["varied"].replace("", "(all)"), rotation=20, ha="right", fontsize=8)
    ax.set(ylabel="mean AP over proteins", title="recipes: validation cells and test groups (mean ± sd over seeds)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    figures.save(fig, path)
    return path


def plot(df: pd.DataFrame, path: Path) -> None:

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


def report(sweep_dir: str | Path) -> list[Path]:
    """Write the sweep's tables and charts into ``sweep_dir``, print them; the files written."""
    df = collect(sweep_dir)
    out = Path(sweep_dir)
    with atomic_path(out / "summary.csv") as tmp:
        df.to_csv(tmp, index=False)
    plot(df, out / "summary.png")
    with pd.option_context("display.width", 200):
        print(df.drop(columns=["overrides"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    written = [out / "summary.csv", out / "summary.png"]
    by_recipe = recipes(df)
    if len(by_recipe) < len(df):  # a recipe with several runs (seeds, KinDEL's splits)
        with atomic_path(out / "recipes.csv") as tmp:
            by_recipe.to_csv(tmp, index=False)
        written += [out / "recipes.csv", *filter(None, [plot_recipes(by_recipe, out / "recipes.png")])]
        means = [c for c in by_recipe if c.endswith("_mean")]
        view = by_recipe[["varied", "seeds"]].copy()
        for c in means:
            base = c[: -len("_mean")]
            view[base] = [
                f"{m:.4f} ± {s:.4f}" if s == s else f"{m:.4f}" for m, s in zip(by_recipe[c], by_recipe[f"{base}_std"])
            ]
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            print("\nrecipes (mean ± sd over seeds):\n" + view.to_string(index=False))
        if len(by_recipe) > 1:  # several recipes: does validation rank them as the test does?
            agree = agreement(df, by_recipe)
            with atomic_path(out / "agreement.csv") as tmp:
                agree.to_csv(tmp, index=False)
            written.append(out / "agreement.csv")
            text = agree.to_string(index=False, float_format=lambda v: f"{v:.3f}")
            print("\ndoes validation pick the winner?\n" + text)
    kindel = kindel_table(df)
    if kindel is not None:
        with atomic_path(out / "kindel.csv") as tmp:
            kindel.to_csv(tmp, index=False)
        written.append(out / "kindel.csv")
        view = kindel[["varied", "runs"]].copy()
        for name in (n for n in KINDEL if f"{n}_mean" in kindel):
            view[name] = [f"{m:.3f} ± {sd:.3f}" for m, sd in zip(kindel[f"{name}_mean"], kindel[f"{name}_sd"])]
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            print(
                "\nKinDEL's table (Spearman with the held-out Kd, sign as KinDEL prints it: higher is better; "
                "mean ± sd over the runs, ddof 0):\n" + view.to_string(index=False)
            )
    print("\nwrote " + ", ".join(str(p) for p in written))
    return written
