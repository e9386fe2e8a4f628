"""The exploration schedule: which MD runs each iteration performs (paper: NVT 300-3000 K, NPT 600-1500 K at 1e2-1e4 bar)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from interforge.config.active import ActiveSection


@dataclass(frozen=True)
class ExploreTask:
    """One exploration run: a structure under one thermodynamic condition.

    temperature_K: K; pressure_bar: bar (NPT only); steps and dump_interval in MD steps.
    """

    structure: str
    ensemble: str
    temperature_K: float
    pressure_bar: float | None
    steps: int
    dump_interval: int

    @property
    def task_id(self) -> str:
        p = f"_{self.pressure_bar:g}bar" if self.pressure_bar is not None else ""
        return f"{self.structure}_{self.ensemble}_{self.temperature_K:g}K{p}"

    def to_dict(self) -> dict:
        return asdict(self)


def exploration_tasks(structure_names: list[str], settings: ActiveSection, timestep_fs: float) -> list[ExploreTask]:
    """Every structure under every NVT temperature and every NPT (temperature, pressure) pair."""
    steps = max(1, int(round(settings.explore_ps * 1000.0 / timestep_fs)))
    dump = max(1, int(round(settings.frame_interval_ps * 1000.0 / timestep_fs)))
    tasks = []
    for name in structure_names:
        tasks += [ExploreTask(name, "nvt", t, None, steps, dump) for t in settings.nvt_temperatures_K]
        tasks += [ExploreTask(name, "npt", t, p, steps, dump)
                  for t in settings.npt_temperatures_K for p in settings.npt_pressures_bar]
    return tasks
