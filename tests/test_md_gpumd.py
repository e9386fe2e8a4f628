"""GPUMD driver: run.in against the documented syntax (gpumd-io.md part B); hand-written output fixtures."""

import numpy as np
import pytest
from ase.build import bulk

from interforge.errors import InterforgeError
from interforge.md.gpumd import GpumdRun, convert_outputs, run_in_text, write_model_xyz
from interforge.trajectory import TrajectoryReader, read_thermo


def _lines(text):
    return [line.split() for line in text.strip().splitlines()]


def test_run_in_paper_production_settings_v4():
    """Paper: NPT, BDP + SCR at 1 bar, 1 fs, momenta removed every 10 steps; GPUMD 4.0 dialect."""
    run = GpumdRun(potentials=["nep.txt"], ensemble="npt", temperature_K=300, steps=5_000_000, pressure_bar=1.0,
                   timestep_fs=1.0, thermostat_tau_fs=100, barostat_tau_fs=1000, bulk_modulus_GPa=30,
                   momentum_removal_interval=10, dump_interval=1000, thermo_interval=1000, gpumd_version="4.0")
    lines = _lines(run_in_text(run))
    assert lines[0] == ["potential", "nep.txt"]
    assert lines[1] == ["velocity", "300"]
    assert lines[2] == ["time_step", "1"]
    assert lines[3] == ["correct_velocity", "10"]
    # ensemble npt_scr T1 T2 T_coup p C p_coup: 8 tokens, p and C in GPa, couplings in steps
    ens = lines[4]
    assert ens[:2] == ["ensemble", "npt_scr"] and len(ens) == 8
    assert [float(x) for x in ens[2:]] == [300, 300, 100, 1e-4, 30, 1000]
    assert lines[5] == ["dump_thermo", "1000"]
    assert lines[6] == ["dump_exyz", "1000", "0", "0"]  # <= v5.6: dump_exyz N has_vel has_force
    assert lines[-1] == ["run", "5000000"]


def test_run_in_dialects_and_ensembles():
    base = dict(potentials=["a.txt", "b.txt", "c.txt", "d.txt"], temperature_K=300, temperature_end_K=3000,
                steps=100000, timestep_fs=1.0, dump_interval=500, thermo_interval=100)
    nvt = _lines(run_in_text(GpumdRun(ensemble="nvt", active_interval=100, active_threshold_eV_A=0.3, **base)))
    assert [ln for ln in nvt if ln[0] == "potential"] == [["potential", p] for p in base["potentials"]]
    assert ["ensemble", "nvt_bdp", "300", "3000", "100"] in nvt  # linear ramp T1 -> T2, T_coup = 100 fs / 1 fs
    # HEAD: dump_xyz N file props (wrapped positions always, unwrapped ones asked for); no dump_exyz
    dump = [ln for ln in nvt if ln[0].startswith("dump_")]
    assert ["dump_xyz", "500", "dump.xyz", "unwrapped_position"] in dump
    assert not any(ln[0] == "dump_exyz" for ln in nvt)
    # active interval has_vel has_force has_uncertainty threshold
    assert ["active", "100", "0", "0", "1", "0.3"] in nvt
    ortho = _lines(run_in_text(GpumdRun(ensemble="npt", barostat_mode="orthorhombic", pressure_bar=1e4,
                                        bulk_modulus_GPa=40, **base)))
    ens = next(ln for ln in ortho if ln[0] == "ensemble")
    # T1 T2 T_coup pxx pyy pzz Cxx Cyy Czz p_coup
    assert ens[1] == "npt_scr" and len(ens) == 12
    assert [float(x) for x in ens[2:]] == [300, 3000, 100, 1, 1, 1, 40, 40, 40, 1000]
    normal = _lines(run_in_text(GpumdRun(ensemble="npt", barostat_mode="normal", bulk_modulus_GPa=40, **base)))
    ens = next(ln for ln in normal if ln[0] == "ensemble")
    assert float(ens[8]) > 2000 and float(ens[9]) > 2000 and float(ens[10]) == 40  # x, y frozen
    with pytest.raises(InterforgeError, match="at least 10"):
        run_in_text(GpumdRun(potentials=["a"], momentum_removal_interval=5))
    with pytest.raises(InterforgeError, match="committee"):
        run_in_text(GpumdRun(potentials=["a"], active_interval=10))


def test_model_xyz(tmp_path):
    from ase.io import read

    atoms = bulk("ZrO2", "fluorite", a=5.1)
    path = write_model_xyz(atoms, tmp_path / "model.xyz", groups=[0, 1, 1])
    header = path.read_text().splitlines()[1]
    assert 'pbc="T T T"' in header and "properties=species:S:1:pos:R:3:mass:R:1:group:I:1" in header
    back = read(path, format="extxyz")
    np.testing.assert_allclose(back.positions, atoms.positions, atol=1e-9)
    np.testing.assert_allclose(back.cell.array, atoms.cell.array)
    assert back.get_chemical_symbols() == ["Zr", "O", "O"]


def _write_fixture(run_dir, unwrapped_column):
    """Hand-written GPUMD outputs: 2 atoms in a 10 Å cube; atom 0 moves +x by 2 Å per frame across the box."""
    run_dir.mkdir()
    # thermo.out, 18 columns: T K U Pxx Pyy Pzz Pyz Pxz Pxy ax ay az bx by bz cx cy cz
    rows = []
    for k in range(3):
        L = 10.0 + 0.1 * k
        rows.append([300 + k, 0.07, -10.0 - k, 0.1, 0.2, 0.3, 0, 0, 0, L, 0, 0, 0, L, 0, 0, 0, L])
    np.savetxt(run_dir / "thermo.out", rows)
    true = [np.array([[8.0 + 2 * k, 1.0, 1.0], [5.0, 5.0, 5.0]]) for k in range(3)]
    text = []
    for k in range(3):
        wrapped = true[k] % 10.0
        props = "species:S:1:pos:R:3" + (":unwrapped_position:R:3" if unwrapped_column else "")
        text += ["2", f'lattice="10 0 0 0 10 0 0 0 10" pbc="T T T" properties={props}']
        for s, w, u in zip(["Li", "Cl"], wrapped, true[k]):
            extra = " ".join(f"{x:.6f}" for x in u) if unwrapped_column else ""
            text.append(f"{s} {w[0]:.6f} {w[1]:.6f} {w[2]:.6f} {extra}")
    (run_dir / "dump.xyz").write_text("\n".join(text) + "\n")
    (run_dir / "active.out").write_text("1000 0.25\n2000 0.5\n3000 0.125\n")  # t(fs) sigma_f
    return np.array(true)


@pytest.mark.parametrize("unwrapped_column", [False, True])
def test_convert_outputs(tmp_path, unwrapped_column):
    true = _write_fixture(tmp_path / "run", unwrapped_column)
    run = GpumdRun(potentials=["a", "b"], timestep_fs=1.0, dump_interval=1000, thermo_interval=1000,
                   gpumd_version="latest" if unwrapped_column else "5.6")
    res = convert_outputs(tmp_path / "run", tmp_path / "out", run)
    traj = TrajectoryReader(res.trajectory_path)
    np.testing.assert_allclose(traj.positions(), true, atol=1e-6)  # unwrapped across the boundary
    assert traj.symbols == ["Li", "Cl"]
    np.testing.assert_allclose(traj.times(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(traj.steps(), [1000, 2000, 3000])
    np.testing.assert_allclose(traj.observable("max_force_deviation"), [0.25, 0.5, 0.125])
    th = read_thermo(res.thermo_path)
    np.testing.assert_allclose(th["T_K"], [300, 301, 302])
    np.testing.assert_allclose(th["P_GPa"], 0.2)
    np.testing.assert_allclose(th["V_A3"], [1000.0, 10.1**3, 10.2**3])
    np.testing.assert_allclose(th["Etot_eV"], [-9.93, -10.93, -11.93])
    assert res.n_frames == 3 and res.n_thermo == 3


def test_thermo_out_12_columns(tmp_path):
    from interforge.md.gpumd import read_thermo_out

    np.savetxt(tmp_path / "thermo.out", [[300, 1, -5, 0, 0, 0, 0, 0, 0, 10, 11, 12]])
    th = read_thermo_out(tmp_path / "thermo.out")
    np.testing.assert_allclose(np.diag(th.cells[0]), [10, 11, 12])
    np.savetxt(tmp_path / "bad.out", [[1, 2, 3]])
    with pytest.raises(InterforgeError, match="columns"):
        read_thermo_out(tmp_path / "bad.out")
