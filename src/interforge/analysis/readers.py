"""Trajectory readers for analysis: H5MD (interforge's common format), extended XYZ (GPUMD dumps),
ASE ``.traj``, LAMMPS text dumps and VASP XDATCAR, with unwrapping and an on-disk cache.

Everything comes back as one :class:`Trajectory`: unwrapped Cartesian positions (T, N, 3) Å,
cells (T, 3, 3) Å (rows are lattice vectors), times (T,) ps and atomic numbers (N,).

Unwrapping (also for NPT cells) uses the "toroidal" scheme of Bullerjahn, von Bülow, Hummer
(J. Chem. Phys. 158, 2023): the wrapped displacement between consecutive frames minus the lattice
vector nearest to it *in the current cell*. Unlike rescaling fractional coordinates it does not add
the affine box fluctuation to every displacement, which would inflate D in NPT runs. Applied to
coordinates that are already unwrapped (and move less than half a cell between frames) it is the
identity, so it is always safe.

The cache is an ``.npz`` file beside the trajectory (``.NAME.analysis-cache.npz``) keyed by the
file's size and modification time, so re-analysis does not re-parse text formats.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from interforge.errors import InterforgeError
from interforge.fileio import atomic_path

log = logging.getLogger(__name__)

CACHE_VERSION = 1
_ASE_FORMATS = {".xyz": "extxyz", ".extxyz": "extxyz", ".traj": "traj", ".lammpstrj": "lammps-dump-text",
                ".dump": "lammps-dump-text"}


@dataclass
class Trajectory:
    """An MD trajectory in memory. positions: (T, N, 3) unwrapped Å; cells: (T, 3, 3) Å;
    times_ps: (T,) ps; numbers: (N,) atomic numbers; path: where it was read from."""

    numbers: np.ndarray
    positions: np.ndarray
    cells: np.ndarray
    times_ps: np.ndarray
    path: str = ""

    @property
    def n_frames(self) -> int:
        return self.positions.shape[0]

    @property
    def n_atoms(self) -> int:
        return self.positions.shape[1]

    @property
    def symbols(self) -> list[str]:
        from ase.data import chemical_symbols

        return [chemical_symbols[z] for z in self.numbers]

    @property
    def dt_ps(self) -> float:
        """Time between frames, ps (the median spacing: robust to one odd frame)."""
        return float(np.median(np.diff(self.times_ps))) if self.n_frames > 1 else 0.0

    def indices(self, species: str | list[str]) -> np.ndarray:
        """Atom indices of one element symbol (or a list of them)."""
        from ase.data import atomic_numbers

        names = [species] if isinstance(species, str) else list(species)
        try:
            zs = [atomic_numbers[s] for s in names]
        except KeyError as err:
            raise InterforgeError(f"unknown element symbol {err.args[0]!r}") from None
        return np.flatnonzero(np.isin(self.numbers, zs))

    def volumes(self) -> np.ndarray:
        """Cell volume per frame, Å³."""
        return np.abs(np.linalg.det(self.cells))


def unwrap(positions: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Unwrap (T, N, 3) positions (Å) in cells (T, 3, 3) (rows = lattice vectors), toroidal scheme.

    u_0 = x_0; u_t = u_{t-1} + d_t − round(d_t h_t⁻¹) h_t with d_t = x_t − x_{t−1}. Works in place
    frame by frame (no extra (T, N, 3) array) and returns a new float64 array.
    """
    pos = np.array(positions, dtype=np.float64, copy=True)
    if pos.shape[0] < 2:
        return pos
    prev_wrapped = pos[0].copy()
    for t in range(1, pos.shape[0]):
        cur = pos[t].copy()
        d = cur - prev_wrapped
        h = cells[t]
        d -= np.rint(d @ np.linalg.inv(h)) @ h
        pos[t] = pos[t - 1] + d
        prev_wrapped = cur
    return pos


def _stat_key(path: Path, dt_ps: float | None) -> str:
    st = path.stat()
    return f"v{CACHE_VERSION}:{st.st_size}:{st.st_mtime_ns}:{dt_ps}"


def cache_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.with_name(f".{p.name}.analysis-cache.npz")


def _read_h5md(path: Path) -> tuple:
    try:
        from interforge.trajectory import TrajectoryReader  # the MD area's reader (the contract)
    except ImportError:
        TrajectoryReader = None
    if TrajectoryReader is not None:
        r = TrajectoryReader(path)
        return (np.asarray(r.numbers), np.asarray(r.positions(), dtype=np.float64), np.asarray(r.cells()),
                np.asarray(r.times(), dtype=np.float64))
    import h5py

    with h5py.File(path, "r") as f:
        part = f["particles/all"]
        numbers = np.asarray(part["species"][()])
        pos = np.asarray(part["position/value"][()], dtype=np.float64)
        times = np.asarray(part["position/time"][()], dtype=np.float64)
        edges = part["box/edges"]
        cells = np.asarray(edges["value"][()] if isinstance(edges, h5py.Group) else edges[()], dtype=np.float64)
    if cells.ndim == 1:  # time-independent orthorhombic box given as 3 edge lengths
        cells = np.diag(cells)
    if cells.ndim == 2 and cells.shape == (3, 3):
        cells = np.broadcast_to(cells, (pos.shape[0], 3, 3)).copy()
    elif cells.ndim == 2:  # (T, 3) edge lengths per frame
        cells = np.stack([np.diag(c) for c in cells])
    return numbers, pos, cells, times


def _read_ase(path: Path, fmt: str | None, dt_ps: float | None) -> tuple:
    from ase.io import iread

    frames_pos, frames_cell, times = [], [], []
    numbers = None
    try:
        for atoms in iread(str(path), index=":", format=fmt):
            if numbers is None:
                numbers = atoms.numbers.copy()
            elif len(atoms) != len(numbers):
                raise InterforgeError(f"{path}: the number of atoms changes between frames")
            # GPUMD's dump_xyz writes wrapped positions, plus these when asked for `unwrapped_position`
            frames_pos.append(np.asarray(atoms.arrays.get("unwrapped_position", atoms.positions), dtype=np.float64))
            frames_cell.append(np.asarray(atoms.cell[:], dtype=np.float64))
            info = atoms.info
            times.append(info.get("time_ps", info.get("Time_ps", np.nan)))
    except InterforgeError:
        raise
    except Exception as err:  # ASE raises many types for a malformed file
        raise InterforgeError(f"cannot read trajectory {path}: {err}") from None
    if numbers is None:
        raise InterforgeError(f"{path}: no frames")
    pos = np.stack(frames_pos)
    del frames_pos
    cells = np.stack(frames_cell)
    times = np.asarray(times, dtype=np.float64)
    if dt_ps is not None:
        times = np.arange(len(pos)) * float(dt_ps)
    elif not np.all(np.isfinite(times)):
        raise InterforgeError(f"{path} does not carry frame times; pass the time between frames (--dt-ps)")
    if np.any(np.abs(np.linalg.det(cells)) < 1e-9):
        raise InterforgeError(f"{path}: frames without a periodic cell cannot be unwrapped")
    return numbers, unwrap(pos, cells), cells, times


def load_trajectory(path: str | os.PathLike, dt_ps: float | None = None, fmt: str | None = None,
                    cache: bool = True, check: Callable[[Trajectory], None] | None = None) -> Trajectory:
    """Read a trajectory (format from the extension or ``fmt``) into an unwrapped :class:`Trajectory`.

    dt_ps: time between frames, ps; needed for formats that do not store times (XDATCAR, LAMMPS,
    plain XYZ, .traj) and overrides stored times when given. H5MD files (.h5/.h5md) are read through
    :mod:`interforge.trajectory` (positions are already unwrapped there).
    check: called with the trajectory as read (or as cached), before it is logged or cached; it raises to
    refuse the file (the CLI's input rules: finite positions, cells and times), so a refused file leaves no
    cache next to it.
    """
    p = Path(path)
    if not p.is_file():
        raise InterforgeError(f"trajectory not found: {p}")
    cp = cache_path(p)
    key = _stat_key(p, dt_ps)
    if cache and cp.is_file():
        cached = None
        try:
            with np.load(cp, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    log.debug("using cached trajectory %s", cp)
                    cached = Trajectory(z["numbers"], z["positions"], z["cells"], z["times_ps"], str(p))
        except Exception as err:  # a corrupt cache is simply rebuilt
            log.warning("ignoring unreadable cache %s (%s)", cp, err)
        else:
            if cached is not None:
                if check is not None:
                    check(cached)
                return cached
    suffix = p.suffix.lower()
    name = p.name.upper()
    if fmt in ("h5md", "h5") or (fmt is None and suffix in (".h5", ".h5md", ".hdf5")):
        numbers, pos, cells, times = _read_h5md(p)
        if dt_ps is not None:
            times = np.arange(len(pos)) * float(dt_ps)
        text_format = False
    else:
        if fmt is None:
            if "XDATCAR" in name:
                fmt = "vasp-xdatcar"
            elif suffix in _ASE_FORMATS:
                fmt = _ASE_FORMATS[suffix]
            elif "DUMP" in name or "LAMMPSTRJ" in name:
                fmt = "lammps-dump-text"
        numbers, pos, cells, times = _read_ase(p, fmt, dt_ps)
        text_format = True
    traj = Trajectory(np.asarray(numbers, dtype=np.int64), pos, cells, times, str(p))
    if check is not None:
        check(traj)
    log.info("read %s: %d frames x %d atoms", p, traj.n_frames, traj.n_atoms)
    if cache and text_format:
        try:
            with atomic_path(cp, suffix=".npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, key=np.array(key), numbers=traj.numbers, positions=traj.positions,
                             cells=traj.cells, times_ps=traj.times_ps)
        except OSError as err:  # a read-only folder: analysis goes on without a cache
            log.warning("cannot write cache %s (%s)", cp, err)
    return traj
