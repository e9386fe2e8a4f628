"""Validation helpers: the Li-hop NEB against symmetry, and E-V fits against an analytic curve."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones

from interforge.active.validate import ev_curve, li_hop_endpoints, neb_run


def test_symmetric_vacancy_hop_has_equal_ends_and_a_positive_barrier():
    atoms = bulk("Li", "bcc", a=3.5, cubic=True).repeat((2, 2, 2))
    initial, final, dist = li_hop_endpoints(atoms)
    assert dist == pytest.approx(3.5 * np.sqrt(3) / 2, abs=1e-6)  # nearest neighbours in bcc
    assert len(initial) == len(final) == len(atoms) - 1
    shared = LennardJones(sigma=2.8, epsilon=0.05, rc=6.0)
    band = neb_run(initial, final, lambda: shared, n_images=3, fmax=0.02, steps=200)
    barrier, profile = band.barrier_eV, band.energies
    assert barrier > 0.01
    assert profile[0] == 0.0 and profile[-1] == pytest.approx(0.0, abs=2e-3)  # the two ends are equivalent
    assert max(profile) == pytest.approx(barrier)


def test_ev_curve_recovers_the_same_fit_for_identical_calculators():
    atoms = bulk("Cu", "fcc", a=3.6)
    lj = LennardJones(sigma=2.3, epsilon=0.4, rc=6.0)
    c = ev_curve("Cu", atoms, lj, lj)
    assert c.v0_teacher == pytest.approx(c.v0_nep) and c.b_teacher_GPa == pytest.approx(c.b_nep_GPa)
    assert min(c.volumes) < c.v0_teacher < max(c.volumes)


def _bcc_hop():
    atoms = bulk("Li", "bcc", a=3.5, cubic=True).repeat((2, 2, 2))
    return li_hop_endpoints(atoms)


def test_neb_barrier_equals_the_symmetric_saddle_found_by_a_constrained_relaxation():
    """Independent reference: the bcc nearest-neighbour hop is inversion-symmetric about its midpoint, so the
    saddle has the hopping atom at the midpoint; fixing it there and relaxing every other atom gives the saddle
    energy without any band."""
    from ase.constraints import FixAtoms
    from ase.optimize import FIRE

    initial, final, _ = _bcc_hop()
    lj = LennardJones(sigma=2.8, epsilon=0.05, rc=6.0)
    hopper = int(np.argmax(np.linalg.norm(initial.positions - final.positions, axis=1)))
    ini = initial.copy()
    ini.calc = lj
    FIRE(ini, logfile=None).run(fmax=1e-4, steps=3000)
    mid = initial.copy()
    step = final.positions[hopper] - initial.positions[hopper]
    mid.positions[hopper] += 0.5 * step
    mid.set_constraint(FixAtoms([hopper]))
    mid.calc = lj
    FIRE(mid, logfile=None).run(fmax=1e-4, steps=3000)
    reference = mid.get_potential_energy() - ini.get_potential_energy()
    band = neb_run(initial, final, lambda: lj, n_images=5, fmax=0.005, steps=1000)
    assert band.converged
    assert band.barrier_eV == pytest.approx(reference, abs=2e-3)


def test_a_band_cut_short_is_reported_unconverged_and_fails_the_barrier_gate():
    from interforge.active.validate import neb_run
    from interforge.validation.gates import barrier_gate

    initial, final, _ = _bcc_hop()
    band = neb_run(initial, final, lambda: LennardJones(sigma=2.8, epsilon=0.05, rc=6.0), n_images=3, steps=2)
    assert not band.converged
    same = {"Li": (0.3, 0.3)}
    assert barrier_gate(same, 0.05).passed
    failed = barrier_gate(same, 0.05, {"Li": (band.converged, True)})
    assert not failed.passed and failed.note == "a band did not converge"
