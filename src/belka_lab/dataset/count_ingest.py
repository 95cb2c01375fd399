"""A count table streamed into the prepared arrays: tokens, block ids and the counts of the
layout's columns (``train/counts.npy``, int32), each value checked (missing, not a number,
negative, fractional, above the int32 range: named with its column and rows), every id hashed so
that a repeated one is refused, each column's summed reads returned for the manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from belka_lab.core.errors import InputError, preview
from belka_lab.core.progress import bar as progress_bar
from belka_lab.dataset import read, repeats, store
from belka_lab.dataset.count_columns import CountTable, Layout
from belka_lab.dataset.molecules import Blocks, check_smiles, encode
from belka_lab.tokens.characters import MAX_LEN

INT32_MAX = int(np.iinfo(np.int32).max)


def refused_counts(col) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(the values as float64, missing as 0; which are missing; each kind of value prepare refuses
    → its rows) of a numeric count column. ``belka inspect`` reports the same kinds."""
    missing = col.is_null().to_numpy(zero_copy_only=False)
    values = pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(np.float64)
    kinds = {
        "missing": missing,
        "not a number": ~missing & np.isnan(values),
        "negative": ~missing & (values < 0),
        "fractional": ~missing & np.isfinite(values) & (values != np.floor(values)),
        f"above {INT32_MAX:,} (the largest count a table holds)": ~missing & (values > INT32_MAX),
    }
    return values, missing, kinds


def missing_blocks(col) -> tuple[pa.Array, np.ndarray]:
    """(a block column as strings, the rows without a block: null or empty)."""
    text = col if pa.types.is_string(col.type) else pc.cast(col, pa.string())
    return text, pc.fill_null(pc.equal(pc.utf8_length(text), 0), True).to_numpy(zero_copy_only=False)


def _counts(path: Path, batch: pa.RecordBatch, columns: list[str], first_row: int) -> np.ndarray:
    """int32 [rows, columns] counts; one InputError naming the column, the rows and what is wrong
    with a count that is missing, negative, fractional, too large or not a number."""
    out = np.empty((batch.num_rows, len(columns)), np.int32)
    for j, name in enumerate(columns):
        col = batch.column(name)
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            raise InputError(f"{path}: count column {name!r} holds {col.type}, not numbers; counts are whole numbers")
        values, missing, kinds = refused_counts(col)
        bad = np.logical_or.reduce(list(kinds.values()))
        if bad.any():
            rows = first_row + np.flatnonzero(bad)
            shown = ["null" if m else f"{v:g}" for m, v in zip(missing[bad][:3], values[bad][:3])]
            what = ", ".join(f"{int(m.sum())} {kind}" for kind, m in kinds.items() if m.any())
            raise InputError(
                f"{path}: count column {name!r} has {what} (rows {preview(rows.tolist())}, e.g. {', '.join(shown)}); "
                f"counts are whole numbers from 0 to {INT32_MAX:,}"
            )
        out[:, j] = values
    return out


def _blocks_of(path: Path, batch: pa.RecordBatch, table: CountTable, first_row: int) -> list[pa.Array]:
    """The block column of each cycle as strings; a compound missing a cycle's block is named."""
    out = []
    for name in table.blocks:
        col, missing = missing_blocks(batch.column(name))
        if missing.any():
            rows = first_row + np.flatnonzero(missing)
            raise InputError(
                f"{path}: {int(missing.sum())} compounds have no block in cycle column {name!r} (rows "
                f"{preview(rows.tolist())}): every row needs one block per cycle ({len(table.blocks)} cycles); give "
                f"compounds with fewer cycles their own table, or a placeholder block"
            )
        out.append(col)
    return out


def ingest(path: Path, tmp: Path, blocks: Blocks, table: CountTable, lay: Layout, options, wanted_ids: set):
    needed = [table.smiles, *table.blocks] + ([table.id] if table.id else [])
    batches, total = read.table_batches(path, needed + lay.columns, options.batch_rows)
    cycles = len(table.blocks)
    writers = {
        "tokens": store.NpyAppender(tmp / "train" / "tokens.npy", np.uint8, (MAX_LEN,)),
        "counts": store.NpyAppender(tmp / "train" / "counts.npy", np.int32, (len(lay.columns),)),
        "bb_ids": store.NpyAppender(tmp / "train" / "bb_ids.npy", np.int32, (cycles,)),
    }
    totals = np.zeros(len(lay.columns), np.int64)
    id_hashes = store.NpyAppender(tmp / "id_hashes.npy", np.int64)  # every row's id, hashed: repeats are refused
    unknown = 0
    found: dict = {}  # a wanted id → its row
    bar = progress_bar(total, f"prepare {path.name}", "compound", options.progress)
    row = 0
    for batch in batches:
        n = batch.num_rows
        rows = np.arange(row, row + n)
        smiles = batch.column(table.smiles)
        check_smiles(path, smiles, rows, table.smiles, "rows")
        tokens, n_unk, _ = encode(path, smiles, rows, "unk" if options.unknown_chars == "unk" else "error")
        counts = _counts(path, batch, lay.columns, row)
        bb = np.stack([blocks.lookup(col) for col in _blocks_of(path, batch, table, row)], axis=1)
        if table.id:
            ids = batch.column(table.id).cast(pa.string())
            id_hashes.append(_hash_ids(ids))
            if wanted_ids:
                hit = np.flatnonzero(pc.is_in(ids, pa.array(sorted(wanted_ids))).to_numpy(zero_copy_only=False))
                found.update(zip(ids.take(pa.array(hit)).to_pylist(), (row + hit).tolist()))
        writers["tokens"].append(tokens)
        writers["counts"].append(counts)
        writers["bb_ids"].append(bb)
        totals += counts.sum(axis=0, dtype=np.int64)
        unknown += n_unk
        row += n
        bar.update(n)
    bar.close()
    for w in writers.values():
        w.close()
    id_hashes.close()
    if table.id:
        _check_repeats(path, table, store.load(id_hashes.path), options)
    id_hashes.path.unlink()
    return totals, row, unknown, found


def _hash_ids(ids: pa.Array) -> np.ndarray:
    """int64 hashes of id strings (pandas' hash of each value; a null hashes as the empty id)."""
    values = np.asarray(pc.fill_null(ids, "").to_pylist(), dtype=object)
    return pd.util.hash_array(values).view(np.int64)


def _check_repeats(path: Path, table: CountTable, hashes: np.ndarray, options) -> None:
    """A compound is one row: an id on two rows is named, with whether their counts differ."""
    repeated, examples = repeats.repeated_ids(hashes, max(options.batch_rows, 1))
    if not repeated:
        return
    wanted = set(examples)
    named: list[str] = []
    batches, _ = read.table_batches(path, [table.id], options.batch_rows)
    for batch in batches:
        ids = batch.column(0).cast(pa.string())
        hit = np.isin(_hash_ids(ids), list(wanted))
        named += [v for v, h in zip(ids.to_pylist(), hit) if h and v not in named]
    raise InputError(
        f"{path}: {repeated} rows repeat the {table.id} of an earlier row (ids {preview(named)}); a count table has "
        f"one row per compound: sum the counts of a compound's rows into one, or give distinct compounds distinct ids"
    )


def check_totals(path: Path, lay: Layout, totals: np.ndarray) -> None:
    for sample, cols in [*lay.targets.items(), *lay.controls.items()]:
        if totals[cols].sum() == 0:
            raise InputError(
                f"{path}: {sample}'s counts ({', '.join(lay.columns[c] for c in cols)}) sum to zero: nothing was read "
                f"for it; check the column mapping (data.prepare.counts) or leave that sample out"
            )
