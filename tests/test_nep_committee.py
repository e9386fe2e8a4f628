"""CommitteeCalculator: mean predictions and GPUMD `active` force deviation.

References: the definition written out by hand (population variance, summed over x, y, z,
square root, max over atoms), and single-model calculators for the means.
"""

import numpy as np
import pytest
from ase.build import bulk

from interforge.errors import InterforgeError
from interforge.nep import CommitteeCalculator, NEPCalculator, force_deviation

C = "C_2022_NEP4.txt"


def test_force_deviation_definition():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(4, 7, 3))
    sigma, smax = force_deviation(f)
    for i in range(7):
        mean = sum(f[m, i] for m in range(4)) / 4
        var = sum(float(np.dot(f[m, i] - mean, f[m, i] - mean)) for m in range(4)) / 4  # 1/M, not 1/(M-1)
        assert sigma[i] == pytest.approx(np.sqrt(var), rel=1e-12)
    assert smax == pytest.approx(sigma.max())
    # two members differing by +/- d on one component: sigma = d
    g = np.zeros((2, 3, 3))
    g[0, 1, 2], g[1, 1, 2] = 0.5, -0.5
    s, m = force_deviation(g)
    assert m == pytest.approx(0.5) and s[0] == 0 and s[2] == 0
    with pytest.raises(InterforgeError):
        force_deviation(np.zeros((2, 3)))


def _perturbed_copies(src, tmp_path):
    """Three committee members from one public model: the original, one with a shifted output
    bias (same forces, energy shifted by N * 0.01 eV), one with a perturbed first-layer weight."""
    lines = src.read_text().splitlines()
    first = 6  # 'nep4 1 C', cutoff, n_max, basis_size, l_max, ANN -> parameters from line 7
    paths = [tmp_path / f"m{i}.txt" for i in range(3)]
    paths[0].write_text("\n".join(lines) + "\n")
    # NEP4, 1 species: w0 (N_neu*dim), b0 (N_neu), w1 (N_neu), then b1 (the output bias)
    dim = 11 + 9 * 6
    n_neu = 100
    b1 = first + n_neu * dim + 2 * n_neu
    shifted = list(lines)
    shifted[b1] = f"{float(lines[b1]) - 0.01:15.7e}"  # U_i = ... - b1, so energy rises by 0.01 eV/atom
    paths[1].write_text("\n".join(shifted) + "\n")
    pert = list(lines)
    pert[first + 3] = f"{float(lines[first + 3]) * 1.5 + 0.05:15.7e}"
    paths[2].write_text("\n".join(pert) + "\n")
    return paths


def test_committee_means_and_deviation(nep_fixture_dir, tmp_path):
    paths = _perturbed_copies(nep_fixture_dir / C, tmp_path)
    atoms = bulk("C", "diamond", a=3.57, cubic=True)
    atoms.rattle(0.08, seed=5)
    singles = []
    for p in paths:
        a = atoms.copy()
        a.calc = NEPCalculator(p)
        singles.append((a.get_potential_energy(), a.get_forces(), a.get_stress()))
    # the bias shift is exactly an energy shift
    assert singles[1][0] - singles[0][0] == pytest.approx(0.01 * len(atoms), abs=1e-6)
    np.testing.assert_allclose(singles[1][1], singles[0][1], atol=1e-10)

    atoms.calc = CommitteeCalculator(paths)
    e = atoms.get_potential_energy()
    assert e == pytest.approx(np.mean([s[0] for s in singles]), abs=1e-9)
    np.testing.assert_allclose(atoms.get_forces(), np.mean([s[1] for s in singles], axis=0), atol=1e-10)
    np.testing.assert_allclose(atoms.get_stress(), np.mean([s[2] for s in singles], axis=0), atol=1e-12)
    fd = atoms.calc.get_property("force_deviation", atoms)
    fmax = atoms.calc.get_property("max_force_deviation", atoms)
    f = np.stack([s[1] for s in singles])
    ref = np.sqrt(((f - f.mean(0)) ** 2).sum(axis=2).mean(axis=0))
    np.testing.assert_allclose(fd, ref, atol=1e-12)
    assert fmax == pytest.approx(ref.max()) and fmax > 1e-4

    # two members with identical forces: zero deviation
    atoms.calc = CommitteeCalculator(paths[:2])
    assert atoms.calc.get_property("max_force_deviation", atoms) < 1e-9


def test_committee_rejects_mixed_species(nep_fixture_dir):
    with pytest.raises(InterforgeError, match="species"):
        CommitteeCalculator([nep_fixture_dir / C, nep_fixture_dir / "Si_2022_NEP4_5body.txt"])
    with pytest.raises(InterforgeError, match="at least 2"):
        CommitteeCalculator([nep_fixture_dir / C])


def test_members_in_local_processes_match_members_in_this_process(tmp_path):
    """Two members trained at once in spawned workers are the members trained one after another here
    (same seeds, same bootstrap, one torch thread each): parallel training changes the wall time only."""
    import numpy as np
    import torch
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    from interforge.config.nep import NepSection
    from interforge.nep import train_committee

    rng = np.random.default_rng(0)
    data = []
    for k in range(8):
        a = bulk("Cu", "fcc", a=3.6, cubic=True)
        a.rattle(0.05, seed=k)
        a.set_cell(a.cell * (1 + rng.uniform(-0.02, 0.02)), scale_atoms=True)
        a.calc = EMT()
        labels = {"energy": a.get_potential_energy(), "forces": a.get_forces(), "stress": a.get_stress()}
        a.calc = SinglePointCalculator(a, **labels)  # what the store hands out
        data.append(a)
    base = dict(preset="small", generation=30, committee=2, test_fraction=0.0, dispersion="none", output_interval=10)
    torch.set_num_threads(1)
    one = train_committee(data, tmp_path / "one", NepSection(**base, workers=1))
    two = train_committee(data, tmp_path / "two", NepSection(**base, workers=2))
    for a, b in zip(one.members, two.members):
        assert (a.index, a.seed, a.n_train_unique) == (b.index, b.seed, b.n_train_unique)
        assert b.rmse_train["force_meV_A"] == pytest.approx(a.rmse_train["force_meV_A"], rel=1e-4)
    assert one.members[0].rmse_train != one.members[1].rmse_train  # the members do differ


def test_the_production_member_is_the_one_with_the_lowest_test_loss():
    """Ranked by lambda_e RMSE_E + lambda_f RMSE_F + lambda_v RMSE_V on the test split (the training objective),
    worked by hand here; a member without a test split goes last."""
    from interforge.nep.committee import MemberResult, rank_members

    def member(i, e, f, v):
        return MemberResult(index=i, seed=i, nep_path=f"m{i}", backend="neppo", steps=1, wall_s=0.0, n_train=1,
                            n_train_unique=1, n_test=1, rmse_train={},
                            rmse_test={"energy_meV_atom": e, "force_meV_A": f, "virial_meV_atom": v})

    members = [member(0, 9.0, 150.0, 30.0), member(1, float("nan"), 100.0, 10.0), member(2, 7.0, 140.0, 30.0),
               member(3, 20.0, 135.0, 30.0)]
    # lambda = (1, 1, 1): 189, nan, 177, 185 -> 2, 3, 0, then 1
    assert rank_members(members, {"lambda_e": 1.0, "lambda_f": 1.0, "lambda_v": 1.0}) == [2, 3, 0, 1]
    # energy weighted tenfold: 270, nan, 240, 365 -> 2, 0, 3, then 1
    assert rank_members(members, {"lambda_e": 10.0, "lambda_f": 1.0, "lambda_v": 1.0}) == [2, 0, 3, 1]
