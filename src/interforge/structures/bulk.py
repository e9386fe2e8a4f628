"""Build bulk cells from the library: ordered (when needed) and replicated."""

from __future__ import annotations

from pymatgen.core import Structure

from interforge.structures.ordering import Ordering, enumerate_orderings
from interforge.structures.phases import get_phase


def build_bulk(
    name: str,
    ordered: bool = False,
    supercell: tuple[int, int, int] | list[int] = (1, 1, 1),
    ordering_supercell: tuple[int, int, int] | list[int] = (1, 1, 1),
) -> tuple[Structure, Ordering | None]:
    """The phase ``name`` as a pymatgen Structure.

    With ``ordered`` a partially occupied phase becomes its lowest-Ewald ordering in
    ``ordering_supercell`` (returned as the second item); the result is then repeated by ``supercell``.
    """
    struct = get_phase(name).structure()
    chosen = None
    if ordered and not struct.is_ordered:
        chosen = enumerate_orderings(struct, ordering_supercell, max_results=1)[0]
        struct = chosen.structure.copy()
    if tuple(supercell) != (1, 1, 1):
        struct.make_supercell(list(supercell))
    return struct, chosen
