"""Each enrichment score against values computed by hand (or published with its method)."""

import numpy as np
import pytest
from scipy.stats import chi2

from belka_lab.dataset import enrichment


def test_del_qsar_ratio_and_its_bounds_match_the_published_check_values():
    # del_qsar's own check: 15 target and 5 control reads at equal depth give R = 15.375 / 5.375
    # and R = 1.1280 (z = +2) and 9.5708 (z = -2)
    assert enrichment.ratio(15, 1e6, 5, 1e6) == pytest.approx(15.375 / 5.375)
    assert enrichment.ratio_bound(15, 1e6, 5, 1e6, 2.0) == pytest.approx(1.128009901, rel=1e-6)
    assert enrichment.ratio_bound(15, 1e6, 5, 1e6, -2.0) == pytest.approx(9.570765609, rel=1e-6)
    # depth: twice the target reads for the same fraction is the same ratio
    assert enrichment.ratio(15, 2e6, 5, 1e6) == pytest.approx(15.375 / 5.375 / 2)


def test_the_bound_is_where_the_z_statistic_is_two_and_zero_reads_bound_at_zero():
    rng = np.random.default_rng(0)
    k_t, k_c = rng.integers(1, 500, 200), rng.integers(0, 500, 200)
    n_t, n_c = 3e6, 2e6
    for z in (2.0, -1.0, 0.5):
        R = enrichment.ratio_bound(k_t, n_t, k_c, n_c, z)
        ok = np.isfinite(R) & (R > 0)
        assert ok.mean() > 0.9
        assert np.allclose(enrichment.ratio_z(R[ok], k_t[ok], n_t, k_c[ok], n_c), z, atol=1e-8)
    assert enrichment.ratio_bound(0, n_t, 10, n_c, 2.0) == 0.0  # z(0) = 2·√(3/8) < 2: no positive bound
    assert np.allclose(enrichment.ratio_bound(k_t, n_t, k_c, n_c, 0.0), enrichment.ratio(k_t, n_t, k_c, n_c))


def test_poisson_interval_ratio_is_kuais_at_equal_depth():
    # 10 target reads over 2 replicates, 2 control reads over 2 replicates, equal depth:
    # λ_lo = ½·χ²(0.025; 20)/2 = 9.590777/4, λ_hi = ½·χ²(0.975; 6)/2 = 14.449375/4
    score = enrichment.poisson_ratio(10, 2e6, 2, 2, 2e6, 2)
    assert score == pytest.approx(9.590777 / 14.449375, rel=1e-5)
    assert chi2.ppf(0.025, 20) == pytest.approx(9.590777, rel=1e-6)
    assert enrichment.poisson_ratio(0, 2e6, 2, 2, 2e6, 2) == 0.0
    # a target sample read twice as deeply needs twice the reads for the same score
    assert enrichment.poisson_ratio(20, 4e6, 2, 2, 2e6, 2) > score > enrichment.poisson_ratio(10, 4e6, 2, 2, 2e6, 2)


def test_normalized_z_is_favers():
    # 30 reads of 1e6 in a library of 1e5 compounds: p_o = 3e-5, p_i = 1e-5
    expected = (3e-5 - 1e-5) / np.sqrt(1e-5 * (1 - 1e-5))
    assert enrichment.normalized_z(30, 1e6, 100_000) == pytest.approx(expected, rel=1e-12)
    assert enrichment.normalized_z(10, 1e6, 100_000) == pytest.approx(0.0, abs=1e-12)
