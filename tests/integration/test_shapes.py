"""Every shape of count table a lab may have, end to end: prepare → train (every loss the shape
allows, and bce) → predict → export → a LightGBM baseline → a rank blend → analyze.

The shapes vary in eight ways (``tests/shape_tables.py``); every pair of values of any two of them
appears in at least one case (an all-pairs design, ``allpairspy``), with the split as a ninth.
A loss the table cannot feed (del_qsar's z without a control) is one clear error before training."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from allpairspy import AllPairs
from hydra import compose, initialize_config_dir

from belka_lab.cli.command import input_error
from belka_lab.core.config import CONFIG_DIR
from belka_lab.models.counts import CountLikelihood
from belka_lab.models.losses import named, names
from helpers import QUIET_TRAINER
from shape_tables import Shape

VALUES = {
    "targets": [1, 3, 7],
    "controls": [0, 1, 2],
    "load": [True, False],
    "cycles": [2, 3, 4],
    "blocks": ["smiles", "ids"],
    "heldout": ["none", "id", "outside"],
    "file": ["parquet", "csv", "csv.gz"],
    "split": ["stratified", "bb", "disynthon"],
    "rounds": [1, 3],
    "model": ["cnn", "fp_mlp", "synthon", "graph"],  # what it reads: characters, ECFP bits, blocks, a graph
    "compounds": [300, 1500],  # last: the greedy design then needs few large cases
}
CASES = [dict(zip(VALUES, values)) for values in AllPairs(list(VALUES.values()))]
LOSSES = {name: named(name) for name in names()}  # the registry, conf/loss/
COUNT_LOSSES = sorted(name for name, loss in LOSSES.items() if isinstance(loss, CountLikelihood))
MODELS = {  # each network small
    "cnn": [
        "model=cnn",
        "model.backbone.embed_dim=16",
        "model.backbone.channels=[16,16]",
        "model.backbone.hidden=[32]",
    ],
    "fp_mlp": ["model=fp_mlp", "model.backbone.hidden=[32]", "data.tokenizer.n_bits=256"],
    "synthon": ["model=synthon", "model.backbone.hidden=16", "model.backbone.heads=2", "data.tokenizer.n_bits=256"],
    "graph": ["model=graph", "model.backbone.d_h=16", "model.backbone.depth=2", "model.backbone.hidden=[16]"],
}
TINY = [
    "model.eval_batch_size=1024",
    "data.batch_size=8",
    "data.prepare.progress=false",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "callbacks.model_checkpoint.monitor=val/spearman",  # hits are 1% of a few hundred compounds: val/map may have none
    *QUIET_TRAINER,
]


LEAN = ["~callbacks.epoch_curves", "~callbacks.resume_checkpoint", "~callbacks.learning_rate", "logger=[]"]


def _id(case: dict) -> str:
    c = case
    return (
        f"{c['targets']}t-{c['controls']}c-{'load' if c['load'] else 'noload'}-{c['cycles']}cy-{c['blocks']}-"
        f"heldout_{c['heldout']}-{c['file']}-{c['compounds']}-{c['split']}-{c['model']}"
        + ("-3rounds" if c["rounds"] == 3 else "")
    )


def _compose(name: str, overrides: list[str]):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose(name, overrides=overrides)


@contextmanager
def stage(name: str, case: dict):
    """A failure names the stage and the shape it failed on."""
    t0 = time.perf_counter()
    try:
        yield
        print(f"{_id(case)} {name}: {time.perf_counter() - t0:.1f} s")
    except Exception as e:
        raise AssertionError(f"{name} failed on {_id(case)}: {type(e).__name__}: {e}") from e


def test_the_shape_matrix_covers_every_pair_of_values():
    for a in VALUES:
        for b in VALUES:
            if a < b:
                pairs = {(case[a], case[b]) for case in CASES}
                assert len(pairs) == len(VALUES[a]) * len(VALUES[b]), (a, b)


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_a_table_of_this_shape_goes_from_prepare_to_a_hit_list(case, tmp_path):
    from belka_lab.analysis.analyze import AnalyzeConfig, analyze
    from belka_lab.analysis.hits import HitListConfig
    from belka_lab.baselines.fit import fit_baseline
    from belka_lab.evaluation.blending import run_blend
    from belka_lab.screen.export import export
    from belka_lab.screen.predict import predict
    from belka_lab.training.train import train

    shape = Shape(**{k: v for k, v in case.items() if k not in ("split", "model")})
    root = shape.write(tmp_path / "table")
    split = [f"split={case['split']}"] + {
        # a small table's folds: fewer block groups, a larger share of its few disynthons (of 1, 3 or 6 pairs)
        "bb": ["data.prepare.n_bb_groups=2", "data.split.share=0.5"],
        "disynthon": [f"data.split.fraction={ {2: 0.2, 3: 0.06, 4: 0.03}[shape.cycles] }"],
        "stratified": [],
    }[case["split"]]
    data = [*shape.overrides(root), *split, f"paths.root_dir={tmp_path}"]
    tiny = [*MODELS[case["model"]], *TINY]
    with stage("inspect", case):
        _inspect(shape, root, _compose("train", data).data.prepare.counts)
    losses = [name for name, loss in LOSSES.items() if shape.controls or not loss.needs_control]
    main = COUNT_LOSSES[CASES.index(case) % len(COUNT_LOSSES)]  # each case predicts with one likelihood, in turn
    runs = {}
    for loss in losses:
        with stage(f"train loss={loss}", case):
            out = tmp_path / loss
            lean = [] if loss == main else LEAN  # the other losses train, validate and stop
            cfg = _compose(
                "train",
                [*data, *tiny, *lean, f"loss={loss}", f"paths.output_dir={out}", f"predict={loss == main}"],
            )
            runs[loss] = (out, train(cfg))
    out, result = runs[main]
    manifest = json.loads((Path(result["prepared_dir"]) / "manifest.json").read_text())
    assert manifest["targets"] == sorted(shape.target_names)  # every sample but the controls, sorted
    assert manifest["sizes"]["train_molecules"] == shape.compounds
    assert manifest["sizes"]["cycles"] == shape.cycles
    table = manifest["count_table"]
    assert {t: v["control"] for t, v in table["targets"].items()} == {
        t: shape.control_of.get(t, shape.control_names[0] if shape.controls else None) for t in shape.target_names
    }
    assert (table["load"] is not None) == shape.load
    rounds = {t: v.get("rounds", [1, 1, 1]) for t, v in table["targets"].items()}
    assert rounds == {t: [r for r in range(1, shape.rounds + 1) for _ in range(3)] for t in shape.target_names}
    val = pd.read_parquet(out / "predictions" / "val.parquet")
    assert set(shape.target_names) <= set(val.columns) and len(val) > 0
    test = pd.read_parquet(out / "predictions" / "test.parquet")
    if shape.heldout == "none":
        assert result["heldout"] == "none" and len(test) == 0 and "affinity_spearman" not in result
    else:
        molecules = pd.read_csv(root / "heldout.csv")["smiles"].nunique()
        assert "heldout" not in result and len(test) == molecules
        if case["model"] == "synthon" and shape.heldout == "outside":  # no block columns: nothing to rank, said
            assert "affinity_spearman" not in result and "cannot be ranked" in result["affinity_undefined"]
        else:
            assert "affinity_spearman" in result

    for name in [] if shape.controls else [n for n, loss in LOSSES.items() if loss.needs_control]:
        with pytest.raises(Exception) as refused:
            train(_compose("train", [*data, *tiny, f"loss={name}", f"paths.output_dir={tmp_path}/z"]))
        error = input_error(refused.value)  # what the command prints, exit 2
        assert error is not None and f"{name} compares target reads with a no-target control" in str(error)
        assert not (tmp_path / "z" / "checkpoints").exists()  # refused before training

    with stage("predict", case):
        molecules = tmp_path / "new.csv"
        _source(root, shape).iloc[:25].to_csv(molecules, index=False)  # the SMILES and the block columns
        predict(
            _compose(
                "predict",
                [f"paths.output_dir={tmp_path}/pred", f"run={out}", f"input={molecules}", "smiles_column=smiles"]
                + [f"block_columns=[{','.join(shape.block_columns)}]", "progress=false"],
            )
        )
        scored = pd.read_parquet(tmp_path / "pred" / "predictions.parquet")
        assert len(scored) == len(pd.read_csv(molecules)) and np.isfinite(scored[shape.target_names].to_numpy()).all()
        if case["model"] == "synthon":  # scored from its blocks as the run scored the table's same rows
            ran = val.set_index("molecule")
            rows = [i for i in scored["id"] if i in ran.index]  # id: the row number of new.csv, the table's
            got = scored.set_index("id").loc[rows, shape.target_names].to_numpy()
            assert rows and np.allclose(got, ran.loc[rows, shape.target_names].to_numpy(), atol=1e-5)

    with stage("export format=torchscript", case):
        if case["model"] in ("synthon", "graph"):  # refused, saying why (docs/screening.md)
            with pytest.raises(Exception, match="cannot be exported to torchscript: (it reads block ids|its batched)"):
                export(out, "torchscript", tmp_path / "export" / "model.pt", check_molecules=16)
        else:
            info = export(out, "torchscript", tmp_path / "export" / "model.pt", check_molecules=16)
            assert info["targets"] == sorted(shape.target_names) and info["parity"]["max_abs_diff"] <= 1e-4

    with stage("baseline baseline=lgbm baseline.learn=counts", case):
        base = tmp_path / "lgbm"
        fit_baseline(
            _compose(
                "baseline",
                [*data, f"paths.output_dir={base}", "baseline=lgbm", "baseline.learn=counts", "ecfp.n_bits=256"]
                + ["baseline.num_boost_round=5", "baseline.log_every=0", "baseline.params.num_threads=1"],
            )
        )

    with stage("blend method=rank", case):
        run_blend(_compose("blend", [f"paths.output_dir={tmp_path}/blend", f"runs=[{out},{base}]", "method=rank"]))
        blended = json.loads((tmp_path / "blend" / "results.json").read_text())
        assert np.isfinite(blended["val_spearman"])

    with stage("analyze", case):
        config = AnalyzeConfig(cube_top=50, cube_sample=50, hits=HitListConfig(n=5, pool=3))
        analyze(result["prepared_dir"], [str(out), str(base)], tmp_path / "analysis", config)
        mono = pd.read_parquet(tmp_path / "analysis" / "synthons_mono.parquet")
        assert set(mono["cycles"]) == {str(c + 1) for c in range(shape.cycles)}
        assert len(pd.read_parquet(tmp_path / "analysis" / "hits.parquet")) == 5
        assert (tmp_path / "analysis" / "report.html").stat().st_size > 0
        said = json.loads((tmp_path / "analysis" / "analysis.json").read_text())
        assert ("heldout" in said) == (shape.heldout == "none")


def _inspect(shape: Shape, root: Path, mapping) -> None:
    """``belka inspect`` reads the roles the mapping gives; without a mapping it guesses one that
    finds the same samples (KinDEL's names: the default fits when the table has its shape)."""
    from omegaconf import OmegaConf

    from belka_lab.dataset.count_columns import CountTable, layout
    from belka_lab.dataset.inspect import inspect_table

    path = root / shape.table_file
    mapped = inspect_table(path, OmegaConf.to_container(mapping), rows=1000, parse=50)
    assert mapped.mapping_error is None and not mapped.guessed
    roles = {(s.role, s.name) for s in mapped.samples}
    assert roles == {
        *(("target", t) for t in shape.target_names),  # named as the mapping renames them
        *(("control", c) for c in shape.control_names),
        *([("load", "seq_load")] if shape.load else []),
    }
    guessed = inspect_table(path, None, rows=1000, parse=50)
    if guessed.mapping_error is None:  # the default mapping fits: KinDEL's shape
        assert shape.controls and shape.load and shape.cycles == 3 and shape.blocks == "smiles"
        return
    table = CountTable(**guessed.suggestion.mapping)
    assert table.blocks == shape.block_columns  # every cycle, a fourth too (KinDEL's default names three)
    found = layout(path, [name for name, _ in guessed.columns], table)
    assert len(found.targets) == shape.targets and len(found.controls) == shape.controls
    assert (found.load is not None) == shape.load
    assert (found.rounds is not None) == (shape.rounds > 1)  # rounds guessed from seq_<sample>_r<round>_<rep>


def _source(root: Path, shape: Shape) -> pd.DataFrame:
    """The table's SMILES and building-block columns, in its row order."""
    path = root / shape.table_file
    table = pd.read_parquet(path) if shape.file == "parquet" else pd.read_csv(path)
    return table[["smiles", *shape.block_columns]]
