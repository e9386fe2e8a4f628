"""``[md]``: production molecular dynamics (paper: NPT, BDP + SCR at 1 bar, 1 fs, momentum removed every 10 steps)."""

from typing import Literal

from pydantic import Field

from interforge.config.base import Section


class MdSection(Section):
    """Integrator, thermostat, barostat, guards and output cadence."""

    engine: Literal["ase", "gpumd"] = Field("ase", description="ase (CPU, any calculator) or gpumd (GPU, NEP).")
    ensemble: Literal["nvt", "npt", "nve"] = Field("npt", description="Statistical ensemble.")
    timestep_fs: float = Field(1.0, gt=0, description="Time step, fs.")
    thermostat_tau_fs: float = Field(100.0, gt=0, description="Bussi thermostat time constant, fs (GPUMD T_coup = tau/dt).")
    barostat_tau_fs: float = Field(1000.0, gt=0, description="SCR barostat time constant, fs (GPUMD p_coup = tau/dt).")
    pressure_bar: float = Field(1.0, description="Target pressure, bar.")
    npt_equilibration_ps: float = Field(
        1.0, ge=0, description="NPT runs (ASE and GPUMD engines) first equilibrate this long with the barostat time "
        "constant npt_equilibration_barostat_tau_fs, apart from the trajectory (ASE: OUT/equilibration), ps. From the "
        "0 K cell a hot crystal expands by several per cent, which the production barostat takes picoseconds to "
        "follow; 0 = none.")
    npt_equilibration_barostat_tau_fs: float = Field(
        100.0, gt=0, description="SCR time constant of the NPT equilibration, fs.")
    bulk_modulus_GPa: float = Field(30.0, gt=0, description="Compressibility estimate for SCR, GPa.")
    barostat_mode: Literal["isotropic", "orthorhombic", "normal"] = Field(
        "isotropic", description="SCR coupling: isotropic, orthorhombic, or only the interface normal (z).",
    )
    momentum_removal_interval: int = Field(10, ge=0, description="Remove COM linear/angular momentum every N steps (0 = never).")
    remove_angular_momentum: bool = Field(
        True, description="Also remove the COM angular momentum (GPUMD correct_velocity does both).",
    )
    gpumd_version: str = Field(
        "auto", description="GPUMD dialect for --engine gpumd when no `gpumd` runs here to ask: auto or 4.0 ... 5.6 "
        "(the release grammar, dump_xyz with grouping arguments) or latest (master). A `gpumd` on PATH is asked.",
    )
    dump_interval: int = Field(1000, ge=1, description="Steps between trajectory frames.")
    thermo_interval: int = Field(100, ge=1, description="Steps between thermo log lines.")
    checkpoint_interval: int = Field(
        1000, ge=0, description="Steps between restart checkpoints of the ASE engine (0 = none); `md` checkpoints at "
        "most every tenth of a run.",
    )
    temperatures_K: list[float] = Field(
        default_factory=lambda: [300.0, 400.0, 500.0, 600.0, 700.0], description="Production temperatures, K (paper: 300-700 K).",
    )
    min_distance_A: float = Field(0.5, gt=0, description="Guard: stop if any pair is closer than this, Å.")
    max_force_eV_A: float = Field(50.0, gt=0, description="Guard: stop if any force exceeds this, eV/Å.")
    max_volume_change: float = Field(0.5, gt=0, description="Guard: stop if |V/V0 - 1| exceeds this.")
    max_temperature_factor: float = Field(3.0, gt=1, description="Guard: stop if T exceeds this x the target.")

    def equilibration_steps(self, timestep_fs: float | None = None) -> int:
        """``npt_equilibration_ps`` in steps of ``timestep_fs`` (fs; default this section's time step)."""
        return int(round(self.npt_equilibration_ps * 1000 / (timestep_fs or self.timestep_fs)))
