"""Lattice matching of two bulk phases over Miller indices (Zur–McGill, pymatgen's ZSL generator).

For every pair of symmetry-distinct plane families (index ≤ ``max_miller`` in the conventional or the
primitive basis, see :mod:`interforge.interfaces.planes`) the 2D lattices of both planes are matched
with :class:`pymatgen.analysis.interfaces.zsl.ZSLGenerator` under an area limit (Å²) and length and
angle strain limits (fractions). Matches that are the same super-lattice, or whole-number multiples
of a smaller match of the same plane pair, are merged. Strain is that of the film stretched onto the
substrate (the film takes the strain by default when cells are built).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from pymatgen.analysis.interfaces.zsl import ZSLGenerator
from pymatgen.core import Structure

from interforge.errors import InterforgeError, StructureError
from interforge.interfaces.planes import (
    OrientedCell, PlaneFamily, oriented_cell, plane_families, primitive_structure, primitive_transformation,
)
from interforge.interfaces.terminations import Termination, find_terminations

log = logging.getLogger(__name__)


class NoMatchError(InterforgeError):
    """No lattice match exists within the requested limits."""


@dataclass
class BulkInput:
    """One side of an interface.

    structure: the conventional cell (may be disordered) that defines Miller indices and symmetry.
    ordered: an ordered cell on the same lattice (same basis), used for terminations and building;
    defaults to ``structure`` when that is ordered.
    energy_per_atom_eV: bulk reference energy with the ranking calculator (set by relaxation).
    """

    name: str
    structure: Structure
    ordered: Structure | None = None
    energy_per_atom_eV: float | None = None
    source: str = "library"

    def __post_init__(self):
        if self.ordered is None:
            if not self.structure.is_ordered:
                raise StructureError(f"phase '{self.name}' is disordered; give an ordered cell on the same lattice")
            self.ordered = self.structure
        if not np.allclose(self.ordered.lattice.matrix, self.structure.lattice.matrix, atol=1e-3):
            raise StructureError(f"phase '{self.name}': the ordered cell must share the conventional cell's lattice")


def miller_str(hkl) -> str:
    """(1, -1, 5) -> '1 -1 5'."""
    return " ".join(str(int(x)) for x in hkl)


@dataclass
class Candidate:
    """One lattice-matched orientation pair with its super-cells and terminations.

    Millers are tuples in the conventional basis (``*_miller``) and the primitive basis
    (``*_miller_primitive``). area_A2: matched interface area, Å². max_strain: the largest relative
    length change of the two film super-lattice vectors (fraction). angle_strain: relative change of
    the angle between them (fraction). principal_strain: largest principal in-plane strain of the full
    2D deformation (fraction). *_supercell: 2×2 integer matrices giving the matched vectors in terms of
    the oriented cells' in-plane vectors. *_vectors: matched super-lattice vectors (Å, each side's frame).
    interface_energy_J_m2: set by ranking (None before).
    """

    id: str
    substrate: str
    film: str
    substrate_miller: tuple[int, int, int]
    film_miller: tuple[int, int, int]
    substrate_miller_primitive: tuple[int, int, int]
    film_miller_primitive: tuple[int, int, int]
    area_A2: float
    max_strain: float
    angle_strain: float
    principal_strain: float
    substrate_supercell: list[list[int]]
    film_supercell: list[list[int]]
    substrate_vectors: list[list[float]]
    film_vectors: list[list[float]]
    n_substrate_cells: int
    n_film_cells: int
    terminations: list[dict] = field(default_factory=list)
    interface_energy_J_m2: float | None = None
    termination_index: int | None = None

    @property
    def pair(self) -> str:
        """The orientation pair, e.g. 'c-ZrO2 (1 1 1) / ideal-Li2ZrCl6 (0 0 1)'."""
        return f"{self.substrate} ({miller_str(self.substrate_miller)}) / {self.film} ({miller_str(self.film_miller)})"

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("substrate_miller", "film_miller", "substrate_miller_primitive", "film_miller_primitive"):
            d[key] = list(d[key])
        d["pair"] = self.pair
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Candidate":
        names = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in d.items() if k in names}
        for key in ("substrate_miller", "film_miller", "substrate_miller_primitive", "film_miller_primitive"):
            kw[key] = tuple(int(x) for x in kw[key])
        return cls(**kw)


@dataclass
class PlaneData:
    family: PlaneFamily
    cell: OrientedCell          # of the symmetric structure (lattice used for matching)
    terminations: list[Termination]


def plane_data(bulk: BulkInput, max_miller: int, max_terminations: int = 3) -> list[PlaneData]:
    """Oriented cells and terminations of every distinct plane family of ``bulk``."""
    m = primitive_transformation(bulk.structure)
    m_ord = primitive_transformation(bulk.ordered)
    if not np.allclose(m, m_ord):
        raise StructureError(f"phase '{bulk.name}': ordering removed a lattice centring; order in a primitive setting")
    prim = primitive_structure(bulk.structure, m)
    prim_ord = primitive_structure(bulk.ordered, m)
    out = []
    for fam in plane_families(bulk.structure, max_miller):
        cell = oriented_cell(prim, fam.primitive)
        cell_ord = oriented_cell(prim_ord, fam.primitive)
        out.append(PlaneData(fam, cell, find_terminations(cell_ord, max_terminations)))
    return out


def _angle(v1, v2) -> float:
    return float(np.arccos(np.clip(v1 @ v2 / np.linalg.norm(v1) / np.linalg.norm(v2), -1, 1)))


def _frame2d(vectors: np.ndarray) -> np.ndarray:
    """2×2 rows: the two vectors in their own plane's frame (first along x, second with y > 0)."""
    v1, v2 = np.asarray(vectors, dtype=float)
    e1 = v1 / np.linalg.norm(v1)
    n = np.cross(v1, v2)
    e2 = np.cross(n / np.linalg.norm(n), e1)
    return np.array([[v1 @ e1, 0.0], [v2 @ e1, v2 @ e2]])


def _int_solve(sl: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Integer T with sl = T @ basis (both 2×3)."""
    t = sl @ np.linalg.pinv(basis)
    ti = np.round(t).astype(int)
    if not np.allclose(ti, t, atol=1e-4):
        raise StructureError("matched super-lattice is not a whole-number combination of the plane's vectors")
    return ti


def _is_multiple(big_f, big_s, small_f, small_s) -> bool:
    """True if (big_f, big_s) is the same integer super-cell N of (small_f, small_s) on both sides."""
    n = big_f @ np.linalg.inv(small_f)
    if not np.allclose(n, np.round(n), atol=1e-6):
        return False
    return np.allclose(np.round(n) @ small_s, big_s, atol=1e-6)


def match_planes(sub: PlaneData, film: PlaneData, zsl: ZSLGenerator, max_matches: int) -> list[dict]:
    """Distinct matches of one plane pair, smallest area first (plain dicts of numbers)."""
    f_vecs = film.cell.in_plane
    s_vecs = sub.cell.in_plane
    kept: list[dict] = []
    seen = set()
    for match in zsl(f_vecs, s_vecs, lowest=False):
        fsl = np.array(match.film_sl_vectors, dtype=float)
        ssl = np.array(match.substrate_sl_vectors, dtype=float)
        tf = _int_solve(fsl, f_vecs)
        ts = _int_solve(ssl, s_vecs)
        # Work in coefficient space (frame-independent): does a smaller kept match tile this one?
        if any(_is_multiple(tf.astype(float), ts.astype(float), np.array(k["film_supercell"], float),
                            np.array(k["substrate_supercell"], float)) for k in kept):
            continue
        area = float(np.linalg.norm(np.cross(ssl[0], ssl[1])))
        lengths = np.linalg.norm(ssl, axis=1)
        eps = np.linalg.norm(ssl, axis=1) / np.linalg.norm(fsl, axis=1) - 1.0
        ang_f, ang_s = _angle(*fsl), _angle(*ssl)
        a_f, a_s = _frame2d(fsl), _frame2d(ssl)
        stretch = np.linalg.svd(np.linalg.solve(a_f, a_s), compute_uv=False)
        sig = (round(area, 1), tuple(np.round(np.sort(lengths), 2)), round(min(ang_s, np.pi - ang_s), 3),
               tuple(np.round(np.sort(np.abs(eps)), 4)))
        if sig in seen:
            continue
        seen.add(sig)
        kept.append({
            "area_A2": area, "max_strain": float(np.max(np.abs(eps))),
            "angle_strain": float((ang_s - ang_f) / ang_f),
            "principal_strain": float(np.max(np.abs(stretch - 1.0))),
            "substrate_supercell": ts.tolist(), "film_supercell": tf.tolist(),
            "substrate_vectors": ssl.tolist(), "film_vectors": fsl.tolist(),
            "n_substrate_cells": int(round(abs(np.linalg.det(ts)))), "n_film_cells": int(round(abs(np.linalg.det(tf)))),
        })
    kept.sort(key=lambda k: (k["area_A2"], k["max_strain"]))
    return kept[:max_matches]


def _mid(hkl) -> str:
    return "".join(f"m{-x}" if x < 0 else str(x) for x in hkl)


def search(
    substrate: BulkInput,
    film: BulkInput,
    max_miller: int = 2,
    max_area: float = 200.0,
    max_strain: float = 0.01,
    max_angle_strain: float = 0.01,
    max_matches_per_pair: int = 1,
    max_terminations: int = 3,
    max_area_ratio_tol: float = 0.09,
) -> list[Candidate]:
    """All lattice-matched orientation pairs of ``film`` on ``substrate`` within the limits.

    max_area: Å²; max_strain, max_angle_strain: fractions (0.01 = 1 %). Returns candidates sorted by
    area then strain; raises :class:`NoMatchError` with the limits in the message when none exist.
    """
    if max_area <= 0 or max_strain <= 0 or max_angle_strain < 0:
        raise InterforgeError(f"impossible limits: max_area={max_area} Å², max_strain={max_strain}, "
                              f"max_angle_strain={max_angle_strain} (all must be positive)")
    zsl = ZSLGenerator(max_area_ratio_tol=max_area_ratio_tol, max_area=max_area,
                       max_length_tol=max_strain, max_angle_tol=max_angle_strain)
    subs = plane_data(substrate, max_miller, max_terminations)
    films = plane_data(film, max_miller, max_terminations)
    t0 = time.perf_counter()
    candidates: list[Candidate] = []
    n_pairs = len(subs) * len(films)
    for i, s in enumerate(subs):
        for f in films:
            for j, m in enumerate(match_planes(s, f, zsl, max_matches_per_pair)):
                terms = [{"substrate": ts.to_dict(), "film": tf.to_dict(), "label": f"{ts.label} | {tf.label}"}
                         for ts in s.terminations for tf in f.terminations]
                cid = (f"{substrate.name}_{_mid(s.family.conventional)}__{film.name}_{_mid(f.family.conventional)}"
                       f"__{j}")
                candidates.append(Candidate(
                    id=cid, substrate=substrate.name, film=film.name,
                    substrate_miller=s.family.conventional, film_miller=f.family.conventional,
                    substrate_miller_primitive=s.family.primitive, film_miller_primitive=f.family.primitive,
                    terminations=terms, **m))
        done = (i + 1) * len(films)
        rate = done / max(time.perf_counter() - t0, 1e-9)
        log.debug("%s/%s: %d/%d plane pairs (%.0f/s, ETA %.0f s), %d matches", substrate.name, film.name, done,
                 n_pairs, rate, (n_pairs - done) / rate, len(candidates))
    log.info("%s/%s: %d plane pairs in %.1f s, %d matches", substrate.name, film.name, n_pairs,
             time.perf_counter() - t0, len(candidates))
    if not candidates:
        raise NoMatchError(
            f"no lattice match of {film.name} on {substrate.name} with Miller <= {max_miller}, area <= {max_area:g} Å², "
            f"length strain <= {100 * max_strain:g} % and angle strain <= {100 * max_angle_strain:g} %; relax the limits")
    candidates.sort(key=lambda c: (c.area_A2, c.max_strain))
    return candidates
