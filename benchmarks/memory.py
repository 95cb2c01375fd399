"""memory: wall time and peak memory of the documented commands, each in a child process.

The figure a machine's RAM must hold is the peak *anonymous* memory (``RssAnon`` of
``/proc/<pid>/status``, summed over the command's process tree: data loader workers count):
what the process allocated itself. Pages of memory-mapped files (``RssFile`` + ``RssShmem``:
the prepared arrays, the parquet files) are reported apart as "mapped": the kernel drops
them under pressure and reads them again, so they cost speed, not an out-of-memory kill.

Jobs (``--jobs``, comma-separated):
  synth     the synthetic generator at --rows train rows (3 per molecule) and --test-molecules
  prepare   `belka prepare data=belka` on that library
  train     `belka train model=<m> debug=fdr` for every model config (--models) on the default
            synthetic library: one training batch at the default batch size and one
            validation batch at the model's evaluation batch size, the batches a full run
            repeats (its peak; a full run adds only the small prediction arrays)
  pretrain  `belka pretrain model=transformer debug=fdr` the same way
  baseline  `belka baseline baseline=rf` and `baseline=lgbm` on the default library
  counts    `belka prepare data=counts` of a simulated selection of --rows compounds (three targets
            × three replicates, a matrix control, load: 13 count columns; the simulation runs
            first, in its own process, and is not measured)
  analyze   `belka analyze` of that prepared selection (after `counts`): mono- and disynthon tables,
            cubes, the hit list and report.html, without runs
The remaining arguments are Hydra overrides of the train and pretrain jobs (`data.batch_size=64`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import Row

KIB = 1024
CHART = ("peak_anon_gib", "peak anonymous memory (GiB)", False)  # what __main__ draws
JOBS = ("synth", "prepare", "train", "pretrain", "baseline", "counts", "analyze")
RUN_AS = {"chemberta": "experiment=chemberta"}  # models whose README command is an experiment (it adds the tokenizer)


def _status_kib(pid: int) -> tuple[int, int]:
    """(RssAnon, RssFile + RssShmem) of one process in KiB; (0, 0) once it has gone."""
    anon = mapped = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
                elif line.startswith(("RssFile:", "RssShmem:")):
                    mapped += int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return anon, mapped


def _tree(root: int) -> list[int]:
    """`root` and every process descended from it."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [p for p, pp in parent.items() if pp in frontier]
        found += frontier
    return found


def watch(cmd: list[str], cwd=None, env=None, interval: float = 0.2, log=None) -> dict:
    """Run `cmd`, sampling its process tree every `interval` s; returns seconds, returncode,
    peak_anon_gib and peak_mapped_gib (the largest sums seen at one sample)."""
    peak = {"anon": 0, "mapped": 0}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT if log else None)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            anon = mapped = 0
            for pid in _tree(proc.pid):
                a, m = _status_kib(pid)
                anon, mapped = anon + a, mapped + m
            peak["anon"], peak["mapped"] = max(peak["anon"], anon), max(peak["mapped"], mapped)
            done.wait(interval)

    t0 = time.perf_counter()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rc = proc.wait()
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    return {
        "seconds": seconds,
        "returncode": rc,
        "peak_anon_gib": peak["anon"] / KIB**2,
        "peak_mapped_gib": peak["mapped"] / KIB**2,
    }


def _belka(*args: str) -> list[str]:
    return [sys.executable, "-m", "belka_lab", *args]


def _models() -> list[str]:
    from belka_lab.core.config import CONFIG_DIR

    return sorted(p.stem for p in (Path(CONFIG_DIR) / "model").glob("*.yaml"))


def jobs(args, work: Path) -> list[tuple[str, list[str], int | None]]:
    """(what, command, items) of each job asked for."""
    wanted = [j.strip() for j in args.jobs.split(",") if j.strip()]
    unknown = sorted(set(wanted) - set(JOBS))
    if unknown:
        raise SystemExit(f"--jobs: unknown {', '.join(unknown)}; choose from {', '.join(JOBS)}")
    n_mol = -(-args.rows // 3)
    lib = work / f"synthetic-{n_mol}-{args.test_molecules}"
    short = ["debug=fdr", "trainer.enable_progress_bar=false", *args.overrides]  # + the command line's overrides
    out = []
    if "synth" in wanted:
        pools = ["--n-bb1", str(args.n_bb1), "--n-amines", str(args.n_amines)]
        synth = _belka("synth", str(lib), "--n-train", str(n_mol), "--n-test", str(args.test_molecules), *pools)
        out.append((f"synth: {n_mol:,} train molecules ({3 * n_mol:,} rows)", synth, 3 * n_mol))
    if "prepare" in wanted:
        prepare = _belka("prepare", "data=belka", f"data.root={lib}", f"hydra.run.dir={work}/runs/prepare")
        out.append((f"prepare: {3 * n_mol:,} train rows", prepare, 3 * n_mol))
    models = args.models.split(",") if args.models else _models()
    if "train" in wanted:
        for m in models:
            choice = RUN_AS.get(m, f"model={m}")
            run = _belka("train", choice, *short, f"hydra.run.dir={work}/runs/train-{m}")
            out.append((f"train {choice} (one batch each)", run, None))
    if "pretrain" in wanted:
        run = _belka("pretrain", "model=transformer", *short, f"hydra.run.dir={work}/runs/pretrain")
        out.append(("pretrain model=transformer (one batch each)", run, None))
    if "baseline" in wanted:
        for b in ("rf", "lgbm"):
            run = _belka("baseline", f"baseline={b}", f"hydra.run.dir={work}/runs/baseline-{b}")
            out.append((f"baseline baseline={b}", run, None))
    if "counts" in wanted:
        sel = work / f"selection-{args.rows}"
        if not (sel / "selection.json").exists():
            simulate = (
                "from belka_lab.synth.selection import SelectionConfig, simulate; "
                f"simulate({str(sel)!r}, SelectionConfig(n_compounds={args.rows}, n_bb1=300, n_amines=700), False)"
            )
            subprocess.run([sys.executable, "-c", simulate], check=True)
        prepare = _belka(
            "prepare",
            "data=counts",
            f"data.root={sel}",
            "data.test_file=${data.root}/heldout.csv",
            f"hydra.run.dir={work}/runs/counts",
        )
        out.append((f"prepare data=counts: {args.rows:,} compounds, 13 count columns", prepare, args.rows))
    if "analyze" in wanted:
        prepared = work / f"selection-{args.rows}" / "prepared"
        analyze = _belka(
            "analyze", f"library={prepared}", f"out_dir={work}/analysis", f"hydra.run.dir={work}/runs/analyze"
        )
        out.append((f"analyze: {args.rows:,} compounds (synthons, cubes, hit list, report)", analyze, args.rows))
    return out


def run(args) -> list[Row]:
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="belka-bench-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    for what, cmd, n in jobs(args, work):
        print(f"{what}: {' '.join(cmd[1:])}", flush=True)
        with open(work / "memory.log", "a") as log:
            m = watch(cmd, log=log)
        if m["returncode"]:
            what += f" — FAILED (exit {m['returncode']}; {work / 'memory.log'})"
        row: Row = {
            "what": what,
            "n": n,
            "seconds": m["seconds"],
            "peak_anon_gib": m["peak_anon_gib"],
            "peak_mapped_gib": m["peak_mapped_gib"],
        }
        if n:
            row["per_s"] = n / m["seconds"]
        rows.append(row)
        status = f"FAILED (exit {m['returncode']}), " if m["returncode"] else ""
        print(f"  {status}{m['seconds']:.1f} s, peak anonymous {m['peak_anon_gib']:.2f} GiB", flush=True)
    return rows
