"""Is the crystal still a crystal? Order parameters of a sublattice along an MD run.

The Lindemann index of a sublattice is the root-mean-square displacement of its atoms about their
time-averaged sites divided by their mean nearest-neighbour distance. A solid keeps it near 0.05-0.1;
a melted or amorphised sublattice grows without bound with the window (Lindemann's criterion puts
melting at about 0.1-0.15). For a superionic conductor the mobile ion melts by design, so the
anion sublattice (Cl in Li2ZrCl6) is the one that tells a solid from a liquid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SolidCheck:
    """``lindemann``: sublattice Lindemann index (dimensionless); ``volume_drift``: relative change of the
    mean volume from the first to the second half of the window; ``nn_distance_A``: the sublattice's mean
    nearest-neighbour distance, Å."""

    lindemann: float
    volume_drift: float
    nn_distance_A: float
    n_frames: int


def _mic_nn_distance(frac: np.ndarray, cell: np.ndarray) -> float:
    """Mean nearest-neighbour distance (Å) among fractional positions ``frac`` (n, 3) in ``cell``: all
    27 neighbouring images, so small cells are handled."""
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=float)
    d = frac[:, None, :] - frac[None, :, :]
    d -= np.round(d)
    best = np.full((len(frac), len(frac)), np.inf)
    for s in shifts:
        cart = (d + s) @ cell
        best = np.minimum(best, np.linalg.norm(cart, axis=-1))
    np.fill_diagonal(best, np.inf)
    if len(frac) == 1:  # one atom: its nearest neighbour is its own image
        return float(np.min(np.linalg.norm(shifts[np.any(shifts != 0, axis=1)] @ cell, axis=1)))
    return float(best.min(axis=1).mean())


def sublattice_order(positions: np.ndarray, cells: np.ndarray) -> SolidCheck:
    """Lindemann index and volume drift of one sublattice over a window.

    ``positions`` (T, n, 3) unwrapped Cartesian Å; ``cells`` (T, 3, 3) Å (rows are cell vectors). Positions
    are taken to fractional coordinates of each frame's cell so that NPT cell fluctuations and a drift of
    the whole sublattice do not count as disorder."""
    pos = np.asarray(positions, dtype=float)
    cells = np.asarray(cells, dtype=float)
    if pos.ndim != 3 or pos.shape[0] < 2:
        raise ValueError("sublattice_order needs at least two frames of (n, 3) positions")
    frac = np.einsum("tnj,tjk->tnk", pos, np.linalg.inv(cells))
    frac -= frac.mean(axis=1, keepdims=True)  # the sublattice's centre of mass stays put
    mean_cell = cells.mean(axis=0)
    site = frac.mean(axis=0)
    disp = (frac - site) @ mean_cell
    rms = float(np.sqrt(np.mean(np.sum(disp**2, axis=-1))))
    nn = _mic_nn_distance(site - np.floor(site), mean_cell)
    return SolidCheck(lindemann=rms / nn, volume_drift=volume_drift(cells), nn_distance_A=nn, n_frames=len(pos))


def volume_drift(cells: np.ndarray) -> float:
    """Mean volume of the second half of a window over that of the first, minus 1; ``cells`` (T, 3, 3) Å."""
    vols = np.abs(np.linalg.det(np.asarray(cells, dtype=float)))
    half = len(vols) // 2
    return float(vols[half:].mean() / vols[:half].mean() - 1.0)
