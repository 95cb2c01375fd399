"""screen: ``belka predict``'s streaming path against the in-process prediction pass, peak
memory at two input sizes, and ONNX Runtime against PyTorch.

1. The same molecules (the validation and test molecules ``bench predict`` scores, as SMILES in
   a parquet file), the same weights and batch size: ``Trainer.predict`` over the prepared,
   memory-mapped token arrays, and the screen (read the file, encode, score, write parts, join
   them) — best of ``--repeats`` passes each, after a warm-up, alternating.
2. ONNX Runtime against PyTorch on the CPU: the exported network and the PyTorch one scoring
   the same SMILES (encoding included in both).
3. Peak memory of ``belka predict`` in a child process over ``--screen-rows`` inputs (the test
   molecules repeated), with a small CNN run trained here for a few steps: how much memory a
   screen holds should not grow with the input.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import Row, training_setup
from benchmarks.memory import watch

SMALL_CNN = ["model.backbone.embed_dim=16", "model.backbone.channels=[16,16,16]", "model.backbone.hidden=[64]"]


def _seconds(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _side_by_side(a, b, repeats: int) -> tuple[float, float]:
    """Best seconds of ``a`` and of ``b`` over ``repeats`` alternating passes, after one warm-up each."""
    a(), b()
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(_seconds(a))
        tb.append(_seconds(b))
    return min(ta), min(tb)


def run(args) -> list[Row]:
    import torch

    from belka_lab import run as build
    from belka_lab.evaluation.predictions import Predictions
    from belka_lab.loading.datamodule import PREDICT_SETS
    from belka_lab.screen.reader import Columns
    from belka_lab.screen.scorers import TorchScorer
    from belka_lab.screen.screening import Job, processes, screen
    from belka_lab.tokens.characters import decode

    work = Path(args.work_dir or "logs/bench/screen")
    work.mkdir(parents=True, exist_ok=True)
    cfg, dm, module = training_setup(args.overrides, "screen")
    module.eval()
    rows: list[Row] = []

    # 1. in-process prediction pass vs the streaming screen, same molecules
    predictions = Predictions(PREDICT_SETS)
    trainer = build.trainer(
        cfg, [predictions], [], enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(work)
    )
    tokens = np.concatenate([np.asarray(dm.store.train("tokens")[dm.val_idx]), np.asarray(dm.store.test("tokens"))])
    smiles = decode(tokens)
    n = len(smiles)
    src = work / "molecules.parquet"
    pq.write_table(pa.table({"molecule_smiles": smiles}), src)
    scorer = TorchScorer(
        module.backbone, dm.token_spec, dm.eval_batch_size, "32-true", "bench", dm.targets, module.readout
    )
    fabric = processes(cfg.trainer, str(cfg.trainer.get("precision", "32-true")))  # where the Trainer runs

    def in_process():
        trainer.predict(module, datamodule=dm, return_predictions=False)

    def streaming():
        out = work / "screen.parquet"
        out.unlink(missing_ok=True)
        screen(Job(str(src), str(out), Columns(id=None), progress=False), scorer, fabric)

    t_in, t_stream = _side_by_side(in_process, streaming, args.repeats)
    name = cfg.model.backbone._target_.rsplit(".", 1)[-1]
    what = f"{name}, batch {dm.eval_batch_size}, {n:,} molecules"
    rows += [
        {"what": f"in-process Trainer.predict (prepared tokens): {what}", "n": n, "per_s": n / t_in, "seconds": t_in},
        {
            "what": f"belka predict streaming (parquet SMILES → parquet): {what}",
            "n": n,
            "per_s": n / t_stream,
            "seconds": t_stream,
        },
        {"what": "streaming / in-process molecules/s", "per_s": t_in / t_stream, "ratio": True},
    ]

    # 2. ONNX Runtime vs PyTorch, same SMILES, encoding included (both on the CPU)
    import importlib.util

    missing = importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnxscript") is None
    if missing or fabric.device.type != "cpu":
        why = "ONNX Runtime or onnxscript is not installed" if missing else f"PyTorch ran on {fabric.device}"
        print(f"screen: no ONNX Runtime vs PyTorch rows ({why}; they compare the two on the CPU)")
        return rows + (_memory(args, work, cfg, smiles) if args.screen_rows else [])
    import json

    from belka_lab.screen.export import Predicting, write_model
    from belka_lab.screen.scorers import ExportedScorer

    onnx = work / "cnn.onnx"
    example = torch.from_numpy(tokens[:8])
    write_model(Predicting(module.backbone, dm.pad_id, module.readout).eval(), "onnx", onnx, example)
    onnx.with_suffix(".json").write_text(
        json.dumps(
            {
                "format": "onnx",
                "input_dtype": "uint8",
                "tokens": scorer.spec.to_json(),
                "batch_size": dm.eval_batch_size,
            }
        )
    )
    exported = ExportedScorer(onnx, dm.eval_batch_size)
    column = pa.array(smiles)
    t_torch, t_onnx = _side_by_side(lambda: scorer.score(column), lambda: exported.score(column), args.repeats)
    diff = float(np.nanmax(np.abs(scorer.score(column).values - exported.score(column).values)))
    rows += [
        {
            "what": f"PyTorch {torch.__version__} ({name}, CPU, {torch.get_num_threads()} threads)",
            "n": n,
            "per_s": n / t_torch,
            "seconds": t_torch,
        },
        {
            "what": f"ONNX Runtime ({name}, CPU; largest difference {diff:.1e})",
            "n": n,
            "per_s": n / t_onnx,
            "seconds": t_onnx,
        },
        {"what": "ONNX Runtime / PyTorch molecules/s", "per_s": t_torch / t_onnx, "ratio": True},
    ]

    # 3. peak memory of belka predict at two input sizes, a small CNN run
    if args.screen_rows:
        rows += _memory(args, work, cfg, smiles)
    return rows


def _memory(args, work: Path, cfg, smiles: list[str]) -> list[Row]:
    from hydra import compose, initialize_config_dir

    from belka_lab.core.config import CONFIG_DIR
    from belka_lab.training.train import train

    run_dir = work / "small_cnn_run"
    if not (run_dir / "config.yaml").exists():
        with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
            small = compose(
                "train",
                overrides=[
                    f"paths.root_dir={Path.cwd()}",
                    f"paths.output_dir={run_dir}",
                    *(o for o in args.overrides if not o.startswith(("model=", "model.", "trainer"))),  # the data
                    *SMALL_CNN,
                    "trainer.max_epochs=1",
                    "+trainer.limit_train_batches=20",
                    "trainer.enable_progress_bar=false",
                    "logger=csv",
                ],
            )
        train(small)
    out = []
    sizes = [int(x) for x in args.screen_rows.split(",")]
    column = pa.array(smiles)
    for size in sizes:
        src = work / f"input-{size}.parquet"
        if not src.exists():
            tmp = src.with_suffix(".tmp")
            with pq.ParquetWriter(tmp, pa.schema([("molecule_smiles", pa.string())])) as w:
                done = 0
                while done < size:
                    take = min(len(column), size - done)
                    w.write_table(pa.table({"molecule_smiles": column.slice(0, take)}))
                    done += take
            tmp.rename(src)
        target = work / f"screen-{size}.parquet"
        target.unlink(missing_ok=True)
        shutil.rmtree(work / f".screen-{size}.parquet.parts", ignore_errors=True)
        cmd = [
            sys.executable,
            "-m",
            "belka_lab",
            "predict",
            f"run={run_dir}",
            f"input={src}",
            f"output={target}",
            "progress=false",
            f"hydra.run.dir={work}/predict-{size}",
        ]
        m = watch(cmd)
        if m["returncode"]:
            raise RuntimeError(f"{' '.join(cmd)} exited with {m['returncode']}")
        out.append(
            {
                "what": f"belka predict, small CNN run, {size:,}-row parquet input (chunk 100,000)",
                "n": size,
                "per_s": size / m["seconds"],
                "seconds": m["seconds"],
                "peak_anon_gib": m["peak_anon_gib"],
                "peak_mapped_gib": m["peak_mapped_gib"],
                "peak_rss_gib": m["peak_anon_gib"] + m["peak_mapped_gib"],
            }
        )
    if len(out) == 2:
        out.append(
            {
                "what": f"peak anonymous memory, {sizes[1]:,} / {sizes[0]:,} rows",
                "per_s": out[1]["peak_anon_gib"] / out[0]["peak_anon_gib"],
                "ratio": True,
            }
        )
    return out
