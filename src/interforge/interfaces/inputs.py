"""Bulk phases for interfaces: from the library (ordered where needed) or from a structure file."""

from __future__ import annotations

from pathlib import Path

from pymatgen.io.ase import AseAtomsAdaptor

from interforge.errors import InterforgeError
from interforge.interfaces.matching import BulkInput
from interforge.interfaces.relax import relax_bulk, scale_bulk


def parse_scale(items: list[str] | None) -> dict[str, float]:
    """['c-ZrO2=1.010', ...] -> {'c-ZrO2': 1.01}."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise InterforgeError(f"scale entry must look like PHASE=FACTOR, got '{item}'") from None
        if not sep:
            raise InterforgeError(f"scale entry must look like PHASE=FACTOR, got '{item}'")
    return out


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


def prepare_bulk(spec: str, mode: str = "relax", scale: dict[str, float] | None = None, calculator=None,
                 cache_dir: str | Path | None = None, fmax: float = 0.05, steps: int = 200,
                 identity: str | None = None) -> BulkInput:
    """Load a phase and bring its cell to the state used for matching.

    mode 'relax': relax with ``calculator`` (cached in ``cache_dir``); 'scale': multiply the lattice
    by ``scale[name]`` (1 when absent); 'as-is': the cell as loaded. ``identity`` names the
    calculator in the relaxation cache key.
    """
    bulk = load_bulk(spec)
    if mode == "as-is":
        return bulk
    if mode == "scale":
        scale = scale or {}
        factor = scale.get(bulk.name, scale.get(spec, 1.0))
        return scale_bulk(bulk, factor) if factor != 1.0 else bulk
    if mode == "relax":
        if calculator is None:
            raise InterforgeError("bulk_cells = 'relax' needs a calculator")
        return relax_bulk(bulk, calculator, cache_dir, fmax=fmax, steps=steps, identity=identity)
    raise InterforgeError(f"unknown bulk cell mode '{mode}' (relax, scale or as-is)")
