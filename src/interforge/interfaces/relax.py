"""Bulk cells for matching (relaxed with the teacher and cached) and the relaxation and ranking of
interface candidates by interface energy.

Why relax: matches at the 1 % level are decided by 0.5–1 % lattice differences; the library's cells
are published (experimental) ones, while the paper matched PBE (Materials Project) cells. With
``lattices = "teacher"`` the search sees the lattices of the calculator that labels the data. The
relaxed cell is symmetrised to the phase's crystal system (an ordered Li2ZrCl6 cell is slightly
distorted by its ordering) before it is used for matching.

Interface energy of a periodic cell with two interfaces of area A (Å²):
γ = (E_cell − N_s e_s − N_f e_f) / (2A), with e_s, e_f the bulk energies per atom (eV) of the same
calculator; reported in J/m² (1 eV/Å² = 16.0218 J/m²). With the film strained onto the substrate γ
includes the film's elastic energy, as in the paper's ranking of strained candidates.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from interforge.data.hashing import settings_hash, structure_hash
from interforge.errors import InterforgeError
from interforge.fileio import atomic_write_json
from interforge.interfaces.builder import build_interface
from interforge.interfaces.matching import BulkInput, Candidate

log = logging.getLogger(__name__)

#: eV/Å² → J/m².
EV_PER_A2_TO_J_PER_M2 = 16.021766339


def calculator_identity(calc) -> str:
    """A string naming a calculator and its parameters (part of the relaxation cache key)."""
    cls = type(calc)
    params = getattr(calc, "parameters", None) or {}
    try:
        ptxt = json.dumps(dict(params), sort_keys=True, default=str)
    except TypeError:
        ptxt = repr(params)
    return f"{cls.__module__}.{cls.__name__}:{ptxt}:{getattr(calc, 'identity', '')}"


def symmetrize_parameters(params: tuple[float, ...], crystal_system: str, reference: tuple[float, ...]) -> tuple:
    """Project lattice parameters (a, b, c, α, β, γ; Å, °) onto a crystal system.

    ``reference`` (the unrelaxed parameters) tells which angles are fixed by symmetry.
    """
    a, b, c, al, be, ga = params
    ra, rb, rc, ral, rbe, rga = reference
    if crystal_system == "cubic":
        m = (a + b + c) / 3
        return (m, m, m, 90.0, 90.0, 90.0)
    if crystal_system == "tetragonal":
        m = (a + b) / 2
        return (m, m, c, 90.0, 90.0, 90.0)
    if crystal_system in ("hexagonal", "trigonal") and abs(rga - 120) < 1e-3:
        m = (a + b) / 2
        return (m, m, c, 90.0, 90.0, 120.0)
    if crystal_system == "orthorhombic":
        return (a, b, c, 90.0, 90.0, 90.0)
    if crystal_system == "monoclinic":
        # Keep the unique angle (the one not 90° in the reference); the other two are 90° by symmetry.
        angles = tuple(x if abs(r - 90) > 1e-3 else 90.0 for x, r in zip((al, be, ga), (ral, rbe, rga)))
        return (a, b, c) + angles
    return params


def _to_atoms(struct: Structure) -> Atoms:
    plain = struct.copy()
    plain.remove_oxidation_states()
    return AseAtomsAdaptor.get_atoms(plain)


def relax_bulk(bulk: BulkInput, calculator, cache_dir: str | Path | None = None, fmax: float = 0.05,
               steps: int = 300, identity: str | None = None) -> BulkInput:
    """Relax the ordered cell (positions and cell) and return ``bulk`` on the symmetrised relaxed lattice.

    Cached in ``cache_dir`` by structure hash + calculator identity + settings: a second call with the
    same inputs reads the cache instead of relaxing. ``identity`` names the calculator in the key
    (e.g. the teacher's identity hash); without it the class name and parameters are used.
    Energies in eV, forces eV/Å.
    """
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    atoms = _to_atoms(bulk.ordered)
    key = f"{structure_hash(atoms)}-{settings_hash({'calc': identity or calculator_identity(calculator), 'fmax': fmax, 'steps': steps})}"
    cache = Path(cache_dir) / f"{bulk.name}-{key}.json" if cache_dir else None
    if cache is not None and cache.is_file():
        data = json.loads(cache.read_text())
        log.info("bulk %s: relaxed cell read from cache %s", bulk.name, cache)
    else:
        t0 = time.perf_counter()
        atoms.calc = calculator
        opt = FIRE(FrechetCellFilter(atoms), logfile=None)
        converged = bool(opt.run(fmax=fmax, steps=steps))
        data = {"name": bulk.name, "cellpar": atoms.cell.cellpar().tolist(), "frac": atoms.get_scaled_positions().tolist(),
                "energy_per_atom_eV": float(atoms.get_potential_energy()) / len(atoms), "converged": converged,
                "calculator": identity or calculator_identity(calculator), "steps": int(opt.nsteps)}
        log.info("bulk %s: relaxed in %d steps (%.1f s), converged=%s", bulk.name, opt.nsteps,
                 time.perf_counter() - t0, converged)
        if cache is not None:
            atomic_write_json(cache, data)
    system = SpacegroupAnalyzer(bulk.structure, symprec=1e-3).get_crystal_system()
    ref = bulk.structure.lattice.parameters
    # The relaxed ordered cell keeps the basis of the input (ASE does not reorient lattice vectors).
    par = symmetrize_parameters(tuple(data["cellpar"]), system, ref)
    lat = Lattice.from_parameters(*par)
    sym = Structure(lat, bulk.structure.species_and_occu, bulk.structure.frac_coords)
    ordered = Structure(lat, bulk.ordered.species_and_occu, np.array(data["frac"]))
    return BulkInput(bulk.name, sym, ordered, data["energy_per_atom_eV"], bulk.source)


def bulk_energy_per_atom(bulk: BulkInput, calculator) -> float:
    """Single-point energy per atom (eV) of the ordered cell (used when the cell was only scaled)."""
    atoms = _to_atoms(bulk.ordered)
    atoms.calc = calculator
    return float(atoms.get_potential_energy()) / len(atoms)


def interface_energy(e_cell: float, n_sub: int, e_sub: float, n_film: int, e_film: float, area: float,
                     n_interfaces: int = 2) -> float:
    """Interface energy, J/m²: (E − N_s e_s − N_f e_f) / (n A), energies eV, per-atom energies eV/atom, A Å²."""
    if area <= 0:
        raise InterforgeError(f"interface area must be positive, got {area}")
    return (e_cell - n_sub * e_sub - n_film * e_film) / (n_interfaces * area) * EV_PER_A2_TO_J_PER_M2


@dataclass
class RankedInterface:
    """One relaxed candidate × termination. energy_eV: final total energy; gamma_J_m2: interface energy."""

    candidate_id: str
    pair: str
    termination_index: int
    termination: str
    n_atoms: int
    energy_eV: float
    gamma_J_m2: float
    converged: bool
    steps: int
    structure_file: str = ""
    kept: bool = False
    registration: tuple[float, float] = (0.0, 0.0)

    def to_dict(self) -> dict:
        return asdict(self)


def rank_candidates(
    candidates: list[Candidate],
    bulks: dict[str, BulkInput],
    calculator,
    keep: int = 2,
    fmax: float = 0.05,
    steps: int = 100,
    out_dir: str | Path | None = None,
    registration_grid: int = 1,
    **build_kwargs,
) -> list[RankedInterface]:
    """Build, relax (positions, fixed cell, FIRE: no Hessian, so it scales to large cells) and rank every candidate × termination.

    Returns all rows sorted by pair then γ; ``kept`` marks the ``keep`` lowest-γ rows of each
    orientation pair. The lowest γ per candidate is written back to ``candidate.interface_energy_J_m2``.
    ``registration_grid`` n > 1 also tries the n × n in-plane film shifts (fractions of the matched cell).
    """
    from ase.io import write
    from ase.optimize import FIRE

    for b in bulks.values():
        if b.energy_per_atom_eV is None:
            b.energy_per_atom_eV = bulk_energy_per_atom(b, calculator)
    if registration_grid < 1:
        raise InterforgeError(f"registration_grid must be >= 1, got {registration_grid}")
    shifts = [(i / registration_grid, j / registration_grid) for i in range(registration_grid)
              for j in range(registration_grid)]
    jobs = [(c, t, r) for c in candidates for t in range(len(c.terminations)) for r in shifts]
    if not jobs:
        raise InterforgeError("no candidate terminations to rank")
    rows: list[RankedInterface] = []
    t0 = time.perf_counter()
    for n, (cand, ti, reg) in enumerate(jobs, 1):
        sub, film = bulks[cand.substrate], bulks[cand.film]
        try:
            cell = build_interface(cand, sub, film, termination=ti, registration=reg, **build_kwargs)
        except InterforgeError as err:  # e.g. no gap keeps the contacts: skip this one, rank the rest
            log.warning("skipping %s termination %d registration %s: %s", cand.id, ti, reg, err)
            continue
        atoms = cell.atoms
        atoms.calc = calculator
        opt = FIRE(atoms, logfile=None)
        converged = bool(opt.run(fmax=fmax, steps=steps))
        energy = float(atoms.get_potential_energy())
        blocks = atoms.get_array("block")
        gamma = interface_energy(energy, int((blocks == 0).sum()), sub.energy_per_atom_eV,
                                 int((blocks == 1).sum()), film.energy_per_atom_eV, cell.area_A2,
                                 n_interfaces=len(cell.interfaces_z))
        path = ""
        if out_dir is not None:
            tag = f"__r{reg[0]:.2f}_{reg[1]:.2f}" if registration_grid > 1 else ""
            p = Path(out_dir) / f"{cand.id}__t{ti}{tag}.xyz"
            p.parent.mkdir(parents=True, exist_ok=True)
            from interforge.fileio import atomic_path

            with atomic_path(p) as tmp:
                write(tmp, atoms, format="extxyz")
            path = str(p)
        rows.append(RankedInterface(cand.id, cand.pair, ti, cand.terminations[ti]["label"], len(atoms), energy,
                                    gamma, converged, int(opt.nsteps), path, registration=reg))
        rate = n / (time.perf_counter() - t0)
        log.info("ranked %d/%d (%s t%d: %.3f J/m², %.2f/s, ETA %.0f s)", n, len(jobs), cand.id, ti, gamma, rate,
                 (len(jobs) - n) / rate)
    if not rows:
        raise InterforgeError("no candidate could be built within the contact limit; lower min_contact or widen max_gap")
    rows.sort(key=lambda r: (r.pair, r.gamma_J_m2))
    count: dict[str, int] = {}
    for r in rows:
        count[r.pair] = count.get(r.pair, 0) + 1
        r.kept = count[r.pair] <= keep
    best = {}
    for r in rows:
        if r.candidate_id not in best or r.gamma_J_m2 < best[r.candidate_id].gamma_J_m2:
            best[r.candidate_id] = r
    for c in candidates:
        if c.id in best:
            c.interface_energy_J_m2 = best[c.id].gamma_J_m2
            c.termination_index = best[c.id].termination_index
    return rows
