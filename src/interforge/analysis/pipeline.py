"""The full analysis of one trajectory (items 2–8 of the analysis issue) as one results object."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from interforge.analysis.diffusion import DiffusionResult, diffusion_from_msd, fit_window, nernst_einstein_mS_cm
from interforge.analysis.msd import compute_msd
from interforge.analysis.polyhedra import Polyhedron, polyhedra
from interforge.analysis.profiles import (
    DensityMap,
    DisplacementClasses,
    HopProfile,
    Interfaces,
    density_z_time,
    detect_interfaces,
    displacement_classes,
    hop_profile,
    region_labels,
)
from interforge.analysis.readers import Trajectory
from interforge.analysis.structure import CNProfile, RDFResult, cn_profile, rdf
from interforge.errors import InterforgeError

log = logging.getLogger(__name__)

ANION_CANDIDATES = ("O", "S", "Se", "F", "Cl", "Br", "I", "N")


@dataclass
class AnalysisResults:
    """Everything :func:`analyze` computes; ``to_json()`` gives the stable results-file layout."""

    species: str
    temperature_K: float | None
    n_frames: int
    dt_ps: float
    diffusion: dict[str, DiffusionResult]
    conductivity: dict
    rdfs: list[RDFResult]
    cn: CNProfile | None
    density: DensityMap
    hops: HopProfile
    displacement: DisplacementClasses
    interfaces: Interfaces | None
    polyhedra: list[Polyhedron] = field(default_factory=list)
    timings_s: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = {
            "species": self.species, "temperature_K": self.temperature_K, "n_frames": self.n_frames,
            "dt_ps": self.dt_ps,
            "diffusion": {k: v.as_dict() for k, v in self.diffusion.items()},
            "msd": {k: _msd_curve(v) for k, v in self.diffusion.items()},
            "conductivity": self.conductivity,
            "rdf": {r.pair: {"r_A": r.r_A, "g": r.g, "cn": r.cn} for r in self.rdfs},
            "density": {"z_A": self.density.z_A, "times_ps": self.density.times_ps,
                        "mean_per_A3": self.density.density.mean(axis=0)},
            "hops": {"z_A": self.hops.z_A, "hops_per_pair": self.hops.hops, "ions": self.hops.ions,
                     "threshold_A": self.hops.threshold_A, "lag_ps": self.hops.lag_ps,
                     "n_pairs": self.hops.n_pairs, "window_ps": list(self.hops.window_ps)},
            "displacement": {"counts": self.displacement.counts, "t0_ps": self.displacement.t0_ps,
                             "threshold_A": self.displacement.threshold_A},
            "interfaces": None if self.interfaces is None else {
                "planes_A": self.interfaces.planes_A, "marker_a": self.interfaces.marker_a,
                "marker_b": self.interfaces.marker_b, "cell_z_A": self.interfaces.cell_z_A},
            "polyhedra": [p.as_dict() for p in self.polyhedra],
            "timings_s": self.timings_s,
        }
        if self.cn is not None:
            out["cn_profile"] = {"z_A": self.cn.z_A, "ions": self.cn.ions, "cn_total": self.cn.cn_total,
                                 "cn_by_anion": self.cn.cn_by_anion, "classes": self.cn.classes,
                                 "cutoff_A": self.cn.cutoff_A}
        return _clean(out)


def _msd_curve(d: DiffusionResult, max_points: int = 400) -> dict:
    """MSD curves (Å²) vs lag (ps), thinned to at most max_points lags for the results file."""
    m = d.msd
    k = np.unique(np.linspace(0, len(m.lag_ps) - 1, max_points).round().astype(int))
    return {"lag_ps": m.lag_ps[k], "total_A2": m.total[k], "xy_A2": m.xy[k], "z_A2": m.z[k]}


def _clean(obj):
    """numpy -> plain JSON types, NaN/inf -> None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _even(frames: np.ndarray, k: int) -> np.ndarray:
    if len(frames) <= k:
        return frames
    return frames[np.unique(np.linspace(0, len(frames) - 1, k).round().astype(int))]


def analyze(traj: Trajectory, settings=None, species: str | None = None, temperature_K: float | None = None,
            anions: list[str] | None = None, extra_species: list[str] | None = None) -> AnalysisResults:
    """Diffusion (D ± error, total/xy/z; per region), conductivity, RDF, CN profile, density map, hops,
    displacement classes, interfaces and polyhedra of one trajectory, with the paper's settings
    (``settings``: an :class:`~interforge.config.analysis.AnalysisSection`, default the paper's).
    ``species`` is the mobile ion every profile follows; ``extra_species`` get a diffusion
    coefficient only (e.g. the framework, as a check that it does not melt)."""
    from interforge.config.analysis import AnalysisSection

    s = settings or AnalysisSection()
    species = species or s.species
    idx = traj.indices(species)
    if len(idx) == 0:
        raise InterforgeError(f"no {species} atoms in {traj.path or 'the trajectory'}")
    present = set(traj.symbols)
    anions = [a for a in (anions or s.anions or ANION_CANDIDATES) if a in present and a != species]
    pos, cells, times = traj.positions, traj.cells, traj.times_ps
    dt = traj.dt_ps
    timings = {}

    t = time.perf_counter()
    lo, hi = fit_window(traj.n_frames, s.fit_start_fraction, s.fit_fraction)
    diff = {species: diffusion_from_msd(compute_msd(pos[:, idx], dt, (lo, hi)), species)}
    for extra in extra_species or []:
        eidx = traj.indices(extra)
        if extra != species and len(eidx):
            diff[extra] = diffusion_from_msd(compute_msd(pos[:, eidx], dt, (lo, hi)), extra)
    timings["diffusion"] = time.perf_counter() - t

    # Interfaces from the composition profile of the last frames (two anion types mark two phases).
    t_end = times[-1]
    win = np.flatnonzero(times >= t_end - s.cn_window_ps)
    sframes = _even(win, s.max_structure_frames)
    interfaces = None
    cz = float(cells[-1][2, 2])
    if len(anions) >= 2:
        from ase.data import atomic_numbers

        zs = np.concatenate([pos[f][:, 2] for f in sframes[-5:]])
        nums = np.tile(traj.numbers, min(5, len(sframes)))
        interfaces = detect_interfaces(zs, nums, cz, [atomic_numbers[anions[0]]], [atomic_numbers[anions[1]]])
    # Per-region D: region at the start of the run (ions far from an interface stay bulk-like).
    if interfaces is not None and len(interfaces.planes_A):
        reg0 = region_labels(pos[0][idx, 2], interfaces.planes_A, cz, s.interface_width_A)
        for name in ("interface", "bulk"):
            sub = idx[reg0 == name]
            if len(sub) >= 2:
                diff[f"{species}@{name}"] = diffusion_from_msd(compute_msd(pos[:, sub], dt, (lo, hi)),
                                                              f"{species}@{name}")

    vol = float(traj.volumes().mean())
    n_density = len(idx) / vol
    cond = {"n_per_A3": n_density, "haven_ratio": s.haven_ratio, "charge": s.charge, "sigma_mS_cm": None,
            "sigma_err_mS_cm": None}
    if temperature_K:
        d = diff[species].total
        cond["sigma_mS_cm"] = nernst_einstein_mS_cm(d.D_cm2_s, n_density, temperature_K, s.charge, s.haven_ratio)
        cond["sigma_err_mS_cm"] = nernst_einstein_mS_cm(d.D_err_cm2_s, n_density, temperature_K, s.charge,
                                                        s.haven_ratio)

    t = time.perf_counter()
    rdfs = []
    widths = np.abs(np.linalg.det(cells[-1])) / np.linalg.norm(np.cross(cells[-1][[1, 2, 0]], cells[-1][[2, 0, 1]]),
                                                                 axis=1)
    r_max = min(6.0, 0.49 * widths.min())
    rframes = _even(sframes, 20)
    for a in anions:
        aidx = traj.indices(a)
        rdfs.append(rdf(pos[rframes][:, idx], pos[rframes][:, aidx], cells[rframes], r_max=r_max,
                        pair=f"{species}-{a}"))
    cn = cn_profile(pos, cells, idx, {a: traj.indices(a) for a in anions}, sframes, s.cn_cutoff_A,
                    s.bin_width_A) if anions else None
    timings["structure"] = time.perf_counter() - t

    t = time.perf_counter()
    density = density_z_time(pos, cells, times, idx, s.bin_width_A, stride=max(1, traj.n_frames // 500))
    hops = hop_profile(pos, cells, times, idx, s.hop_threshold_A, s.hop_dt_ps, s.hop_window_start_ps,
                       s.hop_window_ps, s.bin_width_A)
    disp = displacement_classes(pos, cells, times, idx, s.displacement_t0_ps, s.displacement_threshold_A)
    timings["profiles"] = time.perf_counter() - t

    t = time.perf_counter()
    polys: list[Polyhedron] = []
    if anions:
        lig_idx = traj.indices(anions)
        for f in sframes[-s.polyhedra_frames:]:
            reg = (region_labels(pos[f][idx, 2], interfaces.planes_A, float(cells[f][2, 2]), s.interface_width_A)
                   if interfaces is not None else None)
            polys += polyhedra(pos[f][idx], pos[f][lig_idx], cells[f], s.cn_cutoff_A, idx, species, int(f), reg)
    timings["polyhedra"] = time.perf_counter() - t
    log.info("analysed %s: D(%s) = %.3g ± %.2g cm²/s", traj.path, species, diff[species].total.D_cm2_s,
             diff[species].total.D_err_cm2_s)
    return AnalysisResults(species, temperature_K, traj.n_frames, dt, diff, cond, rdfs, cn, density, hops, disp,
                           interfaces, polys, timings)


def temperature_from_thermo(traj_path: str | Path) -> float | None:
    """Mean T_K of the ``thermo.dat`` beside the trajectory (the MD area's thermo log), or None."""
    p = Path(traj_path).with_name("thermo.dat")
    if not p.is_file():
        return None
    try:
        from interforge.trajectory import read_thermo

        col = read_thermo(p)["T_K"]
        return float(np.mean(col)) if len(col) else None
    except (InterforgeError, ImportError, ValueError, OSError) as err:
        log.warning("cannot take the temperature from %s (%s)", p, err)
        return None
