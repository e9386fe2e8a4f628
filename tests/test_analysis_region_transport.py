"""Transport inside regions along the interface normal: residence-segment MSD against a brute-force count,
per-region D and density against synthetic slabs with known truth, region-size flags, and planes that follow
a drifting, NPT-scaled cell."""

import numpy as np
import pytest

from interforge.analysis.diffusion import nernst_einstein_mS_cm
from interforge.analysis.pipeline import analyze
from interforge.analysis.readers import Trajectory
from interforge.analysis.regions import region_masks, region_transport, residence_msd, track_interfaces
from interforge.config.analysis import AnalysisSection


def test_residence_msd_equals_a_brute_force_count():
    rng = np.random.default_rng(0)
    n_t, n, max_lag = 50, 3, 15
    pos = np.cumsum(rng.normal(size=(n_t, n, 3)), axis=0)
    mask = rng.random((n_t, n)) < 0.85
    sums, counts, _ = residence_msd(pos, mask, max_lag, n_groups=1)
    ref_s, ref_c = np.zeros((max_lag + 1, 3)), np.zeros(max_lag + 1)
    for i in range(n):
        for t0 in range(n_t):
            for m in range(max_lag + 1):
                if t0 + m < n_t and mask[t0:t0 + m + 1, i].all():  # in the region the whole time
                    ref_s[m] += (pos[t0 + m, i] - pos[t0, i]) ** 2
                    ref_c[m] += 1
    np.testing.assert_allclose(sums[0], ref_s, atol=1e-9)
    np.testing.assert_allclose(counts[0], ref_c)


L_Z, AREA_SIDE = 40.0, 12.0


def slab_system(rng, n_t=1500, dt=1.0, p_hops=(0.2, 0.6, 0.4), n_per=30, drift_A=0.0, scale_end=1.0):
    """O fills z in [0, 20), Cl fills [20, 40): interfaces at 0 (= 40) and 20. Three Li populations random-walk
    in xy only (hop a = 1 Å, probability p per frame): at z = 10 (O-side bulk), z = 30 (Cl-side bulk) and
    z = 20 (at the interface). Optionally everything drifts along z and the cell height grows affinely."""
    a = 1.0
    marker_z = np.arange(0.25, L_Z, 0.5)
    xy = rng.random((len(marker_z), 2)) * AREA_SIDE
    anions = np.column_stack([xy, marker_z])
    nums = [8 if z < 20 else 17 for z in marker_z]
    li0 = []
    for z in (10.0, 30.0, 20.0):
        li0.append(np.column_stack([rng.random((n_per, 2)) * AREA_SIDE, np.full(n_per, z)]))
    li0 = np.vstack(li0)
    p = np.repeat(p_hops, n_per)
    disp = np.zeros((n_t, len(li0), 3))
    for t in range(1, n_t):
        step = np.zeros((len(li0), 3))
        hop = rng.random(len(li0)) < p
        ax = rng.integers(0, 2, len(li0))
        step[hop, ax[hop]] = rng.choice([-a, a], hop.sum())
        disp[t] = disp[t - 1] + step
    scale = np.linspace(1.0, scale_end, n_t)
    drift = np.linspace(0.0, drift_A, n_t)
    pos = np.empty((n_t, len(anions) + len(li0), 3))
    for t in range(n_t):
        frame = np.vstack([anions, li0 + disp[t]])
        frame[:, 2] = frame[:, 2] * scale[t] + drift[t]
        pos[t] = frame
    pos += rng.normal(0, 0.05, pos.shape)
    cells = np.array([np.diag([AREA_SIDE, AREA_SIDE, L_Z * s]) for s in scale])
    numbers = np.array(nums + [3] * len(li0))
    return Trajectory(numbers, pos, cells, np.arange(n_t) * dt), p


def test_region_d_density_and_sigma_match_the_populations():
    rng = np.random.default_rng(1)
    traj, p = slab_system(rng)
    s = AnalysisSection(interface_width_A=4.0, hop_average_ps=0.0, anions=["O", "Cl"], region_min_thickness_A=4.0)
    res = analyze(traj, s, temperature_K=500.0)
    reg = res.regions
    for name, p_hop in (("bulk_O_side", 0.2), ("bulk_Cl_side", 0.6), ("interface", 0.4)):
        r = reg[name]
        assert not r.flags, (name, r.flags)
        d_xy = p_hop * 1.0 / (4 * 1.0) * 1e-4  # 2-D lattice walk: D = p a² / (4 dt), cm²/s
        assert abs(r.D_xy_cm2_s - d_xy) < 3 * r.D_xy_err_cm2_s + 0.03 * d_xy, name
        d_3 = p_hop * 1.0 / (6 * 1.0) * 1e-4  # no motion along z: the 3-D D is 2/3 of D_xy
        assert abs(r.D_cm2_s - d_3) < 3 * r.D_err_cm2_s + 0.03 * d_3, name
        assert r.ions == pytest.approx(30, abs=0.5)
    # bulk-like sides 20 - 2·4 = 12 Å thick, the interface region 4 slabs of 4 Å = 16 Å
    assert reg["bulk_Cl_side"].thickness_A == pytest.approx(12.0, abs=0.5)
    assert reg["interface"].thickness_A == pytest.approx(16.0, abs=0.5)
    n_cl = 30 / (12.0 * AREA_SIDE ** 2)
    assert reg["bulk_Cl_side"].n_per_A3 == pytest.approx(n_cl, rel=0.05)
    r = reg["bulk_Cl_side"]
    assert r.sigma_mS_cm == pytest.approx(nernst_einstein_mS_cm(r.D_cm2_s, r.n_per_A3, 500.0))
    assert r.sigma_err_mS_cm > 0
    # the whole-cell value is labelled composite and uses the whole cell's volume
    comp = res.conductivity["composite"]
    assert comp["n_per_A3"] == pytest.approx(90 / (L_Z * AREA_SIDE ** 2))
    out = res.to_json()["regions"]
    assert set(out) >= {"interface", "bulk", "interface_O_side", "interface_Cl_side", "bulk_O_side", "bulk_Cl_side"}
    assert out["interface"]["D_err_cm2_s"] > 0 and out["interface"]["sigma_err_mS_cm"] > 0


def test_thin_regions_and_regions_holding_every_ion_are_flagged():
    rng = np.random.default_rng(2)
    traj, _ = slab_system(rng, n_t=300)
    # a 9.5 Å interface width leaves 1 Å of bulk-like material on each side: thinner than 4 Å
    s = AnalysisSection(interface_width_A=9.5, hop_average_ps=0.0, anions=["O", "Cl"], region_min_thickness_A=4.0)
    reg = analyze(traj, s, temperature_K=500.0).regions
    assert any("thinner" in f for f in reg["bulk_Cl_side"].flags)
    assert reg["bulk_Cl_side"].D_cm2_s is None and reg["bulk_Cl_side"].sigma_mS_cm is None
    # 10.5 Å: every Li is within the width of a plane, and no bulk-like material is left
    s = AnalysisSection(interface_width_A=10.5, hop_average_ps=0.0, anions=["O", "Cl"], region_min_thickness_A=4.0)
    reg = analyze(traj, s, temperature_K=500.0).regions
    assert any("every ion" in f for f in reg["interface"].flags)
    assert reg["interface"].D_cm2_s is None and reg["interface"].sigma_mS_cm is None
    assert any("no ion" in f for f in reg["bulk_O_side"].flags)


def test_planes_follow_a_drifting_npt_cell():
    """Everything drifts 6 Å along z and the cell grows 8 %: ions 10 Å from a plane stay bulk-like in every
    frame with per-block planes; the planes of the last block applied to every frame would mislabel them."""
    rng = np.random.default_rng(3)
    traj, _ = slab_system(rng, n_t=400, drift_A=6.0, scale_end=1.08)
    track = track_interfaces(traj.positions, traj.cells, traj.times_ps, traj.numbers, [8], [17], block_ps=20.0)
    assert len(track.blocks) == 20
    li = np.flatnonzero(traj.numbers == 3)
    masks, thick = region_masks(track, traj.positions[:, li, 2], traj.cells, width=4.0)
    o_bulk, cl_bulk = li[:30], li[30:60]
    col = {int(k): c for c, k in enumerate(li)}
    assert masks["bulk_O_side"][:, [col[i] for i in o_bulk]].all()
    assert masks["bulk_Cl_side"][:, [col[i] for i in cl_bulk]].all()
    assert masks["interface"][:, [col[i] for i in li[60:]]].all()
    # the last block's planes at frame 0 put part of the interface population outside the interface
    last = track.blocks[-1][2]
    from interforge.analysis.profiles import distance_to_planes

    z0 = np.mod(traj.positions[0, li[60:], 2], traj.cells[0][2, 2])
    assert (distance_to_planes(z0, last.planes_A, last.cell_z_A) > 4.0).mean() > 0.5
    # thickness of the bulk-like sides grows with the cell: (20 s - 8) Å
    s_end = traj.cells[-1][2, 2] / L_Z
    assert thick["bulk_Cl_side"][-1] == pytest.approx(20 * s_end - 8.0, abs=0.6)


def test_region_transport_needs_ions_that_stay():
    rng = np.random.default_rng(4)
    n_t, n = 200, 20
    pos = np.cumsum(rng.normal(0, 0.3, (n_t, n, 3)), axis=0)
    mask = np.zeros((n_t, n), bool)
    mask[::3] = True  # never two frames in a row: no residence segment reaches the fit window
    r = region_transport("x", pos, mask, np.full(n_t, 10.0), np.full(n_t, 100.0), 1.0, (10, 100), 300.0)
    assert r.D_cm2_s is None and any("leave the region" in f for f in r.flags)


def test_region_hop_rates_follow_the_regions_frame_by_frame():
    """A hop counts for the region its ion is in at the pair's earlier frame (hand count)."""
    from interforge.analysis.profiles import hop_profile
    from interforge.analysis.regions import region_hop_rates

    t = np.arange(0, 41.0)  # 4 pairs of 10 ps
    pos = np.zeros((len(t), 2, 3))
    pos[15:, 0, 0] += 2.0  # ion 0 hops in pair 1 (10-20 ps)
    pos[35:, 1, 1] += 2.0  # ion 1 hops in pair 3 (30-40 ps)
    cells = np.broadcast_to(np.eye(3) * 20.0, (len(t), 3, 3))
    hp = hop_profile(pos, cells, t, np.arange(2), 1.25, 10.0, 0.0, 100.0, 5.0)
    assert hp.pair_frames == (0, 10, 20, 30)
    inside = np.zeros((len(t), 2), bool)
    inside[:20, 0] = True  # ion 0 in the region for pairs 0 and 1
    inside[30:, 1] = True  # ion 1 in the region for pair 3
    rates = region_hop_rates(hp, {"r": inside, "none": np.zeros_like(inside)})
    assert rates["r"] == pytest.approx(2 / 3 / 10.0 * 1000)  # 2 hops over 3 ion-pairs of 10 ps
    assert rates["none"] is None
