"""Strain/rattle perturbations: the strain is recovered from the output cells (not from the code's tensor)."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from interforge.config import config_from_dict
from interforge.config.sampling import SamplingSection
from interforge.errors import ConfigError, InterforgeError
from interforge.sampling import apply_strain, perturb, perturb_from_settings, rattle


def _triclinic() -> Atoms:
    a = bulk("ZrO2", "fluorite", a=5.1) * (2, 1, 1)
    a.set_cell(a.cell @ np.array([[1.0, 0.05, 0.0], [0.0, 1.0, 0.1], [0.02, 0.0, 1.0]]), scale_atoms=True)
    return a


def _deformation(before: Atoms, after: Atoms) -> np.ndarray:
    # rows are lattice vectors: after = before @ F^T  ->  F^T = before^{-1} after
    return np.linalg.solve(np.asarray(before.cell), np.asarray(after.cell)).T


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_strain_magnitudes_within_range_and_symmetric(seed):
    atoms = _triclinic()
    out = perturb(atoms, 25, strain_min=0.01, strain_max=0.05, rattle_A=0.0, seed=seed)
    assert len(out) == 25
    for p in out:
        f = _deformation(atoms, p.atoms)
        eps = f - np.eye(3)
        np.testing.assert_allclose(eps, eps.T, atol=1e-12)  # symmetric: no rotation
        principal = np.max(np.abs(np.linalg.eigvalsh(eps)))
        assert 0.01 - 1e-12 <= principal <= 0.05 + 1e-12
        assert principal == pytest.approx(p.magnitude, rel=1e-10)
        # atoms follow the cell: fractional coordinates unchanged without rattle
        np.testing.assert_allclose(p.atoms.get_scaled_positions(wrap=False), atoms.get_scaled_positions(wrap=False), atol=1e-12)
        # lengths change by at most the principal strain along any direction
        ratio = np.linalg.norm(p.atoms.cell, axis=1) / np.linalg.norm(atoms.cell, axis=1)
        assert np.all(np.abs(ratio - 1) <= principal + 1e-12)
    mags = np.array([p.magnitude for p in out])
    assert mags.max() - mags.min() > 0.01  # the range is actually spanned


def test_same_seed_same_structures_and_distinct_seeds_differ():
    atoms = _triclinic()
    a = perturb(atoms, 3, rattle_A=0.05, seed=7)
    b = perturb(atoms, 3, rattle_A=0.05, seed=7)
    c = perturb(atoms, 3, rattle_A=0.05, seed=8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.atoms.positions, y.atoms.positions)
        np.testing.assert_array_equal(x.atoms.cell, y.atoms.cell)
    assert not np.allclose(a[0].atoms.cell, c[0].atoms.cell)
    assert atoms.calc is None and a[0].atoms.info["strain_magnitude"] == a[0].magnitude


def test_rattle_statistics():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (6, 6, 6)  # 864 atoms -> 2592 samples
    out = rattle(atoms, 0.1, np.random.default_rng(3))
    disp = (out.positions - atoms.positions).ravel()
    assert abs(disp.mean()) < 4 * 0.1 / np.sqrt(disp.size)
    assert disp.std() == pytest.approx(0.1, rel=0.06)
    np.testing.assert_array_equal(out.cell, atoms.cell)


def test_strain_of_a_molecule_scales_about_origin():
    mol = Atoms("OLi", positions=[[0, 0, 0], [1.6, 0, 0]])
    eps = np.diag([0.03, 0.0, 0.0])
    out = apply_strain(mol, eps)
    assert out.get_distance(0, 1) == pytest.approx(1.6 * 1.03)


def test_bad_inputs():
    atoms = _triclinic()
    with pytest.raises(InterforgeError):
        perturb(atoms, 2, strain_min=0.05, strain_max=0.01)
    with pytest.raises(InterforgeError):
        perturb(atoms, 2, strain_min=0.0, strain_max=1.5)
    with pytest.raises(InterforgeError):
        apply_strain(atoms, np.array([[0, 0.01, 0], [0, 0, 0], [0, 0, 0]]))
    with pytest.raises(ConfigError, match="strain_min"):
        config_from_dict({"sampling": {"strain_min": 0.1, "strain_max": 0.05}})


def test_settings_drive_perturbations():
    s = SamplingSection(n_strained=4, strain_min=0.02, strain_max=0.03, rattle_A=0.0)
    out = perturb_from_settings(_triclinic(), s, seed=1)
    assert len(out) == 4 and all(0.02 <= p.magnitude <= 0.03 for p in out)
