"""Ensembles, conformal coverage per cell, and probability calibration, on data whose truth is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from belka_lab.analysis.uncertainty import calibration, ensemble, expected_calibration_error, intervals


def test_ensemble_mean_and_spread_by_molecule():
    a = pd.DataFrame({"molecule": [0, 1, 2], "BRD4": [1.0, 2.0, 3.0]})
    b = pd.DataFrame({"molecule": [1, 2], "BRD4": [4.0, 3.0]})
    out = ensemble([a, b], ("BRD4",)).set_index("molecule")
    assert out.loc[1, "BRD4"] == 3.0 and out.loc[1, "BRD4_std"] == 1.0 and out.loc[1, "models"] == 2
    assert np.isnan(out.loc[0, "BRD4_std"]) and out.loc[0, "models"] == 1  # one run: no spread


def test_conformal_intervals_cover_90_percent_in_each_cell_and_the_spread_ranks_errors():
    rng = np.random.default_rng(1)
    n = 12000
    cells = np.where(rng.random(n) < 0.5, "share", "non_share")
    noise = np.where(cells == "share", 0.3, 1.2) * rng.lognormal(0, 0.5, n)  # each compound's own noise
    values = rng.normal(size=n)
    observed = values + rng.normal(size=n) * noise
    spread = noise * rng.lognormal(0, 0.3, n)  # an ensemble's spread: noisy, but it follows the noise
    table, fitted = intervals(values, observed, cells, spread, confidence=0.9)
    by = table.set_index("cell")
    for cell in ("share", "non_share", "all"):
        assert abs(by.loc[cell, "coverage"] - 0.9) <= 0.03, table
    assert by.loc["non_share", "width"] > 2 * by.loc["share", "width"]  # one width per cell
    assert by.loc["share", "spread_error_spearman"] > 0.3
    bounds = fitted.predict(values[:5], cells[:5], spread[:5])
    assert (bounds[:, 0] < values[:5]).all() and (bounds[:, 1] > values[:5]).all()


def test_isotonic_calibration_lowers_the_error_of_overconfident_probabilities():
    rng = np.random.default_rng(2)
    truth = rng.beta(0.5, 4.0, 20000)
    y = (rng.random(len(truth)) < truth).astype(np.int8)
    overconfident = truth**0.4
    summary, points, iso = calibration(overconfident, y)
    assert summary["ece_before"] > 0.15 and summary["ece_after"] < 0.03
    assert set(points["stage"]) == {"model", "isotonic"}
    assert expected_calibration_error(truth, y) < 0.02  # the true probabilities are calibrated
    assert iso.predict([0.0])[0] == pytest.approx(0.0, abs=0.05)
