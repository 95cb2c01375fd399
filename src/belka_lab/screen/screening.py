"""The screen: chunks of the input through a scorer into the output, on one or several processes.

Every process reads the input (reading is cheap next to scoring) and scores the chunks whose
number modulo the number of processes is its rank, skipping chunks already written; the first
process waits for every part to exist (the output directory is shared) and finishes the output.
No step waits on the other processes collectively, so one stopping on bad input (every process
raises the same error for a mismatched job) leaves none waiting forever.

The processes come from Lightning Fabric with the ``trainer`` config's accelerator, devices,
strategy and nodes (``trainer=ddp`` on GPUs, ``trainer=ddp_cpu`` on CPU processes), in the run's
training precision unless ``precision`` is given.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from lightning.fabric import Fabric

from belka_lab.core.errors import InputError, preview
from belka_lab.core.progress import bar as progress_bar
from belka_lab.dataset.supervision import Values
from belka_lab.screen import applicability
from belka_lab.screen.overview import Overview
from belka_lab.screen.parts import Output
from belka_lab.screen.reader import Chunk, Columns, MoleculeReader, input_files

POLICIES = ("error", "skip", "nan")


@dataclass
class Job:
    input: str
    output: str
    columns: Columns
    chunk_rows: int = 100_000
    on_invalid: str = "error"
    progress: bool = True

    def describe(self, files: list[Path], scorer) -> dict:
        """What a resumed screen must share with the one it continues."""
        return {
            "input": [{"file": str(f.resolve()), "bytes": f.stat().st_size, "mtime": f.stat().st_mtime} for f in files],
            "model": scorer.what,
            "columns": {
                "smiles": self.columns.smiles,
                "id": self.columns.id,
                "passthrough": list(self.columns.passthrough),
                "blocks": list(self.columns.blocks),
            },
            "chunk_rows": self.chunk_rows,
            "on_invalid": self.on_invalid,
        }


def output_table(
    chunk: Chunk,
    values: np.ndarray,
    targets: tuple[str, ...],
    keep: np.ndarray | None,
    has_id: bool,
    columns: Columns,
    blocks,
    spread: np.ndarray | None = None,
) -> pa.Table:
    """id, one column per target (the model's) and, for a blend of runs, ``<target>_std`` (their
    spread), the passthrough columns, and blocks_seen + group when the input has building-block
    columns and the scorer knows its training blocks; ``keep`` drops rows."""
    t = chunk.table
    ids = t.column("id") if has_id else pa.array(np.arange(chunk.start, chunk.start + len(chunk)), pa.int64())
    out = {"id": ids}
    out |= {p: pa.array(values[:, k], pa.float32()) for k, p in enumerate(targets)}
    if spread is not None:
        out |= {f"{p}_std": pa.array(spread[:, k], pa.float32()) for k, p in enumerate(targets)}
    out |= {name: t.column(name) for name in columns.passthrough}
    if blocks is not None and all(b in t.column_names for b in columns.blocks):
        seen = applicability.blocks_seen([t.column(b) for b in columns.blocks], blocks)
        out |= applicability.columns(seen, len(columns.blocks))
    table = pa.table(out)
    return table.filter(pa.array(keep)) if keep is not None else table


def invalid_table(chunk: Chunk, bad: np.ndarray, why: list[str], has_id: bool) -> pa.Table:
    rows = chunk.start + bad
    ids = chunk.table.column("id").take(bad) if has_id else pa.array(rows, pa.int64())
    return pa.table(
        {"row": pa.array(rows, pa.int64()), "id": ids, "smiles": chunk.table.column("smiles").take(bad), "reason": why}
    )


def _raise_invalid(chunk: Chunk, bad: np.ndarray, why: list[str], has_id: bool, files: list[Path]) -> None:
    table = invalid_table(chunk, bad[:5], why[:5], has_id)
    named = "; ".join(
        f"row {r} (id {i}): {w}" for r, i, w in zip(table["row"].to_pylist(), table["id"].to_pylist(), why)
    )
    where = files[0] if len(files) == 1 else f"{len(files)} files of {files[0].parent}"
    what = f"{len(bad)} {'molecule' if len(bad) == 1 else 'molecules'}"
    raise InputError(
        f"{where}: {what} of rows {chunk.start}–{chunk.start + len(chunk) - 1} cannot be scored "
        f"({preview(named.split('; '))}); fix or remove them, or predict with on_invalid=skip (leave them out) or "
        f"on_invalid=nan (keep them with NaN), which list them beside the output"
    )


def processes(trainer, precision: str):
    """Lightning Fabric with a ``trainer`` config's accelerator, devices, strategy and nodes, launched
    (under DDP this process becomes rank 0 and starts the others)."""

    fabric = Fabric(
        accelerator=trainer.get("accelerator", "auto"),
        devices=trainer.get("devices", 1),
        strategy=trainer.get("strategy") or "auto",
        num_nodes=trainer.get("num_nodes", 1),
        precision=precision,
    )
    fabric.launch()
    return fabric


def screen(job: Job, scorer, fabric) -> dict | None:
    """Score ``job.input`` into ``job.output``; the summary on the first process (None on the others)."""
    if job.on_invalid not in POLICIES:
        raise InputError(f"on_invalid={job.on_invalid}: use one of {', '.join(POLICIES)}")
    files = input_files(job.input)
    reader = MoleculeReader(files, job.columns, job.chunk_rows)
    output = Output(job.output, job.describe(files, scorer))
    rank, world = fabric.global_rank, fabric.world_size
    output.start()  # on every process: the same job creates, or checks, the same directory
    scorer.place(fabric)
    blocks = pa.array(scorer.blocks, pa.string()) if scorer.blocks is not None else None
    total = reader.count_rows()
    mine_total = None if total is None else _rows_of(rank, world, total, job.chunk_rows)
    bar = progress_bar(mine_total, "predict", enabled=rank == 0 and job.progress)
    t0, scored, n_chunks = time.perf_counter(), 0, 0
    for chunk in reader.chunks():
        n_chunks = chunk.number + 1
        if chunk.number % world != rank:
            continue
        if output.done(chunk.number):
            if bar.total is not None:
                bar.total -= len(chunk)
                bar.refresh()
            continue
        named = [chunk.table.column(b) for b in job.columns.blocks] if reader.has_blocks else None
        result = scorer.score(chunk.table.column("smiles"), named)
        has_id = bool(reader.has_id)
        if len(result.bad) and job.on_invalid == "error":
            _raise_invalid(chunk, result.bad, result.why, has_id, files)
        keep = None
        if len(result.bad) and job.on_invalid == "skip":
            keep = np.ones(len(chunk), bool)
            keep[result.bad] = False
        table = output_table(chunk, result.values, scorer.targets, keep, has_id, job.columns, blocks, result.spread)
        invalid = invalid_table(chunk, result.bad, result.why, has_id) if len(result.bad) else None
        output.write(chunk.number, table, invalid)
        scored += len(chunk)
        bar.update(len(chunk))
    bar.close()
    if n_chunks == 0:  # every process read the same empty input: none leaves a started output behind
        shutil.rmtree(output.parts, ignore_errors=True)
        raise InputError(f"{job.input} holds no molecules (no rows after the header); nothing to score")
    if rank != 0:  # no collective wait: a process that stops on bad input leaves none of the others hanging
        return None
    output.wait_for(n_chunks)
    seconds = time.perf_counter() - t0
    summary = {
        "model": scorer.what,
        "targets": list(scorer.targets),
        "values": scorer.values,
        "input": str(job.input),
        "on_invalid": job.on_invalid,
        "processes": world,
    }
    summary["trimmed"] = reader.trimmed  # SMILES that had whitespace around them (every chunk is read here)
    overview = Overview(scorer.targets, scorer.values == Values.PROBABILITY)
    counts = output.finish(n_chunks, summary, overview.add)
    rows = total if total is not None else _rows_written(counts, job)
    return {
        **summary,
        **counts,
        "rows": rows,
        "output": str(output.path),
        "invalid_list": str(output.invalid_path) if counts["invalid"] else None,
        "seconds": round(seconds, 2),
        "scored_here": scored,
        "per_s": scored / seconds if seconds > 0 else float("nan"),
        "groups": {g: int(c[0].sum()) for g, c in overview.counts.items()},  # scored molecules per group
        "hits": overview.hits,
        "overview": overview,
    }


def _rows_of(rank: int, world: int, total: int, chunk_rows: int) -> int:
    n_chunks = -(-total // chunk_rows)
    return sum(min(chunk_rows, total - k * chunk_rows) for k in range(rank, n_chunks, world))


def _rows_written(counts: dict, job: Job) -> int:
    return counts["rows_written"] + (counts["invalid"] if job.on_invalid == "skip" else 0)


def summary_line(s: dict) -> str:
    invalid = ""
    if s["invalid"]:
        verb = "left out" if s["on_invalid"] == "skip" else "kept with NaN"
        invalid = f", {s['invalid']:,} could not be scored ({verb}; listed in {s['invalid_list']})"
    if s.get("trimmed"):
        invalid += f", {s['trimmed']:,} SMILES trimmed of surrounding whitespace"
    rate = f" at {s['per_s']:,.0f} molecules/s" if s["scored_here"] else ""
    procs = f" on {s['processes']} processes" if s["processes"] > 1 else ""
    return (
        f"predict: {s['rows']:,} molecules{invalid}; {s['scored_here']:,} scored in this run in {s['seconds']:.1f} s"
        f"{rate}{procs} → {s['output']}"
    )
