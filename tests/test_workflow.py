"""Workflow: the executor interface (in-process and Parsl), Slurm/PBS providers, the resumable ledger."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import Future, as_completed

import pytest

from interforge.config import config_from_dict
from interforge.config.workflow import WorkflowSection
from interforge.workflow import (Executor, InProcessExecutor, Ledger, Task, make_executor, make_provider,
                                 render_batch_script, run_tasks)


def square(x):
    return x * x


def boom(x):
    raise ValueError(f"bad input {x}")


_FLAKY_CALLS = {"n": 0}


def fails_once():
    _FLAKY_CALLS["n"] += 1
    if _FLAKY_CALLS["n"] == 1:
        raise OSError("transient")
    return "ok"


# -- executors ----------------------------------------------------------------------------------

def test_in_process_executor_submit_map_errors_and_retries():
    with make_executor(WorkflowSection(executor="local", retries=0)) as ex:
        assert isinstance(ex, Executor)
        fut = ex.submit(square, 7)
        assert isinstance(fut, Future) and fut.result() == 49
        assert list(ex.map(square, [1, 2, 3])) == [1, 4, 9]
        bad = ex.submit(boom, 3)
        with pytest.raises(ValueError, match="bad input 3"):
            bad.result()
    _FLAKY_CALLS["n"] = 0
    assert InProcessExecutor(retries=1).submit(fails_once).result() == "ok"
    _FLAKY_CALLS["n"] = 0
    with pytest.raises(OSError):
        InProcessExecutor(retries=0).submit(fails_once).result()


def test_parsl_thread_executor(tmp_path):
    section = WorkflowSection(executor="threads", max_workers=2, retries=0)
    with make_executor(section, run_dir=tmp_path / "runinfo") as ex:
        futs = [ex.submit(square, i) for i in range(6)]
        assert sorted(f.result() for f in as_completed(futs)) == [i * i for i in range(6)]
        assert list(ex.map(square, [3, 4])) == [9, 16]
        with pytest.raises(ValueError, match="bad input 1"):
            ex.submit(boom, 1).result()


@pytest.mark.slow
def test_parsl_process_executor_runs_in_other_processes(tmp_path):
    section = WorkflowSection(executor="processes", max_workers=2, retries=0)
    with make_executor(section, run_dir=tmp_path / "runinfo") as ex:
        pids = {f.result() for f in [ex.submit(os.getpid) for _ in range(4)]}
        assert os.getpid() not in pids
        # Library functions travel to the workers (test-module functions would not import there).
        from ase.build import bulk

        from interforge.data import structure_hash

        atoms = bulk("Cu")
        assert ex.submit(structure_hash, atoms).result(timeout=120) == structure_hash(atoms)


def _torch_threads():
    import torch

    return torch.get_num_threads()


def test_pool_executor_runs_tasks_in_single_thread_worker_processes(tmp_path):
    """``executor = "pool"``: spawned local processes, one torch thread each, errors and retries carried back,
    and the ledger's done markers written by the workers."""
    with make_executor(WorkflowSection(executor="pool", max_workers=2, retries=0)) as ex:
        assert ex.name == "pool"
        futs = [ex.submit(os.getpid) for _ in range(6)]
        pids = {f.result(timeout=120) for f in futs}
        assert os.getpid() not in pids and 1 <= len(pids) <= 2
        assert ex.submit(_torch_threads).result(timeout=120) == 1
        with pytest.raises(ValueError, match="bad input 2"):
            ex.submit(boom, 2).result(timeout=60)
        ledger = Ledger(tmp_path / "ledger")
        tasks = [Task(name=f"sq{i}", fn=square, args=(i,), spec={"i": i}) for i in range(4)]
        outcomes = run_tasks(ex, ledger, tasks)
        assert [o.result for o in outcomes] == [0, 1, 4, 9]
    # a second run finds every task done: nothing is resubmitted
    with make_executor(WorkflowSection(executor="local")) as ex:
        again = run_tasks(ex, Ledger(tmp_path / "ledger"), tasks)
        assert all(o.skipped for o in again) and [o.result for o in again] == [0, 1, 4, 9]


# -- cluster providers (no cluster needed) -----------------------------------------------------

SLURM_TOML = {
    "workflow": {
        "executor": "slurm", "retries": 2,
        "scheduler": {"partition": "cpu-long", "account": "proj42", "qos": "normal", "walltime": "01:30:00",
                      "nodes_per_block": 2, "cores_per_node": 48, "max_blocks": 8,
                      "scheduler_options": "#SBATCH --constraint=amd", "worker_init": "module load vasp/6.4"},
    }
}


def test_slurm_block_gives_a_valid_parsl_provider_and_config():
    from parsl.executors import HighThroughputExecutor
    from parsl.providers import SlurmProvider

    from interforge.workflow.parsl_backend import parsl_config

    section = config_from_dict(SLURM_TOML).workflow
    provider = make_provider(section)
    assert isinstance(provider, SlurmProvider)
    assert (provider.partition, provider.account, provider.qos) == ("cpu-long", "proj42", "normal")
    assert provider.nodes_per_block == 2 and provider.cores_per_node == 48 and provider.max_blocks == 8
    assert provider.walltime == "01:30:00"
    cfg = parsl_config(section, "/tmp/runinfo-unused")
    assert cfg.retries == 2
    (htex,) = cfg.executors
    assert isinstance(htex, HighThroughputExecutor) and htex.provider is provider or \
        isinstance(htex.provider, SlurmProvider)


def test_slurm_batch_script_text(tmp_path):
    section = config_from_dict(SLURM_TOML).workflow
    script = render_batch_script(section, command="process_worker_pool.py --debug", script_dir=tmp_path)
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    for expected in ["#SBATCH --partition=cpu-long", "#SBATCH --account=proj42", "#SBATCH --qos=normal",
                     "#SBATCH --nodes=2", "#SBATCH --time=90", "#SBATCH --constraint=amd",
                     "#SBATCH --cpus-per-task=48", "module load vasp/6.4"]:
        assert expected in lines, expected
    assert any(line.startswith("srun") for line in lines)  # workers start through srun on every node
    assert "process_worker_pool.py --debug" in script


def test_pbs_batch_script_text(tmp_path):
    section = WorkflowSection.model_validate({"executor": "pbs", "scheduler": {
        "partition": "workq", "account": "proj42", "walltime": "04:00:00", "cores_per_node": 32,
        "worker_init": "source ~/venv/bin/activate"}})
    script = render_batch_script(section, script_dir=tmp_path)
    assert "#PBS -l walltime=04:00:00" in script
    assert "#PBS -l select=1:ncpus=32" in script
    assert "source ~/venv/bin/activate" in script


def test_batch_script_only_for_cluster_executors():
    from interforge.errors import InterforgeError

    with pytest.raises(InterforgeError, match="slurm and pbs"):
        render_batch_script(WorkflowSection(executor="threads"))


# -- ledger -------------------------------------------------------------------------------------

def record_call(path, value):
    with open(path, "a") as fh:
        fh.write(f"{value}\n")
    return {"value": value * 10}


def test_ledger_skips_done_tasks_and_reports_failures(tmp_path):
    ledger = Ledger(tmp_path / "tasks")
    log = tmp_path / "calls.txt"
    tasks = [Task("rec", record_call, {"i": i}, args=(str(log), i)) for i in range(4)]
    tasks.append(Task("boom", boom, {"i": 99}, args=(99,)))
    with InProcessExecutor() as ex:
        first = run_tasks(ex, ledger, tasks)
    assert [o.state for o in first] == ["done"] * 4 + ["failed"]
    assert first[1].result == {"value": 10} and "bad input 99" in first[4].error
    assert ledger.state(tasks[0]) == "done" and ledger.state(tasks[4]) == "failed"
    with InProcessExecutor() as ex:
        second = run_tasks(ex, ledger, tasks, retry_failed=False)
    assert all(o.skipped for o in second) and second[2].result == {"value": 20}
    assert log.read_text().split() == ["0", "1", "2", "3"]  # nothing ran twice
    # Task folders are content-addressed: the same spec maps to the same folder.
    assert Task("rec", record_call, {"i": 2}).key == tasks[2].key != tasks[3].key
    assert json.loads((ledger.folder(tasks[2]) / "task.json").read_text())["spec"] == {"i": 2}


def test_ledger_passes_the_task_folder(tmp_path):
    def write_scratch(task_dir):
        (open(os.path.join(task_dir, "scratch.txt"), "w")).write("x")
        return task_dir

    ledger = Ledger(tmp_path / "tasks")
    (out,) = run_tasks(InProcessExecutor(), ledger, [Task("scratch", write_scratch, {}, pass_task_dir=True)])
    assert os.path.isfile(os.path.join(out.result, "scratch.txt"))


def test_killed_run_resumes_without_redoing_finished_tasks(tmp_path):
    """SIGKILL a run of 8 tasks after 3 finished: the re-run redoes none of those 3 and finishes the rest."""
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(tmp_path)!r})
        from interforge.workflow import InProcessExecutor, Ledger, Task, run_tasks
        from tasks_mod import work
        ledger = Ledger({str(tmp_path / 'tasks')!r})
        tasks = [Task("work", work, {{"i": i}}, args=({str(tmp_path / 'calls.txt')!r}, i, sys.argv[1] == "slow"))
                 for i in range(8)]
        outs = run_tasks(InProcessExecutor(), ledger, tasks)
        print(sum(o.skipped for o in outs), sum(o.state == "done" for o in outs))
    """))
    (tmp_path / "tasks_mod.py").write_text(textwrap.dedent("""
        import time
        def work(path, i, slow):
            with open(path, "a") as fh:
                fh.write(f"start {i}\\n")
            if slow and i >= 3:
                time.sleep(60)  # the kill lands here
            return i
    """))
    proc = subprocess.Popen([sys.executable, str(script), "slow"])
    ledger = Ledger(tmp_path / "tasks")
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        states = list(ledger.states().values())
        if states.count("done") == 3 and "running" in states:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    states = ledger.states()
    assert list(states.values()).count("done") == 3 and list(states.values()).count("running") == 1

    out = subprocess.run([sys.executable, str(script), "fast"], capture_output=True, text=True, check=True)
    skipped, done = map(int, out.stdout.split())
    assert (skipped, done) == (3, 8)
    starts = (tmp_path / "calls.txt").read_text().split("\n")
    counts = {i: starts.count(f"start {i}") for i in range(8)}
    assert all(counts[i] == 1 for i in range(3))  # finished before the kill: never redone
    assert counts[3] == 2  # was running at the kill: resubmitted
    assert all(counts[i] == 1 for i in range(4, 8))
    assert set(ledger.states().values()) == {"done"}


def test_ledger_through_parsl_threads(tmp_path):
    ledger = Ledger(tmp_path / "tasks")
    log = tmp_path / "calls.txt"
    tasks = [Task("rec", record_call, {"i": i}, args=(str(log), i)) for i in range(3)]
    with make_executor(WorkflowSection(executor="threads", max_workers=2, retries=0), run_dir=tmp_path / "ri") as ex:
        outs = run_tasks(ex, ledger, tasks)
        again = run_tasks(ex, ledger, tasks)
    assert [o.result for o in outs] == [{"value": 0}, {"value": 10}, {"value": 20}]
    assert all(o.skipped for o in again)
    assert sorted(log.read_text().split()) == ["0", "1", "2"]


def test_ledger_task_that_fails_once_is_retried_by_the_executor(tmp_path):
    _FLAKY_CALLS["n"] = 0
    ledger = Ledger(tmp_path / "tasks")
    task = Task("flaky", fails_once, {})
    (out,) = run_tasks(InProcessExecutor(retries=1), ledger, [task])
    assert out.state == "done" and out.result == "ok" and _FLAKY_CALLS["n"] == 2
    assert ledger.state(task) == "done" and not (ledger.folder(task) / "failed.json").exists()
