"""LightGBM on fingerprints, one binary model per target.

Each target's model trains on the molecules whose label for it is known, with
``scale_pos_weight`` = negatives / positives ("auto") against the class imbalance, and stops
early when the validation fold's average precision has not improved for
``early_stopping_rounds`` rounds (so its validation numbers are slightly optimistic, as for a
neural run's best checkpoint).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from belka_lab.baselines import saved
from belka_lab.core.io import atomic_path


class LightGBMPerProtein:
    def __init__(
        self,
        params: dict | None = None,
        num_boost_round: int = 2000,
        early_stopping_rounds: int = 50,
        scale_pos_weight: str | float | None = "auto",
        log_every: int = 100,
    ):
        self.params = {"objective": "binary", "metric": "average_precision", "verbose": -1, **(params or {})}
        self.num_boost_round, self.early_stopping_rounds = int(num_boost_round), int(early_stopping_rounds)
        self.scale_pos_weight, self.log_every = scale_pos_weight, int(log_every)
        self.boosters: list = []
        self.targets: tuple[str, ...] = ()
        self.info: dict = {}

    def fit(self, X, Y: np.ndarray, X_val, Y_val: np.ndarray, targets: tuple[str, ...]) -> LightGBMPerProtein:
        """Y, Y_val: int8 [N, T] with 1/0 and -1 for unknown (skipped); one model per target."""
        import lightgbm as lgb  # heavy

        self.boosters, self.targets = [], tuple(targets)
        for k, protein in enumerate(self.targets):
            known, known_val = Y[:, k] >= 0, Y_val[:, k] >= 0
            y, y_val = Y[known, k], Y_val[known_val, k]
            params = dict(self.params)
            if self.scale_pos_weight == "auto":
                params["scale_pos_weight"] = float((y == 0).sum() / max((y == 1).sum(), 1))
            elif self.scale_pos_weight is not None:
                params["scale_pos_weight"] = float(self.scale_pos_weight)
            train = lgb.Dataset(X[known], y, free_raw_data=True)
            val = lgb.Dataset(X_val[known_val], y_val, reference=train)
            callbacks = [
                lgb.early_stopping(self.early_stopping_rounds, verbose=False),
                lgb.log_evaluation(self.log_every),
            ]
            print(f"LightGBM {protein}: {int(known.sum()):,} molecules ({int((y == 1).sum()):,} positive)")
            booster = lgb.train(
                params, train, self.num_boost_round, valid_sets=[val], valid_names=["val"], callbacks=callbacks
            )
            self.boosters.append(booster)
            self.info[protein] = {
                "best_iteration": booster.best_iteration,
                "val_ap": booster.best_score["val"]["average_precision"],
            }
        return self

    def predict(self, X) -> np.ndarray:
        return np.stack([b.predict(X, num_iteration=b.best_iteration) for b in self.boosters], axis=1).astype(
            np.float32
        )

    def save(self, out_dir: Path) -> None:
        """One LightGBM text model per target (``<target>.txt``, its best iteration) in ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        saved.write_targets(out_dir, self.targets)
        for protein, booster in zip(self.targets, self.boosters):
            with atomic_path(out_dir / f"{protein}.txt") as tmp:
                booster.save_model(str(tmp), num_iteration=booster.best_iteration)

    @classmethod
    def load(cls, model_dir: Path) -> LightGBMPerProtein:
        import lightgbm as lgb  # heavy

        model = cls()
        model.targets = saved.read_targets(model_dir)
        model.boosters = [lgb.Booster(model_file=str(Path(model_dir) / f"{p}.txt")) for p in model.targets]
        for b in model.boosters:
            b.best_iteration = 0  # the saved model holds exactly the best iterations
        return model
