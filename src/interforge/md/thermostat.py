"""Bussi–Donadio–Parrinello stochastic velocity rescaling (J. Chem. Phys. 126, 014101 (2007)).

The kinetic energy K follows the stochastic relaxation dK = (K_t - K) dt/tau + 2 sqrt(K K_t / N_f) dW/sqrt(tau),
integrated exactly over one interval; the velocities are then scaled by alpha = sqrt(K_new / K).
"""

from __future__ import annotations

import math

import numpy as np


def bussi_factor(kinetic_eV: float, target_kinetic_eV: float, ndof: int, dt_over_tau: float,
                 rng: np.random.Generator) -> float:
    """The velocity scaling factor alpha for one thermostat interval.

    ``kinetic_eV`` current K, ``target_kinetic_eV`` = N_f kB T / 2, ``ndof`` N_f, ``dt_over_tau`` the interval
    over the time constant (0 = no coupling, inf = plain canonical resampling of K).
    """
    if kinetic_eV <= 0.0 or ndof < 1:
        return 1.0
    c = math.exp(-dt_over_tau) if math.isfinite(dt_over_tau) else 0.0
    f = (1.0 - c) * target_kinetic_eV / (ndof * kinetic_eV)
    r1 = rng.standard_normal()
    # Sum of N_f - 1 squared unit Gaussians is chi-square with N_f - 1 degrees of freedom.
    s = 2.0 * rng.gamma(0.5 * (ndof - 1)) if ndof > 1 else 0.0
    alpha2 = c + f * (r1 * r1 + s) + 2.0 * r1 * math.sqrt(c * f)
    alpha = math.sqrt(max(alpha2, 0.0))
    # The square root has two branches; the sign keeps the trajectory continuous (Bussi et al., appendix).
    if f > 0 and r1 + math.sqrt(c / f) < 0.0:
        alpha = -alpha
    return alpha
