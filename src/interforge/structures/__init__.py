"""Structures: the bulk phase library, ordering of partial occupancies, structure I/O."""

from interforge.structures.bulk import build_bulk
from interforge.structures.io import read_structure, write_structure
from interforge.structures.ordering import Ordering, enumerate_orderings, rerank_by_relaxation
from interforge.structures.phases import Phase, get_phase, list_phases

__all__ = [
    "Phase", "Ordering", "build_bulk", "enumerate_orderings", "get_phase", "list_phases",
    "read_structure", "rerank_by_relaxation", "write_structure",
]
