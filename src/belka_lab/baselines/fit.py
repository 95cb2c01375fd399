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


def learnt(dm, learn: str, rows: np.ndarray):
    """What a tree model learns of molecule ``rows``: ``labels`` [n, T]; a count table's ``scores``
    [n, T]; or its ``counts``: (summed target reads [n, T], the log of the reads at enrichment 1 —
    the control's reads +½, depth-scaled, or without a control the load's or an even share:
    ``CountSpec.null_reads`` — [n, T])."""
    store, spec = dm.store, dm.count_spec
    if learn != "labels" and spec is None:
        raise InputError(
            f"baseline.learn={learn} needs a count table (data=counts or data=selection); this data has labels only"
        )
    if learn == "labels":
        return np.asarray(store.train("labels"))[rows]
    if learn == "scores":
        return np.asarray(store.train("scores"))[rows]
    counts = np.asarray(store.train("counts")[rows], np.float64)
    reads, offset = np.empty((len(rows), spec.n_targets)), np.empty((len(rows), spec.n_targets))
    for t, cols in enumerate(spec.target_cols):
        reads[:, t] = counts[:, cols].sum(axis=1)
        offset[:, t] = np.log(spec.null_reads(counts, t, pseudo=0.5))
    return reads, offset


def fit_baseline(cfg: DictConfig) -> dict:
    t0 = time.time()
    dm = instantiate(cfg.data)
    if not dm.tokenizer.is_char:
        raise InputError("baselines read fingerprints of the prepared molecules: use tokenizer=char")
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
    Y, Y_val = learnt(dm, model.learn, train_idx), learnt(dm, model.learn, val_idx)
    model.fit(to_csr(bits["train"][train_idx], ecfp.n_bits), Y, X_val, Y_val, dm.targets)
    val_probs = model.predict(X_val)
    test_probs = model.predict(to_csr(np.asarray(bits["test"]), ecfp.n_bits))

    run_dir = Path(cfg.paths.output_dir)
    model.save(run_dir / "model")  # what belka predict scores new molecules with
    outputs.write_config(run_dir, cfg)
    n_test = store.n_test
    observed = outputs.observed(store, val_idx)
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
