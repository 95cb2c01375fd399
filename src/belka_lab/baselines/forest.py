"""scikit-learn random forest on fingerprints, one classifier per target (molecules whose
label is unknown for that target are left out; ``class_weight`` handles the imbalance)."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier

from belka_lab.baselines import saved
from belka_lab.core.io import atomic_path


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
    ):
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
            known = Y[:, k] >= 0
            y = Y[known, k]
            print(f"random forest {protein}: {int(known.sum()):,} molecules ({int((y == 1).sum()):,} positive)")
            self.forests.append(RandomForestClassifier(**self.kwargs).fit(X[known], y))
            self.info[protein] = {"trees": self.kwargs["n_estimators"]}
        return self

    def predict(self, X) -> np.ndarray:
        cols = []
        for forest in self.forests:
            p = forest.predict_proba(X)
            cols.append(p[:, list(forest.classes_).index(1)] if 1 in forest.classes_ else np.zeros(X.shape[0]))
        return np.stack(cols, axis=1).astype(np.float32)

    def save(self, out_dir: Path) -> None:
        """The fitted forests (``forests.joblib``; joblib's pickle: load only files you trust)."""

        out_dir.mkdir(parents=True, exist_ok=True)
        saved.write_targets(out_dir, self.targets)
        with atomic_path(out_dir / "forests.joblib") as tmp:
            joblib.dump(self.forests, tmp)

    @classmethod
    def load(cls, model_dir: Path) -> RandomForestPerProtein:

        model = cls()
        model.targets = saved.read_targets(model_dir)
        model.forests = joblib.load(Path(model_dir) / "forests.joblib")
        return model
