"""A selection's read counts end to end: simulated, prepared, a count model trained and scored
against the held-out affinities, a Poisson tree baseline, predict and an exported model, and
``belka analyze`` (synthon tables, hit list, intervals, report.html opened in a real browser)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from belka_lab.baselines.fit import fit_baseline
from belka_lab.core.config import CONFIG_DIR
from belka_lab.screen.export import export
from belka_lab.screen.predict import predict
from belka_lab.synth.selection import SelectionConfig, simulate
from belka_lab.training.train import train
from helpers import QUIET_TRAINER
from kindel_files import kindel_files

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
        "loss=zip",
        "model.rank_weight=0.5",  # with the ranking term on the observed scores
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
    # the compounds with an id are in the library: scored apart too (lib); the unseen ones have none
    assert set(affinity["group"]) == {"seen", "unseen", "all"} and affinity["kendall"].notna().all()  # lib = seen
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


# ---------------------------------------------------------------------------- belka analyze
def _analyze(capfd, *argv):
    from belka_lab import cli

    try:
        code = cli.main(["analyze", *argv]) or 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    return code, capfd.readouterr().err


@pytest.fixture(scope="module")
def analysis(zip_run):
    tmp, _ = zip_run
    from belka_lab.analysis.analyze import AnalyzeConfig, analyze
    from belka_lab.analysis.hits import HitListConfig

    result = json.loads((tmp / "zip" / "results.json").read_text())
    config = AnalyzeConfig(cube_top=300, cube_sample=6000, hits=HitListConfig(n=12, pool=5))  # a cube of all
    analyze(result["prepared_dir"], [str(tmp / "zip")], tmp / "analysis", config)
    return tmp, tmp / "analysis"


def test_analyze_sums_each_blocks_reads_and_lists_diverse_hits_with_intervals(analysis):
    tmp, out = analysis
    table = pd.read_parquet(next(tmp.glob("data/selection-*/selection.parquet")))
    mono = pd.read_parquet(out / "synthons_mono.parquet")
    # cycle 1's blocks, summed from the raw table by their SMILES: the same reads
    by_block = table.groupby("smiles_a")[["seq_HSA_1", "seq_HSA_2", "seq_HSA_3"]].sum().sum(axis=1)
    rows = mono[(mono["target"] == "HSA") & (mono["cycles"] == "1")].set_index("block_1")
    assert rows["reads_target"].sort_index().tolist() == by_block.sort_index().tolist()
    assert rows["compounds"].sum() == len(table)
    hits = pd.read_parquet(out / "hits.parquet")
    assert len(hits) == 12 and hits["cluster"].is_unique and (hits["BRD4_lo"] < hits["BRD4_hi"]).all()
    assert {"block_1", "block_2", "block_3", "cell", "control_enrichment"} <= set(hits.columns)
    coverage = pd.read_csv(out / "coverage.csv")
    assert set(coverage["cell"]) == {"all", *pd.read_parquet(tmp / "zip" / "predictions" / "val.parquet")["cell"]}
    # 90% split-conformal intervals on a few hundred compounds: near 90%, not exact
    assert coverage.query("cell == 'all'")["coverage"].between(0.8, 0.98).all()


def test_the_cube_draws_every_compounds_observed_value_and_the_runs_predictions_where_they_ran(analysis):
    tmp, out = analysis
    library = json.loads((tmp / "zip" / "results.json").read_text())["prepared_dir"]
    scores = np.load(f"{library}/train/scores.npy")
    val = pd.read_parquet(tmp / "zip" / "predictions" / "val.parquet").set_index("molecule")
    summary = json.loads((out / "analysis.json").read_text())["cube"]["targets"]
    for k, t in enumerate(("BRD4", "HSA", "sEH")):
        cube = pd.read_parquet(out / f"cube_{t}.parquet")
        assert cube["molecule"].tolist() == list(range(len(scores)))  # the library's 6,000, not the run's fold
        assert np.allclose(cube["observed"], scores[:, k])
        ran = cube.dropna(subset=["predicted"]).set_index("molecule")["predicted"]
        assert sorted(ran.index) == sorted(val.index) and np.allclose(ran, val.loc[ran.index, t])
        assert summary[t] == {
            "drawn": 6000,
            "observed": 6000,
            "library_observed": 6000,
            "predicted": len(val),
            "library_predicted": len(val),
        }
    assert f"all {len(val):,} compounds the runs predicted" in (out / "report.html").read_text()


def test_the_report_draws_its_cubes_and_pictures_in_a_browser(analysis):
    import shutil

    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    browser = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if browser is None:
        pytest.skip("no Chromium on this machine (make test installs chromium-headless-shell)")
    _, out = analysis
    problems = []
    with sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=browser, args=["--no-sandbox"])
        page = chrome.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto((out / "report.html").as_uri())
        page.wait_for_selector(".cube .main-svg", timeout=30_000)  # plotly drew, from the file's own script
        cubes = page.evaluate("document.querySelectorAll('.cube .gl-container canvas, .cube canvas').length")
        broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
        images = page.evaluate("document.images.length")
        shot = page.locator(".cube").first.screenshot()
        chrome.close()
    assert not problems, problems
    assert cubes >= 1 and images >= 5 and broken == 0
    from io import BytesIO

    from PIL import Image

    pixels = np.asarray(Image.open(BytesIO(shot)).convert("L"), dtype=np.float64)
    assert pixels.std() > 10  # not blank: points and axes drawn


def test_analyze_refuses_a_run_of_another_library_and_unknown_requests(analysis, tmp_path, capfd):
    tmp, _ = analysis
    run = str(tmp / "zip")
    other = tmp_path / "other"
    (other / "train").mkdir(parents=True)
    result = json.loads((tmp / "zip" / "results.json").read_text())
    import shutil

    shutil.copy(f"{result['prepared_dir']}/manifest.json", other / "manifest.json")
    base = [f"out_dir={tmp_path}/a", f"hydra.run.dir={tmp_path}/h"]
    code, err = _analyze(capfd, f"library={other}", f"runs=[{run}]", *base)
    assert code == 2 and "no building-block ids" in err
    shutil.copytree(f"{result['prepared_dir']}/train", other / "train", dirs_exist_ok=True)
    code, err = _analyze(capfd, f"library={other}", f"runs=[{run}]", *base)
    assert code == 2 and "was trained on" in err and "Traceback" not in err
    code, err = _analyze(capfd, f"runs=[{run}]", "hits.by=KRAS", *base)
    assert code == 2 and "'KRAS' is not one of" in err
    code, err = _analyze(capfd, f"runs=[{run}]", "hits.n=1000000", *base)
    assert code == 2 and "has 6,000 compounds" in err
    broken = tmp_path / "broken"  # a run whose predictions file was cut short
    shutil.copytree(run, broken)
    val = broken / "predictions" / "val.parquet"
    val.write_bytes(val.read_bytes()[:300])
    code, err = _analyze(capfd, f"library={result['prepared_dir']}", f"runs=[{broken}]", *base)
    assert code == 2 and "val.parquet" in err and "Traceback" not in err
    assert not (tmp_path / "a" / "report.html").exists()


def test_kindels_benchmark_trains_on_its_split_and_reports_lib_and_all_per_set(tmp_path):
    selection = simulate(tmp_path / "sel", SelectionConfig(n_compounds=2000, n_heldout=40), False)
    files = kindel_files(selection, tmp_path / "kindel")
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "data=counts",
                f"data.root={files}",
                "data.train_file=${data.root}/ddr1_1M.parquet",
                "data.test_file=${data.root}/heldout",
                "data.prepare.counts.names={target: DDR1}",
                "data.prepare.progress=false",
                "split=kindel",
                "data.split.index=3",
                "loss=mse",
                "data.batch_size=64",
                "trainer.max_epochs=1",
                "+trainer.limit_train_batches=3",
                "callbacks.model_checkpoint.monitor=val/spearman",
                f"paths.root_dir={tmp_path}",
                f"paths.output_dir={tmp_path}/run",
                *QUIET_TRAINER,
            ],
        )
    result = train(cfg)
    keys = [f"affinity_spearman_{s}{lib}" for s in ("ondna", "offdna") for lib in ("", "_lib")]
    assert all(np.isfinite(result[k]) for k in keys), {k: result.get(k) for k in keys}
    assert result["fold_column"] == "kindel_random_split3"
    # validated on exactly the rows split3 marks valid (matched to the table by index label)
    marks = pd.read_parquet(files / "splits" / "ddr1_random.parquet")["split3"]
    table = pd.read_parquet(files / "ddr1_1M.parquet", columns=[])
    valid = np.flatnonzero(marks.reindex(table.index).to_numpy() == "valid")
    val = pd.read_parquet(tmp_path / "run" / "predictions" / "val.parquet")
    assert np.array_equal(np.sort(val["molecule"].to_numpy()), valid)
    read_in = {r["file"]: r for r in result["affinity_files"]}
    assert set(read_in) == {"ddr1_ondna.csv", "ddr1_offdna.parquet"} and read_in["ddr1_offdna.parquet"]["zero_kd"] == 1
    rows = pd.read_csv(tmp_path / "run" / "results.csv").query("set == 'affinity'")
    assert {"ondna", "offdna", "ondna_lib", "offdna_lib", "lib", "all"} <= set(rows["group"])


def test_a_selection_of_three_rounds_is_prepared_with_its_rounds_and_trained(tmp_path):
    """experiment=rounds: the columns seq_<target>_r<round>_<replicate> give each target's columns
    their round, the likelihood raises the enrichment to it, and the run trains and predicts."""
    cfg = _compose(
        "train", tmp_path, "run", "experiment=rounds", "data.batch_size=128", "trainer.max_epochs=1",
        "+trainer.limit_train_batches=4", *QUIET_TRAINER,
    )  # fmt: skip
    result = train(cfg)
    assert result["prepared_dir"].endswith("-rounds3/prepared")
    manifest = json.loads((Path(result["prepared_dir"]) / "manifest.json").read_text())
    table = manifest["count_table"]
    for target in ("BRD4", "HSA", "sEH"):
        assert table["targets"][target]["rounds"] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
        assert [table["columns"][c] for c in table["targets"][target]["columns"]][3] == f"seq_{target}_r2_1"
    assert table["controls"] == {"matrix": [27, 28, 29]}  # the control is read once
    assert np.isfinite(result["val_spearman"])
    assert len(pd.read_parquet(tmp_path / "run" / "predictions" / "test.parquet")) > 0
