"""The demo's analysis summary on synthetic runs: the Arrhenius fit honours arrhenius_T_min/max and the
equilibration, interface runs carry per-region transport with flags, and the composite sigma is labelled."""

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from interforge.analysis.diffusion import KB_EV
from interforge.analysis.synthetic import rocksalt_interface, site_hopping_trajectory, vibrating_trajectory
from interforge.config import config_from_dict
from interforge.demo.summaries import analyse_runs


def _xyz(path, traj):
    write(path, [Atoms(numbers=traj.numbers, positions=p, cell=c, pbc=True, info={"time_ps": float(t)})
                 for p, c, t in zip(traj.positions, traj.cells, traj.times_ps)], format="extxyz")
    return str(path)


def test_analyse_runs_fits_inside_the_range_and_reports_regions(tmp_path):
    Ea = 0.3
    runs = []
    for k, T in enumerate((500.0, 600.0, 700.0, 900.0)):
        rate = 0.5 * np.exp(-Ea / KB_EV * (1 / T - 1 / 700.0))
        tr, _ = site_hopping_trajectory(np.random.default_rng(k), 40, 301, 0.1, a=2.0, rate_per_ps=rate, sigma=0.05)
        runs.append({"name": f"bulk_{T:g}", "kind": "bulk", "phase": "toy", "T": T,
                     "trajectory_path": _xyz(tmp_path / f"b{k}.xyz", tr)})
    nums, pos, cell, _ = rocksalt_interface(n_xy=2, n_z_each=4)
    tr = vibrating_trajectory(nums, pos, cell, 200, 0.1, np.random.default_rng(9), p_hop=0.05, hop=1.5)
    runs.append({"name": "itf_700", "kind": "interface", "phase": "itf", "T": 700.0,
                 "trajectory_path": _xyz(tmp_path / "i.xyz", tr)})
    cfg = config_from_dict({"production": {"equilibration_ps": 5.0},
                            "analysis": {"hop_dt_ps": 2.0, "hop_average_ps": 0.3, "hop_window_start_ps": 0.0,
                                         "displacement_t0_ps": 0.0, "cn_window_ps": 5.0, "max_structure_frames": 5,
                                         "interface_width_A": 4.0}})
    out = analyse_runs(runs, cfg, tmp_path / "analysis")
    by_name = {r["name"]: r for r in out["runs"]}
    assert "outside the Arrhenius range" in by_name["bulk_900"]["skipped"]
    assert out["arrhenius"]["toy"]["T_K"] == [500.0, 600.0, 700.0]
    assert out["arrhenius"]["toy"]["Ea_eV"] == pytest.approx(Ea, abs=4 * out["arrhenius"]["toy"]["Ea_err_eV"] + 0.03)
    r = by_name["bulk_600"]
    assert r["equilibration_ps"] == 5.0 and r["n_frames"] == 251
    assert r["haven_ratio"] is not None and r["sigma_collective_mS_cm"] is not None
    itf = out["interface"][0]
    regions = itf["transport_by_region"]
    assert {"interface", "bulk", "interface_O_side", "bulk_Cl_side"} <= set(regions)
    assert regions["interface"]["n_per_A3"] > 0 and isinstance(regions["bulk_O_side"]["flags"], list)


def test_a_fit_that_does_not_resolve_ea_gets_no_room_temperature_conductivity(tmp_path):
    """Independent reference: the same hop rate at every temperature is Ea = 0, whose slope cannot be told
    from zero; an extrapolation to 300 K from it would be arbitrary, so none is reported. A real Ea of
    0.3 eV over the same temperatures is resolved and extrapolated."""
    runs = []
    for phase, Ea in (("flat", 0.0), ("activated", 0.3)):
        for k, T in enumerate((500.0, 600.0, 700.0)):
            rate = 0.5 * np.exp(-Ea / KB_EV * (1 / T - 1 / 700.0))
            tr, _ = site_hopping_trajectory(np.random.default_rng(10 + k), 40, 201, 0.1, a=2.0, rate_per_ps=rate,
                                            sigma=0.05)
            runs.append({"name": f"{phase}_{T:g}", "kind": "bulk", "phase": phase, "T": T,
                         "trajectory_path": _xyz(tmp_path / f"{phase}{k}.xyz", tr)})
    cfg = config_from_dict({"production": {"equilibration_ps": 1.0},
                            "analysis": {"hop_dt_ps": 2.0, "hop_average_ps": 0.3, "hop_window_start_ps": 0.0,
                                         "displacement_t0_ps": 0.0, "cn_window_ps": 5.0, "max_structure_frames": 5}})
    out = analyse_runs(runs, cfg, tmp_path / "analysis")["arrhenius"]
    flat, act = out["flat"], out["activated"]
    assert abs(flat["Ea_eV"]) < 2 * flat["Ea_err_eV"]  # the data: no resolvable slope
    assert flat["resolved"] is False and flat["sigma_RT_mS_cm"] is None and "not resolved" in flat["note"]
    assert act["resolved"] is True and act["sigma_RT_mS_cm"] > 0
    assert act["sigma_RT_low_mS_cm"] < act["sigma_RT_mS_cm"] < act["sigma_RT_high_mS_cm"]


def test_a_run_whose_volume_is_off_the_teachers_stays_out_of_the_fit(tmp_path):
    """The validation's density gate gives the teacher's volume at 500 and 700 K; a production run at 600 K is
    compared with the linear interpolation between them, and one more than the gate's 3 % off is left out
    of the Arrhenius fit. Independent reference: the runs' fixed cells, whose volume is known exactly."""
    from interforge.demo.summaries import teacher_volumes

    runs, v_atom = [], None
    for k, T in enumerate((500.0, 600.0, 700.0, 800.0)):
        tr, _ = site_hopping_trajectory(np.random.default_rng(k), 40, 201, 0.1, a=2.0, rate_per_ps=0.5, sigma=0.05)
        v_atom = abs(np.linalg.det(tr.cells[0])) / len(tr.numbers)
        runs.append({"name": f"toy_{T:g}", "kind": "bulk", "phase": "toy", "T": T,
                     "trajectory_path": _xyz(tmp_path / f"t{k}.xyz", tr)})
    # the teacher: the runs' own volume at 500 K, 10 % smaller at 700 K (so 600 K interpolates to 4.8 % smaller)
    record = {"details": {"density": {"detail": {
        "toy@500K": {"teacher_volume_A3_atom": v_atom}, "toy@700K": {"teacher_volume_A3_atom": v_atom / 1.1},
        "other@500K": {"teacher_volume_A3_atom": float("nan")}}}}}
    assert teacher_volumes(record) == {"toy": {500.0: v_atom, 700.0: v_atom / 1.1}}
    cfg = config_from_dict({"production": {"equilibration_ps": 1.0},
                            "analysis": {"hop_dt_ps": 2.0, "hop_average_ps": 0.3, "hop_window_start_ps": 0.0,
                                         "displacement_t0_ps": 0.0, "cn_window_ps": 5.0, "max_structure_frames": 5,
                                         "arrhenius_T_max": 900.0}})
    out = analyse_runs(runs, cfg, tmp_path / "analysis", record)
    by = {r["name"]: r for r in out["runs"]}
    assert by["toy_500"]["volume_vs_teacher"] == pytest.approx(0.0, abs=1e-9) and by["toy_500"]["volume_holds"]
    ref600 = (v_atom + v_atom / 1.1) / 2
    assert by["toy_600"]["teacher_volume_A3_atom"] == pytest.approx(ref600, rel=1e-9)
    assert by["toy_600"]["volume_vs_teacher"] == pytest.approx(v_atom / ref600 - 1, rel=1e-9)
    assert by["toy_600"]["volume_holds"] is False and "did not vouch" in by["toy_600"]["skipped"]
    assert by["toy_700"]["volume_holds"] is False
    # outside the validated temperatures there is no reference: no verdict, the run stays in
    assert by["toy_800"]["volume_holds"] is None and not by["toy_800"].get("skipped")
    assert out["arrhenius"]["toy"]["T_K"] == [500.0, 800.0]
    # without a record nothing is compared
    plain = analyse_runs(runs, cfg, tmp_path / "plain")
    assert all(r["volume_holds"] is None for r in plain["runs"])
