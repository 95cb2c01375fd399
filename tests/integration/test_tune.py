"""python -m belka_lab tune: an Optuna study over training overrides, pruned and resumable."""

import json
import sqlite3

import optuna
import pytest
from hydra import compose, initialize_config_dir

from belka_lab.core.config import CONFIG_DIR
from helpers import QUIET_TRAINER

pytest.importorskip("optuna_integration")

from belka_lab.training.tune import forwarded, tune  # noqa: E402


def _args(tmp_path, library, n_trials) -> list[str]:
    return [
        f"paths.root_dir={tmp_path}",
        f"paths.output_dir={tmp_path}/tune_run",
        f"data.root={library}",
        f"data.prepared_dir={tmp_path}/prepared",
        "data.synth=null",
        "data.prepare.progress=false",
        f"tune.n_trials={n_trials}",
        f"tune.storage={tmp_path}/study.db",
        "tune.pruner=median",
        "tune.pruner_startup_trials=2",
        "tune.startup_trials=10",
        # pruned on the validation loss: a network that cannot learn stays at its initial BCE (~0.7),
        # far above what 25 steps reach (a clear gap on any CPU, unlike 25 steps' mAP)
        "tune.metric=val/loss",
        "tune.direction=minimize",
        "callbacks.model_checkpoint.monitor=val/loss",
        "callbacks.model_checkpoint.mode=min",
        # two sound settings first, then one that cannot learn: pruned after its first validation
        "tune.enqueue=[{model.optimizer.lr:0.003},{model.optimizer.lr:0.002},{model.optimizer.lr:0.0}]",
        "~tune.params",
        "+tune.params={model.optimizer.lr:{type:categorical,choices:[0.003,0.002,0.0]}}",
        "data.batch_size=128",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=25",
        "data.eval_batch_size=2048",
        *QUIET_TRAINER,
    ]


def _tune(tmp_path, library, n_trials) -> dict:
    """As `python -m belka_lab tune <args>` does: compose the tune config, forward the arguments."""
    args = _args(tmp_path, library, n_trials)
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("tune", overrides=args)
    return tune(cfg, task_overrides=args)


def test_a_study_prunes_a_hopeless_trial_and_resumes_from_its_storage(tmp_path, rich_library):
    summary = _tune(tmp_path, rich_library, 3)
    study = optuna.load_study(study_name="cnn", storage=f"sqlite:///{tmp_path}/study.db")
    states = [t.state for t in study.trials]
    assert states == [
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
    ], [(t.params, t.intermediate_values) for t in study.trials]
    assert study.trials[2].params == {"model.optimizer.lr": 0.0} and list(study.trials[2].intermediate_values) == [
        0
    ]  # stopped after epoch 0
    assert summary["best_trial"] in (0, 1) and summary["command"].startswith(
        "python -m belka_lab model=cnn paths.root_dir="
    )
    assert summary["command"].endswith(f"model.optimizer.lr={study.best_params['model.optimizer.lr']}")
    run = tmp_path / "tune_run"
    assert json.loads((run / "tune.json").read_text())["trials"] == 3
    assert (run / "trials.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(
        (run / "trials.csv").read_text().splitlines()
    ) == 4
    assert (run / "trials" / "000" / "checkpoints").exists()
    # running again continues the same study
    _tune(tmp_path, rich_library, 1)
    with sqlite3.connect(tmp_path / "study.db") as db:
        assert db.execute("select count(*) from trials").fetchone()[0] == 4


def test_only_training_overrides_are_forwarded_to_the_trials():
    got = forwarded(
        [
            "trainer=gpu",
            "tune=se_xception",
            "tune.n_trials=5",
            "+data.x=1",
            "hydra.verbose=true",
            "model.optimizer.lr=0.1",
        ]
    )
    assert got == ["trainer=gpu", "+data.x=1", "model.optimizer.lr=0.1"]
