"""Removal of the centre-of-mass linear and angular momentum (GPUMD's ``correct_velocity``)."""

from __future__ import annotations

import numpy as np


def remove_linear_momentum(velocities: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Velocities with the centre-of-mass velocity subtracted (any consistent units)."""
    vcom = (masses[:, None] * velocities).sum(0) / masses.sum()
    return velocities - vcom


def remove_angular_momentum(positions: np.ndarray, velocities: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Velocities minus the rigid rotation omega x (r - r_com) that carries the total angular momentum.

    ``positions`` should be unwrapped (Å); omega solves I omega = L with I the inertia tensor about the
    centre of mass (pseudo-inverse: linear or single-atom systems have a singular I).
    """
    m = masses[:, None]
    r = positions - (m * positions).sum(0) / masses.sum()
    ang = np.cross(r, m * velocities).sum(0)
    r2 = (r * r).sum(1)
    inertia = np.eye(3) * (masses * r2).sum() - np.einsum("i,ij,ik->jk", masses, r, r)
    omega = np.linalg.pinv(inertia) @ ang
    return velocities - np.cross(omega, r)
