"""``[production]``: the production MD that the analysis and the report are built on (paper: NPT at 1 bar;
bulk alpha/ideal Li2ZrCl6 at 450-700 K for 2-5 ns; four interfaces of ~10^4 atoms at 300-500 K for 20 ns)."""

from pydantic import Field

from interforge.config.base import Section


class ProductionSection(Section):
    """Production runs with the final NEP. Short runs need higher temperatures to see Li hop."""

    bulk_phases: list[str] = Field(
        default_factory=lambda: ["alpha-Li2ZrCl6", "ideal-Li2ZrCl6"], description="Bulk phases whose Li transport is computed.",
    )
    bulk_temperatures_K: list[float] = Field(
        default_factory=lambda: [450.0, 500.0, 550.0, 600.0, 650.0, 700.0], description="Bulk temperatures, K (Arrhenius fit range 450-700 K).",
    )
    bulk_ps: float = Field(2000.0, gt=0, description="Length of each bulk run, ps (paper: 5 ns at <= 500 K, 2 ns above).")
    bulk_target_atoms: int = Field(3000, ge=1, description="Bulk supercells are repeated to about this many atoms (paper: 3,888 alpha, 2,592 ideal).")
    bulk_ensemble: str = Field("npt", description="nvt or npt (paper: NPT, SCR barostat at 1 bar).")
    interface_temperatures_K: list[float] = Field(
        default_factory=lambda: [300.0, 400.0, 500.0], description="Interface temperatures, K.",
    )
    interface_ps: float = Field(20000.0, gt=0, description="Length of each interface run, ps (paper: 20 ns).")
    dump_ps: float = Field(1.0, gt=0, description="Time between trajectory frames, ps.")
    equilibration_ps: float = Field(0.0, ge=0, description="Initial part of each run left out of the analysis, ps.")
