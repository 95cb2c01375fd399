"""prepare: SMILES/s of the encoder vs the notebook's dict loop; wall time and peak memory of
prepare, extrapolated to BELKA's 295M rows."""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import BELKA_TRAIN_ROWS, Row


def bench_encoder(smiles, loop_sample: int) -> list[Row]:
    import pyarrow as pa

    from belka_lab.tokens.characters import encode_arrow, encode_dict_loop

    arr = pa.array(smiles, pa.string())
    encode_arrow(arr[:1000])  # compile outside the timing
    t = time.perf_counter()
    fast, _ = encode_arrow(arr)
    fast_rate = len(arr) / (time.perf_counter() - t)
    sample = smiles[:loop_sample]
    t = time.perf_counter()
    slow = encode_dict_loop(sample)
    loop_rate = len(sample) / (time.perf_counter() - t)
    assert (fast[: len(sample)] == slow).all()
    return [
        {"what": "encode: Arrow buffers (belka_lab)", "n": len(arr), "per_s": fast_rate},
        {"what": "encode: notebook dict loop", "n": len(sample), "per_s": loop_rate},
        {"what": "encode: speed-up", "n": None, "per_s": fast_rate / loop_rate},
    ]


def _prepare_child(train: str, test: str, out: str, batch_rows: int) -> None:
    from belka_lab.dataset.prepare import PrepareOptions, prepare

    prepare(train, test, out, options=PrepareOptions(batch_rows=batch_rows, progress=False))


def run(args) -> list[Row]:
    import pyarrow.parquet as pq

    from belka_lab.synth.config import SynthConfig
    from belka_lab.synth.generate import generate

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="belka-bench-"))
    n_mol = -(-args.rows // 3)
    lib = generate(
        work / f"synthetic-{n_mol}", SynthConfig(n_train=n_mol, n_test=30_000, seed=0, n_bb1=400, n_amines=900)
    )
    smiles = pq.read_table(lib / "train.parquet", columns=["molecule_smiles"]).column(0).slice(0, 3 * args.encode_n)
    smiles = smiles.to_pylist()[::3][: args.encode_n]
    rows = bench_encoder(smiles, args.loop_n)

    out = work / "prepared"
    call = f"{str(lib / 'train.parquet')!r}, {str(lib / 'test.parquet')!r}, {str(out)!r}, {args.batch_rows}"
    code = f"from benchmarks.prepare import _prepare_child; _prepare_child({call})"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    wall = time.perf_counter() - t
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    n_rows = 3 * n_mol
    rows += [
        {
            "what": f"prepare: {n_rows:,} train rows (wall s)",
            "n": n_rows,
            "per_s": n_rows / wall,
            "seconds": wall,
            "peak_rss_gib": peak_gib,
        },
        {
            "what": "prepare: BELKA 295M rows, extrapolated (min)",
            "n": BELKA_TRAIN_ROWS,
            "per_s": n_rows / wall,
            "seconds": BELKA_TRAIN_ROWS / (n_rows / wall),
        },
    ]
    return rows
