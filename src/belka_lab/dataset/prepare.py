"""Kaggle-format train/test files → the prepared directory (see :mod:`belka_lab.dataset.store`),
read through the one reading layer (``dataset/read.py``); repeats merged by ``dataset/repeats.py``.

Train rows are streamed in record batches (bounded memory: the real train.parquet has
295M rows). Consecutive rows with the same ``molecule_smiles`` become one molecule row;
molecules that reappear later in the file are found afterwards by hashing their tokens
and merged. Every problem with the input raises :class:`InputError` naming the file and
the offending ids.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from belka_lab.core.errors import InputError, preview, warn
from belka_lab.core.io import staged
from belka_lab.core.progress import bar as progress_bar
from belka_lab.dataset import counts, read, repeats, store, supervision
from belka_lab.dataset.molecules import Blocks, announce, check_smiles, encode, finish_blocks, manifest
from belka_lab.dataset.options import PrepareOptions
from belka_lab.dataset.schema import check_targets
from belka_lab.tokens.characters import MAX_LEN

BB_COLUMNS = ["buildingblock1_smiles", "buildingblock2_smiles", "buildingblock3_smiles"]
TEST_COLUMNS = ["id", *BB_COLUMNS, "molecule_smiles", "protein_name"]
TRAIN_COLUMNS = [*TEST_COLUMNS, "binds"]
NOT_NULL = ("id", *BB_COLUMNS)  # missing SMILES, proteins and labels get their own messages, with ids


# ----------------------------------------------------------------------------- checks


def find_targets(path: Path, opts: PrepareOptions) -> tuple[str, ...]:
    """The configured targets, or every ``protein_name`` of the train file, sorted (one pass over the column)."""
    if opts.targets is not None:
        return tuple(opts.targets)
    batches, total = read.table_batches(path, ["protein_name"], opts.batch_rows)
    names: set[str] = set()
    bar = progress_bar(total, f"targets of {path.name}", "row", opts.progress)
    for batch in batches:
        names.update(n for n in pc.unique(batch.column(0)).to_pylist() if n)
        bar.update(batch.num_rows)
    bar.close()
    return check_targets(sorted(names), f"{path} (column protein_name)")


def _protein_index(path: Path, table: pa.Table, targets: tuple[str, ...]) -> np.ndarray:
    idx = pc.index_in(table["protein_name"], value_set=pa.array(targets))
    if idx.null_count:
        bad = pc.filter(table["id"], idx.is_null())
        names = pc.unique(pc.filter(table["protein_name"], idx.is_null())).to_pylist()
        raise InputError(
            f"{path}: {len(bad)} rows have an unknown protein_name {names[:5]} (ids {preview(bad.to_pylist())}); "
            f"expected one of {', '.join(targets)} (data.prepare.targets)"
        )
    return idx.to_numpy(zero_copy_only=False).astype(np.int16)


def _binds(path: Path, table: pa.Table) -> np.ndarray:
    """int8 labels; integer, boolean or float columns (0.0/1.0, as pandas writes a column that once
    held NaN) are accepted, and only the rows whose value is missing or not 0/1 are named."""
    col = table["binds"]
    if not (pa.types.is_integer(col.type) or pa.types.is_boolean(col.type) or pa.types.is_floating(col.type)):
        raise InputError(f"{path}: column `binds` has type {col.type}; it must hold the numbers 0 and 1")
    missing = col.is_null().to_numpy(zero_copy_only=False)
    values = pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(np.float64)
    bad = missing | ((values != 0) & (values != 1))
    if bad.any():
        ids = table["id"].to_numpy(zero_copy_only=False)[bad]
        raise InputError(
            f"{path}: {bad.sum()} rows have `binds` other than 0/1 or missing (ids {preview(ids.tolist())}); fix or "
            f"drop those rows"
        )
    return values.astype(np.int8)


# ----------------------------------------------------------------------------- train


def _merge_runs(path: Path, table: pa.Table, blocks: Blocks, targets: tuple[str, ...], opts: PrepareOptions):
    """One batch of train rows → molecule-level arrays (consecutive equal SMILES merged)."""
    n, n_t = table.num_rows, len(targets)
    ids = table["id"].to_numpy(zero_copy_only=False).astype(np.int64)
    prot = _protein_index(path, table, targets)
    binds = _binds(path, table)
    smiles = table["molecule_smiles"]
    check_smiles(path, smiles, ids)
    new_run = np.ones(n, bool)
    if n > 1:
        new_run[1:] = pc.not_equal(smiles.slice(1), smiles.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(new_run)
    run = np.cumsum(new_run) - 1
    code = run * n_t + prot
    total = np.bincount(code, minlength=len(starts) * n_t)
    pos = np.bincount(code, weights=binds, minlength=len(starts) * n_t)
    conflict = (pos > 0) & (pos < total)
    if conflict.any():
        bad_codes = np.flatnonzero(conflict)
        bad_ids = ids[np.isin(code, bad_codes)]
        raise InputError(
            f"{path}: {len(bad_codes)} molecule/protein pairs appear more than once with different `binds` (ids "
            f"{preview(bad_ids.tolist())}); keep one label per pair"
        )
    labels = np.where(total > 0, (pos > 0).astype(np.int8), np.int8(-1)).reshape(-1, n_t).astype(np.int8)
    first = pa.array(starts)
    tokens, n_unk, drop = encode(path, smiles.take(first), ids[starts], opts.unknown_chars)
    bb = np.stack([blocks.lookup(table[c].take(first)) for c in BB_COLUMNS], axis=1)
    dup_rows = int((total - 1).clip(0).sum())  # rows repeating a molecule/protein pair of this run
    keep = np.ones(len(starts), bool)
    keep[drop] = False
    return tokens[keep], labels[keep], bb[keep], ids[starts][keep], ids[starts][drop], n_unk, dup_rows


def _ingest_train(path: Path, tmp: Path, blocks: Blocks, targets: tuple[str, ...], opts: PrepareOptions) -> dict:
    batches, total = read.table_batches(path, TRAIN_COLUMNS, opts.batch_rows, not_null=NOT_NULL)
    writers = {
        "tokens": store.NpyAppender(tmp / "train" / "tokens.npy", np.uint8, (MAX_LEN,)),
        "labels": store.NpyAppender(tmp / "train" / "labels.npy", np.int8, (len(targets),)),
        "bb_ids": store.NpyAppender(tmp / "train" / "bb_ids.npy", np.int32, (3,)),
        "first_row_id": store.NpyAppender(tmp / "train" / "first_row_id.npy", np.int64),
    }
    row_ids = store.NpyAppender(tmp / "row_ids.npy", np.int64)  # every row's id, to count repeated ids
    stats = {"rows": 0, "unknown_chars": 0, "duplicate_rows": 0, "skipped_ids": []}
    bar = progress_bar(total, f"prepare {path.name}", "row", opts.progress)
    carry = None

    def flush(table: pa.Table) -> None:
        tok, lab, bb, fid, skipped, n_unk, dups = _merge_runs(path, table, blocks, targets, opts)
        for name, arr in zip(writers, (tok, lab, bb, fid)):
            writers[name].append(arr)
        stats["unknown_chars"] += n_unk
        stats["duplicate_rows"] += dups
        stats["skipped_ids"].extend(skipped.tolist())

    for batch in batches:
        table = pa.Table.from_batches([batch])
        if carry is not None:
            table = pa.concat_tables([carry, table])
        stats["rows"] += batch.num_rows
        row_ids.append(batch.column("id").to_numpy(zero_copy_only=False).astype(np.int64))
        # the last molecule may continue in the next batch: hold it back
        s = table["molecule_smiles"]
        last = s[-1]
        n = table.num_rows
        same = pc.fill_null(pc.equal(s, last), False).to_numpy(zero_copy_only=False)
        tail_start = n - int(np.argmin(same[::-1])) if not same.all() else 0
        if tail_start > 0:
            flush(table.slice(0, tail_start))
        carry = table.slice(tail_start)
        bar.update(batch.num_rows)
    if carry is not None and carry.num_rows:
        flush(carry)
    bar.close()
    for w in writers.values():
        w.close()
    row_ids.close()
    announce(opts, "checking ids, merging molecules repeated later in the file")
    stats["repeated_ids"], examples = repeats.repeated_ids(store.load(row_ids.path), max(opts.batch_rows, 1))
    os.remove(row_ids.path)
    merged = repeats.merge_repeats(path, tmp, chunk=max(opts.batch_rows // 3, 1))
    stats["repeated_molecules_merged"] = merged["repeated_molecules_merged"]
    stats["duplicate_rows"] += merged["duplicate_rows"]
    if stats["repeated_ids"]:
        warn(
            f"{path}: {stats['repeated_ids']} rows reuse an id of an earlier row (ids {preview(examples)}); they were "
            f"read as further rows of their molecule (counted as repeated_ids in the manifest)"
        )
    if stats["duplicate_rows"]:
        warn(
            f"{path}: {stats['duplicate_rows']} rows repeat a molecule/protein pair of an earlier row with the same "
            f"`binds`; each pair was kept once (counted as duplicate_rows in the manifest)"
        )
    return stats


# ----------------------------------------------------------------------------- test


def _ingest_test(
    path: Path, solution: Path | None, tmp: Path, blocks: Blocks, targets: tuple[str, ...], opts: PrepareOptions
) -> dict:
    batches, _ = read.table_batches(path, TEST_COLUMNS, opts.batch_rows, not_null=NOT_NULL)
    table = pa.Table.from_batches(list(batches)).combine_chunks()
    ids = table["id"].to_numpy(zero_copy_only=False).astype(np.int64)
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise InputError(
            f"{path}: {int((counts > 1).sum())} ids appear more than once (ids {preview(uniq[counts > 1].tolist())}); "
            f"each test id must be unique"
        )
    check_smiles(path, table["molecule_smiles"], ids)
    prot = _protein_index(path, table, targets)
    enc = pc.dictionary_encode(table["molecule_smiles"]).combine_chunks()
    molecule = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    first = np.full(len(enc.dictionary), -1, np.int64)
    first[molecule[::-1]] = np.arange(len(molecule))[::-1]
    unknown = "unk" if opts.unknown_chars == "unk" else "error"
    tokens, n_unk, _ = encode(path, enc.dictionary, ids[first], unknown)
    bb = np.stack([blocks.lookup(table[c].take(pa.array(first))) for c in BB_COLUMNS], axis=1)
    np.save(tmp / "test" / "tokens.npy", tokens)
    np.save(tmp / "test" / "bb_ids.npy", bb)
    rows = {"id": ids, "molecule": molecule, "protein": prot}
    groups = None
    if solution is not None:
        sol_batches, _ = read.table_batches(solution, ["id", "binds"], opts.batch_rows, optional=("split_group",))
        sol = pa.Table.from_batches(list(sol_batches))
        sol_ids = sol["id"].to_numpy(zero_copy_only=False).astype(np.int64)
        sol_binds = _binds(solution, sol)
        order = np.argsort(sol_ids)
        pos = np.searchsorted(sol_ids[order], ids).clip(0, len(sol_ids) - 1)
        missing = sol_ids[order][pos] != ids
        if missing.any():
            raise InputError(
                f"{solution} lacks {missing.sum()} test ids of {path} (ids {preview(ids[missing].tolist())}); give the "
                f"solution file made with this test file"
            )
        rows["binds"] = sol_binds[order][pos]
        if "split_group" in sol.column_names:
            rows["split_group"] = np.asarray(sol["split_group"].to_numpy(zero_copy_only=False), dtype=object)[order][
                pos
            ]
            groups = sorted(set(rows["split_group"]))
    pq.write_table(pa.table(rows), tmp / "test" / "rows.parquet")
    return {
        "rows": len(ids),
        "molecules": len(tokens),
        "unknown_chars": n_unk,
        "split_groups": groups,
        "has_labels": solution is not None,
    }


# ----------------------------------------------------------------------------- entry


def prepare(train_file, test_file, out_dir, solution_file=None, options: PrepareOptions | None = None) -> Path:
    """Build the prepared directory at `out_dir` (atomically; see :mod:`belka_lab.dataset.store`)
    from files of ``options.format``: Kaggle-format rows here, a count table in ``dataset/counts.py``."""
    options = options or PrepareOptions()
    if options.format == "counts":
        return counts.prepare_counts(train_file, test_file, out_dir, options)
    train_file, test_file, out = Path(train_file), Path(test_file), Path(out_dir)
    solution = Path(solution_file) if solution_file else None
    t0 = time.time()
    with staged(out, store.MANIFEST) as stage:
        tmp = stage.path
        (tmp / "train").mkdir()
        (tmp / "test").mkdir()
        blocks = Blocks()
        targets = find_targets(train_file, options)
        tr = _ingest_train(train_file, tmp, blocks, targets, options)
        n_train_blocks = len(blocks.ids)
        announce(options, f"reading {test_file.name}")
        te = _ingest_test(test_file, solution, tmp, blocks, targets, options)
        made = finish_blocks(tmp, blocks, n_train_blocks, options)
        labels = store.load(tmp / "train" / "labels.npy")
        stage.manifest = manifest(
            "kaggle",
            t0,
            targets,
            labels,
            {"train": tr["unknown_chars"], "test": te["unknown_chars"]},
            sizes={
                "train_rows": tr["rows"],
                "train_molecules": len(labels),
                "duplicate_rows": tr["duplicate_rows"],
                "repeated_ids": tr["repeated_ids"],
                "repeated_molecules_merged": tr["repeated_molecules_merged"],
                "test_rows": te["rows"],
                "test_molecules": te["molecules"],
                "building_blocks": made["building_blocks"],
                "building_blocks_test_only": made["building_blocks_test_only"],
            },
            folds=made["folds"],
            test={"split_groups": te["split_groups"], "has_labels": te["has_labels"]},
            sources=read.sources(train_file, test_file, solution),
            options=options,
            skipped={"count": len(tr["skipped_ids"]), "first_row_ids": tr["skipped_ids"][:1000]},
        )
    return out


def is_current(out_dir, train_file, test_file, solution_file=None, options: PrepareOptions | None = None) -> bool:
    """True when out_dir holds a complete prepared dataset of these files with these options."""
    options = options or PrepareOptions()
    try:
        m = store.read_manifest(out_dir)
    except InputError:
        return False
    want = read.sources(train_file, test_file, solution_file)
    if not supervision.current(m):  # 0.10's count tables: the test part without blocks
        return False
    return m.get("sources") == want and m.get("options") == asdict(options) | {"progress": None}
