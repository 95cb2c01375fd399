"""KinDEL's own splits (``split=kindel``): its split files choose the training and validation rows.

KinDEL ships ``splits/<target>_{random,disynthon}.parquet`` beside ``<target>_1M.parquet``, with
columns ``split1`` … ``split5`` holding ``train`` / ``valid`` / ``test`` per row. Its loader
(``kindel/utils/data.py: get_training_data``) selects ``df[df_split[f"split{i}"] == "train"]``:
pandas aligns the split file's rows with the count table's by their index labels (a default
index: by position; a stored one, ``__index_level_0__``, by label). Here the same: the split
file's labels are looked up in the count table's, and a compound the split file lacks is an
error.

Rows marked ``train`` train and rows marked ``valid`` validate (one cell). Rows marked ``test``
are KinDEL's internal test set: neither trained on nor validated (the line the split prints
counts them). KinDEL's benchmark numbers are the held-out affinity files' (``lib`` / ``all``,
on-DNA / off-DNA: ``evaluation/affinity.py``), averaged over the five splits by ``belka report``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from belka_lab.core.errors import InputError, preview
from belka_lab.core.progress import say
from belka_lab.dataset import read
from belka_lab.dataset.folds import Selection

KINDS = ("random", "disynthon")
PARTS = ("train", "valid", "test")


class KinDELSplit:
    """Train on the rows split ``index`` (1–5) of ``<dir>/<target>_<kind>.parquet`` marks
    ``train``, validate on those marked ``valid``; ``file`` names the split file instead (a table
    of several targets needs it)."""

    shard_key = None

    def __init__(self, kind: str = "random", index: int = 1, dir: str | None = None, file: str | None = None):
        if kind not in KINDS:
            raise InputError(f"data.split.kind={kind!r}: KinDEL's split files are {' and '.join(KINDS)}")
        if int(index) not in range(1, 6):
            raise InputError(f"data.split.index={index}: KinDEL's split files hold split1 to split5; choose 1 to 5")
        self.kind, self.index = kind, int(index)
        self.dir = Path(dir) if dir else None
        self.file = Path(file) if file else None
        self.column = f"kindel_{kind}_split{self.index}"  # the results' fold column: one per split

    def shard_parts(self, keys: np.ndarray, fold: int):
        raise InputError("loader=dali reads whole shards, which split=kindel does not define; use loader=memory")

    def path(self, store) -> Path:
        """The split file: ``file``, else ``<dir>/<target>_<kind>.parquet`` (case ignored) of the
        table's one target."""
        if self.file is not None:
            return read.check_file(self.file, "KinDEL split file (data.split.file)")
        targets = store.targets
        if len(targets) != 1:
            raise InputError(
                f"split=kindel: the count table has {len(targets)} targets ({', '.join(targets)}) and KinDEL's split "
                f"files are one per target; give the file with data.split.file"
            )
        if self.dir is None or not self.dir.is_dir():
            raise InputError(
                f"split=kindel: {self.dir} is not a directory; set data.split.dir to KinDEL's splits/ directory, or "
                f"data.split.file to the split file"
            )
        want = f"{targets[0]}_{self.kind}.parquet".lower()
        found = [p for p in sorted(self.dir.iterdir()) if p.name.lower() == want]
        if not found:
            present = sorted(p.name for p in self.dir.iterdir())
            raise InputError(
                f"split=kindel: {self.dir} has no {want} (it has {preview(present)}); set data.split.dir, "
                f"data.split.kind or data.split.file"
            )
        return found[0]

    def parts(self, store) -> dict[str, np.ndarray]:
        """The count table's rows (sorted) marked ``train``, ``valid`` and ``test`` in split ``index``,
        and ``other`` (any other value, or none)."""
        path = self.path(store)
        column = f"split{self.index}"
        split_columns = read.column_names(path)
        if column not in split_columns:
            raise InputError(
                f"{path} has no column {column} (it has {preview(split_columns)}); KinDEL's split files hold split1 "
                f"to split5"
            )
        with read.reading(path):
            marks = pd.read_parquet(path, columns=[column])[column]
        labels = _table_index(store)
        if len(marks) != len(labels) or not marks.index.equals(labels):
            if not marks.index.is_unique:
                raise InputError(f"{path}: its index repeats labels, so its rows cannot be matched to compounds")
            absent = labels.difference(marks.index)
            if len(absent):
                raise InputError(
                    f"{path}: {len(absent)} of the count table's {len(labels)} rows have no row in the split file "
                    f"(index labels {preview(absent.tolist())}); give the split file of this table "
                    f"({store.manifest['sources']['train']['path']})"
                )
            marks = marks.reindex(labels)
        values = marks.astype("string").fillna("").to_numpy(dtype=object)
        out = {p: np.flatnonzero(values == p) for p in PARTS}
        out["other"] = np.flatnonzero(~np.isin(values, PARTS))
        return out

    def select(self, store, fold: int) -> Selection:
        if fold != 0:
            raise InputError(
                f"fold={fold}: split=kindel chooses its split with data.split.index (1 to 5); leave fold at 0"
            )
        parts = self.parts(store)
        where = f"{self.kind}_split{self.index}"
        if len(parts["train"]) == 0 or len(parts["valid"]) == 0:
            raise InputError(
                f"split=kindel {where}: {len(parts['train'])} rows are marked train and {len(parts['valid'])} valid; "
                f"both are needed (is this the split file of this table?)"
            )
        other = f", {len(parts['other'])} marked otherwise (left out)" if len(parts["other"]) else ""
        say(
            f"split=kindel {where}: {len(parts['train'])} train, {len(parts['valid'])} validate, "
            f"{len(parts['test'])} KinDEL test (neither trained on nor validated){other}"
        )
        val = parts["valid"]
        return Selection(parts["train"], val, np.zeros(len(val), np.int8), (where,), where)


def _table_index(store) -> pd.Index:
    """The count table's index labels as pandas reads them (a parquet file's stored index, else
    positions), checked against the prepared rows."""
    train = Path(store.manifest["sources"]["train"]["path"])
    n = int(store.manifest["sizes"]["train_molecules"])
    labels: pd.Index = pd.RangeIndex(n)
    if train.name.lower().endswith((".parquet", ".pq")):
        with read.reading(train):
            labels = pd.read_parquet(read.check_file(train, "count table"), columns=[]).index
    if len(labels) != n:
        raise InputError(
            f"{train} has {len(labels)} rows and its prepared directory {n}: the file changed since it was "
            f"prepared; prepare it again"
        )
    return labels
