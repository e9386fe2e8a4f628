"""Validation gates and the pieces under them, each against an independent reference: calorine's
(GPUMD's) D3 for the run-time dispersion, an ideal gas for the barostat, a crystal with known thermal
displacements for the Lindemann index, a known EOS for the relaxed E-V curve, and gate arithmetic on
constructed cases."""

import math

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from interforge.analysis.solid import sublattice_order
from interforge.config import InterforgeConfig, config_from_dict
from interforge.validation import gates as G


# ---------------------------------------------------------------- run-time dispersion
@pytest.fixture(scope="module")
def untrained_nep(tmp_path_factory):
    """A NEP for Li, Zr, Cl with random weights: enough to compare D3 implementations on top of it."""
    torch = pytest.importorskip("torch")
    from neppo.models import NEP, Descriptor

    from interforge.nep.modelfile import write_nep

    torch.manual_seed(0)
    desc = Descriptor(["Li", "Zr", "Cl"], radial_cutoff=5.0, angular_cutoff=4.0, n_max_radial=3, n_max_angular=3,
                      n_basis_radial=4, n_basis_angular=4, l_max_3b=4, l_max_4b=0, l_max_5b=0)
    model = NEP(desc, neurons=(5,), zbl=None).to(torch.float32)
    model.max_neighbors_radial = model.max_neighbors_angular = 200
    return write_nep(model, tmp_path_factory.mktemp("nep") / "nep.txt")


def _li_zr_cl(seed=1):
    rng = np.random.default_rng(seed)
    cell = np.diag([9.0, 8.5, 10.0]) + rng.uniform(-0.4, 0.4, (3, 3))
    n = 24
    frac = rng.uniform(0, 1, (n, 3))
    a = Atoms(["Li"] * 8 + ["Zr"] * 4 + ["Cl"] * 12, scaled_positions=frac, cell=cell, pbc=True)
    # keep atoms apart: a coarse grid with a rattle
    grid = np.array([[i, j, k] for i in range(2) for j in range(3) for k in range(4)], float) / [2, 3, 4]
    a.set_scaled_positions(grid + rng.uniform(-0.05, 0.05, grid.shape))
    return a


def test_d3_subtracted_from_labels_is_the_d3_calorine_adds_back(untrained_nep):
    from calorine.calculators import CPUNEP

    from interforge.nep.dispersion import Dispersion, subtract_dispersion

    disp = Dispersion("pbe", 12.0, 6.0)
    a = _li_zr_cl()
    bare, with_d3 = CPUNEP(str(untrained_nep)), CPUNEP(str(untrained_nep), dftd3=disp.calorine())

    def efs(calc):
        b = a.copy()
        b.calc = calc
        return b.get_potential_energy(), b.get_forces(), b.get_stress()

    (e0, f0, s0), (e1, f1, s1) = efs(bare), efs(with_d3)
    # A "label" that is exactly NEP + calorine's D3: subtracting our D3 must give back the bare NEP.
    lab = a.copy()
    lab.calc = SinglePointCalculator(lab, energy=e1, forces=f1, stress=s1)
    out = subtract_dispersion([lab], disp)[0]
    r = out.calc.results
    assert abs(e1 - e0) > 0.1  # D3 is not negligible here
    assert r["energy"] == pytest.approx(e0, abs=2e-5 * len(a))
    assert np.abs(r["forces"] - f0).max() < 1e-5
    assert np.abs(r["stress"] - s0).max() * 160.2 < 1e-4  # GPa
    assert lab.calc.results["energy"] == e1  # the original label is untouched


def test_model_sidecar_travels_with_the_model(untrained_nep, tmp_path):
    import shutil

    from interforge.nep import NEPCalculator
    from interforge.nep.dispersion import Dispersion, read_dispersion, write_dispersion

    path = tmp_path / "nep.txt"
    shutil.copy(untrained_nep, path)
    a = _li_zr_cl(2)
    a.calc = NEPCalculator(path)
    e_bare = a.get_potential_energy()
    disp = Dispersion("pbe", 12.0, 6.0)
    write_dispersion(path, disp)
    assert read_dispersion(path) == disp
    b = a.copy()
    b.calc = NEPCalculator(path)
    d3 = a.copy()
    d3.calc = disp.calculator()
    assert b.get_potential_energy() - e_bare == pytest.approx(d3.get_potential_energy(), abs=1e-4)
    assert disp.gpumd_line() == "dftd3 pbe 12 6"


def test_dispersion_follows_the_teacher():
    assert InterforgeConfig().nep.dispersion == "d3"
    assert config_from_dict({"teacher": {"dispersion": False}}).nep.dispersion == "none"
    assert config_from_dict({"teacher": {"name": "vasp", "vasp": {"ivdw": 0}}}).nep.dispersion == "none"
    assert config_from_dict({"nep": {"dispersion": "none"}}).nep.dispersion == "none"


# ---------------------------------------------------------------- barostat: the ideal gas
class _Zero(Calculator):
    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3)), "stress": np.zeros(6)}


def test_scr_barostat_holds_the_target_pressure_of_an_ideal_gas(tmp_path):
    """Bernetti & Bussi's SCR samples p(V) ~ V^N exp(-P0 V / kT) for an ideal gas, so <V> = (N + 1) kT / P0
    and the mean instantaneous pressure 2K/(3V) equals P0 (N - 1)/N with the centre-of-mass momentum removed."""
    from interforge.md import run_md
    from interforge.md.guards import Guards
    from interforge.trajectory.thermo import read_thermo

    n, T, p0 = 64, 600.0, 0.5  # GPa
    kT = 8.617333262e-5 * T
    v_exp = (n + 1) * kT / (p0 / 160.21766208)
    ratios_v, ratios_p = [], []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        L = v_exp ** (1 / 3)
        gas = Atoms(f"Ar{n}", positions=rng.uniform(0, L, (n, 3)), cell=[L, L, L], pbc=True)
        out = tmp_path / f"gas{seed}"
        run_md(gas, _Zero(), "npt", T, 12000, out, pressure_bar=p0 * 1e4, timestep_fs=2.0, thermo_interval=1,
               dump_interval=12000, seed=seed, barostat_tau_fs=200.0, bulk_modulus_GPa=p0,
               guards=Guards(None, None, None, None))
        th = read_thermo(out / "thermo.dat")
        ratios_v.append(th["V_A3"][1000:].mean() / v_exp)
        ratios_p.append(th["P_GPa"][1000:].mean() / (p0 * (n - 1) / n))
    assert np.mean(ratios_v) == pytest.approx(1.0, abs=0.03)
    assert np.mean(ratios_p) == pytest.approx(1.0, abs=0.03)


# ---------------------------------------------------------------- solid or liquid
def test_lindemann_index_of_a_crystal_with_known_vibration():
    rng = np.random.default_rng(3)
    lattice = bulk("Cu", "fcc", a=4.0, cubic=True).repeat(3)  # nn distance a / sqrt(2)
    sigma = 0.12  # Å per axis
    T = 400
    cells = np.repeat(lattice.cell.array[None], T, axis=0) * (1 + 0.005 * rng.standard_normal((T, 1, 1)))
    frac = lattice.get_scaled_positions()
    pos = np.einsum("nj,tjk->tnk", frac, cells) + sigma * rng.standard_normal((T, len(lattice), 3))
    pos += rng.standard_normal((T, 1, 3)) * 0.3  # a drift of the whole sublattice is not disorder
    res = sublattice_order(pos, cells)
    assert res.nn_distance_A == pytest.approx(4.0 / math.sqrt(2), rel=0.01)  # sites carry sampling noise
    assert res.lindemann == pytest.approx(math.sqrt(3) * sigma / (4.0 / math.sqrt(2)), rel=0.05)
    # a liquid: the same atoms wander by random walks
    walk = pos + np.cumsum(0.15 * rng.standard_normal(pos.shape), axis=0)
    assert sublattice_order(walk, cells).lindemann > 3 * res.lindemann


def test_small_cell_nearest_neighbour_uses_images():
    one = bulk("Cu", "fcc", a=3.6)  # one atom: its neighbours are all images
    pos = np.repeat(one.positions[None], 3, axis=0)
    cells = np.repeat(one.cell.array[None], 3, axis=0)
    assert sublattice_order(pos, cells).nn_distance_A == pytest.approx(3.6 / math.sqrt(2), rel=1e-6)


# ---------------------------------------------------------------- E-V with relaxed internal coordinates
def test_relaxed_ev_curve_finds_the_crystal_minimum_from_a_rattled_start():
    from ase.eos import EquationOfState

    from interforge.active.validate import ev_curve

    perfect = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    vols, es = [], []
    for s in np.linspace(-0.03, 0.04, 7):
        a = perfect.copy()
        a.set_cell(a.cell * (1 + s), scale_atoms=True)
        a.calc = EMT()
        vols.append(a.get_volume() / len(a))
        es.append(a.get_potential_energy() / len(a))
    v_ref = EquationOfState(vols, es, eos="birchmurnaghan").fit()[0]
    rattled = perfect.copy()
    rattled.rattle(0.15, seed=4)
    unrelaxed = ev_curve("Cu", rattled, EMT(), EMT())
    relaxed = ev_curve("Cu", rattled, EMT(), EMT(), relax_steps=300)
    assert relaxed.v0_teacher == pytest.approx(v_ref, rel=0.003)
    assert abs(unrelaxed.v0_teacher / v_ref - 1) > 3 * abs(relaxed.v0_teacher / v_ref - 1)
    assert relaxed.v0_nep == pytest.approx(relaxed.v0_teacher, rel=1e-9)  # same calculator both sides


# ---------------------------------------------------------------- gate arithmetic
def test_force_parity_slope_and_rmse():
    rng = np.random.default_rng(0)
    f_t = rng.standard_normal((50, 3))
    slope, rmse = G.force_parity(0.9 * f_t, f_t)
    assert slope == pytest.approx(0.9)
    assert rmse == pytest.approx(0.1 * np.sqrt(np.mean(f_t**2)))
    assert not G.forces_gate(0.9 * f_t, f_t, [0.95, 1.05], 1000.0, True).passed
    assert G.forces_gate(f_t, f_t, [0.95, 1.05], 1.0, True).passed
    assert not G.forces_gate(f_t, f_t, [0.95, 1.05], 1.0, False).passed  # frames not independent


def test_pressure_gate_sees_a_bias():
    p_t = {"a@600K": [0.1, -0.2, 0.3]}
    g = G.pressure_gate({"a@600K": [0.4, 0.1, 0.6]}, p_t, 0.2)
    assert g.value == pytest.approx(0.3) and not g.passed
    assert g.detail["a@600K"]["mean_signed_GPa"] == pytest.approx(0.3)
    assert G.pressure_gate({"a@600K": [0.15, -0.1, 0.3]}, p_t, 0.2).passed


def test_pressure_gate_fails_a_case_without_frames():
    """A run that stopped before its window has no frame to compare: that case fails, whatever the others read."""
    g = G.pressure_gate({"a@600K": [0.1], "b@600K": []}, {"a@600K": [0.1], "b@600K": []}, 0.2)
    assert not g.passed and g.value == pytest.approx(0.0) and g.detail["b@600K"]["n"] == 0


def test_phase_order_gate():
    teacher = {"ideal": 0.0, "alpha": 11.0, "beta": 24.0}
    assert G.phase_order_gate({"ideal": 0.0, "alpha": 12.5, "beta": 22.0}, teacher, 3.0).passed
    swapped = G.phase_order_gate({"ideal": 2.0, "alpha": 0.0, "beta": 24.0}, teacher, 3.0)
    assert not swapped.passed and swapped.detail["order_swapped"]
    assert not G.phase_order_gate({"ideal": 0.0, "alpha": 15.0, "beta": 24.0}, teacher, 3.0).passed


def test_density_and_solid_gates():
    good = {"a@600K": {"deviation": 0.01, "volume_drift": 0.005, "lindemann": 0.08}}
    assert G.density_gate(good, 0.02, 0.03).passed and G.solid_gate(good, 0.15).passed
    swell = {"a@600K": {"deviation": 0.2, "volume_drift": 0.1, "lindemann": 0.4}}
    assert not G.density_gate(swell, 0.02, 0.03).passed and not G.solid_gate(swell, 0.15).passed
    stopped = {"a@600K": {"deviation": float("nan"), "volume_drift": float("nan"), "lindemann": float("nan"),
                          "completed": False}}
    assert not G.density_gate(stopped, 0.02, 0.03).passed and not G.solid_gate(stopped, 0.15).passed
    s = G.summarise([G.solid_gate(good, 0.15), G.density_gate(swell, 0.02, 0.03)])
    assert s["failed"] == ["density"] and not s["passed"]
    assert set(s["gates"]["solid"]) == {"value", "threshold", "passed"}


# ---------------------------------------------------------------- validation caches
def test_validator_caches_the_teacher_side_and_keys_nep_runs_by_model(untrained_nep, tmp_path):
    """The teacher's relaxed energies and NEB barriers are computed once per folder; the NEP's NPT
    runs are keyed by the model's content, so another model validated in the same folder starts afresh."""
    import shutil

    from interforge.validation.runner import Validator, _model_key

    other = tmp_path / "other" / "nep.txt"
    other.parent.mkdir()
    text = untrained_nep.read_text().splitlines()
    text[-1] = str(float(text[-1]) + 0.5)  # one parameter changed: another model
    other.write_text("\n".join(text) + "\n")
    assert _model_key(str(untrained_nep)) != _model_key(str(other))
    same = tmp_path / "copy" / "nep.txt"
    same.parent.mkdir()
    shutil.copy(untrained_nep, same)
    assert _model_key(str(untrained_nep)) == _model_key(str(same))

    cfg = InterforgeConfig()
    atoms = _li_zr_cl()
    calls = []
    val = Validator.__new__(Validator)  # only the cache: no teacher, no gates
    val.cfg, val.v, val.out = cfg, cfg.validation, tmp_path / "val"
    val.out.mkdir()
    assert val.cached("neb:x", atoms, lambda: calls.append(1) or 0.25) == 0.25
    assert val.cached("neb:x", atoms, lambda: calls.append(1) or 0.99) == 0.25
    assert len(calls) == 1
    moved = atoms.copy()
    moved.positions[0] += 0.1  # another structure is another key
    assert val.cached("neb:x", moved, lambda: 0.5) == 0.5
    assert val.cached("ev:x", atoms, lambda: None) is None and val.cached("ev:x", atoms, lambda: [1.0]) == [1.0]
