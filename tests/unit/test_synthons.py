"""Synthon tables against a hand computation on a four-compound library."""

from __future__ import annotations

import numpy as np
import pytest

from belka_lab.analysis import synthons
from belka_lab.dataset.count_spec import CountSpec

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


def test_without_a_control_the_reads_are_ranked_against_the_load_or_an_even_share():
    # the same compounds; no control, the load in column 2 (100 reads, summed 50 + 50 for block 0 of cycle 1)
    load = np.array([[6, 4, 40], [0, 0, 10], [1, 1, 30], [1, 0, 20]], np.int32)
    t = synthons.table(BB, ("BRD4",), 1, counts=load, spec=CountSpec([[0, 1]], [], [None], 2, [100, 100, 100], 4))
    row = t[(t["cycles"] == "1") & (t["bb_1"] == 0)].iloc[0]
    assert (row["reference"], row["reads_target"], row["reads_load"]) == ("load", 10, 50)
    assert row["enrichment"] == pytest.approx((10.375 / 200) / (50.375 / 100))
    no_load = CountSpec([[0, 1]], [], [None], None, [100, 100], 4)
    t = synthons.table(BB, ("BRD4",), 1, counts=COUNTS[:, :2], spec=no_load)
    row = t[(t["cycles"] == "1") & (t["bb_1"] == 0)].iloc[0]
    # two of four compounds: an even share is half the target's 200 reads
    assert (row["reference"], row["reads_target"], row["expected_reads"]) == ("even share", 10, 100.0)
    assert row["enrichment"] == pytest.approx(10.375 / 100)
    # z = 2(√(k + 3/8) − √expected) at ±2: the bounds of an exactly known reference
    assert row["enrichment_lo"] == pytest.approx((10.375**0.5 - 1) ** 2 / 100)
    assert row["enrichment_hi"] == pytest.approx((10.375**0.5 + 1) ** 2 / 100)
