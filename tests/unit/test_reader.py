"""The screen's reader: whole chunks in input order, across files, with bounded memory."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from belka_lab.core.errors import InputError
from belka_lab.screen.reader import Columns, MoleculeReader, input_files


def _write(path, n, start=0, row_group=7_000):
    smiles = [f"C{'C' * (i % 40)}O" for i in range(start, start + n)]
    pq.write_table(
        pa.table({"molecule_smiles": smiles, "id": list(range(start, start + n))}), path, row_group_size=row_group
    )


def test_chunks_are_whole_consecutive_rows_across_files(tmp_path):
    _write(tmp_path / "a.parquet", 25_000)
    _write(tmp_path / "b.parquet", 12_345, start=25_000)
    reader = MoleculeReader(input_files(tmp_path), Columns(), chunk_rows=10_000)
    chunks = list(reader.chunks())
    assert [c.number for c in chunks] == [0, 1, 2, 3]
    assert [c.start for c in chunks] == [0, 10_000, 20_000, 30_000]
    assert [len(c) for c in chunks] == [10_000, 10_000, 10_000, 7_345]
    ids = [i for c in chunks for i in c.table.column("id").to_pylist()]
    assert ids == list(range(37_345))
    assert reader.count_rows() == 37_345


def test_reading_holds_one_chunk_however_long_the_file(tmp_path):
    """Arrow memory in use while reading stays near one chunk's worth; pyarrow's default pre-buffering
    kept every row group read so far (memory growing with the file)."""
    path = tmp_path / "big.parquet"
    _write(path, 2_000_000, row_group=50_000)
    reader = MoleculeReader([path], Columns(), chunk_rows=50_000)
    peak, one_chunk = 0, 0
    for chunk in reader.chunks():
        peak, one_chunk = max(peak, pa.total_allocated_bytes()), max(one_chunk, chunk.table.nbytes)
    assert peak < 6 * one_chunk, (peak, one_chunk)


def test_columns_are_checked_by_name(tmp_path):
    _write(tmp_path / "a.parquet", 10)
    reader = MoleculeReader([tmp_path / "a.parquet"], Columns(passthrough=("price",)), chunk_rows=5)
    with pytest.raises(InputError, match=r"a.parquet has no column 'price' \(its columns: molecule_smiles, id\)"):
        list(reader.chunks())
    with pytest.raises(InputError, match="chunk_rows=0"):
        MoleculeReader([tmp_path / "a.parquet"], Columns(), chunk_rows=0)
    with pytest.raises(InputError, match="use a .parquet, .csv"):
        input_files(tmp_path / "x.txt") if (tmp_path / "x.txt").write_text("C") else None
