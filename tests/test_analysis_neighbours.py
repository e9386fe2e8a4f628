"""Neighbour search and coordination in any periodic cell: against ASE's neighbour list and hand counts."""

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from interforge.analysis.neighbours import pairs_within
from interforge.analysis.pipeline import analyze
from interforge.analysis.readers import Trajectory
from interforge.analysis.structure import coordination_numbers

A_LICL = 5.13


def rocksalt_licl_cubic(a=A_LICL):
    """The 8-atom conventional rock-salt LiCl cell (narrower than twice a 3.5 Å cutoff)."""
    anion = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cation = anion + [0.5, 0, 0]
    pos = np.vstack([np.mod(cation, 1), anion]) * a
    return np.array([3] * 4 + [17] * 4), pos, np.eye(3) * a


CELLS = {
    "cubic-small": np.eye(3) * 5.13,
    "triclinic-small": np.array([[4.0, 0, 0], [1.5, 3.8, 0], [0.7, 1.1, 3.6]]),
    "triclinic-large": np.array([[9.0, 0, 0], [2.0, 10.0, 0], [1.0, -1.5, 11.0]]),
    "orthorhombic-large": np.diag([9.0, 10.0, 11.0]),
    "flat": np.array([[12.0, 0, 0], [0, 12.0, 0], [0.0, 2.0, 2.5]]),
}


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("same", [True, False])
def test_pairs_match_ase_neighbor_list(name, same):
    """Every (i, j, image) pair and vector equals ASE's, whatever the cell shape or size."""
    cell = CELLS[name]
    rng = np.random.default_rng(7)
    n_a, n_b = 9, 13
    frac = rng.random((n_a + n_b, 3))
    frac[n_a:] += rng.integers(-2, 3, (n_b, 3))  # b outside the cell: must be wrapped
    pos = frac @ cell
    cutoff = 3.5
    a, b = pos[:n_a], (pos[:n_a] if same else pos[n_a:])
    i, j, vec = pairs_within(a, b, cell, cutoff, same=same)
    atoms = Atoms(numbers=[1] * len(pos), positions=pos, cell=cell, pbc=True)
    ii, jj, dd = neighbor_list("ijD", atoms, cutoff)
    if same:
        keep = (ii < n_a) & (jj < n_a)
        ref = sorted(zip(ii[keep], jj[keep], *np.round(dd[keep], 6).T))
    else:
        keep = (ii < n_a) & (jj >= n_a)
        ref = sorted(zip(ii[keep], jj[keep] - n_a, *np.round(dd[keep], 6).T))
    got = sorted(zip(i, j, *np.round(vec, 6).T))
    assert len(ref) > 0
    assert [tuple(map(float, r)) for r in got] == [tuple(map(float, r)) for r in ref]


def test_licl_rocksalt_cn_is_six_by_hand():
    nums, pos, cell = rocksalt_licl_cubic()
    cn = coordination_numbers(pos[nums == 3], pos[nums == 17], cell, 3.5)
    assert cn.tolist() == [6, 6, 6, 6]  # a/2 = 2.565 Å; the next Cl is at a·√3/2 = 4.44 Å
    # a cutoff past a·√3/2 adds the 8 Cl at the cube corners: 14
    assert coordination_numbers(pos[nums == 3], pos[nums == 17], cell, 4.5).tolist() == [14] * 4


def test_primitive_triclinic_rocksalt_and_self_images_by_hand():
    a = A_LICL
    prim = 0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])  # fcc primitive cell, 60° angles
    li, cl = np.zeros((1, 3)), np.array([[0.5 * a, 0, 0]])
    assert coordination_numbers(li, cl, prim, 3.5).tolist() == [6]
    # Li–Li: the 12 fcc neighbours at a/√2 = 3.63 Å are all images of the one Li
    i, j, vec = pairs_within(li, li, prim, 3.8, same=True)
    assert len(i) == 12 and np.allclose(np.linalg.norm(vec, axis=1), a / np.sqrt(2))
    # simple cubic, one atom, a = 2: 6 images at 2 Å, 12 more at 2.83 Å
    sc = np.eye(3) * 2.0
    assert len(pairs_within(np.zeros((1, 3)), np.zeros((1, 3)), sc, 2.5, same=True)[0]) == 6
    assert len(pairs_within(np.zeros((1, 3)), np.zeros((1, 3)), sc, 3.0, same=True)[0]) == 18


def test_analyze_reports_cn_six_in_the_8_atom_licl_cell():
    """The acceptance case of issue 15: `analyze` on the 8-atom rock-salt cell gives Li CN 6.00."""
    nums, pos, cell = rocksalt_licl_cubic()
    rng = np.random.default_rng(0)
    n_t = 12
    frames = pos[None] + rng.normal(0, 0.02, (n_t, len(pos), 3))
    traj = Trajectory(nums, frames, np.broadcast_to(cell, (n_t, 3, 3)).copy(), np.arange(n_t) * 0.1)
    res = analyze(traj, temperature_K=600, anions=["Cl"]).to_json()
    cn = res["cn_profile"]
    ions = np.array(cn["ions"])
    total = np.array([np.nan if v is None else v for v in cn["cn_total"]])
    assert np.sum(ions) == pytest.approx(4)
    assert np.nansum(total * ions) / np.sum(ions) == pytest.approx(6.0, abs=1e-12)
    # the running CN of the Li–Cl RDF reaches 6 at the first shell
    rdf = res["rdf"]["Li-Cl"]
    k = int(np.searchsorted(rdf["r_A"], 3.5))
    assert rdf["cn"][k] == pytest.approx(6.0, abs=1e-12)
