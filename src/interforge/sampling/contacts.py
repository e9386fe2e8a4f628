"""Close-contact filter: discard structures with unphysically short interatomic distances.

Paper (Methods): a candidate is discarded if any pair has ``r_ij < 0.7 × (R_i + R_j)`` with
``R`` the covalent radii of Cordero et al. (2008) — the table ASE ships as
``ase.data.covalent_radii``. Distances include periodic images along the structure's ``pbc``
directions (an atom close to its own image counts too), found with ``ase.neighborlist``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii
from ase.neighborlist import neighbor_list

from interforge.errors import InterforgeError

log = logging.getLogger(__name__)


@dataclass
class ContactReport:
    """Close contacts of one structure.

    ``ok`` is True when no pair is closer than ``factor × (R_i + R_j)``. ``n_violations`` counts
    offending pairs (each unordered pair, image included, once). ``min_ratio`` is the smallest
    ``r_ij / (R_i + R_j)`` among pairs within ``max(factor, 1) × (R_i + R_j)`` (``inf`` when
    there is none), ``worst_pair`` its atoms and ``worst_distance_A`` its distance, Å.
    """

    ok: bool
    n_violations: int
    min_ratio: float
    worst_pair: tuple[int, int] | None = None
    worst_distance_A: float = float("inf")


@dataclass
class ContactFilterResult:
    """``kept`` and ``rejected`` indices (input order) and the :class:`ContactReport` of each structure."""

    kept: list[int]
    rejected: list[int]
    reports: list[ContactReport] = field(default_factory=list)


def radii_of(atoms: Atoms, radii: Mapping[str | int, float] | None = None) -> np.ndarray:
    """Covalent radius of each atom, Å (Cordero 2008 via ASE), with optional per-element overrides."""
    r = covalent_radii[atoms.numbers].astype(float)
    if radii:
        for key, value in radii.items():
            z = key if isinstance(key, (int, np.integer)) else atomic_numbers.get(key)
            if z is None:
                raise InterforgeError(f"unknown element '{key}' in covalent radius overrides")
            if not value > 0:
                raise InterforgeError(f"covalent radius of {key} must be > 0 Å, got {value}")
            r[atoms.numbers == int(z)] = float(value)
    return r


def close_contacts(atoms: Atoms, factor: float = 0.7, radii: Mapping[str | int, float] | None = None) -> ContactReport:
    """Check one structure for pairs closer than ``factor × (R_i + R_j)`` (periodic images included)."""
    if not factor > 0:
        raise InterforgeError(f"close-contact factor must be > 0, got {factor}")
    n = len(atoms)
    if n == 0:
        return ContactReport(ok=True, n_violations=0, min_ratio=float("inf"))
    if np.any(atoms.pbc) and atoms.cell.rank < int(np.sum(atoms.pbc)):
        raise InterforgeError(f"structure {atoms.get_chemical_formula()} is periodic but has no full cell")
    r = radii_of(atoms, radii)
    search = max(factor, 1.0)
    # neighbor_list finds pairs with d < c_i + c_j for per-atom cutoffs c; it lists both (i, j)
    # and (j, i), and self-image pairs (i, i, shift != 0) twice (shift and -shift).
    i, j, d = neighbor_list("ijd", atoms, search * r, self_interaction=False)
    if len(d) == 0:
        return ContactReport(ok=True, n_violations=0, min_ratio=float("inf"))
    ratio = d / (r[i] + r[j])
    bad = ratio < factor
    n_bad = int(np.sum(bad)) // 2
    k = int(np.argmin(ratio))
    return ContactReport(ok=n_bad == 0, n_violations=n_bad, min_ratio=float(ratio[k]),
                         worst_pair=(int(min(i[k], j[k])), int(max(i[k], j[k]))), worst_distance_A=float(d[k]))


def filter_close_contacts(
    structures: Sequence[Atoms], factor: float = 0.7, radii: Mapping[str | int, float] | None = None,
) -> ContactFilterResult:
    """Split ``structures`` into those without close contacts (kept) and with them (rejected)."""
    reports = [close_contacts(a, factor, radii) for a in structures]
    kept = [k for k, rep in enumerate(reports) if rep.ok]
    rejected = [k for k, rep in enumerate(reports) if not rep.ok]
    if rejected:
        log.info("close-contact filter: %d of %d structures rejected (factor %.2f)", len(rejected), len(reports), factor)
    return ContactFilterResult(kept=kept, rejected=rejected, reports=reports)
