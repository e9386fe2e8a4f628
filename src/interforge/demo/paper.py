"""`interforge demo --scale paper`: the production inputs of the reference study, written, not run.

Four interface cells of ~10^4 atoms and the bulk Li2ZrCl6 supercells as GPUMD ``model.xyz`` +
``run.in`` (NPT, BDP thermostat + SCR barostat at 1 bar, 1 fs, momentum removed every 10 steps),
the paper's NEP settings as ``nep.in``, and a Slurm configuration for the workflow.
"""

from __future__ import annotations

import logging
from pathlib import Path

from interforge.config import InterforgeConfig, render_default_toml
from interforge.fileio import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

#: The paper's four production interfaces (conventional Miller indices; cubic (22-1) primitive = {115}).
PAPER_INTERFACES = [
    ("c-ZrO2", (1, 1, 1), "ideal-Li2ZrCl6", (0, 0, 1)),
    ("t-ZrO2", (1, 0, 1), "ideal-Li2ZrCl6", (1, 0, 1)),
    ("c-ZrO2", (1, 1, 5), "alpha-Li2ZrCl6", (0, 0, 1)),
    ("m-ZrO2", (0, 1, 0), "alpha-Li2ZrCl6", (2, 0, 1)),
]
BULK_ATOMS = {"alpha-Li2ZrCl6": 3888, "ideal-Li2ZrCl6": 2592, "beta-Li2ZrCl6": 2592}


def _same_family(a, b) -> bool:
    return sorted(abs(int(x)) for x in a) == sorted(abs(int(x)) for x in b)


def _paper_bulks(cfg: InterforgeConfig, cache_dir: Path) -> dict:
    """The phases of the paper's interfaces on the lattices of ``[interfaces] lattices``: the library's published
    cells, or the cells the configured teacher relaxes to (cached in ``cache_dir``). No scale factors."""
    from interforge.interfaces.inputs import prepare_bulk

    names = list(dict.fromkeys([p[0] for p in PAPER_INTERFACES] + [p[2] for p in PAPER_INTERFACES]))
    s = cfg.interfaces
    calc = ident = None
    if s.lattices == "teacher":
        from interforge.teacher import make_calculator
        from interforge.teacher.identity import teacher_identity

        calc = make_calculator(cfg.teacher)
        ident = teacher_identity(cfg.teacher)
        ident = f"teacher:{ident.name}:{ident.hash}"
    return {n: prepare_bulk(n, s.lattices, calc, cache_dir, fmax=s.lattice_fmax, steps=s.lattice_steps, identity=ident)
            for n in names}


def _paper_interface(sub_name, sub_hkl, film_name, film_hkl, cfg: InterforgeConfig, bulks: dict):
    from interforge.interfaces.builder import build_interface, production_size
    from interforge.interfaces.matching import NoMatchError, search

    sub, film = bulks[sub_name], bulks[film_name]
    s = cfg.interfaces
    try:
        found = search(sub, film, max_miller=s.max_miller, max_area=s.max_area, max_strain=s.max_strain,
                       max_angle_strain=s.max_angle_strain)
    except NoMatchError:
        found = []
    cands = [c for c in found
             if _same_family(c.substrate_miller, sub_hkl) and _same_family(c.film_miller, film_hkl)]
    if not cands:
        return None, None
    best = min(cands, key=lambda c: (c.area_A2, c.max_strain))
    lateral, n_s, n_f = production_size(best, sub, film, target_atoms=s.target_atoms,
                                        substrate_thickness=s.substrate_thickness, film_thickness=s.film_thickness)
    cell = build_interface(best, sub, film, substrate_layers=n_s, film_layers=n_f, lateral=lateral, gap=s.gap)
    return best, cell


def _gpumd_version(cfg: InterforgeConfig) -> str:
    """The grammar of the production run.in files: the configured GPUMD version when it names a release, else
    the newest release (these files are for a cluster's installed GPUMD, not for master)."""
    from interforge.md.gpumd import RELEASED_VERSION, parse_version

    v = cfg.md.gpumd_version
    return v if parse_version(v) <= parse_version(RELEASED_VERSION) and str(v).lower() != "auto" else RELEASED_VERSION


def _run_in(model_dir: Path, atoms, temperatures, ns_of, cfg: InterforgeConfig, barostat_mode: str) -> list[str]:
    from interforge.md.gpumd import GpumdRun, box_is_triclinic, run_in_text

    written = []
    md = cfg.md
    for t in temperatures:
        run = GpumdRun.from_section(md, ["../nep.txt"], ensemble="npt", temperature_K=t, steps=int(ns_of(t) * 1e6),
                                    barostat_mode=barostat_mode,
                                    dump_interval=int(cfg.production.dump_ps * 1000 / md.timestep_fs),
                                    gpumd_version=_gpumd_version(cfg), triclinic=box_is_triclinic(atoms.cell.array),
                                    pbc=tuple(bool(p) for p in atoms.pbc))
        path = model_dir / f"run_{t:g}K.in"
        atomic_write_text(path, run_in_text(run))
        written.append(path.name)
    return written


def write_paper_inputs(out_dir: str | Path, cfg: InterforgeConfig | None = None) -> dict:
    """Write every production input at the paper's scale into ``out_dir``; returns an index of the files."""
    from interforge.active.project import bulk_cell
    from interforge.config.workflow import SchedulerSettings, WorkflowSection
    from interforge.structures.supercell import supercell_for
    from interforge.interfaces.outputs import write_cell_files
    from interforge.md.gpumd import write_model_xyz
    from interforge.nep.backends import write_nep_in
    from interforge.workflow import render_batch_script

    cfg = cfg or InterforgeConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = {"interfaces": [], "bulk": [], "nep_in": "", "slurm": {}}

    # NEP training settings (GPUMD nep.in), full batch as in the paper.
    write_nep_in(cfg.nep, ["Cl", "Li", "O", "Zr"], out / "nep" / "nep.in", n_train=100000)
    index["nep_in"] = str((out / "nep" / "nep.in").resolve())

    p = cfg.production
    bulks = _paper_bulks(cfg, out / "cache" / "bulk-relax")
    index["lattices"] = cfg.interfaces.lattices
    for sub, sh, film, fh in PAPER_INTERFACES:
        name = f"{sub}_{''.join(map(str, sh))}__{film}_{''.join(map(str, fh))}"
        cand, cell = _paper_interface(sub, sh, film, fh, cfg, bulks)
        if cand is None:
            log.warning("no match for %s within the limits", name)
            index["interfaces"].append({"name": name, "error": "no lattice match within the configured limits"})
            continue
        folder = out / "interfaces" / name
        files = write_cell_files(cell.atoms, folder, name)
        # GPUMD's isotropic npt_scr needs a box matrix without off-diagonal elements; for other cells the
        # writer takes the 6-component form (each axis coupled to the same pressure, tilts held).
        runs = _run_in(folder, cell.atoms, p.interface_temperatures_K, lambda t: p.interface_ps / 1000, cfg,
                       "isotropic")
        index["interfaces"].append({"name": name, "n_atoms": len(cell.atoms), "formula": cell.atoms.get_chemical_formula(),
                                    "substrate_formula": cell.substrate_formula, "film_formula": cell.film_formula,
                                    "area_A2": cand.area_A2, "max_strain": cand.max_strain, "files": files,
                                    "run_in": runs})
        log.info("%s: %d atoms", name, len(cell.atoms))

    for phase, n_atoms in BULK_ATOMS.items():
        atoms = supercell_for(bulk_cell(phase, cfg), n_atoms)
        folder = out / "bulk" / phase
        write_model_xyz(atoms, folder / "model.xyz")
        runs = _run_in(folder, atoms, p.bulk_temperatures_K, lambda t: 5.0 if t <= 500 else 2.0, cfg, "isotropic")
        index["bulk"].append({"phase": phase, "n_atoms": len(atoms), "run_in": runs})

    slurm = WorkflowSection(executor="slurm", scheduler=SchedulerSettings(
        partition="gpu", account="CHANGE_ME", walltime="24:00:00", nodes_per_block=1, max_blocks=8,
        scheduler_options="#SBATCH --gres=gpu:1", worker_init="source /path/to/interforge/.venv/bin/activate"))
    project = InterforgeConfig(workflow=slurm, teacher=cfg.teacher.model_copy(update={"name": "vasp"}))
    atomic_write_text(out / "slurm" / "interforge.toml", render_default_toml(project))
    atomic_write_text(out / "slurm" / "batch_script.sh", render_batch_script(slurm))
    index["slurm"] = {"config": str((out / "slurm" / "interforge.toml").resolve()),
                      "batch_script": str((out / "slurm" / "batch_script.sh").resolve())}
    atomic_write_text(out / "README.md", _readme(index, _gpumd_version(cfg)))
    atomic_write_json(out / "index.json", index)
    return index


def _readme(index: dict, gpumd_version: str) -> str:
    lines = ["# Production inputs at the paper's scale (written by `interforge demo --scale paper`)", "",
             "Nothing here has been run. Each folder holds a GPUMD `model.xyz` and one `run_<T>K.in` per temperature",
             "(NPT, BDP thermostat + SCR barostat at 1 bar, 1 fs, momentum removed every 10 steps). Put the trained",
             "`nep.txt` (from `nep/nep.in` + your labelled data) beside the folders and run `gpumd` with each run file",
             f"copied to `run.in` (the grammar of GPUMD {gpumd_version}). `slurm/interforge.toml` is a project file",
             "for a Slurm cluster with VASP labels.", "",
             "| system | atoms |", "|---|---|"]
    lines += [f"| {i['name']} | {i.get('n_atoms', i.get('error'))} |" for i in index["interfaces"]]
    lines += [f"| bulk {b['phase']} | {b['n_atoms']} |" for b in index["bulk"]]
    return "\n".join(lines) + "\n"
