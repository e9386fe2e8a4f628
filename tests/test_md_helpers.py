"""Cheap analytic ASE calculators for the MD tests."""

import numpy as np
from ase.calculators.calculator import Calculator, all_changes


class Einstein(Calculator):
    """Independent harmonic springs to fixed sites: E = k/2 sum |r - r0|^2 (eV, Å). Costs microseconds."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, sites, k=1.0, **kw):
        super().__init__(**kw)
        self.sites = np.array(sites, dtype=float)
        self.k = k

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.positions - self.sites
        self.results = {"energy": 0.5 * self.k * float((d * d).sum()), "forces": -self.k * d}


class FakeCommittee(Calculator):
    """Wraps a calculator and reports a committee deviation that is a known function of the positions."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, inner, **kw):
        super().__init__(**kw)
        self.inner = inner

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = self.inner
        f = a.get_forces()
        dev = np.abs(self.atoms.positions[:, 0]) * 1e-3
        self.results = {"energy": a.get_potential_energy(), "forces": f, "force_deviation": dev,
                        "max_force_deviation": float(dev.max())}
