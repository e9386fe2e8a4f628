"""MSD by FFT vs the direct average; D of lattice random walks and calibration of its error bar;
Arrhenius fit; Nernst–Einstein conversion against a hand calculation."""

import numpy as np
import pytest

from interforge.analysis import (
    arrhenius_fit,
    compute_msd,
    diffusion_coefficient,
    msd_direct,
    msd_fft_components,
    nernst_einstein_mS_cm,
)
from interforge.analysis.diffusion import KB_EV


def lattice_walk(rng, n_ions, n_frames, a=1.0, p_hop=0.5):
    """Cubic-lattice random walk: each frame, with probability p_hop an ion hops by a along ±x/±y/±z.
    Exact D = p_hop a² / (6 dt) (per frame)."""
    hops = rng.random((n_frames - 1, n_ions)) < p_hop
    axis = rng.integers(0, 3, (n_frames - 1, n_ions))
    sign = rng.choice([-1.0, 1.0], (n_frames - 1, n_ions))
    steps = np.zeros((n_frames - 1, n_ions, 3))
    np.put_along_axis(steps, axis[..., None], (hops * sign * a)[..., None], axis=2)
    pos = np.concatenate([np.zeros((1, n_ions, 3)), np.cumsum(steps, axis=0)])
    return pos + rng.random((1, n_ions, 3)) * 10


def test_fft_msd_equals_direct():
    rng = np.random.default_rng(1)
    pos = np.cumsum(rng.normal(size=(257, 7, 3)), axis=0) + 50.0  # offset: tests cancellation
    fft = msd_fft_components(pos)
    ref = msd_direct(pos)
    np.testing.assert_allclose(fft[1:], ref[1:], rtol=1e-8)
    assert np.all(fft[0] == 0)


def test_streamed_group_msd_matches_direct_average():
    rng = np.random.default_rng(2)
    pos = np.cumsum(rng.normal(size=(100, 11, 3)), axis=0)
    res = compute_msd(pos, dt_ps=0.5, chunk=4)
    ref = msd_direct(pos).mean(axis=1)
    np.testing.assert_allclose(res.total[1:], ref.sum(axis=1)[1:], rtol=1e-8)
    np.testing.assert_allclose(res.xy[1:], ref[1:, :2].sum(axis=1), rtol=1e-8)
    np.testing.assert_allclose(res.z[1:], ref[1:, 2], rtol=1e-8)
    np.testing.assert_allclose(res.lag_ps, np.arange(100) * 0.5)


def test_per_ion_slopes_equal_direct_least_squares_fits():
    rng = np.random.default_rng(6)
    pos = np.cumsum(rng.normal(size=(120, 9, 3)), axis=0) + 30.0
    dt, lo, hi = 0.25, 6, 61
    res = compute_msd(pos, dt, (lo, hi), chunk=4)
    direct = msd_direct(pos)  # (T, N, 3)
    t = np.arange(lo, hi) * dt
    for i in range(9):
        comps = [direct[lo:hi, i].sum(axis=1), direct[lo:hi, i, :2].sum(axis=1), direct[lo:hi, i, 2]]
        expect = [np.polyfit(t, y, 1)[0] for y in comps]
        np.testing.assert_allclose(res.slopes[i], expect, rtol=1e-8)


def test_random_walk_D_within_three_sigma():
    rng = np.random.default_rng(3)
    dt_ps, a, p = 0.2, 2.0, 0.5
    pos = lattice_walk(rng, 200, 800, a=a, p_hop=p)
    res = diffusion_coefficient(pos, dt_ps, "Li")
    d_true = p * a * a / (6 * dt_ps) * 1e-4  # Å²/ps -> cm²/s
    assert abs(res.total.D_cm2_s - d_true) < 3 * res.total.D_err_cm2_s
    assert res.total.D_err_cm2_s < 0.1 * d_true  # informative, not inflated
    # Components: xy carries 2/3 of the hops over d=2, z 1/3 over d=1 -> the same D.
    assert abs(res.xy.D_cm2_s - d_true) < 3 * res.xy.D_err_cm2_s
    assert abs(res.z.D_cm2_s - d_true) < 3 * res.z.D_err_cm2_s


def test_error_bar_is_calibrated_over_realisations():
    """Reported sigma vs the observed scatter of D over 40 independent walks: within ±30 %."""
    rng = np.random.default_rng(4)
    dt_ps, a, p = 1.0, 1.0, 0.7
    d_true = p * a * a / (6 * dt_ps) * 1e-4
    ds, sig = [], []
    for _ in range(40):
        res = diffusion_coefficient(lattice_walk(rng, 60, 300, a=a, p_hop=p), dt_ps)
        ds.append(res.total.D_cm2_s)
        sig.append(res.total.D_err_cm2_s)
    ds, sig = np.array(ds), np.array(sig)
    observed = ds.std(ddof=1)
    reported = np.sqrt(np.mean(sig ** 2))
    assert 0.7 < reported / observed < 1.3, (reported, observed)
    assert abs(ds.mean() - d_true) < 3 * observed / np.sqrt(ds.size)
    # The naive least-squares error of the averaged curve is far too small: the design matters.
    pos = lattice_walk(rng, 60, 300, a=a, p_hop=p)
    m = compute_msd(pos, dt_ps)
    t = m.lag_ps[15:151]
    y = m.total[15:151]
    cov = np.polyfit(t, y, 1, cov=True)[1]
    naive = np.sqrt(cov[0, 0]) / 6 * 1e-4
    assert naive < 0.5 * observed


def test_nernst_einstein_hand_calculation():
    # Docstring: n = 0.02 Å⁻³, D = 1e-7 cm²/s, T = 300 K -> 12.39499 mS/cm
    e, kb = 1.602176634e-19, 1.380649e-23
    hand = 0.02e30 * e * e * 1e-11 / (kb * 300.0) * 10.0  # S/m -> mS/cm
    assert nernst_einstein_mS_cm(1e-7, 0.02, 300.0) == pytest.approx(hand, rel=1e-12)
    assert nernst_einstein_mS_cm(1e-7, 0.02, 300.0) == pytest.approx(12.39499, rel=1e-6)
    assert nernst_einstein_mS_cm(1e-7, 0.02, 300.0, charge=2, haven_ratio=0.5) == pytest.approx(8 * hand)


def test_arrhenius_recovers_Ea_and_propagates_error():
    rng = np.random.default_rng(5)
    Ea, D0 = 0.35, 1e-2
    T = np.array([450.0, 500.0, 550.0, 600.0, 650.0, 700.0])
    rel = 0.05
    fits = []
    for _ in range(300):
        D = D0 * np.exp(-Ea / (KB_EV * T)) * np.exp(rng.normal(0, rel, T.size))
        fits.append(arrhenius_fit(T, D, rel * D))
    ea = np.array([f.Ea_eV for f in fits])
    ea_err = np.array([f.Ea_err_eV for f in fits])
    assert abs(ea.mean() - Ea) < 3 * ea.std() / np.sqrt(ea.size)
    # Error of Ea: compare with the analytic weighted-LSQ result (no chi² inflation in expectation).
    x = 1 / T
    analytic = rel / np.sqrt(((x - x.mean()) ** 2).sum()) * KB_EV
    assert ea.std() == pytest.approx(analytic, rel=0.15)
    assert np.median(ea_err) == pytest.approx(analytic, rel=0.15)
    # Extrapolated ln D at 300 K: predicted error vs the scatter of the extrapolations.
    y300 = np.array([f.predict_lnD(300.0)[0] for f in fits])
    e300 = np.array([f.predict_lnD(300.0)[1] for f in fits])
    assert np.median(e300) == pytest.approx(y300.std(), rel=0.2)
    d, lo, hi = fits[0].extrapolate(300.0)
    assert lo < d < hi
