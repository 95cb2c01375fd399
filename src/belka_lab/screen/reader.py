"""Molecule files in, chunks of whole rows out, in input order, holding one chunk in memory.

Formats, by suffix: ``.parquet``; ``.csv`` (also ``.csv.gz``: pyarrow reads it streaming);
``.smi`` — one molecule a line, ``SMILES`` then optionally a name, separated by a tab or
spaces, no header (a first line whose SMILES field is ``smiles`` is taken as one). A directory
is read as its files of those suffixes in name order, one after the other.

A chunk is ``chunk_rows`` consecutive rows (the last one fewer), numbered from 0: chunk ``k``
always holds rows ``[k·chunk_rows, (k+1)·chunk_rows)`` of the input, which is what lets a killed
screen resume, and several processes share one input, by chunk number.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import csv

from belka_lab.core.errors import InputError
from belka_lab.dataset.read import check_file, check_kind, normalized, reading

SUFFIXES = (".parquet", ".csv", ".csv.gz", ".smi")
ROW_COLUMN = "row"  # the input row number (0-based), the id when the input has no id column
_READ_ROWS = 65_536  # rows per record batch read from a file


@dataclass(frozen=True)
class Columns:
    """What to take from each row: the SMILES, an id (``None``: the row number), columns copied
    to the output, and the building-block SMILES columns (used when all are present)."""

    smiles: str = "molecule_smiles"
    id: str | None = "id"
    passthrough: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ("buildingblock1_smiles", "buildingblock2_smiles", "buildingblock3_smiles")


@dataclass
class Chunk:
    number: int
    start: int  # the first row's number in the input
    table: pa.Table  # "smiles", "id" (when the input has one), passthrough and block columns

    def __len__(self) -> int:
        return self.table.num_rows


def input_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _suffix(p) in SUFFIXES)
        if not files:
            raise InputError(f"{path} has no molecule files ({', '.join(SUFFIXES)})")
        return files
    if not path.exists():
        raise InputError(f"input {path} does not exist")
    if _suffix(path) not in SUFFIXES:
        raise InputError(f"input {path}: use a {', '.join(SUFFIXES)} file, or a directory of them")
    return [path]


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".csv.gz" if name.endswith(".csv.gz") else path.suffix.lower()


class MoleculeReader:
    """The rows of ``files`` as chunks; ``columns`` says which columns matter. ``schema`` (after
    the first chunk) is the chunks' schema: every file is cast to the first file's types."""

    def __init__(self, files: list[Path], columns: Columns, chunk_rows: int):
        if chunk_rows < 1:
            raise InputError(f"chunk_rows={chunk_rows}: give a positive number of rows")
        self.files, self.columns, self.chunk_rows = list(files), columns, int(chunk_rows)
        self.has_blocks: bool | None = None  # known once the first file is opened
        self.has_id: bool | None = None
        self.trimmed = 0  # SMILES with whitespace around them, over the chunks read so far

    def count_rows(self) -> int | None:
        """Rows in the input when the files say so without being read (parquet), else None."""

        if any(_suffix(f) != ".parquet" for f in self.files):
            return None
        total = 0
        for f in self.files:
            check_file(f, "molecule file")
            check_kind(f)
            with reading(f):
                total += pq.ParquetFile(f).metadata.num_rows
        return total

    def chunks(self) -> Iterator[Chunk]:
        pending: list[pa.Table] = []
        held, number, start = 0, 0, 0
        schema = None
        for path in self.files:
            for batch in self._batches(path):
                table = self._trimmed(pa.Table.from_batches([batch]))
                if schema is None:
                    schema = table.schema
                elif table.schema != schema:
                    table = _cast(table, schema, path)
                pending.append(table)
                held += table.num_rows
                while held >= self.chunk_rows:
                    whole = pa.concat_tables(pending)
                    yield Chunk(number, start, whole.slice(0, self.chunk_rows).combine_chunks())
                    number, start = number + 1, start + self.chunk_rows
                    rest = whole.slice(self.chunk_rows)
                    pending, held = ([rest] if rest.num_rows else []), rest.num_rows
        if held:
            yield Chunk(number, start, pa.concat_tables(pending).combine_chunks())

    def _trimmed(self, table: pa.Table) -> pa.Table:
        """Whitespace around a SMILES taken off, as chemistry toolkits do; counted in ``trimmed``."""
        smiles = table.column("smiles")
        trimmed = pc.utf8_trim_whitespace(smiles)
        changed = pc.sum(pc.cast(pc.fill_null(pc.not_equal(smiles, trimmed), False), pa.int64())).as_py() or 0
        if not changed:
            return table
        self.trimmed += changed
        return table.set_column(table.schema.get_field_index("smiles"), "smiles", trimmed)

    # ------------------------------------------------------------------ one file
    def _batches(self, path: Path) -> Iterator[pa.RecordBatch]:
        """The file's record batches, through the reading layer: a file that is not what its name
        says, or breaks while it is read, is one InputError naming it."""
        check_file(path, "molecule file")
        check_kind(path)
        with reading(path):
            yield from self._read(path)

    def _read(self, path: Path) -> Iterator[pa.RecordBatch]:
        kind = _suffix(path)
        if kind == ".smi":
            return (normalized(b) for b in self._smi(path))
        names = self._names(path, kind)
        wanted = self._wanted(path, names)
        if kind == ".parquet":
            # pre_buffer=False: with pyarrow's default, the buffered ranges of every row group read so
            # far stay allocated, and memory grows with the file (237 MiB after 10M rows; flat without)
            batches = pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=_READ_ROWS, columns=list(wanted))
        else:
            batches = self._csv(path, wanted)
        return (self._renamed(normalized(b), wanted, path) for b in batches)

    def _names(self, path: Path, kind: str) -> list[str]:
        if kind == ".parquet":
            try:
                return pq.ParquetFile(path).schema_arrow.names
            except pa.ArrowException as e:
                raise InputError(f"{path} is not a readable parquet file ({e})") from e

        try:
            return csv.open_csv(path, read_options=csv.ReadOptions(block_size=1 << 16)).schema.names
        except (pa.ArrowException, StopIteration) as e:
            raise InputError(f"{path} is not a readable CSV file with a header ({e})") from e

    def _wanted(self, path: Path, names: list[str]) -> dict[str, str]:
        """Input column → output column, after checking the columns exist."""
        c = self.columns
        missing = [name for name in (c.smiles, *c.passthrough) if name not in names]
        if missing:
            raise InputError(
                f"{path} has no column {', '.join(map(repr, missing))} (its columns: {', '.join(names)}); "
                f"set smiles_column= / passthrough= to columns it has"
            )
        has_id = c.id is not None and c.id in names
        has_blocks = bool(c.blocks) and all(b in names for b in c.blocks)
        if self.has_id is None:
            self.has_id, self.has_blocks = has_id, has_blocks
        elif (self.has_id, self.has_blocks) != (has_id, has_blocks):
            raise InputError(
                f"{path} differs from {self.files[0]} in its id or building-block columns: give files of one layout"
            )
        wanted = {c.smiles: "smiles"}
        if has_id:
            wanted[c.id] = "id"
        wanted |= {name: name for name in c.passthrough if name not in wanted}
        if has_blocks:
            wanted |= {b: b for b in c.blocks if b not in wanted}
        return wanted

    @staticmethod
    def _renamed(batch: pa.RecordBatch, wanted: dict[str, str], path: Path) -> pa.RecordBatch:
        arrays = [batch.column(name) for name in wanted]
        smiles = arrays[0]
        if not (pa.types.is_string(smiles.type) or pa.types.is_large_string(smiles.type)):
            if pa.types.is_null(smiles.type):
                smiles = smiles.cast(pa.string())
            else:
                raise InputError(f"{path}: the SMILES column {next(iter(wanted))!r} holds {smiles.type}, not text")
            arrays[0] = smiles
        return pa.RecordBatch.from_arrays(arrays, names=list(wanted.values()))

    def _csv(self, path: Path, wanted: dict[str, str]) -> Iterator[pa.RecordBatch]:

        text = {name: pa.string() for name in (self.columns.smiles, *self.columns.blocks) if name in wanted}
        reader = csv.open_csv(
            path,
            read_options=csv.ReadOptions(block_size=1 << 22),
            convert_options=csv.ConvertOptions(include_columns=list(wanted), column_types=text),
        )
        try:
            yield from reader
        except pa.ArrowInvalid as e:
            raise InputError(
                f"{path}: {e}; a column's values change type part-way (e.g. numbers, then text): "
                f"convert the file to parquet with explicit types"
            ) from e

    def _smi(self, path: Path) -> Iterator[pa.RecordBatch]:

        with open(path, encoding="utf-8", errors="replace") as f:
            first = f.readline().rstrip("\n")
        delimiter = "\t" if "\t" in first else " "
        fields = [x for x in first.split(delimiter) if x]
        if len(fields) > 2:
            raise InputError(
                f"{path} line 1 has {len(fields)} fields: .smi lines are `SMILES [name]`; "
                f"use a CSV with a header for more columns"
            )
        names = ["smiles", "id"][: max(len(fields), 1)]
        header = bool(fields) and fields[0].lower() == "smiles"
        self.has_id = len(names) == 2 if self.has_id is None else self.has_id
        self.has_blocks = False
        if self.columns.passthrough:
            raise InputError(f"{path}: a .smi file has no columns to pass through (passthrough=[])")
        reader = csv.open_csv(
            path,
            read_options=csv.ReadOptions(column_names=names, skip_rows=int(header), block_size=1 << 22),
            parse_options=csv.ParseOptions(delimiter=delimiter, quote_char=False),
            convert_options=csv.ConvertOptions(column_types={"smiles": pa.string(), "id": pa.string()}),
        )
        try:
            yield from reader
        except pa.ArrowInvalid as e:
            raise InputError(f"{path}: {e} (.smi lines are `SMILES [name]`)") from e


def _cast(table: pa.Table, schema: pa.Schema, path: Path) -> pa.Table:
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as e:
        raise InputError(
            f"{path}: its columns' types {table.schema} differ from the first file's {schema} ({e})"
        ) from e
