"""Readers: unwrapping (NVT and NPT cells), extended XYZ / XDATCAR / LAMMPS dump / H5MD / .traj, cache."""

import h5py
import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from interforge.analysis import readers
from interforge.analysis.readers import load_trajectory, unwrap
from interforge.analysis.synthetic import lattice_random_walk
from interforge.errors import InterforgeError


def wrapped_walk(rng, n_frames=60, n=5, box=6.0):
    true = lattice_random_walk(rng, n, n_frames, a=1.3, p_hop=0.9, box=box)
    cells = np.broadcast_to(np.diag([box, box + 1, box + 2]), (n_frames, 3, 3)).copy()
    wrapped = np.mod(true, np.diag(cells[0]))
    return true, wrapped, cells


def test_unwrap_recovers_true_path_orthorhombic_and_triclinic():
    rng = np.random.default_rng(0)
    true, wrapped, cells = wrapped_walk(rng)
    assert np.abs(wrapped - true).max() > 5  # the walkers did cross the boundaries
    np.testing.assert_allclose(unwrap(wrapped, cells), true, atol=1e-9)
    # triclinic: wrap in fractional coordinates of a sheared cell
    h = np.array([[6.0, 0, 0], [2.0, 6.5, 0], [1.0, 1.5, 7.0]])
    frac = true @ np.linalg.inv(h)
    wr = (frac - np.floor(frac)) @ h
    u = unwrap(wr, np.broadcast_to(h, cells.shape))
    np.testing.assert_allclose(u - u[0], true - true[0], atol=1e-9)  # frame 0 is wrapped: same up to a shift
    # already-unwrapped input is left alone
    np.testing.assert_allclose(unwrap(true, cells), true, atol=1e-12)


def test_npt_unwrap_does_not_add_box_fluctuations():
    """A particle at rest in fractional coordinates while the box breathes (what a barostat does): its
    unwrapped displacement must stay of the order of the box change times its *wrapped* fraction, not
    grow with the number of images it has crossed (the image-flag scheme's artefact)."""
    t = 200
    scale = 1 + 0.02 * np.sin(np.arange(t) / 5)
    cells = np.stack([np.diag([10.0, 10.0, 10.0]) * s for s in scale])
    frac_wrapped = np.array([0.3, 0.3, 0.3])  # unwrapped fraction would be 5.3: many boxes away
    x = np.stack([frac_wrapped @ c for c in cells])[:, None, :]
    u = unwrap(x, cells)
    assert np.abs(u - u[0]).max() < 0.3 * 10 * 0.05
    image_flag = np.stack([(frac_wrapped + 5) @ c for c in cells])
    assert np.abs(image_flag - image_flag[0]).max() > 1.0  # what the other scheme would give


def frames_of(true_wrapped, cells, symbols="Li"):
    out = []
    for p, c in zip(true_wrapped, cells):
        out.append(Atoms(symbols * p.shape[0], positions=p, cell=c, pbc=True))
    return out


def test_extxyz_needs_dt_and_uses_cache(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    true, wrapped, cells = wrapped_walk(rng, 30)
    path = tmp_path / "dump.xyz"
    write(path, frames_of(wrapped, cells), format="extxyz")
    with pytest.raises(InterforgeError, match="dt-ps"):
        load_trajectory(path)
    tr = load_trajectory(path, dt_ps=0.5)
    np.testing.assert_allclose(tr.positions, true, atol=1e-6)
    np.testing.assert_allclose(tr.times_ps, np.arange(30) * 0.5)
    assert readers.cache_path(path).is_file()

    def boom(*a, **k):
        raise AssertionError("re-parsed despite the cache")

    monkeypatch.setattr(readers, "_read_ase", boom)
    again = load_trajectory(path, dt_ps=0.5)
    np.testing.assert_array_equal(again.positions, tr.positions)
    # a different dt is a different key: it must re-parse
    with pytest.raises(AssertionError):
        load_trajectory(path, dt_ps=1.0)


def test_xdatcar_and_traj(tmp_path):
    rng = np.random.default_rng(2)
    true, wrapped, cells = wrapped_walk(rng, 12)
    frames = frames_of(wrapped, cells)
    for name, fmt in (("XDATCAR", "vasp-xdatcar"), ("run.traj", "traj")):
        p = tmp_path / name
        write(p, frames, format=fmt)
        tr = load_trajectory(p, dt_ps=2.0, cache=False)
        np.testing.assert_allclose(tr.positions, true, atol=1e-5)
        assert tr.symbols == ["Li"] * 5


def test_lammps_dump_text(tmp_path):
    rng = np.random.default_rng(3)
    true, wrapped, cells = wrapped_walk(rng, 8, n=3)
    lines = []
    for step, (p, c) in enumerate(zip(wrapped, cells)):
        lines += ["ITEM: TIMESTEP", str(step * 100), "ITEM: NUMBER OF ATOMS", "3",
                  "ITEM: BOX BOUNDS pp pp pp"] + [f"0.0 {c[k, k]}" for k in range(3)]
        lines.append("ITEM: ATOMS id element x y z")
        lines += [f"{i + 1} Li {x:.8f} {y:.8f} {z:.8f}" for i, (x, y, z) in enumerate(p)]
    path = tmp_path / "run.lammpstrj"
    path.write_text("\n".join(lines) + "\n")
    tr = load_trajectory(path, dt_ps=0.1, cache=False)
    np.testing.assert_allclose(tr.positions, true, atol=1e-6)
    assert tr.n_frames == 8


def test_h5md_layout(tmp_path):
    rng = np.random.default_rng(4)
    true, _, cells = wrapped_walk(rng, 10)
    path = tmp_path / "traj.h5"
    with h5py.File(path, "w") as f:
        f.create_group("h5md").attrs["version"] = [1, 1]
        part = f.create_group("particles/all")
        part["species"] = np.full(5, 3, dtype=np.int32)
        part["mass"] = np.full(5, 6.94)
        pos = part.create_group("position")
        pos["value"] = true
        pos["step"] = np.arange(10) * 10
        pos["time"] = np.arange(10) * 0.01
        box = part.create_group("box")
        box.attrs["dimension"] = 3
        edges = box.create_group("edges")
        edges["value"] = cells
        edges["step"] = np.arange(10) * 10
        edges["time"] = np.arange(10) * 0.01
    tr = load_trajectory(path)
    np.testing.assert_allclose(tr.positions, true)
    assert tr.dt_ps == pytest.approx(0.01)
    assert tr.indices("Li").tolist() == list(range(5))


def test_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(InterforgeError, match="not found"):
        load_trajectory(tmp_path / "nope.xyz")


def test_h5md_from_the_md_writer_and_thermo_temperature(tmp_path):
    trajectory = pytest.importorskip("interforge.trajectory")
    from interforge.analysis.pipeline import temperature_from_thermo

    rng = np.random.default_rng(5)
    true, _, cells = wrapped_walk(rng, 20)
    path = tmp_path / "md" / "trajectory.h5"
    path.parent.mkdir()
    with trajectory.TrajectoryWriter(path, [3] * 5, chunk_frames=4) as w:
        for k in range(20):
            w.append(true[k], cells[k], time_ps=0.02 * k, step=20 * k)
    tr = load_trajectory(path)
    np.testing.assert_allclose(tr.positions, true)
    np.testing.assert_allclose(tr.times_ps, 0.02 * np.arange(20))
    assert temperature_from_thermo(path) is None
    with trajectory.ThermoWriter(path.with_name("thermo.dat")) as th:
        for k, T in enumerate([590.0, 610.0, 600.0]):
            th.write(step=k, time_ps=k * 0.1, T_K=T)
    assert temperature_from_thermo(path) == pytest.approx(600.0)


def test_gpumd_style_extxyz_with_unwrapped_positions_column(tmp_path):
    rng = np.random.default_rng(6)
    true, wrapped, cells = wrapped_walk(rng, 15)
    frames = frames_of(wrapped, cells)
    offset = np.array([12.0, 0.0, 0.0])  # two box lengths: these ions had crossed boundaries before frame 0
    for a, u in zip(frames, true):
        a.arrays["unwrapped_position"] = u + offset
    path = tmp_path / "dump.xyz"
    write(path, frames, format="extxyz")
    tr = load_trajectory(path, dt_ps=1.0, cache=False)
    np.testing.assert_allclose(tr.positions, true + offset, atol=1e-6)  # the column, not re-unwrapped wrapped data
