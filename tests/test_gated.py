"""Gate-directed data (interforge.active.gated): what a failed gate sends to the teacher.

A Lennard-Jones crystal of "Li" stands in for the model being mended, so every expectation is known
independently: where its minimum lies, which temperatures its NPT runs at, which vacancy the barrier
gate uses."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones
from ase.filters import FrechetCellFilter
from ase.geometry import find_mic
from ase.optimize import BFGS

from interforge.active.gated import (gate_structures, gate_temperatures, neb_frames, npt_frames, relaxed_frames,
                                     stability_gate_temperature)
from interforge.active.validate import li_hop_endpoints
from interforge.config import config_from_dict
from interforge.errors import ConfigError
from interforge.trajectory import TrajectoryReader

SIGMA = 2.6


def lj():
    return LennardJones(sigma=SIGMA, epsilon=0.5, rc=3 * SIGMA, smooth=True)


def crystal(a=3.95):
    return bulk("Li", "fcc", a=a, cubic=True).repeat((2, 2, 2))  # 32 atoms


def cfg(md=None, **active):
    return config_from_dict({
        "validation": {"phases": ["lj"], "temperatures_K": [300.0, 600.0], "npt_target_atoms": 32, "relax_steps": 300},
        "production": {"bulk_phases": ["lj"]},
        "active": {"gate_md_ps": 0.2, "gate_frames": 3, "gate_temperature_offset_K": -25.0, "gate_hops": 2,
                   "gate_stability_ps": 0.3, "gate_stability_frames": 5, **active},
        "md": {"timestep_fs": 2.0, **(md or {})},
    })


def test_npt_frames_run_beside_not_at_the_gate_temperatures(tmp_path):
    c = cfg()
    assert gate_temperatures(c) == [275.0, 575.0]
    # the longer run: the top gate temperature + [validation] stability_margin_K (50) + gate_stability_offset_K (25)
    assert stability_gate_temperature(c) == 675.0
    frames = npt_frames(lj(), c, {"lj": crystal()}, tmp_path, seed=3)
    assert len(frames) == 2 * 3 + 5
    origins = [f.info["origin"].split("#") for f in frames]
    assert {o[0] for o in origins} == {"gate/npt/lj@275K", "gate/npt/lj@575K", "gate/npt/lj@675K"}
    # the longer run's frames span all of it (a swelling is followed from its start to its end)
    hot = sorted(int(i) for o, i in origins if o.endswith("675K"))
    n_hot = TrajectoryReader(tmp_path / "npt" / "lj_675K" / "trajectory.h5").n_frames
    assert hot[0] == 1 and hot[-1] == n_hot - 1
    for T in (275, 575, 675):
        rd = TrajectoryReader(tmp_path / "npt" / f"lj_{T}K" / "trajectory.h5")
        vols = np.abs(np.linalg.det(rd.cells()))
        assert np.ptp(vols) > 0  # a barostat ran: the cell breathes
    # frames come after each run's equilibration, unlabelled
    assert all(f.calc is None for f in frames)
    assert (tmp_path / "npt" / "lj_575K" / "equilibration" / "trajectory.h5").is_file()


def test_gate_temperatures_and_phases_fall_back_to_production():
    """Without [validation] lists the gates run at the production bulk temperatures and phases, and gate data
    follow them (an explicit validation list wins)."""
    c = config_from_dict({"production": {"bulk_phases": ["lj"], "bulk_temperatures_K": [400.0, 450.0]},
                          "active": {"gate_temperature_offset_K": -25.0}})
    assert (c.gate_temperatures_K, c.gate_phases) == ([400.0, 450.0], ["lj"])
    assert gate_temperatures(c) == [375.0, 425.0]
    assert stability_gate_temperature(c) == 450.0 + c.validation.stability_margin_K + c.active.gate_stability_offset_K
    assert cfg().gate_temperatures_K == [300.0, 600.0]


def test_npt_frames_sit_at_the_volume_the_model_holds(tmp_path):
    """The LJ crystal, built under its lattice constant, expands at 575 K. Gate frames must come from the
    volume it holds there (an independent 3 ps NPT with a fast barostat), not from the approach to it that
    a slow production barostat (volume relaxation time ~1.8 ps for this stiff crystal, B ~ 340 GPa against
    the 30 GPa estimate) would still be on after 0.4 ps."""
    from interforge.md import MDSettings, run_with

    c = cfg(md={"barostat_tau_fs": 20000.0}, gate_md_ps=0.4, gate_frames=4)
    frames = npt_frames(lj(), c, {"lj": crystal()}, tmp_path / "gate", seed=3)
    v_frames = np.mean([f.get_volume() for f in frames if "575K" in f.info["origin"]])
    ref = MDSettings(ensemble="npt", temperature_K=575.0, timestep_fs=2.0, barostat_tau_fs=100.0, seed=9,
                     dump_interval=25, bulk_modulus_GPa=c.md.bulk_modulus_GPa)
    res = run_with(crystal(), lj(), ref, 1500, tmp_path / "ref")
    v_ref = np.abs(np.linalg.det(TrajectoryReader(res.trajectory_path).cells()[20:])).mean()
    v0 = crystal().get_volume()
    assert v_ref / v0 - 1 > 0.04  # the hot crystal is much larger than the start
    assert abs(v_frames / v_ref - 1) < 0.02


def test_an_offset_of_zero_or_below_absolute_zero_is_refused():
    with pytest.raises(ConfigError, match="must not be 0"):
        cfg(gate_temperature_offset_K=0.0)
    with pytest.raises(ConfigError, match="gate_temperature_offset_K"):
        cfg(gate_temperature_offset_K=-400.0)


def test_relaxed_frames_end_at_the_models_own_minimum():
    start = crystal(a=4.2)  # stretched: the model relaxes it
    frames = relaxed_frames(lj(), cfg(), {"lj": start})
    last = frames[-1]
    # independent reference: ASE's BFGS on cell and positions of the same crystal
    ref = start.copy()
    ref.calc = lj()
    BFGS(FrechetCellFilter(ref), logfile=None).run(fmax=1e-4, steps=500)
    assert last.get_volume() == pytest.approx(ref.get_volume(), rel=0.01)
    assert start.get_volume() > 1.1 * last.get_volume()
    assert last.info["origin"].endswith("/relaxed")


def test_neb_frames_avoid_the_barrier_gates_vacancy():
    atoms = crystal()
    atoms.rattle(0.01, seed=1)
    frames = neb_frames(lj(), cfg(), {"lj": atoms})
    assert len(frames) == 2 * 3  # two hops, three interior images each
    gate_initial, _, _ = li_hop_endpoints(atoms)
    gate_vacancy = atoms.positions[0]  # the gate removes the first Li
    for f in frames:
        assert len(f) == len(gate_initial)
        # the gate's vacant site stays occupied in every image: these bands are other hops
        _, d = find_mic(f.positions - gate_vacancy, f.cell)
        assert d.min() < 0.6
    # the interior images of one band form a path from one endpoint to the other: the hopping atom moves
    _, moved = find_mic(frames[0].positions - frames[2].positions, frames[0].cell)
    assert moved.max() > 0.5 and np.sort(moved)[-2] < 0.3


def test_only_the_failed_gates_get_data(tmp_path):
    c, phases = cfg(), {"lj": crystal()}
    assert gate_structures([], lj(), c, phases, tmp_path, 1) == []
    only_barrier = gate_structures(["barrier"], lj(), c, phases, tmp_path, 1)
    assert {f.info["origin"].split("/")[1] for f in only_barrier} == {"neb"}
    # a phase order needs polymorphs: one phase alone has none
    assert gate_structures(["phase_order"], lj(), c, phases, tmp_path, 1) == []


def test_npt_frames_from_a_pool_equal_those_run_here(nep_fixture_dir, tmp_path):
    """A model file behind the calculator: the NPT runs go to the pool's workers (each builds the model again)
    and give the serial runs' frames, seed for seed."""
    from interforge.nep import NEPCalculator
    from interforge.workflow.executor import PoolExecutor

    c = config_from_dict({
        "validation": {"phases": ["Si"], "temperatures_K": [500.0, 700.0], "npt_target_atoms": 8,
                       "npt_equilibration_ps": 0.02},
        "production": {"bulk_phases": ["Si"]},
        "active": {"gate_md_ps": 0.04, "gate_frames": 2, "gate_stability_ps": 0.04, "gate_stability_frames": 2},
        "md": {"timestep_fs": 1.0},
    })
    model = NEPCalculator(nep_fixture_dir / "Si_2022_NEP4_5body.txt")
    si = {"Si": bulk("Si", "diamond", a=5.43, cubic=True)}
    here = npt_frames(model, c, si, tmp_path / "here", seed=5)
    with PoolExecutor(2) as pool:
        pooled = npt_frames(model, c, si, tmp_path / "pool", seed=5, executor=pool)
    assert [f.info["origin"] for f in here] == [f.info["origin"] for f in pooled] and len(here) == 6
    for a, b in zip(here, pooled):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-8)
        np.testing.assert_allclose(a.cell[:], b.cell[:], atol=1e-8)
    assert (tmp_path / "pool" / "npt" / "ledger").is_dir()


def test_gate_data_each_iteration_needs_an_offset():
    """Frames at a gate temperature would make the force gate's hold-out a neighbour of training data."""
    with pytest.raises(ConfigError, match="gate_temperature_offset_K"):
        cfg(gate_rounds=0, gate_data_each_iteration=True, gate_temperature_offset_K=0.0)
    cfg(gate_rounds=0, gate_temperature_offset_K=0.0)  # neither gate rounds nor gate data: any offset


def test_a_run_stopped_by_a_guard_is_labelled_only_up_to_the_guard_margin(tmp_path, monkeypatch):
    """The frames just before a guard fired are unphysical: of a stopped run, only the first 80 % of the
    window (production analysis's share, GUARD_MARGIN) is picked; a run that finished is picked to its end."""
    import interforge.active.gated as gated
    from interforge.md.guards import GUARD_MARGIN

    c = cfg(gate_stability_ps=0.0)
    npt_frames(lj(), c, {"lj": crystal()}, tmp_path, seed=3)  # two finished runs to reuse
    paths = [str(tmp_path / "npt" / f"lj_{T}K" / "trajectory.h5") for T in (275, 575)]
    monkeypatch.setattr(gated, "_npt_runs", lambda *a, **k: [(paths[0], "temperature"), (paths[1], None)])
    frames = npt_frames(lj(), c, {"lj": crystal()}, tmp_path / "again", seed=3)
    last = {T: max(int(f.info["origin"].split("#")[1]) for f in frames if f"@{T}K" in f.info["origin"])
            for T in (275, 575)}
    n = {T: TrajectoryReader(p).n_frames for T, p in zip((275, 575), paths)}
    assert last[275] == int((n[275] - 1) * (1 - GUARD_MARGIN))  # the window is frames 1 .. n-1
    assert last[575] == n[575] - 1
