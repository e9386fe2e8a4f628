"""SOAP and NEP descriptors: invariances, size-independence of the average, agreement with per-atom references."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from scipy.spatial.transform import Rotation

from interforge.config.sampling import SamplingSection
from interforge.errors import InterforgeError
from interforge.sampling import nep_descriptor_fn, nep_descriptors, soap_descriptors

FAST = SamplingSection(soap_r_cut=4.0, soap_n_max=3, soap_l_max=3, soap_sigma=0.5)


def _zro2():
    a = bulk("ZrO2", "fluorite", a=5.1) * (2, 1, 1)
    a.set_cell(a.cell @ np.array([[1.0, 0.04, 0.0], [0.0, 1.0, 0.06], [0.03, 0.0, 1.0]]), scale_atoms=True)
    a.rattle(0.08, seed=1)
    return a


def _cluster():
    rng = np.random.default_rng(2)
    pos = rng.random((9, 3)) * 5.0
    return Atoms("Li3ZrCl5", positions=pos)


def _moved(atoms, seed):
    rng = np.random.default_rng(seed)
    out = atoms.copy()
    rot = Rotation.random(random_state=seed).as_matrix()
    out.set_cell(np.asarray(atoms.cell) @ rot.T, scale_atoms=False)
    out.positions = atoms.positions @ rot.T + rng.normal(size=3) * 3.0
    perm = rng.permutation(len(out))
    return out[perm]


def test_soap_invariant_to_rotation_translation_permutation():
    structures = [_zro2(), _cluster()]
    moved = [_moved(a, 10 + k) for k, a in enumerate(structures)]
    ref = soap_descriptors(structures, FAST)
    got = soap_descriptors(moved, FAST, species=ref.species)
    assert ref.values.shape == got.values.shape == (2, ref.values.shape[1])
    np.testing.assert_allclose(got.values, ref.values, rtol=1e-6, atol=1e-8 * np.abs(ref.values).max())
    # and it is not blind: a strained copy differs
    strained = structures[0].copy()
    strained.set_cell(strained.cell * 1.03, scale_atoms=True)
    other = soap_descriptors([strained], FAST, species=ref.species).values[0]
    assert np.linalg.norm(other - ref.values[0]) > 1e-3 * np.linalg.norm(ref.values[0])


def test_soap_average_is_size_independent_and_equals_mean_of_per_atom_spectra():
    from dscribe.descriptors import SOAP

    cell = bulk("ZrO2", "fluorite", a=5.1)
    super_ = cell * (2, 2, 1)
    d = soap_descriptors([cell, super_], FAST).values
    np.testing.assert_allclose(d[0], d[1], rtol=1e-8, atol=1e-10)
    # outer average = mean of per-atom spectra computed without averaging
    a = _zro2()
    per_atom = SOAP(species=["O", "Zr"], r_cut=4.0, n_max=3, l_max=3, sigma=0.5, periodic=True).create(a)
    np.testing.assert_allclose(soap_descriptors([a], FAST).values[0], per_atom.mean(axis=0), rtol=1e-8, atol=1e-12)


def test_soap_species_from_data_and_checked():
    res = soap_descriptors([_zro2(), _cluster()], FAST)
    assert res.species == ["Li", "O", "Cl", "Zr"]  # by atomic number
    assert res.kind == "soap" and res.settings["r_cut"] == 4.0
    with pytest.raises(InterforgeError, match="not in the SOAP species"):
        soap_descriptors([_cluster()], FAST, species=["O", "Zr"])
    with pytest.raises(InterforgeError):
        soap_descriptors([], FAST)


def test_nep_descriptors_average_calorine(nep_fixture_dir):
    from calorine.nep import get_descriptors

    model = nep_fixture_dir / "Si_2022_NEP4_5body.txt"
    prim = bulk("Si", "diamond", a=5.43)
    sup = prim * (2, 2, 1)
    rattled = sup.copy()
    rattled.rattle(0.1, seed=3)
    res = nep_descriptors([prim, sup, rattled], model)
    assert res.kind == "nep" and res.species == ["Si"]
    np.testing.assert_allclose(res.values[0], res.values[1], rtol=1e-8, atol=1e-10)  # size-independent
    np.testing.assert_allclose(res.values[2], get_descriptors(rattled, str(model)).mean(axis=0), rtol=1e-10)
    perm = _moved(rattled, 4)
    np.testing.assert_allclose(nep_descriptor_fn(model)([perm]).values[0], res.values[2], rtol=1e-6, atol=1e-9)
    with pytest.raises(InterforgeError, match="lacks"):
        nep_descriptors([_zro2()], model)


def test_nep_descriptors_missing_model(tmp_path):
    with pytest.raises(InterforgeError, match="not found"):
        nep_descriptors([bulk("Si")], tmp_path / "nep.txt")
