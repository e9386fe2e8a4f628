"""The bulk phase library: ZrO2 polymorphs and Li2ZrCl6 phases as package data with provenance.

Phases are stored as space group + lattice + Wyckoff representatives (``data/phases.json``) and
expanded with pymatgen. Partially occupied phases (alpha- and beta-Li2ZrCl6) come back disordered;
:mod:`interforge.structures.ordering` turns them into ordered cells.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from pymatgen.core import Lattice, Structure

from interforge.errors import StructureError

#: Provenance levels of a phase, most trusted first (issue 13: every phase should reach one of the first two).
STATUSES = ("literature", "dft-relaxed", "model", "placeholder")

#: Formal oxidation states used for Ewald ranking of orderings.
OXIDATION_STATES = {"Li": 1, "Zr": 4, "O": -2, "Cl": -1}


@dataclass(frozen=True)
class Phase:
    """One bulk phase of the library.

    ``status`` is ``literature`` (lattice and positions of a published refinement; ``source`` names it
    and says whether the numbers were re-read from a retrieved copy), ``dft-relaxed`` (a documented DFT
    relaxation where no refinement exists), ``model`` (a geometric construction still to be replaced) or
    ``placeholder`` (positions usable for lattice matching only). See :data:`STATUSES`.
    """

    name: str
    formula: str
    family: str
    spacegroup: str
    spacegroup_number: int
    lattice: dict
    sites: list
    source: str
    status: str
    paper_id: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_ordered(self) -> bool:
        """True if every site is fully occupied."""
        return all(abs(s["occ"] - 1.0) < 1e-9 for s in self.sites)

    def structure(self) -> Structure:
        """The conventional cell (disordered where occupancies are fractional), with oxidation states."""
        lat = self.lattice
        lattice = Lattice.from_parameters(lat["a"], lat["b"], lat["c"], lat["alpha"], lat["beta"], lat["gamma"])
        species = [{s["species"]: s["occ"]} for s in self.sites]
        coords = [s["xyz"] for s in self.sites]
        struct = Structure.from_spacegroup(self.spacegroup, lattice, species, coords, tol=1e-3)
        struct.add_oxidation_state_by_element(OXIDATION_STATES)
        return struct

    def summary(self) -> dict:
        """The row `interforge bulk list --json` prints."""
        return {
            "name": self.name,
            "formula": self.formula,
            "spacegroup": self.spacegroup,
            "spacegroup_number": self.spacegroup_number,
            "ordered": self.is_ordered,
            "source": self.source,
            "status": self.status,
            "paper_id": self.paper_id,
            "aliases": list(self.aliases),
        }


@lru_cache(maxsize=1)
def _library() -> dict[str, Phase]:
    text = resources.files("interforge.structures").joinpath("data/phases.json").read_text()
    phases = {}
    for row in json.loads(text)["phases"]:
        row = dict(row)
        row["aliases"] = tuple(row.get("aliases", ()))
        phases[row["name"]] = Phase(**row)
    return phases


def list_phases() -> list[Phase]:
    """All phases of the library, in library order."""
    return list(_library().values())


def get_phase(name: str) -> Phase:
    """Look a phase up by name or alias (case-insensitive); unknown names raise StructureError."""
    lib = _library()
    key = name.strip().lower()
    for phase in lib.values():
        if key == phase.name.lower() or key in (a.lower() for a in phase.aliases):
            return phase
    raise StructureError(f"unknown phase '{name}'; known phases: {', '.join(lib)}")
