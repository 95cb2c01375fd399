"""The hit list: selectivity and control filters, and diversity that keeps one of a series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from belka_lab.analysis.hits import HitListConfig, control_enrichment, pick
from belka_lab.core.errors import InputError
from belka_lab.dataset.count_spec import CountSpec
from belka_lab.dataset.supervision import ReadCounts, Supervision

# a series of five close analogues scores best; five unrelated compounds follow
SERIES = [f"CCCCCCCCc1ccc(C(=O)N{'C' * k})cc1" for k in range(1, 6)]
OTHERS = ["O=C(O)c1ccncc1", "CC(C)(C)OC(=O)N1CCCC1", "FC(F)(F)c1ccc(Br)cc1", "OCC1OC(O)C(O)C1O", "C1CCC2(CC1)OCCO2"]


def _frame():
    return pd.DataFrame(
        {
            "smiles": SERIES + OTHERS,
            "BRD4": np.linspace(3.0, 0.0, 10),
            "HSA": [0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        }
    )


def test_butina_takes_one_of_a_series_before_the_next_best():
    out = pick(_frame(), ("BRD4", "HSA"), HitListConfig(n=4, diversity="butina", cutoff=0.6))
    assert out["smiles"].iloc[0] == SERIES[0]  # the best first
    assert sum(s in SERIES for s in out["smiles"]) == 1  # its analogues wait until every cluster gave one
    assert list(out["rank"]) == [1, 2, 3, 4] and out["cluster"].is_unique
    ranked = pick(_frame(), ("BRD4", "HSA"), HitListConfig(n=4, diversity="none"))
    assert list(ranked["smiles"]) == SERIES[:4]  # without diversity: the series fills the list


def test_maxmin_starts_from_the_best_and_spreads():
    out = pick(_frame(), ("BRD4", "HSA"), HitListConfig(n=3, diversity="maxmin"))
    assert SERIES[0] in set(out["smiles"]) and sum(s in SERIES for s in out["smiles"]) == 1


def test_selectivity_drops_what_binds_the_other_target_and_control_binders_go():
    out = pick(_frame(), ("BRD4", "HSA"), HitListConfig(n=3, diversity="none", over=["HSA"], margin=0.1))
    assert SERIES[1] not in set(out["smiles"]) and (out["selectivity"] > 0.1).all()
    control = np.array([[50.0, 0]] + [[1.0, 0]] * 9)
    out = pick(_frame(), ("BRD4", "HSA"), HitListConfig(n=3, diversity="none", max_control=5.0), control)
    assert SERIES[0] not in set(out["smiles"])


def test_control_enrichment_against_the_load():
    spec = CountSpec([[0]], [[1]], [0], 2, [100, 100, 100], 3)
    counts = np.array([[0, 30, 10], [0, 10, 10], [0, 0, 10]])
    ratio = control_enrichment(counts, spec)[:, 0]
    assert ratio[0] == pytest.approx(30.375 / 10.375) and ratio[0] > ratio[1] > ratio[2]


def test_a_target_without_a_control_has_no_control_enrichment_and_max_control_says_so():
    from belka_lab.analysis.hits import check_control

    spec = CountSpec([[0], [1]], [[2]], [0, None], None, [100, 100, 100], 3)  # HSA has no control
    counts = np.array([[0, 0, 30], [0, 0, 10], [0, 0, 0]])
    control = control_enrichment(counts, spec)
    assert np.isfinite(control[:, 0]).all() and np.isnan(control[:, 1]).all()
    data = ReadCounts(spec, "ratio_lb")
    check_control(("BRD4", "HSA"), HitListConfig(max_control=3.0), data)  # BRD4 has its control
    with pytest.raises(InputError, match="max_control needs a no-target control.*none for target HSA"):
        check_control(("BRD4", "HSA"), HitListConfig(by="HSA", max_control=3.0), data)
    with pytest.raises(InputError, match="max_control needs read counts"):
        check_control(("BRD4", "HSA"), HitListConfig(max_control=3.0), Supervision())
    with pytest.raises(InputError, match="max_control needs the read counts of a no-target control for target HSA"):
        pick(_frame(), ("BRD4", "HSA"), HitListConfig(by="HSA", n=3, diversity="none", max_control=3.0), control)


def test_diversity_leaves_out_what_rdkit_cannot_parse_without_its_log(capfd):
    frame = _frame()
    frame.loc[0, "smiles"] = "C(C)(C)(C)(C)C"  # the best, unparsable
    out = pick(frame, ("BRD4", "HSA"), HitListConfig(n=3, diversity="butina"))
    assert "C(C)(C)(C)(C)C" not in set(out["smiles"]) and len(out) == 3
    assert "valence" not in capfd.readouterr().err.lower()


@pytest.mark.parametrize(
    "config, says",
    [
        (HitListConfig(n=11, diversity="none"), "only 10 of 10"),
        (HitListConfig(by="KRAS"), "'KRAS' is not one of"),
        (HitListConfig(diversity="random"), "butina, maxmin, none"),
    ],
)
def test_bad_hit_list_requests_are_one_clear_error(config, says):
    with pytest.raises(InputError, match=says):
        pick(_frame(), ("BRD4", "HSA"), config)


def test_the_best_rows_read_in_chunks_equal_a_stable_sort_of_the_whole_column():
    from belka_lab.analysis import rows

    values = np.array([0, 1, 1, np.nan, 3, 1, 0, 2, 1, np.nan, 3], np.float32)  # ties across chunks
    whole = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")[:6]
    assert rows.best(values, 6, chunk=3).tolist() == whole.tolist()
    picked = rows.sample(values, 3, exclude=whole, seed=0)
    assert len(picked) == 3 and not set(picked) & set(whole) and np.isfinite(values[picked]).all()
    assert rows.present(np.array([5, 2, 5, 9]), chunk=2).tolist() == [2, 5, 9]


def test_a_sample_of_sparse_values_draws_until_it_has_enough():
    from belka_lab.analysis import rows

    values = np.full(100_000, np.nan, np.float32)
    values[::50] = 1.0  # 2% have a value, as a run's validation fold of a library
    picked = rows.sample(values, 1500, exclude=np.zeros(0, np.int64), seed=1)
    assert len(picked) == 1500 and np.isfinite(values[picked]).all()
