"""A selection's read counts end to end: simulated, prepared, a count model trained and scored
against the held-out affinities, a Poisson tree baseline, predict and an exported model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from belka_lab.baselines.fit import fit_baseline
from belka_lab.core.config import CONFIG_DIR
from belka_lab.screen.export import export
from belka_lab.screen.predict import predict
from belka_lab.training.train import train
from helpers import QUIET_TRAINER

SMALL = ["data.simulate.n_compounds=6000", "+data.simulate.n_heldout=300", "data.prepare.progress=false"]


def _compose(name: str, tmp_path, run: str, *overrides: str):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose(
            name,
            overrides=[
                "data=selection",
                f"paths.root_dir={tmp_path}",
                f"paths.output_dir={tmp_path}/{run}",
                *SMALL,
                *overrides,
            ],
        )


@pytest.fixture(scope="module")
def zip_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("counts")
    cfg = _compose(
        "train",
        tmp,
        "zip",
        "model.loss=zip",
        "data.batch_size=128",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=12",
        "callbacks.model_checkpoint.monitor=val/affinity_spearman_unseen",
        "callbacks.model_checkpoint.mode=max",
        *QUIET_TRAINER,
    )
    return tmp, train(cfg)


def test_a_count_model_reports_rank_metrics_and_the_held_out_affinities(zip_run):
    tmp, result = zip_run
    run = tmp / "zip"
    assert np.isfinite(result["val_spearman"]) and np.isfinite(result["affinity_spearman"])
    assert {"affinity_spearman_seen", "affinity_spearman_unseen"} <= set(result)
    # scored at each validation epoch, so it can choose the checkpoint: one epoch, so the same number
    assert result["best_val_affinity_spearman_unseen"] == pytest.approx(result["affinity_spearman_unseen"], abs=1e-6)
    table = pd.read_csv(run / "results.csv")
    affinity = table[table["set"] == "affinity"]
    assert set(affinity["group"]) == {"seen", "unseen", "all"} and affinity["kendall"].notna().all()
    val = pd.read_parquet(run / "predictions" / "val.parquet")
    assert {"score_BRD4", "label_sEH", "BRD4"} <= set(val.columns)
    assert (val["BRD4"] < 0).any()  # log10 enrichment, not a probability
    assert not (run / "submission.csv").exists()  # a count table has no Kaggle submission
    logged = pd.read_csv(next((run / "csv").rglob("metrics.csv")))
    assert {"val/spearman_brd4", "val/affinity_kendall", "results/affinity_spearman_unseen"} <= set(logged)
    assert logged["val/affinity_spearman"].dropna().iloc[-1] == pytest.approx(result["affinity_spearman"], abs=1e-6)
    assert logged["results/affinity_spearman"].dropna().iloc[-1] == pytest.approx(result["affinity_spearman"])


def test_predict_and_export_carry_the_count_models_targets_and_values(zip_run):
    tmp, _ = zip_run
    heldout = pd.read_csv(next(tmp.glob("data/selection-*/heldout.csv")))
    smiles = tmp / "new.csv"
    pd.DataFrame({"smiles": heldout["smiles"].unique()[:40]}).to_csv(smiles, index=False)
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "predict",
            overrides=[
                f"paths.root_dir={tmp}",
                f"paths.output_dir={tmp}/pred",
                f"run={tmp}/zip",
                f"input={smiles}",
                "smiles_column=smiles",
                "progress=false",
            ],
        )
    summary = predict(cfg)
    assert summary["values"] == "log10 enrichment" and summary["targets"] == ["BRD4", "HSA", "sEH"]
    scored = pd.read_parquet(tmp / "pred" / "predictions.parquet")
    info = export(tmp / "zip", "onnx", tmp / "export" / "m.onnx", check_molecules=64)
    assert info["targets"] == ["BRD4", "HSA", "sEH"] and info["values"] == "log10 enrichment"
    assert info["parity"]["max_abs_diff"] <= 1e-4
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "predict",
            overrides=[
                f"paths.root_dir={tmp}",
                f"paths.output_dir={tmp}/pred_onnx",
                f"model_file={tmp}/export/m.onnx",
                f"input={smiles}",
                "smiles_column=smiles",
                "progress=false",
            ],
        )
    predict(cfg)
    onnx = pd.read_parquet(tmp / "pred_onnx" / "predictions.parquet")
    assert np.allclose(onnx[["BRD4", "HSA", "sEH"]], scored[["BRD4", "HSA", "sEH"]], atol=1e-4)


def test_lightgbm_learns_the_reads_with_a_poisson_objective(zip_run):
    tmp, _ = zip_run
    cfg = _compose(
        "baseline",
        tmp,
        "lgbm",
        "baseline=lgbm",
        "baseline.learn=counts",
        "ecfp.n_bits=512",
        "baseline.num_boost_round=60",
        "baseline.log_every=0",
    )
    result = fit_baseline(cfg)
    assert np.isfinite(result["models"]["BRD4"]["val_poisson"])
    assert np.isfinite(result["val_spearman"]) and np.isfinite(result["affinity_spearman"])
    saved = json.loads((tmp / "lgbm" / "model" / "targets.json").read_text())
    assert saved == {"targets": ["BRD4", "HSA", "sEH"], "learn": "counts"}


def test_a_rank_blend_of_a_count_model_and_a_tree_scores_the_affinities(zip_run):
    from belka_lab.evaluation.blending import run_blend

    tmp, _ = zip_run
    if not (tmp / "lgbm" / "results.json").exists():
        test_lightgbm_learns_the_reads_with_a_poisson_objective(zip_run)
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "blend", overrides=[f"paths.output_dir={tmp}/blend", f"runs=[{tmp}/zip,{tmp}/lgbm]", "method=rank"]
        )
    run_blend(cfg)
    result = json.loads((tmp / "blend" / "results.json").read_text())
    assert np.isfinite(result["val_spearman"]) and np.isfinite(result["affinity_spearman"])
    assert not (tmp / "blend" / "submission.csv").exists()
