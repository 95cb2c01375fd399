"""The prepared-dataset directory: arrays written by appending, a manifest written last.

Layout::

    <dir>/manifest.json               # written last; a directory without it is incomplete
    <dir>/train/tokens.npy            # uint8 [N, 142]
    <dir>/train/labels.npy            # int8  [N, T]   one column per manifest target; -1 = unknown
    <dir>/train/bb_ids.npy            # int32 [N, 3]   ids into building_blocks.parquet
    <dir>/train/fold_stratified.npy   # int8  [N]
    <dir>/train/fold_bb.npy           # int8  [N]      -1 = blocks from several groups
    <dir>/train/bb_group_mask.npy     # uint8 [N]      bit g set when a block is in group g
    <dir>/test/tokens.npy, bb_ids.npy # test molecules
    <dir>/test/rows.parquet           # id, molecule, protein (+ split_group, binds when known)
    <dir>/building_blocks.parquet     # bb_id, smiles, in_train
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from belka_lab.core.errors import InputError

FORMAT_VERSION = 3  # 2: the manifest names the targets (any number); 3: its sizes are "sizes" (2: "counts")
MANIFEST = "manifest.json"


class NpyAppender:
    """Write a .npy file row block by row block without knowing the final row count."""

    def __init__(self, path: str | os.PathLike, dtype, row_shape: tuple[int, ...] = ()):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.row_shape = tuple(row_shape)
        self.rows = 0
        self._f = open(self.path, "wb")
        self._f.write(self._header(0))

    def _header(self, n: int) -> bytes:
        """numpy's own version-1.0 header (as ``np.save`` writes it); its padding leaves room for the
        row count to grow, so the final header has the placeholder's length."""
        buf = io.BytesIO()
        d = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (n, *self.row_shape)}
        np.lib.format.write_array_header_1_0(buf, d)
        return buf.getvalue()

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: expected rows of shape {self.row_shape}, got {block.shape[1:]}")
        self._f.write(block.tobytes())
        self.rows += len(block)

    def close(self) -> None:
        header = self._header(self.rows)
        if len(header) != len(self._header(0)):  # pragma: no cover - numpy leaves room for 21 digits
            raise RuntimeError(f"{self.path.name}: the .npy header grew with {self.rows} rows")
        self._f.seek(0)
        self._f.write(header)
        self._f.close()


def load(path: Path, mmap: bool = True) -> np.ndarray:
    return np.load(path, mmap_mode="r" if mmap else None)


def read_manifest(path: str | os.PathLike) -> dict:
    path = Path(path)
    m = path / MANIFEST
    if not m.exists():
        raise InputError(
            f"{path} is not a complete prepared dataset (no {MANIFEST}); run `python -m belka_lab prepare` for it again"
        )
    manifest = json.loads(m.read_text())
    if manifest.get("format_version") == 2:  # read as 3: the keys 3 renamed (no need to prepare again)
        manifest = {("sizes" if k == "counts" else k): v for k, v in manifest.items()} | {"format_version": 3}
        mapping = (manifest.get("options") or {}).get("counts")
        if isinstance(mapping, dict) and "counts" in mapping:
            mapping["pattern"] = mapping.pop("counts")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{path} was prepared with format version {manifest.get('format_version')}, this belka_lab reads "
            f"versions 2 and {FORMAT_VERSION}; run `python -m belka_lab prepare` again"
        )
    return manifest


def arrays(
    path: str | os.PathLike, part: str, tokens: str = "tokens", learnt: tuple[str, ...] = ("labels",)
) -> dict[str, Path]:
    """The arrays the models read for ``part`` (train or test): ``tokens`` (the character codes, or
    a tokenizer's cached ids such as ``tokens_atom``), and for train the ``learnt`` arrays (what
    the run learns from: ``Supervision.arrays``)."""
    base = Path(path) / part
    files = {"tokens": base / f"{tokens}.npy"}
    if part == "train":
        files |= {name: base / f"{name}.npy" for name in learnt}
    return files


class PreparedDataset:
    """Memory-mapped view of a prepared directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.manifest = read_manifest(self.path)

    def train(self, name: str) -> np.ndarray:
        return load(self.path / "train" / f"{name}.npy")

    def test(self, name: str) -> np.ndarray:
        return load(self.path / "test" / f"{name}.npy")

    def test_rows(self):

        return pd.read_parquet(self.path / "test" / "rows.parquet")

    @property
    def targets(self) -> tuple[str, ...]:
        """The label columns' names, in order."""
        return tuple(self.manifest["targets"])

    @property
    def n_test(self) -> int:
        return int(self.manifest["sizes"]["test_molecules"])

    @property
    def n_train(self) -> int:
        return int(self.manifest["sizes"]["train_molecules"])

    @property
    def vocab_size(self) -> int:
        return int(self.manifest["vocab_size"])
