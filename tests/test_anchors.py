"""Anchors (teacher minimum, E–V strains, Li vacancy hops) and per-stage loss weights."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.calculators.singlepoint import SinglePointCalculator
from ase.eos import EquationOfState

from interforge.active.anchors import AnchorSettings, anchor_structures, hop_pairs, relaxation_anchors, strain_anchors
from interforge.nep.committee import fit_labels


def _emt_lattice_constant() -> float:
    """EMT's fcc Cu lattice constant from an equation of state (the independent reference)."""
    a0 = 3.6
    vols, es = [], []
    for s in np.linspace(0.97, 1.03, 9):
        at = bulk("Cu", "fcc", a=a0 * s, cubic=True)
        at.calc = EMT()
        vols.append(at.get_volume())
        es.append(at.get_potential_energy())
    v0, _, _ = EquationOfState(vols, es).fit()
    return (v0) ** (1 / 3)


def test_relaxation_ends_at_the_calculators_minimum_and_strains_are_exact():
    st = AnchorSettings(relax_steps=200, path_frames=2, strains=(-0.02, 0.02), strain_relax_steps=5)
    start = bulk("Cu", "fcc", a=3.75, cubic=True)
    path, relaxed = relaxation_anchors(start, EMT(), "Cu", st)
    assert path[0].info["origin"] == "Cu/relax0" and path[-1].info["origin"] == "Cu/relaxed"
    assert relaxed.calc is None  # labels come from the store, not from the relaxation
    a = np.cbrt(relaxed.get_volume())
    assert a == pytest.approx(_emt_lattice_constant(), rel=2e-3)
    strained = strain_anchors(relaxed, EMT(), "Cu", st)
    ratios = [s.get_volume() / relaxed.get_volume() for s in strained]
    assert ratios == pytest.approx([0.98**3, 1.02**3], rel=1e-9)


def _li_chain() -> Atoms:
    """Li on a simple cubic lattice (a = 3 Å, 2x2x2 cell), Cl in the cube centres: hops are 3 Å long."""
    li = [(i * 3.0, j * 3.0, k * 3.0) for i in range(2) for j in range(2) for k in range(2)]
    cl = [(1.5, 1.5, 1.5)]
    return Atoms(["Li"] * 8 + ["Cl"], positions=li + cl, cell=[6.0, 6.0, 6.0], pbc=True)


def test_hop_pairs_avoid_the_gates_vacancy_and_pick_nearest_neighbours():
    atoms = _li_chain()
    pairs = hop_pairs(atoms, n=3, max_hop_A=3.5)
    assert pairs and all(vac != 0 for vac, _ in pairs)
    for vac, hopper in pairs:
        assert atoms.get_distance(vac, hopper, mic=True) == pytest.approx(3.0)
    assert hop_pairs(atoms, n=3, max_hop_A=2.0) == []  # nothing within 2 Å


def test_hop_anchors_remove_one_li_and_move_the_neighbour_into_its_site():
    st = AnchorSettings(relax_steps=1, path_frames=0, strains=(), strain_relax_steps=0, hops=1, hop_images=3,
                        max_hop_A=3.5)
    atoms = _li_chain()
    calc = LennardJones(sigma=2.0, epsilon=0.01, rc=5.0)
    frames = anchor_structures(atoms, calc, "chain", st)
    hops = [f for f in frames if "/hop" in f.info["origin"]]
    assert len(hops) == st.hop_images + 2
    assert all(len(f) == len(atoms) - 1 for f in hops)
    assert sum(s == "Li" for s in hops[0].get_chemical_symbols()) == 7
    # the images march from the initial to the final site: the moving atom's displacement grows monotonically
    moved = [np.linalg.norm(f.positions - hops[0].positions, axis=1).max() for f in hops]
    assert np.all(np.diff(moved) > 0) and moved[-1] == pytest.approx(3.0, abs=0.3)


def _labelled(stage: str) -> Atoms:
    a = bulk("Cu", "fcc", a=3.6)
    a.calc = SinglePointCalculator(a, energy=-1.0, forces=np.zeros((1, 3)), stress=np.zeros(6))
    a.info["stage"] = stage
    return a


def test_stage_weights_mark_only_the_named_stage_and_keep_the_callers_atoms():
    data = [_labelled("seed"), _labelled("anchor")]
    out = fit_labels(data, None, {"anchor": 4.0})
    assert "weight" not in out[0].info and out[1].info["weight"] == 4.0
    assert out[1].get_potential_energy() == -1.0  # the labels travel with the weighted copy
    assert "weight" not in data[1].info  # the store's Atoms are untouched
    assert fit_labels(data, None, {}) == data


def test_li_vacancy_cells_lose_their_energy_weight_and_charge_balanced_cells_keep_it():
    """A Li2ZrCl6 cell with one Li removed (Li5Zr3Cl18) has no charge-balanced oxidation states; the stoichiometric
    cell, ZrO2, the ZrO2/Li2ZrCl6 interface composition and an element do."""
    from interforge.nep.committee import charge_balanced

    assert not charge_balanced("Li5Zr3Cl18") and not charge_balanced("Li3Zr2Cl12")
    assert all(charge_balanced(f) for f in ("Li6Zr3Cl18", "Zr4O8", "Li4Zr5O6Cl12", "Cu4"))
    stoich = Atoms("Li2ZrCl6", positions=np.random.default_rng(0).random((9, 3)) * 5, cell=[6, 6, 6], pbc=True)
    vacancy = stoich[1:]
    data = []
    for a in (stoich, vacancy):
        a.calc = SinglePointCalculator(a, energy=-1.0, forces=np.zeros((len(a), 3)))
        a.info["stage"] = "anchor"
        data.append(a)
    out = fit_labels(data, None, {}, charged_energy_weight=0.0)
    assert "energy_weight" not in out[0].info and out[0] is data[0]
    assert out[1].info["energy_weight"] == 0.0 and out[1].info["weight"] == 1.0
    assert "energy_weight" not in data[1].info
    both = fit_labels(data, None, {"anchor": 3.0}, charged_energy_weight=0.0)
    assert both[1].info["weight"] == 3.0 and both[1].info["energy_weight"] == 0.0
    assert fit_labels(data, None, {}, charged_energy_weight=None) == data


def test_gpumd_train_xyz_carries_the_per_structure_weights(tmp_path):
    """GPUMD's nep reads `weight=` and `energy_weight=` on each frame's comment line; ASE's extxyz reader
    (independent of our writer) must find them as frame info."""
    from ase.io import read

    from interforge.data import write_gpumd_xyz

    a = bulk("Cu", "fcc", a=3.6)
    b = a.copy()
    b.info.update(weight=2.5, energy_weight=0.0)
    write_gpumd_xyz([(a, -1.0, np.zeros((1, 3)), None), (b, -2.0, np.zeros((1, 3)), None)], tmp_path / "train.xyz")
    frames = read(tmp_path / "train.xyz", index=":")
    assert "weight" not in frames[0].info and "energy_weight" not in frames[0].info
    assert frames[1].info["weight"] == 2.5 and frames[1].info["energy_weight"] == 0.0
