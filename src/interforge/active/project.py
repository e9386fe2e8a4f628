"""The project's structures (bulk phases and interface cells) and its store, built once per working directory."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from ase import Atoms
from ase.io import read

from interforge.config import InterforgeConfig
from interforge.config.structures import InterfaceSpec
from interforge.data import LabelStore
from interforge.errors import InterforgeError
from interforge.fileio import atomic_path

log = logging.getLogger(__name__)


def open_store(cfg: InterforgeConfig, workdir: str | Path, create: bool = True) -> LabelStore:
    """The ``[data] db`` store: a URL as given, a relative path inside ``workdir``.

    ``create=False`` (read-only verbs) refuses a store that does not exist instead of creating it."""
    db = cfg.data.db
    if "://" in db or Path(db).is_absolute():
        return LabelStore(db, create=create)
    return LabelStore(Path(workdir) / db, create=create)


def bulk_cell(name: str, cfg: InterforgeConfig) -> Atoms:
    """The lowest-Ewald ordered cell of a library phase, repeated to ``min_cell_length_A``. With
    ``[structures] ordering_rerank_k`` = k > 0, the k lowest-Ewald orderings of a partially occupied phase
    are relaxed with the teacher and the lowest relaxed energy wins (its relaxed cell is used)."""
    from interforge.structures import build_bulk, enumerate_orderings, get_phase, rerank_by_relaxation
    from interforge.structures.io import to_atoms

    s = cfg.structures
    struct, _ = build_bulk(name, ordered=True, ordering_supercell=s.ordering_supercell)
    if s.ordering_rerank_k > 0 and not get_phase(name).structure().is_ordered:
        from interforge.teacher import make_calculator

        orderings = enumerate_orderings(get_phase(name).structure(), s.ordering_supercell,
                                        max_results=s.ordering_rerank_k)
        best = rerank_by_relaxation(orderings, make_calculator(cfg.teacher), s.ordering_rerank_k, fmax=s.relax_fmax)[0]
        log.info("%s: lowest relaxed energy %.4f eV/atom among the %d lowest-Ewald orderings", name,
                 best.relaxed_energy_per_atom_eV, len(orderings))
        struct = best.structure.copy()
    atoms = to_atoms(struct)
    lmin = cfg.structures.min_cell_length_A
    if lmin > 0:
        reps = [max(1, math.ceil(lmin / length)) for length in atoms.cell.lengths()]
        atoms = atoms.repeat(reps)
    return atoms


def interface_cell(spec: InterfaceSpec) -> Atoms:
    """The smallest-area lattice match of ``spec`` built as a periodic double-interface cell."""
    from interforge.interfaces.builder import build_interface
    from interforge.interfaces.inputs import prepare_bulk
    from interforge.interfaces.matching import search

    sub = prepare_bulk(spec.substrate, lattices="experimental")
    film = prepare_bulk(spec.film, lattices="experimental")
    cands = search(sub, film, max_miller=spec.max_miller, max_area=spec.max_area, max_strain=spec.max_strain,
                   max_angle_strain=spec.max_strain)
    if spec.substrate_miller:
        cands = [c for c in cands if list(c.substrate_miller) == list(spec.substrate_miller)]
    if spec.film_miller:
        cands = [c for c in cands if list(c.film_miller) == list(spec.film_miller)]
    if not cands:
        raise InterforgeError(f"no {spec.substrate}/{spec.film} match with the given Miller indices within "
                              f"{spec.max_area} Å² and {spec.max_strain:.0%} strain")
    best = min(cands, key=lambda c: (c.area_A2, c.max_strain))
    cell = build_interface(best, sub, film, termination=min(spec.termination, len(best.terminations) - 1),
                           substrate_thickness=spec.substrate_thickness, film_thickness=spec.film_thickness)
    atoms = cell.atoms
    atoms.info["category"] = "interface"
    atoms.info["interfaces_z"] = list(cell.interfaces_z)
    log.info("interface %s: %d atoms, %.1f Å², strain %.2f %%", best.id, len(atoms), best.area_A2, 100 * best.max_strain)
    return atoms


def interface_name(spec: InterfaceSpec) -> str:
    mill = lambda m: "".join(str(x) for x in m) if m else "any"  # noqa: E731
    return f"{Path(spec.substrate).stem}_{mill(spec.substrate_miller)}__{Path(spec.film).stem}_{mill(spec.film_miller)}"


def project_structures(cfg: InterforgeConfig, workdir: str | Path) -> dict[str, Atoms]:
    """Bulk and interface cells of the project, built once and cached in ``workdir/structures``."""
    folder = Path(workdir) / "structures"
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [(name, lambda n=name: bulk_cell(n, cfg)) for name in cfg.structures.phases]
    wanted += [(interface_name(s), lambda s=s: interface_cell(s)) for s in cfg.structures.interfaces]
    out = {}
    for name, build in wanted:
        path = folder / f"{name}.xyz"
        if path.exists():
            out[name] = read(path)
            continue
        atoms = build()
        with atomic_path(path) as tmp:
            atoms.write(tmp, format="extxyz")
        out[name] = atoms
    return out
