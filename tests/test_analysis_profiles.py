"""Neighbours, RDF, CN profiles, density maps, hops, displacement classes and interface detection
against hand-built configurations and brute-force references."""

import numpy as np
import pytest

from interforge.analysis.neighbours import pairs_within
from interforge.analysis.profiles import (
    classify_displacements,
    density_z_time,
    detect_interfaces,
    displacement_classes,
    distance_to_planes,
    hop_profile,
    region_labels,
)
from interforge.analysis.structure import cn_profile, rdf
from interforge.analysis.synthetic import rocksalt_interface, vibrating_trajectory


def brute_pairs(a, b, cell, rc):
    inv = np.linalg.inv(cell)
    out = set()
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]) @ cell
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            d = y - x
            d -= np.rint(d @ inv) @ cell
            if np.min(np.linalg.norm(d + shifts, axis=1)) < rc:
                out.add((i, j))
    return out


@pytest.mark.parametrize("triclinic", [False, True])
def test_pairs_within_matches_brute_force(triclinic):
    rng = np.random.default_rng(0)
    cell = np.diag([9.0, 10.0, 11.0])
    if triclinic:
        cell[1, 0] = 2.0
        cell[2, 0] = 1.0
    a = rng.random((30, 3)) @ cell
    b = rng.random((40, 3)) @ cell + 20.0  # outside the box: must be wrapped
    i, j, vec = pairs_within(a, b, cell, 3.0)
    assert set(zip(i.tolist(), j.tolist())) == brute_pairs(a, b, cell, 3.0)
    assert np.all(np.linalg.norm(vec, axis=1) < 3.0)


def test_rdf_of_ideal_gas_is_one_and_running_cn_counts_neighbours():
    rng = np.random.default_rng(1)
    cell = np.diag([20.0, 20.0, 20.0])
    frames = rng.random((10, 400, 3)) * 20
    res = rdf(frames, frames, np.broadcast_to(cell, (10, 3, 3)), r_max=8.0, n_bins=16, same=True)
    assert np.mean(res.g[4:]) == pytest.approx(1.0, abs=0.03)
    # running CN at r equals rho * 4/3 pi r^3 for an ideal gas
    assert res.cn[-1] == pytest.approx(399 / 8000 * 4 / 3 * np.pi * 8 ** 3, rel=0.03)


def test_cn_profile_of_rocksalt_interface():
    nums, pos, cell, planes = rocksalt_interface()
    tr = vibrating_trajectory(nums, pos, cell, 3, 1.0, np.random.default_rng(2), sigma=0.02)
    li = tr.indices("Li")
    prof = cn_profile(tr.positions, tr.cells, li, {"Cl": tr.indices("Cl"), "O": tr.indices("O")}, [0, 1, 2],
                      cutoff=3.5, bin_width=1.0)
    occupied = prof.ions > 0
    # Li sitting well inside the LiCl block: 6 Cl, no O; ions counted once per frame
    assert prof.ions.sum() == pytest.approx(len(li))
    inner = occupied & (np.abs(prof.z_A - 22.0) < 4.0)
    assert np.allclose(prof.cn_by_anion["Cl"][inner], 6.0) and np.allclose(prof.cn_by_anion["O"][inner], 0.0)
    # next to the interface plane near z = 14.1 Å some Li see O
    near = occupied & (np.abs(prof.z_A - planes[0]) < 2.0)
    assert np.nanmax(prof.cn_by_anion["O"][near]) > 0


def test_density_map_integrates_to_atom_count():
    nums, pos, cell, _ = rocksalt_interface()
    tr = vibrating_trajectory(nums, pos, cell, 5, 1.0, np.random.default_rng(3))
    li = tr.indices("Li")
    dm = density_z_time(tr.positions, tr.cells, tr.times_ps, li, bin_width=1.0)
    dz = cell[2, 2] / len(dm.z_A)
    area = cell[0, 0] * cell[1, 1]
    assert dm.density.shape == (5, len(dm.z_A))
    np.testing.assert_allclose(dm.density.sum(axis=1) * area * dz, len(li))
    assert dm.density[:, dm.z_A < 12].sum() == 0  # no Li in the oxide block


def test_hop_profile_counts_planted_hops():
    t = np.arange(0, 101.0)  # ps, dt = 1 ps
    n = 4
    pos = np.zeros((len(t), n, 3))
    pos[:, :, 2] = [[1.5, 5.5, 9.5, 13.5]]
    pos[45:, 0, 0] += 2.0  # ion 0 hops 2 Å at t = 45 ps (within pair 40-50)
    pos[71:, 2, 1] += 1.0  # ion 2 moves 1 Å only: below the 1.25 Å threshold
    cells = np.broadcast_to(np.diag([10.0, 10.0, 16.0]), (len(t), 3, 3))
    hp = hop_profile(pos, cells, t, np.arange(n), threshold_A=1.25, lag_ps=10.0, window_start_ps=0.0,
                     window_ps=100.0, bin_width=4.0)
    assert hp.n_pairs == 10
    assert hp.hops.sum() * hp.n_pairs == 1
    assert hp.hops[0] == pytest.approx(0.1)  # ion 0 is in the first 4 Å bin
    assert hp.ions.sum() == pytest.approx(n)


def test_displacement_classes_by_hand():
    r_xy = np.array([0.5, 0.2, 1.5, 2.0, 3.0, 1.5])
    r_z = np.array([0.5, 1.5, 0.3, 3.0, 2.0, 1.5])
    lab = classify_displacements(r_xy, r_z, 1.0)
    assert lab.tolist() == ["immobile", "z", "xy", "mixed-z", "mixed-xy", "mixed-z"]
    t = np.arange(0, 30.0)
    pos = np.zeros((30, 2, 3))
    pos[20:, 0, 2] = 1.5
    pos[25:, 1, :2] = 2.0
    res = displacement_classes(pos, np.broadcast_to(np.eye(3) * 10, (30, 3, 3)), t, np.arange(2), t0_ps=10.0)
    assert res.label.tolist() == ["z", "xy"] and res.t0_ps == 10.0
    assert res.counts["z"] == 1 and res.counts["xy"] == 1


def test_interface_detection_and_regions():
    nums, pos, cell, planes = rocksalt_interface(n_xy=2, n_z_each=4)
    found = detect_interfaces(pos[:, 2], nums, cell[2, 2], [8], [17])
    assert len(found.planes_A) == 2
    # the true boundary lies midway between the last O layer and the first Cl layer (a/4 from each)
    np.testing.assert_allclose(np.sort(found.planes_A), np.sort(planes), atol=0.3)
    d = distance_to_planes(np.array([0.0, planes[0] + 3.0]), found.planes_A, cell[2, 2])
    assert d[0] == pytest.approx(cell[2, 2] - found.planes_A[1], abs=1e-9)  # periodic wrap
    assert region_labels(np.array([planes[0] + 3.0, planes[0] + 10.0]), planes, cell[2, 2], 8.0).tolist() == [
        "interface", "bulk"]
