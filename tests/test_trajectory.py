"""The H5MD trajectory and the thermo log: layout, append, reading while written, partial files."""

import h5py
import numpy as np
import pytest

from interforge.errors import InterforgeError
from interforge.trajectory import ThermoWriter, TrajectoryReader, TrajectoryWriter, read_thermo


def _frames(n_frames, n_atoms=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_frames, n_atoms, 3)) * 10.0


def test_roundtrip_and_h5md_layout(tmp_path):
    pos = _frames(10)
    cell = np.array([[5.0, 0, 0], [1.0, 6.0, 0], [0, 0, 7.0]])
    p = tmp_path / "t.h5"
    with TrajectoryWriter(p, [3, 3, 8, 1], chunk_frames=3) as w:
        for i in range(10):
            w.append(pos[i], cell * (1 + 0.01 * i), 0.5 * i, 100 * i, velocities=pos[i] * 0.1,
                     observables={"max_force_deviation": float(i)})
    r = TrajectoryReader(p)
    assert (r.n_frames, r.n_atoms) == (10, 4)
    assert r.symbols == ["Li", "Li", "O", "H"]
    np.testing.assert_array_equal(r.positions(), pos)
    np.testing.assert_array_equal(r.positions(slice(2, 7), atoms=[1, 3]), pos[2:7][:, [1, 3]])
    np.testing.assert_array_equal(r.positions(np.array([0, 5, 6, 9])), pos[[0, 5, 6, 9]])
    np.testing.assert_allclose(r.cells()[4], cell * 1.04)
    np.testing.assert_allclose(r.times(), 0.5 * np.arange(10))
    np.testing.assert_array_equal(r.steps(), 100 * np.arange(10))
    np.testing.assert_array_equal(r.observable("max_force_deviation"), np.arange(10.0))
    np.testing.assert_allclose(r.velocities(3), pos[3] * 0.1)
    a = r.atoms(-1)
    np.testing.assert_allclose(a.positions, pos[9])  # unwrapped: not folded into the cell
    np.testing.assert_allclose(a.get_velocities() * 0.09822694788464063, pos[9] * 0.1, rtol=1e-6)  # Å/fs
    chunks = list(r.iter_chunks(chunk_frames=4, atoms=np.array([True, False, True, False])))
    assert [c[0] for c in chunks] == [0, 4, 8]
    np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), pos[:, [0, 2]])
    # H5MD 1.1 layout read with plain h5py (the contract other tools rely on)
    with h5py.File(p, "r") as f:
        assert list(f["h5md"].attrs["version"]) == [1, 1]
        assert f["h5md/creator"].attrs["name"] == "interforge"
        assert f["particles/all/position/value"].shape == (10, 4, 3)
        assert f["particles/all/box"].attrs["dimension"] == 3
        assert [b.decode() for b in f["particles/all/box"].attrs["boundary"]] == ["periodic"] * 3
        assert f["particles/all/box/edges/value"].shape == (10, 3, 3)
        assert f["particles/all/species"].dtype == np.int32
        assert f["observables/max_force_deviation/value"].shape == (10,)


def test_readable_while_written_and_after_kill(tmp_path):
    pos = _frames(7)
    p = tmp_path / "live.h5"
    w = TrajectoryWriter(p, [1, 1, 1, 1], chunk_frames=2)
    assert TrajectoryReader(p).n_frames == 0  # readable before the first frame
    for i in range(5):
        w.append(pos[i], np.eye(3) * 10, i * 0.1, i)
    r = TrajectoryReader(p)
    assert r.n_frames == 4  # two full chunks flushed, the fifth frame still buffered
    np.testing.assert_array_equal(r.positions(), pos[:4])
    del w  # a killed writer never closes: the flushed frames stay readable
    assert TrajectoryReader(p).n_frames == 4


def test_append_mode_and_late_observable(tmp_path):
    pos = _frames(6)
    p = tmp_path / "a.h5"
    with TrajectoryWriter(p, [8, 8, 8, 8]) as w:
        for i in range(3):
            w.append(pos[i], np.eye(3) * 9, i, i)
    with TrajectoryWriter(p, [8, 8, 8, 8], mode="a") as w:
        for i in range(3, 6):
            w.append(pos[i], np.eye(3) * 9, i, i, observables={"x": 2.0 * i})
    r = TrajectoryReader(p)
    np.testing.assert_array_equal(r.positions(), pos)
    obs = r.observable("x")
    assert np.all(np.isnan(obs[:3])) and list(obs[3:]) == [6.0, 8.0, 10.0]
    with pytest.raises(InterforgeError, match="species differ"):
        TrajectoryWriter(p, [1, 8, 8, 8], mode="a")


def test_bad_inputs(tmp_path):
    with pytest.raises(InterforgeError, match="not found"):
        TrajectoryReader(tmp_path / "missing.h5")
    w = TrajectoryWriter(tmp_path / "b.h5", [1, 1])
    with pytest.raises(InterforgeError, match="shape"):
        w.append(np.zeros((3, 3)), np.eye(3), 0, 0)
    w.close()
    with pytest.raises(InterforgeError, match="no observable"):
        TrajectoryReader(tmp_path / "b.h5").observable("nope")


def test_thermo_log(tmp_path):
    p = tmp_path / "thermo.dat"
    with ThermoWriter(p, deviation=True) as t:
        t.write(step=0, time_ps=0.0, T_K=300.0, P_GPa=0.1, V_A3=1000.0, Epot_eV=-5.0, Ekin_eV=1.0, Etot_eV=-4.0,
                max_force_deviation_eV_A=0.2)
        t.write(step=10, time_ps=0.01, T_K=310.0)
    with open(p, "a") as fh:
        fh.write("20 0.02 3")  # a half-written line from a killed run
    log = read_thermo(p)
    assert log.columns[-1] == "max_force_deviation_eV_A" and len(log) == 2
    assert log["T_K"].tolist() == [300.0, 310.0] and np.isnan(log["P_GPa"][1])
    assert open(p).readline().split()[1:4] == ["step", "time_ps", "T_K"]
