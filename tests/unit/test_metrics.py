import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from belka_lab.evaluation.cells import cell_ap
from belka_lab.evaluation.metrics import ap_table, check_finite, competition_score

T3 = ("BRD4", "HSA", "sEH")


def molecule_ap(labels, probs) -> dict:
    """Per-protein AP of one validation cell, as BelkaModule logs it."""
    ap = cell_ap(labels, probs, np.zeros(len(labels), np.int64), 1)
    out = {name: ap.get((0, k), float("nan")) for k, name in enumerate(["BRD4", "HSA", "sEH"])}
    return out | {"map": float(np.mean([v for v in out.values() if not np.isnan(v)]))}


def test_competition_score_is_the_mean_of_sklearn_ap_per_protein_and_group():
    rng = np.random.default_rng(0)
    n = 600
    y = (rng.random(n) < 0.2).astype(int)
    p = np.clip(0.5 * y + rng.random(n) * 0.7, 0, 1)
    protein = rng.integers(0, 3, n)
    group = np.where(rng.random(n) < 0.5, "share", "non_share")
    expected = [
        average_precision_score(y[(protein == k) & (group == g)], p[(protein == k) & (group == g)])
        for g in ("non_share", "share")
        for k in range(3)
    ]
    assert competition_score(y, p, protein, T3, group) == pytest.approx(np.mean(expected), abs=1e-12)
    table = ap_table(y, p, protein, T3, group)
    assert len(table) == 6 and table["ap"].tolist() == pytest.approx(expected)


def test_cells_without_positives_are_nan_and_left_out_of_the_mean():
    y = np.array([1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.1, 0.8, 0.3, 0.2, 0.4])
    protein = np.array([0, 0, 1, 1, 2, 2])
    table = ap_table(y, p, protein, T3)
    assert np.isnan(table["ap"].iloc[1]) and np.isnan(table["ap"].iloc[2])
    assert competition_score(y, p, protein, T3) == pytest.approx(1.0)


def test_molecule_ap_ignores_unknown_labels():
    labels = np.array([[1, -1, 0], [0, 1, 1], [0, 0, -1], [1, 0, 0]])
    probs = np.array([[0.9, 0.99, 0.1], [0.2, 0.8, 0.7], [0.1, 0.1, 0.9], [0.7, 0.3, 0.2]])
    ap = molecule_ap(labels, probs)
    assert ap["BRD4"] == pytest.approx(1.0)
    assert ap["HSA"] == pytest.approx(1.0)  # the 0.99 of molecule 0 is unknown, not a false positive
    assert ap["map"] == pytest.approx(np.mean([ap["BRD4"], ap["HSA"], ap["sEH"]]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_predictions_that_are_not_finite_are_rejected(bad):
    with pytest.raises(ValueError, match="not finite numbers"):
        check_finite(np.array([0.1, bad, 0.3]))
    assert np.array_equal(check_finite(np.array([1.5, -0.1])), [1.5, -0.1])  # log enrichment ranks too


@pytest.mark.parametrize("case", ["continuous", "ties", "float32", "one positive", "all tied", "all positive"])
def test_average_precision_equals_sklearns(case):
    from belka_lab.evaluation.metrics import average_precision

    rng = np.random.default_rng(len(case))
    n = 5000
    y = (rng.random(n) < 0.05).astype(np.int8)
    p = np.clip(0.3 * y + rng.random(n), 0, 1)
    if case == "ties":
        p = np.round(p, 2)  # many thresholds shared by positives and negatives
    elif case == "float32":
        p = p.astype(np.float32)
    elif case == "one positive":
        y = np.zeros(n, np.int8)
        y[123] = 1
    elif case == "all tied":
        p = np.full(n, 0.5)
    elif case == "all positive":
        y = np.ones(n, np.int8)
    assert average_precision(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_molecule_ap_on_tensors_equals_it_on_arrays():
    import torch

    rng = np.random.default_rng(5)
    labels = np.where(rng.random((3000, 3)) < 0.1, -1, (rng.random((3000, 3)) < 0.05)).astype(np.int8)
    probs = np.round(rng.random((3000, 3)), 3).astype(np.float32)
    from_arrays = molecule_ap(labels, probs)
    from_tensors = molecule_ap(torch.from_numpy(labels), torch.from_numpy(probs))
    assert from_tensors == pytest.approx(from_arrays, abs=1e-12)
    known = labels[:, 0] >= 0
    assert from_arrays["BRD4"] == pytest.approx(average_precision_score(labels[known, 0], probs[known, 0]), abs=1e-12)
    # AP reads ranks: log10 enrichment (any finite value) scores as the probabilities it orders alike
    assert molecule_ap(torch.from_numpy(labels), torch.from_numpy(probs) * 7 - 3) == pytest.approx(
        from_arrays, abs=1e-9
    )


@pytest.mark.parametrize("limit", [100_000, 300])
def test_the_drawn_precision_recall_steps_enclose_the_average_precision(limit):
    from belka_lab.evaluation.metrics import average_precision, pr_curve
    from belka_lab.evaluation.plots import _drawn_points

    rng = np.random.default_rng(3)
    y = (rng.random(200_000) < 0.01).astype(np.int8)
    p = np.round(np.clip(0.2 * y + rng.random(len(y)), 0, 1), 4)
    precision, recall = (v.numpy() for v in pr_curve(y, p))
    keep = _drawn_points(recall, limit)
    assert keep[0] == 0 and keep[-1] == len(recall) - 1 and len(keep) <= max(limit, 3)
    area = np.sum(
        np.diff(recall[keep], prepend=0.0) * precision[keep]
    )  # the drawn steps, height = precision at their right end
    exact = average_precision(y, p)
    assert len(keep) < len(recall) / 5  # the points between two positives are not drawn
    assert area == pytest.approx(exact, abs=1e-12 if limit > len(recall) else 0.01)  # thinned: close
