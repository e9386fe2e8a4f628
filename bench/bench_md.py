"""MD steps/s of the ASE engine against the raw force-call rate of the same calculator, in the same run.

Overhead = 1 - (MD steps/s) / (force calls/s): the integrator, thermostat/barostat, guards, trajectory and
thermo I/O. Goal: below 10 %. Calculators: ASE EMT (Cu, 256 atoms) and, when ../shared/fixtures/nep is
present, a NEP model through interforge.nep.NEPCalculator (Si, 216 atoms).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def _raw_rate(atoms, calc, n, move_cell=False):
    a = atoms.copy()
    a.calc = calc
    rng = np.random.default_rng(0)
    a.get_forces()
    t = time.perf_counter()
    for _ in range(n):
        a.positions += rng.normal(scale=1e-3, size=a.positions.shape)
        if move_cell:
            a.set_cell(a.cell.array * (1 + 1e-5), scale_atoms=True)
        a.get_forces()
        a.get_potential_energy()
        if move_cell:
            a.get_stress()
    return n / (time.perf_counter() - t)


def _md_rate(atoms, calc, ensemble, n):
    from interforge.md import run_md

    with tempfile.TemporaryDirectory() as d:
        r = run_md(atoms.copy(), calc, ensemble, 300.0, n, Path(d), timestep_fs=2.0, dump_interval=100,
                   thermo_interval=10, seed=1, bulk_modulus_GPa=140.0)
    return r.steps_per_s


def _compare(label, atoms, calc_factory, n, repeats=3):
    # Best of interleaved repeats: the machine is shared, and the best rate is the least disturbed one.
    for ensemble in ("nvt", "npt"):
        raw = md = 0.0
        for _ in range(repeats):
            raw = max(raw, _raw_rate(atoms, calc_factory(), n, move_cell=ensemble == "npt"))
            md = max(md, _md_rate(atoms, calc_factory(), ensemble, n))
        print(f"{label:28s} {ensemble}: raw {raw:8.1f} calls/s  MD {md:8.1f} steps/s  "
              f"ratio {md / raw:5.3f}  overhead {100 * (1 - md / raw):5.1f} %")


def main() -> None:
    from ase.build import bulk
    from ase.calculators.emt import EMT

    _compare("EMT Cu 256 atoms", bulk("Cu", "fcc", a=3.61, cubic=True).repeat(4), EMT, 100)
    nep = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "nep" / "Si_2022_NEP4_5body.txt"
    if nep.is_file():
        from interforge.nep import NEPCalculator

        _compare("NEP Si 216 atoms", bulk("Si", "diamond", a=5.43, cubic=True).repeat(3),
                 lambda: NEPCalculator(nep), 100)
    else:
        print("NEP fixture absent: skipped the NEP comparison")


if __name__ == "__main__":
    main()
