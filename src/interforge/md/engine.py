"""The ASE engine: velocity Verlet with a Bussi thermostat and a stochastic-cell-rescaling barostat.

One step (dt), in the order applied::

    O(dt/2)  Bussi thermostat            (nvt, npt)
    B(dt/2)  v += F/m dt/2
    A(dt)    x += v dt
    C(dt)    SCR barostat: scale x, cell by exp(eps), v by exp(-eps)   (npt)
             forces (and stress) at the new positions
    B(dt/2)  v += F/m dt/2
    O(dt/2)  Bussi thermostat

The barostat uses the virial of the previous force call and the half-step velocities, so forces are
evaluated once per step and always at the positions they act on; the half-step lag is small against
tau_p (1000 fs by default). Positions stay unwrapped throughout (they are never wrapped into the cell),
so the trajectory is ready for mean-square displacements.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import units

from interforge.errors import InterforgeError
from interforge.md import barostat as scr
from interforge.md.guards import Guards, check
from interforge.md.momentum import remove_angular_momentum, remove_linear_momentum
from interforge.md.thermostat import bussi_factor
from interforge.trajectory import ThermoWriter, TrajectoryWriter

log = logging.getLogger(__name__)

ENSEMBLES = ("nve", "nvt", "npt")
_EV_A3_PER_GPA = 1.0 / 160.21766208  # 1 GPa in eV/Å³


@dataclass
class MDResult:
    """What a run did. Means are over all steps after the start (K, Å³, GPa)."""

    steps_done: int
    steps_requested: int
    mean_temperature_K: float
    mean_volume_A3: float
    mean_pressure_GPa: float | None
    stopped_by: str | None
    stop_message: str | None
    trajectory_path: str
    thermo_path: str
    n_frames: int
    wall_s: float
    steps_per_s: float
    engine: str = "ase"
    final_atoms: object = field(default=None, repr=False)

    def to_dict(self) -> dict:
        # not asdict(): it deep-copies every field, the final Atoms (with its calculator) included
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "final_atoms"}


def _ramp(temperature_K: float | Sequence[float]) -> tuple[float, float]:
    if np.ndim(temperature_K) == 0:
        return float(temperature_K), float(temperature_K)
    t = [float(x) for x in temperature_K]
    if len(t) != 2:
        raise InterforgeError(f"temperature must be T or (T_start, T_end), got {temperature_K}")
    return t[0], t[1]


def _orthogonal(cell: np.ndarray) -> bool:
    off = cell - np.diag(np.diag(cell))
    return bool(np.all(np.abs(off) < 1e-8 * np.abs(cell).max()))


def run_md(atoms, calculator, ensemble: str, temperature_K: float | Sequence[float], steps: int,
           out_dir, pressure_bar: float = 1.0, timestep_fs: float = 1.0, dump_interval: int = 1000,
           thermo_interval: int = 100, seed: int | None = None, thermostat_tau_fs: float = 100.0,
           barostat_tau_fs: float = 1000.0, bulk_modulus_GPa: float = 30.0, barostat_mode: str = "isotropic",
           momentum_removal_interval: int = 10, remove_angular: bool = True, guards: Guards | None = None,
           init_velocities: bool | None = None, dump_velocities: bool = False, append: bool = False,
           chunk_frames: int = 64, trajectory_name: str = "trajectory.h5", thermo_name: str = "thermo.dat",
           progress_every: int | None = None) -> MDResult:
    """Run MD with any ASE calculator and write ``out_dir/trajectory.h5`` (H5MD) and ``out_dir/thermo.dat``.

    ``ensemble`` nve | nvt | npt. ``temperature_K`` a target (K) or a linear ramp (T_start, T_end) over the
    run. ``pressure_bar`` target pressure, bar (npt). ``timestep_fs`` fs. ``thermostat_tau_fs`` and
    ``barostat_tau_fs`` time constants, fs. ``bulk_modulus_GPa`` compressibility estimate for SCR (rate only).
    ``barostat_mode`` isotropic | orthorhombic | normal (z only, for slabs and interfaces).
    ``momentum_removal_interval`` remove COM linear (and, with ``remove_angular``, angular) momentum every N
    steps (0 = only at the start). ``init_velocities`` draws Maxwell–Boltzmann velocities at T_start
    (default: when the atoms have none). ``append`` continues an existing trajectory/thermo log. A tripped
    guard ends the run cleanly (trajectory flushed, ``stopped_by`` set, the offending frame written to
    ``out_dir/guard_frame.extxyz``). ``atoms`` is modified in place (it ends as the final state).
    """
    if ensemble not in ENSEMBLES:
        raise InterforgeError(f"unknown ensemble '{ensemble}' (choose from {', '.join(ENSEMBLES)})")
    if barostat_mode not in scr.MODES:
        raise InterforgeError(f"unknown barostat mode '{barostat_mode}' (choose from {', '.join(scr.MODES)})")
    if steps < 0 or timestep_fs <= 0:
        raise InterforgeError(f"steps must be >= 0 and timestep_fs > 0 (got {steps}, {timestep_fs})")
    if ensemble == "npt" and barostat_mode != "isotropic" and not _orthogonal(atoms.cell.array):
        raise InterforgeError(f"barostat mode '{barostat_mode}' needs an orthogonal cell; use 'isotropic'")
    if ensemble == "npt" and not all(atoms.pbc):
        raise InterforgeError("npt needs a periodic cell in all three directions")
    guards = guards or Guards()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t_start, t_end = _ramp(temperature_K)
    dt = timestep_fs * units.fs
    n = len(atoms)
    masses = atoms.get_masses()
    minv = (1.0 / masses)[:, None]
    atoms.calc = calculator
    ndof = 3 * n - 3 if n > 1 else 3
    kB = units.kB

    # Initial velocities: Maxwell-Boltzmann at T_start, zero momentum, scaled to exactly T_start (as GPUMD).
    v = atoms.get_velocities()
    if init_velocities or (init_velocities is None and not np.any(v)):
        v = rng.standard_normal((n, 3)) * np.sqrt(kB * t_start / masses)[:, None]
        v = remove_linear_momentum(v, masses)
        if remove_angular and momentum_removal_interval > 0:
            v = remove_angular_momentum(atoms.positions, v, masses)
        ke = 0.5 * (masses[:, None] * v * v).sum()
        if ke > 0 and t_start > 0:
            v *= math.sqrt(0.5 * ndof * kB * t_start / ke)
        else:
            v[:] = 0.0

    need_stress = ensemble == "npt"

    def evaluate():
        f = calculator.get_property("forces", atoms)
        res = calculator.results  # read what the same call computed; another get_property re-checks the atoms
        e = res["energy"] if "energy" in res else calculator.get_property("energy", atoms)
        s = res.get("stress")  # free when the calculator computed it anyway (thermo pressure)
        if need_stress and s is None:
            s = calculator.get_property("stress", atoms)
        dev = calculator.results.get("max_force_deviation")
        return f, float(e), (None if s is None else np.asarray(s)), (None if dev is None else float(dev))

    try:
        forces, epot, stress, dev = evaluate()
    except Exception as err:  # noqa: BLE001 - a calculator failing on the input is a user error
        raise InterforgeError(f"calculator failed on the initial structure: {err}") from err
    if need_stress and stress is None:
        raise InterforgeError("npt needs a calculator that provides stress")

    traj_path = out_dir / trajectory_name
    thermo_path = out_dir / thermo_name
    step0, time0 = 0, 0.0
    if append and traj_path.exists():
        from interforge.trajectory import TrajectoryReader

        rd = TrajectoryReader(traj_path)
        if rd.n_frames:
            step0 = int(rd.steps()[-1])
            time0 = float(rd.times()[-1])
    writer = TrajectoryWriter(traj_path, atoms.numbers, masses, mode="a" if append else "w",
                              chunk_frames=chunk_frames)
    thermo = ThermoWriter(thermo_path, deviation=dev is not None, mode="a" if append else "w")

    def kinetic_tensor_diag(vel):
        return (masses[:, None] * vel * vel).sum(0)  # 2 K_aa, eV

    def record(step, vel, f_dump, f_thermo):
        ke2 = kinetic_tensor_diag(vel)
        ke = 0.5 * ke2.sum()
        vol = atoms.get_volume()
        press = None if stress is None else float((ke2.sum() / 3.0 / vol - stress[:3].mean()) / units.GPa)
        t_ps = time0 + (step - step0) * timestep_fs * 1e-3
        obs = {"temperature_K": 2.0 * ke / (ndof * kB), "potential_energy_eV": epot}
        if dev is not None:
            obs["max_force_deviation"] = dev
        if f_dump:
            writer.append(atoms.positions, atoms.cell.array, t_ps, step,
                          velocities=(vel * units.fs) if dump_velocities else None, observables=obs)
        if f_thermo:
            thermo.write(step=step, time_ps=t_ps, T_K=obs["temperature_K"], P_GPa=np.nan if press is None else press,
                         V_A3=vol, Epot_eV=epot, Ekin_eV=ke, Etot_eV=epot + ke,
                         max_force_deviation_eV_A=np.nan if dev is None else dev)
        return obs["temperature_K"], vol, press

    if not append or writer.n_written == 0:
        record(step0, v, True, True)
    volume0 = atoms.get_volume()
    half_dt_over_tau = 0.5 * timestep_fs / thermostat_tau_fs
    dt_over_taup = timestep_fs / barostat_tau_fs
    beta_T = 1.0 / (bulk_modulus_GPa * _EV_A3_PER_GPA)
    p0 = pressure_bar * units.bar
    sum_t = sum_v = sum_p = 0.0
    n_p = 0
    stopped_by = stop_msg = None
    done = 0
    progress_every = progress_every or max(100, steps // 20)
    t_wall = time.perf_counter()
    try:
        for i in range(1, steps + 1):
            frac = (i - 0.5) / steps if steps else 0.0
            target = t_start + (t_end - t_start) * frac
            kt_half = 0.5 * ndof * kB * target
            if ensemble != "nve":
                ke = 0.5 * (masses[:, None] * v * v).sum()
                v *= bussi_factor(ke, kt_half, ndof, half_dt_over_tau, rng)
            v += (0.5 * dt) * forces * minv
            atoms.positions += dt * v
            if ensemble == "npt":
                vol = atoms.get_volume()
                p_diag = kinetic_tensor_diag(v) / vol - stress[:3]
                eps = scr.scr_strain(barostat_mode, p_diag, p0, vol, kB * target, beta_T, dt_over_taup, rng)
                mu = np.exp(eps)
                atoms.set_cell(atoms.cell.array * mu[None, :], scale_atoms=False)
                atoms.positions *= mu[None, :]
                v /= mu[None, :]
            forces, epot, stress, dev = evaluate()
            v += (0.5 * dt) * forces * minv
            if ensemble != "nve":
                ke = 0.5 * (masses[:, None] * v * v).sum()
                v *= bussi_factor(ke, kt_half, ndof, half_dt_over_tau, rng)
            if momentum_removal_interval and i % momentum_removal_interval == 0:
                v = remove_linear_momentum(v, masses)
                if remove_angular:
                    v = remove_angular_momentum(atoms.positions, v, masses)
            step = step0 + i
            temp, vol, press = record(step, v, i % dump_interval == 0, i % thermo_interval == 0)
            done = i
            sum_t += temp
            sum_v += vol
            if press is not None:
                sum_p += press
                n_p += 1
            tripped = check(guards, i, atoms, forces, epot, temp, max(t_start, t_end, 1.0), vol, volume0)
            if tripped:
                stopped_by, stop_msg = tripped
                log.warning("MD stopped by guard %s: %s", stopped_by, stop_msg)
                atoms.set_velocities(v)
                _write_guard_frame(out_dir / "guard_frame.extxyz", atoms, step)
                break
            if i % progress_every == 0:
                el = time.perf_counter() - t_wall
                log.info("MD step %d/%d: T=%.1f K V=%.1f Å3, %.1f steps/s, ETA %.0f s",
                         i, steps, temp, vol, i / el, (steps - i) * el / i)
    finally:
        writer.close()
        thermo.close()
    wall = time.perf_counter() - t_wall
    atoms.set_velocities(v)
    return MDResult(
        steps_done=done, steps_requested=steps,
        mean_temperature_K=float(sum_t / done) if done else float("nan"),
        mean_volume_A3=float(sum_v / done) if done else float(atoms.get_volume()),
        mean_pressure_GPa=float(sum_p / n_p) if n_p else None,
        stopped_by=stopped_by, stop_message=stop_msg, trajectory_path=str(traj_path), thermo_path=str(thermo_path),
        n_frames=writer.n_written, wall_s=wall, steps_per_s=done / wall if wall > 0 else float("nan"),
        final_atoms=atoms,
    )


def _write_guard_frame(path: Path, atoms, step: int) -> None:
    from ase.io import write

    from interforge.fileio import atomic_path

    a = atoms.copy()
    a.calc = None
    a.info["step"] = step
    with atomic_path(path) as tmp:
        write(tmp, a, format="extxyz")
