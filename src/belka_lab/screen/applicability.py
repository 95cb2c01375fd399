"""How far a score can be trusted: how many of a molecule's building blocks the model's
training molecules contained.

BELKA's test set showed the cost of a block never seen in training: the validation mAP of the
same model falls from the ``share`` cell (every block seen) through ``partial`` to
``non_share`` (none seen); docs/screening.md has the numbers. When the screened file has the
building-block columns (three on BELKA; two to four on a lab's table), each molecule gets
``blocks_seen`` (0 to the number of cycles) and ``group``: ``share`` (every block seen),
``partial`` (some) or ``non_share`` (none).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def training_blocks(dm) -> list[str]:
    """The building-block SMILES of the molecules a set-up data module trains on (its fold's
    training rows), sorted."""

    store = dm.store
    bb = store.train("bb_ids")
    seen = np.zeros(0, np.int64)
    step = 4_000_000
    for lo in range(0, len(dm.train_idx), step):
        rows = dm.train_idx[lo : lo + step]
        seen = np.union1d(seen, np.unique(np.asarray(bb[rows])))
    blocks = pd.read_parquet(store.path / "building_blocks.parquet", columns=["bb_id", "smiles"])
    return sorted(blocks.loc[blocks["bb_id"].isin(seen), "smiles"].tolist())


def blocks_seen(columns: list[pa.Array], known: pa.Array) -> np.ndarray:
    """int8 [n]: how many of each row's blocks (one array per block column) are in ``known``."""
    seen = np.zeros(len(columns[0]), np.int8)
    for col in columns:
        seen += pc.is_in(col, value_set=known).fill_null(False).to_numpy(zero_copy_only=False)
    return seen


def columns(seen: np.ndarray, cycles: int) -> dict[str, pa.Array]:
    """``blocks_seen`` and ``group`` of molecules with ``cycles`` blocks each."""
    group = np.where(seen == cycles, "share", np.where(seen == 0, "non_share", "partial")).astype(object)
    return {"blocks_seen": pa.array(seen, pa.int8()), "group": pa.array(group, pa.string())}
