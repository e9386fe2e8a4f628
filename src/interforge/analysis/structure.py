"""Radial distribution functions, running coordination numbers and coordination-number profiles."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from interforge.analysis.neighbours import pairs_within

log = logging.getLogger(__name__)


@dataclass
class RDFResult:
    """g_ab(r) and the running coordination number n_ab(r) = number of b within r of an a.

    r_A: (B,) bin centres, Å; g: (B,) dimensionless; cn: (B,) running CN at the bin's outer edge.
    """

    pair: str
    r_A: np.ndarray
    g: np.ndarray
    cn: np.ndarray


def rdf(frames_a, frames_b, cells, r_max: float = 6.0, n_bins: int = 120, same: bool = False,
        pair: str = "") -> RDFResult:
    """Average g_ab(r) over frames. frames_a: (F, Na, 3), frames_b: (F, Nb, 3) Å; cells: (F, 3, 3).

    g(r) = <h(r)> / (N_a · rho_b · 4/3 π (r_out³ − r_in³)) with rho_b = N_b/V (N_b − 1 for a = b), so an
    ideal gas gives 1. r_max must stay below half the shortest cell width.
    """
    edges = np.linspace(0.0, r_max, n_bins + 1)
    hist = np.zeros(n_bins)
    norm = 0.0
    n_frames = len(frames_a)
    for f in range(n_frames):
        a, b = frames_a[f], frames_b[f]
        _, _, vec = pairs_within(a, b, cells[f], r_max, same=same)
        hist += np.histogram(np.linalg.norm(vec, axis=1), bins=edges)[0]
        nb = len(b) - 1 if same else len(b)
        norm += len(a) * nb / abs(np.linalg.det(cells[f]))
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = hist / (norm * shell)
    cn = np.cumsum(hist) / (n_frames * len(frames_a[0]))
    return RDFResult(pair, 0.5 * (edges[1:] + edges[:-1]), g, cn)


@dataclass
class CNProfile:
    """Coordination numbers of the mobile ions, binned by their z, averaged over a frame window.

    z_A: (B,) bin centres, Å. ions: (B,) mean number of ions per bin per frame. cn_by_anion:
    {anion: (B,) mean CN of ions in the bin}. cn_total: (B,). classes: {"lt6", "eq6", "gt6":
    (B,) mean number of ions per frame with total CN < 6, = 6, > 6}. cutoff_A: Å; frames: used.
    """

    z_A: np.ndarray
    ions: np.ndarray
    cn_by_anion: dict
    cn_total: np.ndarray
    classes: dict
    cutoff_A: float
    frames: list


def coordination_numbers(pos_ion: np.ndarray, pos_anion: np.ndarray, cell: np.ndarray, cutoff: float) -> np.ndarray:
    """Number of anions within ``cutoff`` Å of each ion in one frame, (N_ion,) int."""
    i, _, _ = pairs_within(pos_ion, pos_anion, cell, cutoff)
    return np.bincount(i, minlength=len(pos_ion))


def z_bins(cell_z: float, bin_width: float) -> np.ndarray:
    n = max(1, int(round(cell_z / bin_width)))
    return np.linspace(0.0, cell_z, n + 1)


def cn_profile(positions, cells, ion_idx, anion_idx: dict, frames, cutoff: float = 3.5,
               bin_width: float = 1.0) -> CNProfile:
    """CN of ions (indices ion_idx) by anion type ({name: indices}) vs z over the given frames.

    positions: (T, N, 3) Å (unwrapped; z is wrapped into the cell here); cells: (T, 3, 3) Å.
    Bins follow the first analysed frame's cell height (c_z) with ``bin_width`` Å.
    """
    frames = list(frames)
    edges = z_bins(cells[frames[0]][2, 2], bin_width)
    nb = len(edges) - 1
    ions = np.zeros(nb)
    cn_sum = {k: np.zeros(nb) for k in anion_idx}
    tot_sum = np.zeros(nb)
    classes = {"lt6": np.zeros(nb), "eq6": np.zeros(nb), "gt6": np.zeros(nb)}
    for f in frames:
        cell = cells[f]
        pi = positions[f][ion_idx]
        z = np.mod(pi[:, 2], cell[2, 2]) * (edges[-1] / cell[2, 2])
        b = np.clip(np.digitize(z, edges) - 1, 0, nb - 1)
        ions += np.bincount(b, minlength=nb)
        total = np.zeros(len(ion_idx))
        for name, idx in anion_idx.items():
            cn = coordination_numbers(pi, positions[f][idx], cell, cutoff)
            cn_sum[name] += np.bincount(b, weights=cn, minlength=nb)
            total += cn
        tot_sum += np.bincount(b, weights=total, minlength=nb)
        classes["lt6"] += np.bincount(b, weights=total < 6, minlength=nb)
        classes["eq6"] += np.bincount(b, weights=total == 6, minlength=nb)
        classes["gt6"] += np.bincount(b, weights=total > 6, minlength=nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        cn_mean = {k: v / ions for k, v in cn_sum.items()}
        tot_mean = tot_sum / ions
    nf = max(1, len(frames))
    return CNProfile(0.5 * (edges[1:] + edges[:-1]), ions / nf, cn_mean, tot_mean,
                     {k: v / nf for k, v in classes.items()}, cutoff, frames)
