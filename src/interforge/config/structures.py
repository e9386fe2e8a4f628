"""``[structures]``: which bulk phases enter the project and how partial occupancies are ordered."""

from pydantic import Field

from interforge.config.base import Section


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
