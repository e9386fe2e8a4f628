"""Coordination polyhedra: coordination number, convex-hull volume and continuous shape measure.

CSM (0–100) of a polyhedron Q (ligands + centre) against a reference shape P:

    S(Q, P) = 100 · min over ligand permutations π, rotations R and scale s of
              Σ_i |q_i − s R p_π(i)|² / Σ_i |q_i − q̄|²        (both centred on their centroids)

For fixed π the minimum over s and R is closed-form: with M = Σ p_π(i) q_iᵀ and singular values
σ1 ≥ σ2 ≥ σ3 (σ3 signed so that R is a proper rotation), S = 100 (1 − (σ1+σ2+σ3)² / (|P|² |Q|²)).
The centre atom is included and kept fixed, as in cosymlib's ``central_atom`` mode. Permutations
that differ by a proper rotation of the reference are equivalent, so only one per class is
evaluated (e.g. 30 of 720 for the octahedron). Reference geometries are cosymlib's SHAPE set
(``cosymlib.shape.tools``, an installed dependency) and are loaded at first use; results agree with
cosymlib to round-off (tests/test_analysis_polyhedra.py).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.spatial import ConvexHull
from scipy.spatial import QhullError

log = logging.getLogger(__name__)

#: Reference shapes per coordination number (cosymlib/SHAPE labels).
SHAPES = {
    4: ("SP-4", "T-4", "SS-4", "vTBPY-4"),
    5: ("PP-5", "vOC-5", "TBPY-5", "SPY-5", "JTBPY-5"),
    6: ("HP-6", "PPY-6", "OC-6", "TPR-6", "JPPY-6"),
}


def _kabsch_proper_residual(p: np.ndarray, q: np.ndarray) -> float:
    m = p.T @ q
    u, s, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    return float((p ** 2).sum() + (q ** 2).sum() - 2 * (s[0] + s[1] + d * s[2]))


@lru_cache(maxsize=None)
def reference_shape(label: str) -> tuple[np.ndarray, np.ndarray]:
    """(P, perms): centred reference coordinates (n+1, 3), centre last, and the permutation classes
    (K, n) of its n ligands that are distinct up to proper rotations of the reference."""
    from cosymlib.shape.tools import get_reference_structure

    n = int(label.rsplit("-", 1)[1])
    p = np.asarray(get_reference_structure(label, central_atom=n + 1).get_positions(), dtype=float)
    p = p - p.mean(axis=0)
    scale = np.sqrt((p ** 2).sum())
    p = p / scale
    all_perms = list(itertools.permutations(range(n)))
    # Rotational automorphisms: ligand permutations sigma with P[sigma] = R P for a proper R.
    group = []
    for sigma in all_perms:
        ps = np.vstack([p[list(sigma)], p[n:]])
        if _kabsch_proper_residual(ps, p) < 1e-8:
            group.append(sigma)
    seen: set = set()
    reps = []
    for pi in all_perms:
        if pi in seen:
            continue
        reps.append(pi)
        for sigma in group:
            seen.add(tuple(sigma[k] for k in pi))
    return p, np.asarray(reps, dtype=np.int64)


def csm(ligands: np.ndarray, label: str, centre: np.ndarray | None = None) -> float:
    """CSM (0–100) of ligand positions (n, 3) Å around ``centre`` (default origin) against ``label``."""
    return float(csm_batch(np.asarray(ligands, float)[None] - (0 if centre is None else centre), label)[0])


def csm_batch(vectors: np.ndarray, label: str) -> np.ndarray:
    """CSM of many polyhedra with the same CN: vectors (M, n, 3) centre→ligand, Å. Returns (M,)."""
    p, perms = reference_shape(label)
    v = np.asarray(vectors, float)
    m_poly, n = v.shape[0], v.shape[1]
    q = np.concatenate([v, np.zeros((m_poly, 1, 3))], axis=1)
    q -= q.mean(axis=1, keepdims=True)
    qq = (q ** 2).sum(axis=(1, 2))
    # M[m, k] = sum_i p[perm_k(i)] q_m[i]^T, ligand terms plus the fixed centre term
    pp = p[perms]  # (K, n, 3)
    mat = np.einsum("kia,mib->mkab", pp, q[:, :n]) + np.einsum("a,mb->mab", p[n], q[:, n])[:, None]
    u, s, vt = np.linalg.svd(mat)
    d = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    tr = s[..., 0] + s[..., 1] + d * s[..., 2]
    best = tr.max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 100.0 * (1.0 - best ** 2 / qq)  # |P|² = 1 by construction
    return np.clip(out, 0.0, 100.0)


def best_shape(vectors: np.ndarray, cn: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum CSM over the CN's reference shapes and the winning shape label, for (M, cn, 3) vectors."""
    labels = SHAPES[cn]
    vals = np.stack([csm_batch(vectors, lab) for lab in labels])
    k = vals.argmin(axis=0)
    return vals[k, np.arange(vals.shape[1])], np.asarray(labels)[k]


def hull_volume(vectors: np.ndarray) -> float:
    """Convex-hull volume (Å³) of the ligands (centre→ligand vectors, (n, 3)); 0 when flat or n < 4."""
    if len(vectors) < 4:
        return 0.0
    try:
        return float(ConvexHull(vectors).volume)
    except QhullError:
        return 0.0


@dataclass
class Polyhedron:
    """One coordination polyhedron: frame, centre atom index, species, CN, hull volume (Å³), CSM
    (0–100, NaN when no reference shapes exist for this CN), shape label and region."""

    frame: int
    index: int
    species: str
    cn: int
    volume_A3: float
    csm: float
    shape: str
    region: str = "bulk"

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def polyhedra(centres: np.ndarray, ligands: np.ndarray, cell: np.ndarray, cutoff: float, centre_index: np.ndarray,
              species: str, frame: int = 0, regions: np.ndarray | None = None) -> list[Polyhedron]:
    """Polyhedra of all centres (N, 3) Å with ligands (M, 3) Å within ``cutoff`` Å in one frame."""
    from interforge.analysis.neighbours import pairs_within

    i, _, vec = pairs_within(centres, ligands, cell, cutoff)
    order = np.argsort(i, kind="stable")
    i, vec = i[order], vec[order]
    cn = np.bincount(i, minlength=len(centres))
    starts = np.concatenate([[0], np.cumsum(cn)])
    vol = np.array([hull_volume(vec[starts[k]:starts[k + 1]]) for k in range(len(centres))])
    csm_v = np.full(len(centres), np.nan)
    shape = np.full(len(centres), "", dtype=object)
    for c in SHAPES:
        sel = np.flatnonzero(cn == c)
        if len(sel):
            v = np.stack([vec[starts[k]:starts[k + 1]] for k in sel])
            csm_v[sel], shape[sel] = best_shape(v, c)
    reg = regions if regions is not None else np.full(len(centres), "bulk")
    return [Polyhedron(int(frame), int(centre_index[k]), species, int(cn[k]), float(vol[k]),
                       float(csm_v[k]), str(shape[k]), str(reg[k])) for k in range(len(centres))]
