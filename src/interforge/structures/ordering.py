"""Ordering of fractional occupancies: exhaustive, symmetry-distinct, Ewald-ranked.

For a disordered cell (optionally a supercell of it) every way of filling each partially
occupied orbit with the right number of ions is enumerated. Configurations related by a
symmetry operation of the disordered supercell (space-group operations and the supercell's
internal translations) are merged, the number merged being the configuration's multiplicity.
Each distinct configuration is ranked by its Ewald energy with formal charges, computed from
one pairwise Ewald matrix of the fully occupied cell (E = sum of the matrix over occupied
sites), so the ranking costs one Ewald summation plus a quadratic form per configuration.
Ties are broken by a canonical key, which makes the ranking deterministic.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass

import numpy as np
import spglib
from pymatgen.analysis.ewald import EwaldSummation
from pymatgen.core import Structure

from interforge.errors import StructureError

log = logging.getLogger(__name__)

#: Refuse enumerations larger than this; a smaller supercell or a sampling method is needed.
MAX_CONFIGURATIONS = 2_000_000


@dataclass
class Ordering:
    """One symmetry-distinct ordered configuration.

    energy_eV: Ewald energy of the cell with formal charges, eV.
    multiplicity: number of symmetry-equivalent configurations merged into this one.
    relaxed_energy_per_atom_eV: set by :func:`rerank_by_relaxation`, eV/atom.
    """

    rank: int
    energy_eV: float
    energy_per_atom_eV: float
    multiplicity: int
    structure: Structure
    occupied: tuple[int, ...]
    relaxed_energy_per_atom_eV: float | None = None

    def summary(self) -> dict:
        return {
            "rank": self.rank,
            "ewald_energy_eV": self.energy_eV,
            "ewald_energy_per_atom_eV": self.energy_per_atom_eV,
            "multiplicity": self.multiplicity,
            "formula": self.structure.composition.formula,
            "relaxed_energy_per_atom_eV": self.relaxed_energy_per_atom_eV,
        }


def _site_orbits(struct: Structure) -> list[tuple[str, float, list[int]]]:
    """Group partially occupied sites by (species, occupancy): each group is filled independently."""
    groups: dict[tuple[str, float], list[int]] = {}
    for i, site in enumerate(struct):
        comp = site.species
        if len(comp) != 1:
            raise StructureError(
                f"site {i} holds several species ({comp}); only one species plus vacancies per site is supported"
            )
        (sp, occ), = comp.items()
        if occ < 1 - 1e-6:
            groups.setdefault((sp.symbol, round(occ, 6)), []).append(i)
    return [(sym, occ, idx) for (sym, occ), idx in sorted(groups.items())]


def _symmetry_permutations(struct: Structure, symprec: float) -> np.ndarray:
    """Site permutations (n_ops, n_sites) of the disordered cell's symmetry operations."""
    types = {}
    numbers = [types.setdefault(site.species.formula, len(types)) for site in struct]
    frac = struct.frac_coords
    cell = (struct.lattice.matrix, frac, numbers)
    sym = spglib.get_symmetry(cell, symprec=symprec)
    if sym is None:
        return np.arange(len(struct))[None, :]
    perms = []
    for rot, trans in zip(sym["rotations"], sym["translations"]):
        moved = frac @ rot.T + trans
        diff = moved[:, None, :] - frac[None, :, :]
        diff -= np.round(diff)
        dist = np.linalg.norm(diff @ struct.lattice.matrix, axis=2)
        perm = dist.argmin(axis=1)
        if np.any(dist[np.arange(len(perm)), perm] > 10 * symprec) or len(set(perm)) != len(perm):
            continue  # not an exact operation at this tolerance
        perms.append(perm)
    return np.array(perms)


def count_configurations(struct: Structure) -> int:
    """Number of (not symmetry-reduced) configurations the enumeration would visit."""
    total = 1
    for _, occ, idx in _site_orbits(struct):
        total *= math.comb(len(idx), _n_occupied(occ, len(idx)))
    return total


def _n_occupied(occ: float, n_sites: int) -> int:
    k = occ * n_sites
    if abs(k - round(k)) > 1e-3:
        raise StructureError(
            f"occupancy {occ:g} on {n_sites} sites gives {k:.3f} ions; choose a supercell in which it is a whole number"
        )
    return int(round(k))


def enumerate_orderings(
    struct: Structure,
    supercell: tuple[int, int, int] | list[int] = (1, 1, 1),
    max_results: int | None = None,
    symprec: float = 1e-3,
) -> list[Ordering]:
    """Enumerate symmetry-distinct orderings of ``struct`` in ``supercell``, lowest Ewald energy first.

    ``struct`` must carry oxidation states (the library's phases do). An ordered input returns
    itself as the single ordering.
    """
    cell = struct.copy()
    cell.make_supercell(list(supercell))
    orbits = _site_orbits(cell)
    if not orbits:
        return [Ordering(0, float("nan"), float("nan"), 1, cell, tuple(range(len(cell))))]
    n_conf = count_configurations(cell)
    if n_conf > MAX_CONFIGURATIONS:
        raise StructureError(
            f"{n_conf} configurations in supercell {tuple(supercell)} exceed the limit of {MAX_CONFIGURATIONS}; use a smaller supercell"
        )
    log.info("enumerating %d configurations in supercell %s", n_conf, tuple(supercell))

    # Ewald matrix of the fully occupied cell; each site carries its full formal charge.
    full = cell.copy()
    for i, site in enumerate(full):
        (sp, _), = site.species.items()
        full.replace(i, sp, coords=site.frac_coords)
    matrix = EwaldSummation(full).total_energy_matrix
    partial = sorted(i for _, _, idx in orbits for i in idx)
    fixed = np.array([i for i in range(len(cell)) if i not in set(partial)], dtype=int)
    e_fixed = matrix[np.ix_(fixed, fixed)].sum()
    coupling = 2.0 * matrix[:, fixed].sum(axis=1)  # interaction of each site with all fixed sites

    perms = _symmetry_permutations(cell, symprec)
    choices = [itertools.combinations(idx, _n_occupied(occ, len(idx))) for _, occ, idx in orbits]
    seen: dict[tuple[int, ...], list] = {}
    for combo in itertools.product(*[list(c) for c in choices]):
        occ = np.array(sorted(itertools.chain.from_iterable(combo)), dtype=int)
        key = min(tuple(sorted(p[occ])) for p in perms)
        if key in seen:
            seen[key][1] += 1
            continue
        sub = np.array(key, dtype=int)
        energy = e_fixed + coupling[sub].sum() + matrix[np.ix_(sub, sub)].sum()
        seen[key] = [energy, 1]

    n_atoms = len(fixed) + len(next(iter(seen)))
    ranked = sorted(seen.items(), key=lambda kv: (round(kv[1][0], 8), kv[0]))
    if max_results is not None:
        ranked = ranked[:max_results]
    results = []
    for rank, (key, (energy, mult)) in enumerate(ranked):
        keep = sorted(set(fixed.tolist()) | set(key))
        ordered = Structure(
            cell.lattice,
            [next(iter(cell[i].species)) for i in keep],
            cell.frac_coords[keep],
        )
        results.append(Ordering(rank, float(energy), float(energy) / n_atoms, mult, ordered, key))
    log.info("%d symmetry-distinct orderings (from %d)", len(seen), n_conf)
    return results


def rerank_by_relaxation(orderings: list[Ordering], calculator, k: int, fmax: float = 0.05, steps: int = 200) -> list[Ordering]:
    """Relax the ``k`` lowest-Ewald orderings (positions and cell) with any ASE calculator and
    re-rank them by relaxed energy per atom (eV/atom). The rest keep their Ewald order after them."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE
    from pymatgen.io.ase import AseAtomsAdaptor

    head, tail = orderings[:k], orderings[k:]
    for o in head:
        atoms = AseAtomsAdaptor.get_atoms(o.structure.copy().remove_oxidation_states())
        atoms.calc = calculator
        FIRE(FrechetCellFilter(atoms), logfile=None).run(fmax=fmax, steps=steps)
        o.relaxed_energy_per_atom_eV = float(atoms.get_potential_energy()) / len(atoms)
        relaxed = AseAtomsAdaptor.get_structure(atoms)
        relaxed.add_oxidation_state_by_site([s.specie.oxi_state for s in o.structure])
        o.structure = relaxed
    head.sort(key=lambda o: (o.relaxed_energy_per_atom_eV, o.rank))
    out = head + tail
    for rank, o in enumerate(out):
        o.rank = rank
    return out
