"""Build interface cells from a candidate: stoichiometric blocks, strain, stacking, gap, registration.

Each block is a whole number of oriented unit cells (of the ordered bulk) repeated by the match's
in-plane super-cell, cut at the chosen termination, so its composition is exactly the bulk's. Both
blocks are expressed in a frame with the interface plane as xy; the film's in-plane coordinates are
mapped onto the target in-plane cell (the substrate's by default: the film takes the strain;
``strain_partition`` = 1 gives all the strain to the substrate, 0.5 shares it). Heights are kept.

The periodic cell (default) has c along z and holds two interfaces: substrate top / film bottom and
film top / substrate bottom (through the periodic boundary). With ``vacuum`` > 0 a slab cell with a
single interface and vacuum above the film is built instead. ``gap`` is the distance along z between
the outermost atomic planes of the two blocks (Å); it is widened in 0.1 Å steps until no two atoms
are closer than ``min_contact`` × the sum of their covalent radii.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

from interforge.errors import InterforgeError
from interforge.interfaces.matching import BulkInput, Candidate, _frame2d
from interforge.interfaces.planes import oriented_cell, primitive_structure, primitive_transformation

log = logging.getLogger(__name__)


@dataclass
class Block:
    """One side's block in the interface frame: symbols, positions (Å; xy in-plane, z from 0 up), in-plane cell."""

    symbols: list[str]
    positions: np.ndarray
    cell2d: np.ndarray      # 2×2 rows, Å
    thickness: float        # z extent of the atoms, Å
    n_layers: int           # oriented cells stacked
    height: float           # one oriented cell's height, Å


@dataclass
class InterfaceCell:
    """A built interface.

    atoms: ASE Atoms (array ``block``: 0 substrate, 1 film). interfaces_z: z of the interface planes, Å
    (two for periodic cells, one for slabs). gap_A: gap actually used. min_contact_ratio: smallest
    d_ij / (R_i + R_j) across the cell. area_A2: in-plane area.
    """

    atoms: Atoms
    candidate_id: str
    termination_index: int
    interfaces_z: list[float]
    gap_A: float
    min_contact_ratio: float
    area_A2: float
    substrate_formula: str
    film_formula: str
    n_substrate_layers: int
    n_film_layers: int
    lateral_repeats: tuple[int, int]

    def summary(self) -> dict:
        return {
            "candidate": self.candidate_id, "termination_index": self.termination_index, "n_atoms": len(self.atoms),
            "formula": self.atoms.get_chemical_formula(), "substrate_formula": self.substrate_formula,
            "film_formula": self.film_formula, "area_A2": self.area_A2, "gap_A": self.gap_A,
            "interfaces_z_A": self.interfaces_z, "min_contact_ratio": self.min_contact_ratio,
            "cell_A": np.asarray(self.atoms.cell).tolist(), "n_substrate_layers": self.n_substrate_layers,
            "n_film_layers": self.n_film_layers, "lateral_repeats": list(self.lateral_repeats),
        }


def _lattice_points(tmat: np.ndarray) -> np.ndarray:
    """Integer points (as fractions of the primitive cell) inside the super-cell ``tmat`` (3×3 int rows)."""
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) @ tmat
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    grid = np.mgrid[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1].reshape(3, -1).T
    frac = grid @ np.linalg.inv(tmat)
    inside = np.all((frac > -1e-8) & (frac < 1 - 1e-8), axis=1)
    pts = grid[inside]
    n = int(round(abs(np.linalg.det(tmat))))
    if len(pts) != n:
        raise InterforgeError(f"super-cell enumeration found {len(pts)} lattice points, expected {n}")
    return pts


def make_block(bulk: BulkInput, miller_primitive, supercell2d, shift: float, n_layers: int) -> Block:
    """The stoichiometric block of ``bulk`` for a plane, cut at ``shift`` and ``n_layers`` cells thick."""
    m = primitive_transformation(bulk.structure)
    prim = primitive_structure(bulk.ordered, m)
    cell = oriented_cell(prim, miller_primitive)
    lat = cell.structure.lattice.matrix
    frac = np.mod(cell.structure.frac_coords - np.array([0, 0, shift]), 1.0)
    t2 = np.asarray(supercell2d, dtype=int)
    tmat = np.zeros((3, 3), dtype=int)
    tmat[:2, :2] = t2
    tmat[2, 2] = n_layers
    pts = _lattice_points(tmat)
    cart = (frac[None, :, :] + pts[:, None, :]).reshape(-1, 3) @ lat
    symbols = [s.specie.symbol for s in cell.structure] * len(pts)
    sl = t2 @ lat[:2]
    e1 = sl[0] / np.linalg.norm(sl[0])
    e3 = np.cross(sl[0], sl[1])
    e3 /= np.linalg.norm(e3)
    e2 = np.cross(e3, e1)
    pos = cart @ np.array([e1, e2, e3]).T
    # Wrap in-plane into the super-cell so that the block is compact.
    cell2d = _frame2d(sl)
    f2 = pos[:, :2] @ np.linalg.inv(cell2d)
    pos[:, :2] = np.mod(f2, 1.0) @ cell2d
    pos[:, 2] -= pos[:, 2].min()
    return Block(symbols, pos, cell2d, float(pos[:, 2].max()), n_layers, cell.height)


def min_contact_ratio(atoms: Atoms, mask_pairs=None) -> float:
    """Smallest d_ij / (R_i + R_j) (covalent radii) over all pairs within 1.0 × (R_i + R_j)."""
    radii = covalent_radii[atoms.numbers]
    cutoff = {}
    for a in set(atoms.numbers):
        for b in set(atoms.numbers):
            cutoff[(a, b)] = covalent_radii[a] + covalent_radii[b]
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    if len(d) == 0:
        return float("inf")
    return float(np.min(d / (radii[i] + radii[j])))


def build_interface(
    candidate: Candidate,
    substrate: BulkInput,
    film: BulkInput,
    termination: int = 0,
    substrate_layers: int | None = None,
    film_layers: int | None = None,
    substrate_thickness: float = 10.0,
    film_thickness: float = 12.0,
    lateral: tuple[int, int] = (1, 1),
    gap: float = 2.0,
    vacuum: float = 0.0,
    registration: tuple[float, float] = (0.0, 0.0),
    strain_partition: float = 0.0,
    min_contact: float = 0.7,
    max_gap: float = 6.0,
) -> InterfaceCell:
    """Build the interface cell of ``candidate`` with termination number ``termination``.

    Thicknesses (Å) are rounded to whole oriented cells unless ``*_layers`` is given. ``lateral``
    repeats the matched in-plane cell. ``registration`` shifts the film in-plane (fractions of the
    matched cell). ``strain_partition``: share of the misfit taken by the substrate (0 = film takes it).
    """
    if not candidate.terminations:
        raise InterforgeError(f"candidate {candidate.id} lists no terminations")
    if not 0 <= termination < len(candidate.terminations):
        raise InterforgeError(f"termination {termination} out of range 0..{len(candidate.terminations) - 1} "
                              f"for candidate {candidate.id}")
    if not 0.0 <= strain_partition <= 1.0:
        raise InterforgeError(f"strain_partition must be in [0, 1], got {strain_partition}")
    if gap <= 0 or vacuum < 0:
        raise InterforgeError(f"gap must be > 0 and vacuum >= 0 (got gap={gap}, vacuum={vacuum})")
    term = candidate.terminations[termination]
    lat_rep = np.diag(np.asarray(lateral, dtype=int))

    def layers_for(bulk, miller_p, thickness, explicit):
        if explicit is not None:
            if explicit < 1:
                raise InterforgeError(f"layer count must be >= 1, got {explicit}")
            return int(explicit)
        cell = oriented_cell(primitive_structure(bulk.structure, primitive_transformation(bulk.structure)), miller_p)
        return max(1, int(round(thickness / cell.height)))

    n_s = layers_for(substrate, candidate.substrate_miller_primitive, substrate_thickness, substrate_layers)
    n_f = layers_for(film, candidate.film_miller_primitive, film_thickness, film_layers)
    sub = make_block(substrate, candidate.substrate_miller_primitive, lat_rep @ np.array(candidate.substrate_supercell),
                     term["substrate"]["shift"], n_s)
    fil = make_block(film, candidate.film_miller_primitive, lat_rep @ np.array(candidate.film_supercell),
                     term["film"]["shift"], n_f)
    # The candidate was matched on particular bulk cells; building on different ones (another
    # --lattices) changes the strain silently, so say so.
    expected = np.sort(np.linalg.norm(lat_rep @ np.array(candidate.substrate_vectors), axis=1))
    got = np.sort(np.linalg.norm(sub.cell2d, axis=1))
    if np.max(np.abs(got / expected - 1)) > 1e-3:
        log.warning("candidate %s was matched on other substrate cells (in-plane lengths %s vs %s Å); "
                    "use the bulk-cell settings of the search", candidate.id, np.round(got, 3), np.round(expected, 3))
    target = sub.cell2d + strain_partition * (fil.cell2d - sub.cell2d)
    fpos = fil.positions.copy()
    fpos[:, :2] = fpos[:, :2] @ np.linalg.solve(fil.cell2d, target)
    spos = sub.positions.copy()
    spos[:, :2] = spos[:, :2] @ np.linalg.solve(sub.cell2d, target)
    fpos[:, :2] += np.asarray(registration, dtype=float) @ (target / np.array(lateral, dtype=float)[:, None])
    symbols = sub.symbols + fil.symbols
    block = np.array([0] * len(sub.symbols) + [1] * len(fil.symbols))
    area = float(abs(np.linalg.det(target)))

    def assemble(g: float) -> tuple[Atoms, list[float]]:
        z_film0 = sub.thickness + g
        pos = np.vstack([spos, fpos + np.array([0, 0, z_film0])])
        top = z_film0 + fil.thickness
        if vacuum > 0:
            c = top + vacuum
            pbc = (True, True, True)
            iz = [sub.thickness + g / 2]
        else:
            c = top + g
            pbc = (True, True, True)
            iz = [sub.thickness + g / 2, top + g / 2]
        cell = np.zeros((3, 3))
        cell[:2, :2] = target
        cell[2, 2] = c
        atoms = Atoms(symbols=symbols, positions=pos, cell=cell, pbc=pbc)
        atoms.wrap()
        atoms.set_array("block", block)
        return atoms, iz

    g = gap
    while True:
        atoms, iz = assemble(g)
        ratio = min_contact_ratio(atoms)
        if ratio >= min_contact or g >= max_gap:
            break
        g = round(g + 0.1, 6)
    if ratio < min_contact:
        raise InterforgeError(f"atoms closer than {min_contact} x covalent radii even with a {g:.1f} Å gap "
                              f"(ratio {ratio:.2f}); try another registration or termination")
    if g > gap:
        log.info("gap widened from %.2f to %.2f Å to keep contacts >= %.2f x covalent radii", gap, g, min_contact)
    from collections import Counter

    def formula(syms):
        return "".join(f"{el}{n}" for el, n in sorted(Counter(syms).items()))

    return InterfaceCell(
        atoms=atoms, candidate_id=candidate.id, termination_index=termination, interfaces_z=iz, gap_A=g,
        min_contact_ratio=ratio, area_A2=area, substrate_formula=formula(sub.symbols), film_formula=formula(fil.symbols),
        n_substrate_layers=n_s, n_film_layers=n_f, lateral_repeats=tuple(int(x) for x in lateral),
    )


def production_size(candidate: Candidate, substrate: BulkInput, film: BulkInput, lateral_A: float | None = None,
                    target_atoms: int | None = None, substrate_thickness: float = 22.0,
                    film_thickness: float = 45.0) -> tuple[tuple[int, int], int, int]:
    """Lateral repeats and layer counts for a production cell.

    With ``lateral_A`` each matched vector is repeated to about that length (Å); with ``target_atoms``
    the lateral repeats (equal in both directions) are chosen to come closest to that atom count at the
    given thicknesses (Å). Returns ((m1, m2), substrate_layers, film_layers).
    """
    def cell_info(bulk, miller_p, n_cells2d):
        prim = primitive_structure(bulk.structure, primitive_transformation(bulk.structure))
        cell = oriented_cell(prim, miller_p)
        return cell.height, len(prim) * n_cells2d

    h_s, n_at_s = cell_info(substrate, candidate.substrate_miller_primitive, candidate.n_substrate_cells)
    h_f, n_at_f = cell_info(film, candidate.film_miller_primitive, candidate.n_film_cells)
    n_s = max(1, int(round(substrate_thickness / h_s)))
    n_f = max(1, int(round(film_thickness / h_f)))
    if target_atoms is not None:
        per = n_s * n_at_s + n_f * n_at_f
        m = max(1, int(round(np.sqrt(target_atoms / per))))
        return (m, m), n_s, n_f
    if lateral_A is not None:
        lengths = np.linalg.norm(np.array(candidate.substrate_vectors), axis=1)
        m1, m2 = (max(1, int(round(lateral_A / L))) for L in lengths)
        return (m1, m2), n_s, n_f
    return (1, 1), n_s, n_f

