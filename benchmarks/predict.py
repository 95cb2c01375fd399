"""predict: molecules/s of the prediction pass, extrapolated to BELKA's test set."""

from __future__ import annotations

import time

from benchmarks.common import BELKA_TEST_MOLECULES, BELKA_TEST_ROWS, Row, training_setup


def run(args) -> list[Row]:
    from belka_lab import run
    from belka_lab.evaluation.predictions import Predictions
    from belka_lab.loading.datamodule import PREDICT_SETS

    cfg, dm, module = training_setup(args.overrides, "predict")
    module = run.compiled(cfg, module)
    predictions = Predictions(PREDICT_SETS)
    trainer = run.trainer(
        cfg,
        [predictions],
        [],
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir="logs/bench/predict",
    )
    seconds = []
    for _ in range(args.repeats + 1):  # the first pass warms up (kernels, compilation, page cache)
        t = time.perf_counter()
        trainer.predict(module, datamodule=dm, return_predictions=False)
        seconds.append(time.perf_counter() - t)
    n = sum(len(p["index"]) for p in predictions.sets.values())  # validation and test molecules
    best = min(seconds[1:])
    name = cfg.model.backbone._target_.rsplit(".", 1)[-1]
    what = f"{name} ({' '.join(args.overrides) or 'defaults'}), batch {dm.eval_batch_size}, validation + test molecules"
    return [
        {
            "what": f"predict: {what}",
            "n": n,
            "per_s": n / best,
            "seconds": best,
            "device": str(trainer.strategy.root_device),
        },
        {
            "what": f"predict: BELKA test, {BELKA_TEST_MOLECULES:,} molecules = {BELKA_TEST_ROWS:,} rows "
            f"(extrapolated)",
            "n": BELKA_TEST_MOLECULES,
            "per_s": n / best,
            "seconds": BELKA_TEST_MOLECULES / (n / best),
        },
    ]
