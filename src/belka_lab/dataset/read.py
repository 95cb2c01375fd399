"""The one reading layer: every file a user hands us is opened here.

- What a file is, before it is parsed: a missing path, a directory where a file is expected
  (or the reverse), an empty file, a file that is not what its suffix says (a ``.parquet`` that
  holds text, a ``.gz`` that is not gzip) are each one :class:`InputError` naming the file and
  what it looks like instead (``x.parquet is not a parquet file (it starts with 'this is n…')``).
- Arrow types are normalised before any check: dictionary-encoded columns (pandas ``category``)
  are decoded, ``large_string`` / ``string_view`` become ``string``, so every later check sees
  plain strings and numbers of any width.
- Every reader failure (Arrow, pandas, gzip, zip, JSON, YAML, ``torch.load``) becomes one
  InputError naming the file (:func:`reading`, :func:`read_json`, :func:`read_yaml`,
  :func:`load_torch`), never a traceback.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from belka_lab.core.errors import InputError, preview

INPUT_SUFFIXES = (".parquet", ".csv")
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
# what a broken or foreign file raises in the readers we use; anything else is a bug and keeps its traceback
READ_ERRORS = (
    pa.ArrowException,
    OSError,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    zipfile.BadZipFile,
    UnicodeDecodeError,
    json.JSONDecodeError,
)


def find_input(path: str | os.PathLike, option: str) -> Path:
    """`path` when it exists, else the file of the same name with the other suffix (.parquet or .csv)
    beside it: a directory holding Kaggle's ``train.csv``/``test.csv`` works like one with parquet files."""
    path = Path(path)
    if path.exists():
        return path
    others = [path.with_suffix(s) for s in INPUT_SUFFIXES if s != path.suffix]
    found = [p for p in others if p.exists()]
    if found:
        return found[0]
    tried = " nor ".join(str(p) for p in [path, *others])
    raise InputError(f"neither {tried} exists; check data.root or set data.{option} to the file")


def input_files(path: str | os.PathLike, option: str) -> list[Path]:
    """``path`` as a list of data files: the file itself, or the ``.parquet`` / ``.csv`` (gzip too)
    files of a directory, sorted by name; a directory without one is an InputError."""
    path = Path(path)
    if not path.is_dir():
        return [check_file(path)]
    found = sorted(
        p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and _is_table(p.name.lower())
    )
    if not found:
        raise InputError(f"{path} holds no .parquet or .csv file; give the file, or a directory of them ({option})")
    return found


def _is_table(name: str) -> bool:
    return name.endswith((".parquet", ".pq", ".csv", ".csv.gz"))


def looks_like(path: Path) -> str:
    """What is at ``path``, in a few words, for a message."""
    if not path.exists():
        return "it does not exist"
    if path.is_dir():
        return "it is a directory"
    size = path.stat().st_size
    if size == 0:
        return "it is empty"
    with open(path, "rb") as f:
        head = f.read(12)
    if head.startswith(PARQUET_MAGIC):
        return f"it is a parquet file of {size:,} bytes"
    if head.startswith(GZIP_MAGIC):
        return f"it is gzip-compressed, {size:,} bytes"
    if head.startswith(b"PK"):
        return f"it is a zip archive, {size:,} bytes"
    text = head[:9].decode("utf-8", "replace")
    return f"it starts with {text!r}…" if len(head) > 9 else f"it holds {text!r}"


def check_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` as a non-empty file, or one InputError saying what is there instead."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist; give the {what}")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give the {what} itself")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty; re-download or re-export it")
    return path


def check_kind(path: Path) -> None:
    """A file whose suffix promises parquet or gzip must start (and a parquet file end) with the
    format's magic bytes."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(max(path.stat().st_size - 4, 0))
            tail = f.read(4)
        if head != PARQUET_MAGIC:
            raise InputError(f"{path} is not a parquet file ({looks_like(path)}); re-export it as parquet")
        if tail != PARQUET_MAGIC:
            raise InputError(f"{path} is a truncated parquet file (its footer is missing); re-download or re-export it")
    elif name.endswith(".gz"):
        with open(path, "rb") as f:
            if f.read(2) != GZIP_MAGIC:
                raise InputError(f"{path} is not gzip-compressed ({looks_like(path)}); rename or re-compress it")


@contextmanager
def reading(path: str | os.PathLike, where=lambda: ""):
    """Any reader failure inside the block → one InputError naming ``path`` (``where()``: where in
    the file the read was when it failed, e.g. ``after row 1,000``)."""
    try:
        yield
    except InputError:
        raise
    except READ_ERRORS as e:
        where = f" {where()}" if where() else ""
        raise InputError(
            f"{path} cannot be read{where} ({_reason(e)}); {looks_like(Path(path))}: the file is truncated, corrupt or "
            f"not what its name says; re-download or re-export it"
        ) from None


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__


def normalized(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with dictionary columns decoded and large or view strings as plain strings, every
    string checked to be UTF-8 (parquet does not check it; a damaged file can hold anything)."""
    columns, changed = [], False
    for field, column in zip(batch.schema, batch.columns):
        target = _plain(field.type)
        if target != field.type:
            column, changed = column.cast(target), True
        if pa.types.is_string(target):
            column.validate(full=True)  # ArrowInvalid on bytes that are not UTF-8
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names) if changed else batch


def _plain(t: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(t):
        return _plain(t.value_type)
    if pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    return t


def check_columns(path: Path, present: list[str], required: list[str], what: str = "BELKA files") -> None:
    twice = sorted({c for c in present if present.count(c) > 1 and c in required})
    if twice:
        raise InputError(f"{path} has the column(s) {', '.join(twice)} more than once; keep one of each")
    missing = [c for c in required if c not in present]
    if missing:
        raise InputError(
            f"{path} lacks column(s) {', '.join(missing)} (it has: {', '.join(present)}); "
            f"{what} need {', '.join(required)}"
        )


def column_names(path: Path) -> list[str]:
    """The columns of a parquet or CSV (optionally gzip-compressed) file, read from its header."""
    check_file(path)
    check_kind(path)
    suffixes = "".join(path.suffixes).lower()
    with reading(path):
        if ".parquet" in suffixes or suffixes.endswith(".pq"):
            return list(pq.ParquetFile(path).schema_arrow.names)
        if ".csv" in suffixes:
            return list(pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 20)).schema.names)
    raise InputError(f"{path}: unsupported file type; give a .parquet or .csv file")


def table_batches(
    path: Path, columns: list[str], batch_rows: int, optional: tuple[str, ...] = (), not_null: tuple[str, ...] = ()
):
    """(iterator of normalised RecordBatches with ``columns`` and those of ``optional`` present,
    total rows or None) of a parquet or CSV (optionally gzip-compressed) file; a missing value in a
    column of ``not_null`` is an InputError naming its rows."""
    check_file(path)
    check_kind(path)
    suffixes = "".join(path.suffixes).lower()
    with reading(path):
        if ".parquet" in suffixes or suffixes.endswith(".pq"):
            # pre_buffer keeps every byte range it read until the file is closed: 18 bytes a row, 5 GiB on BELKA
            pf = pq.ParquetFile(path, pre_buffer=False)
            check_columns(path, pf.schema_arrow.names, columns)
            columns = columns + [c for c in optional if c in pf.schema_arrow.names]
            if pf.metadata.num_rows == 0:
                raise InputError(f"{path} has no rows; re-download or re-export it")
            return _guard(path, pf.iter_batches(batch_size=batch_rows, columns=columns), not_null), pf.metadata.num_rows
        if ".csv" in suffixes:
            types = {c: pa.string() for c in columns if c.endswith("smiles") or c == "protein_name"}
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=64 << 20),
                convert_options=pacsv.ConvertOptions(column_types=types),
            )
            check_columns(path, reader.schema.names, columns)
            columns = columns + [c for c in optional if c in reader.schema.names]
            return _guard(path, (b.select(columns) for b in reader), not_null, empty_ok=False), None
    raise InputError(f"{path}: unsupported file type; give a .parquet or .csv file")


def _guard(path: Path, batches, not_null: tuple[str, ...] = (), empty_ok: bool = True) -> Iterator[pa.RecordBatch]:
    n = 0
    with reading(path, where=lambda: f"after row {n:,}"):
        for b in batches:
            b = _text(path, normalized(b))
            for name in not_null:
                missing = b.column(name).is_null()
                if missing.true_count:
                    rows = (n + np.flatnonzero(missing.to_numpy(zero_copy_only=False))).tolist()
                    raise InputError(
                        f"{path}: {len(rows)} rows have no {name} (rows {preview(rows)}, counting the first data row "
                        f"as 0); fix or drop those rows"
                    )
            n += b.num_rows
            yield b
    if n == 0 and not empty_ok:
        raise InputError(f"{path} has no rows; re-download or re-export it")


def _text(path: Path, batch: pa.RecordBatch) -> pa.RecordBatch:
    """The SMILES and protein columns as text: binary bytes decoded (and checked) as UTF-8,
    anything else named."""
    for i, field in enumerate(batch.schema):
        if not (field.name.endswith("smiles") or field.name == "protein_name") or pa.types.is_string(field.type):
            continue
        if pa.types.is_binary(field.type) or pa.types.is_null(field.type):
            column = batch.column(i).cast(pa.string())
            column.validate(full=True)
            batch = batch.set_column(i, field.name, column)
        else:
            raise InputError(f"{path}: column {field.name} holds {field.type}, not text; re-export it as strings")
    return batch


def read_json(path: str | os.PathLike, what: str = "file") -> dict:
    """A JSON file a run or an export wrote, or one InputError naming it."""
    path = check_file(path, what)
    with reading(path):
        return json.loads(path.read_text(encoding="utf-8"))


def read_yaml(path: str | os.PathLike, what: str = "file") -> DictConfig:
    """A YAML file a run wrote (its config), or one InputError naming it."""
    path = check_file(path, what)
    try:
        with reading(path):
            return OmegaConf.load(path)
    except yaml.YAMLError as e:
        raise InputError(f"{path} is not valid YAML ({_reason(e)}); {looks_like(path)}") from None


def load_torch(path: str | os.PathLike, what: str = "a checkpoint") -> dict:
    """A ``torch.save`` file (checkpoint, encoder) of plain tensors and types, or one InputError
    naming it: a truncated or foreign file fails inside torch's zip and pickle readers in many ways."""
    path = check_file(path, what)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises RuntimeError, UnpicklingError, EOFError, … for a bad file
        raise InputError(
            f"{path} is not {what} ({looks_like(path)}; torch.load: {type(e).__name__}): it is truncated or was not "
            f"written by belka_lab; train or pretrain again"
        ) from None


def file_signature(path: Path) -> dict:
    """Size, mtime and a BLAKE2 hash of the first and last MiB: cheap on multi-GB files."""
    st = path.stat()
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        if st.st_size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
            h.update(f.read())
    return {
        "path": str(path.resolve()),
        "bytes": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "blake2b_head_tail": h.hexdigest(),
    }


def _signature(path: Path) -> dict:
    """A file's signature, or a directory's: its data files' (:func:`input_files`)."""
    if path.is_dir():
        return {"path": str(path.resolve()), "files": [file_signature(p) for p in input_files(path, "data.test_file")]}
    return file_signature(path)


def sources(train_file, test_file, solution=None) -> dict:
    """The input files' signatures, by which a prepared directory is known to be current (a
    directory of test files by each of its files')."""
    return {
        "train": file_signature(Path(train_file)),
        "test": _signature(Path(test_file)) if test_file else None,
        "solution": file_signature(Path(solution)) if solution else None,
    }
