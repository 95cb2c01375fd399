"""fingerprints: ECFP4 molecules/s on all cores."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row


def run(args) -> list[Row]:
    """ECFP4 (2048 bits) of --molecules synthetic molecules, all cores, as the baselines compute them."""
    import pyarrow.parquet as pq

    from belka_lab.features.fingerprints import ECFPConfig, ecfp
    from belka_lab.synth.config import SynthConfig
    from belka_lab.synth.generate import generate

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="belka-bench-"))
    n = args.molecules
    lib = generate(work / f"synthetic-{n}", SynthConfig(n_train=n, n_test=1000, seed=0, n_bb1=400, n_amines=900))
    smiles = pq.read_table(lib / "train.parquet", columns=["molecule_smiles"]).column(0).to_pylist()[::3][:n]
    ecfp(smiles[:2000], ECFPConfig(workers=1))  # imports outside the timing
    t = time.perf_counter()
    bits, _ = ecfp(smiles, ECFPConfig(), progress=True)
    seconds = time.perf_counter() - t
    return [
        {
            "what": f"ECFP4 2048 bits, {os.cpu_count()} processes: {len(smiles):,} molecules (s)",
            "n": len(bits),
            "per_s": len(bits) / seconds,
            "seconds": seconds,
        }
    ]
