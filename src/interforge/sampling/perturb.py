"""Random strain and rattle perturbations of ASE structures (seed data, paper: 1-5 % strain).

A strain is a symmetric tensor ε (dimensionless); the deformed cell is ``cell @ (I + ε)`` (rows
are lattice vectors, so every lattice vector v becomes ``(I + ε) v``) and atoms move with the cell
(fractional coordinates are kept). Its *magnitude* is the largest principal strain,
``max |eig(ε)|``: the largest relative change of length along any direction. Because ε is
symmetric the deformation carries no rotation.

A rattle adds independent Gaussian displacements (standard deviation in Å per Cartesian
component) after the strain. Every draw comes from one ``numpy.random.Generator`` seeded by the
caller, so the same seed gives the same structures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from interforge.errors import InterforgeError

log = logging.getLogger(__name__)


@dataclass
class Perturbation:
    """One perturbed copy of a structure.

    ``strain`` is the symmetric (3, 3) tensor applied (fraction), ``magnitude`` its largest
    principal strain, ``rattle_A`` the standard deviation of the displacements added, Å.
    """

    atoms: Atoms
    strain: np.ndarray
    magnitude: float
    rattle_A: float


def _check_range(strain_min: float, strain_max: float) -> None:
    if not (0.0 <= strain_min <= strain_max < 1.0):
        raise InterforgeError(
            f"strain range [{strain_min}, {strain_max}] must satisfy 0 <= strain_min <= strain_max < 1 (fractions)"
        )


def principal_strain(strain: np.ndarray) -> float:
    """Largest absolute principal strain of a symmetric (3, 3) tensor (fraction)."""
    eps = np.asarray(strain, dtype=float)
    return float(np.max(np.abs(np.linalg.eigvalsh(0.5 * (eps + eps.T)))))


def random_strain_tensor(rng: np.random.Generator, magnitude: float) -> np.ndarray:
    """A random symmetric strain tensor whose largest principal strain equals ``magnitude``.

    The direction is drawn from the Gaussian orthogonal ensemble (isotropic: no preferred axes),
    then scaled so that ``max |eig| == magnitude``; shear and normal components both occur.
    """
    a = rng.standard_normal((3, 3))
    sym = 0.5 * (a + a.T)
    norm = principal_strain(sym)
    if norm == 0.0:  # measure-zero draw; an isotropic strain is as good a direction as any
        sym, norm = np.eye(3), 1.0
    return sym * (magnitude / norm)


def apply_strain(atoms: Atoms, strain: np.ndarray) -> Atoms:
    """Return a copy of ``atoms`` with its cell deformed by ``I + strain`` (atoms follow the cell).

    The copy carries no calculator. A structure without a cell (non-periodic) is deformed about
    the origin in Cartesian space.
    """
    eps = np.asarray(strain, dtype=float)
    if eps.shape != (3, 3) or not np.allclose(eps, eps.T, atol=1e-12):
        raise InterforgeError(f"strain must be a symmetric (3, 3) tensor, got shape {eps.shape}")
    deform = np.eye(3) + eps
    out = atoms.copy()
    out.calc = None
    if atoms.cell.rank == 3:
        out.set_cell(np.asarray(atoms.cell) @ deform, scale_atoms=True)
    else:
        # No full cell: scale positions directly (cell vectors, if any, follow too).
        out.positions = atoms.positions @ deform
        out.set_cell(np.asarray(atoms.cell) @ deform, scale_atoms=False)
    return out


def rattle(atoms: Atoms, std_A: float, rng: np.random.Generator) -> Atoms:
    """Return a copy of ``atoms`` with Gaussian displacements of standard deviation ``std_A`` Å added."""
    if std_A < 0:
        raise InterforgeError(f"rattle standard deviation must be >= 0 Å, got {std_A}")
    out = atoms.copy()
    out.calc = None
    if std_A > 0:
        out.positions = atoms.positions + rng.normal(scale=std_A, size=atoms.positions.shape)
    return out


def perturb(
    atoms: Atoms,
    n: int,
    strain_min: float = 0.01,
    strain_max: float = 0.05,
    rattle_A: float = 0.0,
    seed: int | np.random.Generator = 0,
) -> list[Perturbation]:
    """``n`` strained (and optionally rattled) copies of ``atoms``.

    Each copy gets a random symmetric strain whose largest principal strain is uniform in
    ``[strain_min, strain_max]`` (fractions; paper: 0.01-0.05), then Gaussian displacements of
    ``rattle_A`` Å. The copies' ``info`` holds ``strain_magnitude`` and ``rattle_A`` (provenance).
    """
    if n < 0:
        raise InterforgeError(f"number of perturbations must be >= 0, got {n}")
    _check_range(strain_min, strain_max)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    out: list[Perturbation] = []
    for _ in range(n):
        magnitude = float(rng.uniform(strain_min, strain_max)) if strain_max > strain_min else float(strain_min)
        eps = random_strain_tensor(rng, magnitude)
        new = rattle(apply_strain(atoms, eps), rattle_A, rng)
        new.info["strain_magnitude"] = magnitude
        new.info["rattle_A"] = float(rattle_A)
        out.append(Perturbation(atoms=new, strain=eps, magnitude=magnitude, rattle_A=float(rattle_A)))
    log.debug("perturbed %s: %d copies, strain %.3f-%.3f, rattle %.3f Å",
              atoms.get_chemical_formula(), n, strain_min, strain_max, rattle_A)
    return out


def perturb_from_settings(atoms: Atoms, settings=None, seed: int | np.random.Generator = 0) -> list[Perturbation]:
    """:func:`perturb` with ``n_strained``, ``strain_min/max`` and ``rattle_A`` from a SamplingSection."""
    from interforge.config.sampling import SamplingSection

    s = settings or SamplingSection()
    return perturb(atoms, s.n_strained, s.strain_min, s.strain_max, s.rattle_A, seed)
