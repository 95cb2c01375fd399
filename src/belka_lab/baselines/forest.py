"""scikit-learn random forest on fingerprints, one model per target: a classifier of the labels
(molecules whose label is unknown for that target are left out; ``class_weight`` handles the
imbalance), or with ``learn=scores`` (a count table) a regressor of the enrichment score, which
predicts log10 enrichment."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from belka_lab.baselines import saved
from belka_lab.baselines.learn import LEARN
from belka_lab.core.errors import InputError
from belka_lab.core.io import atomic_path
from belka_lab.dataset.supervision import Values


class RandomForestPerProtein:
    def __init__(
        self,
        n_estimators: int = 300,
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        max_features: str | float = "sqrt",
        class_weight: str | None = "balanced_subsample",
        n_jobs: int = -1,
        seed: int = 42,
        learn: str = "labels",
    ):
        if learn not in ("labels", "scores"):
            raise InputError(f"baseline.learn={learn!r}: a random forest learns labels or scores")
        self.learn, self.regresses = learn, not LEARN[learn].labels
        self.kwargs = dict(
            n_estimators=n_estimators,
            max_depth=max_depth,
            min_samples_leaf=min_samples_leaf,
            max_features=max_features,
            class_weight=class_weight,
            n_jobs=n_jobs,
            random_state=seed,
        )
        self.forests: list = []
        self.targets: tuple[str, ...] = ()
        self.info: dict = {}

    def fit(self, X, Y: np.ndarray, X_val, Y_val, targets: tuple[str, ...]) -> RandomForestPerProtein:
        """Y: int8 [N, T] with 1/0 and -1 for unknown (skipped); one forest per target."""
        self.forests, self.targets = [], tuple(targets)
        for k, protein in enumerate(self.targets):
            if self.regresses:
                print(f"random forest {protein}: {len(Y):,} molecules (regressing the enrichment score)")
                kwargs = {key: v for key, v in self.kwargs.items() if key != "class_weight"}
                self.forests.append(RandomForestRegressor(**kwargs).fit(X, Y[:, k]))
                self.info[protein] = {"trees": self.kwargs["n_estimators"]}
                continue
            known = Y[:, k] >= 0
            y = Y[known, k]
            print(f"random forest {protein}: {int(known.sum()):,} molecules ({int((y == 1).sum()):,} positive)")
            self.forests.append(RandomForestClassifier(**self.kwargs).fit(X[known], y))
            self.info[protein] = {"trees": self.kwargs["n_estimators"]}
        return self

    @property
    def values(self) -> Values:
        return LEARN[self.learn].values

    def predict(self, X) -> np.ndarray:
        if self.regresses:
            return np.stack([f.predict(X) for f in self.forests], axis=1).astype(np.float32)
        cols = []
        for forest in self.forests:
            p = forest.predict_proba(X)
            cols.append(p[:, list(forest.classes_).index(1)] if 1 in forest.classes_ else np.zeros(X.shape[0]))
        return np.stack(cols, axis=1).astype(np.float32)

    def save(self, out_dir: Path) -> None:
        """The fitted forests (``forests.joblib``; joblib's pickle: load only files you trust)."""

        out_dir.mkdir(parents=True, exist_ok=True)
        saved.write_targets(out_dir, self.targets, self.learn)
        with atomic_path(out_dir / "forests.joblib") as tmp:
            joblib.dump(self.forests, tmp)

    @classmethod
    def load(cls, model_dir: Path) -> RandomForestPerProtein:

        targets, learn = saved.read_targets(model_dir)
        model = cls(learn=learn)
        model.targets = targets
        model.forests = joblib.load(Path(model_dir) / "forests.joblib")
        return model
