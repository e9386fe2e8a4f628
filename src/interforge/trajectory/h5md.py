"""H5MD 1.1 trajectories (HDF5 via h5py): unwrapped positions (Å), cell (Å), time (ps), species.

Layout (H5MD 1.1, https://www.nongnu.org/h5md/h5md.html)::

    /h5md                     attrs version=[1, 1]; groups author (attr name), creator (attrs name, version)
    /particles/all/species    (N,) int32 atomic numbers
    /particles/all/mass       (N,) float64 amu
    /particles/all/position/{step (T,) int64, time (T,) float64 ps, value (T, N, 3) float64 Å, unwrapped}
    /particles/all/box        attrs dimension=3, boundary=[periodic]*3
    /particles/all/box/edges/{step, time, value (T, 3, 3) Å, rows are lattice vectors}
    /particles/all/velocity/{step, time, value (T, N, 3) Å/fs}       (optional)
    /observables/<name>/{step, time, value (T,)}                       (optional, one value per frame)

Why open-append-close: the writer buffers ``chunk_frames`` frames in memory and then opens the file,
appends them and closes it again. Between flushes the file on disk is a complete, closed HDF5 file, so
another process can read it while the run goes on, and a killed run loses at most the frames of one
unflushed chunk (HDF5's SWMR mode would avoid reopening, but a crashed SWMR writer leaves the file
flagged "open for write" until ``h5clear`` is run on it).
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import h5py
import numpy as np

import interforge
from interforge.errors import InterforgeError

log = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 20  # ~1 MiB HDF5 chunks: fits the default chunk cache, fast for frame-block reads
_OPEN_RETRIES = 100     # a reader retries while a writer holds the file lock (flushes take milliseconds)


def _open(path: Path, mode: str) -> h5py.File:
    """Open an HDF5 file, retrying briefly while another process holds its lock."""
    last = None
    for _ in range(_OPEN_RETRIES):
        try:
            return h5py.File(path, mode)
        except FileNotFoundError:
            raise
        except OSError as err:  # locked by a writer that is flushing right now
            last = err
            time.sleep(0.05)
    raise InterforgeError(f"cannot open trajectory {path}: {last}")


def _time_element(group: h5py.Group, name: str, shape: tuple[int, ...], dtype, chunk_frames: int, unit: str | None):
    """Create an H5MD time-dependent element {step, time, value} with zero frames."""
    g = group.create_group(name)
    g.create_dataset("step", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(max(chunk_frames, 64),))
    t = g.create_dataset("time", shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(max(chunk_frames, 64),))
    t.attrs["unit"] = "ps"
    v = g.create_dataset("value", shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
                         chunks=(chunk_frames, *shape))
    if unit:
        v.attrs["unit"] = unit
    return g


def _extend(ds: h5py.Dataset, data: np.ndarray) -> None:
    n = ds.shape[0]
    ds.resize(n + len(data), axis=0)
    ds[n:] = data


def truncate_trajectory(path: str | os.PathLike, n_frames: int) -> None:
    """Cut a trajectory back to its first ``n_frames`` frames (every time-dependent element and observable).

    A resumed run uses it to drop the frames written after its checkpoint, which it writes again."""
    path = Path(path)
    with _open(path, "a") as f:
        have = int(f["particles/all/position/step"].shape[0])
        if n_frames > have:
            raise InterforgeError(f"{path} has {have} frames, fewer than the {n_frames} to keep")
        if n_frames == have:
            return
        groups = [f["particles/all/position"], f["particles/all/box/edges"]]
        if "velocity" in f["particles/all"]:
            groups.append(f["particles/all/velocity"])
        groups += [f["observables"][k] for k in f["observables"]]
        for g in groups:
            for name in ("step", "time", "value"):
                g[name].resize(n_frames, axis=0)


class TrajectoryWriter:
    """Append frames to an H5MD file.

    Parameters: ``path``; ``numbers`` (N,) atomic numbers; ``masses`` (N,) amu (ASE's defaults when None);
    ``mode`` "w" (create/overwrite) or "a" (append to an existing file with the same species, else create);
    ``chunk_frames`` frames buffered before each flush to disk.
    """

    def __init__(self, path: str | os.PathLike, numbers: Sequence[int], masses: Sequence[float] | None = None,
                 mode: str = "w", chunk_frames: int = 64):
        if mode not in ("w", "a"):
            raise InterforgeError(f"trajectory mode must be 'w' or 'a', got '{mode}'")
        self.path = Path(path)
        self.numbers = np.asarray(numbers, dtype=np.int32)
        if self.numbers.ndim != 1 or len(self.numbers) == 0:
            raise InterforgeError(f"trajectory {self.path}: numbers must be a non-empty 1-D list")
        n = len(self.numbers)
        if masses is None:
            from ase.data import atomic_masses

            masses = atomic_masses[self.numbers]
        self.masses = np.asarray(masses, dtype=np.float64)
        self.chunk_frames = max(1, int(chunk_frames))
        # HDF5 chunk along frames: at most chunk_frames, and about 1 MiB of positions.
        self._h5_chunk = max(1, min(self.chunk_frames, _CHUNK_BYTES // (n * 3 * 8)))
        self._buf: list[dict] = []
        self._has_vel: bool | None = None
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if mode == "a" and self.path.exists():
            with _open(self.path, "r") as f:
                old = f["particles/all/species"][()]
                if not np.array_equal(old, self.numbers):
                    raise InterforgeError(f"cannot append to {self.path}: its species differ from the new frames")
                self._has_vel = "velocity" in f["particles/all"] if f["particles/all/position/step"].shape[0] else None
                self.n_written = int(f["particles/all/position/step"].shape[0])
        else:
            self._create()
            self.n_written = 0

    def _create(self) -> None:
        n = len(self.numbers)
        tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        with h5py.File(tmp, "w") as f:
            h = f.create_group("h5md")
            h.attrs["version"] = np.array([1, 1], dtype=np.int32)
            h.create_group("author").attrs["name"] = os.environ.get("USER", "interforge")
            c = h.create_group("creator")
            c.attrs["name"] = "interforge"
            c.attrs["version"] = interforge.__version__
            p = f.create_group("particles/all")
            p.create_dataset("species", data=self.numbers)
            p.create_dataset("mass", data=self.masses).attrs["unit"] = "amu"
            _time_element(p, "position", (n, 3), np.float64, self._h5_chunk, "Angstrom")
            box = p.create_group("box")
            box.attrs["dimension"] = 3
            box.attrs["boundary"] = np.array([b"periodic"] * 3)
            _time_element(box, "edges", (3, 3), np.float64, 64, "Angstrom")
            f.create_group("observables")
        os.replace(tmp, self.path)  # the file appears complete or not at all

    def append(self, positions, cell, time_ps: float, step: int, velocities=None,
               observables: dict[str, float] | None = None) -> None:
        """Add one frame: positions (N,3) Å unwrapped, cell (3,3) Å (rows = vectors), time ps, step,
        optional velocities (N,3) Å/fs and scalar observables."""
        if self._closed:
            raise InterforgeError(f"trajectory {self.path} is closed")
        pos = np.asarray(positions, dtype=np.float64)
        if pos.shape != (len(self.numbers), 3):
            raise InterforgeError(f"trajectory {self.path}: positions have shape {pos.shape}, "
                                  f"expected ({len(self.numbers)}, 3)")
        if self._has_vel is None:
            self._has_vel = velocities is not None
        frame = {"pos": pos.copy(), "cell": np.asarray(cell, dtype=np.float64).reshape(3, 3).copy(),
                 "time": float(time_ps), "step": int(step), "obs": dict(observables or {})}
        if self._has_vel:
            frame["vel"] = (np.full_like(pos, np.nan) if velocities is None
                            else np.asarray(velocities, dtype=np.float64).copy())
        self._buf.append(frame)
        if len(self._buf) >= self.chunk_frames:
            self.flush()

    def flush(self) -> None:
        """Write the buffered frames to disk (the file is closed again afterwards)."""
        if not self._buf:
            return
        buf, self._buf = self._buf, []
        steps = np.array([b["step"] for b in buf], dtype=np.int64)
        times = np.array([b["time"] for b in buf], dtype=np.float64)
        n = len(self.numbers)
        with _open(self.path, "a") as f:
            p = f["particles/all"]
            n0 = p["position/step"].shape[0]
            for elem, data in (("position", np.stack([b["pos"] for b in buf])),
                               ("box/edges", np.stack([b["cell"] for b in buf]))):
                _extend(p[f"{elem}/step"], steps)
                _extend(p[f"{elem}/time"], times)
                _extend(p[f"{elem}/value"], data)
            if self._has_vel:
                if "velocity" not in p:
                    g = _time_element(p, "velocity", (n, 3), np.float64, self._h5_chunk, "Angstrom/fs")
                    if n0:  # velocities start later than positions: earlier frames are unknown
                        _extend(g["step"], p["position/step"][:n0])
                        _extend(g["time"], p["position/time"][:n0])
                        _extend(g["value"], np.full((n0, n, 3), np.nan))
                g = p["velocity"]
                _extend(g["step"], steps)
                _extend(g["time"], times)
                _extend(g["value"], np.stack([b["vel"] for b in buf]))
            obs = f["observables"]
            names = set(obs.keys()).union(*(b["obs"].keys() for b in buf))
            for name in sorted(names):
                if name not in obs:
                    g = _time_element(obs, name, (), np.float64, 256, None)
                    if n0:  # an observable that appears late is NaN on the earlier frames
                        _extend(g["step"], p["position/step"][:n0])
                        _extend(g["time"], p["position/time"][:n0])
                        _extend(g["value"], np.full(n0, np.nan))
                g = obs[name]
                _extend(g["step"], steps)
                _extend(g["time"], times)
                _extend(g["value"], np.array([b["obs"].get(name, np.nan) for b in buf], dtype=np.float64))
        self.n_written += len(buf)

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._closed = True

    def __enter__(self) -> "TrajectoryWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TrajectoryReader:
    """Read an H5MD trajectory (also one that is still being written: each call sees the flushed frames)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise InterforgeError(f"trajectory not found: {self.path}")
        with self._file() as f:
            if "particles/all/position/value" not in f:
                raise InterforgeError(f"{self.path} is not an H5MD trajectory (no /particles/all/position)")
            p = f["particles/all"]
            self.numbers = p["species"][()].astype(int)
            self.masses = p["mass"][()] if "mass" in p else None
        if self.masses is None:
            from ase.data import atomic_masses

            self.masses = atomic_masses[self.numbers]

    @contextmanager
    def _file(self) -> Iterator[h5py.File]:
        f = _open(self.path, "r")
        try:
            yield f
        finally:
            f.close()

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    @property
    def n_frames(self) -> int:
        with self._file() as f:
            return int(f["particles/all/position/value"].shape[0])

    @property
    def symbols(self) -> list[str]:
        from ase.data import chemical_symbols

        return [chemical_symbols[z] for z in self.numbers]

    def __len__(self) -> int:
        return self.n_frames

    def times(self) -> np.ndarray:
        """Frame times, ps."""
        with self._file() as f:
            return f["particles/all/position/time"][()]

    def steps(self) -> np.ndarray:
        with self._file() as f:
            return f["particles/all/position/step"][()]

    def positions(self, frames=slice(None), atoms=None) -> np.ndarray:
        """Unwrapped positions (T', N', 3) float64 Å for a frame slice/index array and an optional atom selection."""
        return self._per_atom("particles/all/position/value", frames, atoms)

    def velocities(self, frames=slice(None), atoms=None) -> np.ndarray:
        """Velocities (T', N', 3) Å/fs; raises when the file has none."""
        with self._file() as f:
            if "particles/all/velocity" not in f:
                raise InterforgeError(f"{self.path} holds no velocities")
        return self._per_atom("particles/all/velocity/value", frames, atoms)

    def _per_atom(self, key: str, frames, atoms) -> np.ndarray:
        with self._file() as f:
            ds = f[key]
            idx = np.arange(ds.shape[0])[frames]
            scalar = np.ndim(idx) == 0
            idx = np.atleast_1d(idx)
            sel = slice(None) if atoms is None else np.asarray(atoms)
            if atoms is not None and sel.dtype == bool:
                sel = np.flatnonzero(sel)
            n_sel = self.n_atoms if atoms is None else len(sel)
            out = np.empty((len(idx), n_sel, 3), dtype=np.float64)
            # Read contiguous runs of frames in blocks (h5py is fast on slices, slow on fancy indices).
            i = 0
            block = max(1, ds.chunks[0] if ds.chunks else 64)
            while i < len(idx):
                j = i + 1
                while j < len(idx) and idx[j] == idx[j - 1] + 1 and j - i < 16 * block:
                    j += 1
                data = ds[idx[i]:idx[j - 1] + 1]
                out[i:j] = data if atoms is None else data[:, sel]
                i = j
            return out[0] if scalar else out

    def cells(self, frames=slice(None)) -> np.ndarray:
        """Cells (T', 3, 3) Å, rows are lattice vectors."""
        with self._file() as f:
            return f["particles/all/box/edges/value"][()][frames]

    def observable_names(self) -> list[str]:
        with self._file() as f:
            return sorted(f["observables"].keys()) if "observables" in f else []

    def observable(self, name: str) -> np.ndarray:
        """One scalar per frame (NaN where the frame did not record it)."""
        with self._file() as f:
            key = f"observables/{name}/value"
            if key not in f:
                raise InterforgeError(f"{self.path} has no observable '{name}' (has: {self.observable_names()})")
            return f[key][()]

    def atoms(self, i: int):
        """Frame ``i`` as ase.Atoms (periodic, unwrapped positions; velocities when stored)."""
        from ase import Atoms

        n = self.n_frames
        if not -n <= i < n:
            raise InterforgeError(f"frame {i} out of range: {self.path} has {n} frames")
        i = i % n
        a = Atoms(numbers=self.numbers, positions=self.positions(i), cell=self.cells(i), pbc=True,
                  masses=self.masses)
        with self._file() as f:
            has_vel = "particles/all/velocity" in f
        if has_vel:
            from ase import units

            v = self.velocities(i)
            if np.all(np.isfinite(v)):
                a.set_velocities(v * (units.Ang / units.fs))
        return a

    def iter_chunks(self, chunk_frames: int = 256, atoms=None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (start_frame, positions (T', N', 3)) blocks, so a long trajectory streams in bounded memory."""
        n = self.n_frames
        for start in range(0, n, chunk_frames):
            yield start, self.positions(slice(start, min(n, start + chunk_frames)), atoms)
