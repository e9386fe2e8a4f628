"""Stochastic cell rescaling (SCR; Bernetti & Bussi, J. Chem. Phys. 153, 114107 (2020)).

Isotropic, for eps = ln V:
    d eps = -(beta_T / tau_p) (P0 - P_int - kT/V) dt + sqrt(2 kT beta_T / (V tau_p)) dW
with P_int the instantaneous pressure (kinetic + virial), beta_T the isothermal compressibility estimate
(1 / bulk modulus; it sets only the relaxation rate, not the sampled distribution), tau_p the time
constant. Lengths scale by exp(d eps / 3), velocities by its inverse.

Orthorhombic (independent diagonal components eps_a = ln L_a): the same equation per axis with P_aa and
the rate beta_T / (3 tau_p); the three add up to the isotropic equation for ln V.

Normal (slabs and interfaces; only z couples): eps_z = ln L_z = ln V + const obeys the isotropic equation
with P_zz; x and y stay fixed.
"""

from __future__ import annotations

import math

import numpy as np

MODES = ("isotropic", "orthorhombic", "normal")


def scr_strain(mode: str, pressure_diag_eV_A3: np.ndarray, target_pressure_eV_A3: float, volume_A3: float,
               kT_eV: float, compressibility_A3_eV: float, dt_over_tau: float,
               rng: np.random.Generator) -> np.ndarray:
    """Log-strain increments (3,) along x, y, z for one barostat interval.

    ``pressure_diag_eV_A3`` (Pxx, Pyy, Pzz) instantaneous (kinetic + virial), eV/Å³; ``target_pressure_eV_A3``
    P0; ``volume_A3`` V; ``kT_eV`` reservoir kT; ``compressibility_A3_eV`` beta_T; ``dt_over_tau`` dt / tau_p.
    The lengths are then scaled by exp(increment).
    """
    p = np.asarray(pressure_diag_eV_A3, dtype=float)
    extra = kT_eV / volume_A3
    if mode == "isotropic":
        drift = -compressibility_A3_eV * dt_over_tau * (target_pressure_eV_A3 - p.mean() - extra)
        noise = math.sqrt(2.0 * kT_eV * compressibility_A3_eV * dt_over_tau / volume_A3) * rng.standard_normal()
        return np.full(3, (drift + noise) / 3.0)
    if mode == "orthorhombic":
        drift = -compressibility_A3_eV * dt_over_tau / 3.0 * (target_pressure_eV_A3 - p - extra)
        noise = math.sqrt(2.0 * kT_eV * compressibility_A3_eV * dt_over_tau / (3.0 * volume_A3)) * rng.standard_normal(3)
        return drift + noise
    if mode == "normal":
        drift = -compressibility_A3_eV * dt_over_tau * (target_pressure_eV_A3 - p[2] - extra)
        noise = math.sqrt(2.0 * kT_eV * compressibility_A3_eV * dt_over_tau / volume_A3) * rng.standard_normal()
        return np.array([0.0, 0.0, drift + noise])
    raise ValueError(f"unknown barostat mode '{mode}' (choose from {', '.join(MODES)})")
