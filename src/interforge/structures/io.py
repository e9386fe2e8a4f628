"""Reading and writing structures: CIF, extended XYZ, POSCAR (by extension), atomically."""

from __future__ import annotations

from pathlib import Path

from ase import Atoms
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from interforge.errors import StructureError
from interforge.fileio import atomic_path

FORMATS = {".cif": "cif", ".xyz": "extxyz", ".extxyz": "extxyz", ".vasp": "vasp", ".poscar": "vasp"}


def structure_format(path: str | Path) -> str:
    """The format implied by a file name: cif, extxyz or vasp (POSCAR/CONTCAR/*.vasp)."""
    path = Path(path)
    if path.name.upper().startswith(("POSCAR", "CONTCAR")):
        return "vasp"
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise StructureError(f"cannot tell the format of '{path}': use .cif, .xyz/.extxyz, .vasp or POSCAR")
    return fmt


def to_atoms(struct: Structure | Atoms) -> Atoms:
    """An ordered pymatgen Structure (oxidation states dropped) as ASE Atoms."""
    if isinstance(struct, Atoms):
        return struct
    if not struct.is_ordered:
        raise StructureError("structure has partial occupancies; order it first (--ordered)")
    plain = struct.copy()
    plain.remove_oxidation_states()
    return AseAtomsAdaptor.get_atoms(plain)


def write_structure(struct: Structure | Atoms, path: str | Path) -> Path:
    """Write ``struct`` to ``path``; partially occupied structures can only go to CIF."""
    path = Path(path)
    fmt = structure_format(path)
    with atomic_path(path) as tmp:
        if fmt == "cif":
            from pymatgen.io.cif import CifWriter

            s = struct if isinstance(struct, Structure) else AseAtomsAdaptor.get_structure(struct)
            CifWriter(s).write_file(tmp)
        else:
            atoms = to_atoms(struct)
            if fmt == "vasp":
                atoms.write(tmp, format="vasp", direct=True, sort=True)
            else:
                atoms.write(tmp, format="extxyz")
    return path


def read_structure(path: str | Path, name: str | None = None, check: bool = True) -> Atoms:
    """Read the first frame of a structure file as ASE Atoms, with a clear error on failure.

    With ``check`` the file and the structure must meet the input rules of :mod:`interforge.checks` (a text
    file, sane declared sizes, finite positions, a non-singular cell, no atoms closer than half the sum of
    their covalent radii); ``name`` is how errors refer to the input (default: the path).
    """
    from interforge import checks

    path = Path(path)
    label = name or str(path)
    if check:
        checks.structure_file(label, path)
    elif not path.is_file():
        raise StructureError(f"file not found: {path}")
    from ase.io import read

    try:
        atoms = read(path, index=0)
    except Exception as err:  # ASE raises many types for malformed files
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StructureError(f"{label}: cannot read a structure from {path}: {msg}") from None
    if check:
        checks.structure(label, atoms)
    return atoms
