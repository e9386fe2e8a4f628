"""The validation's NEP NPT runs: the gate window starts after the cell has reached its volume at T."""

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from interforge.config.md import MdSection
from interforge.trajectory import TrajectoryReader
from interforge.validation.runner import bulk_npt

# An SCR barostat that assumes a stiffer crystal than EMT Cu (B ~ 134 GPa) approaches the volume at T
# slowly: the volume's relaxation time is barostat_tau x 500 / 134, ~3.7 ps, as Li2ZrCl6 (B ~ 20 GPa)
# under the default 1 ps and 30 GPa takes ~1.5 ps. 108 atoms: the volume fluctuates by ~0.9 %.
MD = MdSection(timestep_fs=5.0, thermostat_tau_fs=50.0, barostat_tau_fs=1000.0, bulk_modulus_GPa=500.0)


def _volumes(path):
    return np.abs(np.linalg.det(TrajectoryReader(path).cells()))


def test_equilibration_stage_takes_the_thermal_expansion_out_of_the_gate_window(tmp_path):
    cell = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 3, 3))
    v0 = cell.get_volume()
    res = bulk_npt(cell.copy(), EMT(), MD, 900.0, 100, tmp_path / "eq", 10, seed=5,
                   equilibration_steps=100, equilibration_tau_fs=25.0)
    assert res.stopped_by is None
    eq = _volumes(tmp_path / "eq" / "equilibration" / "trajectory.h5")
    window = _volumes(res.trajectory_path)
    assert len(window) == 11  # the window holds only its own 100 steps
    assert abs(window[0] / eq[-1] - 1) < 1e-9  # it starts where the equilibration ended
    # 0.5 ps at the fast barostat: hot Cu has expanded (EMT's thermal expansion, ~4 % at 900 K) ...
    expanded = eq[-1] / v0 - 1
    assert expanded > 0.02
    # ... while the same 0.5 ps at the slow one has taken ~13 % of the way
    slow = bulk_npt(cell.copy(), EMT(), MD, 900.0, 100, tmp_path / "slow", 10, seed=5)
    assert _volumes(slow.trajectory_path)[-1] / v0 - 1 < expanded - 0.015
