"""The workflow on a real (one-node) Slurm cluster: verbs submit through Parsl's SlurmProvider, a cancelled
job's task is retried once and recorded once, a job that runs out of wall time is resubmitted.

The cluster (munge, MariaDB, slurmdbd, slurmctld, slurmd) is started by ``tests/slurm_fixture.py``."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ase.build import bulk
from ase.io import read, write

from interforge.config.workflow import WorkflowSection
from interforge.workflow import Ledger, Task, make_executor, run_tasks

pytestmark = pytest.mark.slurm

DATA = Path(__file__).parent / "data" / "nep" / "teacher_set.extxyz"


def _section(**scheduler) -> WorkflowSection:
    sched = {"partition": "debug", "walltime": "00:10:00", "exclusive": False, "cores_per_node": 1,
             "max_blocks": 2, **scheduler}
    return WorkflowSection.model_validate({"executor": "slurm", "retries": 1, "scheduler": sched})


def _toml(path: Path, **scheduler) -> Path:
    s = _section(**scheduler).scheduler
    path.write_text('[workflow]\nexecutor = "slurm"\nretries = 1\n[workflow.scheduler]\n'
                    f'partition = "{s.partition}"\nwalltime = "{s.walltime}"\nexclusive = false\n'
                    f"cores_per_node = {s.cores_per_node}\nmax_blocks = {s.max_blocks}\n")
    return path


def _parsl_jobs(cluster) -> list[dict]:
    return [j for j in cluster.sacct("JobID", "JobName", "State") if j["JobName"].startswith("parsl.slurm.block")]


def _eventually(check, timeout: float = 60.0) -> bool:
    """slurmctld reports jobs to slurmdbd asynchronously: sacct may lag a few seconds behind squeue."""
    t0 = time.time()
    while not check():
        if time.time() - t0 > timeout:
            return False
        time.sleep(1.0)
    return True


def _more_jobs(cluster, than: int) -> int:
    """The number of Parsl block jobs in sacct once it exceeds ``than`` (waits for the accounting)."""
    assert _eventually(lambda: len(_parsl_jobs(cluster)) > than), f"sacct shows no new Slurm job (had {than})"
    return len(_parsl_jobs(cluster))


def _cli(args, cwd, cluster, timeout=600):
    return subprocess.run([sys.executable, "-m", "interforge.cli.main", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**cluster.env, "OMP_NUM_THREADS": "1"})


def test_verbs_run_as_slurm_jobs(slurm_cluster, nep_fixture_dir, tmp_path):
    """`md`, `train` and `label` with `[workflow] executor = "slurm"`: each one's work is a Slurm job (sacct)."""
    cfg = _toml(tmp_path / "slurm.toml")
    si = tmp_path / "si.xyz"
    write(si, bulk("Si", "diamond", a=5.43, cubic=True))
    model = nep_fixture_dir / "Si_2022_NEP4_5body.txt"
    before = len(_parsl_jobs(slurm_cluster))

    r = _cli(["md", str(si), "--model", str(model), "--ensemble", "nvt", "--temperature", "300", "--steps", "30",
              "--out", str(tmp_path / "md"), "--json", str(tmp_path / "md.json"), "--config", str(cfg),
              "--workdir", str(tmp_path), "--seed", "1"], tmp_path, slurm_cluster)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "md.json").read_text())["steps_done"] == 30
    after_md = _more_jobs(slurm_cluster, before)

    frames = read(DATA, ":")[:6]
    write(tmp_path / "small.xyz", frames, format="extxyz")
    r = _cli(["train", "--db", str(tmp_path / "small.xyz"), "--out", str(tmp_path / "nep"), "--committee", "2",
              "--preset", "small", "--generation", "4", "--config", str(cfg), "--workdir", str(tmp_path)],
             tmp_path, slurm_cluster)
    assert r.returncode == 0, r.stderr
    assert all((tmp_path / "nep" / f"member_{i}" / "nep.txt").is_file() for i in (0, 1))
    after_train = _more_jobs(slurm_cluster, after_md)

    rattled = []
    for k in range(3):
        a = bulk("Si", "diamond", a=5.43, cubic=True)
        a.rattle(0.05, seed=k)
        rattled.append(a)
    write(tmp_path / "todo.xyz", rattled)
    r = _cli(["label", str(tmp_path / "todo.xyz"), "--db", str(tmp_path / "labels.db"), "--teacher", "nep",
              "--model", str(model), "--config", str(cfg), "--workdir", str(tmp_path), "--no-progress"],
             tmp_path, slurm_cluster)
    assert r.returncode == 0, r.stderr
    assert "labelled 3" in r.stdout
    _more_jobs(slurm_cluster, after_train)
    # every block ended by Parsl (cancelled when idle at shutdown) or by itself, none failed
    assert _eventually(lambda: all(j["State"].split()[0] in ("COMPLETED", "CANCELLED")
                                   for j in _parsl_jobs(slurm_cluster))), _parsl_jobs(slurm_cluster)


def _shell_task(name: str, script: str) -> Task:
    """A task running ``script`` in bash; a shell killed by a signal (scancel) raises, as a real task's
    program would, instead of returning its partial output as a result (``subprocess.getoutput`` did)."""
    return Task(name, subprocess.check_output, spec={"script": script}, args=(["bash", "-c", script],),
                kwargs={"text": True})


def _running_job(cluster, timeout=120) -> str:
    t0 = time.time()
    while time.time() - t0 < timeout:
        out = cluster.run("squeue", "-h", "-t", "RUNNING", "-o", "%i").stdout.split()
        if out:
            return out[0]
        time.sleep(0.5)
    raise AssertionError("no running job")


def test_cancelled_job_is_retried_once_and_counted_once(slurm_cluster, tmp_path):
    log = tmp_path / "attempts.log"
    # the first attempt waits long enough to be cancelled on a loaded machine (squeue and scancel can take
    # seconds each); the retry, which finds the first "start" in the log, finishes at once
    script = (f"if grep -q start {log} 2>/dev/null; then n=1; else n=300; fi; echo start >> {log}; sleep $n; "
              f"echo done >> {log}; printf result")
    ledger = Ledger(tmp_path / "tasks")
    task = _shell_task("cancel-me", script)
    killed = {}

    def cancel_first_attempt():
        t0 = time.time()
        while not (log.is_file() and "start" in log.read_text()) and time.time() - t0 < 180:
            time.sleep(0.2)
        killed["job"] = _running_job(slurm_cluster)
        slurm_cluster.run("scancel", killed["job"])

    th = threading.Thread(target=cancel_first_attempt)
    th.start()
    with make_executor(_section(), run_dir=tmp_path / "runinfo") as ex:
        outcomes = run_tasks(ex, ledger, [task])
    th.join()
    assert outcomes[0].state == "done" and outcomes[0].result == "result"
    assert log.read_text().split() == ["start", "start", "done"]  # retried once, finished once
    assert _eventually(lambda: any(j["JobID"] == killed["job"] and j["State"].startswith("CANCELLED")
                                   for j in _parsl_jobs(slurm_cluster))), _parsl_jobs(slurm_cluster)
    # the ledger holds one result; running it again does not run it again
    with make_executor(_section(), run_dir=tmp_path / "runinfo2") as ex:
        again = run_tasks(ex, ledger, [task])
    assert again[0].skipped and again[0].result == "result" and log.read_text().split() == ["start", "start", "done"]


@pytest.mark.slow
def test_job_out_of_wall_time_is_resubmitted(slurm_cluster, tmp_path):
    """The first attempt outlives its block's one-minute wall time: Slurm ends the job (TIMEOUT), the task
    is resubmitted to a new block, and the second attempt finishes."""
    marker, log = tmp_path / "first-attempt", tmp_path / "attempts.log"
    script = (f"echo start >> {log}; if [ -e {marker} ]; then echo done >> {log}; printf result; "
              f"else touch {marker}; sleep 600; fi")
    with make_executor(_section(walltime="00:01:00", max_blocks=1), run_dir=tmp_path / "runinfo") as ex:
        outcomes = run_tasks(ex, Ledger(tmp_path / "tasks"), [_shell_task("long", script)])
    assert outcomes[0].state == "done" and outcomes[0].result == "result"
    assert log.read_text().split() == ["start", "start", "done"]
    assert _eventually(lambda: any(j["State"] == "TIMEOUT" for j in _parsl_jobs(slurm_cluster))), \
        _parsl_jobs(slurm_cluster)


@pytest.fixture(scope="module")
def seeded(slurm_cluster, tmp_path_factory):
    """`seed` (teacher MD, labelling, anchors) of the tiny project with `executor = "slurm"` (about 1-2 min)."""
    tmp = tmp_path_factory.mktemp("tiny-slurm")
    tiny = Path(__file__).parent / "data" / "active" / "tiny.toml"
    text = tiny.read_text()  # one iteration and short training: this checks where tasks run, not learning
    for a, b in (("generation = 120", "generation = 20"), ("max_iterations = 2", "max_iterations = 1")):
        assert a in text
        text = text.replace(a, b)
    cfg = tmp / "tiny-slurm.toml"
    cfg.write_text(text + "\n" + _toml(tmp / "w.toml").read_text())
    before = len(_parsl_jobs(slurm_cluster))
    r = _cli(["seed", "--config", str(cfg), "--workdir", str(tmp / "w")], tmp, slurm_cluster, timeout=1500)
    _eventually(lambda: len(_parsl_jobs(slurm_cluster)) > before)
    return {"cfg": cfg, "tmp": tmp, "rc": r.returncode, "stderr": r.stderr, "jobs": (before, len(_parsl_jobs(slurm_cluster)))}


@pytest.mark.slow
def test_seed_runs_as_slurm_jobs(seeded):
    from interforge.data import LabelStore

    assert seeded["rc"] == 0, seeded["stderr"][-2000:]
    before, after = seeded["jobs"]
    assert after > before
    rows = list(LabelStore(seeded["tmp"] / "w" / "labels.db").rows())
    assert len(rows) > 10 and all(row.status == "ok" for row in rows if row.get("stage") == "seed")


@pytest.mark.slow
def test_learn_runs_as_slurm_jobs(seeded, slurm_cluster):
    """`learn` after that seed (committee training, exploration MD, active labels; about 7 min on 2 cores)."""
    from interforge.data import LabelStore

    if seeded["rc"] != 0:
        pytest.fail("seed failed (see test_seed_runs_as_slurm_jobs)")
    tmp, work = seeded["tmp"], seeded["tmp"] / "w"
    n_seed = len(list(LabelStore(work / "labels.db").rows()))
    before = len(_parsl_jobs(slurm_cluster))
    r = _cli(["learn", "--config", str(seeded["cfg"]), "--workdir", str(work), "--no-validate"], tmp, slurm_cluster,
             timeout=2400)
    assert r.returncode == 0, r.stderr[-2000:]
    _more_jobs(slurm_cluster, before)
    assert len(list(LabelStore(work / "labels.db").rows())) > n_seed  # active labels were added
    assert (work / "iterations" / "000" / "committee" / "member_1" / "nep.txt").is_file()
