"""fingerprints: what the fingerprint and graph networks cost at prepare — ECFP4 bits and chemprop
graphs, molecules/s on all cores, and the size of each cache (extrapolated to 100M molecules)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row

SCALE = 100_000_000  # a DEL of BELKA's size, for the extrapolated cache size and time


def run(args) -> list[Row]:
    """ECFP4 (2048 bits) and chemprop graphs of --molecules synthetic molecules, all cores, as
    prepare computes them (the baselines, fp_mlp, synthon's blocks; model=graph)."""
    import pyarrow.parquet as pq

    from belka_lab.features.fingerprints import ECFPConfig, ecfp
    from belka_lab.features.graphs import GraphConfig, graphs
    from belka_lab.synth.config import SynthConfig
    from belka_lab.synth.generate import generate

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="belka-bench-"))
    n = args.molecules
    lib = generate(work / f"synthetic-{n}", SynthConfig(n_train=n, n_test=1000, seed=0, n_bb1=400, n_amines=900))
    smiles = pq.read_table(lib / "train.parquet", columns=["molecule_smiles"]).column(0).to_pylist()[::3][:n]
    rows = []
    ecfp(smiles[:2000], ECFPConfig(workers=1))  # imports outside the timing
    t = time.perf_counter()
    bits, _ = ecfp(smiles, ECFPConfig(), progress=True)
    rows.append(_row("ECFP4 2048 bits", len(bits), time.perf_counter() - t, bits.shape[1]))
    config = GraphConfig()
    list(graphs(smiles[:200], GraphConfig(workers=1)))  # imports outside the timing
    t = time.perf_counter()
    done = sum(len(chunk) for chunk, _ in graphs(smiles, config, progress=True))
    rows.append(_row(f"chemprop graphs ({config.key})", done, time.perf_counter() - t, config.width))
    return rows


def _row(what: str, n: int, seconds: float, width: int) -> Row:
    rate = n / seconds
    return {
        "what": (
            f"{what}, {os.cpu_count()} processes: {n:,} molecules; cache {width} B/molecule = "
            f"{width * SCALE / 1e9:,.1f} GB and {SCALE / rate / 3600:,.1f} h at 100M molecules"
        ),
        "n": n,
        "per_s": rate,
        "seconds": seconds,
    }
