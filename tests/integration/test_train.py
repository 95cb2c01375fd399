"""The real config, composed with Hydra and forced onto a small CPU budget."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from belka_lab.core.config import CONFIG_DIR
from belka_lab.dataset.store import PreparedDataset
from belka_lab.evaluation.submission import check
from belka_lab.training.train import train
from helpers import belka


def _cfg(tmp_path, library, *overrides):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"paths.root_dir={tmp_path}",
                f"paths.output_dir={tmp_path}/run",
                f"data.root={library}",
                f"data.prepared_dir={tmp_path}/prepared",
                "data.synth=null",
                "data.prepare.progress=false",
                "trainer.enable_progress_bar=false",
                "trainer.enable_model_summary=false",
                *overrides,
            ],
        )


def test_fast_dev_run_trains_one_batch_and_writes_no_results(tmp_path, tiny_library):
    result = train(_cfg(tmp_path, tiny_library, "debug=fdr", "data.batch_size=32"))
    assert "fit_seconds" in result
    assert not (tmp_path / "run" / "submission.csv").exists()


def test_end_to_end_run_writes_a_valid_submission_and_results(tmp_path, tiny_library):
    result = train(
        _cfg(tmp_path, tiny_library, "data.batch_size=64", "trainer.max_epochs=1", "+trainer.limit_train_batches=10")
    )
    run = tmp_path / "run"
    d = PreparedDataset(tmp_path / "prepared")
    test_ids = d.test_rows()["id"].to_numpy()
    sub = check(run / "submission.csv", test_ids)
    assert len(sub) == len(test_ids)
    val = pd.read_parquet(run / "predictions" / "val.parquet")
    val_idx = np.flatnonzero(np.asarray(d.train("fold_stratified")) == 0)
    assert np.array_equal(val["molecule"].to_numpy(), val_idx)
    assert list(val.columns[:6]) == ["molecule", "fold", "cell", "BRD4", "HSA", "sEH"]
    assert set(val["cell"]) == {"fold_stratified=0"}
    test = pd.read_parquet(run / "predictions" / "test.parquet")
    assert len(test) == d.manifest["sizes"]["test_molecules"]
    table = pd.read_csv(run / "results.csv")
    assert set(table.query("set == 'test'")["group"]) == {"share", "non_share", "other_core", "score"}
    assert json.loads((run / "results.json").read_text())["val_map"] == pytest.approx(result["val_map"])
    for p in ("BRD4", "HSA", "sEH"):
        assert (run / "plots" / f"pr_{p}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((run / "checkpoints").glob("*.ckpt"))


def test_cnn_trained_briefly_beats_a_random_ranking_clearly(tmp_path, rich_library):
    result = train(
        _cfg(tmp_path, rich_library, "data.batch_size=128", "trainer.max_epochs=2", "data.eval_batch_size=2048")
    )
    val = pd.read_parquet(tmp_path / "run" / "predictions" / "val.parquet")
    base = np.mean([(val[f"label_{p}"] == 1).mean() for p in ("BRD4", "HSA", "sEH")])  # AP of a random ranking
    # random: base ± ~0.01 here; trained: 1.96× (seed 1) to 2.70× (seed 42, AVX2 kernels) measured
    assert result["val_map"] > 1.5 * base, (result["val_map"], base)


def test_building_block_split_scores_the_leaderboards_cells(tmp_path, rich_library):
    result = train(
        _cfg(
            tmp_path,
            rich_library,
            "split=bb",
            "data.prepare.n_bb_groups=3",
            "fold=1",
            "data.batch_size=64",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=5",
        )
    )
    run = tmp_path / "run"
    val = pd.read_parquet(run / "predictions" / "val.parquet")
    d = PreparedDataset(tmp_path / "prepared")
    mask = np.asarray(d.train("bb_group_mask"))
    by_cell = {c: val.loc[val["cell"] == c, "molecule"].to_numpy() for c in ("share", "partial", "non_share")}
    assert np.array_equal(by_cell["non_share"], np.flatnonzero(mask == 2))
    assert (mask[by_cell["partial"]] & 2).all() and not (mask[by_cell["share"]] & 2).any()
    assert len(by_cell["share"]) == len(by_cell["partial"]) == len(by_cell["non_share"])
    table = pd.read_csv(run / "results.csv")
    cells = table.query("set == 'val' and protein != 'mean'")
    assert list(cells["group"]) == ["share"] * 3 + ["partial"] * 3 + ["non_share"] * 3
    assert (cells["positives"] > 0).all()
    assert result["val_map"] == pytest.approx(cells["ap"].mean(), abs=1e-6)  # the competition's mean over 9 cells
    logged = pd.read_csv(run / "csv" / "metrics.csv")
    for key in ("val/map", "val/map_share", "val/map_partial", "val/map_non_share", "val/ap_seh_non_share"):
        assert logged[key].notna().any(), key
    row = cells.query("group == 'non_share' and protein == 'sEH'")
    assert logged["val/ap_seh_non_share"].dropna().iloc[-1] == pytest.approx(row["ap"].iloc[0], abs=1e-4)


def test_a_monitor_no_validation_cell_can_define_stops_before_training(tmp_path, tiny_library, capsys):
    from belka_lab.core.errors import InputError

    args = ["split=bb", "data.prepare.n_bb_groups=8", "fold=0", "debug=fdr"]
    with pytest.raises(InputError, match="'val/ap_brd4_non_share' is undefined for the whole run") as e:
        train(_cfg(tmp_path, tiny_library, *args, "callbacks.model_checkpoint.monitor=val/ap_brd4_non_share"))
    assert "n_bb_groups" in str(e.value)
    d = PreparedDataset(tmp_path / "prepared")
    non_share = np.asarray(d.train("bb_group_mask")) == 1
    assert (np.asarray(d.train("labels"))[non_share, 0] != 1).all()  # the premise: that cell has no positive
    assert "warning: validation cell BRD4 × non_share (fold_bb=0)" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_small_transformer_on_atom_tokens_with_focal_loss_trains_end_to_end(tmp_path, tiny_library):
    from belka_lab.tokens.atoms import AtomTokenizer

    cfg = _cfg(
        tmp_path,
        tiny_library,
        "model=transformer_small",
        "tokenizer=atom",
        f"data.tokenizer.path={tmp_path}/atom",
        "loss=focal",
        "loss.alpha=0.25",
        "data.batch_size=64",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=3",
    )
    result = train(cfg)
    tok = AtomTokenizer.load(tmp_path / "atom")
    assert np.isfinite(result["val_map"]) and 400_000 < result["params"] < 500_000
    ids = np.load(tmp_path / "prepared" / "train" / "tokens_atom.npy")
    assert ids.max() < len(tok) and "[C@@H]" in tok.tokens
    module = torch.load(next((tmp_path / "run" / "checkpoints").glob("epoch*.ckpt")), weights_only=False)
    assert module["state_dict"]["backbone.embed.weight"].shape[0] == len(tok) + 1  # + [MASK]


def test_a_model_smaller_than_the_vocabulary_is_refused(tmp_path, tiny_library):
    from belka_lab.core.errors import InputError

    with pytest.raises(InputError, match="model.backbone.vocab_size=37"):
        train(_cfg(tmp_path, tiny_library, "+model.backbone.vocab_size=30", "debug=fdr"))


def test_competition_files_prepare_then_train_with_data_belka(tmp_path, tiny_library):
    """The documented path for real files: prepare command, then training with data=belka."""
    import shutil

    root = tmp_path / "belka"
    root.mkdir()
    for name in ("train.parquet", "test.parquet"):
        shutil.copy(tiny_library / name, root / name)
    r = belka(
        "prepare",
        "data=belka",
        f"data.root={root}",
        f"paths.root_dir={tmp_path}",
        "data.prepare.progress=false",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert (root / "prepared" / "manifest.json").exists()
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "data=belka",
                f"data.root={root}",
                f"paths.root_dir={tmp_path}",
                f"paths.output_dir={tmp_path}/run",
                "data.batch_size=64",
                "data.eval_batch_size=512",
                "data.loader.num_workers=2",
                "data.prepare.progress=false",
                "trainer.max_epochs=1",
                "+trainer.limit_train_batches=4",
                "trainer.enable_progress_bar=false",
            ],
        )
    result = train(cfg)
    assert np.isfinite(result["val_map"])
    assert (
        check(
            tmp_path / "run" / "submission.csv", pd.read_parquet(root / "test.parquet", columns=["id"])["id"].to_numpy()
        )
        is not None
    )
    assert "test_score" not in json.loads(
        (tmp_path / "run" / "results.json").read_text()
    )  # no solution file: no test labels


def _predictions(run):
    return pd.read_parquet(run / "predictions" / "val.parquet"), pd.read_parquet(run / "predictions" / "test.parquet")


# a small CNN: what these tests check (same seed, same predictions; resumes) holds at any size
SMALL_CNN = ["model.backbone.embed_dim=32", "model.backbone.channels=[16,32,32]", "model.backbone.hidden=[128]"]
RESUME = [
    *SMALL_CNN,
    "data.batch_size=128",
    "model.backbone.dropout=0.3",
    "callbacks.resume_checkpoint.every_n_steps=5",
    "trainer.max_epochs=2",
]


def test_same_seed_on_cpu_gives_identical_predictions(tmp_path, tiny_library):
    a = train(_cfg(tmp_path / "a", tiny_library, *SMALL_CNN, "data.batch_size=128", "trainer.max_epochs=1"))
    b = train(_cfg(tmp_path / "b", tiny_library, *SMALL_CNN, "data.batch_size=128", "trainer.max_epochs=1"))
    assert a["val_map"] == b["val_map"]
    for x, y in zip(_predictions(tmp_path / "a" / "run"), _predictions(tmp_path / "b" / "run")):
        pd.testing.assert_frame_equal(x, y)


def test_device_resident_data_trains_to_the_same_predictions(tmp_path, tiny_library):
    # data.loader.resident=true is the path a GPU takes by default (arrays on the device, batches gathered there)
    common = [*SMALL_CNN, "data.batch_size=128", "trainer.max_epochs=2"]
    a = train(_cfg(tmp_path / "a", tiny_library, *common, "data.loader.resident=false"))
    b = train(_cfg(tmp_path / "b", tiny_library, *common, "data.loader.resident=true"))
    assert a["val_map"] == b["val_map"]
    for x, y in zip(_predictions(tmp_path / "a" / "run"), _predictions(tmp_path / "b" / "run")):
        pd.testing.assert_frame_equal(x, y)


def test_validation_inside_an_epoch_checkpoints_and_resumes_to_the_same_result(tmp_path, tiny_library):
    """trainer.val_check_interval=0.5: every validation scores all validation molecules, the best
    checkpoint can come from inside an epoch, and a run stopped between two validations resumes to
    the uninterrupted run's predictions."""
    import torch

    args = [*RESUME, "trainer.val_check_interval=0.5"]
    whole = train(_cfg(tmp_path / "whole", tiny_library, *args))
    logged = pd.read_csv(tmp_path / "whole" / "run" / "csv" / "metrics.csv")
    checks = logged.dropna(subset=["val/map"])
    assert len(checks) == 4 and checks["step"].is_unique  # two validations in each of two epochs
    n_val = len(pd.read_parquet(tmp_path / "whole" / "run" / "predictions" / "val.parquet"))
    assert n_val == int(
        (np.asarray(PreparedDataset(tmp_path / "whole" / "prepared").train("fold_stratified")) == 0).sum()
    )
    assert whole["best_val_map"] == pytest.approx(checks["val/map"].max())
    stopped = tmp_path / "part"
    train(_cfg(stopped, tiny_library, *args, "+trainer.max_steps=13", "predict=false"))
    assert torch.load(stopped / "run" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 10
    resumed = train(_cfg(stopped, tiny_library, *args, "ckpt_path=last"))
    assert resumed["val_map"] == whole["val_map"]
    for x, y in zip(_predictions(tmp_path / "whole" / "run"), _predictions(stopped / "run")):
        pd.testing.assert_frame_equal(x, y)


def test_resuming_from_a_missing_or_foreign_checkpoint_is_a_clear_error(tmp_path, tiny_library):
    from belka_lab.core.errors import InputError

    with pytest.raises(InputError, match=r"last.ckpt does not exist; resume in the run's own directory"):
        train(_cfg(tmp_path / "none", tiny_library, "ckpt_path=last", "debug=fdr"))
    train(_cfg(tmp_path / "cnn", tiny_library, "data.batch_size=128", "trainer.max_epochs=1", "predict=false"))
    ckpt = tmp_path / "cnn" / "run" / "checkpoints" / "last.ckpt"
    with pytest.raises(InputError, match=r"trained with another model, size or vocabulary \(.*backbone"):
        train(_cfg(tmp_path / "res", tiny_library, "model=resnet", f"ckpt_path={ckpt}", "data.batch_size=128"))
    (tmp_path / "junk.ckpt").write_text("no")
    with pytest.raises(InputError, match="junk.ckpt is not a training checkpoint"):
        train(_cfg(tmp_path / "junk", tiny_library, f"ckpt_path={tmp_path / 'junk.ckpt'}", "debug=fdr"))


def test_a_training_process_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path, tiny_library):
    import os
    from pathlib import Path

    import torch

    overrides = [
        f"paths.root_dir={tmp_path}",
        f"data.root={tiny_library}",
        f"data.prepared_dir={tmp_path}/prepared",
        "data.synth=null",
        "data.prepare.progress=false",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        *RESUME,
    ]
    run = tmp_path / "killed"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    killed = belka(
        *overrides,
        f"hydra.run.dir={run}",
        "+callbacks.killer._target_=killer.KillAt",
        "+callbacks.killer.step=27",
        env=env,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (run / "submission.csv").exists() and not (run / "results.json").exists()
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 25  # inside epoch 1
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        resumed = train(compose("train", overrides=[*overrides, f"paths.output_dir={run}", "ckpt_path=last"]))
    whole = train(_cfg(tmp_path / "whole", tiny_library, *RESUME))
    assert resumed["val_map"] == whole["val_map"]
    for x, y in zip(_predictions(tmp_path / "whole" / "run"), _predictions(run)):
        pd.testing.assert_frame_equal(x, y)
