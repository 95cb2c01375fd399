"""Tiny files in KinDEL's formats, made from a simulated selection (``synth/selection.py``):

- ``ddr1_1M.parquet``: ``molecule_hash``, ``smiles``, ``smiles_a/b/c``, ``seq_target_1..3``,
  ``seq_matrix_1..3``, ``seq_load`` (the selection's sEH reads), ``target_enrichment``, with a
  stored index that is not 0..n-1 (``__index_level_0__``, as a slice of a larger table keeps);
- ``splits/ddr1_{random,disynthon}.parquet``: ``split1..split5`` of ``train`` / ``valid`` /
  ``test``, the same index in another row order (pandas matches them by label);
- ``heldout/ddr1_ondna.csv``: written by pandas with its index (``Unnamed: 0`` when read back),
  ``smiles``, ``molecule_hash`` (empty outside the library), ``kd`` as text, some censored
  (``>N``, ``> N``, ``<N``), ``smiles_a/b/c``, no ``target``;
- ``heldout/ddr1_offdna.parquet``: the same columns with a stored index (``__index_level_0__``)
  and one ``kd`` of 0;
- ``heldout/mapk14_ondna.csv``: another target's file, which a DDR1 table skips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

BLOCKS = ["smiles_a", "smiles_b", "smiles_c"]


def one_target(t: pd.DataFrame) -> pd.DataFrame:
    """A simulated selection's table as KinDEL's one-target files have it: the sEH reads as the
    sample ``target``, the matrix control, the load."""
    table = t[["molecule_hash", "smiles", *BLOCKS]].copy()
    for r in (1, 2, 3):
        table[f"seq_target_{r}"] = t[f"seq_sEH_{r}"]
        table[f"seq_matrix_{r}"] = t[f"seq_matrix_{r}"]
    table["seq_load"] = t["seq_load"]
    return table


def kindel_files(selection: Path, out: Path, seed: int = 0) -> Path:
    """Write the files above into ``out`` from the selection at ``selection``; returns ``out``."""
    rng = np.random.default_rng(seed)
    t = pd.read_parquet(selection / "selection.parquet")
    table = one_target(t)
    table["target_enrichment"] = (t[["seq_sEH_1", "seq_sEH_2", "seq_sEH_3"]].sum(axis=1) + 0.5) / (t["seq_load"] + 0.5)
    table.index = pd.Index(7 * np.arange(len(table)) + 1_000_003)
    out.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out / "ddr1_1M.parquet")
    (out / "splits").mkdir(exist_ok=True)
    for kind in ("random", "disynthon"):
        marks = rng.choice(["train", "valid", "test"], p=[0.8, 0.1, 0.1], size=(len(table), 5))
        split = pd.DataFrame(marks, columns=[f"split{i}" for i in range(1, 6)], index=table.index)
        split.iloc[rng.permutation(len(split))].to_parquet(out / "splits" / f"ddr1_{kind}.parquet")

    held = pd.read_csv(selection / "heldout.csv", dtype={"molecule_hash": str})
    held = held[held["target"] == "sEH"].drop(columns=["target", "blocks"])
    held = held.iloc[rng.permutation(len(held))].reset_index(drop=True)  # both sets: in the library and outside
    held = held.merge(table[["molecule_hash", *BLOCKS]], on="molecule_hash", how="left")
    kd = held["kd"].to_numpy(float)
    text = np.asarray([f"{v:.6g}" for v in kd], dtype=object)
    high = np.flatnonzero(kd > np.quantile(kd, 0.8))
    text[high[0::2]] = ">10000"
    text[high[1::2]] = "> 10000"
    text[np.argmin(kd)] = "<1"
    held["kd"] = text
    (out / "heldout").mkdir(exist_ok=True)
    half = len(held) // 2
    held.iloc[:half].to_csv(out / "heldout" / "ddr1_ondna.csv")
    off = held.iloc[half:].copy()
    off.loc[off.index[3], "kd"] = "0.0"
    off.index = off.index + 500  # stored as __index_level_0__
    off.to_parquet(out / "heldout" / "ddr1_offdna.parquet")
    held.iloc[:5].to_csv(out / "heldout" / "mapk14_ondna.csv")
    return out


def expected_kd(text: str) -> float:
    """The value a kd written above stands for (a censored one: its bound)."""
    return float(text.lstrip("<> "))
