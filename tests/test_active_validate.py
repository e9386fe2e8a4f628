"""Validation helpers: the Li-hop NEB against symmetry, and E-V fits against an analytic curve."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones

from interforge.active.validate import ev_curve, li_hop_endpoints, neb_barrier


def test_symmetric_vacancy_hop_has_equal_ends_and_a_positive_barrier():
    atoms = bulk("Li", "bcc", a=3.5, cubic=True).repeat((2, 2, 2))
    initial, final, dist = li_hop_endpoints(atoms)
    assert dist == pytest.approx(3.5 * np.sqrt(3) / 2, abs=1e-6)  # nearest neighbours in bcc
    assert len(initial) == len(final) == len(atoms) - 1
    shared = LennardJones(sigma=2.8, epsilon=0.05, rc=6.0)
    barrier, profile = neb_barrier(initial, final, lambda: shared, n_images=3, fmax=0.02, steps=200)
    assert barrier > 0.01
    assert profile[0] == 0.0 and profile[-1] == pytest.approx(0.0, abs=2e-3)  # the two ends are equivalent
    assert max(profile) == pytest.approx(barrier)


def test_ev_curve_recovers_the_same_fit_for_identical_calculators():
    atoms = bulk("Cu", "fcc", a=3.6)
    lj = LennardJones(sigma=2.3, epsilon=0.4, rc=6.0)
    c = ev_curve("Cu", atoms, lj, lj)
    assert c.v0_teacher == pytest.approx(c.v0_nep) and c.b_teacher_GPa == pytest.approx(c.b_nep_GPa)
    assert min(c.volumes) < c.v0_teacher < max(c.volumes)
