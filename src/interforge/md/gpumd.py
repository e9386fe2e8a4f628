"""GPUMD driver: write ``model.xyz`` and ``run.in``, run ``gpumd`` when it is on PATH, convert its outputs.

The ``run.in`` grammar is the one of the GPUMD that runs it. ``gpumd`` prints its version in its banner
(``version 5.6``); :func:`detect_gpumd_version` reads it before a run. Facts from GPUMD's parsers (tag v5.6,
``src/measure/dump_xyz.cu``, ``src/main_gpumd/run.cu``, ``src/integrate/integrate.cu``, ``src/force/nep.cu``;
master at d98135de), see docs/gpumd.md:

- 4.0 ... 5.6: ``dump_xyz <grouping_method> <group_id> <interval> <file> [quantities]`` (grouping method -1 =
  all atoms); ``dump_exyz`` still exists.
- master after 5.6: ``dump_xyz <interval> <file> [group gm gid] [precision single|double] [quantities]``; the
  old form and ``dump_exyz`` are rejected. Its banner still says ``version 5.6``, so the executable is also
  searched for master's rejection message, and a run that GPUMD rejects for the dump grammar is rewritten in
  the other grammar and started once more.
- ``dftd3 <functional> <rc_potential> <rc_coordination>`` adds D3(BJ) to every NEP potential (4.0 on).
- ``npt_scr`` pressures and elastic moduli are in GPa; coupling constants in steps (tau / dt). Its isotropic
  (1 pressure) and orthorhombic (3) forms need a box whose matrix has no off-diagonal element; any other box
  takes the 6-component form, which, like the isotropic one, needs periodic boundaries in x, y and z.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import tempfile
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
#: The newest GPUMD release (tag v5.6, 2026-07-21): the grammar written when no ``gpumd`` can be asked.
RELEASED_VERSION = "5.6"
_MASTER = (999, 0)
#: Functionals GPUMD's ``dftd3`` keyword knows (v5.6 ``src/force/dftd3.cu``, matched case-insensitively).
DFTD3_FUNCTIONALS = frozenset(
    "b1b95 b2gpplyp b2plyp b3lyp b3pw91 b97d bhlyp blyp bmk bop bp86 bpbe camb3lyp dsdblyp hcth120 hf hse-hjs "
    "lc-wpbe08 lcwpbe m11 mn12l mn12sx mpw1b95 mpwb1k mpwlyp n12sx olyp opbe otpss pbe pbe0 pbe38 pbesol ptpss "
    "pw6b95 pwb6k pwpb95 revpbe revpbe0 revpbe38 revssb rpbe rpw86pbe scan sogga11x ssb tpss tpss0 tpssh b2kplyp "
    "dsd-pbep86 b97m wb97x wb97m".split())
# What GPUMD prints when it rejects a dump line written in the other grammar (PRINT_INPUT_ERROR texts).
_MASTER_REJECTS_GROUPED = ("dump_xyz no longer takes", "dump_exyz has been removed")
_RELEASE_REJECTS_MASTER = ("dump_xyz should have at least 4 parameters",
                           "grouping method of dump_xyz should be integer", "grouping method exceeds the bound")
_OUTPUTS = ("thermo.out", "active.out", "active.xyz")  # GPUMD appends to these (and to dump files)


def parse_version(version: str | None) -> tuple[int, int]:
    """'5.6' -> (5, 6); 'latest' / 'head' / 'master' -> newer than any release; None / 'auto' / '' -> the
    newest release (:data:`RELEASED_VERSION`)."""
    v = "" if version is None else str(version).strip().lower()
    if v in ("latest", "head", "master"):
        return _MASTER
    if v in ("", "auto"):
        v = RELEASED_VERSION
    m = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.\d+)*", v)
    if not m:
        raise InterforgeError(f"gpumd_version must look like '5.6', 'latest' or 'auto', got '{version}'")
    return int(m.group(1)), int(m.group(2) or 0)


def dump_grammar(version: str | None) -> str:
    """'grouped' (4.0 ... 5.6: ``dump_xyz gm gid N file``) or 'plain' (after 5.6: ``dump_xyz N file``)."""
    v = parse_version(version)
    if v < (4, 0):
        raise InterforgeError(f"GPUMD {version} is older than 4.0; interforge writes run.in for 4.0 and later")
    return "grouped" if v <= (5, 6) else "plain"


@dataclass(frozen=True)
class GpumdVersion:
    """What an executable says about itself: ``banner`` (e.g. '5.6', None when no banner was printed) and
    ``post_release`` (the executable holds master's parser, which rejects the 5.6 dump grammar)."""

    banner: str | None
    post_release: bool = False
    output: str = ""

    @property
    def dialect(self) -> str | None:
        """The value for :attr:`GpumdRun.gpumd_version`: the banner's version, 'latest' for master."""
        if self.post_release:
            return "latest"
        return self.banner


_BANNER = re.compile(r"^\s*\*\s*version\s+v?(\d+(?:\.\d+)*)\s*\*\s*$", re.IGNORECASE | re.MULTILINE)


def parse_banner(text: str) -> str | None:
    """The version in GPUMD's welcome banner (``*   version 5.6   *``; 3.x says ``Version``), else None."""
    m = _BANNER.search(text)
    return m.group(1) if m else None


def _has_master_parser(exe: str) -> bool:
    """True when the executable holds master's message rejecting the 5.6 dump grammar (compiled-in string)."""
    try:
        size = os.path.getsize(exe)
        if size > 2**30:
            return False
        data = Path(exe).read_bytes()
    except OSError:
        return False
    return any(m.encode() in data for m in _MASTER_REJECTS_GROUPED)


@functools.lru_cache(maxsize=8)
def _detect(exe: str, mtime_ns: int, timeout_s: float) -> GpumdVersion:
    with tempfile.TemporaryDirectory(prefix="interforge-gpumd-version-") as tmp:
        try:
            proc = subprocess.run([exe], cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=timeout_s)
            out = proc.stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as err:
            out = (err.stdout or b"").decode("utf-8", "replace")
        except OSError as err:
            raise InterforgeError(f"could not start {exe}: {err}") from None
    return GpumdVersion(parse_banner(out), _has_master_parser(exe), out[-4000:])


def detect_gpumd_version(exe: str | None = None, timeout_s: float = 120.0) -> GpumdVersion:
    """Start ``exe`` (default: ``gpumd`` on PATH) in an empty folder and read its banner; it prints the banner
    first and then stops for want of ``run.in``. Cached per executable and modification time."""
    exe = exe or gpumd_executable()
    if exe is None:
        raise InterforgeError("gpumd is not on PATH")
    exe = os.path.realpath(exe)
    return _detect(exe, os.stat(exe).st_mtime_ns, float(timeout_s))


@dataclass
class GpumdRun:
    """One GPUMD MD run block. Temperatures K, pressure bar, times fs, moduli GPa, intervals in steps.

    ``potentials``: nep.txt paths (more than one with ``active_interval`` > 0 gives a committee; MD is
    driven by the first). ``barostat_mode`` isotropic | orthorhombic | normal (only z couples: x and y get
    a modulus above GPUMD's freezing limit). ``gpumd_version``: the grammar of ``run.in`` ('5.6', 'latest' =
    master after 5.6, None / 'auto' = the newest release unless :func:`run_gpumd` asks the executable).
    ``dispersion``: None or ``{"functional": "pbe", "potential_cutoff": 12, "coordination_number_cutoff": 6}``
    (Å; calorine's ``CPUNEP(dftd3=...)`` keys) for ``dftd3``. ``triclinic``: the box matrix has an off-diagonal
    element (:func:`box_is_triclinic`), which selects ``npt_scr``'s 6-component form. ``pbc``: periodic axes.
    ``equilibration_steps`` (npt): a first run block of that many steps at ``temperature_K`` with the barostat
    time constant ``equilibration_barostat_tau_fs`` (fs) and no dumps, so thermo.out and the trajectory hold
    the run proper only (the ASE engine's ``[md] npt_equilibration_ps``).
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
    dispersion: dict | None = None
    triclinic: bool = False
    pbc: tuple[bool, bool, bool] = (True, True, True)
    extra_lines: list[str] = field(default_factory=list)
    equilibration_steps: int = 0
    equilibration_barostat_tau_fs: float | None = None

    @classmethod
    def from_section(cls, md, potentials: Sequence[str], **overrides) -> "GpumdRun":
        """A run with the integration settings of an ``[md]`` section (:class:`~interforge.config.md.MdSection`),
        then ``overrides``."""
        base = dict(potentials=list(potentials), ensemble=md.ensemble, pressure_bar=md.pressure_bar,
                    timestep_fs=md.timestep_fs, thermostat_tau_fs=md.thermostat_tau_fs,
                    barostat_tau_fs=md.barostat_tau_fs, bulk_modulus_GPa=md.bulk_modulus_GPa,
                    barostat_mode=md.barostat_mode, momentum_removal_interval=md.momentum_removal_interval,
                    dump_interval=md.dump_interval, thermo_interval=md.thermo_interval,
                    gpumd_version=md.gpumd_version,
                    equilibration_steps=md.equilibration_steps(overrides.get("timestep_fs")),
                    equilibration_barostat_tau_fs=md.npt_equilibration_barostat_tau_fs)
        return cls(**{**base, **overrides})

    @property
    def dump_grammar(self) -> str:
        return dump_grammar(self.gpumd_version)

    def validate(self) -> None:
        if not self.potentials:
            raise InterforgeError("GPUMD run needs at least one potential file")
        for p in self.potentials:
            if not str(p) or any(c.isspace() for c in str(p)):
                raise InterforgeError(f"GPUMD splits run.in at whitespace: potential path '{p}' cannot be written")
        if self.ensemble not in ("nve", "nvt", "npt"):
            raise InterforgeError(f"unknown ensemble '{self.ensemble}' (choose from nve, nvt, npt)")
        if self.barostat_mode not in ("isotropic", "orthorhombic", "normal"):
            raise InterforgeError(f"unknown barostat mode '{self.barostat_mode}'")
        if self.ensemble != "nve":
            t2 = self.temperature_end_K if self.temperature_end_K is not None else self.temperature_K
            if not (self.temperature_K > 0 and t2 > 0):
                raise InterforgeError("GPUMD needs temperatures above 0 K")
        if self.ensemble == "npt" and not all(self.pbc) and (self.triclinic or self.barostat_mode == "isotropic"):
            raise InterforgeError("GPUMD's npt_scr needs periodic boundaries in x, y and z for this box/mode")
        if 0 < self.momentum_removal_interval < 10:
            raise InterforgeError("GPUMD's correct_velocity needs an interval of at least 10 steps")
        if self.active_interval and len(self.potentials) < 2:
            raise InterforgeError("the active keyword needs a committee (two or more potentials)")
        if self.steps < 1:
            raise InterforgeError(f"steps must be >= 1, got {self.steps}")
        if self.equilibration_steps < 0 or not (self.equilibration_barostat_tau_fs or 1.0) > 0:
            raise InterforgeError("equilibration steps must be >= 0 and its barostat time constant > 0 fs")
        for name in ("dump_interval", "thermo_interval"):
            if int(getattr(self, name)) < 1:
                raise InterforgeError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.dump_file or any(c.isspace() for c in self.dump_file) or self.dump_file.endswith("*"):
            raise InterforgeError(f"dump file name '{self.dump_file}' cannot be written to run.in")
        if self.dispersion is not None:
            _dftd3_args(self.dispersion)
        self.dump_grammar  # raises for unsupported versions


def _dftd3_args(d: dict) -> tuple[str, float, float]:
    keys = {"functional", "potential_cutoff", "coordination_number_cutoff"}
    if not isinstance(d, dict) or set(d) != keys:
        raise InterforgeError(f"dispersion must be None or a dict with the keys {sorted(keys)}, got {d!r}")
    func = str(d["functional"]).lower()
    if func not in DFTD3_FUNCTIONALS:
        raise InterforgeError(f"GPUMD's dftd3 does not know the functional '{d['functional']}'")
    rc, cn = float(d["potential_cutoff"]), float(d["coordination_number_cutoff"])
    if not (rc > 0 and cn > 0 and np.isfinite(rc) and np.isfinite(cn)):
        raise InterforgeError(f"dftd3 cutoffs must be positive, got {rc}, {cn}")
    return func, rc, cn


def _g(x: float) -> str:
    return f"{x:.10g}"


def _box_matrix(cell) -> np.ndarray:
    """The cell as written to model.xyz: elements below 1e-10 Å set to exactly 0 (GPUMD tests them against 0)."""
    h = np.array(cell, dtype=float).reshape(3, 3)
    h[np.abs(h) < 1e-10] = 0.0
    return h


def box_is_triclinic(cell) -> bool:
    """True when GPUMD sees an off-diagonal box element (it then refuses npt_scr's 1- and 3-component forms)."""
    h = _box_matrix(cell)
    return bool(np.any(h[~np.eye(3, dtype=bool)] != 0.0))


def _ensemble_line(run: GpumdRun, t1: float, t2: float, barostat_tau_fs: float) -> str:
    t_coup = max(1.0, run.thermostat_tau_fs / run.timestep_fs)
    p_coup = max(1.0, barostat_tau_fs / run.timestep_fs)
    if run.ensemble == "nve":
        return "ensemble nve"
    if run.ensemble == "nvt":
        return f"ensemble nvt_bdp {_g(t1)} {_g(t2)} {_g(t_coup)}"
    p = run.pressure_bar * _BAR_TO_GPA
    b = run.bulk_modulus_GPa
    head = f"ensemble npt_scr {_g(t1)} {_g(t2)} {_g(t_coup)}"
    cxy = _FROZEN_MODULUS_GPA if run.barostat_mode == "normal" else b
    if run.triclinic:
        # pxx pyy pzz pyz pxz pxy Cxx Cyy Czz Cyz Cxz Cxy: axes couple separately, the tilt stays
        f = _FROZEN_MODULUS_GPA
        return (f"{head} {_g(p)} {_g(p)} {_g(p)} 0 0 0 {_g(cxy)} {_g(cxy)} {_g(b)} {_g(f)} {_g(f)} {_g(f)} "
                f"{_g(p_coup)}")
    if run.barostat_mode == "isotropic":
        return f"{head} {_g(p)} {_g(b)} {_g(p_coup)}"
    return f"{head} {_g(p)} {_g(p)} {_g(p)} {_g(cxy)} {_g(cxy)} {_g(b)} {_g(p_coup)}"


def run_in_text(run: GpumdRun) -> str:
    """The text of ``run.in`` for one run (an NPT equilibration block first when the run asks for one), in the
    grammar of ``run.gpumd_version``."""
    run.validate()
    t1 = run.temperature_K
    t2 = run.temperature_end_K if run.temperature_end_K is not None else t1
    lines = [f"potential {p}" for p in run.potentials]
    if run.dispersion is not None:
        func, rc, cn = _dftd3_args(run.dispersion)
        lines.append(f"dftd3 {func} {_g(rc)} {_g(cn)}")
    lines.append(f"velocity {_g(t1)}" + (f" seed {int(run.seed)}" if run.seed is not None else ""))
    # time_step and correct_velocity are repeated in each block: GPUMD resets run-specific keywords after `run`
    block = [f"time_step {_g(run.timestep_fs)}"]
    if run.momentum_removal_interval:
        block.append(f"correct_velocity {int(run.momentum_removal_interval)}")
    if run.ensemble == "npt" and run.equilibration_steps > 0:
        tau = run.equilibration_barostat_tau_fs or run.barostat_tau_fs
        lines += block + [_ensemble_line(run, t1, t1, tau), f"run {int(run.equilibration_steps)}"]
    lines += block + [_ensemble_line(run, t1, t2, run.barostat_tau_fs)]
    lines.append(f"dump_thermo {int(run.thermo_interval)}")
    props = "unwrapped_position" + (" velocity" if run.dump_velocities else "")
    if run.dump_grammar == "grouped":
        lines.append(f"dump_xyz -1 0 {int(run.dump_interval)} {run.dump_file} {props}")
    else:
        lines.append(f"dump_xyz {int(run.dump_interval)} {run.dump_file} {props}")
    if run.active_interval:
        lines.append(f"active {int(run.active_interval)} 0 0 1 {_g(run.active_threshold_eV_A)}")
    lines.extend(run.extra_lines)
    lines.append(f"run {int(run.steps)}")
    return "\n".join(lines) + "\n"


def write_model_xyz(atoms, path, velocities: bool = False, groups: Sequence[int] | None = None) -> Path:
    """GPUMD ``model.xyz``: lattice, pbc, species, positions (Å), masses (amu), optional velocities (Å/fs) and
    one grouping method. Box elements below 1e-10 Å are written as 0 (see :func:`box_is_triclinic`)."""
    from ase import units

    cell = _box_matrix(atoms.cell.array)
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
        if groups.min() < 0 or groups.max() >= len(atoms):
            raise InterforgeError("GPUMD group labels must lie in 0 ... N-1")
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
    """thermo.out parsed: T K, kinetic and potential energy eV, pressure tensor GPa (xx yy zz yz xz xy), cells Å
    (rows a, b, c)."""

    temperature_K: np.ndarray
    kinetic_eV: np.ndarray
    potential_eV: np.ndarray
    pressure_GPa: np.ndarray
    cells: np.ndarray


def read_thermo_out(path) -> GpumdThermo:
    """Read GPUMD's thermo.out with :func:`calorine.gpumd.read_thermo`: the ``#`` header blocks that 5.6
    writes per run, or none (older versions); 18 columns (triclinic box), 12 (orthogonal box lengths) and the
    other legacy layouts."""
    from calorine.gpumd import read_thermo

    try:
        df = read_thermo(str(path))
    except (ValueError, KeyError, IndexError) as err:
        raise InterforgeError(f"{path}: cannot read thermo.out ({err}; expected GPUMD's columns)") from None
    n = len(df)
    if n == 0:
        empty = np.zeros(0)
        return GpumdThermo(empty, empty, empty, np.zeros((0, 6)), np.zeros((0, 3, 3)))
    if "cell_xy" in df:
        cells = df[["cell_xx", "cell_xy", "cell_xz", "cell_yx", "cell_yy", "cell_yz", "cell_zx", "cell_zy",
                    "cell_zz"]].to_numpy(float).reshape(-1, 3, 3)
    else:
        cells = np.zeros((n, 3, 3))
        cells[:, [0, 1, 2], [0, 1, 2]] = df[["cell_xx", "cell_yy", "cell_zz"]].to_numpy(float)
    stress = np.zeros((n, 6))
    for j, c in enumerate(("stress_xx", "stress_yy", "stress_zz", "stress_yz", "stress_xz", "stress_xy")):
        if c in df:
            stress[:, j] = df[c].to_numpy(float)
    return GpumdThermo(df["temperature"].to_numpy(float), df["kinetic_energy"].to_numpy(float),
                       df["potential_energy"].to_numpy(float), stress, cells)


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

    Frame k (k = 1, 2, ...) of a dump with interval N is taken to be step k*N (GPUMD writes after step
    ``step + 1`` when it is a multiple of N); thermo line k likewise with the thermo interval. Positions are
    GPUMD's ``unwrapped_position`` when present, else the wrapped positions unwrapped by minimum image between
    frames (valid while no atom moves half a box between dumps).
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
        if run.ensemble == "npt":  # active.out's time is GPUMD's global time, which counts the equilibration block
            dev_t = dev_t - run.equilibration_steps * dt_ps
    thermo_path = out_dir / "thermo.dat"
    with ThermoWriter(thermo_path, deviation=False) as tw:
        for k in range(len(th.temperature_K)):
            step = (k + 1) * run.thermo_interval
            tw.write(step=step, time_ps=step * dt_ps, T_K=th.temperature_K[k], P_GPa=p_mean[k], V_A3=vols[k],
                     Epot_eV=th.potential_eV[k], Ekin_eV=th.kinetic_eV[k],
                     Etot_eV=th.potential_eV[k] + th.kinetic_eV[k])
    dump = run_dir / run.dump_file
    traj_path = out_dir / "trajectory.h5"
    n_frames = 0
    if dump.is_file() and dump.stat().st_size:
        import io

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
    mean = (lambda a: float(a.mean()) if len(a) else float("nan"))
    return ConversionResult(str(traj_path), str(thermo_path), n_frames, len(th.temperature_K),
                            mean(th.temperature_K), mean(vols), mean(p_mean))


def gpumd_executable() -> str | None:
    return shutil.which("gpumd")


def _stage_potentials(potentials: Sequence[str], run_dir: Path) -> list[str]:
    """Absolute paths; a file whose path holds whitespace (GPUMD splits run.in at it) is copied into run_dir."""
    staged = []
    for i, p in enumerate(potentials):
        path = Path(p).resolve()
        if not path.is_file():
            raise InterforgeError(f"potential file not found: {p}")
        if any(c.isspace() for c in str(path)):
            run_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, run_dir / f"potential_{i}.txt")
            staged.append(f"potential_{i}.txt")
        else:
            staged.append(str(path))
    return staged


def rejected_grammar(gpumd_output: str) -> str | None:
    """The dump grammar GPUMD's output says it rejected: 'grouped' (master refusing 5.6's form), 'plain' (5.6
    refusing master's form) or None."""
    if any(m in gpumd_output for m in _MASTER_REJECTS_GROUPED):
        return "grouped"
    if any(m in gpumd_output for m in _RELEASE_REJECTS_MASTER):
        return "plain"
    return None


def resolve_version(run: GpumdRun, exe: str | None) -> str | None:
    """Set ``run.gpumd_version`` to the version ``exe`` reports (the executable decides what it parses; a
    configured version that disagrees is logged); unchanged when there is no executable or no banner."""
    if exe is None:
        return run.gpumd_version
    found = detect_gpumd_version(exe)
    if found.dialect is None:
        log.warning("%s printed no version banner; writing run.in for GPUMD %s", exe,
                    run.gpumd_version or RELEASED_VERSION)
        return run.gpumd_version
    asked = run.gpumd_version
    if asked not in (None, "", "auto") and dump_grammar(asked) != dump_grammar(found.dialect):
        log.info("gpumd_version '%s' was configured, but %s is GPUMD %s%s: writing run.in for the latter",
                    asked, exe, found.banner, " (master after the release)" if found.post_release else "")
    log.info("%s: GPUMD %s%s", exe, found.banner, " with master's parser" if found.post_release else "")
    run.gpumd_version = found.dialect
    return found.dialect


def run_gpumd(atoms, run: GpumdRun, out_dir, execute: bool = True, groups: Sequence[int] | None = None,
              timeout_s: float | None = None):
    """Write ``out_dir/gpumd/{model.xyz,run.in}``; when ``execute`` and ``gpumd`` is on PATH, ask it for its
    version (:func:`detect_gpumd_version`), write run.in in that version's grammar, run it there and convert
    the outputs into ``out_dir``. Returns an :class:`interforge.md.MDResult`."""
    from interforge.md.engine import MDResult

    out_dir = Path(out_dir)
    run_dir = out_dir / "gpumd"
    run.potentials = _stage_potentials(run.potentials, run_dir)
    run.triclinic = box_is_triclinic(atoms.cell.array)
    run.pbc = tuple(bool(p) for p in atoms.pbc)
    exe = gpumd_executable() if execute else None
    resolve_version(run, exe)
    write_model_xyz(atoms, run_dir / "model.xyz", velocities=bool(np.any(atoms.get_velocities())), groups=groups)
    atomic_write_text(run_dir / "run.in", run_in_text(run))
    if not execute:
        raise InterforgeError(f"inputs written to {run_dir}; execution was not requested")
    if exe is None:
        raise InterforgeError(f"gpumd is not on PATH; inputs written to {run_dir} (run `gpumd` there, then convert)")
    log_path = run_dir / "gpumd.out"
    for attempt in (1, 2):
        for name in (*_OUTPUTS, run.dump_file):
            (run_dir / name).unlink(missing_ok=True)  # GPUMD appends
        t0 = time.perf_counter()
        with open(log_path, "w") as fh:
            proc = subprocess.run([exe], cwd=run_dir, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s,
                                  env=dict(os.environ))
        wall = time.perf_counter() - t0
        if proc.returncode == 0:
            break
        text = log_path.read_text(errors="replace")
        if attempt == 1 and rejected_grammar(text) == run.dump_grammar:
            other = "latest" if run.dump_grammar == "grouped" else RELEASED_VERSION
            log.warning("gpumd rejected the %s dump_xyz grammar; writing run.in for GPUMD %s and starting again",
                        run.dump_grammar, other)
            run.gpumd_version = other
            atomic_write_text(run_dir / "run.in", run_in_text(run))
            continue
        raise InterforgeError(f"gpumd failed with exit code {proc.returncode}; see {log_path}")
    speed = re.findall(r"Speed of this run = ([0-9.eE+-]+) atom\*step/second", log_path.read_text(errors="replace"))
    if speed:
        log.info("gpumd: %s atom*step/s", speed[-1])
    conv = convert_outputs(run_dir, out_dir, run, atoms.numbers, atoms.get_masses())
    steps_done = run.steps
    return MDResult(steps_done=steps_done, steps_requested=run.steps, mean_temperature_K=conv.mean_temperature_K,
                    mean_volume_A3=conv.mean_volume_A3, mean_pressure_GPa=conv.mean_pressure_GPa, stopped_by=None,
                    stop_message=None, trajectory_path=conv.trajectory_path, thermo_path=conv.thermo_path,
                    n_frames=conv.n_frames, wall_s=wall, steps_per_s=steps_done / wall if wall else float("nan"),
                    engine="gpumd")
