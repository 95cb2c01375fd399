"""belka predict and belka export on a trained run of the tiny library: every input format,
every invalid-input policy, resume after SIGKILL, two processes, blends, tree models, exported files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hydra import compose, initialize_config_dir

from belka_lab.baselines.fit import fit_baseline
from belka_lab.core.config import CONFIG_DIR
from belka_lab.core.errors import InputError
from belka_lab.dataset.store import PreparedDataset
from belka_lab.screen.export import export
from belka_lab.screen.predict import predict
from belka_lab.training.train import train
from helpers import QUIET_TRAINER, belka, compose_run

P = ["BRD4", "HSA", "sEH"]


@pytest.fixture(scope="module")
def trained(tiny_library, tmp_path_factory):
    """A briefly trained CNN run with its config.yaml and best checkpoint."""
    tmp = tmp_path_factory.mktemp("predict")
    cfg = compose_run(
        "train",
        tmp,
        tiny_library,
        "run",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=8",
        "data.batch_size=64",
        "data.eval_batch_size=256",
        *QUIET_TRAINER,
    )
    train(cfg)
    return tmp, tmp / "run"


def _predict(tmp: Path, *overrides: str) -> dict:
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "predict",
            overrides=[f"paths.root_dir={tmp}", f"paths.output_dir={tmp}/predict", "progress=false", *overrides],
        )
    return predict(cfg)


def _run_test_scores(tiny_library: Path, run: Path) -> pd.DataFrame:
    """The run's own test predictions, one row per row of the test file (by id)."""
    store = PreparedDataset(json.loads((run / "results.json").read_text())["prepared_dir"])
    rows = store.test_rows()
    test = pd.read_parquet(run / "predictions" / "test.parquet")
    return rows.merge(test, on="molecule").set_index("id")


def test_scores_of_the_test_file_equal_the_runs_own_test_predictions(trained, tiny_library):
    tmp, run = trained
    out = tmp / "file.parquet"
    s = _predict(
        tmp,
        f"run={run}",
        f"input={tiny_library / 'test.parquet'}",
        f"output={out}",
        "chunk_rows=500",
        "passthrough=[protein_name]",
    )
    got = pd.read_parquet(out)
    source = pq.read_table(tiny_library / "test.parquet").to_pandas()
    assert got["id"].tolist() == source["id"].tolist()  # input order, every row once
    assert got["protein_name"].tolist() == source["protein_name"].tolist()
    expected = _run_test_scores(tiny_library, run).loc[got["id"], P].to_numpy()
    np.testing.assert_allclose(got[P].to_numpy(), expected, atol=1e-6)
    assert s["rows"] == len(source) and s["invalid"] == 0 and s["chunks"] == -(-len(source) // 500)
    assert (tmp / "predict" / "predict.png").stat().st_size > 10_000
    # the overview's hits: molecules at or above 0.1, per group, as counted from the file
    report = json.loads((tmp / "predict" / "predict.json").read_text())
    assert report["groups"] == got["group"].value_counts().to_dict()
    for group, rows in got.groupby("group"):
        for p in P:
            assert report["hits"][group][p][">=0.1"] == int((rows[p] >= 0.1).sum())
    # applicability: blocks of the run's training molecules, counted independently of the screen
    store = PreparedDataset(tmp / "prepared")
    train_idx = np.flatnonzero(np.asarray(store.train("fold_stratified")) != 0)
    blocks = pd.read_parquet(store.path / "building_blocks.parquet").set_index("bb_id")["smiles"]
    known = set(blocks.loc[np.unique(np.asarray(store.train("bb_ids"))[train_idx])])
    cols = ["buildingblock1_smiles", "buildingblock2_smiles", "buildingblock3_smiles"]
    seen = source[cols].isin(known).sum(axis=1).to_numpy()
    assert np.array_equal(got["blocks_seen"].to_numpy(), seen)
    assert set(got["group"][seen == 3]) == {"share"} and set(got["group"][seen == 0]) == {"non_share"}
    assert set(seen) >= {0, 3}  # the synthetic test file has both


def _smiles_and_ids(tiny_library: Path, n: int = 700) -> tuple[list[str], list[int]]:
    t = pq.read_table(tiny_library / "test.parquet", columns=["id", "molecule_smiles"]).slice(0, n)
    return t.column("molecule_smiles").to_pylist(), t.column("id").to_pylist()


def test_every_input_format_gives_the_same_scores(trained, tiny_library):
    tmp, run = trained
    smiles, ids = _smiles_and_ids(tiny_library)
    d = tmp / "formats"
    d.mkdir()
    pd.DataFrame({"id": ids, "molecule_smiles": smiles, "note": "x"}).to_csv(d / "in.csv", index=False)
    pd.DataFrame({"smi": smiles, "id": ids}).to_csv(d / "in.csv.gz", index=False)
    (d / "in.smi").write_text("".join(f"{s}\t{i}\n" for s, i in zip(smiles, ids)))
    (d / "bare.smi").write_text("".join(f"{s}\n" for s in smiles))
    (d / "parts").mkdir()
    pq.write_table(pa.table({"molecule_smiles": smiles[:300], "id": ids[:300]}), d / "parts" / "a.parquet")
    pq.write_table(pa.table({"molecule_smiles": smiles[300:], "id": ids[300:]}), d / "parts" / "b.parquet")
    reference = None
    for name, extra in (
        ("in.csv", ["passthrough=[note]"]),
        ("in.csv.gz", ["smiles_column=smi"]),
        ("in.smi", []),
        ("bare.smi", []),
        ("parts", []),
    ):
        out = d / f"out-{name}.parquet"
        _predict(tmp, f"run={run}", f"input={d / name}", f"output={out}", "chunk_rows=128", *extra)
        got = pd.read_parquet(out)
        if name == "bare.smi":  # no id column: the row number
            assert got["id"].tolist() == list(range(len(smiles)))
        else:
            assert [int(i) for i in got["id"]] == ids
        if reference is None:
            reference = got[P].to_numpy()
            assert got["note"].eq("x").all()
        np.testing.assert_array_equal(got[P].to_numpy(), reference)
    # a directory output: parts, the manifest last, the same rows
    out = d / "out-dir"
    _predict(tmp, f"run={run}", f"input={d / 'in.csv'}", f"output={out}", "chunk_rows=128")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows_written"] == len(smiles) and len(manifest["parts"]) == -(-len(smiles) // 128)
    joined = pd.concat([pd.read_parquet(out / p) for p in manifest["parts"]])
    np.testing.assert_array_equal(joined[P].to_numpy(), reference)


def test_a_missing_column_or_input_is_one_clear_error(trained, tiny_library, tmp_path):
    tmp, run = trained
    with pytest.raises(InputError, match=r"has no column 'smiles'.*its columns: id, buildingblock1_smiles"):
        _predict(tmp, f"run={run}", f"input={tiny_library / 'test.parquet'}", "smiles_column=smiles")
    with pytest.raises(InputError, match="exactly one of run="):
        _predict(tmp, f"input={tiny_library / 'test.parquet'}")
    with pytest.raises(InputError, match="does not exist"):
        _predict(tmp, f"run={run}", f"input={tmp_path / 'none.csv'}")


BAD = {3: "", 5: "CCZC", 8: "C" * 200}  # row → SMILES: empty, a character outside the dictionary, too long


def _bad_input(tiny_library: Path, path: Path) -> tuple[list[str], list[int]]:
    smiles, ids = _smiles_and_ids(tiny_library, 40)
    for row, s in BAD.items():
        smiles[row] = s
    smiles[11] = None  # missing
    pq.write_table(pa.table({"molecule_smiles": pa.array(smiles, pa.string()), "id": ids}), path)
    return smiles, ids


def test_invalid_rows_stop_the_screen_or_are_skipped_or_kept_as_nan_and_listed(trained, tiny_library):
    tmp, run = trained
    src = tmp / "bad.parquet"
    smiles, ids = _bad_input(tiny_library, src)
    bad_rows = sorted([*BAD, 11])
    with pytest.raises(
        InputError, match=r"4 molecules of rows 0–39 cannot be scored \(row 3 \(id \d+\): missing SMILES"
    ):
        _predict(tmp, f"run={run}", f"input={src}", f"output={tmp / 'bad-error.parquet'}")
    r = belka(
        "predict",
        f"run={run}",
        f"input={src}",
        f"output={tmp / 'bad-cli.parquet'}",
        "progress=false",
        f"hydra.run.dir={tmp / 'bad-cli'}",
        cwd=tmp,
    )
    assert r.returncode == 2 and "error:" in r.stderr and "row 5" in r.stderr and "Traceback" not in r.stderr
    s = _predict(
        tmp, f"run={run}", f"input={src}", f"output={tmp / 'bad-skip.parquet'}", "on_invalid=skip", "chunk_rows=16"
    )
    skipped = pd.read_parquet(tmp / "bad-skip.parquet")
    assert skipped["id"].tolist() == [i for k, i in enumerate(ids) if k not in bad_rows]
    listed = pd.read_csv(tmp / "bad-skip.invalid.csv")
    assert listed["row"].tolist() == bad_rows and listed["id"].tolist() == [ids[k] for k in bad_rows]
    reasons = dict(zip(listed["row"], listed["reason"]))
    assert reasons[3] == reasons[11] == "missing SMILES"
    assert "outside the model's vocabulary" in reasons[5] and "longer than the 142 characters" in reasons[8]
    assert s["invalid"] == 4
    _predict(tmp, f"run={run}", f"input={src}", f"output={tmp / 'bad-nan.parquet'}", "on_invalid=nan")
    kept = pd.read_parquet(tmp / "bad-nan.parquet")
    assert kept["id"].tolist() == ids
    assert kept[P].isna().all(axis=1).to_numpy().nonzero()[0].tolist() == bad_rows
    np.testing.assert_allclose(kept.drop(index=bad_rows)[P].to_numpy(), skipped[P].to_numpy(), atol=1e-7)


def _big_input(tiny_library: Path, path: Path, copies: int = 20) -> None:
    t = pq.read_table(tiny_library / "test.parquet", columns=["id", "molecule_smiles"])
    pq.write_table(pa.concat_tables([t] * copies), path)


def test_a_screen_killed_with_sigkill_resumes_to_the_uninterrupted_output_byte_for_byte(trained, tiny_library):
    tmp, run = trained
    src = tmp / "big.parquet"
    _big_input(tiny_library, src, copies=8)
    args = [f"run={run}", f"input={src}", "chunk_rows=400", "progress=false"]
    out = tmp / "killed.parquet"
    parts = tmp / ".killed.parquet.parts"
    proc = subprocess.Popen(
        [sys.executable, "-m", "belka_lab", "predict", *args, f"output={out}", f"hydra.run.dir={tmp / 'killed-run'}"],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 300
    while len(list(parts.glob("part-*[0-9].parquet"))) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(list(parts.glob("part-*[0-9].parquet")))
    n_chunks = -(-pq.ParquetFile(src).metadata.num_rows // 400)
    assert proc.returncode == -9 and 3 <= written < n_chunks and not out.exists()
    s = _predict(tmp, *args, f"output={out}")
    assert s["scored_here"] < s["rows"]  # only the chunks the killed screen had not written
    _predict(tmp, *args, f"output={tmp / 'whole.parquet'}")
    assert out.read_bytes() == (tmp / "whole.parquet").read_bytes()
    assert not parts.exists()
    parts.mkdir()  # parts of a screen with other settings are not continued
    (parts / "job.json").write_text(json.dumps({"chunk_rows": 1}))
    with pytest.raises(InputError, match="holds part of another screen .* chunk_rows"):
        _predict(tmp, *args, f"output={out}")


def test_two_processes_score_whole_chunks_each_molecule_once(trained, tiny_library):
    tmp, run = trained
    src = tmp / "ddp-in.parquet"
    _big_input(tiny_library, src, copies=2)
    common = [f"run={run}", f"input={src}", "chunk_rows=300", "progress=false"]
    r = belka(
        "predict",
        *common,
        "trainer=ddp_cpu",
        f"output={tmp / 'ddp.parquet'}",
        f"hydra.run.dir={tmp / 'ddp-run'}",
        cwd=tmp,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "on 2 processes" in r.stdout
    _predict(tmp, *common, f"output={tmp / 'one.parquet'}")
    ddp, one = pd.read_parquet(tmp / "ddp.parquet"), pd.read_parquet(tmp / "one.parquet")
    assert len(ddp) == pq.ParquetFile(src).metadata.num_rows
    pd.testing.assert_frame_equal(ddp, one)
    # bad rows in both processes' chunks: the command stops with the error, no process left waiting
    bad = tmp / "ddp-bad.parquet"
    _bad_input(tiny_library, bad)
    r = belka(
        "predict",
        f"run={run}",
        f"input={bad}",
        "chunk_rows=8",
        "progress=false",
        "trainer=ddp_cpu",
        f"output={tmp / 'ddp-bad-out.parquet'}",
        f"hydra.run.dir={tmp / 'ddp-bad-run'}",
        cwd=tmp,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert r.returncode != 0 and "cannot be scored" in r.stderr, r.stderr[-3000:]


def test_blends_and_tree_models_score_files_like_their_runs(trained, tiny_library):
    tmp, run = trained
    second = compose_run(
        "train",
        tmp,
        tiny_library,
        "run2",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=4",
        "data.batch_size=64",
        "seed=7",
        *QUIET_TRAINER,
    )
    train(second)
    src = tiny_library / "test.parquet"
    a = pd.read_parquet(Path(_predict(tmp, f"run={run}", f"input={src}", f"output={tmp / 'a.parquet'}")["output"]))
    b = pd.read_parquet(
        Path(_predict(tmp, f"run={tmp / 'run2'}", f"input={src}", f"output={tmp / 'b.parquet'}")["output"])
    )
    _predict(tmp, f"runs=[{run},{tmp / 'run2'}]", "weights=[1,3]", f"input={src}", f"output={tmp / 'ab.parquet'}")
    ab = pd.read_parquet(tmp / "ab.parquet")
    np.testing.assert_allclose(ab[P].to_numpy(), 0.25 * a[P].to_numpy() + 0.75 * b[P].to_numpy(), atol=1e-6)
    # the ensemble's spread: the weighted standard deviation, √(¼·¾)·|a − b| for two runs
    spread = np.sqrt(0.25 * 0.75) * np.abs(a[P].to_numpy() - b[P].to_numpy())
    np.testing.assert_allclose(ab[[f"{p}_std" for p in P]].to_numpy(), spread, atol=1e-5)
    # a blend run's own weights
    from belka_lab.evaluation.blending import run_blend

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        bcfg = compose(
            "blend", overrides=[f"runs=[{run},{tmp / 'run2'}]", f"paths.output_dir={tmp}/blend", "method=mean"]
        )
    run_blend(bcfg)
    _predict(tmp, f"run={tmp / 'blend'}", f"input={src}", f"output={tmp / 'blend.parquet'}")
    np.testing.assert_allclose(
        pd.read_parquet(tmp / "blend.parquet")[P].to_numpy(), 0.5 * (a[P].to_numpy() + b[P].to_numpy()), atol=1e-6
    )
    # a LightGBM baseline: its saved models score the test file as the run did
    lgbm = compose_run(
        "baseline",
        tmp,
        tiny_library,
        "lgbm",
        "ecfp.n_bits=256",
        "baseline.num_boost_round=30",
        "baseline.params.num_leaves=7",
        "baseline.log_every=0",
    )
    fit_baseline(lgbm)
    _predict(tmp, f"run={tmp / 'lgbm'}", f"input={src}", f"output={tmp / 'lgbm.parquet'}")
    got = pd.read_parquet(tmp / "lgbm.parquet")
    expected = _run_test_scores(tiny_library, tmp / "lgbm").loc[got["id"], P].to_numpy()
    np.testing.assert_allclose(got[P].to_numpy(), expected, atol=1e-6)
    # a molecule RDKit cannot parse (its characters are fine) is invalid for the tree model only
    odd = tmp / "odd.csv"
    pd.DataFrame({"molecule_smiles": ["C1CC(N[Dy])", "CCO"], "id": [1, 2]}).to_csv(odd, index=False)
    s = _predict(tmp, f"run={tmp / 'lgbm'}", f"input={odd}", f"output={tmp / 'odd.parquet'}", "on_invalid=nan")
    assert s["invalid"] == 1 and pd.read_csv(tmp / "odd.invalid.csv")["reason"].tolist() == ["RDKit cannot parse it"]
    assert pd.read_parquet(tmp / "odd.parquet")[P].isna().all(axis=1).tolist() == [True, False]
    assert _predict(tmp, f"run={run}", f"input={odd}", f"output={tmp / 'odd-cnn.parquet'}")["invalid"] == 0


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_an_exported_run_scores_like_the_run(trained, tiny_library, fmt):
    tmp, run = trained
    info = export(run, fmt, tmp / f"export-{fmt}" / ("m.onnx" if fmt == "onnx" else "m.pt"))
    assert info["parity"]["max_abs_diff"] <= 1e-4 and info["input_dtype"] == "uint8"
    sidecar = json.loads(Path(info["file"]).with_suffix(".json").read_text())
    assert (
        sidecar["tokens"]["pad_id"] == 0
        and sidecar["tokens"]["width"] == 142
        and len(sidecar["tokens"]["vocabulary"]) == 36
    )
    src = tiny_library / "test.parquet"
    _predict(tmp, f"model_file={info['file']}", f"input={src}", f"output={tmp / f'{fmt}.parquet'}")
    _predict(tmp, f"run={run}", f"input={src}", f"output={tmp / 'ref.parquet'}")
    got, ref = pd.read_parquet(tmp / f"{fmt}.parquet"), pd.read_parquet(tmp / "ref.parquet")
    assert np.abs(got[P].to_numpy() - ref[P].to_numpy()).max() <= 1e-5
    pd.testing.assert_frame_equal(got.drop(columns=P), ref.drop(columns=P))  # ids and applicability travel too


@pytest.mark.parametrize(
    "tokens",
    [
        ["tokenizer=atom"],
        [
            "experiment=chemberta",
            *(
                f"model.backbone.config.{k}={v}"
                for k, v in dict(
                    hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64
                ).items()
            ),
            "data.tokenizer.vocab_size=96",
        ],
    ],
    ids=["atom", "bpe"],
)
def test_runs_on_other_tokenizers_encode_new_molecules_as_their_training_did(tiny_library, tmp_path, tokens):
    """Atom tokens and a BPE tokenizer: the screen encodes SMILES itself; its scores of the test
    file equal the run's own test predictions, made from the cached token ids."""
    cfg = compose_run(
        "train",
        tmp_path,
        tiny_library,
        "run",
        *tokens,
        f"data.tokenizer.path={tmp_path}/tokenizer",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=3",
        "data.batch_size=64",
        *QUIET_TRAINER,
    )
    train(cfg)
    out = tmp_path / "out.parquet"
    s = _predict(tmp_path, f"run={tmp_path / 'run'}", f"input={tiny_library / 'test.parquet'}", f"output={out}")
    got = pd.read_parquet(out)
    expected = _run_test_scores(tiny_library, tmp_path / "run").loc[got["id"], P].to_numpy()
    np.testing.assert_allclose(got[P].to_numpy(), expected, atol=1e-5)
    assert s["invalid"] == 0


def test_a_run_of_the_previous_release_is_read_through_its_hydra_directory(trained, tiny_library, tmp_path):
    """Runs written before config.yaml existed: Hydra's unresolved config, resolved against the run's own cwd,
    naming the classes where belka_lab 0.5.0 had them."""
    import shutil

    from omegaconf import OmegaConf

    tmp, run = trained
    old = tmp_path / "old_run"
    shutil.copytree(run, old)
    text = (old / "config.yaml").read_text()
    for now, then in (
        ("loading.datamodule.", "data.datamodule."),
        ("loading.loader.", "data.loader."),
        ("dataset.folds.", "data.folds."),
    ):
        assert f"belka_lab.{now}" in text or now == "loading.loader."
        text = text.replace(f"belka_lab.{now}", f"belka_lab.{then}")  # the classes where 0.5.0 had them
    cfg = OmegaConf.create(text)
    (old / "config.yaml").unlink()
    (old / ".hydra").mkdir()
    cfg.paths.root_dir = "${oc.env:BELKA_LAB_ROOT,${hydra:runtime.cwd}}"  # as Hydra saves it
    cfg.paths.output_dir = "${hydra:runtime.output_dir}"
    cfg.data.prepared_dir = "${paths.root_dir}/prepared"
    OmegaConf.save(cfg, old / ".hydra" / "config.yaml")
    OmegaConf.save({"hydra": {"runtime": {"cwd": str(tmp), "output_dir": str(run)}}}, old / ".hydra" / "hydra.yaml")
    env = os.environ.pop("BELKA_LAB_ROOT", None)
    try:
        _predict(tmp, f"run={old}", f"input={tiny_library / 'test.parquet'}", f"output={tmp_path / 'old.parquet'}")
    finally:
        if env is not None:
            os.environ["BELKA_LAB_ROOT"] = env
    _predict(tmp, f"run={run}", f"input={tiny_library / 'test.parquet'}", f"output={tmp_path / 'new.parquet'}")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "old.parquet"), pd.read_parquet(tmp_path / "new.parquet"))
