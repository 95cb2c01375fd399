"""Molecules and building blocks into the prepared arrays, for every input format: SMILES checked
and encoded to character codes, blocks numbered by one dictionary, block ids made independent of
batch boundaries, and the building-block folds."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sklearn

from belka_lab.core.errors import InputError, preview
from belka_lab.dataset import folds, store
from belka_lab.tokens.characters import CHAR_VOCAB, MAX_LEN, VOCAB_SIZE, EncodeError, encode_arrow


def check_smiles(path: Path, smiles, ids: np.ndarray, column: str = "molecule_smiles", named: str = "ids") -> None:
    """Every row needs a molecule: a missing or empty SMILES (in the file's ``column``) names its
    ``ids`` (or row numbers, ``named="rows"``)."""
    bad = pc.or_(pc.is_null(smiles), pc.equal(pc.utf8_length(smiles), 0))
    bad = pc.fill_null(bad, True).to_numpy(zero_copy_only=False)
    if bad.any():
        raise InputError(
            f"{path}: {bad.sum()} rows have a missing or empty {column} ({named} {preview(ids[bad].tolist())}); "
            f"fix or drop those rows"
        )


def encode(path: Path, smiles: pa.Array, ids: np.ndarray, unknown: str) -> tuple[np.ndarray, int, np.ndarray]:
    """(tokens, unknown-character count, rows dropped by unknown='skip')."""
    try:
        tokens, n_unk = encode_arrow(smiles, MAX_LEN, "unk" if unknown in ("unk", "skip") else "error")
    except EncodeError as e:
        raise InputError(
            f"{path}: {e} (ids {preview(ids[e.rows].tolist())}); fix those rows{_unk_hint(str(e))}"
        ) from None
    if n_unk and unknown == "skip":
        drop = np.flatnonzero((tokens == VOCAB_SIZE).any(axis=1))
        return tokens, 0, drop
    return tokens, n_unk, np.zeros(0, np.int64)


def _unk_hint(msg: str) -> str:
    if "outside the dictionary" in msg:
        return " or prepare with prepare.unknown_chars=unk (map them to an extra code) or =skip (drop them)"
    return ""


class Blocks:
    """Global building-block dictionary: SMILES → id, in order of first appearance."""

    def __init__(self):
        self.ids: dict[str, int] = {}

    def lookup(self, arr: pa.Array) -> np.ndarray:
        enc = (
            pc.dictionary_encode(arr).combine_chunks()
            if isinstance(arr, pa.ChunkedArray)
            else pc.dictionary_encode(arr)
        )
        local = np.array([self.ids.setdefault(s, len(self.ids)) for s in enc.dictionary.to_pylist()], dtype=np.int32)
        return local[enc.indices.to_numpy(zero_copy_only=False)]


def renumber_blocks(path: Path, new_id: np.ndarray, groups: np.ndarray, chunk: int):
    """Rewrite the train block ids at `path` through `new_id`, a chunk at a time; returns the
    molecules' (fold_bb, bb_group_mask)."""
    old, chunk = store.load(path), max(chunk, 1)
    n = len(old)
    fold, mask = np.empty(n, np.int8), np.empty(n, np.uint8)
    out = store.NpyAppender(path.with_name(path.name + ".new"), np.int32, (old.shape[1],))
    for i in range(0, n, chunk):
        ids = new_id[np.asarray(old[i : i + chunk])]
        out.append(ids)
        fold[i : i + chunk], mask[i : i + chunk] = folds.bb_folds(ids, groups)
    out.close()
    del old
    os.replace(out.path, path)
    return fold, mask


def versions() -> dict:

    return {
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "pyarrow": pa.__version__,
        "sklearn": sklearn.__version__,
        "platform": platform.platform(),
    }


def manifest(
    fmt: str,
    t0: float,
    targets,
    labels: np.ndarray,
    unknown_chars: dict,
    sizes: dict,
    folds: dict,
    test: dict,
    sources: dict,
    options,
    **extra,
) -> dict:
    """The prepared directory's manifest, every format's (``store.read_manifest`` reads it):
    ``extra`` holds what one format adds (a count table's ``count_table``, Kaggle's ``skipped``)."""
    return {
        "format_version": store.FORMAT_VERSION,
        "format": fmt,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.time() - t0, 1),
        "targets": list(targets),
        "vocab": CHAR_VOCAB,
        "max_len": MAX_LEN,
        "vocab_size": VOCAB_SIZE + int(unknown_chars["train"] + unknown_chars["test"] > 0),
        "sizes": sizes,
        "positives": {t: int((labels[:, i] == 1).sum()) for i, t in enumerate(targets)},
        "unknown_labels": {t: int((labels[:, i] < 0).sum()) for i, t in enumerate(targets)},
        "unknown_chars": unknown_chars,
        **extra,
        "folds": folds,
        "test": test,
        "sources": sources,
        "options": asdict(options) | {"progress": None},
        "versions": versions(),
    }


def announce(opts, what: str) -> None:
    """A stage of a long prepare, on stderr (with progress on)."""
    if opts.progress:
        print(f"prepare: {what}", file=sys.stderr, flush=True)


def finish_blocks(tmp: Path, blocks: Blocks, n_train_blocks: int, options) -> dict:
    """Renumber the blocks by the rank of their SMILES (ids then do not depend on batch
    boundaries), write ``building_blocks.parquet`` and the train molecules' block folds
    (``fold_bb``, ``bb_group_mask``) and stratified folds; the manifest's ``folds`` entry."""
    first_seen = list(blocks.ids)
    new_id = np.argsort(np.argsort(np.array(first_seen, dtype=object))).astype(np.int32)
    groups = folds.building_block_groups(len(blocks.ids), options.n_bb_groups, options.bb_seed)
    announce(options, "building-block ids and folds")
    fold_b, mask_b = renumber_blocks(tmp / "train" / "bb_ids.npy", new_id, groups, options.batch_rows)
    test_bb = np.load(tmp / "test" / "bb_ids.npy")
    np.save(tmp / "test" / "bb_ids.npy", np.where(test_bb >= 0, new_id[np.maximum(test_bb, 0)], -1).astype(np.int32))
    smiles = sorted(first_seen)
    in_train = np.zeros(len(smiles), bool)
    in_train[new_id[:n_train_blocks]] = True
    labels = store.load(tmp / "train" / "labels.npy")
    fold_s = folds.stratified_folds(labels, options.n_stratified_folds, options.stratified_seed)
    for name, arr in [("fold_stratified", fold_s), ("fold_bb", fold_b), ("bb_group_mask", mask_b)]:
        np.save(tmp / "train" / f"{name}.npy", arr)
    table = {"bb_id": np.arange(len(smiles), dtype=np.int32), "smiles": smiles, "in_train": in_train, "group": groups}
    pq.write_table(pa.table(table), tmp / "building_blocks.parquet")
    return {
        "building_blocks": len(smiles),
        "building_blocks_test_only": len(smiles) - n_train_blocks,
        "folds": {
            "fold_stratified": {
                "n_folds": options.n_stratified_folds,
                "sizes": np.bincount(fold_s, minlength=options.n_stratified_folds).tolist(),
            },
            "fold_bb": {
                "n_folds": options.n_bb_groups,
                "sizes": np.bincount(fold_b[fold_b >= 0], minlength=options.n_bb_groups).tolist(),
                "mixed": int((fold_b < 0).sum()),
            },
        },
    }
