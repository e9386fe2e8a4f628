"""Evaluation of ``nep.txt`` models with calorine's CPU evaluator (NEP_CPU), as ASE calculators.

Units: energy eV, forces eV/Å, stress eV/Å³ (ASE sign: positive = tensile), virial eV
(virial = -stress x volume, GPUMD's convention).

Committee deviation, as GPUMD's ``active`` keyword defines it: for M members with forces
F^m_{ik} (atom i, Cartesian k),

    σ_i = sqrt( Σ_{k∈xyz} [ (1/M) Σ_m (F^m_{ik})² - ((1/M) Σ_m F^m_{ik})² ] )   (population variance)
    σ_f = max_i σ_i

``force_deviation`` holds σ_i (N,) and ``max_force_deviation`` σ_f, both eV/Å.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import voigt_6_to_full_3x3_stress

from interforge.errors import InterforgeError
from interforge.nep.dispersion import Dispersion, read_dispersion
from interforge.nep.modelfile import NepFileError, NepHeader, validate_nep_file

log = logging.getLogger(__name__)


def force_deviation(forces: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-atom force deviation σ_i (N,) and its maximum σ_f (eV/Å) from member forces (M, N, 3).

    Population variance over members (ddof=0), summed over x, y, z, square-rooted: GPUMD ``active``.
    """
    f = np.asarray(forces, dtype=float)
    if f.ndim != 3 or f.shape[2] != 3:
        raise InterforgeError(f"member forces must have shape (M, N, 3), got {f.shape}")
    per_atom = np.sqrt(np.var(f, axis=0, ddof=0).sum(axis=1))
    return per_atom, float(per_atom.max()) if per_atom.size else 0.0


@dataclass
class Evaluation:
    """One structure's prediction: energy (eV), per-atom energies (N,) eV, forces (N,3) eV/Å,
    virial (3,3) eV and stress (6,) eV/Å³ in ASE Voigt order (xx yy zz yz xz xy)."""

    energy: float
    energies: np.ndarray
    forces: np.ndarray
    virial: np.ndarray
    stress: np.ndarray


def _cpunep(path: str | os.PathLike, dispersion: Dispersion | None = None):
    from calorine.calculators import CPUNEP

    try:
        return CPUNEP(str(path), dftd3=None if dispersion is None else dispersion.calorine())
    except Exception as err:
        raise NepFileError(f"{path}: calorine cannot load this model: {err}") from None


_FROM_SIDECAR = "sidecar"


class NepModel:
    """A ``nep.txt`` model: its validated header and calorine's CPU evaluator.

    ``dispersion``: the D3(BJ) added at run time; by default the one recorded beside the model
    (``<model>.dispersion.json``, see :mod:`interforge.nep.dispersion`), ``None`` for the bare NEP."""

    def __init__(self, path: str | os.PathLike, dispersion: Dispersion | None | str = _FROM_SIDECAR):
        self.path = Path(path)
        self.header: NepHeader = validate_nep_file(self.path)
        self.dispersion = read_dispersion(self.path) if dispersion == _FROM_SIDECAR else dispersion
        self._calc = _cpunep(self.path, self.dispersion)

    @property
    def types(self) -> list[str]:
        return list(self.header.types)

    def check_species(self, atoms: Atoms) -> None:
        missing = sorted(set(atoms.get_chemical_symbols()) - set(self.header.types))
        if missing:
            raise InterforgeError(f"{self.path}: model has no parameters for species {missing} "
                                  f"(it knows {' '.join(self.header.types)})")

    def evaluate(self, atoms: Atoms) -> Evaluation:
        """Energy, forces, virial and stress of one structure (periodic in all directions)."""
        self.check_species(atoms)
        a = atoms.copy()
        a.calc = None
        self._calc.calculate(a, ["energy", "forces", "stress"], all_changes)
        r = self._calc.results
        stress = np.array(r["stress"], dtype=float)
        virial = -voigt_6_to_full_3x3_stress(stress) * a.get_volume()
        return Evaluation(float(r["energy"]), np.array(r["energies"], dtype=float),
                          np.array(r["forces"], dtype=float), virial, stress)

    def evaluate_many(self, structures: Sequence[Atoms]) -> list[Evaluation]:
        return [self.evaluate(a) for a in structures]


class NEPCalculator(Calculator):
    """ASE calculator of one ``nep.txt`` (calorine CPU evaluator), with the model's run-time D3 when
    it has one (``dispersion``, as for :class:`NepModel`).

    Results: ``energy``/``free_energy`` (eV), ``energies`` (N,) eV, ``forces`` (N,3) eV/Å,
    ``stress`` (6,) eV/Å³.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, path: str | os.PathLike, dispersion: Dispersion | None | str = _FROM_SIDECAR, **kwargs):
        super().__init__(**kwargs)
        self.model = NepModel(path, dispersion)
        self.path = self.model.path

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        ev = self.model.evaluate(self.atoms)
        self.results = {"energy": ev.energy, "free_energy": ev.energy, "energies": ev.energies,
                        "forces": ev.forces, "stress": ev.stress}


class CommitteeCalculator(Calculator):
    """ASE calculator of a committee of ``nep.txt`` models.

    ``energy``, ``forces``, ``stress`` are the member means plus the members' run-time D3 (added once);
    ``energies`` the members' mean NEP per-atom energies (without D3); also
    ``force_deviation`` (N,) eV/Å, ``max_force_deviation`` (float, eV/Å, GPUMD ``active``),
    ``energy_deviation`` (population std of member energies per atom, eV/atom) and
    ``member_energies`` (M,) eV.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress",
                              "force_deviation", "max_force_deviation"]

    def __init__(self, paths: Sequence[str | os.PathLike], **kwargs):
        super().__init__(**kwargs)
        paths = [Path(p) for p in paths]
        if len(paths) < 2:
            raise InterforgeError(f"a committee needs at least 2 models, got {len(paths)}")
        disp = {read_dispersion(p) for p in paths}
        if len(disp) > 1:
            raise InterforgeError("committee members disagree on their run-time dispersion")
        # D3 is the same for every member: members run bare and D3 is added once (it costs ~10 NEP calls).
        self.dispersion = disp.pop()
        self.models = [NepModel(p, dispersion=None) for p in paths]
        self._d3 = None if self.dispersion is None else self.dispersion.calculator()
        self.paths = paths
        species = {tuple(sorted(m.types)) for m in self.models}
        if len(species) > 1:
            raise InterforgeError(f"committee members disagree on species: {sorted(species)}")

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        evs = [m.evaluate(self.atoms) for m in self.models]
        forces = np.stack([e.forces for e in evs])
        sigma, sigma_max = force_deviation(forces)
        energies = np.array([e.energy for e in evs])
        mean_forces, stress = forces.mean(axis=0), np.mean([e.stress for e in evs], axis=0)
        if self._d3 is not None:
            a = self.atoms.copy()
            a.calc = self._d3
            energies = energies + a.get_potential_energy()
            mean_forces = mean_forces + a.get_forces()
            stress = stress + a.get_stress()
        energy = float(energies.mean())
        self.results = {
            "energy": energy, "free_energy": energy,
            "energies": np.mean([e.energies for e in evs], axis=0),
            "forces": mean_forces,
            "stress": stress,
            "force_deviation": sigma, "max_force_deviation": sigma_max,
            "energy_deviation": float(energies.std() / len(self.atoms)),
            "member_energies": energies,
        }
