"""Collective (charge) transport: conductivity from the MSD of the summed charge displacement, and the
Haven ratio measured against the tracer diffusion coefficient of the same ions.

For one mobile species of charge z e, the charge displacement is Q(t) = z Σ_i r_i(t) and

    sigma = e² / (6 V k_B T) · d<|Q(t) − Q(0)|²>/dt  =  n z² e² D_sigma / (k_B T),
    D_sigma = (1 / 6N) d<|Σ_i Δr_i(t)|²>/dt,   H_R = D_tracer / D_sigma,

with n = N/V. Cross terms between different ions are what make D_sigma differ from the tracer D.

Estimator and error bar (documented in docs/analysis.md): the run is cut into B contiguous blocks of
equal length. In each block the time-origin-averaged collective MSD and the tracer MSD are fitted
by ordinary least squares over the same lag window (the same fractions of the block as the tracer fit
uses of the whole run). D_sigma and D_tracer are the means of the block values and their errors the
standard errors over blocks (std / √B; for D_sigma the x, y and z parts of the charge displacement are
taken as uncorrelated and their block variances added, which steadies the estimate from few blocks). The Haven ratio is the ratio of the two block means, with a
jackknife (leave one block out) error, so D_tracer and D_sigma come from identical windows. The
collective MSD is a single time series (there is no ion-to-ion average to lean on), so its error bar
can only come from time: blocks are the simplest honest way and are calibrated by a test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interforge.analysis.diffusion import A2_PER_PS_TO_CM2_PER_S, fit_window, nernst_einstein_mS_cm
from interforge.analysis.msd import compute_msd
from interforge.errors import InterforgeError


@dataclass
class CollectiveResult:
    """Collective transport of one mobile species.

    D_sigma_cm2_s ± D_sigma_err_cm2_s: charge diffusivity (1/6N slope of the collective MSD), cm²/s.
    D_tracer_cm2_s ± D_tracer_err_cm2_s: tracer D from the same blocks and windows, cm²/s.
    haven_ratio ± haven_ratio_err: D_tracer / D_sigma (None when D_sigma <= 0).
    sigma_mS_cm ± sigma_err_mS_cm: conductivity from D_sigma (None without a temperature or volume).
    n_blocks, block_ps; fit_start_ps / fit_end_ps: the lag window inside each block, ps.
    lag_ps, msd_collective_A2: the whole run's collective MSD divided by N (Å², comparable with the
    tracer MSD: equal for uncorrelated ions), for the figure. block_D_sigma / block_D_tracer: per block.
    """

    D_sigma_cm2_s: float
    D_sigma_err_cm2_s: float
    D_tracer_cm2_s: float
    D_tracer_err_cm2_s: float
    haven_ratio: float | None
    haven_ratio_err: float | None
    sigma_mS_cm: float | None
    sigma_err_mS_cm: float | None
    n_ions: int
    n_blocks: int
    block_ps: float
    fit_start_ps: float
    fit_end_ps: float
    lag_ps: np.ndarray
    msd_collective_A2: np.ndarray
    block_D_sigma: np.ndarray
    block_D_tracer: np.ndarray

    def as_dict(self) -> dict:
        keys = ("D_sigma_cm2_s", "D_sigma_err_cm2_s", "D_tracer_cm2_s", "D_tracer_err_cm2_s", "haven_ratio",
                "haven_ratio_err", "sigma_mS_cm", "sigma_err_mS_cm", "n_ions", "n_blocks", "block_ps",
                "fit_start_ps", "fit_end_ps")
        out = {k: getattr(self, k) for k in keys}
        out["block_D_sigma_cm2_s"] = self.block_D_sigma.tolist()
        out["block_D_tracer_cm2_s"] = self.block_D_tracer.tolist()
        return out


def collective_transport(positions: np.ndarray, dt_ps: float, n_blocks: int = 5, start_fraction: float = 0.05,
                         end_fraction: float = 0.5, volume_A3: float | None = None, T_K: float | None = None,
                         charge: float = 1.0) -> CollectiveResult:
    """D_sigma, the Haven ratio and sigma of N ions from unwrapped positions (T, N, 3) Å every dt_ps ps.

    volume_A3: mean cell volume, Å³ (carrier density N/V); T_K: temperature, K. Without both, sigma is None.
    """
    pos = np.asarray(positions, dtype=np.float64)
    n_t, n = pos.shape[0], pos.shape[1]
    if n_blocks < 2:
        raise InterforgeError(f"collective transport needs at least 2 blocks, got {n_blocks}")
    length = n_t // n_blocks
    if length < 8:
        raise InterforgeError(f"{n_t} frames are too few for {n_blocks} blocks of the collective MSD")
    lo, hi = fit_window(length, start_fraction, end_fraction)
    d_tr = np.empty(n_blocks)
    d_comp = np.empty((n_blocks, 3))  # the x, y, z parts of D_sigma in each block
    for b in range(n_blocks):
        blk = pos[b * length:(b + 1) * length]
        tracer = compute_msd(blk, dt_ps, (lo, hi))
        d_tr[b] = tracer.slopes[:, 0].mean() / 6.0 * A2_PER_PS_TO_CM2_PER_S
        q = blk.sum(axis=1)  # (T_b, 3) summed displacement
        split = np.zeros((len(blk), 3, 3))
        split[:, [0, 1, 2], 0] = q  # one 'atom' per Cartesian component: slopes[c, 0] is component c's slope
        d_comp[b] = compute_msd(split, dt_ps, (lo, hi)).slopes[:, 0] / (6.0 * n) * A2_PER_PS_TO_CM2_PER_S
    d_sig = d_comp.sum(axis=1)
    root_b = np.sqrt(n_blocks)
    # error of the sum from the block scatter of each component (x, y, z parts taken as uncorrelated):
    # three variance estimates with B - 1 degrees of freedom each are steadier than one of the sum
    ds, ds_err = float(d_sig.mean()), float(np.sqrt(d_comp.var(axis=0, ddof=1).sum()) / root_b)
    dt_, dt_err = float(d_tr.mean()), float(d_tr.std(ddof=1) / root_b)
    haven = haven_err = None
    if ds > 0:
        haven = dt_ / ds
        sub = np.array([np.delete(d_tr, b).mean() / np.delete(d_sig, b).mean() for b in range(n_blocks)])
        if np.all(np.isfinite(sub)):
            haven_err = float(np.sqrt((n_blocks - 1) / n_blocks * np.sum((sub - sub.mean()) ** 2)))
    sigma = sigma_err = None
    if volume_A3 and T_K:
        dens = n / volume_A3
        sigma = nernst_einstein_mS_cm(ds, dens, T_K, charge)
        sigma_err = nernst_einstein_mS_cm(ds_err, dens, T_K, charge)
    full = compute_msd(pos.sum(axis=1, keepdims=True), dt_ps)
    return CollectiveResult(ds, ds_err, dt_, dt_err, haven, haven_err, sigma, sigma_err, n, n_blocks,
                            float(length * dt_ps), float(lo * dt_ps), float((hi - 1) * dt_ps), full.lag_ps,
                            full.total / n, d_sig, d_tr)
