"""Production MD with a learned NEP, as a workflow task (one temperature of one structure)."""

from __future__ import annotations

import math
from pathlib import Path

from ase.io import read

from interforge.config.md import MdSection


def run_production(structure_path: str, model_path: str, ensemble: str, temperature_K: float, steps: int,
                   dump_interval: int, md: MdSection, seed: int, task_dir: str) -> dict:
    """NVT or NPT (Bussi + SCR, 1 bar) with one NEP; writes ``trajectory.h5`` and ``thermo.dat`` in ``task_dir``.
    Checkpointed every ``[md] checkpoint_interval`` steps: rerun after a kill (or a batch job's wall time) it
    continues from the last checkpoint."""
    import hashlib

    from interforge.md import MDSettings, run_with
    from interforge.nep import NEPCalculator

    atoms = read(structure_path)
    identity = {name: hashlib.sha256(Path(path).read_bytes()).hexdigest()
                for name, path in (("structure", structure_path), ("model", model_path))}
    settings = MDSettings.from_section(md, ensemble=ensemble, temperature_K=temperature_K, dump_interval=dump_interval,
                                       thermo_interval=max(1, dump_interval // 2), seed=seed, barostat_mode="isotropic")
    res = run_with(atoms, NEPCalculator(model_path), settings, steps, task_dir, resume=True, identity=identity)
    out = res.to_dict()
    out["trajectory_path"] = str(Path(res.trajectory_path).resolve())
    out["ok"] = res.stopped_by is None and res.n_frames > 2
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}
