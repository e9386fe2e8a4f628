"""Diffusion coefficients from Einstein fits, Arrhenius fits and Nernst–Einstein conductivity.

Error bars (design, see docs/analysis.md): the ordinary-least-squares slope of the group-averaged
MSD over a lag window is a *linear* functional of the MSD curve, so it equals the mean of the
per-ion OLS slopes. Its standard error is therefore the ion-to-ion standard deviation of the
per-ion slopes divided by sqrt(N_ions). This needs no model of the (strongly correlated) MSD
covariance across lags — the per-ion estimates carry it — and it is exact for independent ions,
which is what tracer diffusion assumes. The plain least-squares error of the averaged curve, by
contrast, treats the lags as independent and under-estimates the error by orders of magnitude.
Calibration over many synthetic random walks is checked in tests/test_analysis_diffusion.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from interforge.analysis.msd import MSDResult, compute_msd
from interforge.errors import InterforgeError

log = logging.getLogger(__name__)

#: Å²/ps -> cm²/s  (1 Å² = 1e-16 cm², 1 ps = 1e-12 s)
A2_PER_PS_TO_CM2_PER_S = 1e-4
#: Boltzmann constant, eV/K (CODATA 2018, exact)
KB_EV = 8.617333262e-5
#: e²/k_B · (Å⁻³ · cm²/s) -> mS/cm; see :func:`nernst_einstein_mS_cm` for the derivation.
NE_PREFACTOR = (1.602176634e-19 ** 2 / 1.380649e-23) * 1e30 * 1e-4 * 10.0


@dataclass
class DiffusionFit:
    """Einstein-fit diffusion coefficient of one direction set.

    D_cm2_s, D_err_cm2_s: estimate and its standard error, cm²/s. dim: dimensionality (3, 2 or 1).
    fit_start_ps / fit_end_ps: lag window of the fit, ps. n_ions: ions averaged.
    """

    D_cm2_s: float
    D_err_cm2_s: float
    dim: int
    fit_start_ps: float
    fit_end_ps: float
    n_ions: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class DiffusionResult:
    """D for total (3-D), in-plane xy (2-D) and normal z (1-D) motion, plus the MSD curves."""

    species: str
    total: DiffusionFit
    xy: DiffusionFit
    z: DiffusionFit
    msd: MSDResult = field(repr=False)

    def as_dict(self) -> dict:
        return {"D_cm2_s": self.total.D_cm2_s, "D_err_cm2_s": self.total.D_err_cm2_s,
                "D_xy_cm2_s": self.xy.D_cm2_s, "D_xy_err_cm2_s": self.xy.D_err_cm2_s,
                "D_z_cm2_s": self.z.D_cm2_s, "D_z_err_cm2_s": self.z.D_err_cm2_s,
                "fit_start_ps": self.total.fit_start_ps, "fit_end_ps": self.total.fit_end_ps,
                "n_ions": self.total.n_ions}


def fit_window(n_frames: int, start_fraction: float = 0.05, end_fraction: float = 0.5) -> tuple[int, int]:
    """Lag indices [lo, hi) of the Einstein fit: from ``start_fraction`` to ``end_fraction`` of the run.

    The paper fits up to 50 % of the run: longer lags have too few independent time origins.
    Starting a little after zero drops the ballistic/vibrational regime (the fitted intercept absorbs
    the vibrational plateau).
    """
    if n_frames < 4:
        raise InterforgeError(f"a diffusion fit needs at least 4 frames, got {n_frames}")
    last = n_frames - 1
    hi = max(3, int(round(end_fraction * last)) + 1)
    lo = min(max(1, int(round(start_fraction * last))), hi - 2)
    return lo, hi


def diffusion_from_msd(msd: MSDResult, species: str = "") -> DiffusionResult:
    """D ± standard error from an :class:`MSDResult` computed with a fit window (per-ion slopes)."""
    if msd.slopes is None:
        raise ValueError("MSDResult has no per-ion slopes; compute it with a fit window")
    n = msd.n_atoms
    t0, t1 = float(msd.lag_ps[msd.fit_lo]), float(msd.lag_ps[msd.fit_hi - 1])
    fits = []
    for col, dim in ((0, 3), (1, 2), (2, 1)):
        s = msd.slopes[:, col]
        d = s.mean() / (2 * dim) * A2_PER_PS_TO_CM2_PER_S
        err = (s.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan) / (2 * dim) * A2_PER_PS_TO_CM2_PER_S
        fits.append(DiffusionFit(float(d), float(err), dim, t0, t1, n))
    return DiffusionResult(species, *fits, msd=msd)


def diffusion_coefficient(positions: np.ndarray, dt_ps: float, species: str = "",
                          start_fraction: float = 0.05, end_fraction: float = 0.5) -> DiffusionResult:
    """Tracer D (cm²/s) of a group of ions from unwrapped positions (T, N, 3) Å sampled every dt_ps ps."""
    lo, hi = fit_window(positions.shape[0], start_fraction, end_fraction)
    return diffusion_from_msd(compute_msd(positions, dt_ps, (lo, hi)), species)


def nernst_einstein_mS_cm(D_cm2_s: float, n_per_A3: float, T_K: float, charge: float = 1.0,
                          haven_ratio: float = 1.0) -> float:
    """Ionic conductivity sigma = n z² e² D / (k_B T H_R), in mS/cm.

    D_cm2_s: diffusion coefficient, cm²/s; n_per_A3: carrier number density, Å⁻³; T_K: K;
    charge: z in units of e; haven_ratio: H_R (1 = tracer D taken as the charge diffusivity).

    Hand calculation (checked in tests): e²/k_B = (1.602176634e-19 C)² / 1.380649e-23 J/K
    = 1.859249e-15 C² K / J. With n = 0.02 Å⁻³ = 2e28 m⁻³, D = 1e-7 cm²/s = 1e-11 m²/s, T = 300 K,
    z = 1, H_R = 1: sigma = 1.859249e-15 · 2e28 · 1e-11 / 300 = 1.239499 S/m = 12.39499 mS/cm
    (1 S/m = 10 mS/cm). In practical units sigma [mS/cm] = 1.859249e12 · z² · n[Å⁻³] · D[cm²/s] / (T · H_R).
    """
    if T_K <= 0 or haven_ratio <= 0:
        raise InterforgeError(f"temperature ({T_K} K) and Haven ratio ({haven_ratio}) must be positive")
    return float(NE_PREFACTOR * charge ** 2 * n_per_A3 * D_cm2_s / (T_K * haven_ratio))


@dataclass
class Extrapolation:
    """An Arrhenius fit carried to ``T_K``: D (cm²/s) and Nernst–Einstein sigma (mS/cm) with 1σ bounds, or,
    when the fit does not resolve Ea (``resolved`` False), None values and a ``note`` saying why."""

    resolved: bool
    T_K: float
    D_cm2_s: float | None = None
    D_low_cm2_s: float | None = None
    D_high_cm2_s: float | None = None
    sigma_mS_cm: float | None = None
    sigma_low_mS_cm: float | None = None
    sigma_high_mS_cm: float | None = None
    note: str = ""


@dataclass
class ArrheniusFit:
    """ln D = ln D0 − Ea/(k_B T), fitted by weighted least squares in (1/T, ln D).

    Ea_eV ± Ea_err_eV; lnD0 ± lnD0_err (D0 in cm²/s); cov: 2×2 covariance of (intercept lnD0,
    slope −Ea/k_B in K); chi2_red: reduced chi² (the covariance is inflated by it when > 1, so a
    poor fit gets honest, wider error bars). T_K, D_cm2_s, D_err_cm2_s: the input points.
    """

    Ea_eV: float
    Ea_err_eV: float
    lnD0: float
    lnD0_err: float
    cov: np.ndarray
    chi2_red: float
    T_K: np.ndarray
    D_cm2_s: np.ndarray
    D_err_cm2_s: np.ndarray

    def predict_lnD(self, T_K: float) -> tuple[float, float]:
        """ln D at T_K and its standard error, propagated through the slope–intercept covariance."""
        x = np.array([1.0, 1.0 / T_K])
        return float(self.lnD0 - self.Ea_eV / (KB_EV * T_K)), float(np.sqrt(x @ self.cov @ x))

    def extrapolate(self, T_K: float) -> tuple[float, float, float]:
        """D at T_K (cm²/s) with its 1-sigma lower and upper bounds (log-normal, exp(lnD ± err))."""
        y, e = self.predict_lnD(T_K)
        return float(np.exp(y)), float(np.exp(y - e)), float(np.exp(y + e))

    def resolves_Ea(self, min_significance: float) -> bool:
        """Whether Ea exceeds ``min_significance`` standard errors: only then does the slope say anything about
        another temperature (a slope indistinguishable from zero, or negative, extrapolates to any D at all)."""
        return bool(np.isfinite(self.Ea_err_eV) and self.Ea_eV > min_significance * self.Ea_err_eV)

    def conductivity_at(self, T_K: float, n_per_A3: float, charge: float, min_significance: float) -> "Extrapolation":
        """D (cm²/s) and the Nernst–Einstein sigma (mS/cm) at ``T_K`` with their 1σ bounds (tracer D, Haven ratio
        1); all None, with a note saying why, when the fit does not resolve Ea (:meth:`resolves_Ea`)."""
        if not self.resolves_Ea(min_significance):
            return Extrapolation(False, T_K, note=self.unresolved_note(min_significance))
        d = self.extrapolate(T_K)
        sig = tuple(nernst_einstein_mS_cm(x, n_per_A3, T_K, charge) for x in d)
        return Extrapolation(True, T_K, *d, *sig)

    def unresolved_note(self, min_significance: float) -> str:
        return (f"Ea {self.Ea_eV:.2f} ± {self.Ea_err_eV:.2f} eV is not resolved (not {min_significance:g} standard "
                "errors above zero): no extrapolated value")


def arrhenius_fit(T_K, D_cm2_s, D_err_cm2_s=None) -> ArrheniusFit:
    """Weighted Arrhenius fit. Weights 1/sigma² of ln D with sigma_lnD = D_err/D (first order)."""
    T = np.asarray(T_K, float)
    D = np.asarray(D_cm2_s, float)
    if T.size < 2 or np.any(D <= 0) or np.any(T <= 0):
        raise InterforgeError("an Arrhenius fit needs >= 2 temperatures with positive D")
    err = np.asarray(D_err_cm2_s, float) if D_err_cm2_s is not None else np.full_like(D, np.nan)
    s = err / D
    if not np.all(np.isfinite(s) & (s > 0)):
        s = np.ones_like(D)  # unweighted; the chi² scaling below then sets the error scale
        scale_always = True
    else:
        scale_always = False
    X = np.column_stack([np.ones_like(T), 1.0 / T])
    y = np.log(D)
    W = 1.0 / s ** 2
    A = X.T @ (X * W[:, None])
    cov = np.linalg.inv(A)
    beta = cov @ (X.T @ (W * y))
    resid = y - X @ beta
    dof = T.size - 2
    chi2_red = float((W * resid ** 2).sum() / dof) if dof > 0 else float("nan")
    if dof > 0 and (scale_always or chi2_red > 1.0):
        cov = cov * chi2_red
    lnD0, slope = beta
    return ArrheniusFit(Ea_eV=float(-slope * KB_EV), Ea_err_eV=float(np.sqrt(cov[1, 1]) * KB_EV),
                        lnD0=float(lnD0), lnD0_err=float(np.sqrt(cov[0, 0])), cov=cov, chi2_red=chi2_red,
                        T_K=T, D_cm2_s=D, D_err_cm2_s=err)
