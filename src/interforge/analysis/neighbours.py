"""Periodic neighbour search between two groups of atoms (Å), correct in any cell.

Every periodic image within the cutoff is found, also in triclinic cells and in cells narrower than
twice the cutoff (where one atom can see several images of the same neighbour, or images of itself).
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.spatial import cKDTree


def is_orthorhombic(cell: np.ndarray, tol: float = 1e-8) -> bool:
    return bool(np.all(np.abs(cell - np.diag(np.diag(cell))) < tol))


def cell_widths(cell: np.ndarray) -> np.ndarray:
    """Perpendicular widths of the cell (distance between opposite faces), Å, (3,)."""
    cell = np.asarray(cell, float)
    vol = abs(np.linalg.det(cell))
    return vol / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)


def pairs_within(pos_a: np.ndarray, pos_b: np.ndarray, cell: np.ndarray, cutoff: float,
                 same: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (i in a, j in b, image) closer than ``cutoff`` Å under periodic boundaries.

    Returns (i, j, vec) with vec (P, 3) = the image of b_j minus a_i, Å. Each periodic image of b_j within
    the cutoff is a pair of its own, so a small cell yields the same pair several times with different
    vectors (an 8-atom rock-salt cell gives every cation its six anions). ``same``: a and b are the same
    group; the zero vector (an atom with itself) is dropped, its other images are kept.

    Orthorhombic cells at least twice the cutoff wide use scipy's periodic k-d tree (at most one image
    can be in range there); every other cell is searched over explicit images of b.
    """
    cell = np.asarray(cell, float)
    pos_a = np.asarray(pos_a, float)
    pos_b = pos_a if same else np.asarray(pos_b, float)
    if len(pos_a) == 0 or len(pos_b) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3))
    widths = cell_widths(cell)
    if is_orthorhombic(cell) and np.all(widths > 2.0 * cutoff):
        return _pairs_box(pos_a, pos_b, np.diag(cell).copy(), cutoff, same)
    return _pairs_images(pos_a, pos_b, cell, widths, cutoff, same)


def _pairs_box(pos_a, pos_b, box, cutoff, same):
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


def _pairs_images(pos_a, pos_b, cell, widths, cutoff, same):
    """Search a k-d tree of the images of b that can lie within ``cutoff`` of the (wrapped) cell."""
    inv = np.linalg.inv(cell)
    fa = np.mod(pos_a @ inv, 1.0)
    fb = fa if same else np.mod(pos_b @ inv, 1.0)
    a = fa @ cell
    margin = cutoff / widths  # the cutoff in fractional units along each axis
    reach = np.ceil(margin).astype(int)
    img_pos, img_idx, img_shift = [], [], []
    for shift in itertools.product(*(range(-r, r + 1) for r in reach)):
        s = np.asarray(shift, float)
        f = fb + s
        keep = np.all((f > -margin) & (f < 1.0 + margin), axis=1)
        if keep.any():
            img_pos.append(f[keep] @ cell)
            img_idx.append(np.flatnonzero(keep))
            img_shift.append(np.broadcast_to(s, (int(keep.sum()), 3)))
    pts = np.vstack(img_pos)
    idx = np.concatenate(img_idx)
    shifts = np.vstack(img_shift)
    sp = cKDTree(a).sparse_distance_matrix(cKDTree(pts), cutoff, output_type="ndarray")
    i, k = sp["i"].astype(np.int64), sp["j"].astype(np.int64)
    j = idx[k]
    if same:
        keep = ~((i == j) & np.all(shifts[k] == 0.0, axis=1))
        i, j, k = i[keep], j[keep], k[keep]
    vec = pts[k] - a[i]
    order = np.lexsort((j, i))
    return i[order], j[order], vec[order]
