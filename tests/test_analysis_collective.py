"""Collective (charge) transport against analytic cases: independent walkers (Haven ratio 1, sigma from the
known D) and perfectly correlated walkers (Haven ratio 1/N); the block error bar is calibrated."""

import numpy as np
import pytest

from interforge.analysis.collective import collective_transport
from interforge.analysis.diffusion import nernst_einstein_mS_cm
from interforge.analysis.synthetic import lattice_random_walk

P_HOP, A, DT = 0.5, 1.0, 1.0
D_TRUE = P_HOP * A ** 2 / (6 * DT) * 1e-4  # cm²/s


def test_independent_walkers_have_haven_ratio_one_and_the_analytic_sigma():
    rng = np.random.default_rng(5)
    n, vol, T = 64, 64 * 25.0, 600.0
    pos = lattice_random_walk(rng, n, 3000, A, P_HOP)
    res = collective_transport(pos, DT, n_blocks=5, volume_A3=vol, T_K=T)
    assert abs(res.haven_ratio - 1.0) < 3 * res.haven_ratio_err
    assert abs(res.D_sigma_cm2_s - D_TRUE) < 3 * res.D_sigma_err_cm2_s
    sigma_true = nernst_einstein_mS_cm(D_TRUE, n / vol, T)
    assert abs(res.sigma_mS_cm - sigma_true) < 3 * res.sigma_err_mS_cm
    assert res.D_tracer_cm2_s == pytest.approx(D_TRUE, rel=0.05)  # 64 ions average well


def test_perfectly_correlated_walkers_have_haven_ratio_one_over_n():
    rng = np.random.default_rng(6)
    n = 10
    walk = lattice_random_walk(rng, 1, 2000, A, P_HOP)
    pos = walk + rng.random((1, n, 3)) * 20  # every ion makes the same moves from its own site
    res = collective_transport(pos, DT, n_blocks=4, volume_A3=500.0, T_K=300.0)
    assert res.haven_ratio == pytest.approx(1.0 / n, rel=1e-9)
    assert res.D_sigma_cm2_s == pytest.approx(n * res.D_tracer_cm2_s, rel=1e-9)


def test_block_error_bar_matches_the_scatter_over_realisations():
    rng = np.random.default_rng(8)
    vals, errs = [], []
    for _ in range(40):
        res = collective_transport(lattice_random_walk(rng, 16, 1500, A, P_HOP), DT, n_blocks=5)
        vals.append(res.D_sigma_cm2_s)
        errs.append(res.D_sigma_err_cm2_s)
    ratio = np.mean(errs) / np.std(vals, ddof=1)
    assert 0.6 < ratio < 1.5
    assert abs(np.mean(vals) - D_TRUE) < 3 * np.std(vals, ddof=1) / np.sqrt(len(vals))
