"""Anchor structures: the teacher's own minima, their equation of state and Li vacancy hops.

Teacher MD frames at a few temperatures teach a NEP the thermal cloud around each phase, but not the
three things the validation gates ask of it: where each phase's energy minimum lies (phase order,
density), how its energy changes with volume (pressure, bulk modulus), and what a Li hop's saddle costs
(barrier). A model underfitting MD data by ~8 meV/atom cannot resolve a ~5 meV/atom phase difference
it was never shown. Anchors add, per bulk phase (a workflow task each):

- frames along the teacher's relaxation of cell and positions, ending at its minimum;
- that minimum isotropically strained (``anchor_strains``), positions relaxed at each fixed cell;
- for phases holding Li: ``anchor_hops`` vacancy hops (a Li removed, a neighbour moved into its site),
  endpoints relaxed at fixed cell, and ``anchor_hop_images`` IDPP images between them.

The hops avoid the vacancy that the barrier gate uses (the first Li), so the gate's NEB runs on a
configuration the model has not seen; in a symmetric crystal the hops may still be equivalent by
symmetry, which ``docs/validation.md`` states. Energies and forces are labelled afterwards through the
label store (stage ``anchor``), like every other structure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

from interforge.fileio import atomic_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnchorSettings:
    """Knobs of :func:`anchor_structures` (the ``anchor_*`` fields of ``[sampling]``)."""

    relax_steps: int = 150          # FIRE steps of the cell + position relaxation
    fmax_eV_A: float = 0.05         # relaxation force tolerance, eV/Å
    path_frames: int = 3            # frames kept along the relaxation (besides the minimum)
    strains: tuple[float, ...] = (-0.03, -0.015, 0.015, 0.03)  # linear isotropic strains of the minimum
    strain_relax_steps: int = 40    # FIRE steps at each strained cell
    hops: int = 2                   # Li vacancy hops per Li-bearing phase
    hop_images: int = 3             # interior images per hop
    max_hop_A: float = 4.0          # longest Li–Li distance taken as a hop, Å

    @classmethod
    def from_section(cls, s) -> "AnchorSettings":
        return cls(relax_steps=s.anchor_relax_steps, path_frames=s.anchor_path_frames,
                   strains=tuple(s.anchor_strains), strain_relax_steps=s.anchor_strain_relax_steps,
                   hops=s.anchor_hops, hop_images=s.anchor_hop_images)


def _bare(atoms: Atoms, tag: str) -> Atoms:
    """A calculator-free copy with its origin recorded (labels come from the store, not from here)."""
    a = Atoms(atoms.get_chemical_symbols(), positions=atoms.get_positions(), cell=atoms.get_cell(), pbc=atoms.pbc)
    a.info["origin"] = tag
    return a


def relaxation_anchors(atoms: Atoms, calc, name: str, st: AnchorSettings) -> tuple[list[Atoms], Atoms]:
    """Frames along the relaxation of cell and positions, and the relaxed structure (last in the list)."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    a = atoms.copy()
    a.calc = calc
    path: list[Atoms] = [_bare(a, f"{name}/relax0")]
    opt = FIRE(FrechetCellFilter(a), logfile=None)
    every = max(1, st.relax_steps // max(1, st.path_frames))
    for k, _ in enumerate(opt.irun(fmax=st.fmax_eV_A, steps=st.relax_steps), start=1):
        if k % every == 0 and len(path) < st.path_frames:
            path.append(_bare(a, f"{name}/relax{k}"))
    relaxed = _bare(a, f"{name}/relaxed")
    return path + [relaxed], relaxed


def strain_anchors(relaxed: Atoms, calc, name: str, st: AnchorSettings) -> list[Atoms]:
    """The minimum under each isotropic strain, positions relaxed at the fixed cell (an E–V curve)."""
    from ase.optimize import FIRE

    out = []
    for s in st.strains:
        a = relaxed.copy()
        a.set_cell(a.cell * (1.0 + s), scale_atoms=True)
        a.calc = calc
        if st.strain_relax_steps > 0:
            FIRE(a, logfile=None).run(fmax=st.fmax_eV_A, steps=st.strain_relax_steps)
        out.append(_bare(a, f"{name}/ev{s:+.3f}"))
    return out


def hop_pairs(atoms: Atoms, n: int, max_hop_A: float, avoid_first: bool = True) -> list[tuple[int, int]]:
    """Up to ``n`` (vacancy Li, hopping Li) index pairs: vacancies spread over the Li list, each with its
    nearest Li neighbour within ``max_hop_A``. The first Li (the barrier gate's vacancy) is skipped."""
    li = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "Li"]
    candidates = li[1:] if avoid_first else li
    if len(li) < 2 or not candidates or n <= 0:
        return []
    picks = sorted({candidates[int(k)] for k in np.linspace(0, len(candidates) - 1, min(n, len(candidates)))})
    pairs = []
    for vac in picks:
        others = [j for j in li if j != vac]
        d = atoms.get_distances(vac, others, mic=True)
        k = int(np.argmin(d))
        if d[k] <= max_hop_A:
            pairs.append((vac, others[k]))
    return pairs


def vacancy_hop(atoms: Atoms, vac: int, hopper: int) -> tuple[Atoms, Atoms]:
    """(initial, final) of a vacancy hop: atom ``vac`` removed, then atom ``hopper`` moved onto its
    site (minimum image), everything else in place."""
    shift = atoms.get_distance(hopper, vac, mic=True, vector=True)
    initial = atoms.copy()
    del initial[vac]
    final = initial.copy()
    final.positions[hopper - 1 if hopper > vac else hopper] = atoms.positions[hopper] + shift
    return initial, final


def hop_anchors(relaxed: Atoms, calc, name: str, st: AnchorSettings) -> list[Atoms]:
    """Relaxed endpoints and IDPP images of Li vacancy hops in the relaxed cell."""
    from ase.mep import NEB
    from ase.optimize import FIRE

    out = []
    for vac, hopper in hop_pairs(relaxed, st.hops, st.max_hop_A):
        initial, final = vacancy_hop(relaxed, vac, hopper)
        ends = []
        for tag, a in (("ini", initial), ("fin", final)):
            a.calc = calc
            if st.strain_relax_steps > 0:
                FIRE(a, logfile=None).run(fmax=st.fmax_eV_A, steps=st.strain_relax_steps)
            ends.append(a)
        images = [ends[0].copy() for _ in range(st.hop_images + 1)] + [ends[1].copy()]
        NEB(images, method="improvedtangent").interpolate(method="idpp", mic=True)
        tag = f"{name}/hop{vac}-{hopper}"
        out.extend(_bare(im, f"{tag}/{k}") for k, im in enumerate(images))
    return out


def anchor_structures(atoms: Atoms, calc, name: str, st: AnchorSettings) -> list[Atoms]:
    """Every anchor of one bulk phase (unlabelled, ``info['origin']`` says which kind)."""
    path, relaxed = relaxation_anchors(atoms, calc, name, st)
    out = path + strain_anchors(relaxed, calc, name, st)
    if "Li" in relaxed.get_chemical_symbols():
        out += hop_anchors(relaxed, calc, name, st)
    return out


def run_anchor_task(structure_path: str, teacher, settings: AnchorSettings, name: str, task_dir: str) -> dict:
    """Workflow task: anchors of one phase with the teacher, written to ``task_dir/anchors.xyz``."""
    from interforge.teacher import make_calculator

    atoms = read(structure_path)
    frames = anchor_structures(atoms, make_calculator(teacher), name, settings)
    path = Path(task_dir) / "anchors.xyz"
    with atomic_path(path) as tmp:
        write(tmp, frames, format="extxyz")
    return {"path": str(path.resolve()), "n": len(frames)}
