"""Periodic neighbour search between two groups of atoms (Å)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def is_orthorhombic(cell: np.ndarray, tol: float = 1e-8) -> bool:
    return bool(np.all(np.abs(cell - np.diag(np.diag(cell))) < tol))


def pairs_within(pos_a: np.ndarray, pos_b: np.ndarray, cell: np.ndarray, cutoff: float,
                 same: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (i in a, j in b) closer than ``cutoff`` Å under periodic boundaries.

    Returns (i, j, vec) with vec (P, 3) = minimum-image b_j − a_i, Å. ``same``: a and b are the same
    group (self pairs dropped). Orthorhombic cells use a periodic k-d tree; others fall back to
    ASE's general neighbour list.
    """
    cell = np.asarray(cell, float)
    if is_orthorhombic(cell):
        box = np.diag(cell).copy()
        a = np.mod(pos_a, box)
        b = a if same else np.mod(pos_b, box)
        # cKDTree wants coordinates strictly below the box length
        a[a >= box] = 0.0
        if not same:
            b[b >= box] = 0.0
        ta = cKDTree(a, boxsize=box)
        tb = ta if same else cKDTree(b, boxsize=box)
        sp = ta.sparse_distance_matrix(tb, cutoff, output_type="ndarray")
        i, j = sp["i"].astype(np.int64), sp["j"].astype(np.int64)
        if same:
            keep = i != j
            i, j = i[keep], j[keep]
        vec = b[j] - a[i]
        vec -= np.rint(vec / box) * box
        return i, j, vec
    from ase.neighborlist import primitive_neighbor_list

    na = len(pos_a)
    allpos = pos_a if same else np.vstack([pos_a, pos_b])
    ii, jj, dd = primitive_neighbor_list("ijD", (True, True, True), cell, allpos, cutoff)
    if same:
        return ii, jj, dd
    keep = (ii < na) & (jj >= na)
    return ii[keep], jj[keep] - na, dd[keep]
