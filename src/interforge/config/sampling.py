"""``[sampling]``: seed data from teacher MD and perturbations, SOAP + PCA + clustering selection."""

from typing import Literal

from pydantic import Field, model_validator

from interforge.config.base import Section


class SamplingSection(Section):
    """Seeding (paper: teacher MD at 300/900/1500/2000 K for 100 ps, frames every 0.5 ps, strains 1-5 %)."""

    temperatures_K: list[float] = Field(default_factory=lambda: [300.0, 900.0, 1500.0, 2000.0], description="Seed MD temperatures, K.")
    md_ps: float = Field(100.0, gt=0, description="Length of each seed MD run, ps.")
    frame_interval_ps: float = Field(0.5, gt=0, description="Frame spacing of seed MD, ps.")
    strain_min: float = Field(0.01, ge=0, description="Smallest random strain (fraction).")
    strain_max: float = Field(0.05, ge=0, description="Largest random strain (fraction).")
    n_strained: int = Field(10, ge=0, description="Strain/rattle perturbations per structure.")
    rattle_A: float = Field(0.05, ge=0, description="Std of random displacements added to perturbed cells, Å.")
    soap_r_cut: float = Field(6.0, gt=0, description="SOAP cutoff, Å.")
    soap_n_max: int = Field(6, ge=1, description="SOAP radial basis size.")
    soap_l_max: int = Field(4, ge=0, description="SOAP angular expansion.")
    soap_sigma: float = Field(0.5, gt=0, description="SOAP Gaussian width, Å.")
    n_select: int = Field(100, ge=1, description="Representatives selected by PCA + clustering.")
    n_holdout: int = Field(
        20, ge=0,
        description="Structures of the seed pool not selected for training, labelled as the fixed hold-out set of the loop (0 = a hash-chosen share of the seed labels instead).",
    )
    soap_average: Literal["outer", "inner"] = Field(
        "outer", description="Per-structure SOAP average: outer (mean of per-atom spectra) or inner (spectrum of mean density).",
    )
    tsne_perplexity: float = Field(30.0, gt=0, description="t-SNE perplexity of the 2D map (clamped below (n - 1) / 3).")
    anchors: bool = Field(
        True,
        description="Add the teacher's anchors of every bulk phase to the seed labels: its relaxation path and "
        "minimum, the minimum under isotropic strain, and Li vacancy hops (docs/validation.md). Not in the paper; "
        "the phase-order, density and barrier gates need them.",
    )
    anchor_relax_steps: int = Field(150, ge=1, description="FIRE steps of the teacher's cell + position relaxation.")
    anchor_path_frames: int = Field(3, ge=0, description="Frames kept along that relaxation besides the minimum.")
    anchor_strains: list[float] = Field(
        default_factory=lambda: [-0.03, -0.015, 0.015, 0.03],
        description="Linear isotropic strains applied to the teacher's minimum (fractions, each in (-0.2, 0.2)).",
    )
    anchor_strain_relax_steps: int = Field(40, ge=0, description="FIRE steps relaxing positions at each strained cell and hop endpoint.")
    anchor_hops: int = Field(2, ge=0, description="Li vacancy hops per Li-bearing phase (not the barrier gate's vacancy).")
    anchor_hop_images: int = Field(3, ge=0, description="Interior IDPP images per hop.")
    map_max_points: int = Field(5000, ge=10, description="At most this many pool points in the t-SNE panel (all selected ones kept).")

    @model_validator(mode="after")
    def _strain_range(self) -> "SamplingSection":
        # A reversed or >= 100 % range would silently produce no or inverted cells.
        if self.strain_min > self.strain_max:
            raise ValueError(f"strain_min ({self.strain_min}) is larger than strain_max ({self.strain_max})")
        if any(not -0.2 < x < 0.2 for x in self.anchor_strains):
            raise ValueError(f"anchor_strains {self.anchor_strains} must each lie in (-0.2, 0.2)")
        if self.strain_max >= 1.0:
            raise ValueError(f"strain_max ({self.strain_max}) must be a fraction below 1")
        return self
