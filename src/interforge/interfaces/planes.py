"""Lattice planes: primitive cells, Miller indices in both bases, symmetry families, oriented cells.

Miller indices are given in the basis of the cell the user supplies (the library's conventional cell,
called *conventional* throughout) and in the basis of the primitive cell derived from it by removing
lattice centring (F, I, C, A, B or R). The in-plane 2D lattice of a plane is always that of the full
translation lattice (the primitive one): matching a face-centred cubic (111) plane with conventional
vectors only would miss the small 3.6 Å cell and its √3×√3 R30° supercells.

All lengths are Å.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import reduce

import numpy as np
from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from interforge.errors import StructureError

#: Candidate centring transformations (rows: primitive vectors in the conventional basis).
CENTRINGS: dict[str, np.ndarray] = {
    "F": np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]),
    "I": np.array([[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]]),
    "C": np.array([[0.5, -0.5, 0], [0.5, 0.5, 0], [0, 0, 1.0]]),
    "A": np.array([[1.0, 0, 0], [0, 0.5, -0.5], [0, 0.5, 0.5]]),
    "B": np.array([[0.5, 0, -0.5], [0, 1.0, 0], [0.5, 0, 0.5]]),
    "R": np.array([[2 / 3, 1 / 3, 1 / 3], [-1 / 3, 1 / 3, 1 / 3], [-1 / 3, -2 / 3, 1 / 3]]),
}


def _is_translation(struct: Structure, vec_frac: np.ndarray, tol: float = 1e-3) -> bool:
    """True if translating every site by ``vec_frac`` (conventional fractions) maps the structure onto itself."""
    frac = struct.frac_coords
    labels = [site.species_string for site in struct]
    moved = frac + vec_frac
    diff = moved[:, None, :] - frac[None, :, :]
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ struct.lattice.matrix, axis=2)
    for i, row in enumerate(dist):
        j = int(row.argmin())
        if row[j] > tol * 10 or labels[i] != labels[j]:
            return False
    return True


def primitive_transformation(struct: Structure) -> np.ndarray:
    """The 3×3 matrix M (rows = primitive vectors in the conventional basis) of the lattice centring.

    Identity when the cell is primitive. Found by testing which centring's vectors are translations
    of the structure, so it works for any setting in which the centring is a standard one.
    """
    best = np.eye(3)
    for m in CENTRINGS.values():
        if all(_is_translation(struct, row) for row in m) and abs(np.linalg.det(m)) < abs(np.linalg.det(best)) - 1e-9:
            best = m
    return best


def primitive_structure(struct: Structure, m: np.ndarray) -> Structure:
    """The primitive cell spanned by ``m @ lattice``, holding len(struct)·det(m) sites."""
    lat = Lattice(m @ struct.lattice.matrix)
    frac = np.mod(struct.frac_coords @ np.linalg.inv(m), 1.0)
    keep: list[int] = []
    for i, f in enumerate(frac):
        if not any(np.linalg.norm(((f - frac[j]) - np.round(f - frac[j])) @ lat.matrix) < 1e-3 for j in keep):
            keep.append(i)
    n_expected = round(len(struct) * abs(np.linalg.det(m)))
    if len(keep) != n_expected:
        raise StructureError(f"primitive cell has {len(keep)} sites, expected {n_expected}")
    sites = [struct[i] for i in keep]
    return Structure(lat, [s.species for s in sites], frac[keep], site_properties=None)


def _reduce_int(v) -> tuple[int, int, int]:
    """Smallest integer vector parallel to ``v`` (v may hold simple fractions)."""
    v = np.asarray(v, dtype=float)
    for scale in (1, 2, 3, 4, 6, 12):
        w = v * scale
        if np.allclose(w, np.round(w), atol=1e-6):
            w = np.round(w).astype(int)
            g = reduce(math.gcd, (abs(int(x)) for x in w))
            if g == 0:
                raise StructureError("zero Miller index")
            return tuple(int(x) // g for x in w)
    raise StructureError(f"cannot make {v} an integer Miller index")


def miller_to_primitive(hkl, m: np.ndarray) -> tuple[int, int, int]:
    """Conventional Miller index → primitive basis (h_p = M h_c, reduced)."""
    return _reduce_int(m @ np.asarray(hkl, dtype=float))


def miller_to_conventional(hkl_p, m: np.ndarray) -> tuple[int, int, int]:
    """Primitive Miller index → conventional basis (h_c = M⁻¹ h_p, reduced)."""
    return _reduce_int(np.linalg.solve(m, np.asarray(hkl_p, dtype=float)))


@dataclass(frozen=True)
class PlaneFamily:
    """A family of symmetry-equivalent planes, with the representative reported to the user.

    The representative minimises the largest primitive index first (so the cubic {115} family is
    reported as conventional (-1 -1 5) = primitive (2 2 -1), the paper's "(22-1)"), then the largest
    conventional index, then prefers positive indices.
    """

    conventional: tuple[int, int, int]
    primitive: tuple[int, int, int]
    members: int


def _point_group_frac(struct: Structure, symprec: float) -> list[np.ndarray]:
    ops = SpacegroupAnalyzer(struct, symprec=symprec).get_symmetry_operations(cartesian=False)
    mats = {tuple(np.round(op.rotation_matrix).astype(int).ravel()) for op in ops}
    return [np.array(k, dtype=int).reshape(3, 3) for k in mats]


def plane_families(struct: Structure, max_miller: int, symprec: float = 1e-3) -> list[PlaneFamily]:
    """Symmetry-distinct plane families with some index ≤ ``max_miller`` in either basis.

    (hkl) and (-h-k-l) are the same plane orientation and belong to one family.
    """
    if max_miller < 1:
        raise StructureError(f"max Miller index must be >= 1, got {max_miller}")
    m = primitive_transformation(struct)
    rots = _point_group_frac(struct, symprec)
    inv_rots = [np.round(np.linalg.inv(r)).astype(int) for r in rots]
    rng = range(-max_miller, max_miller + 1)
    seeds: set[tuple[int, int, int]] = set()
    for h in itertools.product(rng, rng, rng):
        if h == (0, 0, 0):
            continue
        seeds.add(_reduce_int(h))
        seeds.add(miller_to_conventional(h, m))
    families: dict[tuple, list[tuple[int, int, int]]] = {}
    for h in seeds:
        # A plane h transforms as a row vector: h' = h R⁻¹ under x' = R x.
        orbit = {_reduce_int(np.array(h) @ r) for r in inv_rots}
        orbit |= {tuple(-x for x in o) for o in orbit}
        key = min(orbit)
        families.setdefault(key, sorted(orbit))
    result = []
    for orbit in families.values():
        def score(hc):
            hp = miller_to_primitive(hc, m)
            return (max(abs(x) for x in hp), max(abs(x) for x in hc), sum(x < 0 for x in hp) + sum(x < 0 for x in hc),
                    tuple(-x for x in hp), tuple(-x for x in hc))
        rep = min(orbit, key=score)
        result.append(PlaneFamily(rep, miller_to_primitive(rep, m), len(orbit)))
    result.sort(key=lambda f: (max(abs(x) for x in f.primitive), f.conventional))
    return result


@dataclass
class OrientedCell:
    """A primitive-volume cell whose first two vectors span the plane (Å, Cartesian, rows).

    ``structure``: the cell's atoms; ``transform``: integer U with lattice = U @ primitive lattice;
    ``height``: spacing of the plane's lattice layers (the c vector's component along the normal), Å.
    """

    structure: Structure
    transform: np.ndarray
    height: float

    @property
    def in_plane(self) -> np.ndarray:
        return self.structure.lattice.matrix[:2]


def _gauss_reduce(u: np.ndarray, v: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lagrange–Gauss reduction of two integer vectors (prim basis) by their Cartesian lengths."""
    for _ in range(100):
        cu, cv = u @ lat, v @ lat
        if cu @ cu > cv @ cv:
            u, v, cu, cv = v, u, cv, cu
        k = int(round((cu @ cv) / (cu @ cu)))
        if k == 0:
            break
        v = v - k * u
    return u, v


def oriented_cell(prim: Structure, hkl_p) -> OrientedCell:
    """The oriented unit cell of plane ``hkl_p`` (primitive basis) of the primitive structure ``prim``."""
    h = np.asarray(_reduce_int(hkl_p), dtype=int)
    lat = prim.lattice.matrix
    k = int(max(abs(h))) + 2
    rng = np.arange(-k, k + 1)
    grid = np.array(list(itertools.product(rng, rng, rng)), dtype=int)
    dots = grid @ h
    lengths = np.linalg.norm(grid @ lat, axis=1)
    inplane = grid[(dots == 0) & (lengths > 1e-8)]
    inplane = inplane[np.argsort(np.linalg.norm(inplane @ lat, axis=1), kind="stable")]
    recip = np.linalg.inv(lat).T  # rows b_i with a_i·b_j = δ_ij
    g = h @ recip
    area_min = abs(np.linalg.det(lat)) * np.linalg.norm(g)  # V / d_hkl
    u1 = inplane[0]
    u2 = next(v for v in inplane[1:] if abs(np.linalg.norm(np.cross(u1 @ lat, v @ lat)) - area_min) < 1e-6 * area_min)
    u1, u2 = _gauss_reduce(u1, u2, lat)
    outs = grid[dots == 1]
    # Out-of-plane vector: the one with the smallest in-plane component (c as upright as possible).
    normal = g / np.linalg.norm(g)
    cart = outs @ lat
    tilt = np.linalg.norm(cart - np.outer(cart @ normal, normal), axis=1)
    u3 = outs[int(np.argmin(tilt))]
    U = np.array([u1, u2, u3])
    if np.linalg.det(U) < 0:  # keep the cell right-handed
        U[[0, 1]] = U[[1, 0]]
    new_lat = U @ lat
    frac = np.mod(prim.frac_coords @ np.linalg.inv(U), 1.0)
    frac[np.isclose(frac, 1.0, atol=1e-9)] = 0.0
    struct = Structure(Lattice(new_lat), [s.species for s in prim], frac)
    n = np.cross(new_lat[0], new_lat[1])
    height = float(new_lat[2] @ n / np.linalg.norm(n))
    return OrientedCell(struct, U, height)
