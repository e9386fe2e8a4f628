"""Build the small teacher-labelled Li–Zr–Cl–O set used by the NEP training tests.

Run once (``python tests/data/nep/make_teacher_set.py``) or let the session fixture in
tests/test_nep_training.py call :func:`build` when ``teacher_set.extxyz`` is missing.
Structures: rattled (σ 0.03–0.12 Å) and strained (±3 %) copies of ordered alpha-Li2ZrCl6
(27 atoms), ideal-Li2ZrCl6 (18 atoms) and m-ZrO2 2x1x1 (24 atoms); labels from CHGNet 0.3.0
(the weights shipped in the chgnet wheel; energy eV, forces eV/Å, stress eV/Å³). No network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TEACHER_SET = HERE / "teacher_set.extxyz"
PHASES = (("alpha-Li2ZrCl6", True, (1, 1, 1)), ("ideal-Li2ZrCl6", False, (1, 1, 1)), ("m-ZrO2", False, (2, 1, 1)))


def build(path: Path = TEACHER_SET, per_phase: int = 20, seed: int = 7) -> Path:
    import torch
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write
    from chgnet.model.dynamics import CHGNetCalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    from interforge.structures import build_bulk

    torch.set_num_threads(1)
    calc = CHGNetCalculator(use_device="cpu")
    rng = np.random.default_rng(seed)
    frames = []
    for name, ordered, rep in PHASES:
        struct, _ = build_bulk(name, ordered=ordered, supercell=list(rep))
        base = AseAtomsAdaptor.get_atoms(struct)
        for _ in range(per_phase):
            atoms = base.copy()
            strain = np.eye(3) + rng.uniform(-0.03, 0.03, (3, 3)) * np.array([[1, .3, .3], [.3, 1, .3], [.3, .3, 1]])
            strain = 0.5 * (strain + strain.T)
            atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
            atoms.positions += rng.normal(0.0, rng.uniform(0.03, 0.12), atoms.positions.shape)
            atoms.calc = calc
            e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
            atoms.calc = SinglePointCalculator(atoms, energy=float(e), forces=f.copy(), stress=s.copy())
            atoms.info["phase"] = name
            frames.append(atoms)
    write(path, frames, format="extxyz")
    return path


if __name__ == "__main__":
    print(build())
