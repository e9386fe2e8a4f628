"""``[structures]``: which bulk phases and interface cells enter the project, and how partial occupancies are ordered."""

from pydantic import Field

from interforge.config.base import Section


class InterfaceSpec(Section):
    """One interface cell of the project: the smallest lattice match of a substrate/film pair
    (optionally with given Miller indices), built with the given block thicknesses on the library's
    (experimental) lattices, like the project's bulk cells; no scale factors."""

    substrate: str = Field(description="Substrate phase (library name) or structure file.")
    film: str = Field(description="Film phase (library name) or structure file.")
    substrate_miller: list[int] = Field(default_factory=list, description="Substrate plane, conventional basis (empty = any).")
    film_miller: list[int] = Field(default_factory=list, description="Film plane, conventional basis (empty = any).")
    max_miller: int = Field(1, ge=1, description="Largest Miller index searched.")
    max_area: float = Field(60.0, gt=0, description="Largest matched area, Å² (small for training cells).")
    max_strain: float = Field(0.05, gt=0, description="Largest length strain (fraction); training cells tolerate more (paper: 10 %).")
    substrate_thickness: float = Field(6.0, gt=0, description="Substrate block thickness, Å.")
    film_thickness: float = Field(8.0, gt=0, description="Film block thickness, Å.")
    termination: int = Field(0, ge=0, description="Termination index of the candidate.")


class StructuresSection(Section):
    """Bulk phases and ordering of fractional occupancies (paper: 5 ZrO2 polymorphs + alpha/ideal Li2ZrCl6)."""

    phases: list[str] = Field(
        default_factory=lambda: [
            "c-ZrO2", "t-ZrO2", "m-ZrO2", "o-ZrO2-Pca21", "o-ZrO2-Pbca",
            "alpha-Li2ZrCl6", "ideal-Li2ZrCl6",
        ],
        description="Bulk phases from the library (`interforge bulk list`). The paper drops beta-Li2ZrCl6 (+24 meV/atom).",
    )
    ordering_supercell: list[int] = Field(
        default_factory=lambda: [1, 1, 1],
        description="Supercell (a b c multiples) in which partial occupancies are enumerated.",
        min_length=3, max_length=3,
    )
    ordering_rerank_k: int = Field(
        0, ge=0,
        description="Re-rank the k lowest-Ewald orderings by relaxed energy with the teacher (0 = Ewald only).",
    )
    relax_fmax: float = Field(0.05, gt=0, description="Force criterion for relaxations, eV/Å.")
    min_cell_length_A: float = Field(
        0.0, ge=0, description="Repeat each bulk cell until every lattice vector is at least this long, Å (0 = primitive library cell).",
    )
    interfaces: list[InterfaceSpec] = Field(
        default_factory=list, description="Interface cells used for seeding and exploration ([[structures.interfaces]] tables).",
    )
