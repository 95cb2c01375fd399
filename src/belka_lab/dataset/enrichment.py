"""Enrichment scores of a DEL selection: how much more often a compound was read after selection
on a target than in its no-target control, from read counts alone.

``k`` is a compound's count summed over a sample's replicates, ``n`` the sample's total reads
(summed over the same replicates), ``r`` the number of replicates; ``t`` the target, ``c`` the
control. Every function takes arrays (one value per compound) and returns float64 arrays.

- :func:`ratio` (Lim et al. 2022, del_qsar): R = [(k_t + 3/8)/n_t] / [(k_c + 3/8)/n_c].
- :func:`ratio_bound` : the R at which del_qsar's square-root z statistic
  z = 2(√(k_t + 3/8) − √((k_c + 3/8)·x)) / √(1 + x), x = R·n_t/n_c, equals ``z`` (z = +2 gives
  the lower bound R_lb, z = −2 the upper one, z = 0 gives R): solved in closed form.
- :func:`poisson_ratio` (Kuai et al. 2018): λ_lo(target) / λ_hi(control) with
  λ_lo = ½·χ²_{α/2}(2k)/r and λ_hi = ½·χ²_{1−α/2}(2k + 2)/r, each rate scaled by its sample's
  reads per replicate (n/r) so samples of different depth compare; equal depths give the
  published score exactly.
- :func:`normalized_z` (Faver et al. 2019): z_n = (p_o − p_i)/√(p_i(1 − p_i)), p_o = k/n,
  p_i = 1/library size.

These are written here, not taken from DELi (``deli-chem``): its scores live on its decoding
pipeline's objects and it pins numpy < 2, which this project's PyTorch and RDKit do not allow.
``docs/del_counts.md`` works an example of each.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

PSEUDO = 3.0 / 8.0  # del_qsar's (Anscombe's) pseudo-count
SCORES = ("ratio", "ratio_lb", "poisson_ratio", "normalized_z")
NEEDS_CONTROL = ("ratio", "ratio_lb", "poisson_ratio")  # the scores that compare with a no-target control


def ratio(k_t, n_t, k_c, n_c) -> np.ndarray:
    """del_qsar's enrichment ratio R."""
    k_t, k_c = np.asarray(k_t, np.float64), np.asarray(k_c, np.float64)
    return ((k_t + PSEUDO) / n_t) / ((k_c + PSEUDO) / n_c)


def ratio_z(R, k_t, n_t, k_c, n_c):
    """del_qsar's square-root z statistic of enrichment R for these counts (0 at R = :func:`ratio`):
    numpy arrays (float64) or torch tensors alike — the ``enrichment_z`` loss is this, on tensors."""
    if hasattr(R, "sqrt"):  # a tensor: its own sqrt (and autograd)
        x, sqrt = R * (n_t / n_c), lambda v: v.sqrt()
    else:
        x, sqrt = np.asarray(R, np.float64) * n_t / n_c, np.sqrt
        k_t, k_c = np.asarray(k_t, np.float64), np.asarray(k_c, np.float64)
    return 2.0 * (sqrt(k_t + PSEUDO) - sqrt((k_c + PSEUDO) * x)) / sqrt(1.0 + x)


def ratio_bound(k_t, n_t, k_c, n_c, z: float = 2.0) -> np.ndarray:
    """The R at which :func:`ratio_z` equals ``z``: z = 2 is del_qsar's lower bound R_lb.

    With a = k_t + 3/8, b = k_c + 3/8 and y = √x, z(y) = z squares to
    (4b − z²) y² − 8√(ab) y + (4a − z²) = 0; the root below √(a/b) holds for z > 0, the one
    above for z < 0. When 4b ≤ z² the upper bound is unbounded (inf)."""
    a = np.asarray(k_t, np.float64) + PSEUDO
    b = np.asarray(k_c, np.float64) + PSEUDO
    z2 = float(z) ** 2
    qa, qb, qc = 4.0 * b - z2, 8.0 * np.sqrt(a * b), 4.0 * a - z2
    root = np.sqrt(np.clip(qb**2 - 4.0 * qa * qc, 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        if z > 0:
            y = np.where(qc > 0, qc * 2.0 / (qb + root), 0.0)  # the smaller root, stable (no cancellation)
        elif z < 0:
            y = np.where(qa > 0, (qb + root) / (2.0 * qa), np.inf)
        else:
            y = np.sqrt(a / b)
    return y**2 * n_c / n_t


def poisson_ratio(k_t, n_t, r_t: int, k_c, n_c, r_c: int, alpha: float = 0.05) -> np.ndarray:
    """Kuai et al.'s lower-to-upper confidence-bound ratio of the Poisson rates, depth-scaled."""
    k_t, k_c = np.asarray(k_t, np.float64), np.asarray(k_c, np.float64)
    lo = np.where(k_t > 0, 0.5 * chi2.ppf(alpha / 2.0, 2.0 * np.maximum(k_t, 1e-300)), 0.0) / r_t
    hi = 0.5 * chi2.ppf(1.0 - alpha / 2.0, 2.0 * k_c + 2.0) / r_c
    return (lo / (n_t / r_t)) / (hi / (n_c / r_c))


def normalized_z(k, n, library_size: int) -> np.ndarray:
    """Faver et al.'s normalized z-score of one sample's counts."""
    p_o = np.asarray(k, np.float64) / n
    p_i = 1.0 / library_size
    return (p_o - p_i) / np.sqrt(p_i * (1.0 - p_i))
