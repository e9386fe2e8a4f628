"""GPUMD driver: write ``model.xyz`` and ``run.in``, run ``gpumd`` when it is on PATH, convert its outputs.

Keyword syntax follows shared/design/gpumd-io.md part B (GPUMD docs, v4.x and HEAD). Dialects:
position dumps use ``dump_exyz N has_vel has_force`` up to GPUMD 5.6 (file ``dump.xyz``) and
``dump_xyz N FILE [properties]`` after it (``dump_exyz`` was removed). Pressures and elastic moduli in
``npt_scr`` are in GPa; coupling constants are in steps (tau / dt).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from interforge.errors import InterforgeError
from interforge.fileio import atomic_write_text
from interforge.trajectory import ThermoWriter, TrajectoryWriter

log = logging.getLogger(__name__)

_FROZEN_MODULUS_GPA = 5000.0  # npt_scr: an elastic modulus above 2000 GPa freezes that cell component
_BAR_TO_GPA = 1e-4


def parse_version(version: str | None) -> tuple[int, int]:
    """'4.0' -> (4, 0); None / 'latest' / 'head' -> a version newer than any release."""
    if version is None or str(version).lower() in ("latest", "head", ""):
        return (999, 0)
    try:
        parts = [int(p) for p in str(version).lstrip("vV").split(".")[:2]]
    except ValueError:
        raise InterforgeError(f"gpumd_version must look like '4.0' or 'latest', got '{version}'") from None
    return (parts[0], parts[1] if len(parts) > 1 else 0)


@dataclass
class GpumdRun:
    """One GPUMD MD run block. Temperatures K, pressure bar, times fs, moduli GPa, intervals in steps.

    ``potentials``: nep.txt paths (more than one with ``active_interval`` > 0 gives a committee; MD is
    driven by the first). ``barostat_mode`` isotropic | orthorhombic | normal (only z couples: x and y get
    a modulus above GPUMD's freezing limit). ``dump_format`` is chosen from ``gpumd_version``.
    """

    potentials: Sequence[str]
    ensemble: str = "npt"
    temperature_K: float = 300.0
    temperature_end_K: float | None = None
    steps: int = 1000
    pressure_bar: float = 1.0
    timestep_fs: float = 1.0
    thermostat_tau_fs: float = 100.0
    barostat_tau_fs: float = 1000.0
    bulk_modulus_GPa: float = 30.0
    barostat_mode: str = "isotropic"
    momentum_removal_interval: int = 10
    dump_interval: int = 1000
    thermo_interval: int = 100
    dump_velocities: bool = False
    seed: int | None = None
    gpumd_version: str | None = None
    active_interval: int = 0
    active_threshold_eV_A: float = 0.3
    dump_file: str = "dump.xyz"
    extra_lines: list[str] = field(default_factory=list)

    @property
    def uses_dump_exyz(self) -> bool:
        return parse_version(self.gpumd_version) <= (5, 6)

    def validate(self) -> None:
        if not self.potentials:
            raise InterforgeError("GPUMD run needs at least one potential file")
        if self.ensemble not in ("nve", "nvt", "npt"):
            raise InterforgeError(f"unknown ensemble '{self.ensemble}' (choose from nve, nvt, npt)")
        if self.barostat_mode not in ("isotropic", "orthorhombic", "normal"):
            raise InterforgeError(f"unknown barostat mode '{self.barostat_mode}'")
        if 0 < self.momentum_removal_interval < 10:
            raise InterforgeError("GPUMD's correct_velocity needs an interval of at least 10 steps")
        if self.active_interval and len(self.potentials) < 2:
            raise InterforgeError("the active keyword needs a committee (two or more potentials)")
        if self.steps < 1:
            raise InterforgeError(f"steps must be >= 1, got {self.steps}")


def _g(x: float) -> str:
    return f"{x:.10g}"


def run_in_text(run: GpumdRun) -> str:
    """The text of ``run.in`` for one run block."""
    run.validate()
    t1 = run.temperature_K
    t2 = run.temperature_end_K if run.temperature_end_K is not None else t1
    t_coup = max(1.0, run.thermostat_tau_fs / run.timestep_fs)
    p_coup = max(1.0, run.barostat_tau_fs / run.timestep_fs)
    lines = [f"potential {p}" for p in run.potentials]
    lines.append(f"velocity {_g(t1)}" + (f" seed {run.seed}" if run.seed is not None else ""))
    lines.append(f"time_step {_g(run.timestep_fs)}")
    if run.momentum_removal_interval:
        lines.append(f"correct_velocity {run.momentum_removal_interval}")
    if run.ensemble == "nve":
        lines.append("ensemble nve")
    elif run.ensemble == "nvt":
        lines.append(f"ensemble nvt_bdp {_g(t1)} {_g(t2)} {_g(t_coup)}")
    else:
        p = run.pressure_bar * _BAR_TO_GPA
        b = run.bulk_modulus_GPa
        if run.barostat_mode == "isotropic":
            lines.append(f"ensemble npt_scr {_g(t1)} {_g(t2)} {_g(t_coup)} {_g(p)} {_g(b)} {_g(p_coup)}")
        else:
            cxy = b if run.barostat_mode == "orthorhombic" else _FROZEN_MODULUS_GPA
            lines.append(f"ensemble npt_scr {_g(t1)} {_g(t2)} {_g(t_coup)} {_g(p)} {_g(p)} {_g(p)} "
                         f"{_g(cxy)} {_g(cxy)} {_g(b)} {_g(p_coup)}")
    lines.append(f"dump_thermo {run.thermo_interval}")
    if run.uses_dump_exyz:
        lines.append(f"dump_exyz {run.dump_interval} {int(run.dump_velocities)} 0")
    else:
        props = " velocity" if run.dump_velocities else ""
        lines.append(f"dump_xyz {run.dump_interval} {run.dump_file} unwrapped_position{props}")
    if run.active_interval:
        lines.append(f"active {run.active_interval} 0 0 1 {_g(run.active_threshold_eV_A)}")
    lines.extend(run.extra_lines)
    lines.append(f"run {run.steps}")
    return "\n".join(lines) + "\n"


def write_model_xyz(atoms, path, velocities: bool = False, groups: Sequence[int] | None = None) -> Path:
    """GPUMD ``model.xyz``: lattice, pbc, species, positions (Å), masses (amu), optional velocities (Å/fs)."""
    from ase import units

    cell = atoms.cell.array
    pbc = " ".join("T" if p else "F" for p in atoms.pbc)
    props = "species:S:1:pos:R:3:mass:R:1"
    vel = None
    if velocities:
        vel = atoms.get_velocities() * units.fs  # ASE units -> Å/fs
        props += ":vel:R:3"
    if groups is not None:
        groups = np.asarray(groups, dtype=int)
        if groups.shape != (len(atoms),):
            raise InterforgeError(f"groups must have one entry per atom ({len(atoms)}), got {groups.shape}")
        props += ":group:I:1"
    out = [str(len(atoms)),
           f'Lattice="{" ".join(_g(x) for x in cell.ravel())}" pbc="{pbc}" properties={props}']
    masses = atoms.get_masses()
    for i, (s, r) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions)):
        row = [s, *(f"{x:.10f}" for x in r), _g(masses[i])]
        if vel is not None:
            row += [f"{x:.10g}" for x in vel[i]]
        if groups is not None:
            row.append(str(groups[i]))
        out.append(" ".join(row))
    return atomic_write_text(path, "\n".join(out) + "\n")


@dataclass
class GpumdThermo:
    """thermo.out parsed: T K, kinetic and potential energy eV, pressure tensor GPa (xx yy zz yz xz xy), cells Å."""

    temperature_K: np.ndarray
    kinetic_eV: np.ndarray
    potential_eV: np.ndarray
    pressure_GPa: np.ndarray
    cells: np.ndarray


def read_thermo_out(path) -> GpumdThermo:
    """Read GPUMD's thermo.out: 18 columns (triclinic box) or 12 (orthogonal box lengths, older versions)."""
    data = np.loadtxt(path, ndmin=2)
    if data.shape[1] == 18:
        cells = data[:, 9:18].reshape(-1, 3, 3)
    elif data.shape[1] == 12:
        cells = np.zeros((len(data), 3, 3))
        for a in range(3):
            cells[:, a, a] = data[:, 9 + a]
    else:
        raise InterforgeError(f"{path}: expected 12 or 18 columns in thermo.out, found {data.shape[1]}")
    return GpumdThermo(data[:, 0], data[:, 1], data[:, 2], data[:, 3:9], cells)


def _unwrap(frames_frac: list[np.ndarray]) -> list[np.ndarray]:
    """Unwrap fractional coordinates by the minimum-image jump between consecutive frames."""
    out = [frames_frac[0]]
    for f in frames_frac[1:]:
        d = f - (out[-1] % 1.0)
        d -= np.round(d)
        out.append(out[-1] + d)
    return out


@dataclass
class ConversionResult:
    trajectory_path: str
    thermo_path: str
    n_frames: int
    n_thermo: int
    mean_temperature_K: float
    mean_volume_A3: float
    mean_pressure_GPa: float


def convert_outputs(run_dir, out_dir, run: GpumdRun, numbers: Sequence[int] | None = None,
                    masses: Sequence[float] | None = None) -> ConversionResult:
    """Convert GPUMD's thermo.out, position dump and active.out in ``run_dir`` into ``out_dir/trajectory.h5``
    and ``out_dir/thermo.dat``.

    Frame k (k = 1, 2, ...) of a dump with interval N is taken to be step k*N (GPUMD writes after the step);
    thermo line k likewise. Positions are GPUMD's ``unwrapped_position`` when present, else the wrapped
    positions unwrapped by minimum image between frames (valid while no atom moves half a box between dumps).
    """
    from ase.io import read

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dt_ps = run.timestep_fs * 1e-3
    thermo_file = run_dir / "thermo.out"
    if not thermo_file.is_file():
        raise InterforgeError(f"GPUMD output missing: {thermo_file}")
    th = read_thermo_out(thermo_file)
    vols = np.abs(np.linalg.det(th.cells))
    p_mean = th.pressure_GPa[:, :3].mean(1)
    dev_t = dev_v = None
    active_file = run_dir / "active.out"
    if active_file.is_file() and active_file.stat().st_size:
        act = np.loadtxt(active_file, ndmin=2)
        dev_t, dev_v = act[:, 0] * 1e-3, act[:, 1]  # fs -> ps
    thermo_path = out_dir / "thermo.dat"
    with ThermoWriter(thermo_path, deviation=False) as tw:
        for k in range(len(th.temperature_K)):
            step = (k + 1) * run.thermo_interval
            tw.write(step=step, time_ps=step * dt_ps, T_K=th.temperature_K[k], P_GPa=p_mean[k], V_A3=vols[k],
                     Epot_eV=th.potential_eV[k], Ekin_eV=th.kinetic_eV[k],
                     Etot_eV=th.potential_eV[k] + th.kinetic_eV[k])
    dump = run_dir / ("dump.xyz" if run.uses_dump_exyz else run.dump_file)
    traj_path = out_dir / "trajectory.h5"
    n_frames = 0
    if dump.is_file() and dump.stat().st_size:
        import io
        import re

        # GPUMD keys are case-insensitive; ASE's extxyz reader wants 'Lattice='.
        text = re.sub(r"(?im)\blattice=", "Lattice=", dump.read_text())
        frames = read(io.StringIO(text), index=":", format="extxyz")
        nums = np.asarray(numbers if numbers is not None else frames[0].numbers)
        if any(len(f) != len(nums) for f in frames):
            raise InterforgeError(f"{dump}: frames do not all have {len(nums)} atoms")
        if "unwrapped_position" in frames[0].arrays:
            pos = [f.arrays["unwrapped_position"] for f in frames]
        else:
            frac = _unwrap([np.linalg.solve(f.cell.array.T, f.positions.T).T for f in frames])
            pos = [fr @ f.cell.array for fr, f in zip(frac, frames)]
        with TrajectoryWriter(traj_path, nums, masses) as w:
            for k, (f, r) in enumerate(zip(frames, pos)):
                step = (k + 1) * run.dump_interval
                t = step * dt_ps
                vel = f.arrays.get("vel", f.arrays.get("velocity"))
                obs = {}
                if dev_t is not None:
                    j = int(np.argmin(np.abs(dev_t - t)))
                    if abs(dev_t[j] - t) < 0.5 * dt_ps:
                        obs["max_force_deviation"] = float(dev_v[j])
                w.append(r, f.cell.array, t, step, velocities=vel, observables=obs)
        n_frames = w.n_written
    return ConversionResult(str(traj_path), str(thermo_path), n_frames, len(th.temperature_K),
                            float(th.temperature_K.mean()), float(vols.mean()), float(p_mean.mean()))


def gpumd_executable() -> str | None:
    return shutil.which("gpumd")


def run_gpumd(atoms, run: GpumdRun, out_dir, execute: bool = True, groups: Sequence[int] | None = None,
              timeout_s: float | None = None):
    """Write ``out_dir/gpumd/{model.xyz,run.in}``; when ``execute`` and ``gpumd`` is on PATH, run it there and
    convert the outputs into ``out_dir``. Returns an :class:`interforge.md.MDResult`."""
    from interforge.md.engine import MDResult

    out_dir = Path(out_dir)
    run_dir = out_dir / "gpumd"
    run.potentials = [str(Path(p).resolve()) for p in run.potentials]
    for p in run.potentials:
        if not Path(p).is_file():
            raise InterforgeError(f"potential file not found: {p}")
    write_model_xyz(atoms, run_dir / "model.xyz", velocities=bool(np.any(atoms.get_velocities())), groups=groups)
    atomic_write_text(run_dir / "run.in", run_in_text(run))
    if not execute:
        raise InterforgeError(f"inputs written to {run_dir}; execution was not requested")
    exe = gpumd_executable()
    if exe is None:
        raise InterforgeError(f"gpumd is not on PATH; inputs written to {run_dir} (run `gpumd` there, then convert)")
    t0 = time.perf_counter()
    with open(run_dir / "gpumd.out", "w") as fh:
        proc = subprocess.run([exe], cwd=run_dir, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s,
                              env=dict(os.environ))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise InterforgeError(f"gpumd failed with exit code {proc.returncode}; see {run_dir / 'gpumd.out'}")
    conv = convert_outputs(run_dir, out_dir, run, atoms.numbers, atoms.get_masses())
    steps_done = run.steps
    return MDResult(steps_done=steps_done, steps_requested=run.steps, mean_temperature_K=conv.mean_temperature_K,
                    mean_volume_A3=conv.mean_volume_A3, mean_pressure_GPa=conv.mean_pressure_GPa, stopped_by=None,
                    stop_message=None, trajectory_path=conv.trajectory_path, thermo_path=conv.thermo_path,
                    n_frames=conv.n_frames, wall_s=wall, steps_per_s=steps_done / wall if wall else float("nan"),
                    engine="gpumd")
