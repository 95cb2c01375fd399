import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from belka_lab.metrics import ap_table, check_probabilities, competition_score, molecule_ap


def test_competition_score_is_the_mean_of_sklearn_ap_per_protein_and_group():
    rng = np.random.default_rng(0)
    n = 600
    y = (rng.random(n) < 0.2).astype(int)
    p = np.clip(0.5 * y + rng.random(n) * 0.7, 0, 1)
    protein = rng.integers(0, 3, n)
    group = np.where(rng.random(n) < 0.5, "share", "non_share")
    expected = [average_precision_score(y[(protein == k) & (group == g)], p[(protein == k) & (group == g)]) for g in ("non_share", "share") for k in range(3)]
    assert competition_score(y, p, protein, group) == pytest.approx(np.mean(expected), abs=1e-12)
    table = ap_table(y, p, protein, group)
    assert len(table) == 6 and table["ap"].tolist() == pytest.approx(expected)


def test_cells_without_positives_are_nan_and_left_out_of_the_mean():
    y = np.array([1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.1, 0.8, 0.3, 0.2, 0.4])
    protein = np.array([0, 0, 1, 1, 2, 2])
    table = ap_table(y, p, protein)
    assert np.isnan(table["ap"].iloc[1]) and np.isnan(table["ap"].iloc[2])
    assert competition_score(y, p, protein) == pytest.approx(1.0)


def test_molecule_ap_ignores_unknown_labels():
    labels = np.array([[1, -1, 0], [0, 1, 1], [0, 0, -1], [1, 0, 0]])
    probs = np.array([[0.9, 0.99, 0.1], [0.2, 0.8, 0.7], [0.1, 0.1, 0.9], [0.7, 0.3, 0.2]])
    ap = molecule_ap(labels, probs)
    assert ap["BRD4"] == pytest.approx(1.0)
    assert ap["HSA"] == pytest.approx(1.0)  # the 0.99 of molecule 0 is unknown, not a false positive
    assert ap["map"] == pytest.approx(np.mean([ap["BRD4"], ap["HSA"], ap["sEH"]]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1.5, -0.1])
def test_non_probabilities_are_rejected(bad):
    with pytest.raises(ValueError, match="not probabilities"):
        check_probabilities(np.array([0.1, bad, 0.3]))
