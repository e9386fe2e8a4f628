"""ASE engine: canonical kinetic energies, SCR bulk modulus, NVE drift, guards, committee logging."""

import sys
from pathlib import Path

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState

from interforge.errors import InterforgeError
from interforge.md import Guards, run_md
from interforge.md.barostat import scr_strain
from interforge.md.momentum import remove_angular_momentum, remove_linear_momentum
from interforge.trajectory import TrajectoryReader, read_thermo

sys.path.insert(0, str(Path(__file__).parent))
from test_md_helpers import Einstein, FakeCommittee  # noqa: E402


def cu(rep=(2, 2, 2)):
    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat(rep)


def test_nvt_kinetic_energy_is_canonical(tmp_path):
    """200 atoms, Bussi thermostat: K ~ Gamma(N_f/2, kT): mean N_f kT/2, variance N_f (kT)^2 / 2."""
    atoms = cu((5, 5, 2))
    assert len(atoms) == 200
    r = run_md(atoms, EMT(), "nvt", 300.0, 1500, tmp_path, timestep_fs=5.0, thermostat_tau_fs=20.0,
               thermo_interval=1, dump_interval=500, seed=3, momentum_removal_interval=0)
    assert r.stopped_by is None and r.steps_done == 1500
    k = read_thermo(r.thermo_path)["Ekin_eV"][100:]
    ndof, kt = 3 * 200 - 3, units.kB * 300.0
    mean_ref, var_ref = ndof * kt / 2, ndof * kt**2 / 2
    # statistical errors from 10 blocks (correlated samples)
    blocks = k[: len(k) // 10 * 10].reshape(10, -1)
    err_mean = blocks.mean(1).std(ddof=1) / np.sqrt(10)
    err_var = blocks.var(1).std(ddof=1) / np.sqrt(10)
    assert abs(k.mean() - mean_ref) < 3 * err_mean + 1e-3 * mean_ref
    assert abs(k.var() - var_ref) < 3 * err_var
    # an isokinetic (velocity-rescaling) thermostat would give a variance near zero: the test can tell
    assert k.var() > 0.7 * var_ref
    assert abs(r.mean_temperature_K - 300.0) < 10.0


@pytest.mark.slow
def test_npt_scr_bulk_modulus_matches_eos(tmp_path):
    """Volume fluctuations under SCR give B = kT <V> / var(V); compare with an E-V fit of the same EMT."""
    atoms = cu()
    v0 = atoms.get_volume()
    vols, energies = [], []
    for s in np.linspace(0.98, 1.02, 9):
        a = atoms.copy()
        a.set_cell(a.cell * s ** (1 / 3), scale_atoms=True)
        a.calc = EMT()
        vols.append(a.get_volume())
        energies.append(a.get_potential_energy())
    eos = EquationOfState(vols, energies, eos="birchmurnaghan")
    _, _, b_eos = eos.fit()  # eV/Å^3
    T = 150.0
    r = run_md(atoms, EMT(), "npt", T, 4000, tmp_path, timestep_fs=5.0, pressure_bar=1.0, thermostat_tau_fs=20.0,
               barostat_tau_fs=40.0, bulk_modulus_GPa=140.0, thermo_interval=1, dump_interval=1000, seed=11)
    assert r.stopped_by is None
    v = read_thermo(r.thermo_path)["V_A3"][400:]
    b_fluct = units.kB * T * v.mean() / v.var()
    assert abs(b_fluct / b_eos - 1) < 0.2, (b_fluct / units.GPa, b_eos / units.GPa)
    assert abs(v.mean() / v0 - 1) < 0.02
    # the instantaneous pressure (kinetic + virial) averages to the 1 bar target within its block error
    p = read_thermo(r.thermo_path)["P_GPa"][400:]
    err = p[:3600].reshape(20, -1).mean(1).std(ddof=1) / np.sqrt(20)
    assert abs(p.mean() - 1e-4) < 4 * err + 0.01


def test_npt_normal_and_orthorhombic_modes(tmp_path):
    atoms = cu()
    cell0 = atoms.cell.array.copy()
    r = run_md(atoms, EMT(), "npt", 300.0, 60, tmp_path, timestep_fs=2.0, barostat_mode="normal",
               barostat_tau_fs=50.0, bulk_modulus_GPa=140.0, dump_interval=20, seed=2)
    cells = TrajectoryReader(r.trajectory_path).cells()
    np.testing.assert_allclose(cells[:, :2], np.broadcast_to(cell0[:2], (len(cells), 2, 3)))
    assert np.ptp(cells[:, 2, 2]) > 0
    r = run_md(cu(), EMT(), "npt", 300.0, 60, tmp_path / "o", timestep_fs=2.0, barostat_mode="orthorhombic",
               barostat_tau_fs=50.0, bulk_modulus_GPa=140.0, dump_interval=20, seed=2)
    c = TrajectoryReader(r.trajectory_path).cells()[-1]
    assert np.allclose(c, np.diag(np.diag(c)))  # stays orthogonal
    assert np.ptp(np.diag(c)) > 1e-4  # the three axes move independently
    with pytest.raises(InterforgeError, match="orthogonal"):
        run_md(bulk("Cu"), EMT(), "npt", 300.0, 2, tmp_path / "x", barostat_mode="orthorhombic")


def test_scr_drift_direction_and_noise():
    rng = np.random.default_rng(0)
    kt, beta = 0.025, 1.0 / 0.8
    # With zero noise weight (huge volume) the cell expands when the internal pressure exceeds the target.
    e = scr_strain("isotropic", np.array([0.01] * 3), 0.0, 1e12, kt, beta, 0.1, rng)
    assert np.all(e > 0) and np.allclose(e, e[0])
    e = scr_strain("orthorhombic", np.array([0.01, -0.01, 0.0]), 0.0, 1e12, kt, beta, 0.1, rng)
    assert e[0] > 0 > e[1]
    # Noise variance of d ln V equals 2 kT beta dt/tau / V (isotropic) and sums to it (orthorhombic).
    for mode, var_of in (("isotropic", lambda x: x.sum(1)), ("orthorhombic", lambda x: x.sum(1))):
        x = np.array([scr_strain(mode, np.zeros(3), 0.0, 100.0, kt, beta, 0.01, rng) for _ in range(20000)])
        x = var_of(x) - var_of(x).mean()
        assert abs(x.var() / (2 * kt * beta * 0.01 / 100.0) - 1) < 0.05


def test_nve_energy_drift(tmp_path):
    """Velocity Verlet at 0.5 fs conserves the total energy: drift bound 2e-5 eV/atom over 0.2 ps."""
    atoms = cu()
    r = run_md(atoms, EMT(), "nve", 600.0, 400, tmp_path, timestep_fs=0.5, thermo_interval=10, dump_interval=100,
               seed=5, momentum_removal_interval=0)
    th = read_thermo(r.thermo_path)
    etot = th["Etot_eV"] / len(atoms)
    assert th["T_K"][1:].mean() > 150  # it really moves (K and U exchange)
    assert np.abs(etot - etot[0]).max() < 2e-5


def test_guard_stops_collapse_and_trajectory_stays_readable(tmp_path):
    """Every atom pulled to one point (springs to a common centre, no repulsion): the crystal collapses,
    the minimum-distance guard stops the run, and the frames written before stay readable."""
    atoms = cu()
    centre = atoms.cell.array.sum(0) / 2
    r = run_md(atoms, Einstein(np.tile(centre, (len(atoms), 1)), k=1.0), "nvt", 300.0, 2000, tmp_path,
               timestep_fs=2.0, dump_interval=2, thermo_interval=2, seed=1, chunk_frames=4,
               guards=Guards(min_distance_A=0.5, max_temperature_factor=None))
    assert r.stopped_by == "min_distance" and 10 <= r.steps_done < 2000
    assert "Å apart" in r.stop_message
    traj = TrajectoryReader(r.trajectory_path)
    assert traj.n_frames == r.steps_done // 2 + 1 == r.n_frames
    assert np.all(np.diff(traj.steps()) == 2)
    spread = traj.positions().std(axis=1).mean(1)
    assert spread[-1] < 0.5 * spread[0]  # the stored frames show the collapse
    assert (tmp_path / "guard_frame.extxyz").is_file()
    assert len(read_thermo(r.thermo_path)) == r.steps_done // 2 + 1


def test_max_force_guard(tmp_path):
    atoms = cu()
    atoms.positions[0] = atoms.positions[1] + [0.9, 0, 0]  # a close pair: large forces
    r = run_md(atoms, EMT(), "nvt", 300.0, 50, tmp_path, guards=Guards(max_force_eV_A=5.0), seed=0)
    assert r.stopped_by == "max_force" and r.steps_done == 1
    assert TrajectoryReader(r.trajectory_path).n_frames == 1


class CountingEMT(EMT):
    """EMT that counts its force calls."""

    calls = 0

    def calculate(self, *args, **kwargs):
        CountingEMT.calls += 1
        super().calculate(*args, **kwargs)


def test_library_md_refuses_a_start_below_the_min_distance_guard(tmp_path):
    """run_md and Dynamics (the library, no CLI) refuse a 0.3 Å contact before the first step: StartRefused
    (an InputError naming the guard), the calculator never called, no output folder or partial trajectory."""
    from interforge.errors import InputError
    from interforge.md import Dynamics, MDSettings, StartRefused

    def close():
        atoms = cu()
        atoms.positions[0] = atoms.positions[1] + [0.3, 0, 0]
        return atoms

    CountingEMT.calls = 0
    out = tmp_path / "run"
    with pytest.raises(StartRefused, match=r"0\.300 Å apart .*min_distance guard") as info:
        run_md(close(), CountingEMT(), "nvt", 300.0, 50, out, seed=0)
    assert isinstance(info.value, InputError)
    assert info.value.guard == "min_distance" and "before the first step" in info.value.reason
    with pytest.raises(StartRefused):  # resume=True without a checkpoint is a fresh start: refused too
        run_md(close(), CountingEMT(), "npt", 300.0, 50, out, seed=0, resume=True, checkpoint_interval=10)
    with pytest.raises(StartRefused):
        Dynamics(close(), CountingEMT(), MDSettings(ensemble="nve", guards=Guards(min_distance_A=0.5)), out)
    assert CountingEMT.calls == 0 and not out.exists()
    tiny = bulk("Cu", "fcc", a=3.61, cubic=True)
    tiny.set_cell(tiny.cell * 1e-3, scale_atoms=True)  # the guard's neighbour search over it never ended
    with pytest.raises(InterforgeError, match="thick"):
        run_md(tiny, CountingEMT(), "nvt", 300.0, 5, out, seed=0)
    assert CountingEMT.calls == 0 and not out.exists()
    # the limit follows the guard: with it off the same start runs (and max_force stops it at once)
    r = run_md(close(), EMT(), "nvt", 300.0, 5, out, seed=0, guards=Guards(min_distance_A=None))
    assert r.stopped_by == "max_force" and r.steps_done == 1


def test_committee_deviation_logged(tmp_path):
    atoms = cu()
    r = run_md(atoms, FakeCommittee(EMT()), "nvt", 300.0, 20, tmp_path, dump_interval=5, thermo_interval=5, seed=4,
               dump_velocities=True)
    traj = TrajectoryReader(r.trajectory_path)
    dev = traj.observable("max_force_deviation")
    expected = 1e-3 * np.abs(traj.positions()[:, :, 0]).max(1)  # FakeCommittee's known deviation
    np.testing.assert_allclose(dev, expected, rtol=1e-10)
    th = read_thermo(r.thermo_path)
    np.testing.assert_allclose(th["max_force_deviation_eV_A"], expected, rtol=1e-8)
    assert traj.velocities().shape == (5, 32, 3)


def test_temperature_ramp_and_append(tmp_path):
    atoms = cu()
    r = run_md(atoms, EMT(), "nvt", (100.0, 900.0), 300, tmp_path, timestep_fs=4.0, thermostat_tau_fs=8.0,
               thermo_interval=1, dump_interval=100, seed=6)
    t = read_thermo(r.thermo_path)["T_K"]
    assert t[20:80].mean() < 350 and t[-60:].mean() > 650
    r2 = run_md(atoms, EMT(), "nvt", 900.0, 100, tmp_path, timestep_fs=4.0, dump_interval=100, thermo_interval=50,
                append=True, seed=7)
    traj = TrajectoryReader(r2.trajectory_path)
    assert traj.steps().tolist() == [0, 100, 200, 300, 400]
    np.testing.assert_allclose(traj.times()[-1], 0.4 * 4.0)


def test_momentum_removal():
    rng = np.random.default_rng(1)
    pos, vel, m = rng.normal(size=(20, 3)) * 5, rng.normal(size=(20, 3)), rng.uniform(1, 50, 20)
    v = remove_angular_momentum(pos, remove_linear_momentum(vel, m), m)
    np.testing.assert_allclose((m[:, None] * v).sum(0), 0, atol=1e-10)
    r = pos - (m[:, None] * pos).sum(0) / m.sum()
    np.testing.assert_allclose(np.cross(r, m[:, None] * v).sum(0), 0, atol=1e-9)


def test_bad_arguments(tmp_path):
    with pytest.raises(InterforgeError, match="ensemble"):
        run_md(cu(), EMT(), "npe", 300, 1, tmp_path)
    with pytest.raises(InterforgeError, match="barostat mode"):
        run_md(cu(), EMT(), "npt", 300, 1, tmp_path, barostat_mode="xy")
