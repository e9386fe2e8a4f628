"""GPUMD ``train.xyz`` / ``test.xyz``: the extended XYZ dialect the ``nep`` trainer reads.

Per frame: ``Lattice="ax ay az bx by bz cx cy cz"`` (GPUMD reads keys case-insensitively;
ASE only the capitalised form), ``energy=`` total energy in eV, ``virial=``
nine components (row-major xx xy xz yx yy yz zx zy zz) of the total virial in eV, equal to
-stress x volume with ASE's stress sign (positive = tensile), and per-atom ``species``, ``pos``
(Å) and ``force`` (eV/Å).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, TextIO

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.stress import full_3x3_to_voigt_6_stress

from interforge.errors import DataStoreError
from interforge.fileio import atomic_path


def _fmt(values: Iterable[float]) -> str:
    return " ".join(f"{v:.10f}" for v in values)


def write_frame(fh: TextIO, atoms: Atoms, energy: float, forces: np.ndarray, stress: np.ndarray | None) -> None:
    """Write one frame. ``stress`` is ASE's (eV/Å³; Voigt-6 or 3x3) or None (no virial written)."""
    header = [f'Lattice="{_fmt(np.asarray(atoms.cell).ravel())}"', f"energy={energy:.10f}"]
    if stress is not None:
        s = np.asarray(stress, dtype=float)
        if s.shape == (6,):
            xx, yy, zz, yz, xz, xy = s
            s = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        virial = -s * atoms.get_volume()
        header.append(f'virial="{_fmt(virial.ravel())}"')
    for key in ("weight", "energy_weight"):  # GPUMD's per-structure loss weights, written only when set
        if key in atoms.info:
            header.append(f"{key}={float(atoms.info[key]):.6g}")
    header.append('pbc="T T T"')
    header.append("Properties=species:S:1:pos:R:3:force:R:3")
    fh.write(f"{len(atoms)}\n{' '.join(header)}\n")
    for sym, pos, f in zip(atoms.get_chemical_symbols(), atoms.positions, forces):
        fh.write(f"{sym} {_fmt(pos)} {_fmt(f)}\n")


def write_gpumd_xyz(frames: Iterable[tuple[Atoms, float, np.ndarray, np.ndarray | None]], path: str | Path) -> int:
    """Write (atoms, energy eV, forces eV/Å, stress eV/Å³ or None) frames atomically; return the count."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        for atoms, energy, forces, stress in frames:
            write_frame(fh, atoms, energy, forces, stress)
            n += 1
    return n


def read_labelled_xyz(path: str | Path) -> list[Atoms]:
    """Read labelled frames (GPUMD train.xyz or any ASE extxyz with energy and forces).

    Each returned Atoms carries a SinglePointCalculator with energy (eV), forces (eV/Å) and,
    when the file has a virial or stress, stress (eV/Å³). Frames without energy or forces raise
    DataStoreError naming the frame.
    """
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise DataStoreError(f"file not found: {path}")
    try:
        frames = read(path, index=":", format="extxyz")
    except Exception as err:
        raise DataStoreError(f"cannot read {path} as extended XYZ: {err}") from None
    out = []
    for i, atoms in enumerate(frames):
        calc = atoms.calc
        results = dict(calc.results) if calc is not None else {}
        energy = results.get("energy", results.get("free_energy", atoms.info.get("energy")))
        forces = results.get("forces")
        if forces is None:
            forces = atoms.arrays.get("force", atoms.arrays.get("forces"))
        if energy is None:
            raise DataStoreError(f"{path}: frame {i} has no energy")
        if forces is None:
            raise DataStoreError(f"{path}: frame {i} has no forces")
        stress = results.get("stress")
        virial = atoms.info.pop("virial", None)
        if virial is not None:
            # ASE parses the 9 values of virial= column-major; GPUMD writes them row-major.
            v = np.asarray(virial, dtype=float)
            v = v.T if v.shape == (3, 3) else v.reshape(3, 3)
            stress = full_3x3_to_voigt_6_stress(-v / atoms.get_volume())
        clean = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)
        clean.info.update({k: v for k, v in atoms.info.items() if k not in ("energy", "stress")})
        try:
            kwargs = {"energy": float(energy), "forces": np.asarray(forces, dtype=float)}
            if stress is not None:
                kwargs["stress"] = np.asarray(stress, dtype=float)
        except (TypeError, ValueError) as err:  # energy=abc: ASE keeps words as strings
            raise DataStoreError(f"{path}: frame {i}: a label is not a number ({err})") from None
        clean.calc = SinglePointCalculator(clean, **kwargs)
        out.append(clean)
    return out
