"""Per-structure descriptors for selection: SOAP (dscribe) and NEP descriptors (calorine).

Both return a :class:`DescriptorSet`: one row per structure, the per-atom descriptors averaged
over the structure's atoms, so structures of different sizes compare directly (a supercell has
the same averaged descriptor as its unit cell).

SOAP (the seed step, paper: "SOAP descriptors via the DScribe package") takes its cutoff (Å),
``n_max``, ``l_max`` and Gaussian width (Å) from :class:`~interforge.config.sampling.SamplingSection`;
the species are those present in the data unless given (give them when descriptors of
different batches must share columns). NEP descriptors (the learning loop's farthest-point
selection) are those of a ``nep.txt`` model, evaluated by calorine's CPU code.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols

from interforge.errors import InterforgeError

log = logging.getLogger(__name__)

#: A descriptor hook: structures in, one row per structure out (what the loop's FPS consumes).
DescriptorFn = Callable[[Sequence[Atoms]], "DescriptorSet"]


@dataclass
class DescriptorSet:
    """Descriptors of a batch of structures.

    ``values`` is (M, D) float64, one row per input structure in input order; ``kind`` is
    ``"soap"`` or ``"nep"``; ``species`` the chemical symbols the columns cover;
    ``settings`` the parameters that produced them (provenance).
    """

    values: np.ndarray
    kind: str
    species: list[str]
    settings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.values.shape[0])


def species_of(structures: Sequence[Atoms]) -> list[str]:
    """Chemical symbols present in ``structures``, ordered by atomic number."""
    zs = sorted({int(z) for a in structures for z in a.numbers})
    return [chemical_symbols[z] for z in zs]


def _normalise_species(species: Sequence[str | int]) -> list[str]:
    out = set()
    for s in species:
        if isinstance(s, (int, np.integer)):
            if not 0 < int(s) < len(chemical_symbols):
                raise InterforgeError(f"unknown atomic number {s} in species")
            out.add(int(s))
        elif s in atomic_numbers:
            out.add(atomic_numbers[s])
        else:
            raise InterforgeError(f"unknown chemical symbol '{s}' in species")
    return [chemical_symbols[z] for z in sorted(out)]


def _log_progress(done: int, total: int, t0: float, what: str) -> None:
    dt = time.perf_counter() - t0
    rate = done / dt if dt > 0 else float("inf")
    eta = (total - done) / rate if rate > 0 else float("nan")
    log.info("%s descriptors: %d/%d structures, %.1f /s, ETA %.0f s", what, done, total, rate, eta)


def soap_descriptors(
    structures: Sequence[Atoms],
    settings=None,
    species: Sequence[str | int] | None = None,
    n_jobs: int = 1,
    chunk: int = 256,
) -> DescriptorSet:
    """Structure-averaged SOAP vectors (dscribe) of ``structures``.

    ``settings`` is a SamplingSection (default: the paper's), giving ``soap_r_cut`` (Å),
    ``soap_n_max``, ``soap_l_max``, ``soap_sigma`` (Å) and ``soap_average``. Structures with
    any periodic direction are treated as periodic along their ``pbc`` flags (they need a cell);
    the others as clusters. The result is invariant to rotation, translation and permutation of
    atoms.
    """
    from dscribe.descriptors import SOAP

    from interforge.config.sampling import SamplingSection

    s = settings or SamplingSection()
    structures = list(structures)
    if not structures:
        raise InterforgeError("no structures given for SOAP descriptors")
    sp = _normalise_species(species) if species is not None else species_of(structures)
    missing = set(species_of(structures)) - set(sp)
    if missing:
        raise InterforgeError(f"structures contain species {sorted(missing)} not in the SOAP species {sp}")
    params = dict(r_cut=float(s.soap_r_cut), n_max=int(s.soap_n_max), l_max=int(s.soap_l_max),
                  sigma=float(s.soap_sigma), average=str(s.soap_average))
    periodic_mask = np.array([bool(np.any(a.pbc)) for a in structures])
    for i in np.flatnonzero(periodic_mask):
        a = structures[i]
        if a.cell.rank < int(np.sum(a.pbc)):
            raise InterforgeError(f"structure {i} ({a.get_chemical_formula()}) is periodic but has no full cell")
    makers = {
        True: SOAP(species=sp, periodic=True, **params),
        False: SOAP(species=sp, periodic=False, **params),
    }
    dim = makers[True].get_number_of_features()
    values = np.empty((len(structures), dim), dtype=np.float64)
    t0, done = time.perf_counter(), 0
    for flag in (True, False):
        idx = np.flatnonzero(periodic_mask == flag)
        for start in range(0, len(idx), chunk):
            part = idx[start:start + chunk]
            batch = [structures[i] for i in part]
            out = makers[flag].create(batch, n_jobs=n_jobs)
            values[part] = np.asarray(out, dtype=np.float64).reshape(len(part), dim)
            done += len(part)
            if len(structures) > chunk:
                _log_progress(done, len(structures), t0, "SOAP")
    return DescriptorSet(values=values, kind="soap", species=sp, settings=params)


def nep_descriptors(structures: Sequence[Atoms], model_path: str | os.PathLike) -> DescriptorSet:
    """Structure-averaged NEP descriptors of ``structures`` for the model ``model_path`` (a nep.txt).

    Per-atom descriptors come from calorine (``calorine.nep.get_descriptors``), the CPU
    reference implementation of GPUMD's NEP; the row of a structure is their mean over atoms.
    Every structure's species must be among the model's.
    """
    from calorine.nep import get_descriptors

    path = Path(model_path)
    if not path.is_file():
        raise InterforgeError(f"NEP model file not found: {path}")
    model_species = _nep_species(path)
    structures = list(structures)
    if not structures:
        raise InterforgeError("no structures given for NEP descriptors")
    missing = set(species_of(structures)) - set(model_species)
    if missing:
        raise InterforgeError(f"structures contain species {sorted(missing)} that the NEP model {path} lacks")
    rows = []
    t0 = time.perf_counter()
    for i, atoms in enumerate(structures):
        d = np.asarray(get_descriptors(atoms, str(path)), dtype=np.float64)
        rows.append(d.mean(axis=0))
        if (i + 1) % 500 == 0:
            _log_progress(i + 1, len(structures), t0, "NEP")
    return DescriptorSet(values=np.vstack(rows), kind="nep", species=model_species, settings={"model": str(path)})


def _nep_species(path: Path) -> list[str]:
    # First line of nep.txt: "<version> <n_types> <symbol> ...".
    with open(path) as fh:
        head = fh.readline().split()
    try:
        n = int(head[1])
        return list(head[2:2 + n])
    except (IndexError, ValueError):
        raise InterforgeError(f"{path} does not start with a NEP header line ('nep4 <n> <symbols>')") from None


def nep_descriptor_fn(model_path: str | os.PathLike) -> DescriptorFn:
    """A :data:`DescriptorFn` bound to one nep.txt (the hook the learning loop passes to FPS)."""
    return lambda structures: nep_descriptors(structures, model_path)


def soap_descriptor_fn(settings=None, species: Sequence[str | int] | None = None) -> DescriptorFn:
    """A :data:`DescriptorFn` for SOAP with fixed settings and species (columns stay comparable)."""
    return lambda structures: soap_descriptors(structures, settings, species)
