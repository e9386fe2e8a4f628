"""Close-contact filter against direct O(N^2) distance checks (minimum image and explicit image sums)."""

import itertools
import math

import numpy as np
import pytest
from ase import Atoms
from ase.data import covalent_radii

from interforge.errors import InterforgeError
from interforge.sampling import close_contacts, filter_close_contacts

SYMBOLS = ["Li", "O", "Cl", "Zr"]


def _brute(atoms, factor):
    """All pairs over lattice translations in [-k, k]^3, k large enough for the longest cutoff."""
    r = covalent_radii[atoms.numbers]
    cell = np.asarray(atoms.cell)
    pos = atoms.positions
    search = max(factor, 1.0) * 2 * r.max()
    if atoms.pbc.all():
        vol = abs(np.linalg.det(cell))
        widths = [vol / np.linalg.norm(np.cross(cell[(a + 1) % 3], cell[(a + 2) % 3])) for a in range(3)]
        k = int(math.ceil(search / min(widths))) + 1
        shifts = [np.array(s) @ cell for s in itertools.product(range(-k, k + 1), repeat=3)]
    else:
        shifts = [np.zeros(3)]
    n_bad, min_ratio = 0, math.inf
    for i in range(len(atoms)):
        for j in range(i, len(atoms)):
            for t in shifts:
                if i == j and not np.any(t):
                    continue
                ratio = np.linalg.norm(pos[j] + t - pos[i]) / (r[i] + r[j])
                if ratio < max(factor, 1.0):
                    min_ratio = min(min_ratio, ratio)
                if ratio < factor:
                    # i == j: the images t and -t are one pair, seen twice here
                    n_bad += 1 if i != j else 0.5
    return int(round(n_bad)), min_ratio


@pytest.mark.parametrize("seed", range(6))
def test_random_triclinic_cells_match_explicit_image_sum(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7))
    cell = np.diag(rng.uniform(3.0, 5.5, 3)) + rng.uniform(-0.8, 0.8, (3, 3)) * (1 - np.eye(3))
    atoms = Atoms([SYMBOLS[k] for k in rng.integers(0, 4, n)], cell=cell, pbc=True)
    atoms.set_scaled_positions(rng.random((n, 3)))
    for factor in (0.7, 0.9):
        rep = close_contacts(atoms, factor)
        n_bad, min_ratio = _brute(atoms, factor)
        assert rep.n_violations == n_bad
        assert rep.ok == (n_bad == 0)
        assert rep.min_ratio == pytest.approx(min_ratio, rel=1e-10)


def test_self_image_counts_in_a_tiny_cell():
    # one Zr in a 2.0 Å cube: its own image is 2.0 Å away < 0.7 * 3.5 Å
    atoms = Atoms("Zr", cell=np.eye(3) * 2.0, pbc=True)
    rep = close_contacts(atoms)
    assert not rep.ok and rep.n_violations == 3  # +-a, +-b, +-c are three pairs
    assert rep.n_violations == _brute(atoms, 0.7)[0]


def test_minimum_image_in_a_large_orthorhombic_cell():
    # all cutoffs are below half the box, so the plain minimum-image convention is exact here
    rng = np.random.default_rng(9)
    box = np.array([12.0, 11.0, 13.0])
    atoms = Atoms([SYMBOLS[k] for k in rng.integers(0, 4, 40)], positions=rng.random((40, 3)) * box, cell=box, pbc=True)
    r = covalent_radii[atoms.numbers]
    n_bad, worst = 0, math.inf
    for i in range(40):
        for j in range(i + 1, 40):
            d = atoms.positions[j] - atoms.positions[i]
            d -= box * np.round(d / box)
            ratio = np.linalg.norm(d) / (r[i] + r[j])
            n_bad += ratio < 0.7
            worst = min(worst, ratio)
    rep = close_contacts(atoms, 0.7)
    assert rep.n_violations == n_bad and rep.ok == (n_bad == 0)
    if worst < 1.0:
        assert rep.min_ratio == pytest.approx(worst, rel=1e-10)


def test_threshold_is_exactly_the_papers_rule():
    limit = 0.7 * (covalent_radii[3] + covalent_radii[17])  # Li-Cl: 0.7 x (1.28 + 1.02) Å
    near = Atoms("LiCl", positions=[[0, 0, 0], [limit - 1e-4, 0, 0]])
    far = Atoms("LiCl", positions=[[0, 0, 0], [limit + 1e-4, 0, 0]])
    res = filter_close_contacts([far, near, far])
    assert res.kept == [0, 2] and res.rejected == [1]
    assert res.reports[1].worst_pair == (0, 1)
    assert res.reports[1].worst_distance_A == pytest.approx(limit - 1e-4)
    # overriding a radius moves the threshold
    assert close_contacts(near, radii={"Li": 1.0}).ok and not close_contacts(far, radii={3: 2.0}).ok


def test_cluster_matches_direct_pairs():
    rng = np.random.default_rng(5)
    atoms = Atoms([SYMBOLS[k] for k in rng.integers(0, 4, 25)], positions=rng.random((25, 3)) * 6.0)
    rep = close_contacts(atoms)
    n_bad, min_ratio = _brute(atoms, 0.7)
    assert rep.n_violations == n_bad and rep.min_ratio == pytest.approx(min_ratio, rel=1e-10)


def test_bad_inputs():
    with pytest.raises(InterforgeError):
        close_contacts(Atoms("Li"), factor=0.0)
    with pytest.raises(InterforgeError):
        close_contacts(Atoms("Li2", positions=[[0, 0, 0], [3, 0, 0]]), radii={"Xx": 1.0})
    assert close_contacts(Atoms()).ok
