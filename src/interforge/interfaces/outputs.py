"""Outputs of the interface step: candidates table (CSV + JSON), strain-vs-area figure, cell files.

Cell files: extended XYZ, CIF, POSCAR and GPUMD ``model.xyz`` (extxyz with ``lattice=``,
``pbc="T T T"`` and ``properties=species:S:1:pos:R:3:mass:R:1``; masses in amu, positions in Å).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from ase import Atoms

from interforge.fileio import atomic_path, atomic_write_json, atomic_write_text
from interforge.interfaces.matching import Candidate, miller_str

CSV_COLUMNS = [
    "id", "substrate", "film", "substrate_miller", "film_miller", "substrate_miller_primitive",
    "film_miller_primitive", "area_A2", "max_strain", "angle_strain", "principal_strain", "n_terminations",
    "interface_energy_J_m2", "termination_index",
]


def candidate_row(c: Candidate) -> dict:
    """One flat table row (Millers as 'h k l')."""
    return {
        "id": c.id, "substrate": c.substrate, "film": c.film,
        "substrate_miller": miller_str(c.substrate_miller), "film_miller": miller_str(c.film_miller),
        "substrate_miller_primitive": miller_str(c.substrate_miller_primitive),
        "film_miller_primitive": miller_str(c.film_miller_primitive),
        "area_A2": round(c.area_A2, 3), "max_strain": round(c.max_strain, 6), "angle_strain": round(c.angle_strain, 6),
        "principal_strain": round(c.principal_strain, 6), "n_terminations": len(c.terminations),
        "interface_energy_J_m2": None if c.interface_energy_J_m2 is None else round(c.interface_energy_J_m2, 5),
        "termination_index": c.termination_index,
    }


def write_candidates(candidates: list[Candidate], out_dir: str | Path, stem: str = "candidates") -> dict[str, Path]:
    """Write ``<stem>.json`` (full candidates) and ``<stem>.csv`` (one row each) atomically."""
    out_dir = Path(out_dir)
    js = atomic_write_json(out_dir / f"{stem}.json", [c.to_dict() for c in candidates])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    w.writeheader()
    for c in candidates:
        w.writerow(candidate_row(c))
    cs = atomic_write_text(out_dir / f"{stem}.csv", buf.getvalue())
    return {"json": js, "csv": cs}


def read_candidates(path: str | Path) -> list[Candidate]:
    """Candidates from a JSON file written by :func:`write_candidates` (or ``search --json``)."""
    from interforge.errors import InterforgeError

    path = Path(path)
    if not path.is_file():
        raise InterforgeError(f"candidates file not found: {path}")
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            data = data.get("candidates", [])
        return [Candidate.from_dict(d) for d in data]
    except (ValueError, KeyError, TypeError) as err:
        raise InterforgeError(f"{path} is not a candidates file: {err}") from None


def plot_candidates(candidates: list[Candidate], path: str | Path) -> Path:
    """Scatter of max length strain (%) vs area (Å²), coloured by interface energy (J/m²) when ranked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    area = np.array([c.area_A2 for c in candidates])
    strain = np.array([100 * c.max_strain for c in candidates])
    gamma = np.array([np.nan if c.interface_energy_J_m2 is None else c.interface_energy_J_m2 for c in candidates])
    fig, ax = plt.subplots(figsize=(6, 4.2))
    has = ~np.isnan(gamma)
    if (~has).any():
        ax.scatter(area[~has], strain[~has], c="0.6", edgecolors="k", linewidths=0.4, label="not ranked")
    if has.any():
        sc = ax.scatter(area[has], strain[has], c=gamma[has], cmap="viridis", edgecolors="k", linewidths=0.4)
        fig.colorbar(sc, ax=ax, label="interface energy (J/m²)")
    for c, x, y in zip(candidates, area, strain):
        ax.annotate(f"{c.substrate}({miller_str(c.substrate_miller)})/{c.film}({miller_str(c.film_miller)})",
                    (x, y), fontsize=5, xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel("interface area (Å²)")
    ax.set_ylabel("max length strain (%)")
    ax.set_title(f"{len(candidates)} lattice-matched candidates")
    if (~has).any() and has.any():
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150)
    plt.close(fig)
    return path


def write_cell_files(atoms: Atoms, out_dir: str | Path, stem: str) -> dict[str, str]:
    """Write ``stem``.xyz (extxyz, with the ``block`` array), ``stem``.cif, ``stem``.vasp (POSCAR) and model.xyz."""
    from ase.io import write

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, name, fmt in (("extxyz", f"{stem}.xyz", "extxyz"), ("cif", f"{stem}.cif", "cif"),
                           ("poscar", f"{stem}.vasp", "vasp")):
        with atomic_path(out_dir / name) as tmp:
            if fmt == "vasp":
                write(tmp, atoms, format=fmt, direct=True)  # keep atom order: blocks stay contiguous
            else:
                write(tmp, atoms, format=fmt)
        paths[key] = str((out_dir / name).resolve())
    from interforge.md.gpumd import write_model_xyz

    paths["model_xyz"] = str(write_model_xyz(atoms, out_dir / "model.xyz").resolve())
    return paths
