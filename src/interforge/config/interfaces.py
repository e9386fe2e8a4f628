"""``[interfaces]``: lattice matching, candidate building and ranking, production interface cells."""

from typing import Literal

from pydantic import Field

from interforge.config.base import Section


class InterfacesSection(Section):
    """Heterointerfaces (paper: Miller <= 2, area <= 200 Å², strain < 1 %, two lowest per orientation pair)."""

    substrates: list[str] = Field(
        default_factory=lambda: ["c-ZrO2", "t-ZrO2", "m-ZrO2", "o-ZrO2-Pca21", "o-ZrO2-Pbca"],
        description="Substrate phases (library names or structure files); the paper pairs all five ZrO2 polymorphs.",
    )
    films: list[str] = Field(
        default_factory=lambda: ["alpha-Li2ZrCl6", "ideal-Li2ZrCl6"],
        description="Film phases (library names or structure files).",
    )
    max_miller: int = Field(2, ge=1, description="Largest Miller index, in the conventional or the primitive basis.")
    max_area: float = Field(200.0, gt=0, description="Largest matched interface area, Å² (paper: 200 for production).")
    max_strain: float = Field(0.01, gt=0, description="Largest length strain of the matched vectors (fraction; 0.01 = 1 %).")
    max_angle_strain: float = Field(0.01, ge=0, description="Largest relative change of the angle between them (fraction).")
    max_matches_per_pair: int = Field(1, ge=1, description="Distinct super-lattices kept per plane pair (smallest area first).")
    max_terminations: int = Field(3, ge=1, description="Terminations per side (widest layer gaps first).")
    lattices: Literal["experimental", "teacher"] = Field(
        "teacher",
        description="Lattices used for matching: 'experimental' (the library's published cells, `interforge bulk list`) "
                    "or 'teacher' (each cell relaxed with the configured teacher, cached). No scale factors.",
    )
    lattice_fmax: float = Field(
        0.01, gt=0,
        description="Force (and stress × volume) criterion of the teacher's bulk relaxations for lattices = 'teacher', eV/Å. "
                    "Tight: the interlayer c of ideal-Li2ZrCl6 is soft (at 0.05 it stops at 11.58 or 11.80 Å depending on the start).",
    )
    lattice_steps: int = Field(1000, ge=1, description="Step limit of one bulk relaxation for lattices = 'teacher'.")
    relax_fmax: float = Field(0.05, gt=0, description="Force criterion of candidate relaxations (ranking), eV/Å.")
    relax_steps: int = Field(200, ge=1, description="Step limit of one candidate relaxation (ranking).")
    registration_grid: int = Field(1, ge=1, le=10, description="Ranking also tries n x n in-plane film shifts (1 = no shift only; at most 10, as on the command line).")
    keep_lowest: int = Field(2, ge=1, description="Candidates kept per orientation pair after ranking (paper: 2).")
    gap: float = Field(2.0, gt=0, description="Distance between the outermost atomic planes of the two blocks, Å.")
    vacuum: float = Field(0.0, ge=0, description="Vacuum above the film, Å (0 = periodic cell with two interfaces).")
    strain_partition: float = Field(0.0, ge=0, le=1, description="Share of the misfit taken by the substrate (0 = the film takes it all).")
    min_contact: float = Field(0.7, gt=0, description="Smallest allowed d_ij / (R_i + R_j) (covalent radii); the gap widens until met.")
    candidate_substrate_thickness: float = Field(10.0, gt=0, description="Substrate thickness of ranking cells, Å.")
    candidate_film_thickness: float = Field(12.0, gt=0, description="Film thickness of ranking cells, Å.")
    substrate_thickness: float = Field(22.0, gt=0, description="Substrate thickness of production cells, Å (paper: 21-24 Å of ZrO2).")
    film_thickness: float = Field(45.0, gt=0, description="Film thickness of production cells, Å (paper: 44-47 Å of Li2ZrCl6).")
    target_atoms: int = Field(10000, ge=1, description="Atom count production cells aim at (paper: about 10^4).")
