"""ECFP fingerprints, the tree baselines, and blending runs."""

import json

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

from belka_lab.baselines.fit import fit_baseline
from belka_lab.core.config import CONFIG_DIR
from belka_lab.core.errors import InputError
from belka_lab.evaluation.blending import blend, check_compatible, fit_weights, run_blend, val_map
from belka_lab.features.fingerprints import ECFPConfig, cached_ecfp, ecfp, to_csr, unpack
from helpers import belka, compose_run

SMILES = [
    "C#CC[C@@H](CC(=O)N[Dy])Nc1nc(Nc2ccc(C=C)cc2)nc(Nc2ccc(C=C)cc2)n1",
    "O=C(N[Dy])[C@@H](Cc1ccccc1)Nc1nc(NCCO)nc(NCc2ccc(Br)cc2)n1",
    "CCO",
]


def _rdkit_bits(smiles, n_bits=2048):
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=n_bits)
    return np.stack([gen.GetFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in smiles])


@pytest.mark.parametrize("workers", [1, 2])
def test_ecfp_bits_equal_rdkits(workers):
    bits, bad = ecfp(SMILES * 3, ECFPConfig(chunk=2, workers=workers))
    assert bad == []
    assert bits.shape == (9, 256)
    assert np.array_equal(unpack(bits, 2048), np.tile(_rdkit_bits(SMILES), (3, 1)))
    methyl, _ = ecfp(SMILES, ECFPConfig(n_bits=1024, dy="methyl", workers=1))
    assert np.array_equal(unpack(methyl, 1024), _rdkit_bits([s.replace("[Dy]", "C") for s in SMILES], 1024))
    csr = to_csr(bits, 2048)
    assert np.array_equal(csr.toarray(), unpack(bits, 2048))


def test_unparsable_molecule_names_its_row_or_is_zeroed_on_request():
    with pytest.raises(InputError, match=r"1 molecules \(rows 1\).*ecfp.invalid=zeros"):
        ecfp(["CCO", "C1CC", "CCN"], ECFPConfig(workers=1))
    bits, bad = ecfp(["CCO", "C1CC", "CCN"], ECFPConfig(workers=1, invalid="zeros"))
    assert bad == [1] and not bits[1].any() and bits[0].any() and bits[2].any()


def test_fingerprint_cache_is_reused_and_keyed_by_parameters(tiny_prepared):
    a = cached_ecfp(tiny_prepared, ECFPConfig(n_bits=512, workers=1))
    path = tiny_prepared / "fingerprints" / "ecfp-r2-512-dykeep"
    stamp = (path / "train.npy").stat().st_mtime_ns
    b = cached_ecfp(tiny_prepared, ECFPConfig(n_bits=512, workers=1))
    assert (path / "train.npy").stat().st_mtime_ns == stamp and np.array_equal(a["train"], b["train"])
    n_train = json.loads((tiny_prepared / "manifest.json").read_text())["sizes"]["train_molecules"]
    assert a["train"].shape == (n_train, 64) and json.loads((path / "info.json").read_text())["params"]["n_bits"] == 512
    cached_ecfp(tiny_prepared, ECFPConfig(n_bits=256, workers=1))
    assert (tiny_prepared / "fingerprints" / "ecfp-r2-256-dykeep" / "info.json").exists()


_cfg = compose_run


@pytest.fixture(scope="module")
def baseline_runs(rich_library, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("baselines")
    common = ["ecfp.n_bits=1024", "max_train_molecules=8000"]
    lgbm = fit_baseline(
        _cfg(
            "baseline",
            tmp,
            rich_library,
            "lgbm",
            *common,
            "baseline.params.num_leaves=15",
            "baseline.params.learning_rate=0.1",
            "baseline.num_boost_round=200",
        )
    )
    rf = fit_baseline(
        _cfg(
            "baseline",
            tmp,
            rich_library,
            "rf",
            *common,
            "baseline=rf",
            "baseline.n_estimators=60",
            "baseline.min_samples_leaf=2",
        )
    )
    return tmp, lgbm, rf


def test_tree_baselines_learn_the_synthetic_library(baseline_runs):
    tmp, lgbm, rf = baseline_runs
    for name, result in (("lgbm", lgbm), ("rf", rf)):
        table = pd.read_csv(tmp / name / "results.csv")
        val = table.query("set == 'val' and protein != 'mean'")
        assert (val["ap"] > 2 * val["random_ap"]).all(), (name, val)
        assert (tmp / name / "submission.csv").exists() and (tmp / name / "predictions" / "test.parquet").exists()
        assert result["train_molecules"] == 8000
    assert all(v["best_iteration"] >= 1 for v in lgbm["models"].values())


def _blend_cfg(tmp, runs, method, out="blend", **kw):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        over = [
            f"paths.root_dir={tmp}",
            f"paths.output_dir={tmp}/{out}",
            f"runs=[{','.join(str(r) for r in runs)}]",
            f"method={method}",
        ]
        return compose("blend", overrides=over + [f"{k}={v}" for k, v in kw.items()])


def test_blend_of_a_run_with_itself_equals_the_run(baseline_runs):
    tmp = baseline_runs[0]
    for method in ("mean", "rank"):
        summary = run_blend(_blend_cfg(tmp, [tmp / "lgbm", tmp / "lgbm"], method, out=f"self_{method}"))
        assert summary.iloc[-1]["val_map"] == pytest.approx(summary.iloc[0]["val_map"], abs=1e-12)
        assert summary.iloc[-1]["test_score"] == pytest.approx(summary.iloc[0]["test_score"], abs=1e-12)
    a = pd.read_parquet(tmp / "self_mean" / "predictions" / "test.parquet")
    b = pd.read_parquet(tmp / "lgbm" / "predictions" / "test.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_blend_of_two_baselines_writes_a_valid_submission_and_plot(baseline_runs):
    tmp = baseline_runs[0]
    summary = run_blend(_blend_cfg(tmp, [tmp / "lgbm", tmp / "rf"], "optuna", out="opt", n_trials=12))
    info = json.loads((tmp / "opt" / "results.json").read_text())
    assert len(info["weights"]) == 2 and abs(sum(info["weights"]) - 1) < 1e-9 and "honest_val_map" in info
    assert summary.iloc[-1]["val_map"] >= summary.iloc[:2]["val_map"].max() - 1e-12
    assert (tmp / "opt" / "blend.png").read_bytes()[:4] == b"\x89PNG" and (tmp / "opt" / "submission.csv").exists()


def _run(name, val_probs, labels, test_probs, fold=0, molecules=None):
    n = len(val_probs)
    val = pd.DataFrame({"molecule": molecules if molecules is not None else np.arange(n), "fold": np.full(n, fold)})
    for k, p in enumerate(("BRD4", "HSA", "sEH")):
        val[p] = val_probs[:, k]
    for k, p in enumerate(("BRD4", "HSA", "sEH")):
        val[f"label_{p}"] = labels[:, k]
    test = pd.DataFrame(
        {"molecule": np.arange(len(test_probs)), **{p: test_probs[:, k] for k, p in enumerate(("BRD4", "HSA", "sEH"))}}
    )
    return {
        "dir": name,
        "name": name,
        "val": val,
        "test": test,
        "info": {"fold_column": "fold_stratified", "prepared_dir": "/p"},
    }


def test_mean_and_rank_blends_on_hand_made_predictions():
    labels = np.array([[1, 0, -1], [0, 1, 0], [0, 0, 1]])
    a = _run(
        "a",
        np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.1], [0.1, 0.3, 0.4]]),
        labels,
        np.array([[0.2, 0.4, 0.6], [0.8, 0.6, 0.4]]),
    )
    b = _run(
        "b",
        np.array([[0.1, 0.3, 0.3], [0.5, 0.2, 0.2], [0.3, 0.9, 0.9]]),
        labels,
        np.array([[0.4, 0.4, 0.0], [0.0, 0.2, 1.0]]),
    )
    val, test, _ = blend([a, b], "mean")
    np.testing.assert_allclose(val[0], [0.5, 0.2, 0.4])
    np.testing.assert_allclose(test[1], [0.4, 0.4, 0.7])
    val, test, _ = blend([a, b], "rank")
    # BRD4 ranks in a: 3,2,1 (/3); in b: 1,3,2 (/3)  →  mean (4/6, 5/6, 3/6)
    np.testing.assert_allclose(val[:, 0], [4 / 6, 5 / 6, 3 / 6])
    # test sEH: a 2,1; b 1,2 (/2) → tie 0.75 each
    np.testing.assert_allclose(test[:, 2], [0.75, 0.75])


def test_optuna_weights_are_never_worse_than_the_best_single_run():
    rng = np.random.default_rng(0)
    labels = (rng.random((300, 3)) < 0.1).astype(np.int8)
    stack = np.stack([(labels * s + rng.random((300, 3))) / (1 + s) for s in (0.2, 0.5, 0.05)])
    w = fit_weights(stack, labels, n_trials=8, seed=1)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
    assert val_map(np.tensordot(w, stack, 1), labels) >= max(val_map(s, labels) for s in stack) - 1e-12


def test_mismatched_runs_are_rejected():
    labels = np.zeros((3, 3), np.int8)
    p = np.full((3, 3), 0.5)
    a = _run("a", p, labels, p)
    with pytest.raises(InputError, match="different molecules"):
        check_compatible([a, _run("b", p, labels, p, molecules=np.array([0, 1, 5]))])
    with pytest.raises(InputError, match="different folds"):
        check_compatible([a, _run("c", p, labels, p, fold=1)])
    with pytest.raises(InputError, match="different test sets"):
        check_compatible([a, _run("d", p, labels, p[:2])])


def test_blend_command_exits_2_naming_the_missing_run(tmp_path):

    r = belka(
        "blend",
        f"runs=[{tmp_path}/a,{tmp_path}/b]",
        f"paths.root_dir={tmp_path}",
        f"hydra.run.dir={tmp_path}/out",
    )
    assert r.returncode == 2 and f"run {tmp_path}/a has no" in r.stderr and "Traceback" not in r.stderr
