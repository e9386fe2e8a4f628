"""Compact supercells of a target size (production MD, the validation's NPT cells, paper-scale inputs)."""

from __future__ import annotations

import math

from ase import Atoms


def supercell_repeats(atoms: Atoms, target_atoms: int, max_repeat: int = 40) -> tuple[int, int, int]:
    """Repeats (a, b, c) whose atom count is closest to ``target_atoms``; among equals, the most
    compact cell (smallest ratio of its longest to its shortest perpendicular width)."""
    import itertools

    import numpy as np

    n0 = len(atoms)
    widths = atoms.cell.volume / np.linalg.norm(np.cross(atoms.cell[[1, 2, 0]], atoms.cell[[2, 0, 1]]), axis=1)
    best, key = (1, 1, 1), None
    limit = max(1, min(max_repeat, math.ceil(2 * target_atoms / n0)))
    for reps in itertools.product(range(1, limit + 1), repeat=3):
        n = n0 * reps[0] * reps[1] * reps[2]
        if n > 2 * target_atoms and reps != (1, 1, 1):
            continue
        w = widths * np.array(reps)
        k = (abs(n - target_atoms), round(float(w.max() / w.min()), 6), reps)
        if key is None or k < key:
            best, key = reps, k
    return best


def supercell_for(atoms: Atoms, target_atoms: int) -> Atoms:
    """``atoms`` repeated to the compact supercell with the atom count closest to ``target_atoms``."""
    return atoms.repeat(supercell_repeats(atoms, target_atoms))
