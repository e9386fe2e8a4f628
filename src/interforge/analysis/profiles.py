"""Profiles along the interface normal z: number density vs time, hop events, net-displacement
classes, and interface planes detected from composition profiles.

Convention: the interface normal is the Cartesian z axis and the third lattice vector spans it
(the layout interforge's interface builder produces); z is wrapped into [0, c_z).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from interforge.analysis.structure import z_bins

log = logging.getLogger(__name__)


def _area_xy(cell: np.ndarray) -> float:
    return float(abs(np.cross(cell[0], cell[1])[2]))


@dataclass
class DensityMap:
    """Number density of one species along z per frame. z_A: (B,) Å; times_ps: (T',) ps;
    density: (T', B) Å⁻³ (count / (A_xy · Δz))."""

    z_A: np.ndarray
    times_ps: np.ndarray
    density: np.ndarray


def density_z_time(positions, cells, times_ps, idx, bin_width: float = 1.0, stride: int = 1) -> DensityMap:
    """Number density (Å⁻³) of atoms ``idx`` along z for every ``stride``-th frame."""
    frames = range(0, positions.shape[0], stride)
    edges = z_bins(cells[0][2, 2], bin_width)
    nb = len(edges) - 1
    out = np.empty((len(frames), nb))
    for k, f in enumerate(frames):
        cz = cells[f][2, 2]
        z = np.mod(positions[f][idx, 2], cz) * (edges[-1] / cz)
        counts = np.histogram(z, bins=edges)[0]
        out[k] = counts / (_area_xy(cells[f]) * cz / nb)
    return DensityMap(0.5 * (edges[1:] + edges[:-1]), np.asarray(times_ps)[list(frames)], out)


@dataclass
class HopProfile:
    """Hop events along z. A hop: net displacement > threshold_A between frames lag_ps apart, measured on
    positions averaged over ``average_ps`` around each of the two frames (vibration averaged out), binned at
    the earlier frame's z. z_A: (B,) Å; hops: (B,) mean hops per frame pair; ions: (B,) mean ions per bin
    at the earlier frames; probability: hops/ions; displacements_A: all pair displacements (for the
    histogram; pair by pair, ions in the order of ``idx``), Å; n_pairs: frame pairs used; window_ps: (start,
    end) actually used; average_ps: the averaging window actually used, ps; rate_per_ion_ns: hops per ion per
    ns over the window; pair_frames: the earlier frame of every pair."""

    z_A: np.ndarray
    hops: np.ndarray
    ions: np.ndarray
    probability: np.ndarray
    displacements_A: np.ndarray
    threshold_A: float
    lag_ps: float
    n_pairs: int
    window_ps: tuple
    average_ps: float = 0.0
    rate_per_ion_ns: float = float("nan")
    pair_frames: tuple = ()


def averaged_positions(positions, idx, frames, half: int) -> np.ndarray:
    """Positions of atoms ``idx`` averaged over frames f - half .. f + half (cut at the run's ends) for each
    f in ``frames``; (len(frames), len(idx), 3), Å. half = 0 returns the frames themselves."""
    frames = np.asarray(frames, int)
    if half <= 0:
        return np.stack([np.asarray(positions[f])[idx] for f in frames]) if len(frames) else np.zeros((0, len(idx), 3))
    n_t = positions.shape[0]
    out = np.empty((len(frames), len(idx), 3))
    for k, f in enumerate(frames):
        lo, hi = max(0, f - half), min(n_t, f + half + 1)
        out[k] = np.asarray(positions[lo:hi])[:, idx].mean(axis=0)
    return out


def hop_profile(positions, cells, times_ps, idx, threshold_A: float = 1.25, lag_ps: float = 10.0,
                window_start_ps: float = 1000.0, window_ps: float = 1000.0, bin_width: float = 1.0,
                average_ps: float = 0.0) -> HopProfile:
    """Hops of ions ``idx`` between non-overlapping frame pairs lag_ps apart inside the window.

    positions: (T, N, 3) unwrapped Å; times_ps: (T,) ps. Each end of a pair is the ion's position averaged
    over ``average_ps`` ps centred on that frame (a running mean; at most half the lag), so thermal vibration
    around a site does not count as a hop while a move to another site does. When the run is shorter than
    the window the last half of the run is used (and reported).
    """
    times = np.asarray(times_ps, float)
    idx = np.asarray(idx)
    dt = float(np.median(np.diff(times)))
    lag = max(1, int(round(lag_ps / dt)))
    t_end = times[-1]
    start, stop = window_start_ps, window_start_ps + window_ps
    if start + lag * dt > t_end:
        start, stop = times[0] + 0.5 * (t_end - times[0]), t_end
        log.warning("hop window beyond the run; using %.1f-%.1f ps", start, stop)
    half = int(round(min(average_ps, 0.5 * lag * dt) / dt / 2.0))
    if average_ps > 0.5 * lag * dt + 1e-9:
        log.warning("hop averaging window %.3g ps cut to half the hop lag (%.3g ps)", average_ps, 0.5 * lag * dt)
    first = int(np.searchsorted(times, start - 1e-9))
    pairs = [(f, f + lag) for f in range(first, len(times) - lag, lag) if times[f + lag] <= stop + 1e-9]
    edges = z_bins(cells[first][2, 2], bin_width)
    nb = len(edges) - 1
    hops = np.zeros(nb)
    ions = np.zeros(nb)
    disp_all = []
    for f0, f1 in pairs:
        p0, p1 = averaged_positions(positions, idx, [f0, f1], half)
        d = np.linalg.norm(p1 - p0, axis=1)
        cz = cells[f0][2, 2]
        b = np.clip(np.digitize(np.mod(p0[:, 2], cz) * (edges[-1] / cz), edges) - 1, 0, nb - 1)
        ions += np.bincount(b, minlength=nb)
        hops += np.bincount(b, weights=d > threshold_A, minlength=nb)
        disp_all.append(d)
    n = max(1, len(pairs))
    with np.errstate(invalid="ignore", divide="ignore"):
        prob = hops / ions
    rate = (hops.sum() / (len(idx) * len(pairs)) / (lag * dt) * 1000.0) if pairs and len(idx) else float("nan")
    return HopProfile(0.5 * (edges[1:] + edges[:-1]), hops / n, ions / n, prob,
                      np.concatenate(disp_all) if disp_all else np.zeros(0), threshold_A, lag * dt,
                      len(pairs), (float(start), float(stop)), float(2 * half * dt), float(rate),
                      tuple(int(f0) for f0, _ in pairs))


CLASS_NAMES = ("immobile", "z", "xy", "mixed-z", "mixed-xy")


@dataclass
class DisplacementClasses:
    """Net displacement of each ion from t0 to the end. R_xy, R_z: (N,) Å; z0_A: (N,) wrapped z at
    t0, Å; label: (N,) class names; counts: {class: n}; threshold_A; t0_ps actually used."""

    R_xy: np.ndarray
    R_z: np.ndarray
    z0_A: np.ndarray
    label: np.ndarray
    counts: dict
    threshold_A: float
    t0_ps: float


def classify_displacements(r_xy: np.ndarray, r_z: np.ndarray, threshold: float = 1.0) -> np.ndarray:
    """Class of each net displacement (paper's definitions, threshold in Å):
    z: R_xy < thr <= R_z; xy: R_z < thr <= R_xy; mixed-z: R_z > R_xy >= thr (ties go to mixed-z);
    mixed-xy: R_xy > R_z >= thr; immobile: both below thr."""
    lab = np.full(r_xy.shape, "immobile", dtype=object)
    big_xy, big_z = r_xy >= threshold, r_z >= threshold
    lab[~big_xy & big_z] = "z"
    lab[big_xy & ~big_z] = "xy"
    both = big_xy & big_z
    lab[both & (r_z >= r_xy)] = "mixed-z"
    lab[both & (r_xy > r_z)] = "mixed-xy"
    return lab.astype(str)


def displacement_classes(positions, cells, times_ps, idx, t0_ps: float = 2000.0,
                         threshold_A: float = 1.0) -> DisplacementClasses:
    """Net displacement classes of ions ``idx`` from the frame at t0_ps to the last frame.
    If t0 is beyond the run, the run's midpoint is used (and reported)."""
    times = np.asarray(times_ps, float)
    if t0_ps >= times[-1]:
        t0_ps = float(times[0] + 0.5 * (times[-1] - times[0]))
        log.warning("displacement t0 beyond the run; using %.1f ps", t0_ps)
    f0 = int(np.searchsorted(times, t0_ps - 1e-9))
    r = positions[-1][idx] - positions[f0][idx]
    r_xy = np.hypot(r[:, 0], r[:, 1])
    r_z = np.abs(r[:, 2])
    lab = classify_displacements(r_xy, r_z, threshold_A)
    counts = {c: int((lab == c).sum()) for c in CLASS_NAMES}
    z0 = np.mod(positions[f0][idx, 2], cells[f0][2, 2])
    return DisplacementClasses(r_xy, r_z, z0, lab, counts, threshold_A, float(times[f0]))


@dataclass
class Interfaces:
    """Interface planes along z. planes_A: z of each plane, Å; z_A/fraction: the smoothed composition
    profile f(z) = n_a / (n_a + n_b) used; marker_a / marker_b: the species that mark the two phases."""

    planes_A: np.ndarray
    z_A: np.ndarray
    fraction: np.ndarray
    marker_a: list
    marker_b: list
    cell_z_A: float


def detect_interfaces(z: np.ndarray, numbers: np.ndarray, cell_z: float, marker_a, marker_b,
                      bin_width: float = 0.5, smooth_A: float = 1.0) -> Interfaces:
    """Planes where the composition switches between phase a and phase b.

    z: (N,) wrapped or unwrapped z of all atoms (one frame or several frames concatenated), Å;
    numbers: (N,) atomic numbers; marker_a / marker_b: atomic numbers that occur in only one phase
    each (e.g. O for ZrO2 and Cl for Li2ZrCl6). f(z) = n_a/(n_a + n_b) is smoothed with a periodic
    Gaussian (smooth_A Å) and the planes are its 0.5 crossings, interpolated linearly.
    """
    edges = z_bins(cell_z, bin_width)
    zz = np.mod(z, cell_z)
    na = np.histogram(zz[np.isin(numbers, marker_a)], bins=edges)[0].astype(float)
    nb_ = np.histogram(zz[np.isin(numbers, marker_b)], bins=edges)[0].astype(float)
    dz = edges[1] - edges[0]
    sa = gaussian_filter1d(na, smooth_A / dz, mode="wrap")
    sb = gaussian_filter1d(nb_, smooth_A / dz, mode="wrap")
    with np.errstate(invalid="ignore", divide="ignore"):
        f = sa / (sa + sb)
    centres = 0.5 * (edges[1:] + edges[:-1])
    # Empty bins (vacuum, gaps) take the nearest defined value so a gap is not a phase of its own.
    good = np.isfinite(f)
    if good.sum() < 2:
        return Interfaces(np.zeros(0), centres, f, list(marker_a), list(marker_b), float(cell_z))
    f = np.interp(centres, centres[good], f[good], period=cell_z)
    g = f - 0.5
    planes = []
    for k in range(len(g)):
        k1 = (k + 1) % len(g)
        if g[k] == 0.0:
            planes.append(centres[k])
        elif g[k] * g[k1] < 0:
            z0, z1 = centres[k], centres[k1] + (cell_z if k1 == 0 else 0.0)
            planes.append(np.mod(z0 + (z1 - z0) * g[k] / (g[k] - g[k1]), cell_z))
    return Interfaces(np.sort(np.array(planes)), centres, f, list(marker_a), list(marker_b), float(cell_z))


def distance_to_planes(z: np.ndarray, planes: np.ndarray, cell_z: float) -> np.ndarray:
    """Periodic distance along z (Å) from each z to the nearest plane (inf when there is none)."""
    if len(planes) == 0:
        return np.full(np.shape(z), np.inf)
    d = np.mod(np.asarray(z)[:, None] - np.asarray(planes)[None, :], cell_z)
    return np.minimum(d, cell_z - d).min(axis=1)


def region_labels(z: np.ndarray, planes: np.ndarray, cell_z: float, width: float = 8.0) -> np.ndarray:
    """'interface' within ``width`` Å of a plane, else 'bulk'."""
    return np.where(distance_to_planes(z, planes, cell_z) <= width, "interface", "bulk")
