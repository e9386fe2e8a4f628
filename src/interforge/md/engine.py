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

The state of a run lives in a :class:`Dynamics` object (ASE's habit: settings, then ``run(steps)``), so it
can be checkpointed and resumed: every ``checkpoint_interval`` steps the trajectory is flushed and
``OUT/checkpoint.npz`` is replaced atomically (positions, velocities, cell, the thermostat/barostat random
generator's state, the step, the running sums, and how many trajectory frames and thermo bytes belong to
it). ``Dynamics(..., resume=True)`` restores it, cuts the trajectory and the thermo log back to what the
checkpoint had written, and continues; the continuation is the same trajectory an uninterrupted run gives.
:func:`run_md` is the one-call form.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from ase import units

from interforge.errors import InterforgeError
from interforge.md import barostat as scr
from interforge.md.guards import Guards, check, require_start
from interforge.md.momentum import remove_angular_momentum, remove_linear_momentum
from interforge.md.thermostat import bussi_factor
from interforge.trajectory import ThermoWriter, TrajectoryWriter

log = logging.getLogger(__name__)

ENSEMBLES = ("nve", "nvt", "npt")
CHECKPOINT_NAME = "checkpoint.npz"
CHECKPOINT_VERSION = 1
_EV_A3_PER_GPA = 1.0 / 160.21766208  # 1 GPa in eV/Å³


@dataclass
class MDResult:
    """What a run did. Means are over all steps after the start (K, Å³, GPa), resumed steps included.

    ``resumed_from_step``: the step the run continued from (0 for a fresh run); ``wall_s`` and ``steps_per_s``
    cover this call only."""

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
    resumed_from_step: int = 0
    final_atoms: object = field(default=None, repr=False)

    def to_dict(self) -> dict:
        # not asdict(): it deep-copies every field, the final Atoms (with its calculator) included
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "final_atoms"}


@dataclass
class MDSettings:
    """How to integrate. Units: K, bar, fs; intervals in steps.

    ``ensemble`` nve | nvt | npt. ``temperature_K`` a target (K) or a linear ramp (T_start, T_end) over
    ``ramp_steps`` (default: the length of the first :meth:`Dynamics.run` call). ``pressure_bar`` target
    pressure, bar (npt). ``thermostat_tau_fs`` and ``barostat_tau_fs`` time constants, fs.
    ``bulk_modulus_GPa`` compressibility estimate for SCR (sets the rate only), GPa. ``barostat_mode``
    isotropic | orthorhombic | normal (z only, for slabs and interfaces). ``momentum_removal_interval``
    remove COM linear (and, with ``remove_angular``, angular) momentum every N steps (0 = only at the start).
    ``init_velocities`` draws Maxwell–Boltzmann velocities at T_start (default: when the atoms have none).
    ``checkpoint_interval`` writes ``OUT/checkpoint.npz`` every N steps and at the end (0 = never).
    ``equilibration_steps`` (npt, :func:`run_with` only): steps run first in ``OUT/equilibration`` with the
    barostat time constant ``equilibration_barostat_tau_fs`` (fs; default ``barostat_tau_fs``) at T_start; the
    run proper starts from the equilibrated cell and velocities, so its trajectory holds no volume approach.
    """

    ensemble: str = "nvt"
    temperature_K: float | Sequence[float] = 300.0
    pressure_bar: float = 1.0
    timestep_fs: float = 1.0
    dump_interval: int = 1000
    thermo_interval: int = 100
    seed: int | None = None
    thermostat_tau_fs: float = 100.0
    barostat_tau_fs: float = 1000.0
    bulk_modulus_GPa: float = 30.0
    barostat_mode: str = "isotropic"
    momentum_removal_interval: int = 10
    remove_angular: bool = True
    guards: Guards = field(default_factory=Guards)
    init_velocities: bool | None = None
    dump_velocities: bool = False
    chunk_frames: int = 64
    trajectory_name: str = "trajectory.h5"
    thermo_name: str = "thermo.dat"
    progress_every: int | None = None
    checkpoint_interval: int = 0
    ramp_steps: int | None = None
    equilibration_steps: int = 0
    equilibration_barostat_tau_fs: float | None = None

    @classmethod
    def from_section(cls, md, **overrides) -> "MDSettings":
        """Settings from an ``[md]`` section (:class:`~interforge.config.md.MdSection`), then ``overrides``."""
        base = dict(ensemble=md.ensemble, pressure_bar=md.pressure_bar, timestep_fs=md.timestep_fs,
                    dump_interval=md.dump_interval, thermo_interval=md.thermo_interval,
                    thermostat_tau_fs=md.thermostat_tau_fs, barostat_tau_fs=md.barostat_tau_fs,
                    bulk_modulus_GPa=md.bulk_modulus_GPa, barostat_mode=md.barostat_mode,
                    momentum_removal_interval=md.momentum_removal_interval,
                    remove_angular=md.remove_angular_momentum, guards=Guards.from_section(md),
                    checkpoint_interval=getattr(md, "checkpoint_interval", 0),
                    equilibration_steps=md.equilibration_steps(overrides.get("timestep_fs")),
                    equilibration_barostat_tau_fs=md.npt_equilibration_barostat_tau_fs)
        return cls(**{**base, **overrides})

    def ramp(self) -> tuple[float, float]:
        """(T_start, T_end), K."""
        t = self.temperature_K
        if np.ndim(t) == 0:
            return float(t), float(t)
        t = [float(x) for x in t]
        if len(t) != 2:
            raise InterforgeError(f"temperature must be T or (T_start, T_end), got {self.temperature_K}")
        return t[0], t[1]

    def check(self, atoms) -> None:
        """Raise :class:`InterforgeError` for settings that cannot run on ``atoms``."""
        if self.ensemble not in ENSEMBLES:
            raise InterforgeError(f"unknown ensemble '{self.ensemble}' (choose from {', '.join(ENSEMBLES)})")
        if self.barostat_mode not in scr.MODES:
            raise InterforgeError(f"unknown barostat mode '{self.barostat_mode}' (choose from {', '.join(scr.MODES)})")
        if self.timestep_fs <= 0:
            raise InterforgeError(f"timestep_fs must be > 0 (got {self.timestep_fs})")
        if min(self.dump_interval, self.thermo_interval) < 1 or self.checkpoint_interval < 0:
            raise InterforgeError("dump and thermo intervals must be >= 1 and the checkpoint interval >= 0")
        if self.equilibration_steps < 0 or not (self.equilibration_barostat_tau_fs or 1.0) > 0:
            raise InterforgeError("equilibration steps must be >= 0 and its barostat time constant > 0 fs")
        self.ramp()
        if self.ensemble == "npt" and self.barostat_mode != "isotropic" and not _orthogonal(atoms.cell.array):
            raise InterforgeError(f"barostat mode '{self.barostat_mode}' needs an orthogonal cell; use 'isotropic'")
        if self.ensemble == "npt" and not all(atoms.pbc):
            raise InterforgeError("npt needs a periodic cell in all three directions")
        if any(atoms.pbc):
            from interforge.checks import MIN_CELL_HEIGHT_A, periodic_heights

            with np.errstate(divide="ignore", invalid="ignore"):
                h = float(np.nan_to_num(periodic_heights(atoms.cell.array, atoms.pbc), nan=0.0).min())
            if not h >= MIN_CELL_HEIGHT_A:  # the guards' neighbour search would visit millions of images
                raise InterforgeError(f"the cell is only {h:.3g} Å thick across a periodic vector (at least "
                                      f"{MIN_CELL_HEIGHT_A:g} Å)")

    def identity(self) -> dict[str, Any]:
        """The JSON-able settings that decide the trajectory (a checkpoint resumes only under the same ones)."""
        d = asdict(self)
        d.pop("progress_every")
        d["temperature_K"] = list(self.ramp())
        return json.loads(json.dumps(d))


def _orthogonal(cell: np.ndarray) -> bool:
    off = cell - np.diag(np.diag(cell))
    return bool(np.all(np.abs(off) < 1e-8 * np.abs(cell).max()))


class Dynamics:
    """One MD run of ``atoms`` with any ASE ``calculator``, writing ``out_dir/trajectory.h5`` (H5MD) and
    ``out_dir/thermo.dat``; :meth:`run` integrates more steps and returns the :class:`MDResult` so far.

    ``append=True`` continues an existing trajectory/thermo log of an earlier run (steps and times continue).
    ``resume=True`` continues from ``out_dir/checkpoint.npz`` when there is one (else it starts fresh):
    ``identity`` (a JSON-able dict, e.g. the input files' hashes and the requested steps) and the settings
    must equal those the checkpoint was written with, otherwise :class:`InterforgeError` says so.
    ``atoms`` is modified in place (it ends as the current state).
    A fresh start (no checkpoint to resume) whose structure already has a pair closer than
    ``settings.guards.min_distance_A`` (Å) raises :class:`~interforge.md.guards.StartRefused` (an
    :class:`~interforge.errors.InputError`) before anything is written or the calculator is called.
    """

    def __init__(self, atoms, calculator, settings: MDSettings | None = None, out_dir=".", *,
                 append: bool = False, resume: bool = False, identity: dict | None = None):
        self.settings = s = settings or MDSettings()
        s.check(atoms)
        self.atoms = atoms
        self.calculator = calculator
        self.out_dir = Path(out_dir)
        self.identity = json.loads(json.dumps(identity or {}))
        self.trajectory_path = self.out_dir / s.trajectory_name
        self.thermo_path = self.out_dir / s.thermo_name
        self.checkpoint_path = self.out_dir / CHECKPOINT_NAME
        state = self._read_checkpoint() if resume else None
        if state is None:
            # A start already beyond a guard (a 0.3 Å contact) is refused here, before any file exists: the
            # periodic check in run() would only see it after the forces have blown the contact apart. A
            # checkpoint holds a state this engine integrated, so a resumed run is not checked again.
            require_start(s.guards, atoms)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.rng = np.random.default_rng(s.seed)
        self.t_start, self.t_end = s.ramp()
        self.masses = atoms.get_masses()
        self._minv = (1.0 / self.masses)[:, None]
        n = len(atoms)
        self.ndof = 3 * n - 3 if n > 1 else 3
        self.need_stress = s.ensemble == "npt"
        atoms.calc = calculator
        # the run's state (all of it goes into a checkpoint)
        self.nsteps = 0              # steps integrated since the start of this run
        self.step0, self.time0 = 0, 0.0  # trajectory step/time of the run's first frame (append continues)
        self.ramp_steps = s.ramp_steps
        self.sums = {"T": 0.0, "V": 0.0, "P": 0.0, "nP": 0}
        self.stopped_by: str | None = None
        self.stop_message: str | None = None
        self.resumed_from_step = 0
        self._requested = 0
        if state is not None:
            self._restore(state)
            mode = "a"
        else:
            if resume:
                self.checkpoint_path.unlink(missing_ok=True)
            self._init_velocities(atoms.get_velocities())
            mode = "a" if append else "w"
            if append and self.trajectory_path.exists():
                from interforge.trajectory import TrajectoryReader

                rd = TrajectoryReader(self.trajectory_path)
                if rd.n_frames:
                    self.step0, self.time0 = int(rd.steps()[-1]), float(rd.times()[-1])
        try:
            self.forces, self.epot, self.stress, self.dev = self._evaluate()
        except Exception as err:  # noqa: BLE001 - a calculator failing on the input is a user error
            raise InterforgeError(f"calculator failed on the initial structure: {err}") from err
        if self.need_stress and self.stress is None:
            raise InterforgeError("npt needs a calculator that provides stress")
        self.writer = TrajectoryWriter(self.trajectory_path, atoms.numbers, self.masses, mode=mode,
                                       chunk_frames=s.chunk_frames)
        self.thermo = ThermoWriter(self.thermo_path, deviation=self.dev is not None, mode=mode)
        self._closed = False
        if state is None:
            self.volume0 = atoms.get_volume()
            if not append or self.writer.n_written == 0:
                self._record(self.step0, True, True)
            if s.checkpoint_interval:
                self.checkpoint()  # a kill before the first interval still leaves a run to resume (from step 0)

    # -- state -------------------------------------------------------------------------------------
    def _init_velocities(self, v: np.ndarray) -> None:
        """Maxwell-Boltzmann at T_start, zero momentum, scaled to exactly T_start (as GPUMD)."""
        s, atoms, masses = self.settings, self.atoms, self.masses
        if s.init_velocities or (s.init_velocities is None and not np.any(v)):
            v = self.rng.standard_normal((len(atoms), 3)) * np.sqrt(units.kB * self.t_start / masses)[:, None]
            v = remove_linear_momentum(v, masses)
            if s.remove_angular and s.momentum_removal_interval > 0:
                v = remove_angular_momentum(atoms.positions, v, masses)
            ke = 0.5 * (masses[:, None] * v * v).sum()
            if ke > 0 and self.t_start > 0:
                v *= math.sqrt(0.5 * self.ndof * units.kB * self.t_start / ke)
            else:
                v[:] = 0.0
        self.v = np.array(v, dtype=np.float64)

    def _evaluate(self):
        calc, atoms = self.calculator, self.atoms
        f = calc.get_property("forces", atoms)
        res = calc.results  # read what the same call computed; another get_property re-checks the atoms
        e = res["energy"] if "energy" in res else calc.get_property("energy", atoms)
        s = res.get("stress")  # free when the calculator computed it anyway (thermo pressure)
        if self.need_stress and s is None:
            s = calc.get_property("stress", atoms)
        dev = calc.results.get("max_force_deviation")
        return f, float(e), (None if s is None else np.asarray(s)), (None if dev is None else float(dev))

    def _record(self, step: int, f_dump: bool, f_thermo: bool):
        v, atoms = self.v, self.atoms
        ke2 = (self.masses[:, None] * v * v).sum(0)  # 2 K_aa, eV
        ke = 0.5 * ke2.sum()
        vol = atoms.get_volume()
        press = None if self.stress is None else float((ke2.sum() / 3.0 / vol - self.stress[:3].mean()) / units.GPa)
        t_ps = self.time0 + (step - self.step0) * self.settings.timestep_fs * 1e-3
        obs = {"temperature_K": 2.0 * ke / (self.ndof * units.kB), "potential_energy_eV": self.epot}
        if self.dev is not None:
            obs["max_force_deviation"] = self.dev
        if f_dump:
            self.writer.append(atoms.positions, atoms.cell.array, t_ps, step,
                               velocities=(v * units.fs) if self.settings.dump_velocities else None, observables=obs)
        if f_thermo:
            self.thermo.write(step=step, time_ps=t_ps, T_K=obs["temperature_K"],
                              P_GPa=np.nan if press is None else press, V_A3=vol, Epot_eV=self.epot, Ekin_eV=ke,
                              Etot_eV=self.epot + ke, max_force_deviation_eV_A=np.nan if self.dev is None else self.dev)
        return obs["temperature_K"], vol, press

    # -- checkpoints -------------------------------------------------------------------------------
    def checkpoint(self) -> Path:
        """Flush the outputs, then atomically replace ``out_dir/checkpoint.npz`` with the current state."""
        from interforge.fileio import atomic_path

        self.writer.flush()
        self.thermo.flush()
        meta = {
            "version": CHECKPOINT_VERSION, "identity": self.identity, "settings": self.settings.identity(),
            "nsteps": self.nsteps, "step0": self.step0, "time0": self.time0, "ramp_steps": self.ramp_steps,
            "volume0": self.volume0, "sums": self.sums, "stopped_by": self.stopped_by,
            "stop_message": self.stop_message, "n_frames": self.writer.n_written, "thermo_bytes": self.thermo.tell(),
            "rng": self.rng.bit_generator.state, "numbers": self.atoms.numbers.tolist(), "time": time.time(),
        }
        with atomic_path(self.checkpoint_path, suffix=".npz") as tmp:
            np.savez(tmp, positions=self.atoms.positions, velocities=self.v, cell=self.atoms.cell.array,
                     pbc=self.atoms.pbc, meta=np.array(json.dumps(meta)))
        return self.checkpoint_path

    def _read_checkpoint(self) -> dict | None:
        if not self.checkpoint_path.is_file():
            return None
        try:
            with np.load(self.checkpoint_path) as z:
                state = {k: z[k] for k in ("positions", "velocities", "cell", "pbc")}
                state["meta"] = json.loads(str(z["meta"]))
        except Exception as err:  # noqa: BLE001 - written atomically, so this is not our half-written file
            raise InterforgeError(f"{self.checkpoint_path} is not a readable checkpoint ({err})") from err
        meta = state["meta"]
        where = f"{self.out_dir} holds a run"
        if meta.get("version") != CHECKPOINT_VERSION:
            raise InterforgeError(f"{self.checkpoint_path}: checkpoint version {meta.get('version')} is not "
                                  f"{CHECKPOINT_VERSION}")
        if meta["numbers"] != self.atoms.numbers.tolist():
            raise InterforgeError(f"{where} of other atoms; choose another output folder or overwrite it")
        if meta["identity"] != self.identity or meta["settings"] != self.settings.identity():
            diff = sorted(k for k in set(meta["identity"]) | set(self.identity)
                          if meta["identity"].get(k) != self.identity.get(k))
            diff += sorted(k for k, v in self.settings.identity().items() if meta["settings"].get(k) != v)
            raise InterforgeError(f"{where} with other inputs or settings ({', '.join(diff)} differ); "
                                  "choose another output folder or overwrite it")
        return state

    def _restore(self, state: dict) -> None:
        from interforge.trajectory import truncate_trajectory

        meta = state["meta"]
        atoms = self.atoms
        atoms.set_cell(state["cell"], scale_atoms=False)
        atoms.pbc = state["pbc"]
        atoms.positions = state["positions"]
        self.v = np.array(state["velocities"], dtype=np.float64)
        self.rng.bit_generator.state = meta["rng"]
        self.nsteps = self.resumed_from_step = int(meta["nsteps"])
        self.step0, self.time0 = int(meta["step0"]), float(meta["time0"])
        self.ramp_steps = meta["ramp_steps"]
        self.volume0 = float(meta["volume0"])
        self.sums = dict(meta["sums"])
        self.stopped_by, self.stop_message = meta["stopped_by"], meta["stop_message"]
        # Frames and thermo lines written after the checkpoint are written again by the continuation.
        if not self.trajectory_path.is_file() or not self.thermo_path.is_file():
            raise InterforgeError(f"{self.out_dir}: the checkpoint's trajectory or thermo log is missing; "
                                  "overwrite the run")
        truncate_trajectory(self.trajectory_path, int(meta["n_frames"]))
        if self.thermo_path.stat().st_size < meta["thermo_bytes"]:
            raise InterforgeError(f"{self.thermo_path} is shorter than its checkpoint says; overwrite the run")
        os.truncate(self.thermo_path, int(meta["thermo_bytes"]))
        log.info("resuming MD in %s from step %d", self.out_dir, self.nsteps)

    # -- integration -------------------------------------------------------------------------------
    def run(self, steps: int) -> MDResult:
        """Integrate ``steps`` more steps (fewer when a guard trips) and return the result of the run so far.

        A run that a guard stopped (also one restored from such a checkpoint) does not continue."""
        if steps < 0:
            raise InterforgeError(f"steps must be >= 0 (got {steps})")
        if self._closed:
            raise InterforgeError("this Dynamics is closed")
        s, atoms, masses, minv, kB = self.settings, self.atoms, self.masses, self._minv, units.kB
        if self.ramp_steps is None:
            self.ramp_steps = self.nsteps + steps
        self._requested = self.nsteps + steps
        dt = s.timestep_fs * units.fs
        half_dt_over_tau = 0.5 * s.timestep_fs / s.thermostat_tau_fs
        dt_over_taup = s.timestep_fs / s.barostat_tau_fs
        beta_T = 1.0 / (s.bulk_modulus_GPa * _EV_A3_PER_GPA)
        p0 = s.pressure_bar * units.bar
        t_max = max(self.t_start, self.t_end, 1.0)
        progress_every = s.progress_every or max(100, steps // 20)
        first, last = self.nsteps + 1, self.nsteps + steps
        t_wall = time.perf_counter()
        v = self.v
        try:
            for i in range(first, last + 1) if self.stopped_by is None else ():
                frac = min(1.0, (i - 0.5) / self.ramp_steps) if self.ramp_steps else 0.0
                target = self.t_start + (self.t_end - self.t_start) * frac
                kt_half = 0.5 * self.ndof * kB * target
                if s.ensemble != "nve":
                    ke = 0.5 * (masses[:, None] * v * v).sum()
                    v *= bussi_factor(ke, kt_half, self.ndof, half_dt_over_tau, self.rng)
                v += (0.5 * dt) * self.forces * minv
                atoms.positions += dt * v
                if s.ensemble == "npt":
                    vol = atoms.get_volume()
                    p_diag = (masses[:, None] * v * v).sum(0) / vol - self.stress[:3]
                    eps = scr.scr_strain(s.barostat_mode, p_diag, p0, vol, kB * target, beta_T, dt_over_taup, self.rng)
                    mu = np.exp(eps)
                    atoms.set_cell(atoms.cell.array * mu[None, :], scale_atoms=False)
                    atoms.positions *= mu[None, :]
                    v /= mu[None, :]
                self.forces, self.epot, self.stress, self.dev = self._evaluate()
                v += (0.5 * dt) * self.forces * minv
                if s.ensemble != "nve":
                    ke = 0.5 * (masses[:, None] * v * v).sum()
                    v *= bussi_factor(ke, kt_half, self.ndof, half_dt_over_tau, self.rng)
                if s.momentum_removal_interval and i % s.momentum_removal_interval == 0:
                    v = remove_linear_momentum(v, masses)
                    if s.remove_angular:
                        v = remove_angular_momentum(atoms.positions, v, masses)
                self.v = v
                temp, vol, press = self._record(self.step0 + i, i % s.dump_interval == 0, i % s.thermo_interval == 0)
                self.nsteps = i
                self.sums["T"] += temp
                self.sums["V"] += vol
                if press is not None:
                    self.sums["P"] += press
                    self.sums["nP"] += 1
                tripped = check(s.guards, i, atoms, self.forces, self.epot, temp, t_max, vol, self.volume0)
                if tripped:
                    self.stopped_by, self.stop_message = tripped
                    log.warning("MD stopped by guard %s: %s", *tripped)
                    atoms.set_velocities(v)
                    _write_guard_frame(self.out_dir / "guard_frame.extxyz", atoms, self.step0 + i)
                    break
                if s.checkpoint_interval and i % s.checkpoint_interval == 0 and i < last:
                    self.checkpoint()
                if (i - first + 1) % progress_every == 0:
                    el = time.perf_counter() - t_wall
                    done = i - first + 1
                    log.info("MD step %d/%d: T=%.1f K V=%.1f Å3, %.1f steps/s, ETA %.0f s",
                             i, last, temp, vol, done / el, (last - i) * el / done)
        finally:
            self.writer.flush()
            self.thermo.flush()
        if s.checkpoint_interval:
            self.checkpoint()  # the end state (or the guard's): the same command again reports it
        wall = time.perf_counter() - t_wall
        atoms.set_velocities(self.v)
        return self.result(wall, self.nsteps - first + 1)

    def result(self, wall_s: float = 0.0, steps_this_call: int = 0) -> MDResult:
        done, sm = self.nsteps, self.sums
        return MDResult(
            steps_done=done, steps_requested=max(self._requested, done),
            mean_temperature_K=float(sm["T"] / done) if done else float("nan"),
            mean_volume_A3=float(sm["V"] / done) if done else float(self.atoms.get_volume()),
            mean_pressure_GPa=float(sm["P"] / sm["nP"]) if sm["nP"] else None,
            stopped_by=self.stopped_by, stop_message=self.stop_message, trajectory_path=str(self.trajectory_path),
            thermo_path=str(self.thermo_path), n_frames=self.writer.n_written, wall_s=wall_s,
            steps_per_s=steps_this_call / wall_s if wall_s > 0 else float("nan"),
            resumed_from_step=self.resumed_from_step, final_atoms=self.atoms,
        )

    def close(self) -> None:
        if not self._closed:
            self.writer.close()
            self.thermo.close()
            self._closed = True

    def __enter__(self) -> "Dynamics":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_md(atoms, calculator, ensemble: str, temperature_K: float | Sequence[float], steps: int,
           out_dir, pressure_bar: float = 1.0, timestep_fs: float = 1.0, dump_interval: int = 1000,
           thermo_interval: int = 100, seed: int | None = None, thermostat_tau_fs: float = 100.0,
           barostat_tau_fs: float = 1000.0, bulk_modulus_GPa: float = 30.0, barostat_mode: str = "isotropic",
           momentum_removal_interval: int = 10, remove_angular: bool = True, guards: Guards | None = None,
           init_velocities: bool | None = None, dump_velocities: bool = False, append: bool = False,
           chunk_frames: int = 64, trajectory_name: str = "trajectory.h5", thermo_name: str = "thermo.dat",
           progress_every: int | None = None, checkpoint_interval: int = 0, resume: bool = False,
           identity: dict | None = None) -> MDResult:
    """One call: :class:`Dynamics` with :class:`MDSettings` from these arguments (units and meaning there),
    run to ``steps`` steps in all. With ``resume`` a checkpoint in ``out_dir`` is continued, so only the
    steps it lacks are integrated; ``checkpoint_interval`` (steps, 0 = none) writes checkpoints.
    A tripped guard ends the run cleanly (trajectory flushed, ``stopped_by`` set, the offending frame in
    ``out_dir/guard_frame.extxyz``). A structure that already trips the ``min_distance`` guard before the first
    step raises :class:`~interforge.md.guards.StartRefused` and leaves nothing in ``out_dir`` (see
    :class:`Dynamics`). ``atoms`` is modified in place (it ends as the final state)."""
    settings = MDSettings(
        ensemble=ensemble, temperature_K=temperature_K, pressure_bar=pressure_bar, timestep_fs=timestep_fs,
        dump_interval=dump_interval, thermo_interval=thermo_interval, seed=seed, thermostat_tau_fs=thermostat_tau_fs,
        barostat_tau_fs=barostat_tau_fs, bulk_modulus_GPa=bulk_modulus_GPa, barostat_mode=barostat_mode,
        momentum_removal_interval=momentum_removal_interval, remove_angular=remove_angular, guards=guards or Guards(),
        init_velocities=init_velocities, dump_velocities=dump_velocities, chunk_frames=chunk_frames,
        trajectory_name=trajectory_name, thermo_name=thermo_name, progress_every=progress_every,
        checkpoint_interval=checkpoint_interval,
    )
    return run_with(atoms, calculator, settings, steps, out_dir, append=append, resume=resume, identity=identity)


def run_with(atoms, calculator, settings: MDSettings, steps: int, out_dir, *, append: bool = False,
             resume: bool = False, identity: dict | None = None) -> MDResult:
    """:func:`run_md` with its integration settings as one :class:`MDSettings` (e.g.
    ``MDSettings.from_section(cfg.md, ensemble="nvt", temperature_K=600.0, ...)``), so a caller states only
    what differs from the project's ``[md]`` section. A ramp spans ``steps`` unless ``settings.ramp_steps`` says.
    An NPT run with ``settings.equilibration_steps`` (and no ``append``) equilibrates first (:func:`equilibrate`);
    resumed, a finished equilibration is only read back from its checkpoint. An equilibration that a guard
    stops is returned as the result (``stop_message`` says so): the run proper does not start from it."""
    if steps < 0:
        raise InterforgeError(f"steps must be >= 0 (got {steps})")
    if settings.ensemble == "npt" and settings.equilibration_steps > 0 and not append:
        eq = equilibrate(atoms, calculator, settings, out_dir, resume=resume, identity=identity)
        if eq.stopped_by is not None:
            return replace(eq, stop_message=f"during the NPT equilibration: {eq.stop_message}")
    settings = replace(settings, equilibration_steps=0) if settings.equilibration_steps else settings
    if settings.ramp_steps is None:
        settings = replace(settings, ramp_steps=steps)
    identity = {**(identity or {}), "steps": steps} if resume else identity
    with Dynamics(atoms, calculator, settings, out_dir, append=append, resume=resume, identity=identity) as dyn:
        if dyn.nsteps > steps:
            raise InterforgeError(f"{out_dir}: the checkpoint is at step {dyn.nsteps}, past the {steps} requested")
        return dyn.run(steps - dyn.nsteps)


def equilibrate(atoms, calculator, settings: MDSettings, out_dir, *, resume: bool = False,
                identity: dict | None = None) -> MDResult:
    """The NPT equilibration of :func:`run_with`: ``settings.equilibration_steps`` steps at T_start with the
    barostat time constant ``settings.equilibration_barostat_tau_fs`` (fs) and the seed + 1, written to
    ``out_dir/equilibration``; ``atoms`` ends in its final state (cell, positions, velocities).

    From a 0 K cell a hot crystal expands by several per cent; SCR relaxes the volume on the barostat's time
    scale (1 ps by default), so a run started there spends its first picoseconds approaching its volume. A
    short, fast-coupled stage puts that approach out of the trajectory that is analysed."""
    t_start = settings.ramp()[0]
    eq = replace(settings, temperature_K=t_start, ramp_steps=None, equilibration_steps=0,
                 barostat_tau_fs=settings.equilibration_barostat_tau_fs or settings.barostat_tau_fs,
                 seed=None if settings.seed is None else settings.seed + 1)
    return run_with(atoms, calculator, eq, settings.equilibration_steps, Path(out_dir) / "equilibration",
                    resume=resume, identity=identity)


def _write_guard_frame(path: Path, atoms, step: int) -> None:
    from ase.io import write

    from interforge.fileio import atomic_path

    a = atoms.copy()
    a.calc = None
    a.info["step"] = step
    with atomic_path(path) as tmp:
        write(tmp, a, format="extxyz")
