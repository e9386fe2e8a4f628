"""nep.txt validation/reading and evaluation of the public GPUMD models.

Independent references: neppo's PyTorch implementation of NEP (a second reader and evaluator
of the same file), finite differences of the energy, and calorine's own CPUNEP.
"""

import shutil

import numpy as np
import pytest
from ase.build import bulk

from interforge.errors import InterforgeError
from interforge.nep import NEPCalculator, NepFileError, NepModel, read_nep, validate_nep_file, write_nep

SI = "Si_2022_NEP4_5body.txt"
C = "C_2022_NEP4.txt"
UNEP = "Song-2024-UNEP-v1-AgAlAuCrCuMgMoNiPbPdPtTaTiVWZr.txt"


def _si(seed=0):
    a = bulk("Si", "diamond", a=5.43, cubic=True).repeat((2, 1, 1))
    a.rattle(0.05, seed=seed)
    return a


def _unep_alloy():
    a = bulk("Cu", "fcc", a=3.8, cubic=True).repeat((2, 2, 1))
    a.symbols[[1, 5, 9]] = "Zr"
    a.symbols[[2, 6]] = "Al"
    a.rattle(0.05, seed=3)
    return a


def _neppo_reference(path, atoms):
    import torch
    from neppo import predict, read_model

    torch.set_num_threads(1)
    m = read_model(str(path), dtype=torch.float64)
    p = predict(m, [atoms])[0]
    return float(p.info["energy_predicted"][0]) * len(atoms), np.asarray(p.arrays["force_predicted"]), -np.asarray(
        p.info["virial_predicted"]) * len(atoms) / atoms.get_volume()


def _diamond():
    a = bulk("C", "diamond", a=3.57, cubic=True).repeat((2, 1, 1))
    a.rattle(0.05, seed=1)
    return a


@pytest.mark.parametrize("name, maker", [(C, _diamond), (UNEP, _unep_alloy)])
def test_public_models_match_neppo(nep_fixture_dir, name, maker):
    """calorine-backed NEPCalculator and neppo's independent evaluator agree on public models
    (4-/5-body terms, 16 species, universal ZBL)."""
    path = nep_fixture_dir / name
    hdr = validate_nep_file(path)
    atoms = maker()
    atoms.calc = NEPCalculator(path)
    e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    e_ref, f_ref, s_ref = _neppo_reference(path, atoms)
    assert abs(e - e_ref) / len(atoms) < 1e-8
    assert np.abs(f - f_ref).max() < 1e-7
    assert np.abs(s - s_ref).max() < 1e-8
    assert hdr.n_parameters > 1000


def test_si_5body_model_forces_are_energy_gradients(nep_fixture_dir):
    """Si model (n_max 10 10, beyond neppo's limits): finite differences are the reference."""
    path = nep_fixture_dir / SI
    atoms = _si(1)
    atoms.calc = NEPCalculator(path)
    f = atoms.get_forces()
    h = 1e-5
    for i, k in [(0, 0), (3, 2), (5, 1)]:
        p = atoms.copy()
        p.calc = NEPCalculator(path)
        p.positions[i, k] += h
        ep = p.get_potential_energy()
        p.positions[i, k] -= 2 * h
        em = p.get_potential_energy()
        assert abs(-(ep - em) / (2 * h) - f[i, k]) < 1e-5


def test_stress_is_strain_derivative(nep_fixture_dir):
    path = nep_fixture_dir / SI
    atoms = _si(2)
    atoms.calc = NEPCalculator(path)
    s = atoms.get_stress(voigt=False)
    v = atoms.get_volume()
    h = 1e-5
    for a, b in [(0, 0), (1, 2)]:
        es = []
        for sign in (1, -1):
            eps = np.eye(3)
            eps[a, b] += sign * h / (2 if a != b else 1)
            eps[b, a] += sign * h / 2 if a != b else 0
            p = atoms.copy()
            p.set_cell(atoms.cell.array @ eps, scale_atoms=True)
            p.calc = NEPCalculator(path)
            es.append(p.get_potential_energy())
        assert abs((es[0] - es[1]) / (2 * h) / v - s[a, b]) < 1e-6


def test_model_object_and_roundtrip(nep_fixture_dir, tmp_path):
    path = nep_fixture_dir / SI
    m = NepModel(path)
    atoms = _si(4)
    ev = m.evaluate(atoms)
    assert m.types == ["Si"]
    np.testing.assert_allclose(ev.energies.sum(), ev.energy, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ev.virial, ev.virial.T, atol=1e-9)  # symmetric
    # written through calorine and read back: same predictions
    out = write_nep(read_nep(path), tmp_path / "copy" / "nep.txt")
    ev2 = NepModel(out).evaluate(atoms)
    assert abs(ev2.energy - ev.energy) / len(atoms) < 1e-6
    assert np.abs(ev2.forces - ev.forces).max() < 1e-5
    with pytest.raises(InterforgeError, match="species"):
        m.evaluate(bulk("Cu"))


def _write(tmp_path, text):
    p = tmp_path / "nep.txt"
    p.write_text(text)
    return p


def _lines(nep_fixture_dir):
    return (nep_fixture_dir / SI).read_text().splitlines()


@pytest.mark.parametrize("edit, line, words", [
    (lambda L: ["nep4 2 Si"] + L[1:], 1, "announces 2 species"),
    (lambda L: ["nep9 1 Si"] + L[1:], 1, "unknown model token"),
    (lambda L: L[:1] + ["cutoff 5 5 53"] + L[2:], 2, "'cutoff' expects"),
    (lambda L: L[:2] + ["n_max 10 x"] + L[3:], 3, "integers"),
    (lambda L: L[:4] + ["lmax 4 2 1"] + L[5:], 5, "'l_max'"),
    (lambda L: L[:100] + ["0.1 0.2"] + L[101:], 101, "one parameter value"),
    (lambda L: L[:2000] + ["abc"] + L[2001:], 2001, "not a number"),
    (lambda L: L[:-10], len, "file ends after"),
    (lambda L: L + ["1.0", "2.0"], len, "beyond"),
    (lambda L: L[:4], 5, "file ends where"),
])
def test_malformed_file_error_names_line(nep_fixture_dir, tmp_path, edit, line, words):
    lines = edit(_lines(nep_fixture_dir))
    if line is len:  # count errors point at the first missing / first extra value line
        line = len(lines) + 1 if words == "file ends after" else len(lines) - 1
    p = _write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(NepFileError) as exc:
        NEPCalculator(p)
    msg = str(exc.value)
    assert f"line {line}:" in msg and words in msg and "\n" not in msg


def test_missing_file_and_zbl_header(tmp_path, nep_fixture_dir):
    with pytest.raises(NepFileError, match="no such"):
        validate_nep_file(tmp_path / "absent.txt")
    lines = (nep_fixture_dir / UNEP).read_text().splitlines()
    p = _write(tmp_path, "\n".join([lines[0], "zbl 1", *lines[2:]]) + "\n")
    with pytest.raises(NepFileError, match="line 2:.*zbl"):
        validate_nep_file(p)
    shutil.copy(nep_fixture_dir / UNEP, tmp_path / "u.txt")
    h = validate_nep_file(tmp_path / "u.txt")
    assert h.zbl == (1.0, 2.0) and len(h.types) == 16 and h.dim == 5 + 5 * 6
