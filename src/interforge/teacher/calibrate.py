"""``interforge teacher calibrate``: measure the foundation teacher against DFT and fine-tune it.

Foundation models are soft (force-parity slopes below 1, Li-migration barriers too low; Deng et al.,
npj Comput. Mater. 11, 9 (2025)), and a few DFT structures recover most of it. This module:

1. picks ``n_structures`` structures with the foundation teacher (CHGNet 0.3.0 + D3(BJ)): frames of a short
   NVT run at ``md_temperature_K`` of each phase, and the climbing-image NEB path (endpoints + interior
   images) of one Li vacancy hop (with ``minima`` also each phase's relaxed cell); cached in
   ``WORKDIR/calibration/structures.xyz``;
2. labels them with the DFT teacher of ``[teacher.calibration]`` into an ASE database of its own
   (``WORKDIR/calibration/dft-labels.db``, a :class:`~interforge.data.LabelStore`): each label lands the
   moment it is computed, so a killed calibration resumes where it stopped; failures are stored with their
   reasons and never used; the log shows the rate and the time left;
3. splits them into training and held-out structures (the held-out share of each group: the frames of one
   phase, the hop images), measures the foundation teacher on the held-out ones, fine-tunes CHGNet with its
   own :class:`chgnet.trainer.Trainer` on the training ones, and measures the fine-tuned model again;
4. writes the weights (atomically) to ``[teacher.calibration] weights``: the teacher ``calibrated``
   (``[teacher] name = "calibrated"``, ``model_path`` = the weights) whose identity hash holds the weights'
   content, so its labels never mix with the foundation teacher's.

What is learned: the calibrated teacher is fine-tuned CHGNet **plus the same D3(BJ)** as the default
teacher. The DFT labels hold D3(BJ) (GPAW and QE get it from the ``dftd3`` package in this process, VASP
from ``IVDW = 12``), so CHGNet is fine-tuned on DFT minus D3(BJ) (``dftd3`` with the teacher's parameters):
the PBE part. Energies and forces are trained, not stresses (the calibration's GPAW runs without stress).
DFT codes and CHGNet put the zero of energy in different places (GPAW's energies are relative to isolated
atoms), so a per-element reference (least squares on the training structures) is removed before energies
are compared or trained: only energy differences between structures are learned and measured.

Measures (``before`` = foundation teacher, ``after`` = calibrated teacher), on the held-out DFT structures:
``force_slope`` (least-squares slope through the origin of teacher against DFT force components, < 1 =
soft), ``force_rmse_meV_A``, ``energy_rmse_meV_atom`` (after the per-element reference fitted on the
training structures for that teacher); ``barrier_eV`` (the teacher's own CI-NEB of the hop) beside
``barrier_dft_eV`` (DFT single points on the foundation teacher's NEB images: the highest minus the
initial state; not a DFT-relaxed path); ``phase_energies_meV_atom`` (cell + position relaxation with the
teacher; per composition, relative to its first phase), beside the paper's values and, with ``minima``,
``dft_phase_energies_meV_atom`` (DFT single points at the foundation teacher's relaxed cells).
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.io import read, write

from interforge.config import InterforgeConfig
from interforge.config.teacher import CalibrationSection, TeacherSection
from interforge.data import LabelStore, settings_hash, structure_hash
from interforge.errors import InterforgeError
from interforge.fileio import atomic_path, atomic_write_json, atomic_write_text
from interforge.teacher.errors import TeacherError
from interforge.teacher.identity import canonical_name, teacher_identity

log = logging.getLogger(__name__)

#: The reference paper's DFT phase energies (meV/atom, relative to ideal-Li2ZrCl6).
PAPER_PHASE_ENERGIES_MEV = {"ideal-Li2ZrCl6": 0.0, "alpha-Li2ZrCl6": 11.0, "beta-Li2ZrCl6": 24.0}
#: Offset of the calibration's MD seeds from [project] seed (independent of seed and validation runs).
SEED_OFFSET = 7919
#: Files in WORKDIR/calibration.
FOLDER = "calibration"


# -- settings ------------------------------------------------------------------------------------------

def foundation_section(teacher: TeacherSection) -> TeacherSection:
    """The foundation teacher that is calibrated: CHGNet 0.3.0 with the project's D3 choice."""
    name = canonical_name(teacher.name)
    if name not in ("chgnet", "calibrated"):
        raise TeacherError(f"teacher calibrate fine-tunes CHGNet: [teacher] name must be default, chgnet or "
                           f"calibrated, not '{teacher.name}'")
    return teacher.model_copy(update={"name": "chgnet", "model_path": ""})


def dft_section(teacher: TeacherSection) -> TeacherSection:
    """The DFT teacher of ``[teacher.calibration]`` as a teacher section: its settings, the project's D3
    choice and labelling limits (timeout, retries, force bound)."""
    cal = teacher.calibration
    name = canonical_name(cal.dft)
    gpaw = cal.gpaw
    if not gpaw.python and teacher.gpaw.python:  # the interpreter that has GPAW, set once for the project
        gpaw = gpaw.model_copy(update={"python": teacher.gpaw.python})
    if name == "vasp" and (cal.vasp.ivdw == 12) != bool(teacher.dispersion and teacher.d3_damping == "d3bj"):
        raise TeacherError("[teacher.calibration.vasp] ivdw must be 12 (D3(BJ)) exactly when [teacher] dispersion "
                           "is on with d3bj damping: the calibrated teacher adds that D3 to CHGNet")
    return TeacherSection(name=name, dispersion=teacher.dispersion, d3_method=teacher.d3_method,
                          d3_damping=teacher.d3_damping, max_force=teacher.max_force, timeout_s=teacher.timeout_s,
                          retries=teacher.retries, device=teacher.device, gpaw=gpaw, vasp=cal.vasp, qe=cal.qe)


def calibrated_section(teacher: TeacherSection, weights: str | Path) -> TeacherSection:
    """The ``calibrated`` teacher with these weights and the project's D3 choice."""
    return teacher.model_copy(update={"name": "calibrated", "model_path": str(Path(weights).resolve())})


def weights_path(cfg: InterforgeConfig, workdir: str | Path) -> Path:
    p = Path(cfg.teacher.calibration.weights).expanduser()
    return p if p.is_absolute() else Path(workdir) / p


# -- picking the structures ----------------------------------------------------------------------------

def _bare(atoms: Atoms, tag: str) -> Atoms:
    a = Atoms(atoms.get_chemical_symbols(), positions=atoms.get_positions(), cell=atoms.get_cell(), pbc=atoms.pbc)
    a.info["calibration"] = tag
    return a


def relax(atoms: Atoms, calc, steps: int, fmax: float = 0.05, cell: bool = True) -> tuple[Atoms, float]:
    """(relaxed copy, energy per atom eV): FIRE on positions (and the cell with ``cell``)."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    a = atoms.copy()
    a.calc = calc
    if steps > 0:
        FIRE(FrechetCellFilter(a) if cell else a, logfile=None).run(fmax=fmax, steps=steps)
    e = float(a.get_potential_energy()) / len(a)
    out = _bare(a, atoms.info.get("calibration", ""))
    return out, e


def hop_neb(initial: Atoms, final: Atoms, calc, n_images: int, relax_steps: int, neb_steps: int,
            fmax: float = 0.1) -> tuple[float, list[Atoms]]:
    """Climbing-image NEB of one hop with ``calc`` (endpoints relaxed at fixed cell, IDPP start): (barrier eV =
    highest image minus the initial state, the images from initial to final, calculator-free)."""
    from ase.mep import NEB
    from ase.optimize import FIRE

    ends = [relax(a, calc, relax_steps, fmax=fmax, cell=False)[0] for a in (initial, final)]
    images = [ends[0].copy() for _ in range(n_images + 1)] + [ends[1].copy()]
    for im in images:
        im.calc = calc
    neb = NEB(images, climb=True, allow_shared_calculator=True, method="improvedtangent")
    neb.interpolate(method="idpp", mic=True)
    FIRE(neb, logfile=None).run(fmax=fmax, steps=neb_steps)
    energies = [float(im.get_potential_energy()) for im in images]
    return max(energies) - energies[0], [_bare(im, f"hop/{k}") for k, im in enumerate(images)]


def _li_hop(atoms: Atoms, max_hop_A: float = 4.0) -> tuple[Atoms, Atoms]:
    from interforge.active.validate import li_hop_endpoints

    initial, final, _ = li_hop_endpoints(atoms, max_hop_A)
    return initial, final


def _hop_phase(cal: CalibrationSection, phases: dict[str, Atoms]) -> str | None:
    if cal.hop_phase.strip().lower() == "none":
        return None
    if cal.hop_phase:
        if cal.hop_phase not in phases:
            raise InterforgeError(f"[teacher.calibration] hop_phase '{cal.hop_phase}' is not among the calibration "
                                  f"phases {sorted(phases)}")
        return cal.hop_phase
    li = [n for n, a in phases.items() if a.get_chemical_symbols().count("Li") >= 2]
    return li[0] if li else None


def frames_per_phase(n_md: int, names: list[str]) -> dict[str, int]:
    """``n_md`` MD frames spread over the phases (the first ones get one more when it does not divide)."""
    if n_md < len(names):
        raise InterforgeError(f"[teacher.calibration] n_structures leaves {n_md} MD frames for {len(names)} phases; "
                              "raise n_structures or list fewer phases")
    base, extra = divmod(n_md, len(names))
    return {n: base + (1 if k < extra else 0) for k, n in enumerate(names)}


def md_frames(atoms: Atoms, calc, name: str, k: int, T: float, ps: float, md, seed: int,
              run_dir: Path) -> list[Atoms]:
    """``k`` frames evenly spaced over the second half of a teacher NVT run of ``ps`` at ``T`` K with the
    integration settings of the ``[md]`` section ``md``."""
    from interforge.md import MDSettings, run_with
    from interforge.trajectory import TrajectoryReader

    steps = max(2 * k, int(round(ps * 1000.0 / md.timestep_fs)))
    every = max(1, (steps // 2) // k)
    settings = MDSettings.from_section(md, ensemble="nvt", temperature_K=T, dump_interval=every, thermo_interval=every,
                                       seed=seed, checkpoint_interval=0)
    res = run_with(atoms.copy(), calc, settings, steps, run_dir)
    rd = TrajectoryReader(res.trajectory_path)
    idx = list(range(len(rd)))[-k:]
    return [_bare(rd.atoms(i), f"md/{name}/{j}") for j, i in enumerate(idx)]


@dataclass
class Picks:
    """The calibration structures and what the foundation teacher said while picking them."""

    structures: list[Atoms]
    groups: list[str]
    hop_phase: str | None
    hop_endpoints: tuple[Atoms, Atoms] | None
    barrier_eV: float | None
    phase_energies_eV_atom: dict[str, float] = field(default_factory=dict)


def _pick_key(cfg: InterforgeConfig, phases: dict[str, Atoms]) -> str:
    cal = cfg.teacher.calibration
    return settings_hash({
        "teacher": teacher_identity(foundation_section(cfg.teacher)).hash, "seed": cfg.project.seed,
        "n": cal.n_structures, "T": cal.md_temperature_K, "ps": cal.md_ps, "hop_phase": cal.hop_phase,
        "hop_images": cal.hop_images, "minima": cal.minima, "relax": cal.relax_steps, "neb": cal.neb_steps, "dt": cfg.md.timestep_fs,
        "tau": cfg.md.thermostat_tau_fs, "phases": {n: structure_hash(a) for n, a in phases.items()},
    })


def pick_structures(cfg: InterforgeConfig, phases: dict[str, Atoms], folder: Path, calc) -> Picks:
    """The calibration structures (see the module doc), cached in ``folder``: a re-run with the same settings
    reads them back instead of running the teacher again."""
    import json

    cal = cfg.teacher.calibration
    key = _pick_key(cfg, phases)
    xyz, meta_path = folder / "structures.xyz", folder / "structures.json"
    if xyz.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key:
            frames = read(xyz, ":")
            ends = None
            if meta.get("hop_endpoints"):
                ends = tuple(read(folder / "hop_endpoints.xyz", ":"))
            log.info("calibration structures: %d read from %s", len(frames), xyz)
            return Picks(frames, meta["groups"], meta["hop_phase"], ends, meta["barrier_eV"],
                         meta["phase_energies_eV_atom"])
    t0 = time.perf_counter()
    hop = _hop_phase(cal, phases)
    n_hop = cal.hop_images + 2 if hop else 0
    counts = frames_per_phase(cal.n_structures - n_hop, list(phases))
    structures: list[Atoms] = []
    groups: list[str] = []
    relaxed: dict[str, Atoms] = {}
    energies: dict[str, float] = {}
    for k, (name, atoms) in enumerate(phases.items()):
        log.info("calibration: %s (%d atoms): relaxing with the foundation teacher, then %d frames of %.2f ps NVT "
                 "at %g K", name, len(atoms), counts[name], cal.md_ps, cal.md_temperature_K)
        relaxed[name], energies[name] = relax(atoms, calc, cal.relax_steps)
        frames = md_frames(relaxed[name], calc, name, counts[name], cal.md_temperature_K, cal.md_ps, cfg.md,
                           cfg.project.seed + SEED_OFFSET + k, folder / "md" / name)
        structures += frames
        groups += [f"md:{name}"] * len(frames)
    barrier = None
    ends = None
    if hop:
        initial, final = _li_hop(relaxed[hop])
        ends = (_bare(initial, "hop/initial"), _bare(final, "hop/final"))
        log.info("calibration: Li-hop NEB in %s (%d atoms, %d images) with the foundation teacher", hop,
                 len(initial), cal.hop_images)
        barrier, images = hop_neb(initial, final, calc, cal.hop_images, cal.relax_steps, cal.neb_steps)
        structures += images
        groups += ["hop"] * len(images)
    if cal.minima:  # last, so that the held-out choice of the other groups does not depend on them
        for name in phases:
            structures.append(_bare(relaxed[name], f"min/{name}"))
            groups.append(f"min:{name}")
    with atomic_path(xyz) as tmp:
        write(tmp, structures, format="extxyz")
    if ends:
        with atomic_path(folder / "hop_endpoints.xyz") as tmp:
            write(tmp, list(ends), format="extxyz")
    atomic_write_json(meta_path, {"key": key, "groups": groups, "hop_phase": hop, "hop_endpoints": bool(ends),
                                  "barrier_eV": barrier, "phase_energies_eV_atom": energies})
    log.info("calibration structures: %d picked in %.0f s", len(structures), time.perf_counter() - t0)
    return Picks(structures, groups, hop, ends, barrier, energies)


def split(groups: list[str], fraction: float, seed: int) -> list[bool]:
    """Held-out flags: ``round(fraction * n)`` of each group's n structures (at least one and at most n - 1
    when n >= 2; none of a group of one), chosen at random with ``seed``."""
    rng = np.random.default_rng(seed)
    held = [False] * len(groups)
    for g in dict.fromkeys(groups):
        idx = [i for i, x in enumerate(groups) if x == g]
        n = len(idx)
        k = 0 if n < 2 else min(n - 1, max(1, int(round(fraction * n))))
        for i in rng.permutation(idx)[:k]:
            held[int(i)] = True
    return held


# -- DFT labels ----------------------------------------------------------------------------------------

def label_with_dft(structures: list[Atoms], groups: list[str], section: TeacherSection, store: LabelStore,
                   executor, workers: int, scratch: Path, retry_failed: bool = False) -> list[dict | None]:
    """DFT labels of ``structures`` from ``store``, computing the missing ones (``workers`` at a time, the
    rate and the time left logged after each batch). One entry per structure: ``{"energy", "forces"}``, or
    ``{"failed": reason}``."""
    from interforge.teacher.labelling import label_structures

    ident = teacher_identity(section)
    hashes = [structure_hash(a) for a in structures]
    todo = [i for i, h in enumerate(hashes) if not store.has_hash(h, ident.hash, ok_only=retry_failed)]
    n_done0 = len(structures) - len(todo)
    log.info("DFT labels (%s, %s): %d of %d stored in %s, %d to compute", ident.name, ident.hash, n_done0,
             len(structures), store.display_url, len(todo))
    t0 = time.perf_counter()
    step = max(1, workers)
    for start in range(0, len(todo), step):
        chunk = todo[start:start + step]
        label_structures([structures[i] for i in chunk], store, section, executor=executor,
                         source=[f"calibration:{groups[i]}" for i in chunk], stage="calibration",
                         retry_failed=retry_failed, scratch_root=scratch, progress=False)
        done = start + len(chunk)
        el = time.perf_counter() - t0
        per = el / done
        log.info("DFT labels: %d/%d this run (%.1f min per label, %.1f labels/h), about %.0f min left", done,
                 len(todo), per / 60.0, 3600.0 / per if per > 0 else 0.0, per * (len(todo) - done) / 60.0)
    out: list[dict | None] = []
    for h in hashes:
        rows = list(store.rows(struct_hash=h, teacher_hash=ident.hash))
        ok = [r for r in rows if r.get("status") == "ok"]
        if ok:
            a = ok[-1].toatoms()
            out.append({"energy": float(a.get_potential_energy()), "forces": np.array(a.get_forces())})
        elif rows:
            out.append({"failed": str(rows[-1].get("reason") or "failed")})
        else:
            out.append({"failed": "no label stored (another worker holds it?)"})
    return out


# -- measures ------------------------------------------------------------------------------------------

def _element_counts(structures: list[Atoms], elements: list[str]) -> np.ndarray:
    return np.array([[a.get_chemical_symbols().count(e) for e in elements] for a in structures], dtype=float)


def fit_references(structures: list[Atoms], residual_eV: np.ndarray, elements: list[str]) -> np.ndarray:
    """Per-element energies mu (eV) with residual ≈ counts · mu (least squares, minimum norm)."""
    A = _element_counts(structures, elements)
    mu, *_ = np.linalg.lstsq(A, np.asarray(residual_eV, float), rcond=None)
    return mu


def force_slope(f_teacher: np.ndarray, f_dft: np.ndarray) -> float:
    """Least-squares slope through the origin of teacher against DFT force components (1 = not soft; the
    validation gates' :func:`~interforge.validation.gates.force_parity` with DFT as the reference)."""
    from interforge.validation.gates import force_parity

    return force_parity(f_teacher, f_dft)[0]


def _evaluate(structures: list[Atoms], calc) -> tuple[np.ndarray, list[np.ndarray]]:
    energies, forces = [], []
    for a in structures:
        b = a.copy()
        b.calc = calc
        energies.append(float(b.get_potential_energy()))
        forces.append(np.array(b.get_forces()))
    return np.array(energies), forces


def measure(calc, train: list[Atoms], train_e: np.ndarray, held: list[Atoms], held_e: np.ndarray,
            held_f: list[np.ndarray], elements: list[str], parity: list | None = None) -> dict[str, float]:
    """Force slope and RMSE, energy RMSE of ``calc`` against DFT on the held-out structures (energies after
    the per-element reference fitted on the training structures). ``parity`` receives (teacher, DFT) force
    components."""
    e_tr, _ = _evaluate(train, calc)
    mu = fit_references(train, train_e - e_tr, elements)
    e_h, f_h = _evaluate(held, calc)
    n = np.array([len(a) for a in held], float)
    shift = _element_counts(held, elements) @ mu
    de = (e_h + shift - held_e) / n
    ft, fd = np.concatenate(f_h), np.concatenate(held_f)
    if parity is not None:
        parity.append((ft, fd))
    return {"force_slope": force_slope(ft, fd), "force_rmse_meV_A": float(np.sqrt(np.mean((ft - fd) ** 2)) * 1e3),
            "energy_rmse_meV_atom": float(np.sqrt(np.mean(de ** 2)) * 1e3)}


def phase_energies_meV(energies_eV_atom: dict[str, float], phases: dict[str, Atoms]) -> dict[str, float]:
    """Relaxed energies per atom relative to the first phase of the same composition, meV/atom."""
    first: dict[str, float] = {}
    out = {}
    for name, e in energies_eV_atom.items():
        comp = phases[name].get_chemical_formula(mode="hill", empirical=True)
        first.setdefault(comp, e)
        out[name] = round((e - first[comp]) * 1e3, 2)
    return out


# -- fine-tuning ---------------------------------------------------------------------------------------

class _LogLines(io.TextIOBase):
    """stdout of CHGNet's Trainer, one log line per printed line."""

    def write(self, s: str) -> int:
        for line in s.splitlines():
            if line.strip():
                log.info("chgnet: %s", line.strip())
        return len(s)


def parity_figure(pairs: list[tuple[np.ndarray, np.ndarray]], labels: list[str], path: Path) -> Path | None:
    """Teacher against DFT force components on the held-out structures, one colour per teacher."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from interforge.report.figures import save_figure
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    fig, ax = plt.subplots(figsize=(4.4, 4.2))
    lim = 0.0
    for (ft, fd), lab in zip(pairs, labels):
        x, y = np.ravel(fd), np.ravel(ft)
        ax.plot(x, y, ".", ms=3, alpha=0.5, label=f"{lab}: slope {force_slope(y, x):.3f}")
        lim = max(lim, float(np.max(np.abs(np.r_[x, y]))) * 1.05)
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="DFT force (eV/Å)", ylabel="teacher force (eV/Å)",
           title="held-out DFT structures")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def comparison_rows(before: dict, after: dict, paper: dict[str, float]) -> list[dict]:
    """One row per measure: the foundation teacher, the calibrated teacher and the reference (DFT or paper)."""
    rows = [{"measure": k, "foundation": before.get(k), "calibrated": after.get(k),
             "reference": before.get("barrier_dft_eV") if k == "barrier_eV" else (1.0 if k == "force_slope" else None)}
            for k in ("force_slope", "force_rmse_meV_A", "energy_rmse_meV_atom", "barrier_eV")]
    for name, v in before.get("phase_energies_meV_atom", {}).items():
        rows.append({"measure": f"E({name}) meV/atom", "foundation": v,
                     "calibrated": after.get("phase_energies_meV_atom", {}).get(name), "reference": paper.get(name)})
    return rows


def freeze(model, trainable: str) -> int:
    """Freeze all but the last atom-convolution layer and the readout (``head``), or nothing (``all``);
    the composition model (per-element references) always stays. Returns the number of trainable weights."""
    n_conv = len(model.atom_conv_layers)
    keep = (f"atom_conv_layers.{n_conv - 1}.", "site_wise", "readout_norm", "pooling", "mlp")
    n = 0
    for name, p in model.named_parameters():
        on = trainable == "all" or name.startswith(keep)
        p.requires_grad = on and not name.startswith("composition_model")
        n += p.numel() if p.requires_grad else 0
    return n


def fine_tune(base_model, structures: list[Atoms], energies_eV_atom: list[float], forces: list[np.ndarray],
              cal: CalibrationSection, seed: int, work: Path) -> tuple[Any, dict]:
    """A copy of ``base_model`` fine-tuned with CHGNet's Trainer on these targets (energy per atom, forces);
    returns (model, training history)."""
    import shutil

    import torch
    from chgnet.data.dataset import StructureData, collate_graphs
    from chgnet.model import CHGNet
    from chgnet.trainer import Trainer
    from pymatgen.io.ase import AseAtomsAdaptor
    from torch.utils.data import DataLoader

    with contextlib.redirect_stdout(_LogLines()):
        model = CHGNet.from_dict(base_model.as_dict())
    n_train = freeze(model, cal.trainable)
    torch.manual_seed(seed)
    structs = [AseAtomsAdaptor.get_structure(a) for a in structures]
    with contextlib.redirect_stdout(_LogLines()):
        data = StructureData(structs, list(energies_eV_atom), [np.asarray(f).tolist() for f in forces],
                             shuffle=False, graph_converter=model.graph_converter)
    gen = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(data, batch_size=cal.batch_size, shuffle=True, collate_fn=collate_graphs, generator=gen)
    # Our split is made before (held-out structures never reach CHGNet's data set), so chgnet's
    # get_train_val_test_loader (a random split with the global `random`) is not used: the Trainer's
    # "validation" runs on the training structures and the held-out ones stay unseen.
    val_loader = DataLoader(data, batch_size=cal.batch_size, shuffle=False, collate_fn=collate_graphs)
    log.info("fine-tuning CHGNet (%s: %d weights trainable) on %d structures for %d epochs, learning rate %g",
             cal.trainable, n_train, len(structures), cal.epochs, cal.learning_rate)
    trainer = Trainer(model=model, targets="ef", energy_loss_ratio=1.0, force_loss_ratio=cal.force_loss_ratio,
                      optimizer="Adam", scheduler="CosLR", criterion="MSE", epochs=cal.epochs,
                      learning_rate=cal.learning_rate, print_freq=10**9, torch_seed=seed, use_device="cpu")
    save_dir = work / "trainer"
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(_LogLines()):
            trainer.train(train_loader, val_loader, save_dir=str(save_dir))
    finally:
        shutil.rmtree(save_dir, ignore_errors=True)  # per-epoch checkpoints; the result is saved by the caller
    model = trainer.model.to("cpu")
    model.eval()
    hist = {k: {"train_mae": v["train"]} for k, v in trainer.training_history.items()}
    log.info("fine-tuning done in %.0f s: training MAE e %.4f eV/atom, f %.4f eV/Å (last epoch)",
             time.perf_counter() - t0, hist["e"]["train_mae"][-1], hist["f"]["train_mae"][-1])
    return model, hist


def save_weights(model, path: Path, meta: dict) -> Path:
    """The model in CHGNet's checkpoint layout (``{"model": as_dict()}``, read by ``CHGNet.from_file``) plus our
    metadata, written atomically."""
    import torch

    with atomic_path(path, suffix=".tmp") as tmp:
        torch.save({"model": model.as_dict(), "interforge": meta}, tmp)
    return path


def _saved_meta(path: Path) -> dict | None:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=False).get("interforge")
    except Exception:  # noqa: BLE001 - a damaged or foreign file is simply trained again
        return None


# -- the whole procedure -------------------------------------------------------------------------------

def calibration_phases(cfg: InterforgeConfig, workdir: Path) -> dict[str, Atoms]:
    """The bulk cells of the calibration's phases (the project's cached cells, ``WORKDIR/structures``)."""
    from interforge.active.project import project_structures
    from interforge.structures import get_phase

    names = list(cfg.teacher.calibration.phases or cfg.structures.phases)
    if not names:
        raise InterforgeError("[teacher.calibration] phases (or [structures] phases) is empty")
    for n in names:
        get_phase(n)  # an unknown name: one clear error before any work
    sub = cfg.model_copy(update={"structures": cfg.structures.model_copy(update={"phases": names,
                                                                                 "interfaces": []})})
    return project_structures(sub, workdir)


def calibrate(cfg: InterforgeConfig, workdir: str | Path, executor=None, retry_failed: bool = False) -> dict:
    """Run the calibration of the module doc in ``workdir``; returns the results (the ``--json`` of the verb)."""
    from interforge.teacher.embedded import chgnet_model, dispersion_calculator
    from interforge.teacher.factory import make_calculator, teacher_names
    from interforge.workflow import InProcessExecutor

    t_start = time.perf_counter()
    workdir = Path(workdir)
    cal = cfg.teacher.calibration
    folder = workdir / FOLDER
    found = foundation_section(cfg.teacher)
    dft = dft_section(cfg.teacher)
    if canonical_name(dft.name) not in teacher_names():
        raise TeacherError(f"[teacher.calibration] dft: unknown teacher '{cal.dft}'; choose gpaw, vasp, qe or a "
                           "registered teacher")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="interforge-dft-check-") as scratch:
        make_calculator(dft, scratch)  # the DFT code is there (GPAW importable, POTCARs, ...) before any work
    dft_id = teacher_identity(dft)
    found_calc = make_calculator(found)
    folder.mkdir(parents=True, exist_ok=True)

    phases = calibration_phases(cfg, workdir)
    picks = pick_structures(cfg, phases, folder, found_calc)
    held_flags = split(picks.groups, cal.heldout_fraction, cfg.project.seed + SEED_OFFSET)

    store = LabelStore(folder / "dft-labels.db")
    executor = executor or InProcessExecutor()
    workers = 1 if isinstance(executor, InProcessExecutor) else int(cfg.workflow.max_workers or 1)
    labels = label_with_dft(picks.structures, picks.groups, dft, store, executor, workers, folder / "dft-scratch",
                            retry_failed)
    failures = [{"structure": i, "group": picks.groups[i], "reason": lab["failed"]}
                for i, lab in enumerate(labels) if "failed" in lab]
    for f in failures:
        log.warning("DFT label of calibration structure %d (%s) failed and is not used: %s", f["structure"],
                    f["group"], f["reason"])
    ok = [i for i, lab in enumerate(labels) if "failed" not in lab]
    train_i = [i for i in ok if not held_flags[i]]
    held_i = [i for i in ok if held_flags[i]]
    if not train_i or not held_i:
        raise InterforgeError(f"too few DFT labels to calibrate: {len(train_i)} training and {len(held_i)} held-out "
                              f"structures of {len(labels)} ({len(failures)} failed; see {store.display_url})")
    S = picks.structures
    elements = sorted({s for a in S for s in a.get_chemical_symbols()})
    dft_e = np.array([labels[i]["energy"] if i in ok else np.nan for i in range(len(S))])
    train = [S[i] for i in train_i]
    held = [S[i] for i in held_i]
    args = dict(train=train, train_e=dft_e[train_i], held=held, held_e=dft_e[held_i],
                held_f=[labels[i]["forces"] for i in held_i], elements=elements)

    pairs: list = []
    before = measure(found_calc, **args, parity=pairs)
    before["barrier_eV"] = picks.barrier_eV
    before["phase_energies_meV_atom"] = phase_energies_meV(picks.phase_energies_eV_atom, phases)

    hop_idx = [i for i, g in enumerate(picks.groups) if g == "hop"]
    barrier_dft = None
    if hop_idx and all(i in ok for i in hop_idx):
        e = dft_e[hop_idx]
        barrier_dft = float(np.max(e) - e[0])

    # With minima: DFT single points at the foundation's relaxed cells (not DFT-relaxed), per composition.
    mins = {g[4:]: i for i, g in enumerate(picks.groups) if g.startswith("min:")}
    dft_phases = None
    if mins and all(i in ok for i in mins.values()):
        dft_phases = phase_energies_meV({n: float(dft_e[i]) / len(S[i]) for n, i in mins.items()}, phases)

    # Targets: DFT minus D3 (the calibrated teacher adds D3 again), less the foundation's per-element offset.
    e_found_train, _ = _evaluate(train, found_calc)
    mu = fit_references(train, dft_e[train_i] - e_found_train, elements)
    d3 = dispersion_calculator(dft) if dft.dispersion else None
    t_e, t_f = [], []
    for i in train_i:
        e, f = labels[i]["energy"], labels[i]["forces"]
        if d3 is not None:
            a = S[i].copy()
            a.calc = d3
            e, f = e - float(a.get_potential_energy()), f - np.array(a.get_forces())
        n = _element_counts([S[i]], elements)[0]
        t_e.append((e - float(n @ mu)) / len(S[i]))
        t_f.append(f)

    wpath = weights_path(cfg, workdir)
    train_key = settings_hash({"dft": dft_id.hash, "train": [structure_hash(S[i]) for i in train_i],
                               "epochs": cal.epochs, "lr": cal.learning_rate, "batch": cal.batch_size,
                               "force_loss_ratio": cal.force_loss_ratio, "trainable": cal.trainable,
                               "d3": teacher_identity(found).settings, "seed": cfg.project.seed})
    history = None
    meta = _saved_meta(wpath) if wpath.is_file() else None
    if meta and meta.get("train_key") == train_key:
        log.info("fine-tuned weights for these labels and settings found at %s; not training again", wpath)
        history = meta.get("history")
    else:
        base = chgnet_model("cpu")
        model, history = fine_tune(base, train, t_e, t_f, cal, cfg.project.seed, folder)
        save_weights(model, wpath, {"train_key": train_key, "base": "CHGNet-0.3.0", "dft": dft_id.name,
                                    "dft_hash": dft_id.hash, "n_train": len(train_i), "history": history,
                                    "what": "CHGNet fine-tuned on DFT minus D3(BJ); use with D3(BJ) added"
                                    if d3 is not None else "CHGNet fine-tuned on DFT (no dispersion)"})
        log.info("calibrated weights written to %s", wpath)

    calib = calibrated_section(cfg.teacher, wpath)
    calib_id = teacher_identity(calib)
    calib_calc = make_calculator(calib)
    after = measure(calib_calc, **args, parity=pairs)
    figure = parity_figure(pairs, ["foundation", "calibrated"], folder / "force_parity.png")
    after["barrier_eV"] = None
    if picks.hop_endpoints:
        after["barrier_eV"], _ = hop_neb(picks.hop_endpoints[0], picks.hop_endpoints[1], calib_calc, cal.hop_images,
                                         cal.relax_steps, cal.neb_steps)
    after_e = {name: relax(atoms, calib_calc, cal.relax_steps)[1] for name, atoms in phases.items()}
    after["phase_energies_meV_atom"] = phase_energies_meV(after_e, phases)
    before["barrier_dft_eV"] = after["barrier_dft_eV"] = barrier_dft
    for m in (before, after):
        for k, v in list(m.items()):
            if isinstance(v, float):
                m[k] = round(v, 4)

    snippet = (f'[teacher]\nname = "calibrated"\nmodel_path = "{wpath.resolve()}"\n'
               f'# identity {calib_id.hash}; written by `interforge teacher calibrate` from {dft_id.name} labels\n')
    atomic_write_text(folder / "teacher.toml", snippet)
    result = {
        "dft": {"name": dft_id.name, "hash": dft_id.hash, "settings": dft_id.settings},
        "foundation": {"name": teacher_identity(found).name, "hash": teacher_identity(found).hash},
        "calibrated": {"name": calib_id.name, "hash": calib_id.hash, "weights": str(wpath.resolve()),
                       "settings": calib_id.settings, "config": str((folder / "teacher.toml").resolve())},
        "n_structures": len(S), "n_labelled": len(ok), "n_failed": len(failures), "failures": failures,
        "n_train": len(train_i), "n_heldout": len(held_i),
        "groups": {g: picks.groups.count(g) for g in dict.fromkeys(picks.groups)},
        "hop_phase": picks.hop_phase,
        "before": before, "after": after,
        "paper_phase_energies_meV_atom": {n: v for n, v in PAPER_PHASE_ENERGIES_MEV.items() if n in phases},
        "dft_phase_energies_meV_atom": dft_phases,
        "table": comparison_rows(before, after, PAPER_PHASE_ENERGIES_MEV),
        "figure": str(figure) if figure else None,
        "training": {"epochs": cal.epochs, "learning_rate": cal.learning_rate, "trainable": cal.trainable,
                     "history": history},
        "dft_labels": store.display_url,
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    atomic_write_json(folder / "calibration.json", result)
    log.info("calibration: force slope %.3f -> %.3f, force RMSE %.0f -> %.0f meV/Å on %d held-out DFT structures; "
             "weights %s (teacher 'calibrated', %s)", before["force_slope"], after["force_slope"],
             before["force_rmse_meV_A"], after["force_rmse_meV_A"], len(held_i), wpath, calib_id.hash)
    return result
