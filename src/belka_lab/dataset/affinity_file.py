"""A held-out affinity file → the test part of a prepared count table.

Its compounds (``smiles``, ``target``, ``kd``; optionally the count table's id column and
``blocks``, a group such as seen/unseen) are tokenized into ``test/tokens.npy`` and listed one row
per (compound, target) in ``test/rows.parquet`` with their Kd; training scores them against
−log Kd (``evaluation/affinity.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from belka_lab.core.errors import InputError, preview
from belka_lab.dataset import read
from belka_lab.dataset.molecules import check_smiles, encode
from belka_lab.tokens.characters import MAX_LEN

COLUMNS = ("smiles", "target", "kd")


def ingest(path: Path, tmp: Path, targets: tuple[str, ...], table, options) -> dict:
    """The held-out affinity file as the test part: its compounds' tokens and one row per
    (compound, target) with ``kd``; returns the ids it names and what the manifest records."""
    batches, _ = read.table_batches(
        path, list(COLUMNS), options.batch_rows, optional=tuple(c for c in (table.id, "blocks") if c)
    )
    t = pa.Table.from_batches(list(batches)).combine_chunks()
    rows = np.arange(t.num_rows)
    check_smiles(path, t["smiles"], rows)
    kd = t["kd"]
    if not (pa.types.is_integer(kd.type) or pa.types.is_floating(kd.type)):
        raise InputError(
            f"{path}: column `kd` holds {kd.type}; it must hold positive numbers (the dissociation constant)"
        )
    kd_values = pc.fill_null(kd, -1).to_numpy(zero_copy_only=False).astype(np.float64)
    bad = ~(kd_values > 0) | ~np.isfinite(kd_values)
    if bad.any():
        raise InputError(
            f"{path}: {int(bad.sum())} rows have a missing, zero or negative kd (rows {preview(rows[bad].tolist())}); "
            f"a dissociation constant is a positive number"
        )
    idx = pc.index_in(t["target"].cast(pa.string()), value_set=pa.array(targets))
    if idx.null_count:
        names = pc.unique(pc.filter(t["target"], idx.is_null())).to_pylist()
        raise InputError(
            f"{path}: targets {names[:5]} (rows {preview(rows[idx.is_null().to_numpy(zero_copy_only=False)].tolist())})"
            f" are not in the count table, whose targets are {', '.join(targets)}"
        )
    enc = pc.dictionary_encode(t["smiles"]).combine_chunks()
    molecule = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    tokens, n_unk, _ = encode(
        path, enc.dictionary, rows[: len(enc.dictionary)], "unk" if options.unknown_chars == "unk" else "error"
    )
    np.save(tmp / "test" / "tokens.npy", tokens)
    np.save(tmp / "test" / "bb_ids.npy", np.full((len(tokens), len(table.blocks)), -1, np.int32))
    out = {
        "id": rows.astype(np.int64),
        "molecule": molecule,
        "protein": idx.to_numpy(zero_copy_only=False).astype(np.int16),
    }
    out["kd"] = kd_values
    groups = None
    if "blocks" in t.column_names:
        out["split_group"] = np.asarray(t["blocks"].cast(pa.string()).to_pylist(), dtype=object)
        groups = sorted(set(out["split_group"]) - {None})
    ids = set()
    if table.id and table.id in t.column_names:
        named = t[table.id].cast(pa.string()).to_pylist()
        ids = {v for v in named if v}
    pq.write_table(pa.table(out), tmp / "test" / "rows.parquet")
    return {"rows": t.num_rows, "molecules": len(tokens), "unknown_chars": n_unk, "split_groups": groups, "ids": ids}


def empty(tmp: Path, cycles: int) -> dict:
    np.save(tmp / "test" / "tokens.npy", np.zeros((0, MAX_LEN), np.uint8))
    np.save(tmp / "test" / "bb_ids.npy", np.zeros((0, cycles), np.int32))
    rows = {"id": np.zeros(0, np.int64), "molecule": np.zeros(0, np.int32), "protein": np.zeros(0, np.int16)}
    pq.write_table(pa.table(rows), tmp / "test" / "rows.parquet")
    return {"rows": 0, "molecules": 0, "unknown_chars": 0, "split_groups": None, "ids": set()}
