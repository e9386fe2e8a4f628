"""Dispersion that a NEP model runs with: DFT-D3(BJ) added at run time, not learned.

Why: the teacher's labels include D3(BJ) (as the paper's PBE + D3 does), but D3 is long-ranged. On
alpha-Li2ZrCl6 at 22.7 Å³/atom its pressure is -1.66 GPa, and only -0.88 GPa of it comes from pairs
within 5 Å (the small preset's cutoff), -1.14 GPa within 6 Å (the paper's). A NEP trained on the total
misses the rest: its pressure sits ~0.5-0.8 GPa above the teacher's, and NPT swells the cell. So the NEP
learns ``teacher - D3`` and D3 is added back at run time with the same implementation and cutoffs
everywhere the model goes: calorine's ``CPUNEP(dftd3=...)`` in ASE MD and validation, GPUMD's
``dftd3`` keyword on a GPU. The labels subtracted here use the ``dftd3`` package with the same
real-space cutoffs; it agrees with calorine's D3 to 1e-6 eV/atom (tested).

The setting travels with the model in a sidecar ``<model>.dispersion.json`` beside ``nep.txt``;
:func:`read_dispersion` finds it, and every interforge evaluator of the model applies it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from interforge.errors import InterforgeError
from interforge.fileio import atomic_write_text

SIDECAR_SUFFIX = ".dispersion.json"


@dataclass(frozen=True)
class Dispersion:
    """D3 with Becke-Johnson damping, truncated as GPUMD does: ``functional`` (GPUMD's name, e.g. pbe),
    ``potential_cutoff`` and ``coordination_number_cutoff`` in Å."""

    functional: str = "pbe"
    potential_cutoff: float = 12.0
    coordination_number_cutoff: float = 6.0

    def __post_init__(self):
        if not (0 < self.coordination_number_cutoff <= self.potential_cutoff):
            raise InterforgeError(f"D3 cutoffs must satisfy 0 < coordination ({self.coordination_number_cutoff}) "
                                  f"<= potential ({self.potential_cutoff}) Å")

    def calorine(self) -> dict:
        """The ``dftd3`` argument of calorine's ``CPUNEP``."""
        return asdict(self)

    def gpumd_line(self) -> str:
        """GPUMD's ``run.in`` keyword line (after ``potential``)."""
        return f"dftd3 {self.functional} {self.potential_cutoff:g} {self.coordination_number_cutoff:g}"

    def calculator(self):
        """D3 alone as an ASE calculator (the ``dftd3`` package) with these cutoffs; eV, eV/Å, eV/Å³."""
        from dftd3.ase import DFTD3

        return DFTD3(method=self.functional.upper(), damping="d3bj",
                     realspace_cutoff={"disp2": self.potential_cutoff, "cn": self.coordination_number_cutoff})


def sidecar_path(model_path: str | os.PathLike) -> Path:
    p = Path(model_path)
    return p.with_name(p.stem + SIDECAR_SUFFIX)


def write_dispersion(model_path: str | os.PathLike, dispersion: Dispersion | None) -> Path:
    """Record the model's run-time dispersion beside it (``null`` = none)."""
    body = {"dispersion": None if dispersion is None else asdict(dispersion),
            "note": "interforge: add this D3(BJ) to the NEP at run time (GPUMD: the dftd3 keyword)"}
    return atomic_write_text(sidecar_path(model_path), json.dumps(body, indent=1) + "\n")


def read_dispersion(model_path: str | os.PathLike) -> Dispersion | None:
    """The dispersion recorded beside ``model_path``, or None when there is no sidecar or it says none."""
    side = sidecar_path(model_path)
    if not side.is_file():
        return None
    try:
        d = json.loads(side.read_text()).get("dispersion")
        return None if d is None else Dispersion(**d)
    except (ValueError, TypeError, AttributeError) as err:
        raise InterforgeError(f"{side}: not a valid dispersion record ({err})") from None


def subtract_dispersion(structures: Sequence[Atoms], dispersion: Dispersion) -> list[Atoms]:
    """Copies of labelled ``structures`` whose energy, forces and stress have D3 removed.

    The originals keep their labels; ``info`` is carried over. Structures must be periodic (D3 here
    follows ``pbc``)."""
    d3 = dispersion.calculator()
    out = []
    for a in structures:
        r = a.calc.results
        b = a.copy()
        b.calc = d3
        e_d = float(b.get_potential_energy())
        f_d = np.asarray(b.get_forces())
        res = {"energy": float(r["energy"]) - e_d, "forces": np.asarray(r["forces"]) - f_d}
        if r.get("stress") is not None and all(a.pbc):
            res["stress"] = np.asarray(r["stress"]) - np.asarray(b.get_stress())
        c = a.copy()
        c.calc = SinglePointCalculator(c, **res)
        out.append(c)
    return out
