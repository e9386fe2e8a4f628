"""Heterointerfaces: lattice matching over Miller indices, terminations, building, ranking, production cells.

Built on pymatgen's Zur–McGill matcher (:mod:`pymatgen.analysis.interfaces`); see ``docs/interfaces.md``.
"""

from interforge.interfaces.builder import InterfaceCell, build_interface, min_contact_ratio, production_size
from interforge.interfaces.inputs import LATTICE_SOURCES, load_bulk, prepare_bulk
from interforge.interfaces.matching import BulkInput, Candidate, NoMatchError, search
from interforge.interfaces.outputs import plot_candidates, read_candidates, write_candidates, write_cell_files
from interforge.interfaces.planes import miller_to_conventional, miller_to_primitive, plane_families
from interforge.interfaces.relax import interface_energy, rank_candidates, relax_bulk

__all__ = [
    "LATTICE_SOURCES",
    "BulkInput", "Candidate", "InterfaceCell", "NoMatchError", "build_interface", "interface_energy", "load_bulk",
    "miller_to_conventional", "miller_to_primitive", "min_contact_ratio", "plane_families",
    "plot_candidates", "prepare_bulk", "production_size", "rank_candidates", "read_candidates", "relax_bulk",
    "search", "write_candidates", "write_cell_files",
]
