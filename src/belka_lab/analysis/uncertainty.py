"""How sure the model is: ensembles, conformal intervals, calibrated probabilities — and whether
each can be trusted, measured on validation compounds the fit did not see.

- **Ensemble** (:func:`ensemble`): runs over seeds or folds; per compound the mean and the
  standard deviation of the runs that predicted it (``<target>_std``; undefined with one run).
- **Intervals for enrichment** (:func:`intervals`): split-conformal regression (``crepes``'
  Mondrian ``ConformalRegressor``, one category per validation cell, so share and non_share
  compounds each get their own width; normalized by the ensemble's spread when there is one).
  Its coverage is checked by fitting on a random half of the validation compounds and counting,
  in the other half, how many observed scores fall inside.
- **Probabilities** (:func:`calibration`): isotonic regression (scikit-learn) fitted on one half,
  the expected calibration error (10 equal-width bins) before and after on the other, and the
  reliability diagram's points.
- **Does the spread rank the errors?** The Spearman correlation of |error| with the spread, per
  cell (:func:`intervals` reports it beside the coverage).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from crepes import ConformalRegressor
from scipy.stats import spearmanr
from sklearn.isotonic import IsotonicRegression


def ensemble(frames: list[pd.DataFrame], targets: tuple[str, ...]) -> pd.DataFrame:
    """Per molecule (rows of ``frames``' ``molecule`` column): the mean of each target's value over
    the frames that hold it, its standard deviation (``<target>_std``; NaN with one value) and
    ``models``, how many did."""
    long = pd.concat([f[["molecule", *targets]] for f in frames], ignore_index=True)
    g = long.groupby("molecule", sort=True)
    out = g[list(targets)].mean()
    spread = g[list(targets)].std(ddof=0).to_numpy(dtype=np.float64, copy=True)
    spread[g.size().to_numpy() < 2] = np.nan
    out[[f"{t}_std" for t in targets]] = spread
    out["models"] = g.size().astype(np.int64)
    return out.reset_index()


def _halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


class Intervals:
    """A fitted split-conformal regressor: ``predict(values, cells, spread)`` → [N, 2] intervals."""

    def __init__(self, regressor: ConformalRegressor, confidence: float, scale: float | None):
        self.regressor, self.confidence, self.scale = regressor, confidence, scale

    def sigmas(self, spread) -> np.ndarray | None:
        return None if self.scale is None else np.asarray(spread, np.float64) + self.scale

    def predict(self, values, cells, spread=None) -> np.ndarray:
        return self.regressor.predict_int(
            np.asarray(values, np.float64),
            sigmas=self.sigmas(spread),
            bins=np.asarray(cells),
            confidence=self.confidence,
        )


def fit_intervals(values, observed, cells, spread=None, confidence: float = 0.9) -> Intervals:
    """Split-conformal intervals fitted on these compounds (Mondrian by ``cells``; normalized by
    ``spread`` + its median when given and not constant)."""
    values, observed = np.asarray(values, np.float64), np.asarray(observed, np.float64)
    scale = None
    if spread is not None and np.isfinite(spread).all() and np.ptp(spread) > 0:
        scale = float(np.median(spread)) or 1e-6
    regressor = ConformalRegressor()
    sigmas = None if scale is None else np.asarray(spread, np.float64) + scale
    regressor.fit(observed - values, sigmas=sigmas, bins=np.asarray(cells))
    return Intervals(regressor, confidence, scale)


def intervals(values, observed, cells, spread=None, confidence: float = 0.9, seed: int = 0):
    """(the coverage table, intervals fitted on every compound). The table: per cell and over all,
    the compounds of the evaluation half, the share of observed values inside the intervals fitted
    on the other half, their mean width, and the Spearman correlation of |error| with the spread
    (NaN without an ensemble)."""
    values, observed, cells = np.asarray(values, np.float64), np.asarray(observed, np.float64), np.asarray(cells)
    spread = None if spread is None else np.asarray(spread, np.float64)
    fit, held = _halves(len(values), seed)
    half = fit_intervals(values[fit], observed[fit], cells[fit], None if spread is None else spread[fit], confidence)
    bounds = half.predict(values[held], cells[held], None if spread is None else spread[held])
    inside = (observed[held] >= bounds[:, 0]) & (observed[held] <= bounds[:, 1])
    error = np.abs(observed[held] - values[held])
    rows = []
    for name in [*sorted(set(cells[held])), "all"]:
        sel = np.ones(len(held), bool) if name == "all" else cells[held] == name
        rank = float("nan")
        if spread is not None and sel.sum() > 2 and np.ptp(spread[held][sel]) > 0:
            rank = float(spearmanr(error[sel], spread[held][sel]).statistic)
        rows.append(
            {
                "cell": name,
                "compounds": int(sel.sum()),
                "coverage": float(inside[sel].mean()),
                "width": float((bounds[sel, 1] - bounds[sel, 0]).mean()),
                "spread_error_spearman": rank,
            }
        )
    table = pd.DataFrame(rows).assign(confidence=confidence)
    return table, fit_intervals(values, observed, cells, spread, confidence)


def reliability(p, y, bins: int = 10) -> pd.DataFrame:
    """The reliability diagram's points: per non-empty equal-width bin, mean probability, observed
    rate, compounds."""
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    rows = [
        {"bin": b, "predicted": p[sel].mean(), "observed": y[sel].mean(), "compounds": int(sel.sum())}
        for b in range(bins)
        if (sel := which == b).any()
    ]
    return pd.DataFrame(rows, columns=["bin", "predicted", "observed", "compounds"])


def expected_calibration_error(p, y, bins: int = 10) -> float:
    """ECE: the compounds-weighted mean |observed rate − mean probability| over the reliability bins."""
    r = reliability(p, y, bins)
    return float((r["compounds"] * (r["observed"] - r["predicted"]).abs()).sum() / r["compounds"].sum())


def calibration(p, y, seed: int = 0):
    """(summary, reliability points before and after, isotonic map fitted on every compound) for
    probabilities ``p`` of binary labels ``y`` (unknown labels, y < 0, left out)."""
    p, y = np.asarray(p, np.float64), np.asarray(y)
    known = y >= 0
    p, y = p[known], y[known].astype(np.float64)
    fit, held = _halves(len(p), seed)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p[fit], y[fit])
    after = iso.predict(p[held])
    summary = {
        "compounds": int(len(held)),
        "ece_before": expected_calibration_error(p[held], y[held]),
        "ece_after": expected_calibration_error(after, y[held]),
    }
    points = pd.concat(
        [reliability(p[held], y[held]).assign(stage="model"), reliability(after, y[held]).assign(stage="isotonic")]
    )
    return summary, points, IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
