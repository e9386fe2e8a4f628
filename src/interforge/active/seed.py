"""Seed data (paper, "Initial Training Set"): teacher MD at several temperatures plus strain/rattle
perturbations of every project structure, SOAP descriptors → PCA (2D) → k-means representatives,
labelled by the teacher. MD runs are workflow tasks in a ledger and labelling skips what the store
holds, so a killed seed step resumes without redoing finished work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms
from ase.io import read

from interforge.active.manifest import Manifest, Timer
from interforge.config import InterforgeConfig
from interforge.data import LabelStore
from interforge.fileio import atomic_path

log = logging.getLogger(__name__)


@dataclass
class SeedResult:
    """What the seed step produced (counts, files)."""

    n_pool: int
    n_selected: int
    n_labelled: int
    n_failed: int
    map_path: str
    selected_path: str


def run_teacher_md(structure_path: str, teacher, temperature_K: float, steps: int, dump_interval: int, md,
                   seed: int, task_dir: str) -> dict:
    """One seed MD run with the teacher (NVT, Bussi); a picklable workflow task."""
    from interforge.md import MDSettings, run_with
    from interforge.teacher import make_calculator

    atoms = read(structure_path)
    settings = MDSettings.from_section(md, ensemble="nvt", temperature_K=temperature_K, dump_interval=dump_interval,
                                       thermo_interval=dump_interval, seed=seed, checkpoint_interval=0)
    res = run_with(atoms, make_calculator(teacher), settings, steps, task_dir)
    return {"trajectory": str(Path(res.trajectory_path).resolve()), "steps_done": res.steps_done,
            "stopped_by": res.stopped_by, "n_frames": res.n_frames}


def _pool_from_md(outcomes: list, names: list[str]) -> list[Atoms]:
    from interforge.trajectory import TrajectoryReader

    pool = []
    for name, o in zip(names, outcomes):
        if o.state != "done":
            log.warning("seed MD %s failed: %s", name, o.error)
            continue
        reader = TrajectoryReader(o.result["trajectory"])
        for i in range(1, reader.n_frames):  # frame 0 is the unperturbed start
            atoms = reader.atoms(i)
            atoms.wrap()
            atoms.info["origin"] = f"{name}#{i}"
            pool.append(atoms)
    return pool


def _holdout_from_pool(pool: list[Atoms], selected: set[int], n: int) -> list[Atoms]:
    """``n`` pool members not selected for training, chosen by content hash (reproducible, unbiased)."""
    from interforge.data import split_fraction, structure_hash

    rest = [a for i, a in enumerate(pool) if i not in selected]
    rest.sort(key=lambda a: split_fraction(structure_hash(a), "holdout"))
    return rest[:n]


def run_seed(cfg: InterforgeConfig, workdir: str | Path, store: LabelStore, structures: dict[str, Atoms],
             executor=None) -> SeedResult:
    """Generate, select and label the seed set for ``structures`` (name → cell)."""
    from interforge.sampling import perturb_from_settings, plot_selection_maps, structure_category
    from interforge.sampling.pick import pick_representatives
    from interforge.workflow import make_executor
    from interforge.workflow.ledger import Ledger, Task, run_tasks

    workdir = Path(workdir)
    d = workdir / "seed"
    m = Manifest(d, -1)
    s = cfg.sampling
    folder = d / "structures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, atoms in structures.items():
        p = folder / f"{name}.xyz"
        if not p.exists():
            with atomic_path(p) as tmp:
                atoms.write(tmp, format="extxyz")
        paths[name] = str(p.resolve())

    sel_path = d / "selected.xyz"
    holdout_path = d / "holdout.xyz"
    if not m.done("select"):
        t = Timer()
        steps = max(1, int(round(s.md_ps * 1000 / cfg.md.timestep_fs)))
        dump = max(1, int(round(s.frame_interval_ps * 1000 / cfg.md.timestep_fs)))
        tasks, names = [], []
        for k, (name, path) in enumerate(sorted(paths.items())):
            for j, temp in enumerate(s.temperatures_K):
                seed = cfg.project.seed + 100 * k + j
                names.append(f"{name}_{temp:g}K")
                tasks.append(Task(name=names[-1], fn=run_teacher_md,
                                  spec={"structure": name, "T": temp, "steps": steps, "dump": dump, "seed": seed,
                                        "teacher": cfg.teacher.model_dump(exclude={"calibration"})},
                                  args=(path, cfg.teacher, temp, steps, dump, cfg.md, seed), pass_task_dir=True))
        outcomes = run_tasks(executor or make_executor(None), Ledger(d / "md"), tasks, progress=True)
        pool = _pool_from_md(outcomes, names)
        for k, (name, path) in enumerate(sorted(paths.items())):
            base = read(path)
            for p in perturb_from_settings(base, s, seed=cfg.project.seed + 7919 * (k + 1)):
                p.atoms.info["origin"] = f"{name}/strain{p.magnitude:.3f}"
                pool.append(p.atoms)
        for atoms in pool:
            atoms.info["category"] = structure_category(atoms)
        log.info("seed pool: %d structures from %d MD runs and perturbations", len(pool), len(tasks))

        categories = [a.info["category"] for a in pool]
        picked = pick_representatives(pool, s, seed=cfg.project.seed)
        selected = [pool[i] for i in picked.indices]
        holdout = _holdout_from_pool(pool, set(picked.indices), s.n_holdout)
        from ase.io import write

        for path, frames in ((sel_path, selected), (holdout_path, holdout)):
            with atomic_path(path) as tmp:
                write(tmp, frames, format="extxyz")
        map_path = plot_selection_maps(picked.descriptors.values, picked.indices, categories, d / "seed_map.png",
                                       seed=cfg.project.seed, perplexity=s.tsne_perplexity,
                                       max_points=s.map_max_points, title="seed selection").path
        m.mark("select", t.elapsed, n_pool=len(pool), n_selected=len(selected), n_holdout=len(holdout),
               map_path=str(map_path))

    if not m.done("label"):
        t = Timer()
        from interforge.teacher import label_structures

        report = label_structures(read(sel_path, ":"), store, cfg.teacher, executor=executor, stage="seed",
                                  iteration=0, source="seed")
        n_ok, n_failed = report.n_labelled, report.n_failed
        if m["n_holdout"]:
            report = label_structures(read(holdout_path, ":"), store, cfg.teacher, executor=executor,
                                      stage="holdout", iteration=0, source="seed pool (hold-out)")
            n_ok, n_failed = n_ok + report.n_labelled, n_failed + report.n_failed
        m.mark("label", t.elapsed, n_labelled=n_ok, n_failed=n_failed)

    if s.anchors and not m.done("anchors"):
        t = Timer()
        bulk = {n: p for n, p in paths.items() if n in cfg.structures.phases}
        n_ok, n_failed = label_anchors(cfg, d, store, bulk, executor)
        m.mark("anchors", t.elapsed, n_anchors=n_ok, n_anchors_failed=n_failed)
    return SeedResult(m["n_pool"], m["n_selected"], m["n_labelled"], m["n_failed"], m["map_path"], str(sel_path))


def label_anchors(cfg: InterforgeConfig, seed_dir: Path, store: LabelStore, paths: dict[str, str],
                  executor=None) -> tuple[int, int]:
    """Teacher anchors of each bulk phase (``interforge.active.anchors``), labelled with stage ``anchor``.
    One workflow task per phase, in the seed's ledger, so a killed run keeps the phases already done."""
    from interforge.active.anchors import AnchorSettings, run_anchor_task
    from interforge.teacher import label_structures
    from interforge.workflow import make_executor
    from interforge.workflow.ledger import Ledger, Task, run_tasks

    st = AnchorSettings.from_section(cfg.sampling)
    tasks = [Task(name=f"anchors_{name}", fn=run_anchor_task,
                  spec={"structure": name, "settings": st.__dict__, "teacher": cfg.teacher.model_dump(exclude={"calibration"})},
                  args=(path, cfg.teacher, st, name), pass_task_dir=True)
             for name, path in sorted(paths.items())]
    outcomes = run_tasks(executor or make_executor(None), Ledger(seed_dir / "anchors"), tasks, progress=True)
    frames: list[Atoms] = []
    for task, o in zip(tasks, outcomes):
        if o.state != "done":
            log.warning("anchors %s failed: %s", task.name, o.error)
            continue
        frames += read(o.result["path"], ":")
    if not frames:
        return 0, len(tasks)
    report = label_structures(frames, store, cfg.teacher, executor=executor, stage="anchor", iteration=0,
                              source="seed anchors")
    log.info("anchors: %d labelled (%d failed) from %d phases", report.n_labelled, report.n_failed, len(paths))
    return report.n_labelled, report.n_failed
