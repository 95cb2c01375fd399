import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from belka_lab.core.errors import InputError
from belka_lab.evaluation import cells

T3 = ("BRD4", "HSA", "sEH")

NAMES = ("share", "partial", "non_share")


def _data(seed=0, n=600):
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, 3)) < 0.1).astype(np.int8)
    labels[rng.random((n, 3)) < 0.05] = -1
    cell = rng.integers(0, 3, n)
    labels[(cell == 2), 1] = np.minimum(labels[(cell == 2), 1], 0)  # HSA × non_share: no positive
    return labels, rng.random((n, 3)), cell


def test_cell_ap_and_the_logged_means_are_sklearns_per_cell():
    labels, probs, cell = _data()
    ap = cells.cell_ap(torch.from_numpy(labels), torch.from_numpy(probs), torch.from_numpy(cell), 3)
    expected = {}
    for c in range(3):
        for p in range(3):
            sel = (cell == c) & (labels[:, p] >= 0)
            if (labels[sel, p] == 1).any():
                expected[(c, p)] = average_precision_score(labels[sel, p], probs[sel, p])
    assert set(ap) == set(expected) and (2, 1) not in ap
    for k in expected:
        assert ap[k] == pytest.approx(expected[k], abs=1e-12)
    values = cells.values(ap, NAMES, T3)
    assert values["val/map"] == pytest.approx(np.mean(list(expected.values())))  # 8 cells, not 9
    assert values["val/map_non_share"] == pytest.approx((expected[(2, 0)] + expected[(2, 2)]) / 2)
    assert values["val/ap_brd4_share"] == pytest.approx(expected[(0, 0)])
    assert "val/ap_hsa_non_share" not in values  # undefined: not logged as 0 or nan


def test_one_cell_logs_the_per_protein_keys():
    assert set(cells.keys(("fold_stratified=0",), T3)) == {"val/map", "val/ap_brd4", "val/ap_hsa", "val/ap_seh"}
    assert len(cells.keys(NAMES, T3)) == 1 + 3 + 9


def test_check_warns_per_empty_cell_and_stops_on_an_undefined_monitor(capsys):
    labels, _, cell = _data()
    found = cells.counts(labels, cell, 3)
    cells.check(found, NAMES, T3, "fold_bb=0", ["val/map", "val/map_non_share", "val/loss"])
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "HSA × non_share (fold_bb=0)" in err and "n_bb_groups" in err
    with pytest.raises(InputError, match="'val/ap_hsa_non_share' is undefined for the whole run"):
        cells.check(found, NAMES, T3, "fold_bb=0", ["val/ap_hsa_non_share"], say=False)
    with pytest.raises(InputError, match="'val/ap_brd4' is not logged by this split's validation cells"):
        cells.check(found, NAMES, T3, "fold_bb=0", ["val/ap_brd4"], say=False)
    assert capsys.readouterr().err == ""  # say=False: the other processes stay quiet
    empty = {k: (rows, 0) for k, (rows, _) in found.items()}
    with pytest.raises(InputError, match="'val/map' is undefined"):
        cells.check(empty, NAMES, T3, "fold_bb=0", ["val/map"], say=False)
