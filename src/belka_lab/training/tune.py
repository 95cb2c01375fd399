"""An Optuna search over training overrides (``belka tune tune=<space> [training overrides…]``).

One study per space in a SQLite file (resumable: running again adds trials; the Optuna
dashboard opens the file). Each trial composes the training config from the command line's
training overrides, the space's ``fixed`` overrides and the sampled values, trains in this
process with a pruning callback on ``metric`` after every validation (median or Hyperband
pruner), and scores its best epoch. At the end: the best value and parameters, the command
that reproduces them, and ``trials.csv`` / ``trials.png`` in the run directory.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.ticker import MaxNLocator
from omegaconf import DictConfig, OmegaConf

from belka_lab.core import figures
from belka_lab.core.config import compose
from belka_lab.core.errors import InputError
from belka_lab.evaluation.outputs import write_json
from belka_lab.training.train import train


def suggest(trial, name: str, spec: dict):
    kind = spec.get("type")
    if kind == "float":
        return trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)))
    if kind == "int":
        return trial.suggest_int(name, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)))
    if kind == "categorical":
        return trial.suggest_categorical(name, list(spec["choices"]))
    raise InputError(f"tune.params.{name}: type must be float, int or categorical (got {kind!r})")


def _pruner(t: DictConfig, max_epochs: int):
    import optuna  # heavy

    if t.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=int(t.pruner_startup_trials), n_warmup_steps=int(t.pruner_warmup_epochs)
        )
    if t.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, max_epochs))
    if t.pruner == "none":
        return optuna.pruners.NopPruner()
    raise InputError(f"tune.pruner must be median, hyperband or none (got {t.pruner!r})")


def forwarded(task_overrides: list[str]) -> list[str]:
    """The command line's training overrides (not the tune group's, not Hydra's own)."""
    keep = []
    for o in task_overrides:
        key = o.split("=", 1)[0].lstrip("+~")
        if not (key == "tune" or key.startswith(("tune.", "tune/", "hydra.", "hydra/"))):
            keep.append(o)
    return keep


def tune(cfg: DictConfig, task_overrides: list[str]) -> dict:
    import optuna  # heavy
    from optuna_integration import PyTorchLightningPruningCallback  # optional

    t = cfg.tune
    monitor = ((cfg.get("callbacks") or {}).get("model_checkpoint") or {}).get("monitor")
    if monitor is not None and monitor != t.metric:  # a trial's value is its best checkpoint's
        raise InputError(
            f"tune.metric={t.metric} but the checkpoint keeps the best {monitor}: set "
            f"callbacks.model_checkpoint.monitor={t.metric} (and its mode) so each trial reports its best {t.metric}"
        )
    run_dir = Path(cfg.paths.output_dir)
    storage = Path(t.storage).absolute()
    storage.parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=t.study_name,
        storage=f"sqlite:///{storage}",
        direction=t.direction,
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=int(t.seed), n_startup_trials=int(t.startup_trials)),
        pruner=_pruner(t, int(cfg.trainer.max_epochs)),
    )
    study.set_user_attr("metric", t.metric)
    if not study.trials:
        for params in t.enqueue or []:
            study.enqueue_trial(OmegaConf.to_container(params))
    base = [*t.fixed, *forwarded(task_overrides)]
    params_spec = OmegaConf.to_container(t.params)

    def objective(trial) -> float:
        values = {name: suggest(trial, name, spec) for name, spec in params_spec.items()}
        overrides = [
            *base,
            *(f"{k}={v}" for k, v in values.items()),
            f"paths.output_dir={run_dir}/trials/{trial.number:03d}",
            "predict=false",
        ]
        trial.set_user_attr("overrides", overrides)
        result = train(
            compose("train", overrides), callbacks=[PyTorchLightningPruningCallback(trial, monitor=t.metric)]
        )
        key = t.metric.replace("/", "_")  # the checkpoint's best of the metric it monitors
        best = result.get(f"best_{key}", result.get(key))
        if best is None:
            raise InputError(
                f"trial {trial.number} logged no {t.metric}: does the training config validate (limit_val_batches > 0)?"
            )
        return float(best)

    study.optimize(objective, n_trials=int(t.n_trials), gc_after_trial=True)
    return _report(study, base, run_dir)


def _report(study, base: list[str], run_dir: Path) -> dict:
    import optuna  # heavy

    trials = study.trials_dataframe(attrs=("number", "value", "state", "params", "duration"))
    run_dir.mkdir(parents=True, exist_ok=True)
    trials.to_csv(run_dir / "trials.csv", index=False)
    states = trials["state"].value_counts().to_dict()
    done = [tr for tr in study.trials if tr.state == optuna.trial.TrialState.COMPLETE]
    summary = {"study": study.study_name, "trials": len(study.trials), "states": states}
    if done:
        best = study.best_trial
        line = " ".join(["python -m belka_lab", *base, *(f"{k}={v}" for k, v in best.params.items())])
        summary |= {"best_value": best.value, "best_trial": best.number, "best_params": best.params, "command": line}
        _plot(study, run_dir / "trials.png")
        print(
            f"best {study.direction.name.lower()} value {best.value:.4f} (trial {best.number} of {len(study.trials)}; "
            f"{states})"
        )
        print(f"reproduce: {line}")
    write_json(run_dir / "tune.json", summary)
    return summary


def _plot(study, path: Path) -> None:
    import optuna  # heavy

    fig, ax = figures.subplots(figsize=(7, 4))
    for state, color in ((optuna.trial.TrialState.COMPLETE, "tab:blue"), (optuna.trial.TrialState.PRUNED, "tab:gray")):
        trials = [tr for tr in study.trials if tr.state == state]
        # pruned trials: their last reported value
        ys = [
            tr.value if tr.value is not None else (list(tr.intermediate_values.values()) or [None])[-1] for tr in trials
        ]
        ax.scatter([tr.number for tr in trials], ys, color=color, label=state.name.lower(), s=18)
    done = [tr for tr in study.trials if tr.state == optuna.trial.TrialState.COMPLETE]
    if done:
        pick = max if study.direction.name == "MAXIMIZE" else min
        best, xs = [], []
        for tr in done:
            best.append(tr.value if not best else pick(best[-1], tr.value))
            xs.append(tr.number)
        ax.step(xs, best, where="post", color="tab:red", label="best so far")

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(study.user_attrs.get("metric", "objective"))
    ax.set_title(f"study {study.study_name}")
    ax.legend()
    figures.save(fig, path)
