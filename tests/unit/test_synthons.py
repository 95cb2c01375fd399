"""Synthon tables against a hand computation on a four-compound library."""

from __future__ import annotations

import numpy as np
import pytest

from belka_lab.analysis import synthons
from belka_lab.dataset.counts import CountSpec

# four compounds, three cycles; blocks 0-1 in cycle 1, 3-4 in cycle 2, 5-6 in cycle 3
BB = np.array([[0, 3, 5], [0, 3, 6], [1, 3, 5], [1, 4, 6]], np.int32)
# one target (replicates in columns 0, 1) and one control (column 2); 100 + 100 and 50 reads in all
COUNTS = np.array([[6, 4, 1], [0, 0, 1], [1, 1, 0], [1, 0, 2]], np.int32)
SPEC = CountSpec([[0, 1]], [[2]], [0], None, [100, 100, 50], 4)


def test_monosynthon_reads_and_enrichment_by_hand():
    t = synthons.table(BB, ("BRD4",), 1, counts=COUNTS, spec=SPEC, chunk=3)  # two chunks
    row = t[(t["cycles"] == "1") & (t["bb_1"] == 0)].iloc[0]
    # block 0 of cycle 1: compounds 0 and 1; target reads 6+4+0+0 = 10, control 1+1 = 2
    assert (row["compounds"], row["reads_target"], row["reads_control"]) == (2, 10, 2)
    assert row["enrichment"] == pytest.approx((10.375 / 200) / (2.375 / 50))  # 1.0921
    assert row["enrichment_lo"] < row["enrichment"] < row["enrichment_hi"]
    cycle2 = t[t["cycles"] == "2"]
    assert set(cycle2["bb_2"]) == {3, 4} and cycle2["compounds"].sum() == 4
    assert cycle2.iloc[0]["rank"] == 1 and cycle2["enrichment_lo"].is_monotonic_decreasing


def test_disynthons_of_each_pair_of_cycles_with_predictions():
    predicted = np.array([[0.5], [np.nan], [1.5], [2.0]])
    t = synthons.table(BB, ("BRD4",), 2, counts=COUNTS, spec=SPEC, predicted=predicted)
    assert sorted(t["cycles"].unique()) == ["1+2", "1+3", "2+3"]
    row = t[(t["cycles"] == "2+3") & (t["bb_2"] == 3) & (t["bb_3"] == 5)].iloc[0]
    # compounds 0 and 2: target 6+4+1+1 = 12, control 1+0 = 1; predicted mean of 0.5 and 1.5
    assert (row["compounds"], row["reads_target"], row["reads_control"]) == (2, 12, 1)
    assert (row["predicted"], row["predicted_compounds"]) == (1.0, 2)
    lone = t[(t["cycles"] == "1+3") & (t["bb_1"] == 0) & (t["bb_3"] == 6)].iloc[0]
    assert np.isnan(lone["predicted"]) and lone["predicted_compounds"] == 0  # its one compound unpredicted


def test_hit_rate_of_binary_labels_with_a_clopper_pearson_interval():
    labels = np.array([[1], [0], [-1], [1]], np.int8)
    t = synthons.table(BB, ("sEH",), 1, labels=labels, block_smiles={0: "CC", 1: "CN"})
    row = t[(t["cycles"] == "1") & (t["bb_1"] == 1)].iloc[0]
    assert (row["known"], row["positives"], row["block_1"]) == (1, 1, "CN")  # compound 2 unknown
    assert row["hit_rate"] == 1.0 and row["hit_rate_lo"] == pytest.approx(0.025)  # 1 of 1: (α/2)^(1/1)
