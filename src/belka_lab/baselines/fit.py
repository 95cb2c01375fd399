"""A baseline run (``belka baseline baseline=lgbm|rf``): ECFP fingerprints + a tree model per target.

Same data module, folds and outputs as `python -m belka_lab`: the run directory gets
``predictions/val.parquet``, ``predictions/test.parquet``, ``submission.csv``,
``results.csv|md|json`` and PR-curve plots, so baseline runs blend with neural ones.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from belka_lab.core.errors import InputError
from belka_lab.evaluation import outputs
from belka_lab.features.fingerprints import ECFPConfig, cached_ecfp, to_csr


def fit_baseline(cfg: DictConfig) -> dict:
    t0 = time.time()
    dm = instantiate(cfg.data)
    if not (dm.tokenizer.is_char or dm.tokenizer.is_fingerprint):
        raise InputError("baselines read fingerprints of the prepared molecules: use tokenizer=char (or ecfp)")
    dm.prepare_data()
    dm.setup("fit")
    store = dm.store
    ecfp = ECFPConfig(**cfg.ecfp)
    bits = cached_ecfp(dm.prepared_dir, ecfp, progress=dm.prepare_options.progress)
    t_fp = time.time() - t0

    train_idx, val_idx = dm.train_idx, dm.val_idx
    limit = cfg.get("max_train_molecules")
    if limit and len(train_idx) > limit:
        train_idx = np.sort(np.random.default_rng(cfg.seed).choice(train_idx, int(limit), replace=False))
    labels = np.asarray(store.train("labels"))
    model = instantiate(cfg.baseline)
    X_val = to_csr(bits["train"][val_idx], ecfp.n_bits)
    data = dm.supervision  # what the trees learn of it: labels, a count table's scores, or its reads
    Y, Y_val = data.learnt(store, model.learn, train_idx), data.learnt(store, model.learn, val_idx)
    model.fit(to_csr(bits["train"][train_idx], ecfp.n_bits), Y, X_val, Y_val, dm.targets)
    val_probs = model.predict(X_val)
    test_probs = model.predict(to_csr(np.asarray(bits["test"]), ecfp.n_bits))

    run_dir = Path(cfg.paths.output_dir)
    model.save(run_dir / "model")  # what belka predict scores new molecules with
    outputs.write_config(run_dir, cfg)
    n_test = store.n_test
    observed = data.observed(store, val_idx)
    val_df = outputs.val_frame(
        val_idx, val_probs, labels[val_idx], dm.fold, dm.targets, dm.cells.names_of(val_idx), observed
    )
    test_df = outputs.test_frame(np.arange(n_test), test_probs, n_test, dm.targets)
    extra = {
        "baseline": cfg.baseline._target_,
        "features": ecfp.key,
        "train_molecules": len(train_idx),
        "models": model.info,
        "fingerprint_seconds": round(t_fp, 1),
        "seconds": round(time.time() - t0, 1),
    }
    return outputs.finish_run(run_dir, dm, val_df, test_df, extra)
