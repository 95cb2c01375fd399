"""LightGBM on fingerprints, one model per target, learning what ``learn`` says:

- ``labels``: binary, on the molecules whose label is known, with ``scale_pos_weight`` =
  negatives / positives ("auto") against the class imbalance; early stopping on validation AP;
- ``scores`` (a count table): regression (squared error) on the enrichment score;
- ``counts`` (a count table): Poisson regression of the summed target reads with the log of
  the reads a compound would get at enrichment 1 (its control reads, depth-scaled) as offset, so
  the model's raw score is the log enrichment.

Early stopping waits ``early_stopping_rounds`` rounds for the validation metric to improve (so
validation numbers are slightly optimistic, as for a neural run's best checkpoint). Regression
models predict log10 enrichment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from belka_lab.baselines import saved
from belka_lab.baselines.learn import LEARN
from belka_lab.core.errors import InputError
from belka_lab.core.io import atomic_path
from belka_lab.dataset.supervision import Values


class LightGBMPerProtein:
    def __init__(
        self,
        params: dict | None = None,
        num_boost_round: int = 2000,
        early_stopping_rounds: int = 50,
        scale_pos_weight: str | float | None = "auto",
        log_every: int = 100,
        learn: str = "labels",
    ):
        if learn not in LEARN:
            raise InputError(f"baseline.learn={learn!r}: choose one of {', '.join(LEARN)}")
        self.learn, self.mode = learn, LEARN[learn]
        self.params = {"objective": self.mode.objective, "metric": self.mode.metric, "verbose": -1, **(params or {})}
        self.num_boost_round, self.early_stopping_rounds = int(num_boost_round), int(early_stopping_rounds)
        self.scale_pos_weight, self.log_every = scale_pos_weight, int(log_every)
        self.boosters: list = []
        self.targets: tuple[str, ...] = ()
        self.info: dict = {}

    @property
    def values(self) -> Values:
        return self.mode.values

    def fit(self, X, Y, X_val, Y_val, targets: tuple[str, ...]) -> LightGBMPerProtein:
        """Y, Y_val: what ``learn`` reads (``baselines/fit.py``): int8 labels [N, T] (-1 unknown,
        skipped), float scores [N, T], or (reads [N, T], log offset [N, T]); one model per target."""
        import lightgbm as lgb  # heavy

        self.boosters, self.targets = [], tuple(targets)
        for k, protein in enumerate(self.targets):
            params = dict(self.params)
            offset = offset_val = None
            mode = self.mode
            if mode.offset:
                (y, offset), (y_val, offset_val) = (Y[0][:, k], Y[1][:, k]), (Y_val[0][:, k], Y_val[1][:, k])
                known, known_val = np.ones(len(y), bool), np.ones(len(y_val), bool)
            else:
                known, known_val = Y[:, k] >= (0 if mode.labels else -np.inf), np.ones(len(Y_val), bool)
                if mode.labels:
                    known_val = Y_val[:, k] >= 0
                y, y_val = Y[known, k], Y_val[known_val, k]
            if mode.labels and self.scale_pos_weight == "auto":
                params["scale_pos_weight"] = float((y == 0).sum() / max((y == 1).sum(), 1))
            elif mode.labels and self.scale_pos_weight is not None:
                params["scale_pos_weight"] = float(self.scale_pos_weight)
            offset, offset_val = (None if o is None else np.ascontiguousarray(o) for o in (offset, offset_val))
            train = lgb.Dataset(X[known], y, init_score=offset, free_raw_data=True)
            val = lgb.Dataset(X_val[known_val], y_val, init_score=offset_val, reference=train)
            callbacks = [
                lgb.early_stopping(self.early_stopping_rounds, verbose=False),
                lgb.log_evaluation(self.log_every),
            ]
            what = f"{int((y == 1).sum()):,} positive" if mode.labels else f"learning {self.learn}"
            print(f"LightGBM {protein}: {int(known.sum()):,} molecules ({what})")
            booster = lgb.train(
                params, train, self.num_boost_round, valid_sets=[val], valid_names=["val"], callbacks=callbacks
            )
            self.boosters.append(booster)
            metric = self.params["metric"]
            self.info[protein] = {
                "best_iteration": booster.best_iteration,
                f"val_{metric}": booster.best_score["val"][metric],
            }
        return self

    def predict(self, X) -> np.ndarray:
        """Probabilities (``labels``) or log10 enrichment (the raw score of ``counts``, ``scores`` as learnt)."""
        raw = self.mode.offset
        out = np.stack([b.predict(X, num_iteration=b.best_iteration, raw_score=raw) for b in self.boosters], axis=1)
        return (out / np.log(10.0) if raw else out).astype(np.float32)

    def save(self, out_dir: Path) -> None:
        """One LightGBM text model per target (``<target>.txt``, its best iteration) in ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        saved.write_targets(out_dir, self.targets, self.learn)
        for protein, booster in zip(self.targets, self.boosters):
            with atomic_path(out_dir / f"{protein}.txt") as tmp:
                booster.save_model(str(tmp), num_iteration=booster.best_iteration)

    @classmethod
    def load(cls, model_dir: Path) -> LightGBMPerProtein:
        import lightgbm as lgb  # heavy

        targets, learn = saved.read_targets(model_dir)
        model = cls(learn=learn)
        model.targets = targets
        model.boosters = [lgb.Booster(model_file=str(Path(model_dir) / f"{p}.txt")) for p in model.targets]
        for b in model.boosters:
            b.best_iteration = 0  # the saved model holds exactly the best iterations
        return model
