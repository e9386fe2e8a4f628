"""``[analysis]``: transport and structure analysis (paper's windows and thresholds)."""

from pydantic import Field

from interforge.config.base import Section


class AnalysisSection(Section):
    """Diffusion fits, conductivity, profiles along the interface normal, polyhedra."""

    species: str = Field("Li", description="Mobile species.")
    fit_fraction: float = Field(0.5, gt=0, le=1, description="Einstein fit up to this fraction of the run.")
    arrhenius_T_min: float = Field(450.0, gt=0, description="Lowest temperature of the Arrhenius fit, K.")
    arrhenius_T_max: float = Field(700.0, gt=0, description="Highest temperature of the Arrhenius fit, K.")
    arrhenius_min_significance: float = Field(
        2.0, ge=0,
        description="An Arrhenius fit is extrapolated to room temperature (D, sigma_RT) only when its Ea exceeds "
                    "this many standard errors; otherwise the fit is shown with a note and no room-temperature value.")
    cn_cutoff_A: float = Field(3.5, gt=0, description="Li-anion coordination cutoff, Å (from the RDF).")
    hop_threshold_A: float = Field(1.25, gt=0, description="A hop is a displacement above this, Å.")
    hop_dt_ps: float = Field(10.0, gt=0, description="Frame separation for hop detection, ps.")
    hop_average_ps: float = Field(
        2.0, ge=0,
        description="Hop ends are positions averaged over this window, ps (removes thermal vibration; at most "
                    "half of hop_dt_ps; 0 = raw frames). Also smooths the z used to assign ions to regions.")
    hop_window_start_ps: float = Field(1000.0, ge=0, description="Hop profile window start, ps.")
    hop_window_ps: float = Field(1000.0, gt=0, description="Hop profile window length, ps.")
    displacement_t0_ps: float = Field(2000.0, ge=0, description="Start of net-displacement classification, ps.")
    displacement_threshold_A: float = Field(1.0, gt=0, description="Threshold of net-displacement classes, Å.")
    interface_width_A: float = Field(8.0, gt=0, description="Interface region: within this distance of the interface plane, Å.")
    region_min_thickness_A: float = Field(
        4.0, ge=0, description="A region thinner than this (along z) is flagged and gets no transport numbers, Å.")
    interface_block_ps: float = Field(
        100.0, gt=0, description="Interface planes are found again in every block of this length, ps (NPT drift).")
    collective_blocks: int = Field(
        5, ge=2, description="Blocks of the run for the collective (charge) MSD, its error bar and the Haven ratio.")
    bin_width_A: float = Field(1.0, gt=0, description="Bin width of profiles along z, Å.")
    fit_start_fraction: float = Field(
        0.05, ge=0, lt=1,
        description="Einstein fit starts at this fraction of the run (skips the ballistic/vibrational regime).")
    cn_window_ps: float = Field(1000.0, gt=0, description="CN profiles and polyhedra: average over the last ... ps.")
    max_structure_frames: int = Field(
        100, ge=1, description="At most this many frames (evenly spaced) for RDF/CN profiles.")
    polyhedra_frames: int = Field(
        1, ge=1, description="Frames (the last ones of the CN window) whose polyhedra are reported.")
    anions: list[str] | None = Field(
        None, description="Coordinating anion species (default: those of O, S, Se, F, Cl, Br, I, N present).")
    charge: float = Field(1.0, gt=0, description="Charge of the mobile ion in e (Nernst-Einstein).")
