"""Checkpoints and resume of the ASE engine: a resumed run continues the same trajectory, and
``interforge md`` killed with SIGKILL continues from its last checkpoint when run again."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write

from interforge.errors import InterforgeError
from interforge.md import Dynamics, Guards, MDSettings, run_md
from interforge.trajectory import TrajectoryReader, read_thermo


class Crash(Exception):
    pass


class CrashingEMT(EMT):
    """EMT that raises on its ``n``-th force call (a kill in the middle of a run)."""

    def __init__(self, n):
        super().__init__()
        self.left = n

    def calculate(self, *args, **kwargs):
        self.left -= 1
        if self.left < 0:
            raise Crash("killed")
        super().calculate(*args, **kwargs)


def cu():
    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))


KW = dict(timestep_fs=2.0, dump_interval=7, thermo_interval=3, seed=11, barostat_tau_fs=200.0,
          thermostat_tau_fs=20.0, checkpoint_interval=25, resume=True, identity={"input": "cu"})


def test_resumed_run_is_the_uninterrupted_run(tmp_path):
    """NPT with a temperature ramp (thermostat and barostat both draw random numbers): crash after the
    checkpoint at step 75, resume, and the trajectory and thermo log equal an uninterrupted run's."""
    ref = run_md(cu(), EMT(), "npt", (300.0, 600.0), 120, tmp_path / "ref", **KW)
    with pytest.raises(Crash):
        run_md(cu(), CrashingEMT(90), "npt", (300.0, 600.0), 120, tmp_path / "run", **KW)
    # the crash left frames and thermo lines past the checkpoint on disk
    assert TrajectoryReader(tmp_path / "run" / "trajectory.h5").steps()[-1] > 75
    res = run_md(cu(), EMT(), "npt", (300.0, 600.0), 120, tmp_path / "run", **KW)
    assert res.resumed_from_step == 75 and res.steps_done == 120 and ref.resumed_from_step == 0
    a, b = TrajectoryReader(ref.trajectory_path), TrajectoryReader(res.trajectory_path)
    assert b.steps().tolist() == a.steps().tolist() == list(range(0, 121, 7))
    np.testing.assert_allclose(b.positions(), a.positions(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(b.cells(), a.cells(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(b.observable("temperature_K"), a.observable("temperature_K"), rtol=1e-10)
    ta, tb = read_thermo(ref.thermo_path), read_thermo(res.thermo_path)
    assert tb["step"].tolist() == ta["step"].tolist() == list(range(0, 121, 3))
    np.testing.assert_allclose(tb.data, ta.data, rtol=1e-9)
    # the means cover the whole run, the steps before the crash included
    assert res.mean_volume_A3 == pytest.approx(ref.mean_volume_A3, rel=1e-12)
    assert res.mean_temperature_K == pytest.approx(ref.mean_temperature_K, rel=1e-12)


def test_killed_before_the_first_interval_resumes_from_step_0(tmp_path):
    ref = run_md(cu(), EMT(), "nvt", 300.0, 40, tmp_path / "ref", **KW)
    with pytest.raises(Crash):
        run_md(cu(), CrashingEMT(5), "nvt", 300.0, 40, tmp_path / "run", **KW)
    res = run_md(cu(), EMT(), "nvt", 300.0, 40, tmp_path / "run", **KW)
    assert res.resumed_from_step == 0 and res.steps_done == 40
    np.testing.assert_allclose(TrajectoryReader(res.trajectory_path).positions(),
                               TrajectoryReader(ref.trajectory_path).positions(), atol=1e-10, rtol=0)
    assert read_thermo(res.thermo_path)["step"].tolist() == list(range(0, 41, 3))


def test_finished_run_again_reports_it(tmp_path):
    first = run_md(cu(), EMT(), "nvt", 300.0, 50, tmp_path, **KW)
    again = run_md(cu(), EMT(), "nvt", 300.0, 50, tmp_path, **KW)
    assert again.steps_done == 50 and again.resumed_from_step == 50 and again.n_frames == first.n_frames
    assert again.mean_temperature_K == first.mean_temperature_K
    assert TrajectoryReader(again.trajectory_path).steps().tolist() == list(range(0, 50, 7))


def test_other_request_is_refused(tmp_path):
    run_md(cu(), EMT(), "nvt", 300.0, 30, tmp_path, **KW)
    with pytest.raises(InterforgeError, match="temperature_K"):
        run_md(cu(), EMT(), "nvt", 400.0, 30, tmp_path, **KW)
    with pytest.raises(InterforgeError, match="steps"):
        run_md(cu(), EMT(), "nvt", 300.0, 60, tmp_path, **KW)
    with pytest.raises(InterforgeError, match="other atoms"):
        run_md(bulk("Ag", "fcc", a=4.09, cubic=True).repeat(2), EMT(), "nvt", 300.0, 30, tmp_path, **KW)


def test_guard_stop_is_kept(tmp_path):
    """A run a guard stopped is not continued when resumed: it reports the same stop."""
    atoms = cu()
    atoms.positions[0] = atoms.positions[1] + [0.9, 0, 0]
    kw = dict(KW, guards=Guards(max_force_eV_A=5.0))
    r1 = run_md(atoms, EMT(), "nvt", 300.0, 50, tmp_path, **kw)
    atoms = cu()
    atoms.positions[0] = atoms.positions[1] + [0.9, 0, 0]
    r2 = run_md(atoms, EMT(), "nvt", 300.0, 50, tmp_path, **kw)
    assert r1.stopped_by == r2.stopped_by == "max_force" and r2.steps_done == r1.steps_done == 1


def test_dynamics_object_runs_in_pieces(tmp_path):
    """Dynamics.run(n) twice equals one run of 2n (ASE's habit), and checkpoints every N steps."""
    s = MDSettings(ensemble="nvt", temperature_K=300.0, timestep_fs=2.0, dump_interval=5, thermo_interval=5,
                   seed=3, checkpoint_interval=10)
    with Dynamics(cu(), EMT(), s, tmp_path / "a") as dyn:
        dyn.run(20)
        r = dyn.run(20)
    assert r.steps_done == 40 and r.steps_requested == 40
    ref = run_md(cu(), EMT(), "nvt", 300.0, 40, tmp_path / "b", timestep_fs=2.0, dump_interval=5, thermo_interval=5,
                 seed=3)
    np.testing.assert_allclose(TrajectoryReader(r.trajectory_path).positions(),
                               TrajectoryReader(ref.trajectory_path).positions(), atol=1e-10, rtol=0)
    assert (tmp_path / "a" / "checkpoint.npz").is_file() and not (tmp_path / "b" / "checkpoint.npz").exists()


# -- the CLI, killed for real -----------------------------------------------------------------------

def _md_cmd(structure, model, out, steps, temperature="300", extra=()):
    return [sys.executable, "-m", "interforge.cli.main", "md", str(structure), "--model", str(model),
            "--ensemble", "npt", "--temperature", temperature, "--steps", str(steps), "--timestep", "1",
            "--dump-interval", "20", "--thermo-interval", "10", "--checkpoint-interval", "100", "--seed", "5",
            "--out", str(out), "--json", str(out.parent / "r.json"), *extra]


def _checkpoint_step(path) -> int:
    """The step of the checkpoint at ``path`` (written atomically, so a complete file or none); -1 when absent."""
    try:
        with np.load(path) as z:
            return json.loads(str(z["meta"]))["nsteps"]
    except FileNotFoundError:
        return -1


def test_cli_md_resumes_after_kill_9(tmp_path, nep_fixture_dir):
    model = nep_fixture_dir / "Si_2022_NEP4_5body.txt"
    structure = tmp_path / "si.xyz"
    write(structure, bulk("Si", "diamond", a=5.43, cubic=True).repeat(2))
    out, steps = tmp_path / "run", 2000
    cmd = _md_cmd(structure, model, out, steps)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = out / "checkpoint.npz"
    t0 = time.time()
    while _checkpoint_step(ckpt) < 100 and proc.poll() is None and time.time() - t0 < 120:
        time.sleep(0.02)
    time.sleep(0.3)  # let it run past the checkpoint, so frames after it are on disk or in flight
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "r.json").exists()

    rc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["steps_done"] == steps and 0 < r["resumed_from_step"] < steps and r["resumed_from_step"] % 100 == 0
    st = TrajectoryReader(out / "trajectory.h5").steps()
    assert st.tolist() == list(range(0, steps + 1, 20))  # strictly increasing, none missing, no duplicates
    th = read_thermo(out / "thermo.dat")["step"]
    assert th.tolist() == list(range(0, steps + 1, 10))

    # the same command once more: nothing to do, the same answer
    rc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert rc.returncode == 0 and json.loads((tmp_path / "r.json").read_text())["resumed_from_step"] == steps
    # another request into the same folder is refused (exit 2), unless --overwrite
    other = _md_cmd(structure, model, out, 300, temperature="500")
    rc = subprocess.run(other, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert rc.returncode == 2 and "overwrite" in rc.stderr
    rc = subprocess.run(other + ["--overwrite"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["resumed_from_step"] == 0 and r["steps_done"] == 300
    assert TrajectoryReader(out / "trajectory.h5").steps().tolist() == list(range(0, 301, 20))


def test_production_task_resumes(tmp_path, nep_fixture_dir):
    """The demo's production MD task (a ledger task, resubmitted after a kill or a job's wall time) continues
    from its checkpoint instead of starting again."""
    from interforge.config.md import MdSection
    from interforge.demo.production_md import run_production

    structure = tmp_path / "si.xyz"
    write(structure, bulk("Si", "diamond", a=5.43, cubic=True))
    model = str(nep_fixture_dir / "Si_2022_NEP4_5body.txt")
    md = MdSection(checkpoint_interval=10)
    first = run_production(str(structure), model, "nvt", 300.0, 30, 10, md, 3, str(tmp_path / "task"))
    again = run_production(str(structure), model, "nvt", 300.0, 30, 10, md, 3, str(tmp_path / "task"))
    assert first["resumed_from_step"] == 0 and again["resumed_from_step"] == 30 and again["steps_done"] == 30
    assert again["mean_temperature_K"] == first["mean_temperature_K"]
    assert TrajectoryReader(again["trajectory_path"]).steps().tolist() == [0, 10, 20, 30]


class CountingEMT(EMT):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def calculate(self, *args, **kwargs):
        self.calls += 1
        super().calculate(*args, **kwargs)


EQ = MDSettings(ensemble="npt", temperature_K=600.0, timestep_fs=2.0, dump_interval=7, thermo_interval=3, seed=11,
                thermostat_tau_fs=20.0, barostat_tau_fs=200.0, checkpoint_interval=25, equilibration_steps=30,
                equilibration_barostat_tau_fs=20.0)


def test_npt_equilibration_is_not_redone_after_a_kill(tmp_path):
    """An NPT run with an equilibration stage, killed in the run proper after its checkpoint at step 75:
    resumed, it reads the finished equilibration back instead of integrating it again, and ends as the
    uninterrupted run (which itself starts from the equilibration's last state)."""
    from interforge.md import run_with

    ident = {"input": "cu"}
    ref = run_with(cu(), EMT(), EQ, 120, tmp_path / "ref", resume=True, identity=ident)
    eq_ref = TrajectoryReader(tmp_path / "ref" / "equilibration" / "trajectory.h5")
    assert eq_ref.steps()[-1] == 28 and TrajectoryReader(ref.trajectory_path).steps()[0] == 0
    np.testing.assert_allclose(TrajectoryReader(ref.trajectory_path).cells()[0], eq_ref.cells()[-1], atol=0.05)
    with pytest.raises(Crash):  # 1 + 30 force calls of the equilibration, 1 + 90 of the run proper
        run_with(cu(), CrashingEMT(122), EQ, 120, tmp_path / "run", resume=True, identity=ident)
    calc = CountingEMT()
    res = run_with(cu(), calc, EQ, 120, tmp_path / "run", resume=True, identity=ident)
    assert res.resumed_from_step == 75 and res.steps_done == 120
    assert calc.calls == 1 + 1 + 45  # each stage's restored state once, then steps 76-120 only
    a, b = TrajectoryReader(ref.trajectory_path), TrajectoryReader(res.trajectory_path)
    np.testing.assert_allclose(b.positions(), a.positions(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(b.cells(), a.cells(), rtol=0, atol=1e-10)


def test_a_guard_in_the_npt_equilibration_ends_the_run_before_it_starts(tmp_path):
    from dataclasses import replace

    from interforge.md import run_with

    tight = replace(EQ, guards=Guards(max_volume_change=1e-4), checkpoint_interval=0)
    res = run_with(cu(), EMT(), tight, 120, tmp_path / "g")
    assert res.stopped_by is not None and res.steps_done < 30
    assert res.stop_message.startswith("during the NPT equilibration")
    assert not (tmp_path / "g" / "trajectory.h5").exists()  # the run proper never started
