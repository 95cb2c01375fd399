"""The screen's output, written one chunk at a time so that a killed screen resumes.

``output=<dir>`` (no ``.parquet`` suffix): the directory holds ``part-<chunk>.parquet`` per
chunk of input rows (each written under a temporary name and renamed when complete),
``part-<chunk>.invalid.parquet`` beside a part whose chunk had rows that could not be scored,
``job.json`` (what is being screened, with what: a resumed screen must be the same job) and,
when every chunk is written, ``invalid.csv`` and ``manifest.json`` (written last: a directory
without it is unfinished).

``output=<file>.parquet``: the same parts are written into ``.<file>.parts/`` beside it, and
when every chunk is written they are joined, in input order, into ``<file>.parquet`` (renamed
into place when complete), the invalid rows into ``<file>.invalid.csv``; the parts directory
then goes.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from belka_lab.core.errors import InputError
from belka_lab.core.io import atomic_path

JOB, MANIFEST, INVALID = "job.json", "manifest.json", "invalid.csv"


class Output:
    def __init__(self, path: str | Path, job: dict):
        self.path = Path(path)
        self.is_file = self.path.suffix == ".parquet"
        self.parts = self.path.with_name(f".{self.path.name}.parts") if self.is_file else self.path
        self.job = job

    @property
    def invalid_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".invalid.csv") if self.is_file else self.parts / INVALID

    def start(self) -> int:
        """Create the parts directory, or check that the one there holds the same job; returns the
        number of chunks already written."""
        job_file = self.parts / JOB
        if job_file.exists():
            before = json.loads(job_file.read_text())
            if before != self.job:
                changed = sorted(k for k in set(before) | set(self.job) if before.get(k) != self.job.get(k))
                raise InputError(
                    f"{self.parts} holds part of another screen (it differs in {', '.join(changed)}): "
                    f"remove it to start again, or give another output="
                )
            (self.parts / MANIFEST).unlink(missing_ok=True)  # finished once; finished again below
            return len(list(self.parts.glob("part-*[0-9].parquet")))
        if self.parts.exists() and any(not p.name.startswith(f".{JOB}.tmp-") for p in self.parts.iterdir()):
            raise InputError(f"output {self.parts} exists and is not a screen's output: give another output=")
        self.parts.mkdir(parents=True, exist_ok=True)
        with atomic_path(job_file) as tmp:  # every process writes the same text: the last rename wins, harmlessly
            tmp.write_text(json.dumps(self.job, indent=1, sort_keys=True))
        return 0

    def wait_for(self, n_chunks: int, say=print, poll: float = 0.2) -> None:
        """Until every chunk's part exists (the other processes write theirs)."""
        t0, said = time.monotonic(), False
        while not all(self.done(k) for k in range(n_chunks)):
            if not said and time.monotonic() - t0 > 60:
                left = sum(not self.done(k) for k in range(n_chunks))
                say(f"predict: waiting for {left} chunks of the other processes")
                said = True
            time.sleep(poll)

    def _part(self, number: int, invalid: bool = False) -> Path:
        return self.parts / f"part-{number:06d}{'.invalid' if invalid else ''}.parquet"

    def done(self, number: int) -> bool:
        return self._part(number).exists()

    def write(self, number: int, table: pa.Table, invalid: pa.Table | None) -> None:
        """The chunk's invalid rows first, then its part: a part that exists is a chunk done."""
        if invalid is not None and invalid.num_rows:
            with atomic_path(self._part(number, True)) as tmp:
                pq.write_table(invalid, tmp)
        with atomic_path(self._part(number)) as tmp:
            pq.write_table(table, tmp)

    def finish(self, n_chunks: int, summary: dict, observe=None) -> dict:
        """Check every chunk is there, count, write the invalid rows' list and the manifest (a
        directory) or the joined file; returns the counts. ``observe(table)`` sees every part, in
        order, one at a time."""
        missing = [k for k in range(n_chunks) if not self.done(k)]
        if missing:
            raise InputError(
                f"{self.parts}: chunks {missing[:5]} were not written; run the same command again to finish"
            )
        parts = [self._part(k) for k in range(n_chunks)]
        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
        invalid_parts = [self._part(k, True) for k in range(n_chunks) if self._part(k, True).exists()]
        invalid = pa.concat_tables([pq.read_table(p) for p in invalid_parts]) if invalid_parts else None
        counts = {"chunks": n_chunks, "rows_written": rows, "invalid": invalid.num_rows if invalid is not None else 0}
        if invalid is not None:
            with atomic_path(self.invalid_path) as tmp:
                invalid.to_pandas().to_csv(tmp, index=False)
        else:
            self.invalid_path.unlink(missing_ok=True)
        if not self.is_file:
            for p in parts if observe else ():
                observe(pq.read_table(p))
            with atomic_path(self.parts / MANIFEST) as tmp:
                tmp.write_text(json.dumps({**summary, **counts, "parts": [p.name for p in parts]}, indent=1))
            return counts
        with atomic_path(self.path) as tmp:
            schema = pq.read_schema(parts[0]) if parts else pa.schema([])
            with pq.ParquetWriter(tmp, schema) as writer:
                for p in parts:
                    table = pq.read_table(p).cast(schema)
                    writer.write_table(table)
                    if observe:
                        observe(table)
        shutil.rmtree(self.parts, ignore_errors=True)
        return counts
