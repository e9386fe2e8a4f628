"""The full analysis of one trajectory (items 2–8 of the analysis issue) as one results object."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from interforge.analysis.collective import CollectiveResult, collective_transport
from interforge.analysis.diffusion import DiffusionResult, diffusion_from_msd, fit_window, nernst_einstein_mS_cm
from interforge.analysis.msd import compute_msd
from interforge.analysis.polyhedra import Polyhedron, polyhedra
from interforge.analysis.profiles import (
    DensityMap,
    DisplacementClasses,
    HopProfile,
    Interfaces,
    density_z_time,
    displacement_classes,
    hop_profile,
    region_labels,
)
from interforge.analysis.readers import Trajectory
from interforge.analysis.regions import (
    InterfaceTrack,
    RegionTransport,
    region_hop_rates,
    region_masks,
    region_transport,
    track_interfaces,
)
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
    times_ps: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    polyhedra: list[Polyhedron] = field(default_factory=list)
    timings_s: dict = field(default_factory=dict)
    collective: CollectiveResult | None = None
    regions: dict[str, RegionTransport] = field(default_factory=dict)
    track: InterfaceTrack | None = None
    equilibration_ps: float = 0.0
    settings: dict = field(default_factory=dict)

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
                     "n_pairs": self.hops.n_pairs, "window_ps": list(self.hops.window_ps),
                     "average_ps": self.hops.average_ps, "rate_per_ion_ns": self.hops.rate_per_ion_ns},
            "displacement": {"counts": self.displacement.counts, "t0_ps": self.displacement.t0_ps,
                             "threshold_A": self.displacement.threshold_A},
            "interfaces": None if self.interfaces is None else {
                "planes_A": self.interfaces.planes_A, "marker_a": self.interfaces.marker_a,
                "marker_b": self.interfaces.marker_b, "cell_z_A": self.interfaces.cell_z_A,
                "blocks": [] if self.track is None else [
                    {"start_ps": self.times_ps[f0], "end_ps": self.times_ps[f1 - 1], "planes_A": itf.planes_A,
                     "cell_z_A": itf.cell_z_A} for f0, f1, itf in self.track.blocks]},
            "regions": {k: v.as_dict() for k, v in self.regions.items()},
            "collective_msd": None if self.collective is None else _thin(
                {"lag_ps": self.collective.lag_ps, "collective_per_ion_A2": self.collective.msd_collective_A2}),
            "polyhedra": [p.as_dict() for p in self.polyhedra],
            "equilibration_ps": self.equilibration_ps,
            "settings": self.settings,
            "timings_s": self.timings_s,
        }
        if self.cn is not None:
            out["cn_profile"] = {"z_A": self.cn.z_A, "ions": self.cn.ions, "cn_total": self.cn.cn_total,
                                 "cn_by_anion": self.cn.cn_by_anion, "classes": self.cn.classes,
                                 "cutoff_A": self.cn.cutoff_A}
        return _clean(out)


def _thin(curves: dict, max_points: int = 400) -> dict:
    """Every array of ``curves`` at the same at most max_points evenly spaced indices."""
    n = len(next(iter(curves.values())))
    k = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    return {name: np.asarray(v)[k] for name, v in curves.items()}


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


def trim_equilibration(traj: Trajectory, equilibration_ps: float) -> Trajectory:
    """The trajectory without its first ``equilibration_ps`` ps (``[production] equilibration_ps``)."""
    if not equilibration_ps or equilibration_ps <= 0:
        return traj
    t = np.asarray(traj.times_ps, float)
    keep = np.flatnonzero(t >= t[0] + equilibration_ps - 1e-9)
    if len(keep) < 4:
        raise InterforgeError(f"only {len(keep)} frames are left after discarding {equilibration_ps:g} ps of "
                              f"equilibration from a {t[-1] - t[0]:g} ps run")
    log.info("discarding the first %g ps (%d frames) as equilibration", equilibration_ps, keep[0])
    return Trajectory(traj.numbers, traj.positions[keep[0]:], traj.cells[keep[0]:], t[keep[0]:], traj.path)


def smoothed(values: np.ndarray, half: int) -> np.ndarray:
    """Running mean over 2·half + 1 frames along axis 0 (ends use the frames there are)."""
    if half <= 0:
        return np.asarray(values, float)
    x = np.asarray(values, float)
    c = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)])
    n = x.shape[0]
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    shape = (-1,) + (1,) * (x.ndim - 1)
    return (c[hi] - c[lo]) / (hi - lo).reshape(shape)


def analyze(traj: Trajectory, settings=None, species: str | None = None, temperature_K: float | None = None,
            anions: list[str] | None = None, extra_species: list[str] | None = None,
            equilibration_ps: float = 0.0) -> AnalysisResults:
    """Diffusion (D ± error, total/xy/z), the composite and collective conductivity with the measured Haven
    ratio, per-region transport, RDF, CN profile, density map, hops, displacement classes, interfaces and
    polyhedra of one trajectory, with the paper's settings (``settings``: an
    :class:`~interforge.config.analysis.AnalysisSection`, default the paper's).
    ``species`` is the mobile ion every profile follows; ``extra_species`` get a diffusion
    coefficient only (e.g. the framework, as a check that it does not melt). The first
    ``equilibration_ps`` ps are discarded before anything is computed."""
    from interforge.config.analysis import AnalysisSection

    s = settings or AnalysisSection()
    traj = trim_equilibration(traj, equilibration_ps)
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

    t = time.perf_counter()
    vol = float(traj.volumes().mean())
    n_density = len(idx) / vol
    d = diff[species].total
    composite = {"sigma_mS_cm": None, "sigma_err_mS_cm": None, "n_per_A3": n_density, "volume_A3": vol,
                 "n_ions": int(len(idx)), "charge": s.charge,
                 "estimator": "Nernst-Einstein with the tracer D over the whole cell (every phase), Haven ratio 1"}
    if temperature_K:
        composite["sigma_mS_cm"] = nernst_einstein_mS_cm(d.D_cm2_s, n_density, temperature_K, s.charge)
        composite["sigma_err_mS_cm"] = nernst_einstein_mS_cm(d.D_err_cm2_s, n_density, temperature_K, s.charge)
    collective = None
    try:
        collective = collective_transport(pos[:, idx], dt, s.collective_blocks, s.fit_start_fraction, s.fit_fraction,
                                          vol, temperature_K, s.charge)
    except InterforgeError as err:
        log.warning("no collective transport: %s", err)
    cond = {"composite": composite, "collective": None if collective is None else collective.as_dict()}
    timings["collective"] = time.perf_counter() - t

    # Interfaces: the composition profile (two anion types mark two phases), found again in every block.
    t_end = times[-1]
    win = np.flatnonzero(times >= t_end - s.cn_window_ps)
    sframes = _even(win, s.max_structure_frames)
    interfaces, track, regions = None, None, {}
    half = int(round(s.hop_average_ps / dt / 2.0))
    if len(anions) >= 2:
        from ase.data import atomic_numbers

        t = time.perf_counter()
        ma, mb = [atomic_numbers[anions[0]]], [atomic_numbers[anions[1]]]
        track = track_interfaces(pos, cells, times, traj.numbers, ma, mb, s.interface_block_ps)
        interfaces = track.blocks[-1][2]
        if any(len(itf.planes_A) for _, _, itf in track.blocks):
            z_ions = smoothed(pos[:, idx, 2], half)
            masks, thick = region_masks(track, z_ions, cells, s.interface_width_A)
            area = np.abs(np.cross(cells[:, 0], cells[:, 1])[:, 2])
            pos_ions = pos[:, idx]  # one copy for every region
            for name, mask in masks.items():
                regions[name] = region_transport(name, pos_ions, mask, thick[name], area, dt, (lo, hi),
                                                 temperature_K, s.charge, s.region_min_thickness_A)
        timings["regions"] = time.perf_counter() - t

    t = time.perf_counter()
    rdfs = []
    rframes = _even(sframes, 20)
    for a in anions:
        aidx = traj.indices(a)
        rdfs.append(rdf(pos[rframes][:, idx], pos[rframes][:, aidx], cells[rframes], r_max=6.0,
                        pair=f"{species}-{a}"))
    cn = cn_profile(pos, cells, idx, {a: traj.indices(a) for a in anions}, sframes, s.cn_cutoff_A,
                    s.bin_width_A) if anions else None
    timings["structure"] = time.perf_counter() - t

    t = time.perf_counter()
    density = density_z_time(pos, cells, times, idx, s.bin_width_A, stride=max(1, traj.n_frames // 500))
    hops = hop_profile(pos, cells, times, idx, s.hop_threshold_A, s.hop_dt_ps, s.hop_window_start_ps,
                       s.hop_window_ps, s.bin_width_A, s.hop_average_ps)
    disp = displacement_classes(pos, cells, times, idx, s.displacement_t0_ps, s.displacement_threshold_A)
    if regions:
        for name, rate in region_hop_rates(hops, masks).items():
            regions[name].hop_rate_per_ion_ns = rate
    timings["profiles"] = time.perf_counter() - t

    t = time.perf_counter()
    polys: list[Polyhedron] = []
    if anions:
        lig_idx = traj.indices(anions)
        for f in sframes[-s.polyhedra_frames:]:
            reg = None
            if track is not None:
                cz = float(cells[f][2, 2])
                reg = region_labels(np.mod(pos[f][idx, 2], cz), track.planes_at(int(f), cz), cz, s.interface_width_A)
            polys += polyhedra(pos[f][idx], pos[f][lig_idx], cells[f], s.cn_cutoff_A, idx, species, int(f), reg)
    timings["polyhedra"] = time.perf_counter() - t
    log.info("analysed %s: D(%s) = %.3g ± %.2g cm²/s", traj.path, species, diff[species].total.D_cm2_s,
             diff[species].total.D_err_cm2_s)
    return AnalysisResults(species, temperature_K, traj.n_frames, dt, diff, cond, rdfs, cn, density, hops, disp,
                           interfaces, times_ps=np.asarray(times), polyhedra=polys, timings_s=timings,
                           collective=collective, regions=regions, track=track,
                           equilibration_ps=float(equilibration_ps or 0.0), settings=s.model_dump())


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
