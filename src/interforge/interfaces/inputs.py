"""Bulk phases for interfaces: from the library (ordered where needed) or from a structure file."""

from __future__ import annotations

from pathlib import Path

from pymatgen.io.ase import AseAtomsAdaptor

from interforge.errors import InterforgeError
from interforge.interfaces.matching import BulkInput
from interforge.interfaces.relax import relax_bulk

#: Where the lattices used for matching come from: the library's published (experimental) cells, or the
#: cells the chosen teacher relaxes to (positions and cell; cached).
LATTICE_SOURCES = ("experimental", "teacher")


def load_bulk(spec: str) -> BulkInput:
    """A library phase (name or alias) or a structure file (CIF/extxyz/POSCAR; must be ordered)."""
    path = Path(spec)
    if path.suffix or path.is_file():
        from interforge.structures import read_structure

        struct = AseAtomsAdaptor.get_structure(read_structure(path))
        return BulkInput(path.stem, struct, source=str(path.resolve()))
    from interforge.structures import build_bulk, get_phase

    phase = get_phase(spec)
    sym = phase.structure()
    ordered = sym if sym.is_ordered else build_bulk(phase.name, ordered=True)[0]
    return BulkInput(phase.name, sym, ordered, source="library")


def prepare_bulk(spec: str, lattices: str = "teacher", calculator=None, cache_dir: str | Path | None = None,
                 fmax: float = 0.05, steps: int = 200, identity: str | None = None) -> BulkInput:
    """Load a phase and bring its cell to the lattice used for matching.

    ``lattices`` 'experimental': the cell as loaded (the library's published lattice, or the file's);
    'teacher': relaxed (positions and cell) with ``calculator``, cached in ``cache_dir``; ``identity``
    names the calculator in the relaxation cache key. No other rescaling exists: the interface search
    sees either the published lattices or the teacher's.
    """
    if lattices not in LATTICE_SOURCES:
        raise InterforgeError(f"unknown lattice source '{lattices}' (choose from {', '.join(LATTICE_SOURCES)})")
    bulk = load_bulk(spec)
    if lattices == "experimental":
        return bulk
    if calculator is None:
        raise InterforgeError("lattices = 'teacher' needs a calculator (the configured teacher or --calculator)")
    return relax_bulk(bulk, calculator, cache_dir, fmax=fmax, steps=steps, identity=identity)
