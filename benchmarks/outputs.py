"""outputs: what follows training at BELKA's size (epoch-end AP, prediction files, submission, results, plots)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import BELKA_TEST_MOLECULES, BELKA_TEST_ROWS, BELKA_TRAIN_ROWS, Row


def run(args) -> list[Row]:
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.metrics import average_precision_score

    from belka_lab.dataset.schema import BELKA_TARGETS as PROTEINS
    from belka_lab.dataset.supervision import Supervision
    from belka_lab.evaluation import outputs, submission
    from belka_lab.evaluation.cells import cell_ap

    rng = np.random.default_rng(0)
    n_val, n_test = args.val_molecules, args.test_molecules
    n_rows = 2 * n_test if n_test != BELKA_TEST_MOLECULES else BELKA_TEST_ROWS
    index = rng.permutation(n_val * 15)[:n_val]
    labels = (rng.random((n_val, 3)) < 0.005).astype(np.int8)  # BELKA's positive rate
    probs = np.clip(rng.random((n_val, 3), dtype=np.float32) * 0.5 + labels * 0.4, 0, 1)
    test_probs = rng.random((n_test, 3), dtype=np.float32)
    test_rows = pd.DataFrame(
        {  # about two proteins per test molecule, as in BELKA
            "id": np.arange(n_rows, dtype=np.int64) + BELKA_TRAIN_ROWS,
            "molecule": np.repeat(np.arange(n_test), 2)[:n_rows],
            "protein": np.tile([0, 2], n_test)[:n_rows],
        }
    )
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="belka-bench-"))
    rows, t = [], time.perf_counter()

    def timed(what: str, n: int) -> None:
        nonlocal t
        seconds = time.perf_counter() - t
        rows.append({"what": what, "n": n, "per_s": n / seconds, "seconds": seconds})
        t = time.perf_counter()

    for k in range(3):
        average_precision_score(labels[:, k], probs[:, k])
    timed(f"validation AP, sklearn's average_precision_score (reference), {n_val:,} x 3", n_val)
    cell_ap(labels, probs, np.zeros(n_val, np.int64), 1)
    timed(f"validation AP at an epoch's end (belka_lab, arrays), {n_val:,} x 3", n_val)
    device = torch.device(args.device)
    on_device = torch.from_numpy(labels).to(device), torch.from_numpy(probs).to(device)
    t = time.perf_counter()  # the copy is not part of it: in training the predictions are already there
    cell_ap(*on_device, torch.zeros(n_val, dtype=torch.int64, device=device), 1)
    timed(f"validation AP at an epoch's end (belka_lab, tensors on {device.type}), {n_val:,} x 3", n_val)
    val = outputs.val_frame(index, probs, labels, 0, PROTEINS)
    outputs.write_parquet(val, work / "val.parquet")
    test = outputs.test_frame(np.arange(n_test), test_probs, n_test, PROTEINS)
    outputs.write_parquet(test, work / "test.parquet")
    timed("predictions/val.parquet + test.parquet", n_val + n_test)
    submission.write(submission.build(test_rows, test[list(PROTEINS)].to_numpy()), work / "submission.csv")
    timed(f"submission.csv, {n_rows:,} rows", n_rows)
    outputs.results(val, "fold_stratified", 0, test_rows, test, Supervision())
    timed("results table (validation AP per protein)", n_val)
    outputs._plot(work, val, test, test_rows)
    timed("precision-recall plots, 3 proteins", n_val)
    total = sum(r["seconds"] for r in rows[3:])
    rows.append(
        {
            "what": "after training: the files, the table and the plots",
            "n": n_val,
            "per_s": n_val / total,
            "seconds": total,
        }
    )
    rows.append(
        {
            "what": f"validation AP: sklearn / belka_lab (tensors on {device.type})",
            "n": None,
            "per_s": rows[0]["seconds"] / rows[2]["seconds"],
            "ratio": True,
        }
    )
    return rows
