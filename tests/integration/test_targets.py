"""Targets come from the data: a library of 1 or 7 targets trains, scores, blends and predicts with
one column, head output and metric per target (BELKA's 3 are every other test's)."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hydra import compose, initialize_config_dir

from belka_lab.baselines.fit import fit_baseline
from belka_lab.core.config import CONFIG_DIR
from belka_lab.dataset.store import PreparedDataset
from belka_lab.evaluation.blending import run_blend
from belka_lab.screen.predict import predict
from belka_lab.training.train import train
from helpers import QUIET_TRAINER, compose_run

SEVEN = ("ABL1", "DDR1", "EGFR", "KRAS", "MAPK14", "TP53", "sEH")


def _relabelled(src, out, targets: tuple[str, ...]):
    """The rich library's first 8,000 molecules with their proteins renamed: target k takes BELKA
    protein k % 3's rows (train rows repeated under new ids); test rows keep one name per BELKA
    protein (those present)."""
    out.mkdir()
    old = ("BRD4", "HSA", "sEH")
    train = pq.read_table(src / "train.parquet")
    first = pc.unique(train["molecule_smiles"])[:8000]
    train = train.filter(pc.is_in(train["molecule_smiles"], first))
    parts = []
    for k, name in enumerate(targets):
        rows = train.filter(pc.equal(train["protein_name"], old[k % 3]))
        rows = rows.set_column(0, "id", pc.add(rows["id"], pa.scalar(k * 10_000_000, pa.int64())))
        parts.append(
            rows.set_column(rows.schema.get_field_index("protein_name"), "protein_name", pa.array([name] * len(rows)))
        )
    merged = pa.concat_tables(parts).to_pandas().sort_values(["molecule_smiles", "id"], kind="stable")
    pq.write_table(pa.Table.from_pandas(merged, preserve_index=False), out / "train.parquet")
    test = pq.read_table(src / "test.parquet")
    keep = pc.is_in(test["protein_name"], pa.array(old[: len(targets)]))
    test = test.filter(keep)
    renamed = [targets[old.index(p)] for p in test["protein_name"].to_pylist()]
    test = test.set_column(test.schema.get_field_index("protein_name"), "protein_name", pa.array(renamed))
    pq.write_table(test, out / "test.parquet")
    solution = pq.read_table(src / "test_solution.parquet")
    pq.write_table(solution.filter(pc.is_in(solution["id"], test["id"])), out / "test_solution.parquet")
    return out


@pytest.mark.parametrize("targets", [("MAPK14",), SEVEN], ids=["1 target", "7 targets"])
def test_any_number_of_targets_trains_scores_blends_and_predicts(tmp_path, rich_library, targets):
    lib = _relabelled(rich_library, tmp_path / "lib", targets)
    common = ["data.solution_file=${data.root}/test_solution.parquet", "data.batch_size=64", "data.eval_batch_size=512"]
    nn = compose_run(
        "train", tmp_path, lib, "nn", *common, "trainer.max_epochs=1", "+trainer.limit_train_batches=6", *QUIET_TRAINER
    )
    result = train(nn)
    store = PreparedDataset(tmp_path / "prepared")
    assert store.targets == tuple(sorted(targets))  # found in the file, sorted
    assert store.train("labels").shape[1] == len(targets)
    assert result["targets"] == list(store.targets)
    val = pd.read_parquet(tmp_path / "nn" / "predictions" / "val.parquet")
    assert [c for c in val.columns if c in targets] == list(store.targets)
    assert [c for c in val.columns if c.startswith("label_")] == [f"label_{t}" for t in store.targets]
    table = pd.read_csv(tmp_path / "nn" / "results.csv")
    assert set(table.query("set == 'val' and protein != 'mean'")["protein"]) <= set(targets)
    assert set(table.query("set == 'test' and protein != 'mean'")["protein"]) <= set(targets)
    for t in store.targets:
        assert (tmp_path / "nn" / "plots" / f"pr_{t}.png").exists()

    rf = compose_run(
        "baseline", tmp_path, lib, "rf", *common, "baseline=rf", "baseline.n_estimators=10", "ecfp.n_bits=256"
    )
    fit_baseline(rf)
    rf_test = pd.read_parquet(tmp_path / "rf" / "predictions" / "test.parquet")
    assert list(rf_test.columns) == ["molecule", *store.targets]

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        blend_cfg = compose(
            "blend",
            overrides=[f"paths.output_dir={tmp_path}/blend", f"runs=[{tmp_path}/nn,{tmp_path}/rf]", "method=rank"],
        )
    run_blend(blend_cfg)
    blended = pd.read_parquet(tmp_path / "blend" / "predictions" / "val.parquet")
    assert list(blended.columns[3 : 3 + len(targets)]) == list(store.targets)

    smiles = tmp_path / "new.csv"
    pd.DataFrame({"smiles": pd.read_parquet(lib / "test.parquet")["molecule_smiles"].unique()[:50]}).to_csv(
        smiles, index=False
    )
    for run in ("nn", "rf"):
        with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
            cfg = compose(
                "predict",
                overrides=[
                    f"paths.root_dir={tmp_path}",
                    f"paths.output_dir={tmp_path}/{run}_predict",
                    f"run={tmp_path}/{run}",
                    f"input={smiles}",
                    "smiles_column=smiles",
                    "progress=false",
                ],
            )
        summary = predict(cfg)
        scored = pd.read_parquet(tmp_path / f"{run}_predict" / "predictions.parquet")
        assert [c for c in scored.columns if c in targets] == list(store.targets)
        assert scored[list(store.targets)].notna().all().all()
        assert summary["targets"] == list(store.targets)
        written = json.loads((tmp_path / f"{run}_predict" / "predict.json").read_text())
        assert set(written["hits"]["all"]) == set(targets)
