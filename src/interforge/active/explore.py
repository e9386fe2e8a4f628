"""One exploration task: committee-driven MD of one structure under one condition (a workflow task)."""

from __future__ import annotations

from pathlib import Path

from ase.io import read

from interforge.config.md import MdSection


def run_exploration(task: dict, structure_path: str, model_paths: list[str], md: MdSection, seed: int,
                    task_dir: str) -> dict:
    """Run the MD of ``task`` (an :class:`ExploreTask` as dict) with the committee ``model_paths``.

    Picklable and self-contained so any executor backend can run it; writes ``trajectory.h5``
    (frames carry the committee's ``max_force_deviation``, eV/Å) into ``task_dir``.
    """
    from interforge.md import MDSettings, run_with
    from interforge.nep import CommitteeCalculator

    atoms = read(structure_path)
    npt = task["ensemble"] == "npt"
    settings = MDSettings.from_section(
        md, ensemble=task["ensemble"], temperature_K=task["temperature_K"],
        pressure_bar=task["pressure_bar"] if npt else 1.0, dump_interval=task["dump_interval"],
        thermo_interval=task["dump_interval"], seed=seed, checkpoint_interval=0,
        # every frame of the approach to the hot volume is a configuration worth querying: no equilibration
        equilibration_steps=0)
    result = run_with(atoms, CommitteeCalculator(model_paths), settings, task["steps"], task_dir)
    return {"steps_done": result.steps_done, "stopped_by": result.stopped_by,
            "trajectory": str(Path(result.trajectory_path).resolve()), "n_frames": result.n_frames,
            "mean_temperature_K": result.mean_temperature_K}
